package dev.mmfree.kernels.bitlinear;

import dev.mmfree.kernels.tornado.Grids;
import dev.mmfree.kernels.tornado.HostCopies;
import dev.mmfree.kernels.tornado.Plans;
import dev.mmfree.kernels.ternary.TernaryMatrix;
import uk.ac.manchester.tornado.api.GridScheduler;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.TornadoExecutionResult;
import uk.ac.manchester.tornado.api.enums.DataTransferMode;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.Int8Array;
import uk.ac.manchester.tornado.api.types.arrays.IntArray;

/**
 * The ternary accumulate as a TornadoVM kernel (GEMV for rows = 1, GEMM for rows > 1).
 *
 * <pre>
 *   out[r, o] (+)= (s * actFactor[r]) * sum_i T[o, i] * q[r, i]      T in {-1,0,1} packed 2-bit, q int8
 * </pre>
 * codes: [out, wordsPerRow] IntArray ({@link TernaryMatrix} layout, decoded in the kernel); q: [rows, in]
 * Int8Array; actFactor: [rows] FloatArray (a / 127); out: [rows, out] FloatArray. One work-group of
 * {@link #GROUP} threads per (row, output): each thread adds or subtracts its strided share of the
 * packed words, a local-memory tree sums the shares, thread 0 applies the two scales once.
 * Tested against {@link BitLinearReference} by {@code BitLinearTornadoTest}; timed by {@link BitLinearTornadoBench}.
 * Test: {@code source tornado.env && ./mvnw -q -o -Ptornado -pl kernels/tornado -am verify -Dtest=BitLinearTornadoTest}.
 */
public final class BitLinearTornado implements AutoCloseable {
    public static final String GRAPH = "bitlinear";
    public static final String TASK = "bitlinear_t2_i8_f32";
    /** Threads per work-group (a power of two). */
    public static final int GROUP = 64;

    /** A ternary weight as the kernel reads it: the packed codes on the device, the shape and scale as kernel constants. */
    public record Weights(IntArray codes, int out, int in, int wordsPerRow, float scale) {
        public static Weights of(TernaryMatrix w) {
            return new Weights(IntArray.fromArray(w.codes()), w.out(), w.in(), w.wordsPerRow(), w.scale());
        }
    }

    /** The kernel; accumulate != 0 adds into out (the residual epilogue) instead of overwriting it. */
    public static void bitLinear(KernelContext ctx, IntArray codes, Int8Array q, FloatArray actFactor, FloatArray out,
                                 int in, int wordsPerRow, int outDim, float weightScale, int accumulate) {
        int[] partial = ctx.allocateIntLocalArray(GROUP);
        int lid = ctx.localIdx;
        int r = ctx.groupIdx / outDim;
        int o = ctx.groupIdx - r * outDim;
        int acc = 0;
        for (int k = lid; k < wordsPerRow; k += GROUP) {
            int word = codes.get(o * wordsPerRow + k);
            int col = k * TernaryMatrix.WEIGHTS_PER_WORD;
            int n = Math.min(TernaryMatrix.WEIGHTS_PER_WORD, in - col);
            int base = r * in + col;
            for (int j = 0; j < n; j++) {
                int a = q.get(base + j);
                int code = word >>> (2 * j);
                int nonZero = -(code & 1);            // all ones for +1 and -1
                int negative = -((code >>> 1) & 1);   // all ones for -1: conditional negate, no multiply
                acc += ((a & nonZero) ^ negative) - negative;
            }
        }
        partial[lid] = acc;
        ctx.localBarrier();
        for (int stride = GROUP / 2; stride > 0; stride /= 2) {
            if (lid < stride) {
                partial[lid] += partial[lid + stride];
            }
            ctx.localBarrier();
        }
        if (lid == 0) {
            float v = partial[0] * (weightScale * actFactor.get(r));
            int idx = r * outDim + o;
            out.set(idx, accumulate != 0 ? out.get(idx) + v : v);
        }
    }

    /** Adds task {@code task}: out (+)= BitLinear_w(q) over {@code rows} rows, with its grid. */
    public static TaskGraph addTask(TaskGraph graph, GridScheduler grids, String task, Weights w, Int8Array q,
                                    FloatArray actFactor, FloatArray out, int rows, boolean accumulate) {
        graph.task(task, BitLinearTornado::bitLinear, new KernelContext(), w.codes(), q, actFactor, out,
                w.in(), w.wordsPerRow(), w.out(), w.scale(), accumulate ? 1 : 0);
        Grids.groups(grids, graph, task, rows * w.out(), GROUP);
        return graph;
    }

    private final Weights w;
    private final Int8Array q;           // [rows, in] int8
    private final FloatArray actFactor;  // [rows]
    private final FloatArray out;        // [rows, out]
    private final TornadoExecutionPlan plan;

    /** A one-task graph for {@code rows} rows: the codes go to the device once, q and the factors every call. */
    public BitLinearTornado(TernaryMatrix weight, int rows, boolean accumulate) {
        if (rows <= 0) {
            throw new IllegalArgumentException("bitlinear: rows must be > 0, got " + rows);
        }
        this.w = Weights.of(weight);
        this.q = new Int8Array(rows * w.in());
        this.actFactor = new FloatArray(rows);
        this.out = new FloatArray(rows * w.out());
        TaskGraph graph = new TaskGraph(GRAPH)
                .transferToDevice(DataTransferMode.FIRST_EXECUTION, w.codes())
                .transferToDevice(DataTransferMode.EVERY_EXECUTION, q, actFactor);
        if (accumulate) {
            graph.transferToDevice(DataTransferMode.EVERY_EXECUTION, out);
        }
        GridScheduler grids = new GridScheduler();
        addTask(graph, grids, TASK, w, q, actFactor, out, rows, accumulate);
        graph.transferToHost(DataTransferMode.EVERY_EXECUTION, out);
        this.plan = Plans.plan(grids, graph.snapshot());
    }

    /**
     * out[rows, out] (+)= BitLinear(q[rows, in], actFactor[rows]); out is read too when accumulating.
     * Returns the execution result (with timings when {@link #plan()} has the profiler on).
     */
    public TornadoExecutionResult forward(byte[] qIn, float[] actFactorIn, float[] outHost) {
        HostCopies.copy("bitlinear: q", qIn, q);
        HostCopies.copy("bitlinear: actFactor", actFactorIn, actFactor);
        HostCopies.copy("bitlinear: out", outHost, out);
        TornadoExecutionResult result = plan.execute();
        HostCopies.copy("bitlinear: out", out, outHost);
        return result;
    }

    /** The execution plan, to turn on the profiler or pick a device. */
    public TornadoExecutionPlan plan() {
        return plan;
    }

    @Override
    public void close() {
        Plans.close(GRAPH, plan);
    }
}
