package dev.mmfree.model.train;

import dev.mmfree.model.CausalLm;
import dev.mmfree.model.ModelLoader;
import dev.mmfree.model.checkpoint.CheckpointException;
import dev.mmfree.model.config.HgrnBitConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;
import java.util.Random;

import static dev.mmfree.model.train.GradCheck.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Saving a trainer as a model folder: it reloads, the reference backend runs it, and training resumes exactly. */
class TrainCheckpointTest {
    private static int[][] tokens(Random rnd, int b, int t, int vocab) {
        int[][] tok = new int[b][t];
        for (int[] row : tok) {
            for (int p = 0; p < t; p++) {
                row[p] = rnd.nextInt(vocab);
            }
        }
        return tok;
    }

    /** A few steps, so the latent weights are not their init and the moments not zero. */
    private static AdamW trained(HgrnBitTrainer m, int steps, long seed, int vocab) {
        AdamW opt = new AdamW(0.9, 0.95, 1e-8, 0.1);
        Random rnd = new Random(seed);
        for (int k = 0; k < steps; k++) {
            m.trainStep(tokens(rnd, 2, 5, vocab), opt, 1e-2, 1.0);
        }
        return opt;
    }

    /** Save then load: exact latent values and moments from optimizer.safetensors, F32-rounded ones without it. */
    @ParameterizedTest
    @CsvSource({"19, 12, 2, 10, false, 401", "11, 8, 1, 6, true, 402"})
    void saveAndReloadGiveTheSameParameters(int v, int d, int layers, int inter, boolean tied, long seed, @TempDir Path dir) throws Exception {
        HgrnBitConfig c = new HgrnBitConfig(v, d, layers, inter, 1e-6, true, tied, 1, 2);
        HgrnBitTrainer m = new HgrnBitTrainer(c, HgrnBitTrainer.init(c, seed, 0.2), true, BitLinearOp.Variant.FUSED);
        AdamW opt = trained(m, 3, seed + 1, v);
        TrainCheckpoint.save(dir, c, m.params(), opt);

        TrainCheckpoint.State s = TrainCheckpoint.load(dir);
        assertEquals(c, s.config());
        assertEquals(3, s.step());
        assertEquals(m.params().keySet(), s.params().keySet());
        for (Param p : m.params().values()) {
            assertArrayEquals(p.value(), s.params().get(p.name()).value(), p.name());
            assertArrayEquals(opt.moments(p)[0], s.moments().get(p.name())[0], p.name() + " exp_avg");
            assertArrayEquals(opt.moments(p)[1], s.moments().get(p.name())[1], p.name() + " exp_avg_sq");
        }

        Files.delete(dir.resolve(TrainCheckpoint.OPTIMIZER));
        TrainCheckpoint.State f32 = TrainCheckpoint.load(dir);
        assertEquals(0, f32.step());
        for (Param p : m.params().values()) {
            double[] rounded = p.value().clone();
            for (int k = 0; k < rounded.length; k++) {
                rounded[k] = (float) rounded[k];
            }
            assertArrayEquals(rounded, f32.params().get(p.name()).value(), p.name());
        }
    }

    /** The saved folder loads on the reference backend, whose logits are the trainer's quantized forward. */
    @ParameterizedTest
    @CsvSource({"23, 16, 2, 12, 2, 7, false, 411", "13, 8, 1, 5, 1, 1, true, 412"})
    void savedFolderRunsOnTheReferenceBackend(int v, int d, int layers, int inter, int b, int t, boolean tied, long seed,
                                              @TempDir Path dir) {
        HgrnBitConfig c = new HgrnBitConfig(v, d, layers, inter, 1e-6, true, tied, 1, 2);
        HgrnBitTrainer m = new HgrnBitTrainer(c, HgrnBitTrainer.init(c, seed, 0.3), true, BitLinearOp.Variant.VANILLA);
        AdamW opt = trained(m, 2, seed + 1, v);
        TrainCheckpoint.save(dir, c, m.params(), opt);
        int[][] tok = tokens(new Random(seed + 2), b, t, v);
        double[] actual = m.logits(tok);
        double[] want = new double[actual.length];
        try (CausalLm ref = ModelLoader.load(dir, "reference"); CausalLm.Batch batch = ref.newBatch(b)) {
            float[][][] expected = ref.forward(batch, tok, true);
            for (int s = 0; s < b; s++) {
                for (int p = 0; p < t; p++) {
                    for (int k = 0; k < v; k++) {
                        want[(s * t + p) * v + k] = expected[s][p][k];
                    }
                }
            }
        }
        assertClose("trainer logits vs the saved folder on the reference backend", actual, want, 2e-3);
    }

