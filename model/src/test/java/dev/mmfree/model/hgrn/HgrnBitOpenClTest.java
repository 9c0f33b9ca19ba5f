package dev.mmfree.model.hgrn;

import dev.mmfree.kernels.sampling.SamplerReference;
import dev.mmfree.kernels.sampling.SamplingParams;
import dev.mmfree.model.CausalLm;
import dev.mmfree.model.DecodeStream;
import dev.mmfree.model.MemoryTensorSource;
import dev.mmfree.model.OpenClBackend;
import dev.mmfree.model.config.HgrnBitConfig;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.MemoryCategory;
import dev.mmfree.runtime.MmfreeException;
import dev.mmfree.runtime.opencl.OpenCl;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Random;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * HgrnBitOpenCl against {@link HgrnBitReference} on random models of odd shapes (d, I, V not multiples
 * of the work-group or the 64-column chunk), through both paths: the fused batch-1 decode and the
 * GEMM path (prefill, batched decode, chunked long prompts). The kernels take the reference's float
 * steps with norm sums in double, so on an fp64 device the logits must equal the reference's bit for
 * bit; without fp64 (float sums can move an activation across an int8 rounding boundary) by relative
 * L2 at most 2e-3 per position, the fixtures' bound. Greedy ids on the device must equal the argmax of
 * the same path's logits.
 */
class HgrnBitOpenClTest {
    private static final HgrnBitConfig ODD = new HgrnBitConfig(300, 100, 3, 70, 1e-5, true, false, 1, 2);
    private static double tolerance;

    @BeforeAll
    static void selectDevice() {
        OpenClTesting.selectDefaultDeviceOrSkip();
        try (var d = OpenCl.open(null, false)) {
            tolerance = d.info().fp64() ? 0 : 2e-3;
        }
    }

    private static HgrnBitWeights weights(HgrnBitConfig c, long seed) {
        return HgrnBitWeights.load(MemoryTensorSource.hgrn(c, seed));
    }

    private static int[][] randomTokens(Random r, int b, int t, int vocab) {
        int[][] ids = new int[b][t];
        for (int[] row : ids) {
            for (int p = 0; p < t; p++) {
                row[p] = r.nextInt(vocab);
            }
        }
        return ids;
    }

    @Test
    void fusedDecodeAndGemmPathsMatchReference() {
        HgrnBitWeights w = weights(ODD, 5);
        Random r = new Random(6);
        int[][] tokens = randomTokens(r, 3, 6, ODD.vocab());
        try (CausalLm ref = new HgrnBitReference(w);
             HgrnBitOpenCl fused = new HgrnBitOpenCl(w, OpenCl.open(null, false), true);
             HgrnBitOpenCl gemm = new HgrnBitOpenCl(w, OpenCl.open(null, false), false)) {
            // batch of 3: prefill 4 tokens, then decode 2 steps (GEMM path, b > 1)
            try (CausalLm.Batch rb = ref.newBatch(3); CausalLm.Batch ob = fused.newBatch(3)) {
                check("b3 prefill", ref.forward(rb, cols(tokens, 0, 4), true), fused.forward(ob, cols(tokens, 0, 4), true));
                for (int p = 4; p < 6; p++) {
                    check("b3 decode " + p, ref.forward(rb, cols(tokens, p, p + 1), true), fused.forward(ob, cols(tokens, p, p + 1), true));
                }
                assertEquals(6, ob.position());
            }
            // each sequence alone, token by token: the fused path, and the GEMM path at b = 1
            for (int q = 0; q < 3; q++) {
                int[][] one = {tokens[q]};
                try (CausalLm.Batch rb = ref.newBatch(1); CausalLm.Batch fb = fused.newBatch(1); CausalLm.Batch gb = gemm.newBatch(1)) {
                    for (int p = 0; p < 6; p++) {
                        float[][][] expected = ref.forward(rb, cols(one, p, p + 1), true);
                        check("fused seq " + q + " pos " + p, expected, fused.forward(fb, cols(one, p, p + 1), true));
                        check("gemm b1 seq " + q + " pos " + p, expected, gemm.forward(gb, cols(one, p, p + 1), false));
                    }
                }
            }
        }
    }

