package dev.mmfree.runtime;

import java.io.PrintStream;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Device time of a model's launches, summed by kernel and global size, from profiling events: where a
 * step's time goes. Turned on by {@value #ENV} (the device must then be opened with profiling), printed
 * when the model closes. Two modes:
 * <ul>
 *   <li>{@code 1}, {@link Mode#SERIAL}: each launch waits for its event, so launches no longer overlap the
 *   host's enqueueing; the sums are device time, not the step's wall clock.</li>
 *   <li>{@code timeline}, {@link Mode#TIMELINE}: launches are queued as usual and their events read back two
 *   steps later (a decode stream has finished them by then). Besides the sums it reports, by the steps' launch
 *   count, each step's device span from its first launch's start to its last launch's end, the time its launches
 *   ran, the idle time between them, and the gap from the previous step's end: whether a step waited on its
 *   kernels or on the host.</li>
 *   <li>{@code host}, {@link Mode#HOST}: no events; the host's own time in each enqueue call, summed by kernel as
 *   above, and by step: the time from one step's start to the next one's, and how much of it went to enqueueing.
 *   What the host costs a step, with the least added to it.</li>
 * </ul>
 */
public final class LaunchProfile {
    public static final String ENV = "MMFREE_OPENCL_PROFILE";

    /** How launches are timed. */
    public enum Mode {
        SERIAL, TIMELINE, HOST;

        /** Whether the mode reads profiling events (the device must be opened with profiling). */
        public boolean events() {
            return this != HOST;
        }
    }

    private record Key(String kernel, String global) {
    }

    private static final class Sum {
        long launches;
        long nanos;
    }

    private record Timed(Key key, DeviceEvent event) {
    }

    /** What {@link Mode#TIMELINE} keeps of a step: launches, span, busy and gap before, in ns. */
    private record StepTimes(int launches, long span, long busy, long gap) {
    }

    private final Mode mode;
    private final Map<Key, Sum> sums = new LinkedHashMap<>();
    private final Deque<List<Timed>> pending = new ArrayDeque<>();   // TIMELINE: the steps whose events are unread, oldest first
    private final List<StepTimes> steps = new ArrayList<>();
    private long lastEnd = -1;   // TIMELINE: the device time the last read step ended
    private long stepStart = -1;   // HOST: System.nanoTime() at the current step's start
    private int stepLaunches;      // HOST: the current step's launches and their enqueue time
    private long stepEnqueue;

    /** A profile in {@link Mode#SERIAL}. */
    public LaunchProfile() {
        this(Mode.SERIAL);
    }

    public LaunchProfile(Mode mode) {
        this.mode = mode;
    }

    /** Whether {@value #ENV} asks for a profile that reads profiling events. */
    public static boolean needsProfilingDevice() {
        Mode m = requestedMode();
        return m != null && m.events();
    }

    /**
     * The mode {@value #ENV} asks for: {@code 1} serial, {@code timeline} timeline, unset or empty none.
     *
     * @throws MmfreeException for any other value
     */
    public static Mode requestedMode() {
        String v = System.getenv(ENV);
        if (v == null || v.isEmpty() || v.equals("0")) {
            return null;
        }
        return switch (v) {
            case "1" -> Mode.SERIAL;
            case "timeline" -> Mode.TIMELINE;
            case "host" -> Mode.HOST;
            default -> throw new MmfreeException(ENV + " must be 1 (serial), timeline or host, got '" + v + "'");
        };
    }

    /**
     * Marks the start of a step (a model's pass): later launches belong to it. In {@link Mode#TIMELINE} it
     * reads the events of the steps two or more before it (in a decode stream they have completed).
     */
    public void step() {
        if (mode == Mode.HOST) {
            long now = System.nanoTime();
            if (stepStart >= 0) {
                steps.add(new StepTimes(stepLaunches, now - stepStart, stepEnqueue, -1));
            }
            stepStart = now;
            stepLaunches = 0;
            stepEnqueue = 0;
            return;
        }
        if (mode != Mode.TIMELINE) {
            return;
        }
        while (pending.size() >= 2) {
            collect(pending.removeFirst());
        }
        pending.addLast(new ArrayList<>());
    }

    /** Enqueues the launch and times it: in {@link Mode#SERIAL} it waits for it, in {@link Mode#TIMELINE} not. */
    public void run(Launch launch, Device device) {
        Key key = new Key(launch.kernel().name(), Arrays.toString(launch.global()));
        if (mode == Mode.HOST) {
            long t0 = System.nanoTime();
            launch.enqueue(device);
            long ns = System.nanoTime() - t0;
            add(key, ns);
            stepLaunches++;
            stepEnqueue += ns;
            return;
        }
        if (mode == Mode.TIMELINE) {
            if (pending.isEmpty()) {
                pending.addLast(new ArrayList<>());
            }
            pending.getLast().add(new Timed(key, launch.enqueueTimed(device)));
            return;
        }
        try (DeviceEvent e = launch.enqueueTimed(device)) {
            add(key, e.elapsedNanos());
        }
    }

    private void add(Key key, long nanos) {
        Sum s = sums.computeIfAbsent(key, k -> new Sum());
        s.launches++;
        s.nanos += nanos;
    }

    /** Reads one step's events (waiting for them) and frees them. */
    private void collect(List<Timed> step) {
        if (step.isEmpty()) {
            return;
        }
        try {
            long first = Long.MAX_VALUE;
            long last = Long.MIN_VALUE;
            long busy = 0;
            for (Timed t : step) {
                long start = t.event().startNanos();
                long end = t.event().endNanos();
                add(t.key(), end - start);
                first = Math.min(first, start);
                last = Math.max(last, end);
                busy += end - start;
            }
            steps.add(new StepTimes(step.size(), last - first, busy, lastEnd < 0 ? -1 : first - lastEnd));
            lastEnd = last;
        } finally {
            for (Timed t : step) {
                t.event().close();
            }
        }
    }

    /**
     * One line a kernel and global size, the largest total first, with its share of all device time; in
     * {@link Mode#TIMELINE} then one line per launch count of a step (reads, and so waits for, what is pending).
     */
    public void print(PrintStream out, String title) {
        while (!pending.isEmpty()) {
            collect(pending.removeFirst());
        }
        long total = sums.values().stream().mapToLong(s -> s.nanos).sum();
        out.printf(Locale.ROOT, "# launch profile (%s): %s, %.3f ms %s in all%n", mode.name().toLowerCase(Locale.ROOT), title,
                total / 1e6, mode == Mode.HOST ? "of the host's enqueue calls" : "device time");
        out.println("kernel | global | launches | total ms | us/launch | share %");
        sums.entrySet().stream().sorted((a, b) -> Long.compare(b.getValue().nanos, a.getValue().nanos)).forEach(e -> {
            Sum s = e.getValue();
            out.printf(Locale.ROOT, "%s | %s | %d | %.3f | %.2f | %.1f%n", e.getKey().kernel(), e.getKey().global(), s.launches,
                    s.nanos / 1e6, s.nanos / 1e3 / s.launches, 100.0 * s.nanos / Math.max(1, total));
        });
        if (mode == Mode.SERIAL) {
            return;
        }
        Map<Integer, List<StepTimes>> byLaunches = new TreeMap<>();
        for (StepTimes s : steps) {
            byLaunches.computeIfAbsent(s.launches(), k -> new ArrayList<>()).add(s);
        }
        if (mode == Mode.HOST) {
            out.println("# steps by launch count, medians in us (host clock): span = a step's start to the next one's, "
                    + "busy = its enqueue calls, idle = span - busy (waits, copies, the caller)");
        } else {
            out.println("# steps by launch count, medians in us: span = first start to last end, busy = launches' own time, "
                    + "idle = span - busy, gap = from the previous step's end");
        }
        out.println("launches | steps | span us | busy us | idle us | gap us | span p10 | span p90");
        byLaunches.forEach((n, list) -> {
            long[] span = list.stream().mapToLong(StepTimes::span).sorted().toArray();
            long[] gaps = list.stream().mapToLong(StepTimes::gap).filter(g -> g >= 0).sorted().toArray();
            out.printf(Locale.ROOT, "%d | %d | %.1f | %.1f | %.1f | %s | %.1f | %.1f%n", n, list.size(), median(span) / 1e3,
                    median(list.stream().mapToLong(StepTimes::busy).sorted().toArray()) / 1e3,
                    median(list.stream().mapToLong(s -> s.span() - s.busy()).sorted().toArray()) / 1e3,
                    gaps.length == 0 ? "-" : String.format(Locale.ROOT, "%.1f", median(gaps) / 1e3),
                    quantile(span, 0.1) / 1e3, quantile(span, 0.9) / 1e3);
        });
    }

    private static double median(long[] sorted) {
        return quantile(sorted, 0.5);
    }

    /** The q-quantile of sorted values, by the nearest rank. */
    private static double quantile(long[] sorted, double q) {
        return sorted[Math.min(sorted.length - 1, (int) Math.floor(q * sorted.length))];
    }
}
