package dev.mmfree.runtime;

import java.io.PrintStream;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Device time of a model's launches, summed by kernel and global size, from profiling events: where a
 * step's time goes. Each timed launch waits for its event, so launches no longer overlap the host's
 * enqueueing; the sums are device time, not the step's wall clock. Turned on by {@value #ENV}=1 (the
 * device must then be opened with profiling), printed when the model closes.
 */
public final class LaunchProfile {
    public static final String ENV = "MMFREE_OPENCL_PROFILE";

    private record Key(String kernel, String global) {
    }

    private static final class Sum {
        long launches;
        long nanos;
    }

    private final Map<Key, Sum> sums = new LinkedHashMap<>();

    /** Whether {@value #ENV}=1. */
    public static boolean requested() {
        return "1".equals(System.getenv(ENV));
    }

    /** Enqueues the launch, waits for it, and adds its device time. */
    public void run(Launch launch, Device device) {
        try (DeviceEvent e = launch.enqueueTimed(device)) {
            Sum s = sums.computeIfAbsent(new Key(launch.kernel().name(), Arrays.toString(launch.global())), k -> new Sum());
            s.launches++;
            s.nanos += e.elapsedNanos();
        }
    }

    /** One line a kernel and global size, the largest total first, with its share of all device time. */
    public void print(PrintStream out, String title) {
        long total = sums.values().stream().mapToLong(s -> s.nanos).sum();
        out.printf(Locale.ROOT, "# launch profile: %s, %.3f ms device time in all%n", title, total / 1e6);
        out.println("kernel | global | launches | total ms | us/launch | share %");
        sums.entrySet().stream().sorted((a, b) -> Long.compare(b.getValue().nanos, a.getValue().nanos)).forEach(e -> {
            Sum s = e.getValue();
            out.printf(Locale.ROOT, "%s | %s | %d | %.3f | %.2f | %.1f%n", e.getKey().kernel(), e.getKey().global(), s.launches,
                    s.nanos / 1e6, s.nanos / 1e3 / s.launches, 100.0 * s.nanos / Math.max(1, total));
        });
    }
}
