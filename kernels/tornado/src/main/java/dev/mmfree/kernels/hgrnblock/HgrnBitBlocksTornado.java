package dev.mmfree.kernels.hgrnblock;

import dev.mmfree.kernels.bitlinear.BitLinearTornado;
import dev.mmfree.kernels.mlgru.MlgruScanTornado;
import dev.mmfree.kernels.rmsnormquant.RmsNormQuantReference;
import dev.mmfree.kernels.rmsnormquant.RmsNormQuantTornado;
import dev.mmfree.kernels.swiglu.SwiGluTornado;
import dev.mmfree.kernels.ternary.TernaryMatrix;
import dev.mmfree.kernels.tornado.HostCopies;
import dev.mmfree.kernels.tornado.Plans;
import uk.ac.manchester.tornado.api.GridScheduler;
import uk.ac.manchester.tornado.api.ImmutableTaskGraph;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.TornadoExecutionResult;
import uk.ac.manchester.tornado.api.enums.DataTransferMode;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.Int8Array;
import uk.ac.manchester.tornado.api.types.arrays.IntArray;
import uk.ac.manchester.tornado.api.types.arrays.TornadoNativeArray;

import java.util.List;

/**
 * HGRNBit's L blocks on TornadoVM: one TaskGraph per layer, weights sent on the first execution, each
 * layer's MLGRU states living on the device, the activations (x and the scratch, {@link Activations})
 * handed from layer to layer on the device ({@code persistOnDevice} / {@code consumeFromDevice}). The
 * task wiring ({@link #addLayerTasks}) serves any number of token rows; the model ({@code HgrnBitTornado})
 * builds on it. An instance of this class is the smallest use, one sequence and one token a call: only
 * layer 0 reads x from the host, and x is read back once, after the last layer.
 * Task flow of graph "layer{l}" ({@code ../shared/spec/hgrnbit.md}):
 * <pre>
 *   x ─ attn_norm ─ h ─┬─ i_quant ─ i_proj ─ i ────┐
 *                      ├─ f_quant ─ f_proj ─ fPre ─┼─ mlgru scan (states[l]) ─ o ─ o_quant ─ o_proj (+x) ─ x
 *                      └─ g_quant ─ g_proj ─ g ────┘
 *   x ─ mlp_norm ─ h ─ gate_quant ─ gate_proj ─ [gate | up] ─ swiglu_quant ─ down_proj (+x) ─ x
 * </pre>
 * Fusion points: every BitLinear's RMSNorm is fused with its int8 quantizer (the *_quant tasks), and
 * SwiGLU with down_proj's norm and quantizer. The three *_quant tasks of h share one int8 buffer, so
 * they run in turn with their projections. Tested by {@code HgrnBitBlocksTornadoTest}.
 * Test: {@code source tornado.env && ./mvnw -q -o -Ptornado -pl kernels/tornado -am verify -Dtest=HgrnBitBlocksTornadoTest}.
 */
public final class HgrnBitBlocksTornado implements AutoCloseable {
    public static final String GRAPH_PREFIX = "layer";
    public static final String ATTN_NORM = "attn_norm";
    public static final String I_QUANT = "i_quant";
    public static final String I_PROJ = "i_proj";
    public static final String F_QUANT = "f_quant";
    public static final String F_PROJ = "f_proj";
    public static final String G_QUANT = "g_quant";
    public static final String G_PROJ = "g_proj";
    public static final String MLGRU = "mlgru";
    public static final String O_QUANT = "o_quant";
    public static final String O_PROJ = "o_proj";
    public static final String MLP_NORM = "mlp_norm";
    public static final String GATE_QUANT = "gate_quant";
    public static final String GATE_PROJ = "gate_proj";
    public static final String SWIGLU_QUANT = "swiglu_quant";
    public static final String DOWN_PROJ = "down_proj";

