package dev.mmfree.bench.jmh;

import dev.mmfree.kernels.bitlinear.BitLinearVector;
import dev.mmfree.kernels.linear.LinearVector;
import dev.mmfree.kernels.ternary.TernaryMatrix;
import dev.mmfree.runtime.cpu.CpuPool;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.Arrays;

/**
 * Each GEMV's bandwidth as a fraction of the triad measured in alternation with it, in one JVM:
 * round after round, one triad op (3 x 256 MB, as {@link TriadBench}) then about as long of GEMV
 * ops (weights cold, as {@link BitLinearBench} / {@link LinearBench}), after {@value #WARM_NANOS} ns of the
 * GEMV alone and {@value #WARM_ROUNDS} uncounted rounds. On a machine shared with
 * other jobs the load changes from second to second, so separate JMH runs of the triad and of a
 * kernel can meet different loads; each pair here meets the same, and the median of the
 * per-round ratios is the robust figure. Not a JMH benchmark: it complements the JMH suite.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector -Xmx6g -cp 'bench/target/mmfree-bench-0.1.0-SNAPSHOT.jar:bench/target/lib/*' \
 *   dev.mmfree.bench.jmh.PairedTriad bench/results/cpu-HOST/DATE/paired-triad.md [rounds [ternary|dense [OUTxIN,...]]]
 * </pre>
 */
public final class PairedTriad {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    /** The kernel alone before its rounds: long enough for C2 to compile its loops with both cores busy. */
    private static final long WARM_NANOS = 3_000_000_000L;
    /** Rounds of the alternation run and discarded before the counted ones. */
    private static final int WARM_ROUNDS = 4;
    private static final String[] SHAPES = {"2560x2560", "7680x2560", "13824x2560", "2560x6912", "32000x2560"};

    private final CpuPool pool = CpuPool.shared();
    private final float[] a = new float[TriadBench.N];
    private final float[] b = Fill.floats(1, TriadBench.N, 1f);
    private final float[] c = Fill.floats(2, TriadBench.N, 1f);
    private final CpuPool.RangeTask triad = this::triadRange;

    private PairedTriad() {
    }

    public static void main(String[] args) throws IOException {
        Path out = Path.of(args[0]);
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 20;
        String only = args.length > 2 ? args[2] : "";
        String[] shapes = args.length > 3 ? args[3].split(",") : SHAPES;
        PairedTriad p = new PairedTriad();
        StringBuilder md = new StringBuilder("# GEMV bandwidth against a triad measured in alternation\n\n");
        md.append("- date: ").append(LocalDate.now()).append(", threads ").append(p.pool.threads()).append(", rounds ").append(rounds)
                .append(", commit ").append(System.getProperty("mmfree.commit", "(not given)")).append('\n');
        md.append("- per round: one triad op (3 x 256 MB counted), then GEMV ops for about as long; weights cold (copies rotated over 256 MB)\n");
        md.append("- ratio = GEMV GB/s / triad GB/s of the same round; median over rounds, and best GEMV / best triad\n\n");
        md.append("| kernel | shape | GB/s median | GB/s best | triad GB/s median | triad best | ratio median | ratio best/best |\n");
        md.append("|---|---|---:|---:|---:|---:|---:|---:|\n");
        for (String shape : only.isEmpty() || only.equals("ternary") ? shapes : new String[0]) {
            int[] s = Fill.shape(shape);
            TernaryMatrix w = Fill.ternary(7, s[0], s[1]);
            BitLinearVector[] copies = new BitLinearVector[Fill.copies(BitLinearVector.packedBytes(s[0], s[1]))];
            for (int i = 0; i < copies.length; i++) {
                copies[i] = new BitLinearVector(p.pool, w);
            }
            byte[] q = Fill.int8(11, s[1]);
            float[] factor = {0.01f};
            float[] y = new float[s[0]];
            int[] next = {0};
            Runnable op = () -> {
                copies[next[0]].forward(q, factor, 1, y, false);
                next[0] = (next[0] + 1) % copies.length;
            };
            md.append(p.measure("ternary", shape, op, BitLinearVector.packedBytes(s[0], s[1]) + s[1], rounds));
        }
        for (LinearVector.Storage st : only.isEmpty() || !only.equals("ternary") ? LinearVector.Storage.values() : new LinearVector.Storage[0]) {
            for (String shape : shapes) {
                int[] s = Fill.shape(shape);
                long bytes = (long) s[0] * s[1] * (st == LinearVector.Storage.F32 ? 4 : 2);
                LinearVector[] copies = new LinearVector[Fill.copies(bytes)];
                for (int i = 0; i < copies.length; i++) {
                    copies[i] = new LinearVector(p.pool, st, s[1], Fill.floats(20 + i, s[0] * s[1], 0.05f));
                }
                float[] x = Fill.floats(3, s[1], 1f);
                float[] y = new float[s[0]];
                int[] next = {0};
                Runnable op = () -> {
                    copies[next[0]].forward(x, 0, 1, y, 0, false);
                    next[0] = (next[0] + 1) % copies.length;
                };
                md.append(p.measure(st.name().toLowerCase(), shape, op, bytes + 4L * s[1], rounds));
            }
        }
        System.out.print(md);
        Files.writeString(out, md.toString());
        System.out.println("wrote " + out);
    }

