package dev.mmfree.kernels.rmsnormquant;

import dev.mmfree.kernels.bitlinear.QuantizedInput;
import dev.mmfree.kernels.opencl.ClTesting;
import dev.mmfree.kernels.opencl.Tiling;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.MemoryCategory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * rms_norm_quant_f32_i8 against {@link RmsNormQuantReference}: the int8 codes must equal the
 * reference's ({@link ClTesting#assertCodes}), the padding must be zero, qsum must be the exact sum
 * of the codes, and the factor a/127 as {@link ClTesting#assertFollowsReference}.
 */
class RmsNormQuantOpenClTest {
    private static Device device;

    @BeforeAll
    static void open() {
        device = ClTesting.openOrSkip();
    }

    @AfterAll
    static void close() {
        if (device != null) {
            device.close();
        }
    }

    @Test
    void codesMatchReference() {
        Random r = new Random(21);
        // the GEMM tilings, and the norm-quantize's own: this device's and the GPU's 512 work-items
        Set<Tiling> tilings = new LinkedHashSet<>(List.of(ClTesting.tilings(device)));
        tilings.add(Tiling.normQuantForDevice(device.info()));
        tilings.add(new Tiling(64, 8, 8, Tiling.forDevice(device.info()).ptx()));
        for (Tiling tiling : tilings) {
            try (RmsNormQuantOpenCl k = new RmsNormQuantOpenCl(device, tiling)) {
                for (int kIn : new int[]{100, 1000, 64, 3}) {
                    for (int rows : new int[]{1, 3}) {
                        for (int projections : new int[]{1, 3}) {
                            check(k, r, kIn, rows, projections, true, false);
                        }
                        check(k, r, kIn, rows, 1, false, false);
                        check(k, r, kIn, rows, 1, true, true);
                    }
                }
            }
        }
    }

    /** Rows of x at a stride (with an offset) as the MLGRU's g sits inside [i | f | g]. */
    private void check(RmsNormQuantOpenCl k, Random r, int kIn, int rows, int projections, boolean hasNorm1, boolean hasMult) {
        String what = "K " + kIn + " rows " + rows + " P " + projections + (hasNorm1 ? " norm1" : "") + (hasMult ? " mult" : "");
        int stride = 3 * kIn + 5;
        int offset = 2 * kIn;
        float[] x = ClTesting.gaussian(r, rows * stride, 2f);
        float[] mult = ClTesting.gaussian(r, rows * kIn, 1f);
        float[] norm1 = ClTesting.normWeights(r, kIn);
        float[] norm2 = ClTesting.normWeights(r, projections * kIn);
        float eps1 = 1e-5f;
        int kPad = QuantizedInput.kPad(kIn);
        try (DeviceBuffer xb = device.upload(MemoryCategory.WORKSPACE, "x", x);
             DeviceBuffer mb = device.upload(MemoryCategory.WORKSPACE, "mult", mult);
             DeviceBuffer n1 = device.upload(MemoryCategory.WEIGHTS, "norm1", norm1);
             DeviceBuffer n2 = device.upload(MemoryCategory.WEIGHTS, "norm2", norm2);
             QuantizedInput out = QuantizedInput.allocate(device, MemoryCategory.WORKSPACE, "q", projections, rows, kIn)) {
            device.fill(out.q(), 0x5a5a5a5a);
            device.fill(out.factor(), ClTesting.POISON);
            device.fill(out.qsum(), 0x5a5a5a5a);
            try (Launch l = k.normQuant(xb, stride, offset, hasMult ? mb : null, hasNorm1 ? n1 : null, eps1, n2,
                    RmsNormQuantReference.EPS, out, rows)) {
                l.enqueue(device);
            }
            byte[] q = new byte[projections * rows * kPad];
            float[] factor = new float[projections * rows];
            int[] qsum = new int[projections * rows];
            device.read(out.q(), q);
            device.read(out.factor(), factor);
            device.read(out.qsum(), qsum);
            for (int t = 0; t < rows; t++) {
                float[] v = Arrays.copyOfRange(x, t * stride + offset, t * stride + offset + kIn);
                if (hasNorm1) {
                    RmsNormQuantReference.rmsNorm(v, 0, norm1, v, 0, kIn, eps1);
                }
                if (hasMult) {
                    for (int j = 0; j < kIn; j++) {
                        v[j] *= mult[t * kIn + j];
                    }
                }
                for (int p = 0; p < projections; p++) {
                    String at = what + " row " + t + " proj " + p;
                    float[] y = new float[kIn];
                    RmsNormQuantReference.rmsNorm(v, 0, Arrays.copyOfRange(norm2, p * kIn, (p + 1) * kIn), y, 0, kIn);
                    byte[] refQ = new byte[kIn];
                    float refFactor = RmsNormQuantReference.quantize(y, 0, refQ, 0, kIn);
                    int base = (p * rows + t) * kPad;
                    ClTesting.assertCodes(device, at, y, 1 / refFactor, refQ, Arrays.copyOfRange(q, base, base + kIn));
                    int sum = 0;
                    for (int j = 0; j < kPad; j++) {
                        sum += q[base + j];
                        if (j >= kIn) {
                            assertEquals(0, q[base + j], at + ": padding code " + j);
                        }
                    }
                    assertEquals(sum, qsum[p * rows + t], at + ": qsum");
                    ClTesting.assertFollowsReference(device, at + ": factor", new float[]{refFactor}, new float[]{factor[p * rows + t]});
                }
            }
        }
    }
}
