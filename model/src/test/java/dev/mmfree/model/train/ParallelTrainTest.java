package dev.mmfree.model.train;

import dev.mmfree.model.config.HgrnBitConfig;
import dev.mmfree.runtime.cpu.CpuPool;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The multi-threaded trainer: 1 thread and N threads give bit-identical losses, gradients and updated
 * weights (each output element is summed by one thread in the serial order), at odd shapes where the
 * 4-row tiles leave tails.
 */
class ParallelTrainTest {
    private static int[][] tokens(Random rnd, int b, int t, int vocab) {
        int[][] tok = new int[b][t];
        for (int[] row : tok) {
            for (int p = 0; p < t; p++) {
                row[p] = rnd.nextInt(vocab);
            }
        }
        return tok;
    }

    @ParameterizedTest
    @CsvSource({"3, 2, 37, 13, 2, 9, 501, FUSED", "5, 1, 21, 11, 1, 1, 502, VANILLA", "3, 2, 19, 10, 4, 6, 503, VANILLA"})
    void oneAndManyThreadsGiveIdenticalGradients(int threads, int layers, int d, int inter, int b, int t, long seed,
                                                 BitLinearOp.Variant variant) {
        HgrnBitConfig c = new HgrnBitConfig(29, d, layers, inter, 1e-6, true, false, 1, 2);
        try (CpuPool one = new CpuPool(1); CpuPool many = new CpuPool(threads)) {
            HgrnBitTrainer serial = new HgrnBitTrainer(c, HgrnBitTrainer.init(c, seed, 0.2), true, variant, one);
            HgrnBitTrainer parallel = new HgrnBitTrainer(c, HgrnBitTrainer.init(c, seed, 0.2), true, variant, many);
            AdamW optA = new AdamW(0.9, 0.95, 1e-8, 0.1);
            AdamW optB = new AdamW(0.9, 0.95, 1e-8, 0.1);
            Random rnd = new Random(seed + 1);
            for (int step = 0; step < 2; step++) {
                int[][] tok = tokens(rnd, b, Math.max(2, t), c.vocab());
                serial.zeroGrad();
                parallel.zeroGrad();
                assertEquals(serial.lossAndBackward(tok), parallel.lossAndBackward(tok), 0, "loss at step " + step);
                for (Param p : serial.params().values()) {
                    assertArrayEquals(p.grad(), parallel.params().get(p.name()).grad(), p.name() + " grad at step " + step);
                }
                optA.step(serial.params().values(), 1e-2);
                optB.step(parallel.params().values(), 1e-2);
            }
            for (Param p : serial.params().values()) {
                assertArrayEquals(p.value(), parallel.params().get(p.name()).value(), p.name() + " after two steps");
            }
        }
    }
}
