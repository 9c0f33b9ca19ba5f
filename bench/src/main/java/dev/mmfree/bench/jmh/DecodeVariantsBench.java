package dev.mmfree.bench.jmh;

import dev.mmfree.kernels.bitlinear.BitLinearVector;
import dev.mmfree.kernels.linear.LinearVector;
import dev.mmfree.kernels.ternary.TernaryMatrix;
import dev.mmfree.runtime.cpu.CpuPool;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
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
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * How fast one core turns packed weights into products, weights hot in L2 (256 x 2560): the
 * compute side of each kernel's inner loop, which must outrun a core's share of DRAM bandwidth.
 *
 * <pre>
 *   ternaryShift  v1 (kept, BitLinearVector): 8 codes a short lane, decoded by two shifts, multiplied with int16 activations
 *   ternaryMask   v2: two bit-planes (+1, -1) a 32-column chunk, VectorMask.fromLong, masked add and subtract
 *   halfBits      v1 (kept, LinearVector F16): half widened in registers by sign-extend, shift, mask, * 2^112
 *   halfF16c      v2: Float.float16ToFloat over a row into a float scratch (C2: vcvtph2ps), then FMA
 *   float32       LinearVector F32, for scale
 * </pre>
 * Bytes per op: the weights as held.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xmx2g"})
@Warmup(iterations = 2, time = 3)
@Measurement(iterations = 3, time = 2)
public class DecodeVariantsBench {
    static final int OUT = 256;
    static final int IN = 2560;
    static final VectorSpecies<Short> S = ShortVector.SPECIES_PREFERRED;
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    private final CpuPool one = new CpuPool(1);
    private BitLinearVector shift;
    private int[] planes;      // [OUT, IN / L, 2] +1 and -1 bit-planes per chunk of L columns
    private short[] act16;     // [IN] activations widened
    private byte[] q;          // [IN]
    private final float[] factor = {0.01f};
    private float[] outT;      // [OUT]
    private LinearVector half;
    private LinearVector f32;
    private short[] halfBits;  // [OUT, IN]
    private float[] row;       // [IN] scratch of halfF16c
    private float[] x;         // [IN]
    private float[] outF;      // [OUT]

    @Setup
    public void setup() {
        TernaryMatrix w = Fill.ternary(5, OUT, IN);
        shift = new BitLinearVector(one, w);
        int lanes = S.length();
        int chunks = IN / lanes;
        planes = new int[OUT * chunks * 2];
        for (int o = 0; o < OUT; o++) {
            for (int c = 0; c < IN; c++) {
                int t = w.get(o, c);
                int idx = (o * chunks + c / lanes) * 2 + (t > 0 ? 0 : 1);
                if (t != 0) {
                    planes[idx] |= 1 << (c % lanes);
                }
            }
        }
        q = Fill.int8(6, IN);
        act16 = new short[IN];
        for (int i = 0; i < IN; i++) {
            act16[i] = q[i];
        }
        outT = new float[OUT];
        float[] wf = Fill.floats(8, OUT * IN, 0.05f);
        half = new LinearVector(one, LinearVector.Storage.F16, IN, wf);
        f32 = new LinearVector(one, LinearVector.Storage.F32, IN, wf);
        halfBits = new short[OUT * IN];
        for (int i = 0; i < wf.length; i++) {
            halfBits[i] = Float.floatToFloat16(wf[i]);
        }
        row = new float[IN];
        x = Fill.floats(9, IN, 1f);
        outF = new float[OUT];
    }

    @TearDown
    public void tearDown() {
        one.close();
    }

    @Benchmark
    public float[] ternaryShift() {
        shift.forward(q, factor, 1, outT, false);
        return outT;
    }

    @Benchmark
    public float[] ternaryMask() {
        int lanes = S.length();
        int chunks = IN / lanes;
        for (int o = 0; o < OUT; o++) {
            ShortVector acc0 = ShortVector.zero(S);
            ShortVector acc1 = ShortVector.zero(S);
            int base = o * chunks * 2;
            for (int c = 0; c < chunks; c++) {
                ShortVector a = ShortVector.fromArray(S, act16, c * lanes);
                acc0 = acc0.add(a, VectorMask.fromLong(S, planes[base + 2 * c] & 0xFFFFFFFFL));
                acc1 = acc1.sub(a, VectorMask.fromLong(S, planes[base + 2 * c + 1] & 0xFFFFFFFFL));
            }
            ShortVector acc = acc0.add(acc1);
            // IN / L = 80 adds a lane at most 128 each: no short overflow at this size
            int sum = ((IntVector) acc.convert(VectorOperators.S2I, 0)).reduceLanes(VectorOperators.ADD)
                    + ((IntVector) acc.convert(VectorOperators.S2I, 1)).reduceLanes(VectorOperators.ADD);
            outT[o] = sum * factor[0];
        }
        return outT;
    }

    @Benchmark
    public float[] halfBits() {
        half.forward(x, 0, 1, outF, 0, false);
        return outF;
    }

    @Benchmark
    public float[] halfF16c() {
        for (int o = 0; o < OUT; o++) {
            int off = o * IN;
            for (int j = 0; j < IN; j++) {
                row[j] = Float.float16ToFloat(halfBits[off + j]);
            }
            FloatVector acc = FloatVector.zero(F);
            for (int j = 0; j < IN; j += F.length()) {
                acc = FloatVector.fromArray(F, row, j).fma(FloatVector.fromArray(F, x, j), acc);
            }
            outF[o] = acc.reduceLanes(VectorOperators.ADD);
        }
        return outF;
    }

    @Benchmark
    public float[] float32() {
        f32.forward(x, 0, 1, outF, 0, false);
        return outF;
    }

    public static long bytesPerOp(String method, Map<String, String> params) {
        long weights = (long) OUT * IN;
        return switch (method) {
            case "ternaryShift", "ternaryMask" -> weights / 4;
            case "halfBits", "halfF16c" -> weights * 2;
            default -> weights * 4;
        };
    }
}