    /**
     * All layers in one launch (the default on a GPU), and one launch a layer, on 2 work-groups, which this test's
     * device must run at once (PoCL does; a GPU always): token by token, logits and greedy ids, against the reference
     * and against four launches a layer.
     */
    @Test
    void oneLaunchForAllLayersAndOneALayerMatchReference() {
        HgrnBitWeights w = weights(ODD, 9);
        Random r = new Random(10);
        int[][] one = randomTokens(r, 1, 5, ODD.vocab());
        for (boolean all : new boolean[]{true, false}) {
            String what = all ? "one launch for all layers" : "one launch a layer";
            try (CausalLm ref = new HgrnBitReference(w);
                 HgrnBitOpenCl m = new HgrnBitOpenCl(w, OpenCl.open(null, false), true, 2, 0, all);
                 CausalLm.Batch rb = ref.newBatch(1); CausalLm.Batch mb = m.newBatch(1)) {
                for (int p = 0; p < one[0].length; p++) {
                    check(what + ", pos " + p, ref.forward(rb, cols(one, p, p + 1), true), m.forward(mb, cols(one, p, p + 1), true));
                }
            }
            try (HgrnBitOpenCl m = new HgrnBitOpenCl(w, OpenCl.open(null, false), true, 2, 0, all);
                 HgrnBitOpenCl four = new HgrnBitOpenCl(w, OpenCl.open(null, false), true, 0);
                 CausalLm.Batch mb = m.newBatch(1); CausalLm.Batch fb = four.newBatch(1)) {
                int[][] prompt = {{one[0][0]}};
                assertArrayEquals(four.forwardGreedy(fb, prompt), m.forwardGreedy(mb, prompt), what + ": greedy ids after the prompt");
                for (int step = 0; step < 4; step++) {
                    assertArrayEquals(four.continueGreedy(fb), m.continueGreedy(mb), what + ": greedy ids against four launches a layer, step " + step);
                }
            }
        }
    }

    /**
     * A batched decode step with each layer in one launch ({@code DecodeBatchLayerOpenCl}) on 2 work-groups, which
     * this test's device must run at once: a batch of 4 (prefill, then decode steps) against the reference, and its
     * greedy ids against the GEMM path's eight launches a layer.
     */
    @Test
    void batchedDecodeInOneLaunchALayerMatchesReference() {
        HgrnBitWeights w = weights(ODD, 21);
        int[][] tokens = randomTokens(new Random(22), 4, 6, ODD.vocab());
        try (CausalLm ref = new HgrnBitReference(w);
             HgrnBitOpenCl m = new HgrnBitOpenCl(w, OpenCl.open(null, false), true, 0, 0, false, 2);
             CausalLm.Batch rb = ref.newBatch(4); CausalLm.Batch mb = m.newBatch(4)) {
            check("b4 prefill", ref.forward(rb, cols(tokens, 0, 3), true), m.forward(mb, cols(tokens, 0, 3), true));
            for (int p = 3; p < 6; p++) {
                check("b4 decode, one launch a layer, pos " + p, ref.forward(rb, cols(tokens, p, p + 1), true),
                        m.forward(mb, cols(tokens, p, p + 1), true));
            }
        }
        try (HgrnBitOpenCl m = new HgrnBitOpenCl(w, OpenCl.open(null, false), true, 0, 0, false, 2);
             HgrnBitOpenCl eight = new HgrnBitOpenCl(w, OpenCl.open(null, false), true, 0, 0, false, 0);
             CausalLm.Batch mb = m.newBatch(4); CausalLm.Batch eb = eight.newBatch(4)) {
            int[][] prompt = cols(tokens, 0, 2);
            assertArrayEquals(eight.forwardGreedy(eb, prompt), m.forwardGreedy(mb, prompt), "greedy ids after the prompt");
            for (int step = 0; step < 4; step++) {
                assertArrayEquals(eight.continueGreedy(eb), m.continueGreedy(mb), "greedy ids against eight launches a layer, step " + step);
            }
        }
    }

    /**
     * Weights uploaded blocked by 64 rows ({@code MMFREE_OPENCL_WEIGHT_BLOCK=64}): a batch of 2 through the GEMM,
     * then one sequence through the one-launch layer, against the reference.
     */
    @Test
    void blockedWeightsMatchReference() {
        HgrnBitWeights w = weights(ODD, 16);
        Random r = new Random(17);
        int[][] tokens = randomTokens(r, 2, 5, ODD.vocab());
        try (CausalLm ref = new HgrnBitReference(w);
             HgrnBitOpenCl m = new HgrnBitOpenCl(w, OpenCl.open(null, false), true, 2, 64)) {
            try (CausalLm.Batch rb = ref.newBatch(2); CausalLm.Batch mb = m.newBatch(2)) {
                check("blocked b2 prefill", ref.forward(rb, cols(tokens, 0, 3), true), m.forward(mb, cols(tokens, 0, 3), true));
                check("blocked b2 decode", ref.forward(rb, cols(tokens, 3, 4), true), m.forward(mb, cols(tokens, 3, 4), true));
            }
            int[][] one = {tokens[0]};
            try (CausalLm.Batch rb = ref.newBatch(1); CausalLm.Batch mb = m.newBatch(1)) {
                for (int p = 0; p < one[0].length; p++) {
                    check("blocked one launch a layer, pos " + p, ref.forward(rb, cols(one, p, p + 1), true), m.forward(mb, cols(one, p, p + 1), true));
                }
            }
        }
    }

