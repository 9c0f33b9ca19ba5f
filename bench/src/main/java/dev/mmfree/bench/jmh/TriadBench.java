package dev.mmfree.bench.jmh;

import dev.mmfree.runtime.cpu.CpuPool;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The machine's memory bandwidth, STREAM style, on all cores of {@link CpuPool}: every kernel's
 * GB/s is reported as a fraction of {@code triad}.
 *
 * <pre>
 *   triad: a[i] = b[i] + s * c[i]     3 x 256 MB float arrays; counted as 3 x 256 MB a op (STREAM's convention)
 *   dot:   sum b[i] * c[i]            2 x 256 MB read, nothing written (what a GEMV does)
 * </pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xmx6g"})
@Warmup(iterations = 2, time = 3)
@Measurement(iterations = 3, time = 2)
public class TriadBench {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final int N = 64 << 20;

    private final CpuPool pool = CpuPool.shared();
    private float[] a;
    private float[] b;
    private float[] c;
    private final float[] partial = new float[1024];
    private final CpuPool.RangeTask triad = this::triadRange;
    private final CpuPool.RangeTask dot = this::dotRange;

    @Setup
    public void setup() {
        a = new float[N];
        b = Fill.floats(1, N, 1f);
        c = Fill.floats(2, N, 1f);
    }

    @Benchmark
    public float[] triad() {
        pool.parallelFor(N, 1 << 16, triad);
        return a;
    }

    @Benchmark
    public float dot() {
        pool.parallelFor(N, 1 << 16, dot);
        float s = 0;
        for (float p : partial) {
            s += p;
        }
        return s;
    }

    private void triadRange(int from, int to) {
        FloatVector s = FloatVector.broadcast(F, 3f);
        for (int i = from; i < to; i += F.length()) {
            FloatVector.fromArray(F, c, i).fma(s, FloatVector.fromArray(F, b, i)).intoArray(a, i);
        }
    }

    private void dotRange(int from, int to) {
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = FloatVector.zero(F);
        for (int i = from; i < to; i += 2 * F.length()) {
            acc0 = FloatVector.fromArray(F, b, i).fma(FloatVector.fromArray(F, c, i), acc0);
            acc1 = FloatVector.fromArray(F, b, i + F.length()).fma(FloatVector.fromArray(F, c, i + F.length()), acc1);
        }
        partial[(int) ((long) from * partial.length / N)] = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
    }

    public static long bytesPerOp(String method, Map<String, String> params) {
        return (method.equals("triad") ? 3L : 2L) * 4L * N;
    }
}