    /**
     * One block's weights, named as the checkpoint's {@code model.layers.{l}.*} (and as the model's
     * {@code HgrnBitWeights.Layer}); {@code lowerBound} [d] is the layer's floor for f (zero for layer 0).
     */
    public record Layer(float[] attnNorm,
                        TernaryMatrix iProj, float[] iNorm, TernaryMatrix fProj, float[] fNorm,
                        TernaryMatrix gProj, float[] gNorm, float[] outGateNorm, TernaryMatrix oProj, float[] oNorm,
                        float[] mlpNorm, TernaryMatrix gateProj, float[] gateNorm, TernaryMatrix downProj, float[] downNorm,
                        float[] lowerBound) {
    }

    /**
     * The activations every layer graph shares, sized for up to maxRows token rows and maxSeqs sequences
     * per execution: one set on the device, handed from graph to graph ({@link #handOn}).
     */
    public record Activations(FloatArray x,        // [maxRows, d] the residual stream
                              IntArray seqMap,     // MlgruScanTornado's map: t, slot and reset flag per sequence
                              FloatArray h,        // [maxRows, d] a block norm's output
                              Int8Array q,         // [maxRows, max(d, I)] int8, a BitLinear's input
                              FloatArray qScale,   // [maxRows] its a / 127
                              FloatArray i,        // [maxRows, d]
                              FloatArray fPre,     // [maxRows, d]
                              FloatArray g,        // [maxRows, d]
                              FloatArray o,        // [maxRows, d] gated MLGRU output
                              FloatArray gateUp) { // [maxRows, 2I] gate | up
        public static Activations allocate(int maxRows, int maxSeqs, int d, int n) {
            return new Activations(new FloatArray(maxRows * d), new IntArray(MlgruScanTornado.mapLength(maxSeqs)),
                    new FloatArray(maxRows * d), new Int8Array(maxRows * Math.max(d, n)), new FloatArray(maxRows),
                    new FloatArray(maxRows * d), new FloatArray(maxRows * d), new FloatArray(maxRows * d),
                    new FloatArray(maxRows * d), new FloatArray(maxRows * 2 * n));
        }

        /** The scratch arrays: all but x and seqMap. */
        public TornadoNativeArray[] scratch() {
            return new TornadoNativeArray[] {h, q, qScale, i, fPre, g, o, gateUp};
        }

        public TornadoNativeArray[] all() {
            return new TornadoNativeArray[] {x, seqMap, h, q, qScale, i, fPre, g, o, gateUp};
        }
    }

    /** One layer's weights as device arrays (codes as {@link BitLinearTornado.Weights}, float vectors as FloatArray). */
    public record DeviceLayer(FloatArray attnNorm, BitLinearTornado.Weights iProj, FloatArray iNorm,
                              BitLinearTornado.Weights fProj, FloatArray fNorm, BitLinearTornado.Weights gProj, FloatArray gNorm,
                              FloatArray outGateNorm, BitLinearTornado.Weights oProj, FloatArray oNorm, FloatArray mlpNorm,
                              BitLinearTornado.Weights gateProj, FloatArray gateNorm, BitLinearTornado.Weights downProj,
                              FloatArray downNorm, FloatArray lowerBound) {
        public static DeviceLayer of(Layer w) {
            return new DeviceLayer(FloatArray.fromArray(w.attnNorm()),
                    BitLinearTornado.Weights.of(w.iProj()), FloatArray.fromArray(w.iNorm()),
                    BitLinearTornado.Weights.of(w.fProj()), FloatArray.fromArray(w.fNorm()),
                    BitLinearTornado.Weights.of(w.gProj()), FloatArray.fromArray(w.gNorm()),
                    FloatArray.fromArray(w.outGateNorm()), BitLinearTornado.Weights.of(w.oProj()), FloatArray.fromArray(w.oNorm()),
                    FloatArray.fromArray(w.mlpNorm()), BitLinearTornado.Weights.of(w.gateProj()), FloatArray.fromArray(w.gateNorm()),
                    BitLinearTornado.Weights.of(w.downProj()), FloatArray.fromArray(w.downNorm()), FloatArray.fromArray(w.lowerBound()));
        }

        public TornadoNativeArray[] arrays() {
            return new TornadoNativeArray[] {attnNorm, iProj.codes(), iNorm, fProj.codes(), fNorm, gProj.codes(), gNorm,
                    outGateNorm, oProj.codes(), oNorm, mlpNorm, gateProj.codes(), gateNorm, downProj.codes(), downNorm, lowerBound};
        }
    }