    @Test
    void longPromptsRunInChunksAndLastPositionOnly() {
        HgrnBitWeights w = weights(ODD, 7);
        Random r = new Random(8);
        int t = HgrnBitOpenCl.MAX_ROWS / 2 + 3;
        int[][] tokens = randomTokens(r, 2, t, ODD.vocab());
        try (CausalLm ref = new HgrnBitReference(w); HgrnBitOpenCl m = new HgrnBitOpenCl(w, OpenCl.open(null, false), true);
             CausalLm.Batch rb = ref.newBatch(2); CausalLm.Batch ob = m.newBatch(2)) {
            check("chunked prompt, last position", ref.forward(rb, tokens, false), m.forward(ob, tokens, false));
        }
    }

    @Test
    void greedyIdsOnTheDeviceMatchArgmaxOfLogits() {
        HgrnBitWeights w = weights(ODD, 9);
        Random r = new Random(10);
        int[][] prompt = randomTokens(r, 1, 3, ODD.vocab());
        try (HgrnBitOpenCl m = new HgrnBitOpenCl(w, OpenCl.open(null, false), true);
             CausalLm.Batch logitsBatch = m.newBatch(1); CausalLm.Batch greedyBatch = m.newBatch(1)) {
            int next = argmax(m.forward(logitsBatch, prompt, false)[0][0]);
            int[] ids = m.forwardGreedy(greedyBatch, prompt);
            assertArrayEquals(new int[]{next}, ids, "greedy after the prompt");
            for (int step = 0; step < 4; step++) {
                next = argmax(m.forward(logitsBatch, new int[][]{{next}}, false)[0][0]);
                ids = m.continueGreedy(greedyBatch);
                assertArrayEquals(new int[]{next}, ids, "greedy step " + step);
            }
            assertEquals(logitsBatch.position(), greedyBatch.position());
        }
    }

    @Test
    void sampledIdsOnTheDeviceFollowTheReferenceSampler() {
        HgrnBitWeights w = weights(ODD, 12);
        SplittableRandom r = new SplittableRandom(13);
        int[][] prompt = randomTokens(new Random(14), 2, 3, ODD.vocab());
        SamplingParams params = new SamplingParams(0.9, 50, 0.9, 1);
        SamplerReference ref = new SamplerReference();
        try (HgrnBitOpenCl m = new HgrnBitOpenCl(w, OpenCl.open(null, false), true);
             CausalLm.Batch logitsBatch = m.newBatch(2); CausalLm.Batch sampleBatch = m.newBatch(2)) {
            float[][][] logits = m.forward(logitsBatch, prompt, false);
            double[] u = {r.nextDouble(), r.nextDouble()};
            int[] ids = m.forwardSample(sampleBatch, prompt, params, u);
            for (int step = 0; step < 3; step++) {
                int[][] next = new int[2][1];
                for (int b = 0; b < 2; b++) {
                    assertEquals(ref.sample(logits[b][0], 0, ODD.vocab(), params, u[b]), ids[b], "step " + step + " sequence " + b);
                    next[b][0] = ids[b];
                }
                logits = m.forward(logitsBatch, next, false);
                u = new double[]{r.nextDouble(), r.nextDouble()};
                ids = m.continueSample(sampleBatch, params, u);
            }
        }
    }

    /**
     * A decode stream runs a step ahead: its ids must be those of continueSample step by step with the
     * same uniforms, and closing it must undo the queued step, so that the batch continues (logits and
     * position) exactly as the step-by-step batch does. Batch 1 takes the fused decode (four launches a layer,
     * and one on 2 work-groups, whose grid-barrier flag comes back with each step's ids), batch 3 the GEMM path
     * (eight launches a layer, and one on 2 work-groups, its flag likewise).
     */
    @Test
    void decodeStreamMatchesStepByStepAndUndoesItsQueuedStep() {
        HgrnBitWeights w = weights(ODD, 15);
        for (int layerGroups : new int[]{0, 2}) {
            decodeStreamCase(w, layerGroups, 0);
        }
        decodeStreamCase(w, 0, 2);
    }

