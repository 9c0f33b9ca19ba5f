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
import uk.ac.manchester.tornado.api.WorkerGrid;
import uk.ac.manchester.tornado.api.enums.DataTransferMode;
import uk.ac.manchester.tornado.api.math.TornadoMath;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.IntArray;

/**
 * The MLGRU recurrence over t tokens of b sequences, each sequence's state in a slot of a device pool
 * (prefill and decode alike: decode is t = 1).
 *
 * <pre>
 *   for p in 0..t-1:  f = lb + (1 - lb) * sigmoid(fPre[p]);  state = f * state + silu(i[p]) * (1 - f);
 *                     o[p] = RMSNorm_gNorm(g[p]) * silu(state)
 * </pre>
 * i, fPre, g, o: [b * t, d] float, row s * t + p is token p of sequence s; lb, gNorm: [d]; states:
 * [slots, d] float, the pool; seqMap: [1 + 2 * maxSeqs] int, see {@link #setMap}. One work-group of
 * {@link #GROUP} threads per sequence walks the t tokens in order (the recurrence is sequential in
 * time, parallel over channels); the tree reduction of sum(g^2) is per token. Tested against
 * {@link MlgruReference} by {@code MlgruScanTornadoTest}.
 * Test: {@code source tornado.env && ./mvnw -q -o -Ptornado -pl kernels/tornado -am verify -Dtest=MlgruScanTornadoTest}.
 */
public final class MlgruScanTornado implements AutoCloseable {
    public static final String GRAPH = "mlgruscan";
    public static final String TASK = "mlgru_scan_f32";
    /** Threads per work-group (a power of two). */
    public static final int GROUP = 128;

    /**
     * The kernel. seqMap[0] = t; seqMap[1 + s] = the state slot of sequence s; seqMap[1 + maxSeqs + s] != 0:
     * zero that slot's state first (a new sequence).
     */
    public static void mlgruScan(KernelContext ctx, FloatArray i, FloatArray fPre, FloatArray g, FloatArray lb, FloatArray gNorm,
                                 FloatArray states, FloatArray o, IntArray seqMap, int d, int maxSeqs, double eps) {
        double[] partial = ctx.allocateDoubleLocalArray(GROUP);
        int lid = ctx.localIdx;
        int s = ctx.groupIdx;
        int t = seqMap.get(0);
        int st = seqMap.get(1 + s) * d;
        if (seqMap.get(1 + maxSeqs + s) != 0) {
            for (int j = lid; j < d; j += GROUP) {
                states.set(st + j, 0f);
            }
        }
        for (int p = 0; p < t; p++) {
            int off = (s * t + p) * d;
            double ss = 0;
            for (int j = lid; j < d; j += GROUP) {
                float lbj = lb.get(j);
                float f = lbj + (1 - lbj) * DeviceMath.sigmoid(fPre.get(off + j));
                states.set(st + j, f * states.get(st + j) + DeviceMath.silu(i.get(off + j)) * (1 - f));
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
                o.set(off + j, g.get(off + j) * inv * gNorm.get(j) * DeviceMath.silu(states.get(st + j)));
            }
            ctx.localBarrier();   // every thread has read partial[0] before the next token overwrites it
        }
    }

    /** The length of a seqMap for up to maxSeqs sequences per call. */
    public static int mapLength(int maxSeqs) {
        return 1 + 2 * maxSeqs;
    }

    /** Fills seqMap for a call: t tokens per sequence, sequence s in slot slots[s], zeroed first where reset[s]. */
    public static void setMap(IntArray seqMap, int maxSeqs, int t, int[] slots, boolean[] reset) {
        if (slots.length > maxSeqs || reset.length != slots.length || t < 1) {
            throw new IllegalArgumentException("mlgru scan: " + slots.length + " sequences (at most " + maxSeqs + "), "
                    + reset.length + " reset flags, t " + t);
        }
        seqMap.set(0, t);
        for (int s = 0; s < slots.length; s++) {
            seqMap.set(1 + s, slots[s]);
            seqMap.set(1 + maxSeqs + s, reset[s] ? 1 : 0);
        }
    }

    /** Adds task {@code task} for up to maxSeqs sequences (the grid starts at maxSeqs groups; see {@link Grids#resize}). */
    public static TaskGraph addTask(TaskGraph graph, GridScheduler grids, String task, FloatArray i, FloatArray fPre,
                                    FloatArray g, FloatArray lb, FloatArray gNorm, FloatArray states, FloatArray o,
                                    IntArray seqMap, int maxSeqs, int d, double eps) {
        graph.task(task, MlgruScanTornado::mlgruScan, new KernelContext(), i, fPre, g, lb, gNorm, states, o, seqMap, d,
                maxSeqs, eps);
        Grids.groups(grids, graph, task, maxSeqs, GROUP);
        return graph;
    }