    /**
     * Adds one block's tasks to graph (no transfers: the caller declares them): rows of a are the token
     * rows, states [slots, d] the layer's state pool, indexed through a.seqMap. Grids start at maxRows
     * rows and maxSeqs sequences; {@link #rowTasks} and {@link #MLGRU} name them for resizing.
     */
    public static void addLayerTasks(TaskGraph graph, GridScheduler grids, DeviceLayer w, Activations a, FloatArray states,
                                     int maxRows, int maxSeqs, int d, int n, double eps) {
        double bitEps = RmsNormQuantReference.EPS;
        RmsNormQuantTornado.addNormTask(graph, grids, ATTN_NORM, a.x(), w.attnNorm(), a.h(), maxRows, d, eps);
        RmsNormQuantTornado.addTask(graph, grids, I_QUANT, a.h(), w.iNorm(), a.q(), a.qScale(), maxRows, d, bitEps);
        BitLinearTornado.addTask(graph, grids, I_PROJ, w.iProj(), a.q(), a.qScale(), a.i(), maxRows, false);
        RmsNormQuantTornado.addTask(graph, grids, F_QUANT, a.h(), w.fNorm(), a.q(), a.qScale(), maxRows, d, bitEps);
        BitLinearTornado.addTask(graph, grids, F_PROJ, w.fProj(), a.q(), a.qScale(), a.fPre(), maxRows, false);
        RmsNormQuantTornado.addTask(graph, grids, G_QUANT, a.h(), w.gNorm(), a.q(), a.qScale(), maxRows, d, bitEps);
        BitLinearTornado.addTask(graph, grids, G_PROJ, w.gProj(), a.q(), a.qScale(), a.g(), maxRows, false);
        MlgruScanTornado.addTask(graph, grids, MLGRU, a.i(), a.fPre(), a.g(), w.lowerBound(), w.outGateNorm(), states, a.o(),
                a.seqMap(), maxSeqs, d, eps);
        RmsNormQuantTornado.addTask(graph, grids, O_QUANT, a.o(), w.oNorm(), a.q(), a.qScale(), maxRows, d, bitEps);
        BitLinearTornado.addTask(graph, grids, O_PROJ, w.oProj(), a.q(), a.qScale(), a.x(), maxRows, true);
        RmsNormQuantTornado.addNormTask(graph, grids, MLP_NORM, a.x(), w.mlpNorm(), a.h(), maxRows, d, eps);
        RmsNormQuantTornado.addTask(graph, grids, GATE_QUANT, a.h(), w.gateNorm(), a.q(), a.qScale(), maxRows, d, bitEps);
        BitLinearTornado.addTask(graph, grids, GATE_PROJ, w.gateProj(), a.q(), a.qScale(), a.gateUp(), maxRows, false);
        SwiGluTornado.addTask(graph, grids, SWIGLU_QUANT, a.gateUp(), w.downNorm(), a.q(), a.qScale(), maxRows, n, bitEps);
        BitLinearTornado.addTask(graph, grids, DOWN_PROJ, w.downProj(), a.q(), a.qScale(), a.x(), maxRows, true);
    }

    /** The tasks of a layer whose work-groups scale with the token rows (every one but {@link #MLGRU}, which scales with sequences). */
    public static List<String> rowTasks() {
        return List.of(ATTN_NORM, I_QUANT, I_PROJ, F_QUANT, F_PROJ, G_QUANT, G_PROJ, O_QUANT, O_PROJ, MLP_NORM, GATE_QUANT,
                GATE_PROJ, SWIGLU_QUANT, DOWN_PROJ);
    }

    /**
     * Declares that a graph takes the activations from the graph run before it, on the device. Only
     * the first graph persists them ({@code Plans.close} says why); TornadoVM hands a consumed buffer
     * from the graph executed last to the next, so the chain needs no persist in between.
     */
    public static void handOn(TaskGraph graph, String previousGraph, Activations a) {
        graph.consumeFromDevice(previousGraph, (Object[]) a.all());
    }

