package dev.mmfree.bench;

import dev.mmfree.kernels.sampling.SamplingParams;
import dev.mmfree.kernels.ternary.TernaryMatrix;
import dev.mmfree.model.CausalLm;
import dev.mmfree.model.config.HgrnBitConfig;
import dev.mmfree.model.hgrn.HgrnBitOpenCl;
import dev.mmfree.model.hgrn.HgrnBitWeights;
import dev.mmfree.runtime.MemoryCategory;
import dev.mmfree.runtime.opencl.OpenCl;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Decode and prefill speed of HgrnBitOpenCl on random weights of a released shape, greedy on the
 * device (only token ids cross the bus). Batch 1 takes the fused path (4 launches a layer), larger
 * batches the GEMM path; {@code --unfused} sends batch 1 through the GEMM path too.
 *
 * <pre>
 *   java -Xmx8g -cp runtime.jar:kernels.jar:model.jar:bench.jar:jocl.jar:jackson*.jar dev.mmfree.bench.OpenClDecodeBench \
 *        [--preset 2.7b|1.3b|370m|tiny] [--batches 1,8,64] [--tokens 200] [--prefill 256] [--device SEL] [--unfused]
 * </pre>
 * Prints one JSON line per measurement, then a table.
 */
public final class OpenClDecodeBench {
    private OpenClDecodeBench() {
    }