    private final int d;
    private final int maxSeqs;
    private final FloatArray i;       // [maxRows, d]
    private final FloatArray fPre;    // [maxRows, d]
    private final FloatArray g;       // [maxRows, d]
    private final FloatArray o;       // [maxRows, d]
    private final FloatArray states;  // [slots, d], lives on the device
    private final IntArray seqMap;    // [1 + 2 * maxSeqs]
    private final WorkerGrid grid;
    private final TornadoExecutionPlan plan;

    /** A one-task graph: a pool of {@code slots} states, calls of up to maxSeqs sequences and maxRows = b * t rows. */
    public MlgruScanTornado(float[] lowerBound, float[] gNormWeight, int slots, int maxSeqs, int maxRows, double eps) {
        this.d = lowerBound.length;
        this.maxSeqs = maxSeqs;
        if (d == 0 || gNormWeight.length != d || slots < 1 || maxSeqs < 1 || maxRows < maxSeqs) {
            throw new IllegalArgumentException("mlgru scan: lb [" + d + "], gNorm [" + gNormWeight.length + "], slots " + slots
                    + ", maxSeqs " + maxSeqs + ", maxRows " + maxRows);
        }
        this.i = new FloatArray(maxRows * d);
        this.fPre = new FloatArray(maxRows * d);
        this.g = new FloatArray(maxRows * d);
        this.o = new FloatArray(maxRows * d);
        this.states = new FloatArray(slots * d);
        this.seqMap = new IntArray(mapLength(maxSeqs));
        FloatArray lb = FloatArray.fromArray(lowerBound);
        FloatArray gNorm = FloatArray.fromArray(gNormWeight);
        TaskGraph graph = new TaskGraph(GRAPH)
                .transferToDevice(DataTransferMode.FIRST_EXECUTION, lb, gNorm, states)
                .transferToDevice(DataTransferMode.EVERY_EXECUTION, i, fPre, g, seqMap);
        GridScheduler grids = new GridScheduler();
        addTask(graph, grids, TASK, i, fPre, g, lb, gNorm, states, o, seqMap, maxSeqs, d, eps);
        graph.transferToHost(DataTransferMode.EVERY_EXECUTION, o)
                .transferToHost(DataTransferMode.UNDER_DEMAND, states);
        this.grid = grids.get(GRAPH + "." + TASK);
        this.plan = Plans.plan(grids, graph.snapshot());
    }

    /**
     * Runs t tokens of slots.length sequences: iIn, fPreIn, gIn [b * t, d] in, oOut [b * t, d] out;
     * sequence s uses state slot slots[s], zeroed first where reset[s]. Returns the pool [slots, d] when
     * readStates, else null.
     */
    public float[] scan(int[] slots, boolean[] reset, int t, float[] iIn, float[] fPreIn, float[] gIn, float[] oOut,
                        boolean readStates) {
        int rows = slots.length * t;
        if (rows * d > i.getSize()) {
            throw new IllegalArgumentException("mlgru scan: " + rows + " rows exceed the " + i.getSize() / d + " allocated");
        }
        setMap(seqMap, maxSeqs, t, slots, reset);
        copyRows("i", iIn, i, rows);
        copyRows("f", fPreIn, fPre, rows);
        copyRows("g", gIn, g, rows);
        if (oOut.length != rows * d) {
            throw new IllegalArgumentException("mlgru scan: o length " + oOut.length + " != " + rows * d);
        }
        Grids.resize(grid, slots.length);
        TornadoExecutionResult result = plan.execute();
        HostCopies.copyOut("mlgru scan: o", o, 0, oOut);
        if (!readStates) {
            return null;
        }
        result.transferToHost(states);
        float[] out = new float[states.getSize()];
        HostCopies.copy("mlgru scan: states", states, out);
        return out;
    }

    private void copyRows(String what, float[] src, FloatArray dst, int rows) {
        if (src.length != rows * d) {
            throw new IllegalArgumentException("mlgru scan: " + what + " length " + src.length + " != " + rows * d);
        }
        HostCopies.copyPrefix("mlgru scan: " + what, src, dst);
    }

    @Override
    public void close() {
        Plans.close(GRAPH, plan);
    }
}