    private String measure(String kernel, String shape, Runnable op, long bytesPerOp, int rounds) {
        // the kernel alone first, so that C2 has compiled its loops before any round counts: a turn of the
        // alternation below runs a ~50 us GEMV once per ~15 ms triad, so warming by alternation alone left the
        // first shape measured half-compiled (2560 x 2560 read 17 GB/s first in the list, 23-30 warm)
        long warmEnd = System.nanoTime() + WARM_NANOS;
        while (System.nanoTime() < warmEnd) {
            op.run();
        }
        for (int r = 0; r < WARM_ROUNDS; r++) {
            round(op, bytesPerOp);
        }
        double[] kernelGb = new double[rounds];
        double[] triadGb = new double[rounds];
        double[] ratio = new double[rounds];
        for (int r = 0; r < rounds; r++) {
            double[] pair = round(op, bytesPerOp);
            triadGb[r] = pair[0];
            kernelGb[r] = pair[1];
            ratio[r] = kernelGb[r] / triadGb[r];
        }
        String row = String.format("| %s | %s | %.2f | %.2f | %.2f | %.2f | %.0f%% | %.0f%% |%n", kernel, shape, median(kernelGb), max(kernelGb),
                median(triadGb), max(triadGb), 100 * median(ratio), 100 * max(kernelGb) / max(triadGb));
        System.out.print(row);
        return row;
    }

    /** One triad op, then the kernel op for as long: {triad GB/s, kernel GB/s}. */
    private double[] round(Runnable op, long bytesPerOp) {
        long t0 = System.nanoTime();
        triadOp();
        long t1 = System.nanoTime();
        int n = 0;
        long k0 = System.nanoTime();
        do {
            op.run();
            n++;
        } while (System.nanoTime() - k0 < t1 - t0);
        long k1 = System.nanoTime();
        return new double[]{3.0 * 4 * TriadBench.N / (t1 - t0), (double) bytesPerOp * n / (k1 - k0)};
    }

    private void triadOp() {
        pool.parallelFor(TriadBench.N, 1 << 16, triad);
    }

    private void triadRange(int from, int to) {
        FloatVector s = FloatVector.broadcast(F, 3f);
        for (int i = from; i < to; i += F.length()) {
            FloatVector.fromArray(F, c, i).fma(s, FloatVector.fromArray(F, b, i)).intoArray(a, i);
        }
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    private static double max(double[] v) {
        return Arrays.stream(v).max().orElse(Double.NaN);
    }
}
