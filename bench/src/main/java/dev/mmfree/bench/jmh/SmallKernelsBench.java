package dev.mmfree.bench.jmh;

import dev.mmfree.kernels.attention.AttentionVector;
import dev.mmfree.kernels.mlgru.MlgruVector;
import dev.mmfree.kernels.rmsnormquant.RmsNormQuantVector;
import dev.mmfree.kernels.swiglu.SwiGluVector;
import dev.mmfree.runtime.cpu.CpuPool;
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
 * The element-wise kernels of one decode step at the 2.7B shapes (d 2560, I 6912), and attention
 * over a 1024-token KV cache for the Transformer++ of the same width (32 heads of 80):
 *
 * <pre>
 *   normNormQuant3   block norm then i/f/g norms + int8 quantize, one token      reads x [d]
 *   mlgruStep        MLGRU step + output gate, one token                         reads ifg [3d], state [d]
 *   mlgruScan64      the same over 64 tokens (a prefill pass)                    reads ifg [64, 3d], state [d]
 *   swiGluQuant      silu(gate) * up, down_proj norm + quantize, one token       reads gateUp [2I]
 *   attentionDecode  one query token, 32 heads over 1024 cached positions        reads K, V [32, 1024, 80]
 *   attentionPrefill 512 query tokens from position 0, causal, 32 heads (tiled)   reads K, V [32, 512, 80] (counted once)
 * </pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xmx2g"})
@Warmup(iterations = 2, time = 3)
@Measurement(iterations = 3, time = 2)
public class SmallKernelsBench {
    static final int D = 2560;
    static final int I = 6912;
    static final int HEADS = 32;
    static final int HD = 80;
    static final int CTX = 1024;
    static final int PREFILL = 512;

    private final CpuPool pool = CpuPool.shared();
    private float[] x;            // [64, d]
    private float[] norm;         // [d]
    private float[][] parts;      // [3][d]
    private float[] h;            // [d]
    private byte[] q;             // [3, 64 * d] covers every kernel's codes
    private float[] factor;       // [3 * 64]
    private float[] ifg;          // [64, 3d]
    private float[] lb;           // [d]
    private float[] state;        // [d]
    private float[] o;            // [64, d]
    private float[] gateUp;       // [2I]
    private float[] p;            // [I]
    private float[] wDown;        // [I]
    private float[] prefillQuery; // [PREFILL, HEADS * HD]
    private float[] prefillOut;   // [PREFILL, HEADS * HD]
    private AttentionVector attention;
    private float[] query;        // [H * hd]
    private float[][] keys;       // [1][H, CTX, hd]
    private float[][] values;
    private float[] attn;         // [H * hd]

    @Setup
    public void setup() {
        x = Fill.floats(1, 64 * D, 1f);
        norm = Fill.floats(2, D, 1f);
        parts = new float[][]{Fill.floats(3, D, 1f), Fill.floats(4, D, 1f), Fill.floats(5, D, 1f)};
        h = new float[64 * D];
        q = new byte[3 * 64 * Math.max(D, I)];
        factor = new float[3 * 64];
        ifg = Fill.floats(6, 64 * 3 * D, 2f);
        lb = Fill.floats(7, D, 0.5f);
        state = new float[D];
        o = new float[64 * D];
        gateUp = Fill.floats(8, 2 * I, 2f);
        p = new float[I];
        wDown = Fill.floats(9, I, 1f);
        attention = new AttentionVector(pool, HEADS, HEADS, HD);
        query = Fill.floats(10, HEADS * HD, 1f);
        keys = new float[][]{Fill.floats(11, HEADS * CTX * HD, 1f)};
        values = new float[][]{Fill.floats(12, HEADS * CTX * HD, 1f)};
        attn = new float[HEADS * HD];
        prefillQuery = Fill.floats(13, PREFILL * HEADS * HD, 1f);
        prefillOut = new float[PREFILL * HEADS * HD];
    }

    @Benchmark
    public byte[] normNormQuant3() {
        RmsNormQuantVector.normNormQuantize(pool, x, 1, D, norm, 1e-6, parts, h, q, factor);
        return q;
    }

    @Benchmark
    public float[] mlgruStep() {
        MlgruVector.scan(pool, ifg, 1, 1, D, lb, norm, 1e-6, state, 0, o);
        return o;
    }

    @Benchmark
    public float[] mlgruScan64() {
        MlgruVector.scan(pool, ifg, 1, 64, D, lb, norm, 1e-6, state, 0, o);
        return o;
    }

    @Benchmark
    public byte[] swiGluQuant() {
        SwiGluVector.applyNormQuantize(pool, gateUp, 1, I, wDown, p, q, factor);
        return q;
    }

    @Benchmark
    public float[] attentionDecode() {
        attention.forward(query, 1, 1, keys, values, 0, CTX, CTX - 1, attn);
        return attn;
    }

    @Benchmark
    public float[] attentionPrefill() {
        attention.forward(prefillQuery, 1, PREFILL, keys, values, 0, CTX, 0, prefillOut);
        return prefillOut;
    }

    public static long bytesPerOp(String method, Map<String, String> params) {
        return switch (method) {
            case "normNormQuant3" -> 4L * D;
            case "mlgruStep" -> 4L * 4 * D;
            case "mlgruScan64" -> 4L * (64 * 3 * D + D);
            case "swiGluQuant" -> 4L * 2 * I;
            case "attentionPrefill" -> 2L * 4 * HEADS * PREFILL * HD;
            default -> 2L * 4 * HEADS * CTX * HD;
        };
    }
}