    /** N steps in one go equal N/2 steps, save, load into a new trainer and optimizer, N/2 more: bit for bit. */
    @ParameterizedTest
    @CsvSource({"FUSED, 421, false", "VANILLA, 422, true"})
    void resumeIsExact(BitLinearOp.Variant variant, long seed, boolean tied, @TempDir Path dir) {
        HgrnBitConfig c = new HgrnBitConfig(17, 12, 2, 9, 1e-6, true, tied, 1, 2);
        int steps = 6;
        LrSchedule lr = new LrSchedule(1e-2, 1e-3, 2, steps);
        Random data = new Random(seed + 1);
        int[][][] batches = new int[steps][][];
        for (int k = 0; k < steps; k++) {
            batches[k] = tokens(data, 3, 6, c.vocab());
        }
        HgrnBitTrainer whole = new HgrnBitTrainer(c, HgrnBitTrainer.init(c, seed, 0.2), true, variant);
        AdamW wholeOpt = new AdamW(0.9, 0.95, 1e-8, 0.1);
        double[] wholeLoss = new double[steps];
        for (int k = 0; k < steps; k++) {
            wholeLoss[k] = whole.trainStep(batches[k], wholeOpt, lr.at(k), 0.5);
        }

        HgrnBitTrainer first = new HgrnBitTrainer(c, HgrnBitTrainer.init(c, seed, 0.2), true, variant);
        AdamW firstOpt = new AdamW(0.9, 0.95, 1e-8, 0.1);
        for (int k = 0; k < steps / 2; k++) {
            assertEquals(wholeLoss[k], first.trainStep(batches[k], firstOpt, lr.at(k), 0.5));
        }
        TrainCheckpoint.save(dir, c, first.params(), firstOpt);
        TrainCheckpoint.State s = TrainCheckpoint.load(dir);
        HgrnBitTrainer second = new HgrnBitTrainer(s.config(), s.params(), true, variant);
        AdamW secondOpt = new AdamW(0.9, 0.95, 1e-8, 0.1);
        s.restore(secondOpt);
        assertEquals(steps / 2, secondOpt.steps());
        for (int k = s.step(); k < steps; k++) {
            assertEquals(wholeLoss[k], second.trainStep(batches[k], secondOpt, lr.at(k), 0.5), "loss of step " + k);
        }
        for (Map.Entry<String, Param> e : whole.params().entrySet()) {
            assertArrayEquals(e.getValue().value(), second.params().get(e.getKey()).value(), e.getKey());
        }
    }

    /** An optimizer file from another model shape fails naming the file, the tensor and both shapes. */
    @Test
    void optimizerFileOfAnotherShapeIsRefused(@TempDir Path dir) throws IOException {
        HgrnBitConfig c = new HgrnBitConfig(11, 8, 1, 6, 1e-6, true, false, 1, 2);
        HgrnBitTrainer m = new HgrnBitTrainer(c, HgrnBitTrainer.init(c, 431, 0.2), true, BitLinearOp.Variant.FUSED);
        TrainCheckpoint.save(dir, c, m.params(), new AdamW(0.9, 0.95, 1e-8, 0));
        HgrnBitConfig bigger = new HgrnBitConfig(11, 8, 2, 6, 1e-6, true, false, 1, 2);
        HgrnBitTrainer other = new HgrnBitTrainer(bigger, HgrnBitTrainer.init(bigger, 432, 0.2), true, BitLinearOp.Variant.FUSED);
        Path mixed = dir.resolveSibling(dir.getFileName() + "-mixed");
        TrainCheckpoint.save(mixed, bigger, other.params(), new AdamW(0.9, 0.95, 1e-8, 0));
        Files.copy(dir.resolve(TrainCheckpoint.OPTIMIZER), mixed.resolve(TrainCheckpoint.OPTIMIZER), StandardCopyOption.REPLACE_EXISTING);
        CheckpointException e = assertThrows(CheckpointException.class, () -> TrainCheckpoint.load(mixed));
        assertTrue(e.getMessage().endsWith("optimizer.safetensors: tensor 'model.lower_bounds': shape [1, 8], expected [2, 8]"), e.getMessage());
    }
}
