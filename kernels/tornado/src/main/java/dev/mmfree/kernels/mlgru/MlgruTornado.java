package dev.mmfree.kernels.mlgru;

import dev.mmfree.kernels.tornado.DeviceMath;
import dev.mmfree.kernels.tornado.Grids;
import dev.mmfree.kernels.tornado.HostCopies;
import dev.mmfree.kernels.tornado.Plans;
import uk.ac.manchester.tornado.api.GridScheduler;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.TornadoExecutionResult;
import uk.ac.manchester.tornado.api.enums.DataTransferMode;
import uk.ac.manchester.tornado.api.math.TornadoMath;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;

/**
 * One MLGRU token step as a TornadoVM kernel, for b sequences at once (decode).
 *
 * <pre>
 *   f = lb + (1 - lb) * sigmoid(fPre);   state = f * state + silu(i) * (1 - f);   o = RMSNorm_gNorm(g) * silu(state)
 * </pre>
 * i, fPre, g, o, state: [b, d] float (row r is sequence r); lb, gNorm: [d]. One work-group of
 * {@link #GROUP} threads per sequence: the element-wise update, a tree reduction of sum(g^2) (double),
 * then the gated output. The state never leaves the device between steps. Tested against
 * {@link MlgruReference} by {@code MlgruTornadoTest}.
 * Test: {@code source tornado.env && ./mvnw -q -o -Ptornado -pl kernels/tornado -am verify -Dtest=MlgruTornadoTest}.
 */
public final class MlgruTornado implements AutoCloseable {
    public static final String GRAPH = "mlgru";
    public static final String TASK = "mlgru_step_f32";
    /** Threads per work-group (a power of two). */
    public static final int GROUP = 128;

    /** The kernel (not named {@code step}: that is an OpenCL built-in, and PoCL then crashes creating the kernel). */
    public static void mlgruStep(KernelContext ctx, FloatArray i, FloatArray fPre, FloatArray g, FloatArray lb, FloatArray gNorm,
                                 FloatArray state, FloatArray o, int d, double eps) {
        double[] partial = ctx.allocateDoubleLocalArray(GROUP);
        int lid = ctx.localIdx;
        int off = ctx.groupIdx * d;
        double ss = 0;
        for (int j = lid; j < d; j += GROUP) {
            float lbj = lb.get(j);
            float f = lbj + (1 - lbj) * DeviceMath.sigmoid(fPre.get(off + j));
            state.set(off + j, f * state.get(off + j) + DeviceMath.silu(i.get(off + j)) * (1 - f));
            float v = g.get(off + j);
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
            o.set(off + j, g.get(off + j) * inv * gNorm.get(j) * DeviceMath.silu(state.get(off + j)));
        }
    }

    /** Adds task {@code task}: one step of {@code batch} sequences of width d, with its grid. */
    public static TaskGraph addTask(TaskGraph graph, GridScheduler grids, String task, FloatArray i, FloatArray fPre,
                                    FloatArray g, FloatArray lb, FloatArray gNorm, FloatArray state, FloatArray o,
                                    int batch, int d, double eps) {
        graph.task(task, MlgruTornado::mlgruStep, new KernelContext(), i, fPre, g, lb, gNorm, state, o, d, eps);
        Grids.groups(grids, graph, task, batch, GROUP);
        return graph;
    }

    private final FloatArray i;      // [b, d]
    private final FloatArray fPre;   // [b, d]
    private final FloatArray g;      // [b, d]
    private final FloatArray state;  // [b, d], lives on the device
    private final FloatArray o;      // [b, d]
    private final TornadoExecutionPlan plan;
    private TornadoExecutionResult last;

    /** A one-task graph for {@code batch} sequences; lb and gNorm ([d]) go once, the state starts at zero on the device. */
    public MlgruTornado(float[] lowerBound, float[] gNormWeight, int batch, double eps) {
        int d = lowerBound.length;
        if (batch <= 0 || d == 0 || gNormWeight.length != d) {
            throw new IllegalArgumentException("mlgru: batch " + batch + ", lb [" + d + "], gNorm [" + gNormWeight.length + "]");
        }
        this.i = new FloatArray(batch * d);
        this.fPre = new FloatArray(batch * d);
        this.g = new FloatArray(batch * d);
        this.state = new FloatArray(batch * d);
        this.o = new FloatArray(batch * d);
        FloatArray lb = FloatArray.fromArray(lowerBound);
        FloatArray gNorm = FloatArray.fromArray(gNormWeight);
        TaskGraph graph = new TaskGraph(GRAPH)
                .transferToDevice(DataTransferMode.FIRST_EXECUTION, lb, gNorm, state)
                .transferToDevice(DataTransferMode.EVERY_EXECUTION, i, fPre, g);
        GridScheduler grids = new GridScheduler();
        addTask(graph, grids, TASK, i, fPre, g, lb, gNorm, state, o, batch, d, eps);
        graph.transferToHost(DataTransferMode.EVERY_EXECUTION, o)
                .transferToHost(DataTransferMode.UNDER_DEMAND, state);
        this.plan = Plans.plan(grids, graph.snapshot());
    }

    /** Advances every sequence by one token: iIn, fPreIn, gIn [b, d] in, oOut [b, d] out. */
    public void step(float[] iIn, float[] fPreIn, float[] gIn, float[] oOut) {
        HostCopies.copy("mlgru: i", iIn, i);
        HostCopies.copy("mlgru: f", fPreIn, fPre);
        HostCopies.copy("mlgru: g", gIn, g);
        last = plan.execute();
        HostCopies.copy("mlgru: o", o, oOut);
    }

    /** Copies the device's state [b, d] into stateOut (after at least one step). */
    public void readState(float[] stateOut) {
        if (last == null) {
            throw new IllegalStateException("mlgru: no step has run, the state is still on the host");
        }
        last.transferToHost(state);
        HostCopies.copy("mlgru: state", state, stateOut);
    }

    @Override
    public void close() {
        Plans.close(GRAPH, plan);
    }
}
