package dev.mmfree.kernels.opencl;

import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.DeviceKernel;
import dev.mmfree.runtime.DeviceProgram;
import dev.mmfree.runtime.MemoryCategory;
import dev.mmfree.runtime.opencl.OpenCl;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * What one {@code clEnqueueNDRangeKernel} costs the host, by the number and kind of a kernel's arguments: the
 * question behind a step whose device waits for the host's enqueues (batched decode at 370M on the H200 spent 88%
 * of a step in them). The kernel does next to nothing (one work-group; work-item 0 reads one int of each argument);
 * what is timed, with the host's clock, is the enqueue call alone, its arguments set beforehand, and every 64
 * launches the queue is drained (not timed) so that no call waits for room in it.
 *
 * <p>Argument kinds, each at every count of {@code --args}: {@code buffers} (n allocations of their own),
 * {@code slices} (n sub-buffers of one allocation, as {@code DeviceLayerStack} hands out a layer's tensors),
 * {@code same} (one buffer n times), {@code ints} (one buffer, then n - 1 int arguments) and {@code locals} (one buffer,
 * then n - 1 local buffers of 64 bytes, as the row kernels take their scratch); and {@code set+buffers},
 * the buffers with all n set again before each enqueue (the set calls timed too). The variants take turns, 256
 * launches a turn, so that drift in the host's speed spreads over all of them. Each of {@code --contexts} contexts
 * (opened one after another, on a profiling queue every other one) runs the whole table: an NVIDIA context kept one
 * enqueue speed for its life, which differed between contexts by up to 1.7x.
 *
 * <pre>
 *   java -cp 'runtime.jar:kernels.jar:jocl.jar' dev.mmfree.kernels.opencl.EnqueueCostBench \
 *        [--device gpu] [--launches 4096] [--contexts 2] [--args 1,2,4,8,16,24,32]
 * </pre>
 * Prints one JSON line per result, then a table: context | profiling | kind | args | median, p10, p90 us a call.
 */
public final class EnqueueCostBench {
    /** One variant's timings: host microseconds per call. */
    public record Result(int context, boolean profiling, String kind, int args, double medianUs, double p10Us, double p90Us) {
    }

    private static final int TURN = 256;
    private static final int DRAIN_EVERY = 64;
    private static final String[] KINDS = {"buffers", "slices", "same", "ints", "locals", "set+buffers"};
    private static final long LOCAL_BYTES = 64;

    private EnqueueCostBench() {
    }

    public static void main(String[] args) {
        String selector = null;
        int launches = 4096;
        int contexts = 2;
        int[] counts = {1, 2, 4, 8, 16, 24, 32};
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--device" -> selector = args[++i];
                case "--launches" -> launches = Integer.parseInt(args[++i]);
                case "--contexts" -> contexts = Integer.parseInt(args[++i]);
                case "--args" -> counts = Arrays.stream(args[++i].split(",")).mapToInt(Integer::parseInt).toArray();
                default -> throw new IllegalArgumentException("unknown argument " + args[i]
                        + "; usage: [--device SEL] [--launches N] [--contexts N] [--args 1,2,4,...]");
            }
        }
        OpenCl.unavailableReason().ifPresent(r -> {
            throw new IllegalStateException("OpenCL unavailable: " + r);
        });
        String commit = System.getenv().getOrDefault("MMFREE_COMMIT", "unknown");
        List<Result> all = new ArrayList<>();
        for (int c = 0; c < contexts; c++) {
            boolean profiling = c % 2 == 1;
            try (Device device = OpenCl.open(selector, profiling)) {
                if (c == 0) {
                    System.out.println("# " + device.info());
                }
                for (Result r : run(device, c, counts, launches)) {
                    System.out.printf(Locale.ROOT, "{\"bench\":\"enqueue\",\"context\":%d,\"profiling\":%b,\"kind\":\"%s\",\"args\":%d,"
                                    + "\"median_us\":%.3f,\"p10_us\":%.3f,\"p90_us\":%.3f,\"launches\":%d,\"commit\":\"%s\"}%n",
                            r.context(), r.profiling(), r.kind(), r.args(), r.medianUs(), r.p10Us(), r.p90Us(), launches, commit);
                    all.add(r);
                }
            }
        }
        System.out.println();
        System.out.println("| context | profiling | kind | args | median us | p10 us | p90 us |");
        System.out.println("| ---: | --- | --- | ---: | ---: | ---: | ---: |");
        for (Result r : all) {
            System.out.printf(Locale.ROOT, "| %d | %s | %s | %d | %.2f | %.2f | %.2f |%n", r.context(), r.profiling() ? "yes" : "no",
                    r.kind(), r.args(), r.medianUs(), r.p10Us(), r.p90Us());
        }
    }

    /**
     * Every kind at every argument count on {@code device}, {@code launches} timed calls each (rounded up to whole
     * turns of {@value #TURN}); what it allocates it releases.
     */
    public static List<Result> run(Device device, int context, int[] counts, int launches) {
        int maxArgs = Arrays.stream(counts).max().orElseThrow();
        long align = Math.max(64, device.info().baseAlignBytes());
        List<DeviceBuffer> own = new ArrayList<>();
        List<DeviceBuffer> slices = new ArrayList<>();
        List<Variant> variants = new ArrayList<>();
        try (DeviceBuffer parent = device.allocate(MemoryCategory.WORKSPACE, align * maxArgs, "enqueue-cost slices")) {
            for (int i = 0; i < maxArgs; i++) {
                DeviceBuffer b = device.allocate(MemoryCategory.WORKSPACE, align, "enqueue-cost buffer " + i);
                own.add(b);
                device.fill(b, 0);
                slices.add(device.slice(parent, i * align, align, "enqueue-cost slice " + i));
            }
            device.fill(parent, 0);
            try {
                for (int n : counts) {
                    if (n < 1) {
                        throw new IllegalArgumentException("--args: a kernel needs at least one argument, got " + n);
                    }
                    DeviceProgram buffers = device.build("enqueue_cost_" + n, source(n, Extra.BUFFERS), "");
                    DeviceProgram ints = device.build("enqueue_cost_ints_" + n, source(n, Extra.INTS), "");
                    DeviceProgram locals = device.build("enqueue_cost_locals_" + n, source(n, Extra.LOCALS), "");
                    for (String kind : KINDS) {
                        DeviceProgram p = switch (kind) {
                            case "ints" -> ints;
                            case "locals" -> locals;
                            default -> buffers;
                        };
                        variants.add(new Variant(kind, n, p, p.kernel("enqueue_cost"), own, slices));
                    }
                }
                int turns = Math.max(1, (launches + TURN - 1) / TURN);
                long[] global = {32};
                for (Variant v : variants) {
                    v.turn(device, global, 0);   // warm-up: the first enqueues of a kernel cost more
                }
                for (int t = 0; t < turns; t++) {
                    for (Variant v : variants) {
                        v.turn(device, global, t * TURN);
                    }
                }
                List<Result> results = new ArrayList<>();
                for (Variant v : variants) {
                    double[] us = Arrays.stream(v.samples, 0, turns * TURN).mapToDouble(ns -> ns / 1e3).sorted().toArray();
                    results.add(new Result(context, device.profiling(), v.kind, v.args, quantile(us, 0.5), quantile(us, 0.1),
                            quantile(us, 0.9)));
                }
                return results;
            } finally {
                for (Variant v : variants) {
                    v.kernel.close();
                }
                variants.stream().map(v -> v.program).distinct().forEach(DeviceProgram::close);
                slices.forEach(DeviceBuffer::close);
                own.forEach(DeviceBuffer::close);
            }
        }
    }

    /** What follows a kernel's first argument (a global buffer). */
    enum Extra { BUFFERS, INTS, LOCALS }

    /**
     * n arguments: a global buffer, then n - 1 of {@code extra}; work-item 0 sums one int of each into the first (a
     * local buffer gets its index written first, so that it reads something defined).
     */
    static String source(int n, Extra extra) {
        StringBuilder params = new StringBuilder("__global int* a0");
        StringBuilder body = new StringBuilder("        int s = a0[0];\n");
        for (int i = 1; i < n; i++) {
            switch (extra) {
                case BUFFERS -> {
                    params.append(", __global const int* a").append(i);
                    body.append("        s += a").append(i).append("[0];\n");
                }
                case INTS -> {
                    params.append(", const int a").append(i);
                    body.append("        s += a").append(i).append(";\n");
                }
                case LOCALS -> {
                    params.append(", __local int* a").append(i);
                    body.append("        a").append(i).append("[0] = ").append(i).append(";\n        s += a").append(i).append("[0];\n");
                }
            }
        }
        return "__kernel void enqueue_cost(" + params + ") {\n    if (get_global_id(0) == 0) {\n" + body
                + "        a0[0] = s + 1;\n    }\n}\n";
    }

    private static double quantile(double[] sorted, double q) {
        return sorted[(int) Math.min(sorted.length - 1, Math.round(q * (sorted.length - 1)))];
    }

    /** One kind at one argument count: its kernel with arguments set, and its samples (ns a call). */
    private static final class Variant {
        final String kind;
        final int args;
        final DeviceProgram program;
        final DeviceKernel kernel;
        final List<DeviceBuffer> own;
        long[] samples = new long[0];

        Variant(String kind, int args, DeviceProgram program, DeviceKernel kernel, List<DeviceBuffer> own, List<DeviceBuffer> slices) {
            this.kind = kind;
            this.args = args;
            this.program = program;
            this.kernel = kernel;
            this.own = own;
            for (int i = 0; i < args; i++) {
                switch (kind) {
                    case "slices" -> kernel.arg(i, slices.get(i));
                    case "same" -> kernel.arg(i, own.getFirst());
                    case "ints" -> {
                        if (i == 0) {
                            kernel.arg(0, own.getFirst());
                        } else {
                            kernel.arg(i, i);
                        }
                    }
                    case "locals" -> {
                        if (i == 0) {
                            kernel.arg(0, own.getFirst());
                        } else {
                            kernel.argLocal(i, LOCAL_BYTES);
                        }
                    }
                    default -> kernel.arg(i, own.get(i));
                }
            }
        }

        /** {@value #TURN} timed calls into samples[from ..), the queue drained every {@value #DRAIN_EVERY}. */
        void turn(Device device, long[] global, int from) {
            if (samples.length < from + TURN) {
                samples = Arrays.copyOf(samples, Math.max(2 * samples.length, from + TURN));
            }
            boolean set = kind.equals("set+buffers");
            for (int i = 0; i < TURN; i++) {
                if (i % DRAIN_EVERY == 0) {
                    device.synchronize();
                }
                long t0 = System.nanoTime();
                if (set) {
                    for (int a = 0; a < args; a++) {
                        kernel.arg(a, own.get(a));
                    }
                }
                device.launch(kernel, global, global);
                samples[from + i] = System.nanoTime() - t0;
            }
            device.synchronize();
        }
    }
}
