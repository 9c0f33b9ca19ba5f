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
 * with {@code ahead} false each step is a {@link CausalLm#forwardGreedy} call that waits for its ids
 * before the next is queued. With {@code split} > 1 a batch that it divides runs as that many batches
 * of its sequences, their steps interleaved (each batch takes the next device queue where the backend
 * has several, so their kernels can run at once); prefill then feeds them one after another.
 * Every case starts from fresh batches.
 */
final class ModelBench {
    private final CausalLm model;
    private final String source;
    private final int prefillRepeats;
    private final int warmupSteps;
    private final int decodeSteps;
    private final boolean ahead;
    private final int split;
    private final Optional<PowerSampler> power;

    ModelBench(CausalLm model, String source, int prefillRepeats, int warmupSteps, int decodeSteps, boolean ahead,
               int split, Optional<PowerSampler> power) {
        this.model = model;
        this.source = source;
        this.prefillRepeats = prefillRepeats;
        this.warmupSteps = warmupSteps;
        this.decodeSteps = decodeSteps;
        this.ahead = ahead;
        this.split = split;
        this.power = power;
    }

    BenchResult run(int batch, int context, long seed) {
        ModelInfo info = model.info();
        SplittableRandom rnd = new SplittableRandom(seed);
        int parts = batch % split == 0 ? split : 1;
        int size = batch / parts;
        int[][][] prompt = new int[parts][][];
        for (int p = 0; p < parts; p++) {
            prompt[p] = randomTokens(rnd, size, context, info.vocab());
        }

        double[] prefillSeconds = new double[prefillRepeats];
        CausalLm.Batch[] kept = null;
        for (int r = 0; r < prefillRepeats; r++) {
            CausalLm.Batch[] b = new CausalLm.Batch[parts];
            for (int p = 0; p < parts; p++) {
                b[p] = model.newBatch(size);
            }
            long t0 = System.nanoTime();
            for (int p = 0; p < parts; p++) {
                model.forward(b[p], prompt[p], false);
            }
            prefillSeconds[r] = (System.nanoTime() - t0) * 1e-9;
            if (r == prefillRepeats - 1) {
                kept = b;
            } else {
                closeAll(b);
            }
        }
        DecodeStream[] steps = new DecodeStream[parts];
        try {
            // greedy decoding: each step feeds the ids the last one picked (on the device where the backend can)
            for (int p = 0; p < parts; p++) {
                int[] first = model.forwardGreedy(kept[p], randomTokens(rnd, size, 1, info.vocab()));
                steps[p] = ahead
                        ? model.decodeStream(kept[p], first, SamplingParams.greedy(), new SplittableRandom(seed))
                        : new Synchronous(model, kept[p], first);
            }
            double[] stepSeconds = new double[decodeSteps];
            for (int s = 0; s < warmupSteps; s++) {
                for (DecodeStream d : steps) {
                    d.next();
                }
            }
            long start = System.nanoTime();
            long t0 = start;
            for (int s = 0; s < decodeSteps; s++) {
                for (DecodeStream d : steps) {
                    d.next();
                }
                long t1 = System.nanoTime();
                stepSeconds[s] = (t1 - t0) * 1e-9;
                t0 = t1;
            }
            long end = t0;
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
        } finally {
            closeAll(steps);
            closeAll(kept);
        }
    }

    private static void closeAll(AutoCloseable[] all) {
        for (AutoCloseable a : all) {
            if (a != null) {
                try {
                    a.close();
                } catch (Exception e) {
                    throw new IllegalStateException("closing " + a, e);
                }
            }
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

    /** One {@link CausalLm#forwardGreedy} call a step: each waits for its ids before the next is queued. */
    private static final class Synchronous implements DecodeStream {
        private final CausalLm model;
        private final CausalLm.Batch batch;
        private int[] ids;

        Synchronous(CausalLm model, CausalLm.Batch batch, int[] first) {
            this.model = model;
            this.batch = batch;
            this.ids = first;
        }

        @Override
        public int[] next() {
            ids = model.forwardGreedy(batch, CausalLm.column(ids));
            return ids;
        }

        @Override
        public void close() {
        }
    }

    private static long heapInUse() {
        Runtime rt = Runtime.getRuntime();
        System.gc();
        return rt.totalMemory() - rt.freeMemory();
    }
}
