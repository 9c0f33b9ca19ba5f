package dev.mmfree.bench.jmh;

import dev.mmfree.kernels.bitlinear.BitLinearVector;
import dev.mmfree.kernels.ternary.TernaryMatrix;
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
 * The ternary accumulate ({@link BitLinearVector}) at the 2.7B model's shapes, on all cores, weights
 * cold: each op uses the next of enough copies to fill {@link Fill#ROTATION_BYTES}, as a decode
 * step streams every layer's weights from DRAM.
 *
 * <pre>
 *   2560x2560    i, f, g or o_proj alone          7680x2560   i|f|g stacked (one loop)
 *   13824x2560   gate_proj (gate | up)             2560x6912   down_proj        32000x2560   lm_head
 *   rows 1: GEMV (decode);  rows 16: GEMM (16 sequences decoding, or a prefill tile)
 * </pre>
 * Bytes per op: the packed codes as held (2 bits a weight) plus the int8 activations.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xmx6g"})
@Warmup(iterations = 2, time = 3)
@Measurement(iterations = 3, time = 2)
public class BitLinearBench {
    @Param({"2560x2560", "7680x2560", "13824x2560", "2560x6912", "32000x2560"})
    public String shape;

    @Param({"1", "16"})
    public int rows;

    private BitLinearVector[] copies;
    private byte[] q;          // [rows, in] int8
    private float[] factor;    // [rows]
    private float[] out;       // [rows, out]
    private int next;

    @Setup
    public void setup() {
        int[] s = Fill.shape(shape);
        TernaryMatrix w = Fill.ternary(7, s[0], s[1]);
        copies = new BitLinearVector[Fill.copies(BitLinearVector.packedBytes(s[0], s[1]))];
        for (int i = 0; i < copies.length; i++) {
            copies[i] = new BitLinearVector(CpuPool.shared(), w);
        }
        q = Fill.int8(11, rows * s[1]);
        factor = Fill.floats(12, rows, 0.01f);
        out = new float[rows * s[0]];
    }

    @Benchmark
    public float[] forward() {
        BitLinearVector k = copies[next];
        next = next + 1 == copies.length ? 0 : next + 1;
        k.forward(q, factor, rows, out, false);
        return out;
    }

    public static long bytesPerOp(String method, Map<String, String> params) {
        int[] s = Fill.shape(params.get("shape"));
        int r = Integer.parseInt(params.get("rows"));
        return BitLinearVector.packedBytes(s[0], s[1]) + (long) r * s[1];
    }
}
