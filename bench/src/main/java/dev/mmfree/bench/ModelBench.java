package dev.mmfree.bench;

import dev.mmfree.kernels.sampling.SamplingParams;
import dev.mmfree.model.CausalLm;
import dev.mmfree.model.DecodeStream;
import dev.mmfree.model.ModelInfo;
import dev.mmfree.runtime.MemoryCategory;
import dev.mmfree.runtime.MemoryLedger;

import java.util.Optional;
import java.util.SplittableRandom;

/**
 * Measures one loaded model at one (batch, context): prefill of {@code context} random tokens per
 * sequence, then {@code decodeSteps} greedy decoding steps (the ids a step picks are the next step's
 * input, as in generation), each timed on its own. The steps run through a {@link DecodeStream}, which
 * keeps the next step queued on a device while the host takes the current one's ids, as generation does;
 * with {@code ahead} false, {@link DecodeStream#stepByStep} waits for each step's ids before the next
 * is queued. Every case starts from a fresh batch.
 */
final class ModelBench {
    private final CausalLm model;
    private final String source;
    private final int prefillRepeats;
    private final int warmupSteps;
    private final int decodeSteps;
    private final boolean ahead;
    private final Optional<PowerSampler> power;

    ModelBench(CausalLm model, String source, int prefillRepeats, int warmupSteps, int decodeSteps, boolean ahead,
               Optional<PowerSampler> power) {
        this.model = model;
        this.source = source;
        this.prefillRepeats = prefillRepeats;
        this.warmupSteps = warmupSteps;
        this.decodeSteps = decodeSteps;
        this.ahead = ahead;
        this.power = power;
    }

    BenchResult run(int batch, int context, long seed) {
        ModelInfo info = model.info();
        SplittableRandom rnd = new SplittableRandom(seed);
        int[][] prompt = randomTokens(rnd, batch, context, info.vocab());

        double[] prefillSeconds = new double[prefillRepeats];
        CausalLm.Batch kept = null;
        for (int r = 0; r < prefillRepeats; r++) {
            CausalLm.Batch b = model.newBatch(batch);
            long t0 = System.nanoTime();
            model.forward(b, prompt, false);
            prefillSeconds[r] = (System.nanoTime() - t0) * 1e-9;
            if (r == prefillRepeats - 1) {
                kept = b;
            } else {
                b.close();
            }
        }
        try (CausalLm.Batch b = kept) {
            // greedy decoding: each step feeds the ids the last one picked (on the device where the backend can)
            int[] first = model.forwardGreedy(b, randomTokens(rnd, batch, 1, info.vocab()));
            double[] stepSeconds = new double[decodeSteps];
            long start;
            long end;
            SplittableRandom uniforms = new SplittableRandom(seed);   // drawn, though greedy steps ignore them
            try (DecodeStream steps = ahead
                    ? model.decodeStream(b, first, SamplingParams.greedy(), uniforms)
                    : DecodeStream.stepByStep(model, b, first, SamplingParams.greedy(), uniforms)) {
                for (int s = 0; s < warmupSteps; s++) {
                    steps.next();
                }
                start = System.nanoTime();
                long t0 = start;
                for (int s = 0; s < decodeSteps; s++) {
                    steps.next();
                    long t1 = System.nanoTime();
                    stepSeconds[s] = (t1 - t0) * 1e-9;
                    t0 = t1;
                }
                end = t0;
            }
            double joules = Double.NaN;
            if (power.isPresent()) {
                power.get().awaitSample();
                joules = power.get().joules(start, end) / ((double) decodeSteps * batch);
            }
            MemoryLedger m = model.memory();
            return new BenchResult(info.architecture(), source, model.backend(), model.device(), batch, context,
                    info.parameters(), m.bytes(MemoryCategory.WEIGHTS), info.weightBytes(), m.bytes(MemoryCategory.STATE),
                    m.bytes(MemoryCategory.WORKSPACE), heapInUse(), RateStats.of(prefillSeconds, (double) batch * context),
                    RateStats.of(stepSeconds, batch), joules);
        }
    }

    private static int[][] randomTokens(SplittableRandom rnd, int batch, int length, int vocab) {
        int[][] t = new int[batch][length];
        for (int[] row : t) {
            for (int i = 0; i < length; i++) {
                row[i] = rnd.nextInt(vocab);
            }
        }
        return t;
    }

    private static long heapInUse() {
        Runtime rt = Runtime.getRuntime();
        System.gc();
        return rt.totalMemory() - rt.freeMemory();
    }
}
