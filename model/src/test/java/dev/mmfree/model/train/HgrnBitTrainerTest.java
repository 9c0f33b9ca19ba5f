package dev.mmfree.model.train;

import dev.mmfree.model.CausalLm;
import dev.mmfree.model.MemoryTensorSource;
import dev.mmfree.model.ModelLoader;
import dev.mmfree.model.config.HgrnBitConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Map;
import java.util.Random;

import static dev.mmfree.model.train.GradCheck.assertClose;
import static dev.mmfree.model.train.GradCheck.numeric;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The whole model: gradients against finite differences, VANILLA vs FUSED, the STE, and logits against the reference. */
class HgrnBitTrainerTest {
    /** d 8, L 2, I 6, vocab 11. */
    private static final HgrnBitConfig TINY = new HgrnBitConfig(11, 8, 2, 6, 1e-6, true, false, 1, 2);

    private static HgrnBitTrainer trainer(HgrnBitConfig c, long seed, boolean quantize, BitLinearOp.Variant variant) {
        MemoryTensorSource src = MemoryTensorSource.hgrn(c, seed);
        return new HgrnBitTrainer(c, HgrnBitTrainer.paramsFrom(src, c), quantize, variant);
    }

    private static int[][] tokens(int b, int t, int vocab, long seed) {
        Random rnd = new Random(seed);
        int[][] tok = new int[b][t];
        for (int[] row : tok) {
            for (int p = 0; p < t; p++) {
                row[p] = rnd.nextInt(vocab);
            }
        }
        return tok;
    }

    /** Quantization off: every parameter's gradient against central differences (rel L2 < 1e-6). */
    @ParameterizedTest
    @CsvSource({"2, 5, 201, VANILLA, false", "2, 5, 202, FUSED, false", "1, 2, 203, VANILLA, true", "3, 4, 204, FUSED, true"})
    void gradientsMatchFiniteDifferences(int b, int t, long seed, BitLinearOp.Variant variant, boolean tied) {
        HgrnBitConfig c = new HgrnBitConfig(11, 8, 2, 6, 1e-6, true, tied, 1, 2);
        HgrnBitTrainer m = trainer(c, seed, false, variant);
        int[][] tok = tokens(b, t, c.vocab(), seed + 1000);
        m.zeroGrad();
        double loss = m.lossAndBackward(tok);
        assertTrue(Double.isFinite(loss) && loss > 0, "loss " + loss);
        assertEquals(loss, m.loss(tok), 0, "loss without backward");
        for (Param p : m.params().values()) {
            double[] analytic = p.grad().clone();
            assertClose(p.name(), analytic, numeric(() -> m.loss(tok), p.value()));
        }
    }

    @ParameterizedTest
    @CsvSource({"false, 211", "true, 212"})
    void vanillaAndFusedGiveIdenticalGradients(boolean quantize, long seed) {
        HgrnBitTrainer vanilla = trainer(TINY, seed, quantize, BitLinearOp.Variant.VANILLA);
        HgrnBitTrainer fused = trainer(TINY, seed, quantize, BitLinearOp.Variant.FUSED);
        int[][] tok = tokens(2, 5, TINY.vocab(), seed + 1);
        assertEquals(vanilla.lossAndBackward(tok), fused.lossAndBackward(tok), 0, "loss");
        for (Map.Entry<String, Param> e : vanilla.params().entrySet()) {
            assertArrayEquals(e.getValue().grad(), fused.params().get(e.getKey()).grad(), e.getKey());
        }
    }

    /** Quantization on: the loss changes, and every latent parameter receives a nonzero, finite gradient. */
    @Test
    void quantizedGradientsReachEveryLatentParameter() {
        HgrnBitTrainer on = trainer(TINY, 221, true, BitLinearOp.Variant.FUSED);
        HgrnBitTrainer off = trainer(TINY, 221, false, BitLinearOp.Variant.FUSED);
        int[][] tok = tokens(2, 5, TINY.vocab(), 222);
        double lossOn = on.lossAndBackward(tok);
        assertTrue(Math.abs(lossOn - off.loss(tok)) > 1e-9, "quantization must change the loss");
        for (Param p : on.params().values()) {
            double norm = 0;
            for (double g : p.grad()) {
                assertTrue(Double.isFinite(g), p.name() + " has a non-finite gradient");
                norm += g * g;
            }
            assertTrue(norm > 0, p.name() + " gets no gradient");
        }
    }

    /** The fake-quant forward reproduces HgrnBitReference's logits (rel L2 < 2e-3) on random tiny models. */
    @ParameterizedTest
    @CsvSource({"37, 21, 2, 19, 2, 6, 231, false", "11, 8, 3, 6, 1, 1, 232, false", "29, 16, 2, 12, 3, 4, 233, true"})
    void quantizedLogitsMatchReference(int v, int d, int layers, int inter, int b, int t, long seed, boolean tied) {
        HgrnBitConfig c = new HgrnBitConfig(v, d, layers, inter, 1e-6, true, tied, 1, 2);
        MemoryTensorSource src = MemoryTensorSource.hgrn(c, seed);
        int[][] tok = tokens(b, t, v, seed + 1);
        float[][][] expected;
        try (CausalLm ref = ModelLoader.load(src, "reference"); CausalLm.Batch batch = ref.newBatch(b)) {
            expected = ref.forward(batch, tok, true);
        }
        HgrnBitTrainer m = new HgrnBitTrainer(c, HgrnBitTrainer.paramsFrom(src, c), true, BitLinearOp.Variant.FUSED);
        double[] actual = m.logits(tok);
        double[] want = new double[actual.length];
        for (int s = 0; s < b; s++) {
            for (int p = 0; p < t; p++) {
                for (int k = 0; k < v; k++) {
                    want[(s * t + p) * v + k] = expected[s][p][k];
                }
            }
        }
        assertClose("logits vs HgrnBitReference", actual, want, 2e-3);
    }
}
