package dev.mmfree.model.llama;

import dev.mmfree.kernels.gemv.Storage;
import dev.mmfree.kernels.sampling.SamplerReference;
import dev.mmfree.kernels.sampling.SamplingParams;
import dev.mmfree.model.CausalLm;
import dev.mmfree.model.DecodeStream;
import dev.mmfree.model.FixtureConformanceSuite;
import dev.mmfree.model.config.LlamaConfig;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.MemoryCategory;
import dev.mmfree.runtime.MmfreeException;
import dev.mmfree.runtime.opencl.OpenCl;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@link LlamaOpenCl} on random small models against {@link LlamaReference} where the fixture is too
 * short: prompts longer than a chunk of {@value LlamaOpenCl#MAX_ROWS} rows, KV caches growing past
 * {@value LlamaOpenCl#KV_BLOCK} positions (the device copy), attention split over the context, a tied
 * head, GQA ratios 1 and 2; and the STATE bytes following the context block by block. fp32 storage is
 * compared with the reference at relative L2 {@value #TOL_F32} (float32 vs double sums over a long
 * context); fp16 storage with the reference on fp16-rounded weights at {@value #TOL_F16} (the fp16 KV cache).
 */
class LlamaOpenClTest {
    private static final double TOL_F32 = 1e-4;
    private static final double TOL_F16 = 2e-3;
    private static Device device;

    @BeforeAll
    static void open() {
        assumeTrue(OpenCl.skipReason().isEmpty(), () -> "OpenCL unavailable: " + OpenCl.unavailableReason().orElse(""));
        device = OpenCl.open(null, false);
    }

    @AfterAll
    static void close() {
        if (device != null) {
            device.close();
            assertEquals(0, device.memory().totalBytes(), "device ledger after close");
        }
    }

    static LlamaWeights random(Random r, LlamaConfig c, Storage s) {
        int d = c.hidden();
        int hd = c.headDim();
        float[] embed = gaussian(r, c.vocab() * d, 1f, s);
        List<LlamaWeights.Layer> layers = new ArrayList<>();
        for (int l = 0; l < c.layers(); l++) {
            float sd = (float) (1 / Math.sqrt(d));
            float sq = (float) (1 / Math.sqrt(c.heads() * hd));
            float si = (float) (1 / Math.sqrt(c.intermediate()));
            layers.add(new LlamaWeights.Layer(norm(r, d), gaussian(r, c.heads() * hd * d, 2 * sd, s),
                    gaussian(r, c.kvHeads() * hd * d, 2 * sd, s), gaussian(r, c.kvHeads() * hd * d, sd, s),
                    gaussian(r, d * c.heads() * hd, sq, s), norm(r, d), gaussian(r, c.intermediate() * d, sd, s),
                    gaussian(r, c.intermediate() * d, sd, s), gaussian(r, d * c.intermediate(), si, s)));
        }
        float[] head = c.tieWordEmbeddings() ? embed : gaussian(r, c.vocab() * d, (float) (1 / Math.sqrt(d)), s);
        return new LlamaWeights(c, embed, layers, norm(r, d), head);
    }

    /** Gaussian values already representable in the storage type, so the reference sees the device's weights. */
    private static float[] gaussian(Random r, int n, float scale, Storage s) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = s.round((float) r.nextGaussian() * scale);
        }
        return a;
    }

    private static float[] norm(Random r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = 0.5f + r.nextFloat();
        }
        return a;
    }

    private static int[][] tokens(Random r, int b, int t, int vocab) {
        int[][] ids = new int[b][t];
        for (int[] row : ids) {
            for (int i = 0; i < t; i++) {
                row[i] = r.nextInt(vocab);
            }
        }
        return ids;
    }

    @ParameterizedTest
    @EnumSource(Storage.class)
    void longPromptAcrossChunksAndCacheBlocksThenDecodeMatchesReference(Storage s) {
        Random r = new Random(41);
        // H 4, KV 2 (GQA 2), hd 10, untied head
        LlamaConfig c = new LlamaConfig(53, 40, 72, 2, 4, 2, 10, 10000, 1e-6, false, 1, 2);
        LlamaWeights w = random(r, c, s);
        int b = 2;
        int prompt = 300;   // chunks of MAX_ROWS / b = 256 and 44 tokens; the cache grows 256 -> 512 between them
        int decode = 4;
        int[][] ids = tokens(r, b, prompt + decode, c.vocab());
        float[][][] expect;
        try (LlamaReference ref = new LlamaReference(w); CausalLm.Batch batch = ref.newBatch(b)) {
            expect = ref.forward(batch, ids, true);
        }
        try (LlamaOpenCl m = new LlamaOpenCl(device, w, s); CausalLm.Batch batch = m.newBatch(b)) {
            float[][][] out = new float[b][prompt + decode][];
            LlamaOpenClFixtureTest.place(m.forward(batch, LlamaOpenClFixtureTest.column(ids, 0, prompt), true), out, 0);
            for (int p = prompt; p < prompt + decode; p++) {
                LlamaOpenClFixtureTest.place(m.forward(batch, LlamaOpenClFixtureTest.column(ids, p, p + 1), true), out, p);
            }
            FixtureConformanceSuite.assertLogits(s + " long prompt + decode", "opencl", expect, out, s == Storage.F32 ? TOL_F32 : TOL_F16);
        }
    }

    /**
     * How batch-1 steps run: five launches a layer ({0, 0}), and one a layer on {work-groups, work-group}: the
     * GPU's compute units with the default work-group, or two small ones on a CPU device (which runs two at once).
     */
    static int[][] layerModes() {
        return layerModes(device);
    }

    static int[][] layerModes(Device device) {
        int[] one = device.info().gpu() ? new int[]{device.info().computeUnits(), 1024} : new int[]{2, 64};
        return new int[][]{{0, 0}, one};
    }

    private static LlamaOpenCl model(LlamaWeights w, Storage s, int[] mode) {
        LlamaOpenCl m = new LlamaOpenCl(device, w, s, mode[0], mode[1]);
        assertEquals(mode[0] > 0, m.oneLaunchLayers(), "one launch a layer");
        return m;
    }

    @ParameterizedTest
    @EnumSource(Storage.class)
    void batchOneDecodePastACacheBlockWithTiedHeadMatchesReference(Storage s) {
        Random r = new Random(42);
        // H = KV = 3 (GQA 1), hd 16, tied embeddings
        LlamaConfig c = new LlamaConfig(61, 48, 64, 2, 3, 3, 16, 500000, 1e-5, true, 1, 2);
        LlamaWeights w = random(r, c, s);
        int prompt = 250;
        int decode = 12;    // positions 250..261 cross the cache block at 256 one token at a time
        int[][] ids = tokens(r, 1, prompt + decode, c.vocab());
        float[][][] expect;
        try (LlamaReference ref = new LlamaReference(w); CausalLm.Batch batch = ref.newBatch(1)) {
            ref.forward(batch, LlamaOpenClFixtureTest.column(ids, 0, prompt), false);
            expect = new float[1][decode][];
            for (int p = prompt; p < prompt + decode; p++) {
                expect[0][p - prompt] = ref.forward(batch, LlamaOpenClFixtureTest.column(ids, p, p + 1), false)[0][0];
            }
        }
        for (int[] mode : layerModes()) {
            try (LlamaOpenCl m = model(w, s, mode); CausalLm.Batch batch = m.newBatch(1)) {
                m.forward(batch, LlamaOpenClFixtureTest.column(ids, 0, prompt), false);
                float[][][] out = new float[1][decode][];
                for (int p = prompt; p < prompt + decode; p++) {
                    out[0][p - prompt] = m.forward(batch, LlamaOpenClFixtureTest.column(ids, p, p + 1), false)[0][0];
                }
                FixtureConformanceSuite.assertLogits(s + " batch-1 decode past 256, layer groups " + mode[0], "opencl", expect, out,
                        s == Storage.F32 ? TOL_F32 : TOL_F16);
            }
        }
    }

    /**
     * Sampling on the device (forwardSample) and the decode stream, which runs a step ahead across the
     * KV cache's growth at 256 positions, against the reference sampler on the logits of a batch fed
     * step by step; closing the stream undoes its queued step (position and later logits agree).
     */
    @Test
    void deviceSamplingAndTheDecodeStreamFollowTheReferenceSampler() {
        Random r = new Random(44);
        LlamaConfig c = new LlamaConfig(47, 32, 48, 2, 4, 2, 8, 10000, 1e-6, false, 1, 2);
        LlamaWeights w = random(r, c, Storage.F32);
        SamplerReference ref = new SamplerReference();
        for (int[] mode : layerModes()) {
            samplingCases(r, c, w, ref, mode);
        }
    }

    private void samplingCases(Random r, LlamaConfig c, LlamaWeights w, SamplerReference ref, int[] mode) {
        try (LlamaOpenCl m = model(w, Storage.F32, mode)) {
            for (int b : new int[]{1, 2}) {
                for (SamplingParams params : new SamplingParams[]{SamplingParams.greedy(), new SamplingParams(0.8, 20, 0.9, 1)}) {
                    String what = "batch " + b + ", " + params + ", layer groups " + mode[0];
                    int[][] prompt = tokens(r, b, 250, c.vocab());
                    SplittableRandom draws = new SplittableRandom(45);
                    try (CausalLm.Batch stepwise = m.newBatch(b); CausalLm.Batch sampled = m.newBatch(b)) {
                        float[][][] logits = m.forward(stepwise, prompt, false);
                        double[] u = uniforms(draws, b);
                        int[] ids = m.forwardSample(sampled, prompt, params, u);
                        for (int q = 0; q < b; q++) {
                            assertEquals(ref.sample(logits[q][0], 0, c.vocab(), params, u[q]), ids[q], what + ": after the prompt, sequence " + q);
                        }
                        SplittableRandom streamDraws = new SplittableRandom(46);
                        SplittableRandom stepDraws = new SplittableRandom(46);
                        try (DecodeStream stream = m.decodeStream(sampled, ids, params, streamDraws)) {
                            assertThrows(MmfreeException.class, () -> m.forward(sampled, prompt, false), what + ": a busy batch");
                            for (int step = 0; step < 10; step++) {
                                logits = m.forward(stepwise, CausalLm.column(ids), false);
                                u = uniforms(stepDraws, b);
                                int[] got = stream.next();
                                for (int q = 0; q < b; q++) {
                                    ids[q] = ref.sample(logits[q][0], 0, c.vocab(), params, u[q]);
                                }
                                assertArrayEquals(ids, got, what + ": step " + step);
                            }
                        }
                        assertEquals(stepwise.position(), sampled.position(), what + ": position after close");
                        float[][][] expect = m.forward(stepwise, CausalLm.column(ids), false);
                        float[][][] after = m.forward(sampled, CausalLm.column(ids), false);
                        for (int q = 0; q < b; q++) {
                            assertArrayEquals(expect[q][0], after[q][0], what + ": logits after close, sequence " + q);
                        }
                    }
                }
            }
        }
    }

    private static double[] uniforms(SplittableRandom r, int b) {
        double[] u = new double[b];
        for (int q = 0; q < b; q++) {
            u[q] = r.nextDouble();
        }
        return u;
    }

    @Test
    void stateBytesFollowTheContextBlockByBlock() {
        Random r = new Random(43);
        LlamaConfig c = new LlamaConfig(31, 24, 40, 3, 2, 1, 12, 10000, 1e-6, false, 1, 2);
        LlamaWeights w = random(r, c, Storage.F16);
        int b = 3;
        long perPosition = 2L * c.layers() * b * c.kvHeads() * c.headDim() * Storage.F16.bytes();
        try (LlamaOpenCl m = new LlamaOpenCl(device, w)) {
            assertEquals(0, m.memory().bytes(MemoryCategory.STATE), "state before any batch");
            try (CausalLm.Batch batch = m.newBatch(b)) {
                assertEquals(0, m.memory().bytes(MemoryCategory.STATE), "state of an empty batch");
                m.forward(batch, tokens(r, b, 10, c.vocab()), false);
                assertEquals(256 * perPosition, m.memory().bytes(MemoryCategory.STATE), "state after 10 tokens");
                m.forward(batch, tokens(r, b, 250, c.vocab()), false);
                assertEquals(512 * perPosition, m.memory().bytes(MemoryCategory.STATE), "state after 260 tokens");
            }
            assertEquals(0, m.memory().bytes(MemoryCategory.STATE), "state after the batch closed");
        }
        assertEquals(0, device.memory().totalBytes(), "device ledger after the model closed");
    }
}
