package dev.mmfree.model.generate;

import dev.mmfree.kernels.sampling.SamplingParams;
import dev.mmfree.model.CausalLm;
import dev.mmfree.model.Fixtures;
import dev.mmfree.model.ModelLoader;
import dev.mmfree.model.hgrn.OpenClTesting;
import dev.mmfree.runtime.MemoryCategory;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Sessions on the reference checkpoints with the reference backend, and with the opencl backend, whose
 * decode streams run a step ahead and undo it at the end of a turn. Token sequences are compared
 * only between runs that make the same model calls in the same order on the same batch shapes
 * (bit-identical logits), never against golden argmax (the fixtures have near-ties).
 */
class GeneratorFixtureTest {
    private static final int[] PROMPT = {1, 17, 300, 42, 5};

    @ParameterizedTest
    @CsvSource({"hgrn-tiny-a, reference", "llama-tiny, reference", "hgrn-tiny-a, opencl", "llama-tiny, opencl"})
    void sessionsOnARealModel(String fixture, String backend) {
        if (backend.equals("opencl")) {
            OpenClTesting.selectDefaultDeviceOrSkip();
        }
        Path dir = Fixtures.dir().resolve(fixture);
        assertArrayEquals(new int[]{2}, Generator.eosTokens(dir));
        SamplingParams sampled = new SamplingParams(0.8, 40, 0.9, 11);
        try (CausalLm lm = ModelLoader.load(dir, backend)) {
            Generator gen = new Generator(lm, Generator.eosTokens(dir));
            GenerationRequest greedy = GenerationRequest.of(PROMPT, 10).withStopTokens();
            GenerationRequest sample = GenerationRequest.of(PROMPT, 10).withStopTokens().withSampling(sampled);
            int[] soloGreedy;
            int[] soloSampled;
            try (Session a = gen.newSession()) {
                soloGreedy = a.generate(greedy, TokenListener.NONE).tokens();
            }
            try (Session b = gen.newSession()) {
                soloSampled = b.generate(sample, TokenListener.NONE).tokens();
            }
            assertEquals(10, soloGreedy.length);

            try (Session a = gen.newSession(); Session b = gen.newSession()) {
                int[][] inner = new int[1][];
                GenerationResult r = a.generate(greedy, t -> {
                    if (inner[0] == null) {
                        inner[0] = b.generate(sample, TokenListener.NONE).tokens();
                    }
                    return true;
                });
                assertArrayEquals(soloGreedy, r.tokens(), "a session is unaffected by another's calls in between");
                assertArrayEquals(soloSampled, inner[0]);
                assertTrue(r.prefillNanos() > 0 && r.decodeNanos() > 0, r.toString());
                assertEquals(PROMPT.length, r.promptTokens());
                assertEquals(PROMPT.length + 9, a.position());
                assertTrue(lm.memory().bytes(MemoryCategory.STATE) > 0);
            }
            assertEquals(0, lm.memory().bytes(MemoryCategory.STATE), "closing the sessions frees their state");

            try (Session s = gen.newSession()) {
                int[] first = s.generate(GenerationRequest.of(PROMPT, 4).withStopTokens(), TokenListener.NONE).tokens();
                assertArrayEquals(Arrays.copyOf(soloGreedy, 4), first, "a shorter budget is a prefix");
                int[] second = s.generate(GenerationRequest.of(new int[0], 6).withStopTokens(), TokenListener.NONE).tokens();
                assertArrayEquals(Arrays.copyOfRange(soloGreedy, 4, 10), second,
                        "continuing with an empty prompt resumes the same decode sequence");
            }
        }
    }
}