    private void decodeStreamCase(HgrnBitWeights w, int layerGroups, int batchGroups) {
        try (HgrnBitOpenCl m = new HgrnBitOpenCl(w, OpenCl.open(null, false), true, layerGroups, 0, true, batchGroups)) {
            for (int b : layerGroups > 0 ? new int[]{1} : batchGroups > 0 ? new int[]{3} : new int[]{1, 3}) {
                for (SamplingParams params : new SamplingParams[]{SamplingParams.greedy(), new SamplingParams(1.1, 0, 0.95, 3)}) {
                    String what = "batch " + b + ", layer groups " + layerGroups + ", batch groups " + batchGroups + ", " + params;
                    int[][] prompt = randomTokens(new Random(16 + b), b, 4, ODD.vocab());
                    int steps = 5;
                    double[][] u = new double[steps + 2][b];
                    SplittableRandom draws = new SplittableRandom(17);
                    for (double[] step : u) {
                        for (int q = 0; q < b; q++) {
                            step[q] = draws.nextDouble();
                        }
                    }
                    try (CausalLm.Batch stepwise = m.newBatch(b); CausalLm.Batch streamed = m.newBatch(b)) {
                        int[] ids = m.forwardSample(stepwise, prompt, params, u[0]);
                        int[] first = m.forwardSample(streamed, prompt, params, u[0]);
                        assertArrayEquals(ids, first, what + ": after the prompt");
                        m.decodeStream(streamed, first, params, new SplittableRandom(0)).close();   // no step, nothing to undo
                        // the stream draws its own uniforms: the same sequence, from u[1] on
                        SplittableRandom again = new SplittableRandom(17);
                        for (int q = 0; q < b; q++) {
                            again.nextDouble();
                        }
                        try (DecodeStream stream = m.decodeStream(streamed, first, params, again)) {
                            assertThrows(MmfreeException.class, () -> m.forward(streamed, prompt, false), what + ": a busy batch");
                            for (int step = 1; step <= steps; step++) {
                                ids = m.continueSample(stepwise, params, u[step]);
                                assertArrayEquals(ids, stream.next(), what + ": step " + step);
                            }
                        }
                        assertEquals(stepwise.position(), streamed.position(), what + ": position after close");
                        check(what + ": logits after close", m.forward(stepwise, CausalLm.column(ids), false),
                                m.forward(streamed, CausalLm.column(ids), false));
                        assertEquals(stepwise.position(), streamed.position(), what + ": position after a forward");
                    }
                }
            }
        }
    }

    @Test
    void closingReturnsTheLedgerToZero() {
        HgrnBitWeights w = weights(ODD, 11);
        HgrnBitOpenCl m = (HgrnBitOpenCl) new OpenClBackend().hgrnBit(w);
        assertTrue(m.memory().bytes(MemoryCategory.WEIGHTS) > 0);
        CausalLm.Batch b = m.newBatch(2);
        long align;
        try (Device d = OpenCl.open(null, false)) {
            align = d.info().baseAlignBytes();
        }
        long layerBytes = (4L * 2 * ODD.hidden() + align - 1) / align * align;   // each layer's [2][d] state starts aligned
        assertEquals(2L * ODD.layers() * layerBytes, m.memory().bytes(MemoryCategory.STATE), "two parities of all layers' states");
        m.forward(b, new int[][]{{1, 2}, {3, 4}}, true);
        b.close();
        assertEquals(0, m.memory().bytes(MemoryCategory.STATE));
        CausalLm.Batch streamed = m.newBatch(1);
        DecodeStream stream = m.decodeStream(streamed, m.forwardGreedy(streamed, new int[][]{{5, 6}}),
                SamplingParams.greedy(), new SplittableRandom(1));
        stream.next();
        stream.next();   // a step is queued ahead when the model closes
        m.close();
        assertEquals(0, m.memory().totalBytes());
        assertThrows(MmfreeException.class, stream::next, "a stream of a closed model");
        stream.close();
    }

    private static int argmax(float[] v) {
        int best = 0;
        for (int j = 1; j < v.length; j++) {
            if (v[j] > v[best]) {
                best = j;
            }
        }
        return best;
    }

    private static int[][] cols(int[][] ids, int from, int to) {
        int[][] out = new int[ids.length][];
        for (int b = 0; b < ids.length; b++) {
            out[b] = java.util.Arrays.copyOfRange(ids[b], from, to);
        }
        return out;
    }

    private static void check(String what, float[][][] ref, float[][][] got) {
        assertEquals(ref.length, got.length, what + ": batch");
        for (int b = 0; b < ref.length; b++) {
            assertEquals(ref[b].length, got[b].length, what + ": positions");
            for (int p = 0; p < ref[b].length; p++) {
                double diff = 0;
                double norm = 0;
                for (int j = 0; j < ref[b][p].length; j++) {
                    if (!Float.isFinite(got[b][p][j])) {
                        fail(what + ": non-finite logit at [" + b + ", " + p + ", " + j + "]");
                    }
                    double e = (double) got[b][p][j] - ref[b][p][j];
                    diff += e * e;
                    norm += (double) ref[b][p][j] * ref[b][p][j];
                }
                double rel = Math.sqrt(diff / norm);
                if (!(rel <= tolerance)) {
                    fail(String.format("%s [%d, %d]: rel L2 %.3e > %.1e; logit 0: got %s, reference %s",
                            what, b, p, rel, tolerance, got[b][p][0], ref[b][p][0]));
                }
            }
        }
    }
}