    private final FloatArray x;                   // [d] the hidden row, host <-> device at the ends only
    private final int layerCount;
    private final TornadoExecutionPlan plan;

    /** Builds one graph per layer for one sequence, one token a call; eps is the block norms' and g_norm's (config rms_norm_eps). */
    public HgrnBitBlocksTornado(List<Layer> layers, int d, int intermediate, double eps) {
        if (layers.isEmpty()) {
            throw new IllegalArgumentException("hgrn blocks: no layers");
        }
        this.layerCount = layers.size();
        Activations a = Activations.allocate(1, 1, d, intermediate);
        MlgruScanTornado.setMap(a.seqMap(), 1, 1, new int[] {0}, new boolean[] {false});
        this.x = a.x();
        GridScheduler grids = new GridScheduler();
        ImmutableTaskGraph[] graphs = new ImmutableTaskGraph[layerCount];
        for (int l = 0; l < layerCount; l++) {
            checkShapes(l, layers.get(l), d, intermediate);
            DeviceLayer w = DeviceLayer.of(layers.get(l));
            FloatArray state = new FloatArray(d);      // [1, d] the layer's state, zero at first, then on the device
            TaskGraph graph = new TaskGraph(GRAPH_PREFIX + l);
            if (l == 0) {
                graph.transferToDevice(DataTransferMode.EVERY_EXECUTION, x)
                        .transferToDevice(DataTransferMode.FIRST_EXECUTION, a.seqMap())
                        .transferToDevice(DataTransferMode.FIRST_EXECUTION, (Object[]) a.scratch());
            } else {
                handOn(graph, GRAPH_PREFIX + (l - 1), a);
            }
            graph.transferToDevice(DataTransferMode.FIRST_EXECUTION, (Object[]) w.arrays())
                    .transferToDevice(DataTransferMode.FIRST_EXECUTION, state);
            addLayerTasks(graph, grids, w, a, state, 1, 1, d, intermediate, eps);
            if (l == 0) {
                graph.persistOnDevice((Object[]) a.all());   // layer 0 owns the activations; the others consume them
            }
            graphs[l] = graph.snapshot();
        }
        this.plan = Plans.plan(grids, graphs);
    }

    /** Checks a layer's shapes against d and I (n), naming the layer and tensor. */
    public static void checkShapes(int l, Layer w, int d, int n) {
        String p = "hgrn blocks: layer " + l + " ";
        for (TernaryMatrix m : List.of(w.iProj(), w.fProj(), w.gProj(), w.oProj())) {
            check(p + "attn projection out", m.out(), d);
            check(p + "attn projection in", m.in(), d);
        }
        check(p + "gate_proj out", w.gateProj().out(), 2L * n);
        check(p + "gate_proj in", w.gateProj().in(), d);
        check(p + "down_proj out", w.downProj().out(), d);
        check(p + "down_proj in", w.downProj().in(), n);
        for (float[] v : List.of(w.attnNorm(), w.iNorm(), w.fNorm(), w.gNorm(), w.outGateNorm(), w.oNorm(), w.mlpNorm(),
                w.gateNorm(), w.lowerBound())) {
            check(p + "norm/lower-bound length", v.length, d);
        }
        check(p + "down_proj.norm length", w.downNorm().length, n);
    }

    private static void check(String what, long actual, long expected) {
        if (actual != expected) {
            throw new IllegalArgumentException(what + " " + actual + " != " + expected);
        }
    }

    /** Runs one token through every block: xInOut [d] is the embedding row in, the last block's output out. */
    public void step(float[] xInOut) {
        HostCopies.copy("hgrn blocks: x", xInOut, x);
        TornadoExecutionResult last = null;
        for (int l = 0; l < layerCount; l++) {
            last = plan.withGraph(l).execute();
        }
        last.transferToHost(x);   // read through the last graph, which holds x by consumeFromDevice
        HostCopies.copy("hgrn blocks: x", x, xInOut);
    }

    @Override
    public void close() {
        Plans.close("hgrn blocks", plan);
    }
}
