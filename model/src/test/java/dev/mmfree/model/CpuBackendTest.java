package dev.mmfree.model;

import dev.mmfree.kernels.sampling.SamplerReference;
import dev.mmfree.kernels.sampling.SamplingParams;
import dev.mmfree.runtime.MemoryCategory;
import dev.mmfree.runtime.MmfreeException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The cpu backend against the reference backend beyond the golden files: batches of 3 sequences,
 * prompts longer than one pass of the CPU models (so the state and the KV cache cross passes and
 * the cache grows), then batched decoding; memory returns to zero on close.
 */
class CpuBackendTest {
    /** The fixtures' bound for float32 paths ({@code ../shared/fixtures/README.md}). */
    private static final double TOLERANCE = 2e-3;

    @ParameterizedTest(name = "{0} batch={1} prompt={2}")
    @CsvSource({"hgrn-tiny-a, 3, 150", "hgrn-tiny-a, 1, 70", "llama-tiny, 3, 150", "llama-tiny, 1, 70"})
    void longPromptsThenBatchedDecodeMatchReference(String fixture, int batch, int prompt) {
        Path dir = Fixtures.dir().resolve(fixture);
        int steps = 6;
        try (CausalLm ref = ModelLoader.load(dir, ReferenceBackend.NAME); CausalLm cpu = ModelLoader.load(dir, CpuBackend.NAME);
             CausalLm.Batch rb = ref.newBatch(batch); CausalLm.Batch cb = cpu.newBatch(batch)) {
            Random rnd = new Random(fixture.hashCode() * 31L + batch * 7L + prompt);
            int[][] ids = new int[batch][prompt];
            for (int[] row : ids) {
                for (int p = 0; p < prompt; p++) {
                    row[p] = rnd.nextInt(cpu.info().vocab());
                }
            }
            compare(fixture + " prompt", ref.forward(rb, ids, true), cpu.forward(cb, ids, true));
            for (int step = 0; step < steps; step++) {
                int[][] next = new int[batch][1];
                for (int[] row : next) {
                    row[0] = rnd.nextInt(cpu.info().vocab());
                }
                compare(fixture + " decode step " + step, ref.forward(rb, next, false), cpu.forward(cb, next, false));
            }
            assertEquals(prompt + steps, cb.position());
        }
    }

    /**
     * Float16 storage rounds each weight to 11 significant bits (relative error up to 2^-12); on
     * llama-tiny the logits move by 3.7e-4 relative, inside the fixtures' float32 bound.
     */
    @Test
    void halfPrecisionLlamaWeightsStayCloseToReference() {
        Path dir = Fixtures.dir().resolve("llama-tiny");
        Fixtures.Golden g = Fixtures.Golden.read(dir);
        String old = System.getProperty(CpuBackend.LLAMA_WEIGHTS_PROPERTY);
        System.setProperty(CpuBackend.LLAMA_WEIGHTS_PROPERTY, "f16");
        try (CausalLm cpu = ModelLoader.load(dir, CpuBackend.NAME); CausalLm.Batch b = cpu.newBatch(g.batch())) {
            assertTrue(cpu.device().contains("F16"), cpu.device());
            float[][][] out = cpu.forward(b, g.ids(), true);
            compare("llama-tiny f16 weights", g.logits(), out);
        } finally {
            if (old == null) {
                System.clearProperty(CpuBackend.LLAMA_WEIGHTS_PROPERTY);
            } else {
                System.setProperty(CpuBackend.LLAMA_WEIGHTS_PROPERTY, old);
            }
        }
    }

    /**
     * forwardSample samples from the head's buffer without copying logits: its ids must be the reference
     * sampler's on the logits that forward returns for a twin batch fed the same tokens (greedy and
     * top-k/top-p, a prompt then decode steps), and a wrong number of uniforms is an error.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"hgrn-tiny-a", "llama-tiny"})
    void sampledIdsFollowTheReferenceSamplerOnTheLogits(String fixture) {
        try (CausalLm cpu = ModelLoader.load(Fixtures.dir().resolve(fixture), CpuBackend.NAME)) {
            int v = cpu.info().vocab();
            SamplerReference ref = new SamplerReference();
            for (SamplingParams params : new SamplingParams[]{SamplingParams.greedy(), new SamplingParams(0.9, 30, 0.9, 1)}) {
                Random rnd = new Random(fixture.hashCode() + 5L);
                try (CausalLm.Batch logitsBatch = cpu.newBatch(2); CausalLm.Batch sampled = cpu.newBatch(2)) {
                    int[][] tokens = {{3, 1, 4, 1, 5}, {9, 2, 6, 5, 3}};
                    for (int step = 0; step < 4; step++) {
                        double[] u = {rnd.nextDouble(), rnd.nextDouble()};
                        float[][][] logits = cpu.forward(logitsBatch, tokens, false);
                        int[] ids = cpu.forwardSample(sampled, tokens, params, u);
                        for (int q = 0; q < 2; q++) {
                            assertEquals(ref.sample(logits[q][0], 0, v, params, u[q]), ids[q], params + ", step " + step + ", sequence " + q);
                        }
                        tokens = CausalLm.column(ids);
                    }
                    assertEquals(logitsBatch.position(), sampled.position());
                    assertThrows(MmfreeException.class, () -> cpu.forwardSample(sampled, CausalLm.column(new int[]{1, 2}), params, new double[1]));
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"hgrn-tiny-a", "llama-tiny"})
    void memoryReturnsToZeroOnClose(String fixture) {
        CausalLm cpu = ModelLoader.load(Fixtures.dir().resolve(fixture), CpuBackend.NAME);
        assertTrue(cpu.memory().bytes(MemoryCategory.WEIGHTS) > 0, "weights are counted");
        CausalLm.Batch b = cpu.newBatch(2);
        cpu.forward(b, new int[][]{{1, 2, 3}, {4, 5, 6}}, false);
        assertTrue(cpu.memory().bytes(MemoryCategory.WORKSPACE) > 0, "workspace is counted");
        b.close();
        assertEquals(0, cpu.memory().bytes(MemoryCategory.STATE), "state after the batch closed");
        cpu.close();
        assertEquals(0, cpu.memory().totalBytes(), "all bytes after the model closed: " + cpu.memory());
    }

    private static void compare(String what, float[][][] ref, float[][][] out) {
        assertEquals(ref.length, out.length, what + ": batch");
        for (int b = 0; b < ref.length; b++) {
            assertEquals(ref[b].length, out[b].length, what + ": positions of sequence " + b);
            double diff = 0;
            double norm = 0;
            for (int p = 0; p < ref[b].length; p++) {
                for (int j = 0; j < ref[b][p].length; j++) {
                    if (!Float.isFinite(out[b][p][j])) {
                        fail(what + ": non-finite logit at [" + b + ", " + p + ", " + j + "]");
                    }
                    double e = out[b][p][j] - (double) ref[b][p][j];
                    diff += e * e;
                    norm += (double) ref[b][p][j] * ref[b][p][j];
                }
            }
            double rel = Math.sqrt(diff / norm);
            System.out.printf("[cpu] %s seq %d: rel L2 %.3e%n", what, b, rel);
            if (!(rel <= TOLERANCE)) {
                fail(what + ", sequence " + b + ": relative L2 " + rel + " > " + TOLERANCE + "; first logits ref "
                        + ref[b][0][0] + ", " + ref[b][0][1] + " cpu " + out[b][0][0] + ", " + out[b][0][1]);
            }
        }
    }
}
