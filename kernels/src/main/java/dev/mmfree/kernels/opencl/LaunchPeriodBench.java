package dev.mmfree.kernels.opencl;

import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.DeviceEvent;
import dev.mmfree.runtime.DeviceKernel;
import dev.mmfree.runtime.DeviceProgram;
import dev.mmfree.runtime.MemoryCategory;
import dev.mmfree.runtime.opencl.OpenCl;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * What a launch costs the device, apart from the host: kernels that do next to nothing, launched back to back while
 * the device is still busy with a long kernel queued in front of them, so that they reach it as one queued run. The
 * period is the device's time from the first launch's start to the last one's, over the launches between. It is the
 * floor under a step of many small launches (a batch-64 2.7B layer is eight launches of 8-21 us by their events), and
 * this bench asks what moves it: the number of work-groups, local memory, and two kinds of kernel taking turns
 * (a kernel needing another share of an SM's local memory may make the device reconfigure between them).
 *
 * <p>Each run: a spin kernel (one work-group of dependent multiply-adds) sized to outlast the host's enqueues of the
 * run, then {@code --launches} launches of the variant's kernels in turn, the first and the last with events. A run
 * counts as fed when the host finished its enqueues before the spin ended by the device's clock; the table gives the
 * median period of the fed runs and how many were fed. The kernels add 1 to a counter (work-item 0), so a run's count
 * says that every launch ran.
 *
 * <pre>
 *   java -cp 'runtime.jar:kernels.jar:jocl.jar' dev.mmfree.kernels.opencl.LaunchPeriodBench \
 *        [--device gpu] [--launches 200] [--runs 9]
 * </pre>
 * Prints one JSON line per variant, then a table: variant | period us (median of fed runs) | p10 | p90 | a launch's own
 * us (last launch, start to end) | fed runs.
 */
public final class LaunchPeriodBench {
    /** One variant's figures: device microseconds from one launch's start to the next one's, and the last one's length. */
    public record Result(String variant, double periodUs, double p10Us, double p90Us, double ownUs, int fed, int runs, long count) {
    }

    /** Local memory the {@code lp_local} kernel declares: most of a work-group's 48 KB on NVIDIA. */
    static final int LOCAL_INTS = 10 * 1024;
    private static final int SPIN_CALIBRATION = 1 << 16;

    static final String SOURCE = """
            // lp_spin: one chain of dependent multiply-adds a work-item, to keep the device busy for a known time
            __kernel void lp_spin(__global float* out, const int iters) {
                float x = (float) get_global_id(0);
                for (int i = 0; i < iters; i++) {
                    x = x * 0.9999999f + 1.0f;
                }
                if (get_global_id(0) == 0) {
                    out[0] = x;
                }
            }

            // lp_empty: next to nothing, on any grid: work-item 0 counts the launch
            __kernel void lp_empty(__global int* count) {
                if (get_global_id(0) == 0) {
                    count[0] += 1;
                }
            }

            // lp_local: the same with LOCAL_INTS ints of local memory declared and touched
            __kernel void lp_local(__global int* count) {
                __local int big[LOCAL_INTS];
                for (int i = get_local_id(0); i < LOCAL_INTS; i += get_local_size(0)) {
                    big[i] = i;
                }
                barrier(CLK_LOCAL_MEM_FENCE);
                if (get_global_id(0) == 0) {
                    count[0] += 1 + big[LOCAL_INTS - 1] - (LOCAL_INTS - 1);
                }
            }
            """;

    private LaunchPeriodBench() {
    }

    public static void main(String[] args) {
        String selector = null;
        int launches = 200;
        int runs = 9;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--device" -> selector = args[++i];
                case "--launches" -> launches = Integer.parseInt(args[++i]);
                case "--runs" -> runs = Integer.parseInt(args[++i]);
                default -> throw new IllegalArgumentException("unknown argument " + args[i]
                        + "; usage: [--device SEL] [--launches N] [--runs N]");
            }
        }
        OpenCl.unavailableReason().ifPresent(r -> {
            throw new IllegalStateException("OpenCL unavailable: " + r);
        });
        String commit = System.getenv().getOrDefault("MMFREE_COMMIT", "unknown");
        try (Device device = OpenCl.open(selector, true)) {
            System.out.println("# " + device.info());
            List<Result> results = run(device, launches, runs);
            for (Result r : results) {
                System.out.printf(Locale.ROOT, "{\"bench\":\"launch-period\",\"variant\":\"%s\",\"period_us\":%.3f,\"p10_us\":%.3f,"
                                + "\"p90_us\":%.3f,\"own_us\":%.3f,\"fed\":%d,\"runs\":%d,\"launches\":%d,\"commit\":\"%s\"}%n",
                        r.variant(), r.periodUs(), r.p10Us(), r.p90Us(), r.ownUs(), r.fed(), r.runs(), launches, commit);
            }
            System.out.println();
            System.out.println("| variant | period us | p10 | p90 | last launch's own us | fed runs |");
            System.out.println("| --- | ---: | ---: | ---: | ---: | ---: |");
            for (Result r : results) {
                System.out.printf(Locale.ROOT, "| %s | %.2f | %.2f | %.2f | %.2f | %d of %d |%n", r.variant(), r.periodUs(),
                        r.p10Us(), r.p90Us(), r.ownUs(), r.fed(), r.runs());
            }
        }
    }

    /** A kernel of the program on a grid: global work-items and the work-group size. */
    private record Shape(String kernel, long groups, long local) {
        String label() {
            return kernel.substring(3) + " " + groups + "x" + local;
        }
    }

    /**
     * Every variant on {@code device} (opened with profiling), {@code runs} runs of {@code launches} launches each; what
     * it allocates it releases.
     */
    public static List<Result> run(Device device, int launches, int runs) {
        if (launches < 2 || runs < 1) {
            throw new IllegalArgumentException("launch period: needs at least 2 launches and 1 run, got " + launches + " and " + runs);
        }
        int cu = Math.max(1, device.info().computeUnits());
        Shape one = new Shape("lp_empty", 1, 32);
        Shape full = new Shape("lp_empty", cu, 256);
        Shape eight = new Shape("lp_empty", 8L * cu, 256);
        Shape local = new Shape("lp_local", 1, 256);
        Shape localFull = new Shape("lp_local", cu, 256);
        List<List<Shape>> variants = List.of(List.of(one), List.of(full), List.of(eight), List.of(local), List.of(localFull),
                List.of(one, local), List.of(full, localFull), List.of(one, full));
        try (DeviceProgram program = device.build("launch period", SOURCE, "-DLOCAL_INTS=" + LOCAL_INTS);
             DeviceBuffer count = device.allocate(MemoryCategory.WORKSPACE, 64, "launch-period count");
             DeviceBuffer sink = device.allocate(MemoryCategory.WORKSPACE, 64, "launch-period spin");
             DeviceKernel spin = program.kernel("lp_spin");
             DeviceKernel empty = program.kernel("lp_empty");
             DeviceKernel big = program.kernel("lp_local")) {
            spin.arg(0, sink);
            empty.arg(0, count);
            big.arg(0, count);
            double nsPerIter = calibrate(device, spin);
            List<Result> results = new ArrayList<>();
            for (List<Shape> v : variants) {
                results.add(variant(device, v, v.stream().map(s -> s.kernel().equals("lp_local") ? big : empty).toList(),
                        spin, nsPerIter, count, launches, runs));
            }
            return results;
        }
    }

    /** Device nanoseconds per iteration of the spin loop (one work-group). */
    private static double calibrate(Device device, DeviceKernel spin) {
        spin.arg(1, SPIN_CALIBRATION);
        long best = Long.MAX_VALUE;
        for (int i = 0; i < 3; i++) {
            try (DeviceEvent e = device.launchTimed(spin, new long[]{32}, new long[]{32})) {
                best = Math.min(best, e.elapsedNanos());
            }
        }
        return Math.max(1e-3, (double) best / SPIN_CALIBRATION);
    }

    private static Result variant(Device device, List<Shape> shapes, List<DeviceKernel> kernels, DeviceKernel spin, double nsPerIter,
                                  DeviceBuffer count, int launches, int runs) {
        String label = String.join(" / ", shapes.stream().map(Shape::label).toList());
        double[] periods = new double[runs];
        double[] own = new double[runs];
        List<Double> fedPeriods = new ArrayList<>();
        device.fill(count, 0);
        long hostNsPerLaunch = 20_000;   // a generous guess for the first run; then what the last run took
        for (int r = 0; r < runs; r++) {
            long spinNs = Math.max(2_000_000L, 3 * hostNsPerLaunch * launches);
            spin.arg(1, (int) Math.min(Integer.MAX_VALUE, (long) (spinNs / nsPerIter)));
            try (DeviceEvent spinEvent = device.launchTimed(spin, new long[]{32}, new long[]{32})) {
                long t0 = System.nanoTime();
                DeviceEvent first = null;
                DeviceEvent last = null;
                try {
                    for (int i = 0; i < launches; i++) {
                        int k = i % shapes.size();
                        long[] global = {shapes.get(k).groups() * shapes.get(k).local()};
                        long[] local = {shapes.get(k).local()};
                        if (i == 0) {
                            first = device.launchTimed(kernels.get(k), global, local);
                        } else if (i == launches - 1) {
                            last = device.launchTimed(kernels.get(k), global, local);
                        } else {
                            device.launch(kernels.get(k), global, local);
                        }
                    }
                    long hostNs = System.nanoTime() - t0;
                    hostNsPerLaunch = Math.max(1, hostNs / launches);
                    device.synchronize();
                    periods[r] = (last.startNanos() - first.startNanos()) / 1e3 / (launches - 1);
                    own[r] = last.elapsedNanos() / 1e3;
                    // fed: the spin was still running when the host had enqueued the whole run
                    if (spinEvent.elapsedNanos() > hostNs && first.startNanos() >= spinEvent.endNanos()) {
                        fedPeriods.add(periods[r]);
                    }
                } finally {
                    if (first != null) {
                        first.close();
                    }
                    if (last != null) {
                        last.close();
                    }
                }
            }
        }
        long total = (long) runs * launches;
        int[] got = new int[1];
        device.read(count, 0, got, 0, 1);
        if (got[0] != total) {
            throw new IllegalStateException("launch period " + label + ": the kernels counted " + got[0] + " launches of " + total);
        }
        // the fed runs' periods (all runs' where none was fed: the period then includes the host's pace)
        double[] sorted = fedPeriods.isEmpty() ? periods.clone() : fedPeriods.stream().mapToDouble(Double::doubleValue).toArray();
        Arrays.sort(sorted);
        double[] ownSorted = own.clone();
        Arrays.sort(ownSorted);
        return new Result(label, quantile(sorted, 0.5), quantile(sorted, 0.1), quantile(sorted, 0.9), quantile(ownSorted, 0.5), fedPeriods.size(), runs,
                got[0]);
    }

    private static double quantile(double[] sorted, double q) {
        return sorted[(int) Math.min(sorted.length - 1, Math.round(q * (sorted.length - 1)))];
    }
}