    public static void main(String[] args) {
        String preset = "2.7b";
        String selector = null;
        int tokens = 200;
        int prefill = 256;
        boolean fused = true;
        List<Integer> batches = new ArrayList<>(List.of(1, 8, 64));
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--preset" -> preset = args[++i];
                case "--device" -> selector = args[++i];
                case "--tokens" -> tokens = Integer.parseInt(args[++i]);
                case "--prefill" -> prefill = Integer.parseInt(args[++i]);
                case "--unfused" -> fused = false;
                case "--batches" -> {
                    batches.clear();
                    for (String b : args[++i].split(",")) {
                        batches.add(Integer.parseInt(b.trim()));
                    }
                }
                default -> throw new IllegalArgumentException("unknown argument " + args[i] + "; usage: [--preset 2.7b|1.3b|370m|tiny]"
                        + " [--batches 1,8,64] [--tokens N] [--prefill N] [--device SEL] [--unfused]");
            }
        }
        HgrnBitConfig c = switch (preset) {
            case "2.7b" -> new HgrnBitConfig(32000, 2560, 32, 6912, 1e-6, true, false, 1, 2);
            case "1.3b" -> new HgrnBitConfig(32000, 2048, 24, 5632, 1e-6, true, false, 1, 2);
            case "370m" -> new HgrnBitConfig(32000, 1024, 24, 2816, 1e-6, true, false, 1, 2);
            case "tiny" -> new HgrnBitConfig(1000, 200, 2, 520, 1e-6, true, false, 1, 2);
            default -> throw new IllegalArgumentException("unknown preset " + preset);
        };
        long t0 = System.nanoTime();
        HgrnBitWeights w = randomWeights(c, new SplittableRandom(1));
        System.out.printf(Locale.ROOT, "# random %s weights in %.1f s%n", preset, (System.nanoTime() - t0) / 1e9);
        List<String> table = new ArrayList<>();
        String context = String.format(Locale.ROOT, "\"preset\":\"%s\",\"fused\":%s,\"commit\":\"%s\"", preset, fused,
                System.getenv().getOrDefault("MMFREE_COMMIT", "unknown"));
        try (HgrnBitOpenCl m = new HgrnBitOpenCl(w, OpenCl.open(selector, false), fused)) {
            System.out.printf(Locale.ROOT, "# %s, weights on device %.1f MiB%n", m.device(),
                    m.memory().bytes(MemoryCategory.WEIGHTS) / 1048576.0);
            SplittableRandom r = new SplittableRandom(2);
            for (int b : batches) {
                try (CausalLm.Batch batch = m.newBatch(b)) {
                    m.forwardGreedy(batch, randomIds(r, b, 8, c.vocab()));
                    int warm = Math.max(5, tokens / 10);
                    for (int k = 0; k < warm; k++) {
                        m.continueGreedy(batch);
                    }
                    long s = System.nanoTime();
                    for (int k = 0; k < tokens; k++) {
                        m.continueGreedy(batch);
                    }
                    double sec = (System.nanoTime() - s) / 1e9;
                    double tps = (double) b * tokens / sec;
                    double msPerStep = 1e3 * sec / tokens;
                    System.out.printf(Locale.ROOT, "{\"what\":\"decode greedy\",\"batch\":%d,\"tokens_per_s\":%.1f,\"ms_per_step\":%.4f,\"device\":\"%s\",%s}%n",
                            b, tps, msPerStep, m.device(), context);
                    table.add(String.format(Locale.ROOT, "decode greedy | b %d | %.1f tok/s | %.4f ms/step", b, tps, msPerStep));
                }
            }
            try (CausalLm.Batch batch = m.newBatch(1)) {
                SamplingParams params = new SamplingParams(0.8, 50, 0.9, 1);
                SplittableRandom uniforms = new SplittableRandom(params.seed());
                m.forwardSample(batch, randomIds(r, 1, 8, c.vocab()), params, new double[]{uniforms.nextDouble()});
                for (int k = 0; k < 5; k++) {
                    m.continueSample(batch, params, new double[]{uniforms.nextDouble()});
                }
                int steps = Math.max(10, tokens / 4);
                long s = System.nanoTime();
                for (int k = 0; k < steps; k++) {
                    m.continueSample(batch, params, new double[]{uniforms.nextDouble()});
                }
                double ms = 1e3 * (System.nanoTime() - s) / 1e9 / steps;
                System.out.printf(Locale.ROOT, "{\"what\":\"decode top-k 50 top-p 0.9\",\"batch\":1,\"ms_per_step\":%.4f,\"device\":\"%s\",%s}%n",
                        ms, m.device(), context);
                table.add(String.format(Locale.ROOT, "decode top-k 50 top-p 0.9 | b 1 | %.1f tok/s | %.4f ms/step", 1e3 / ms, ms));
            }
            try (CausalLm.Batch batch = m.newBatch(1)) {
                for (int k = 0; k < 3; k++) {
                    m.forward(batch, randomIds(r, 1, 1, c.vocab()), false);
                }
                int steps = Math.max(10, tokens / 4);
                long s = System.nanoTime();
                for (int k = 0; k < steps; k++) {
                    m.forward(batch, randomIds(r, 1, 1, c.vocab()), false);
                }
                double ms = 1e3 * (System.nanoTime() - s) / 1e9 / steps;
                System.out.printf(Locale.ROOT, "{\"what\":\"decode logits to host\",\"batch\":1,\"ms_per_step\":%.4f,\"device\":\"%s\",%s}%n",
                        ms, m.device(), context);
                table.add(String.format(Locale.ROOT, "decode with logits read | b 1 | %.1f tok/s | %.4f ms/step", 1e3 / ms, ms));
            }
            if (prefill > 0) {
                try (CausalLm.Batch batch = m.newBatch(1)) {
                    m.forward(batch, randomIds(r, 1, prefill, c.vocab()), false);
                    long s = System.nanoTime();
                    m.forward(batch, randomIds(r, 1, prefill, c.vocab()), false);
                    double sec = (System.nanoTime() - s) / 1e9;
                    System.out.printf(Locale.ROOT, "{\"what\":\"prefill\",\"tokens\":%d,\"tokens_per_s\":%.1f,\"device\":\"%s\",%s}%n",
                            prefill, prefill / sec, m.device(), context);
                    table.add(String.format(Locale.ROOT, "prefill %d | b 1 | %.1f tok/s | %.4f ms", prefill, prefill / sec, 1e3 * sec));
                }
            }
        }
        System.out.println();
        System.out.println("what | batch | throughput | time");
        table.forEach(System.out::println);
    }

    private static int[][] randomIds(SplittableRandom r, int b, int t, int vocab) {
        int[][] ids = new int[b][t];
        for (int[] row : ids) {
            for (int p = 0; p < t; p++) {
                row[p] = r.nextInt(vocab);
            }
        }
        return ids;
    }

    /** Random codes, a word at a time: the invalid code 0b10 becomes 0 (half the weights zero, a quarter each +-1). */
    static TernaryMatrix random(SplittableRandom r, int out, int in) {
        int wpr = TernaryMatrix.wordsPerRow(in);
        int[] codes = new int[out * wpr];
        int tail = in % 16 == 0 ? -1 : (1 << (2 * (in % 16))) - 1;
        for (int row = 0; row < out; row++) {
            for (int k = 0; k < wpr; k++) {
                int word = r.nextInt();
                int invalid = word & 0xAAAAAAAA & ~((word & 0x55555555) << 1);
                word &= ~invalid;
                codes[row * wpr + k] = k == wpr - 1 ? word & tail : word;
            }
        }
        return new TernaryMatrix(out, in, codes, (float) r.nextDouble(0.01, 0.05));
    }

    private static float[] floats(SplittableRandom r, int n, double lo, double hi) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) r.nextDouble(lo, hi);
        }
        return a;
    }

    static HgrnBitWeights randomWeights(HgrnBitConfig c, SplittableRandom r) {
        int d = c.hidden();
        int n = c.intermediate();
        List<HgrnBitWeights.Layer> layers = new ArrayList<>();
        for (int l = 0; l < c.layers(); l++) {
            layers.add(new HgrnBitWeights.Layer(floats(r, d, 0.5, 1.5),
                    random(r, d, d), floats(r, d, 0.5, 1.5), random(r, d, d), floats(r, d, 0.5, 1.5),
                    random(r, d, d), floats(r, d, 0.5, 1.5), floats(r, d, 0.5, 1.5), random(r, d, d), floats(r, d, 0.5, 1.5),
                    floats(r, d, 0.5, 1.5), random(r, 2 * n, d), floats(r, d, 0.5, 1.5), random(r, d, n), floats(r, n, 0.5, 1.5)));
        }
        float[][] lb = HgrnBitWeights.lowerBounds(floats(r, c.layers() * d, -1, 1), c.layers(), d);
        return new HgrnBitWeights(c, floats(r, c.vocab() * d, -0.05, 0.05), lb, layers, floats(r, d, 0.5, 1.5),
                random(r, c.vocab(), d), floats(r, d, 0.5, 1.5));
    }
}
