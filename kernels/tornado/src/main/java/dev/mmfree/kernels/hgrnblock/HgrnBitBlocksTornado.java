package dev.mmfree.kernels.hgrnblock;

import dev.mmfree.kernels.bitlinear.BitLinearTornado;
import dev.mmfree.kernels.mlgru.MlgruTornado;
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
import uk.ac.manchester.tornado.api.enums.DataTransferMode;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.Int8Array;

import java.util.List;

/**
 * HGRNBit's L blocks for one decode token on TornadoVM: one TaskGraph per layer, weights sent on the
 * first execution, each layer's MLGRU state living on the device, the hidden row x handed from layer
 * to layer on the device ({@code persistOnDevice} / {@code consumeFromDevice}); only layer 0 reads x
 * from the host and only the last writes it back. Task flow of graph "layer{l}" ({@code ../shared/spec/hgrnbit.md}):
 * <pre>
 *   x ─ attn_norm ─ h ─┬─ i_quant ─ i_proj ─ i ────┐
 *                      ├─ f_quant ─ f_proj ─ fPre ─┼─ mlgru (state[l]) ─ o ─ o_quant ─ o_proj (+x) ─ x
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

    private final int d;
    private final FloatArray x;                   // [d] the hidden row, host <-> device at the ends only
    private final FloatArray[] states;            // [L][d] per-layer MLGRU state, device-resident
    private final TornadoExecutionPlan plan;

    /** Builds one graph per layer; eps is the block norms' and g_norm's (config rms_norm_eps). */
    public HgrnBitBlocksTornado(List<Layer> layers, int d, int intermediate, double eps) {
        if (layers.isEmpty()) {
            throw new IllegalArgumentException("hgrn blocks: no layers");
        }
        this.d = d;
        this.x = new FloatArray(d);
        this.states = new FloatArray[layers.size()];
        GridScheduler grids = new GridScheduler();
        ImmutableTaskGraph[] graphs = new ImmutableTaskGraph[layers.size()];
        for (int l = 0; l < layers.size(); l++) {
            states[l] = new FloatArray(d);
            graphs[l] = layerGraph(l, layers.size(), layers.get(l), intermediate, eps, grids);
        }
        this.plan = Plans.plan(grids, graphs);
    }

    private ImmutableTaskGraph layerGraph(int l, int count, Layer w, int n, double eps, GridScheduler grids) {
        checkShapes(l, w, n);
        double bitEps = RmsNormQuantReference.EPS;
        FloatArray h = new FloatArray(d);                  // [d] a block norm's output
        Int8Array q = new Int8Array(Math.max(d, n));       // [max(d, I)] int8, a BitLinear's input
        FloatArray qScale = new FloatArray(1);             // [1] its a / 127
        FloatArray i = new FloatArray(d);                  // [d]
        FloatArray fPre = new FloatArray(d);               // [d]
        FloatArray g = new FloatArray(d);                  // [d]
        FloatArray o = new FloatArray(d);                  // [d] gated MLGRU output
        FloatArray gateUp = new FloatArray(2 * n);         // [2I] gate | up
        BitLinearTornado.Weights iProj = BitLinearTornado.Weights.of(w.iProj());
        BitLinearTornado.Weights fProj = BitLinearTornado.Weights.of(w.fProj());
        BitLinearTornado.Weights gProj = BitLinearTornado.Weights.of(w.gProj());
        BitLinearTornado.Weights oProj = BitLinearTornado.Weights.of(w.oProj());
        BitLinearTornado.Weights gateProj = BitLinearTornado.Weights.of(w.gateProj());
        BitLinearTornado.Weights downProj = BitLinearTornado.Weights.of(w.downProj());
        FloatArray attnNorm = FloatArray.fromArray(w.attnNorm());
        FloatArray iNorm = FloatArray.fromArray(w.iNorm());
        FloatArray fNorm = FloatArray.fromArray(w.fNorm());
        FloatArray gNorm = FloatArray.fromArray(w.gNorm());
        FloatArray outGateNorm = FloatArray.fromArray(w.outGateNorm());
        FloatArray oNorm = FloatArray.fromArray(w.oNorm());
        FloatArray mlpNorm = FloatArray.fromArray(w.mlpNorm());
        FloatArray gateNorm = FloatArray.fromArray(w.gateNorm());
        FloatArray downNorm = FloatArray.fromArray(w.downNorm());
        FloatArray lb = FloatArray.fromArray(w.lowerBound());

        TaskGraph graph = new TaskGraph(GRAPH_PREFIX + l);
        if (l == 0) {
            graph.transferToDevice(DataTransferMode.EVERY_EXECUTION, x);
        } else {
            graph.consumeFromDevice(GRAPH_PREFIX + (l - 1), x);
        }
        graph.transferToDevice(DataTransferMode.FIRST_EXECUTION, iProj.codes(), fProj.codes(), gProj.codes(),
                oProj.codes(), gateProj.codes(), downProj.codes(), attnNorm, iNorm, fNorm, gNorm, outGateNorm, oNorm,
                mlpNorm, gateNorm, downNorm, lb, states[l]);
        // scratch: TornadoVM wants every array declared; sent once (zeros), then they stay on the device
        graph.transferToDevice(DataTransferMode.FIRST_EXECUTION, h, q, qScale, i, fPre, g, o, gateUp);
        RmsNormQuantTornado.addNormTask(graph, grids, ATTN_NORM, x, attnNorm, h, 1, d, eps);
        RmsNormQuantTornado.addTask(graph, grids, I_QUANT, h, iNorm, q, qScale, 1, d, bitEps);
        BitLinearTornado.addTask(graph, grids, I_PROJ, iProj, q, qScale, i, 1, false);
        RmsNormQuantTornado.addTask(graph, grids, F_QUANT, h, fNorm, q, qScale, 1, d, bitEps);
        BitLinearTornado.addTask(graph, grids, F_PROJ, fProj, q, qScale, fPre, 1, false);
        RmsNormQuantTornado.addTask(graph, grids, G_QUANT, h, gNorm, q, qScale, 1, d, bitEps);
        BitLinearTornado.addTask(graph, grids, G_PROJ, gProj, q, qScale, g, 1, false);
        MlgruTornado.addTask(graph, grids, MLGRU, i, fPre, g, lb, outGateNorm, states[l], o, 1, d, eps);
        RmsNormQuantTornado.addTask(graph, grids, O_QUANT, o, oNorm, q, qScale, 1, d, bitEps);
        BitLinearTornado.addTask(graph, grids, O_PROJ, oProj, q, qScale, x, 1, true);
        RmsNormQuantTornado.addNormTask(graph, grids, MLP_NORM, x, mlpNorm, h, 1, d, eps);
        RmsNormQuantTornado.addTask(graph, grids, GATE_QUANT, h, gateNorm, q, qScale, 1, d, bitEps);
        BitLinearTornado.addTask(graph, grids, GATE_PROJ, gateProj, q, qScale, gateUp, 1, false);
        SwiGluTornado.addTask(graph, grids, SWIGLU_QUANT, gateUp, downNorm, q, qScale, 1, n, bitEps);
        BitLinearTornado.addTask(graph, grids, DOWN_PROJ, downProj, q, qScale, x, 1, true);
        if (l < count - 1) {
            graph.persistOnDevice(x);
        } else {
            graph.transferToHost(DataTransferMode.EVERY_EXECUTION, x);
        }
        return graph.snapshot();
    }

    private void checkShapes(int l, Layer w, int n) {
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
        for (int l = 0; l < states.length; l++) {
            plan.withGraph(l).execute();
        }
        HostCopies.copy("hgrn blocks: x", x, xInOut);
    }

    /** Bytes TornadoVM holds on the device for this plan (weights, states, scratch). */
    public long deviceMemoryBytes() {
        return plan.getCurrentDeviceMemoryUsage();
    }

    @Override
    public void close() {
        Plans.close("hgrn blocks", plan);
    }
}
