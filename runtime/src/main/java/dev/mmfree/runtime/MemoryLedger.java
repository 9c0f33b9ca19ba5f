package dev.mmfree.runtime;

import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Counts the bytes a device holds, by {@link MemoryCategory}. Every buffer a backend allocates is
 * recorded here on allocation and released on close, so a closed model or session returns its
 * categories to zero. Thread-safe; reads are a consistent-enough snapshot for reporting.
 */
public final class MemoryLedger {
    private final EnumMap<MemoryCategory, AtomicLong> live = new EnumMap<>(MemoryCategory.class);
    private final EnumMap<MemoryCategory, AtomicLong> peak = new EnumMap<>(MemoryCategory.class);

    public MemoryLedger() {
        for (MemoryCategory c : MemoryCategory.values()) {
            live.put(c, new AtomicLong());
            peak.put(c, new AtomicLong());
        }
    }

    public void allocated(MemoryCategory category, long bytes) {
        if (bytes < 0) {
            throw new IllegalArgumentException("negative allocation: " + bytes);
        }
        long now = live.get(category).addAndGet(bytes);
        peak.get(category).accumulateAndGet(now, Math::max);
    }

    public void released(MemoryCategory category, long bytes) {
        long now = live.get(category).addAndGet(-bytes);
        if (now < 0) {
            throw new IllegalStateException(category + " released more than allocated (" + now + " bytes)");
        }
    }

    /** Bytes held now in one category. */
    public long bytes(MemoryCategory category) {
        return live.get(category).get();
    }

    /** Bytes held now in all categories. */
    public long totalBytes() {
        long sum = 0;
        for (AtomicLong v : live.values()) {
            sum += v.get();
        }
        return sum;
    }

    /** The most bytes ever held at once in one category. */
    public long peakBytes(MemoryCategory category) {
        return peak.get(category).get();
    }

    public Map<MemoryCategory, Long> snapshot() {
        EnumMap<MemoryCategory, Long> out = new EnumMap<>(MemoryCategory.class);
        live.forEach((c, v) -> out.put(c, v.get()));
        return out;
    }

    @Override
    public String toString() {
        return "MemoryLedger" + snapshot();
    }
}
