package dev.mmfree.model.generate;

import dev.mmfree.kernels.sampling.SamplerReference;
import dev.mmfree.kernels.sampling.SamplingParams;
import dev.mmfree.model.CausalLm;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SessionTest {
    private static final int VOCAB = 37;

    private static int[] randomPrompt(SplittableRandom rnd, int n) {
        return rnd.ints(n, 0, VOCAB).toArray();
    }

    private static int[] concat(int[]... parts) {
        return Arrays.stream(parts).flatMapToInt(Arrays::stream).toArray();
    }

    /** The expected continuation, recomputed from the whole sequence at every step. */
    private static int[] expectedTokens(FakeLm lm, int[] prompt, int n, SamplingParams p) {
        SamplerReference s = new SamplerReference();
        SplittableRandom u = new SplittableRandom(p.seed());
        int[] seq = prompt.clone();
        for (int i = 0; i < n; i++) {
            int tok = s.sample(lm.logitsAfter(seq), 0, VOCAB, p, u.nextDouble());
            seq = concat(seq, new int[]{tok});
        }
        return Arrays.copyOfRange(seq, prompt.length, seq.length);
    }

    @Test
    void greedyAndSampledRunsFollowTheModel() {
        SplittableRandom rnd = new SplittableRandom(21);
        FakeLm lm = new FakeLm(VOCAB);
        Generator gen = new Generator(lm);
        for (SamplingParams p : new SamplingParams[]{SamplingParams.greedy(), new SamplingParams(0.9, 10, 0.95, 5)}) {
            for (int promptLen : new int[]{1, 7}) {
                int[] prompt = randomPrompt(rnd, promptLen);
                List<Integer> streamed = new ArrayList<>();
                try (Session s = gen.newSession()) {
                    GenerationResult r = s.generate(GenerationRequest.of(prompt, 12).withSampling(p), t -> streamed.add(t));
                    int[] want = expectedTokens(lm, prompt, 12, p);
                    assertArrayEquals(want, r.tokens(), p + " prompt " + promptLen);
                    assertEquals(Arrays.stream(want).boxed().toList(), streamed);
                    assertEquals(StopReason.MAX_TOKENS, r.reason());
                    assertEquals(promptLen, r.promptTokens());
                    assertEquals(12, r.generatedTokens());
                    assertEquals(promptLen + 11, s.position(), "the last sampled token stays pending");
                }
            }
        }
    }

    @Test
    void stopTokenEndsTheTurnAndIsNotReturned() {
        FakeLm lm = new FakeLm(VOCAB);
        int[] prompt = {3, 1, 4, 1, 5};
        int[] free = expectedTokens(lm, prompt, 10, SamplingParams.greedy());
        int stop = free[4];
        int firstStop = IntStream.range(0, free.length).filter(i -> free[i] == stop).findFirst().orElseThrow();
        try (Session s = new Generator(lm, stop).newSession()) {
            GenerationResult r = s.generate(GenerationRequest.of(prompt, 10), TokenListener.NONE);
            assertEquals(StopReason.STOP_TOKEN, r.reason());
            assertEquals(stop, r.stopToken());
            assertArrayEquals(Arrays.copyOf(free, firstStop), r.tokens());
            assertEquals(firstStop + 1, r.generatedTokens());
            assertArrayEquals(concat(prompt, Arrays.copyOf(free, firstStop + 1)), s.history(), "the stop token is history");
        }
        try (Session s = new Generator(lm, stop).newSession()) {
            GenerationResult r = s.generate(GenerationRequest.of(prompt, 10).withStopTokens(), TokenListener.NONE);
            assertEquals(StopReason.MAX_TOKENS, r.reason(), "an empty stop list overrides the default");
            assertArrayEquals(free, r.tokens());
        }
        try (Session s = new Generator(lm).newSession()) {
            GenerationResult r = s.generate(GenerationRequest.of(prompt, firstStop + 1).withStopTokens(99, stop), TokenListener.NONE);
            assertEquals(StopReason.STOP_TOKEN, r.reason(), "a stop token on the last allowed step still counts as a stop");
        }
    }

    @Test
    void budgetAndCancellation() {
        FakeLm lm = new FakeLm(VOCAB);
        int[] prompt = {9, 2};
        try (Session s = new Generator(lm).newSession()) {
            GenerationResult one = s.generate(GenerationRequest.of(prompt, 1), TokenListener.NONE);
            assertEquals(1, one.tokens().length);
            assertEquals(1, lm.forwardCalls, "one token costs one forward");
        }
        try (Session s = new Generator(lm).newSession()) {
            int[] seen = {0};
            GenerationResult r = s.generate(GenerationRequest.of(prompt, 20), t -> ++seen[0] < 3);
            assertEquals(StopReason.CANCELLED, r.reason());
            assertEquals(3, r.tokens().length);
            assertArrayEquals(expectedTokens(lm, prompt, 3, SamplingParams.greedy()), r.tokens());
        }
        try (Session s = new Generator(lm).newSession()) {
            GenerationResult queued = s.generate(GenerationRequest.of(prompt, 0), TokenListener.NONE);
            assertEquals(0, queued.tokens().length);
            assertEquals(0, s.position(), "budget 0 only queues the prompt");
            GenerationResult r = s.generate(GenerationRequest.of(new int[0], 4), TokenListener.NONE);
            assertArrayEquals(expectedTokens(lm, prompt, 4, SamplingParams.greedy()), r.tokens());
            assertEquals(2, r.promptTokens());
        }
    }

    @Test
    void interleavedSessionsMatchSoloRuns() throws Exception {
        SplittableRandom rnd = new SplittableRandom(22);
        FakeLm lm = new FakeLm(VOCAB);
        Generator gen = new Generator(lm);
        GenerationRequest[] requests = {
            GenerationRequest.of(randomPrompt(rnd, 5), 15).withSampling(new SamplingParams(1.2, 0, 1, 1)),
            GenerationRequest.of(randomPrompt(rnd, 3), 11).withSampling(new SamplingParams(0.7, 5, 0.9, 2))};
        int[][] solo = new int[2][];
        for (int k = 0; k < 2; k++) {
            try (Session s = gen.newSession()) {
                solo[k] = s.generate(requests[k], TokenListener.NONE).tokens();
            }
        }
        // two threads whose listeners hand the turn to each other after every token: the model sees
        // a, b, a, b, ... calls on two batches
        Object lock = new Object();
        int[] turn = {0};
        boolean[] done = new boolean[2];
        int[][] together = new int[2][];
        Thread[] threads = new Thread[2];
        for (int k = 0; k < 2; k++) {
            int me = k;
            TokenListener handOver = t -> {
                synchronized (lock) {
                    turn[0] = 1 - me;
                    lock.notifyAll();
                    while (turn[0] != me && !done[1 - me]) {
                        try {
                            lock.wait();
                        } catch (InterruptedException e) {
                            throw new IllegalStateException(e);
                        }
                    }
                }
                return true;
            };
            threads[k] = Thread.ofPlatform().start(() -> {
                try (Session s = gen.newSession()) {
                    synchronized (lock) {
                        while (turn[0] != me) {
                            lock.wait();
                        }
                    }
                    together[me] = s.generate(requests[me], handOver).tokens();
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                } finally {
                    synchronized (lock) {
                        done[me] = true;
                        turn[0] = 1 - me;
                        lock.notifyAll();
                    }
                }
            });
        }
        for (Thread t : threads) {
            t.join(30_000);
            assertFalse(t.isAlive(), "interleaving deadlocked");
        }
        List<CausalLm.Batch> calls = lm.calls.subList(lm.calls.size() - 15 - 10, lm.calls.size());
        long switches = IntStream.range(1, calls.size()).filter(i -> calls.get(i) != calls.get(i - 1)).count();
        assertTrue(switches >= 20, "calls alternated between the sessions only " + switches + " times");
        assertArrayEquals(solo[0], together[0]);
        assertArrayEquals(solo[1], together[1]);
        assertEquals(0, lm.openBatches);
    }

    @Test
    void laterTurnsContinueTheConversation() {
        SplittableRandom rnd = new SplittableRandom(23);
        FakeLm lm = new FakeLm(VOCAB);
        int[] p1 = randomPrompt(rnd, 4);
        int[] p2 = randomPrompt(rnd, 3);
        SamplingParams sp = new SamplingParams(1, 0, 1, 9);
        try (Session s = new Generator(lm).newSession()) {
            int[] t1 = s.generate(GenerationRequest.of(p1, 6).withSampling(sp), TokenListener.NONE).tokens();
            GenerationResult r2 = s.generate(GenerationRequest.of(p2, 6).withSampling(sp), TokenListener.NONE);
            assertEquals(1 + p2.length, r2.promptTokens(), "the pending token opens the next prefill");
            assertArrayEquals(expectedTokens(lm, concat(p1, t1, p2), 6, sp), r2.tokens());
            int[] t3 = s.generate(GenerationRequest.of(new int[0], 5), TokenListener.NONE).tokens();
            assertArrayEquals(expectedTokens(lm, concat(p1, t1, p2, r2.tokens()), 5, SamplingParams.greedy()), t3);
            assertArrayEquals(concat(p1, t1, p2, r2.tokens(), t3), s.history());
        }
    }

    @Test
    void seedsMakeRunsReproducible() {
        FakeLm lm = new FakeLm(VOCAB);
        int[] prompt = {1, 2, 3};
        Generator gen = new Generator(lm);
        int[][] runs = new int[3][];
        long[] seeds = {5, 5, 6};
        for (int k = 0; k < 3; k++) {
            try (Session s = gen.newSession()) {
                runs[k] = s.generate(GenerationRequest.of(prompt, 30).withSampling(new SamplingParams(1.5, 0, 1, seeds[k])), TokenListener.NONE).tokens();
            }
        }
        assertArrayEquals(runs[0], runs[1]);
        assertFalse(Arrays.equals(runs[0], runs[2]), "seed 6 gave seed 5's 30 tokens");
    }

    @Test
    void closeFreesTheBatchAndBadRequestsAreClearErrors() {
        FakeLm lm = new FakeLm(VOCAB);
        Session s = new Generator(lm).newSession();
        assertEquals(1, lm.openBatches);
        assertEquals("generate: empty prompt on a new session (nothing to continue from)",
                assertThrows(GenerationException.class, () -> s.generate(GenerationRequest.of(new int[0], 3), TokenListener.NONE)).getMessage());
        assertEquals("generate: prompt token 1 is 37, outside the vocabulary [0, 37)",
                assertThrows(GenerationException.class, () -> s.generate(GenerationRequest.of(new int[]{0, 37}, 3), TokenListener.NONE)).getMessage());
        assertEquals("--max-tokens must be >= 0, got -1",
                assertThrows(GenerationException.class, () -> GenerationRequest.of(new int[]{1}, -1)).getMessage());
        s.close();
        s.close();
        assertEquals(0, lm.openBatches);
        assertEquals("generate: session is closed",
                assertThrows(GenerationException.class, () -> s.generate(GenerationRequest.of(new int[]{1}, 3), TokenListener.NONE)).getMessage());
    }

    @Test
    void eosTokensComeFromTheModelFolder(@TempDir Path dir) throws Exception {
        assertArrayEquals(new int[0], Generator.eosTokens(dir));
        Files.writeString(dir.resolve("config.json"), "{\"eos_token_id\": 2}");
        assertArrayEquals(new int[]{2}, Generator.eosTokens(dir));
        Files.writeString(dir.resolve("generation_config.json"), "{\"eos_token_id\": [7, 8]}");
        assertArrayEquals(new int[]{7, 8}, Generator.eosTokens(dir), "generation_config.json wins");
        Files.writeString(dir.resolve("generation_config.json"), "{\"eos_token_id\": null}");
        assertArrayEquals(new int[]{2}, Generator.eosTokens(dir));
    }
}
