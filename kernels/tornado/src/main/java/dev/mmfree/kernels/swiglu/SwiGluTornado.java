package dev.mmfree.kernels.swiglu;

import dev.mmfree.kernels.tornado.DeviceMath;
import dev.mmfree.kernels.tornado.Grids;
import dev.mmfree.kernels.tornado.HostCopies;
import dev.mmfree.kernels.tornado.Plans;
import uk.ac.manchester.tornado.api.GridScheduler;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.enums.DataTransferMode;
import uk.ac.manchester.tornado.api.math.TornadoMath;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.Int8Array;

/**
 * SwiGLU fused with the next BitLinear's RMSNorm and int8 quantization (HGRNBit's MLP middle), TornadoVM.
 *
 * <pre>
 *   y = silu(gate) * up;   q, factor = quantize(RMSNorm_w(y))        (RmsNormQuantReference's quantizer)
 * </pre>
 * gateUp: [rows, 2n] float, each row [gate | up] (gate_proj's output); w: [n] (down_proj.norm);
 * q: [rows, n] Int8Array; factor: [rows]. One work-group of {@link #GROUP} threads per row; y is
 * recomputed in each pass instead of stored. Bit-exact against {@link SwiGluReference} followed by
 * {@code RmsNormQuantReference.normQuantize}; tested by {@code SwiGluTornadoTest}.
 * Test: {@code source tornado.env && ./mvnw -q -o -Ptornado -pl kernels/tornado -am verify -Dtest=SwiGluTornadoTest}.
 */
public final class SwiGluTornado implements AutoCloseable {
    public static final String GRAPH = "swiglu";
    public static final String TASK = "swiglu_quant_f32_i8";
    /** Threads per work-group (a power of two). */
    public static final int GROUP = 128;

    public static void swiGluQuant(KernelContext ctx, FloatArray gateUp, FloatArray w, Int8Array q, FloatArray factor,
                                   int n, double eps) {
        double[] partial = ctx.allocateDoubleLocalArray(GROUP);
        float[] peak = ctx.allocateFloatLocalArray(GROUP);
        int lid = ctx.localIdx;
        int in = ctx.groupIdx * 2 * n;
        int off = ctx.groupIdx * n;
        double ss = 0;
        for (int j = lid; j < n; j += GROUP) {
            float v = DeviceMath.silu(gateUp.get(in + j)) * gateUp.get(in + n + j);
            ss += v * v;
        }
        partial[lid] = ss;
        ctx.localBarrier();
        for (int stride = GROUP / 2; stride > 0; stride /= 2) {
            if (lid < stride) {
                partial[lid] += partial[lid + stride];
            }
            ctx.localBarrier();
        }
        float inv = (float) (1.0 / TornadoMath.sqrt(partial[0] / n + eps));
        float amax = 0f;
        for (int j = lid; j < n; j += GROUP) {
            float v = DeviceMath.silu(gateUp.get(in + j)) * gateUp.get(in + n + j);
            amax = TornadoMath.max(amax, TornadoMath.abs(v * inv * w.get(j)));
        }
        peak[lid] = amax;
        ctx.localBarrier();
        for (int stride = GROUP / 2; stride > 0; stride /= 2) {
            if (lid < stride) {
                peak[lid] = TornadoMath.max(peak[lid], peak[lid + stride]);
            }
            ctx.localBarrier();
        }
        float scale = 127.0f / TornadoMath.max(peak[0], 1e-5f);
        for (int j = lid; j < n; j += GROUP) {
            float v = DeviceMath.silu(gateUp.get(in + j)) * gateUp.get(in + n + j);
            q.set(off + j, (byte) DeviceMath.rintInt8(v * inv * w.get(j) * scale));
        }
        if (lid == 0) {
            factor.set(ctx.groupIdx, 1.0f / scale);
        }
    }

    /** Adds task {@code task} over {@code rows} rows of [gate | up] (2n wide), with its grid. */
    public static TaskGraph addTask(TaskGraph graph, GridScheduler grids, String task, FloatArray gateUp, FloatArray w,
                                    Int8Array q, FloatArray factor, int rows, int n, double eps) {
        graph.task(task, SwiGluTornado::swiGluQuant, new KernelContext(), gateUp, w, q, factor, n, eps);
        Grids.groups(grids, graph, task, rows, GROUP);
        return graph;
    }

    private final FloatArray gateUp;  // [rows, 2n]
    private final Int8Array q;        // [rows, n] int8
    private final FloatArray factor;  // [rows]
    private final TornadoExecutionPlan plan;

    /** A one-task graph for {@code rows} rows; normWeight [n] is down_proj's norm, sent once. */
    public SwiGluTornado(float[] normWeight, int rows, double eps) {
        int n = normWeight.length;
        if (rows <= 0 || n == 0) {
            throw new IllegalArgumentException("swiglu: shape [" + rows + ", " + n + "] must be positive");
        }
        this.gateUp = new FloatArray(rows * 2 * n);
        this.q = new Int8Array(rows * n);
        this.factor = new FloatArray(rows);
        FloatArray w = FloatArray.fromArray(normWeight);
        TaskGraph graph = new TaskGraph(GRAPH)
                .transferToDevice(DataTransferMode.FIRST_EXECUTION, w)
                .transferToDevice(DataTransferMode.EVERY_EXECUTION, gateUp);
        GridScheduler grids = new GridScheduler();
        addTask(graph, grids, TASK, gateUp, w, q, factor, rows, n, eps);
        graph.transferToHost(DataTransferMode.EVERY_EXECUTION, q, factor);
        this.plan = Plans.plan(grids, graph.snapshot());
    }

    /** q[rows, n], factorOut[rows] = quantize(RMSNorm_w(silu(gate) * up)) for gateUpIn [rows, 2n]. */
    public void apply(float[] gateUpIn, byte[] qOut, float[] factorOut) {
        HostCopies.copy("swiglu: gateUp", gateUpIn, gateUp);
        plan.execute();
        HostCopies.copy("swiglu: q", q, qOut);
        HostCopies.copy("swiglu: factor", factor, factorOut);
    }

    @Override
    public void close() {
        Plans.close(GRAPH, plan);
    }
}
