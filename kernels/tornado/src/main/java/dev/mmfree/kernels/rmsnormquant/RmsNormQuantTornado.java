package dev.mmfree.kernels.rmsnormquant;

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
 * RMSNorm, and RMSNorm fused with per-row int8 quantization, as TornadoVM kernels.
 *
 * <pre>
 *   y = x / sqrt(mean(x^2) + eps) * w;   a = max(max|y|, 1e-5);   q = clamp(rint(y * 127 / a)) int8;   factor = a / 127
 * </pre>
 * x: [rows, d] float; w: [d]; q: [rows, d] Int8Array; factor: [rows]. One work-group of {@link #GROUP}
 * threads per row: a tree reduction of the sum of squares (in double, as the reference), then one of
 * max|y|, then every thread quantizes its strided share. Same arithmetic as {@link RmsNormQuantReference},
 * so codes and factors are bit-exact. Tested by {@code RmsNormQuantTornadoTest}.
 * Test: {@code source tornado.env && ./mvnw -q -o -Ptornado -pl kernels/tornado -am verify -Dtest=RmsNormQuantTornadoTest}.
 */
public final class RmsNormQuantTornado implements AutoCloseable {
    public static final String GRAPH = "rmsnormquant";
    public static final String TASK = "rms_norm_quant_f32_i8";
    public static final String TASK_NORM = "rms_norm_f32";
    /** Threads per work-group (a power of two). */
    public static final int GROUP = 128;

    /** out[r, :] = RMSNorm_w(x[r, :]); one group per row. */
    public static void rmsNorm(KernelContext ctx, FloatArray x, FloatArray w, FloatArray out, int d, double eps) {
        double[] partial = ctx.allocateDoubleLocalArray(GROUP);
        int lid = ctx.localIdx;
        int off = ctx.groupIdx * d;
        double ss = 0;
        for (int j = lid; j < d; j += GROUP) {
            float v = x.get(off + j);
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
        float inv = (float) (1.0 / TornadoMath.sqrt(partial[0] / d + eps));
        for (int j = lid; j < d; j += GROUP) {
            out.set(off + j, x.get(off + j) * inv * w.get(j));
        }
    }

    /** q[r, :], factor[r] = quantize(RMSNorm_w(x[r, :])); one group per row. */
    public static void normQuant(KernelContext ctx, FloatArray x, FloatArray w, Int8Array q, FloatArray factor, int d, double eps) {
        double[] partial = ctx.allocateDoubleLocalArray(GROUP);
        float[] peak = ctx.allocateFloatLocalArray(GROUP);
        int lid = ctx.localIdx;
        int off = ctx.groupIdx * d;
        double ss = 0;
        for (int j = lid; j < d; j += GROUP) {
            float v = x.get(off + j);
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
        float inv = (float) (1.0 / TornadoMath.sqrt(partial[0] / d + eps));
        float amax = 0f;
        for (int j = lid; j < d; j += GROUP) {
            amax = TornadoMath.max(amax, TornadoMath.abs(x.get(off + j) * inv * w.get(j)));
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
        for (int j = lid; j < d; j += GROUP) {
            q.set(off + j, (byte) DeviceMath.rintInt8(x.get(off + j) * inv * w.get(j) * scale));
        }
        if (lid == 0) {
            factor.set(ctx.groupIdx, 1.0f / scale);
        }
    }

    /** Adds task {@code task}: out = RMSNorm_w(x) over {@code rows} rows of d, with its grid. */
    public static TaskGraph addNormTask(TaskGraph graph, GridScheduler grids, String task, FloatArray x, FloatArray w,
                                        FloatArray out, int rows, int d, double eps) {
        graph.task(task, RmsNormQuantTornado::rmsNorm, new KernelContext(), x, w, out, d, eps);
        Grids.groups(grids, graph, task, rows, GROUP);
        return graph;
    }

    /** Adds task {@code task}: q, factor = quantize(RMSNorm_w(x)) over {@code rows} rows of d, with its grid. */
    public static TaskGraph addTask(TaskGraph graph, GridScheduler grids, String task, FloatArray x, FloatArray w,
                                    Int8Array q, FloatArray factor, int rows, int d, double eps) {
        graph.task(task, RmsNormQuantTornado::normQuant, new KernelContext(), x, w, q, factor, d, eps);
        Grids.groups(grids, graph, task, rows, GROUP);
        return graph;
    }

    private final FloatArray x;       // [rows, d]
    private final FloatArray w;       // [d], sent once
    private final Int8Array q;        // [rows, d] int8
    private final FloatArray factor;  // [rows]
    private final TornadoExecutionPlan plan;

    /** A one-task graph quantizing {@code rows} rows of d with norm weight w (eps as in the reference). */
    public RmsNormQuantTornado(float[] normWeight, int rows, double eps) {
        int d = normWeight.length;
        if (rows <= 0 || d == 0) {
            throw new IllegalArgumentException("rmsnormquant: shape [" + rows + ", " + d + "] must be positive");
        }
        this.x = new FloatArray(rows * d);
        this.w = FloatArray.fromArray(normWeight);
        this.q = new Int8Array(rows * d);
        this.factor = new FloatArray(rows);
        TaskGraph graph = new TaskGraph(GRAPH)
                .transferToDevice(DataTransferMode.FIRST_EXECUTION, w)
                .transferToDevice(DataTransferMode.EVERY_EXECUTION, x);
        GridScheduler grids = new GridScheduler();
        addTask(graph, grids, TASK, x, w, q, factor, rows, d, eps);
        graph.transferToHost(DataTransferMode.EVERY_EXECUTION, q, factor);
        this.plan = Plans.plan(grids, graph.snapshot());
    }

    /** q[rows, d], factorOut[rows] = quantize(RMSNorm_w(xIn[rows, d])). */
    public void normQuantize(float[] xIn, byte[] qOut, float[] factorOut) {
        HostCopies.copy("rmsnormquant: x", xIn, x);
        plan.execute();
        HostCopies.copy("rmsnormquant: q", q, qOut);
        HostCopies.copy("rmsnormquant: factor", factor, factorOut);
    }

    @Override
    public void close() {
        Plans.close(GRAPH, plan);
    }
}
