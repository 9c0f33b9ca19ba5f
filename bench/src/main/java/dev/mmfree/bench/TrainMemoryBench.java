package dev.mmfree.bench;

import dev.mmfree.model.config.HgrnBitConfig;
import dev.mmfree.model.train.BitLinearOp;
import dev.mmfree.model.train.CrossEntropy;
import dev.mmfree.model.train.HgrnBitTrainer;
import dev.mmfree.model.train.Param;
import dev.mmfree.model.train.SavedBytes;
import dev.mmfree.runtime.cpu.CpuPool;

import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * Training memory of the two BitLinear variants (VANILLA keeps xq, FUSED recomputes it) at one HGRNBit
 * layer of a given shape (vocab 256 so the head stays small): one forward and backward each, no
 * optimizer. Per variant it prints (a) the bytes kept for backward, counted exactly by the train ops
 * ({@link HgrnBitTrainer#savedBytes}: activations and ternarized weight copies), (b) the live heap
 * after forward (after a full GC) minus the live heap before it, and (c) the peak heap during forward
 * and backward: the sum of the heap pools' peak usage after a reset, garbage included, so an upper
 * bound that depends on the collector. Parameters and gradients are allocated before. Run one variant
 * per JVM, under the serial collector, whose used bytes after a full GC are exact (G1 rounds
 * humongous arrays up to whole regions):
 * <pre>
 * java --add-modules=jdk.incubator.vector -XX:+UseSerialGC -Xmx4g \
 *     -cp "bench/target/lib/*:bench/target/mmfree-bench-0.1.0-SNAPSHOT.jar" \
 *     dev.mmfree.bench.TrainMemoryBench VARIANT [d I b t]     (default: the 1.3B layer, 2048 5632, batch 4 x 64)
 * </pre>
 */
public final class TrainMemoryBench {
    private TrainMemoryBench() {
    }

    public static void main(String[] args) {
        if (args.length != 1 && args.length != 5) {
            System.err.println("usage: TrainMemoryBench VANILLA|FUSED [d I b t]");
            System.exit(2);
        }
        BitLinearOp.Variant variant = BitLinearOp.Variant.valueOf(args[0].toUpperCase(Locale.ROOT));
        int d = args.length > 1 ? Integer.parseInt(args[1]) : 2048;
        int inter = args.length > 1 ? Integer.parseInt(args[2]) : 5632;
        int b = args.length > 1 ? Integer.parseInt(args[3]) : 4;
        int t = args.length > 1 ? Integer.parseInt(args[4]) : 64;
        HgrnBitConfig c = new HgrnBitConfig(256, d, 1, inter, 1e-6, true, false, 1, 2);
        Map<String, Param> params = HgrnBitTrainer.init(c, 1, 0.02);
        long paramBytes = params.values().stream().mapToLong(p -> 16L * p.size()).sum();
        System.out.printf(Locale.ROOT, "shape: d %d, I %d, 1 layer, vocab 256, batch %d x seq %d = %d tokens, %d threads, -Xmx %s%n", d, inter,
                b, t, b * t, CpuPool.shared().threads(), mib(Runtime.getRuntime().maxMemory()));
        System.out.printf(Locale.ROOT, "parameters + gradients (double): %s%n", mib(paramBytes));
        Random rnd = new Random(2);
        int[][] tokens = new int[b][t];
        for (int[] row : tokens) {
            for (int p = 0; p < t; p++) {
                row[p] = rnd.nextInt(256);
            }
        }
        System.out.println("| variant | saved activations | saved weight copies | saved total | live after forward - before | peak heap (pools, incl. garbage) - before | fwd+bwd s |");
        System.out.println("|---|---|---|---|---|---|---|");
        run(c, params, tokens, variant);
    }

    private static void run(HgrnBitConfig c, Map<String, Param> params, int[][] tokens, BitLinearOp.Variant variant) {
        HgrnBitTrainer m = new HgrnBitTrainer(c, params, true, variant);
        m.zeroGrad();
        long before = liveHeap();
        for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
            pool.resetPeakUsage();
        }
        long start = System.nanoTime();
        double[] logits = m.logits(tokens);
        SavedBytes saved = m.savedBytes();
        long pause = System.nanoTime();
        long afterForward = liveHeap();
        long resumed = System.nanoTime();
        int[] next = new int[logits.length / c.vocab()];
        int t = tokens[0].length;
        for (int r = 0; r < next.length; r++) {
            next[r] = r % t == t - 1 ? CrossEntropy.IGNORE : tokens[r / t][r % t + 1];
        }
        double[] dLogits = new double[logits.length];
        CrossEntropy.forwardBackward(logits, next, c.vocab(), dLogits);
        m.backward(dLogits);
        double secs = (System.nanoTime() - resumed + pause - start) / 1e9;
        long peak = 0;
        for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
            if (pool.getType() == MemoryType.HEAP) {
                peak += pool.getPeakUsage().getUsed();
            }
        }
        System.out.printf(Locale.ROOT, "| %s | %s | %s | %s | %s | %s | %.1f |%n", variant, mib(saved.activations()), mib(saved.weights()),
                mib(saved.total()), mib(afterForward - before), mib(peak - before), secs);
    }

    /** Heap in use after a full collection (System.gc() is a full, stop-the-world collection under G1 by default). */
    private static long liveHeap() {
        System.gc();
        System.gc();
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }

    private static String mib(long bytes) {
        return String.format(Locale.ROOT, "%.1f MiB", bytes / 1048576.0);
    }
}
