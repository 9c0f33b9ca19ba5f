package dev.mmfree.bench.jmh;

import dev.mmfree.kernels.linear.LinearVector;
import dev.mmfree.runtime.cpu.CpuPool;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The Transformer++ baseline's dense layer ({@link LinearVector}) at the same shapes as
 * {@link BitLinearBench}, float32 and float16 storage, weights cold the same way (copies rotated
 * through {@link Fill#ROTATION_BYTES}; a float32 [32000, 2560] is larger than that alone).
 * Bytes per op: the weights as held plus the float32 activations.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xmx6g"})
@Warmup(iterations = 2, time = 3)
@Measurement(iterations = 3, time = 2)
public class LinearBench {
    @Param({"2560x2560", "7680x2560", "13824x2560", "2560x6912", "32000x2560"})
    public String shape;

    @Param({"F32", "F16"})
    public LinearVector.Storage storage;

    @Param({"1", "16"})
    public int rows;

    private LinearVector[] copies;
    private float[] x;         // [rows, in]
    private float[] y;         // [rows, out]
    private int next;

    @Setup
    public void setup() {
        int[] s = Fill.shape(shape);
        long bytes = (long) s[0] * s[1] * (storage == LinearVector.Storage.F32 ? 4 : 2);
        copies = new LinearVector[Fill.copies(bytes)];
        for (int i = 0; i < copies.length; i++) {
            copies[i] = new LinearVector(CpuPool.shared(), storage, s[1], Fill.floats(20 + i, s[0] * s[1], 0.05f));
        }
        x = Fill.floats(3, rows * s[1], 1f);
        y = new float[rows * s[0]];
    }

    @Benchmark
    public float[] forward() {
        LinearVector k = copies[next];
        next = next + 1 == copies.length ? 0 : next + 1;
        k.forward(x, 0, rows, y, 0, false);
        return y;
    }

    public static long bytesPerOp(String method, Map<String, String> params) {
        int[] s = Fill.shape(params.get("shape"));
        int r = Integer.parseInt(params.get("rows"));
        int w = params.get("storage").equals("F32") ? 4 : 2;
        return (long) s[0] * s[1] * w + 4L * r * s[1];
    }
}
