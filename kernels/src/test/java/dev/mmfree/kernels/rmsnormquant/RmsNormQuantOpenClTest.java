package dev.mmfree.kernels.rmsnormquant;

import dev.mmfree.kernels.bitlinear.QuantizedInput;
import dev.mmfree.kernels.mlgru.MlgruReference;
import dev.mmfree.kernels.opencl.ClDeviceTest;
import dev.mmfree.kernels.opencl.ClTesting;
import dev.mmfree.kernels.opencl.Tiling;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.MemoryCategory;
import dev.mmfree.runtime.MmfreeException;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * rms_norm_quant_f32_i8 and mlgru_norm_quant_f32_i8 against {@link RmsNormQuantReference} (and
 * {@link MlgruReference}): the int8 codes must equal the
 * reference's ({@link ClTesting#assertCodes}), the padding must be zero, qsum must be the exact sum
 * of the codes, and the factor a/127 as {@link ClTesting#assertFollowsReference}.
 */
class RmsNormQuantOpenClTest extends ClDeviceTest {

    @Test
    void codesMatchReference() {
        Random r = new Random(21);
        // the GEMM tilings, and the norm-quantize's own: this device's and the GPU's 512 work-items
        Set<Tiling> tilings = new LinkedHashSet<>(List.of(ClTesting.tilings(device)));
        tilings.add(Tiling.normQuantForDevice(device.info()));
        tilings.add(new Tiling(64, 8, 8, Tiling.forDevice(device.info()).ptx()));
        for (Tiling tiling : tilings) {
            try (RmsNormQuantOpenCl k = new RmsNormQuantOpenCl(device, tiling)) {
                // 512 and 513: either side of the held rows' limit (NQ_HELD = 8 elements a work-item) at 64 work-items
                for (int kIn : new int[]{100, 1000, 64, 3, 512, 513}) {
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

    /** A batched decode step's MLGRU fused with the output gate's norm-quantize, on the tilings above; states poisoned. */
    @Test
    void mlgruStepThenNormQuantMatchesReference() {
        Random r = new Random(23);
        Set<Tiling> tilings = new LinkedHashSet<>(List.of(ClTesting.tilings(device)));
        tilings.add(Tiling.normQuantForDevice(device.info()));
        for (Tiling tiling : tilings) {
            try (RmsNormQuantOpenCl k = new RmsNormQuantOpenCl(device, tiling)) {
                for (int d : new int[]{3, 100, 1000}) {
                    for (int rows : new int[]{1, 3}) {
                        mlgruCase(k, r, d, rows);
                    }
                }
            }
        }
    }

    private void mlgruCase(RmsNormQuantOpenCl k, Random r, int d, int rows) {
        String what = "mlgru d " + d + " rows " + rows;
        float[] ifg = ClTesting.gaussian(r, rows * 3 * d, 2f);
        float[] lb = new float[d];
        for (int j = 0; j < d; j++) {
            lb[j] = r.nextFloat() * 0.9f;
        }
        float[] state0 = ClTesting.gaussian(r, rows * d, 1f);
        float[] gNorm = ClTesting.normWeights(r, d);
        float[] oNorm = ClTesting.normWeights(r, d);
        float eps = 1e-5f;
        int kPad = QuantizedInput.kPad(d);
        try (DeviceBuffer ifgB = device.upload(MemoryCategory.WORKSPACE, "ifg", ifg);
             DeviceBuffer lbB = device.upload(MemoryCategory.WEIGHTS, "lb", lb);
             DeviceBuffer in = device.upload(MemoryCategory.STATE, "state in", state0);
             DeviceBuffer out = ClTesting.poisoned(device, 4L * rows * d, "state out");
             DeviceBuffer gn = device.upload(MemoryCategory.WEIGHTS, "g norm", gNorm);
             DeviceBuffer on = device.upload(MemoryCategory.WEIGHTS, "o norm", oNorm);
             QuantizedInput qi = QuantizedInput.allocate(device, MemoryCategory.WORKSPACE, "q", 1, rows, d)) {
            device.fill(qi.q(), 0x5a5a5a5a);
            device.fill(qi.factor(), ClTesting.POISON);
            device.fill(qi.qsum(), 0x5a5a5a5a);
            try (Launch l = k.mlgruNormQuant(ifgB, lbB, in, out, gn, eps, on, RmsNormQuantReference.EPS, qi, rows)) {
                l.enqueue(device);
            }
            float[] gotState = new float[rows * d];
            byte[] q = new byte[rows * kPad];
            float[] factor = new float[rows];
            int[] qsum = new int[rows];
            device.read(out, gotState);
            device.read(qi.q(), q);
            device.read(qi.factor(), factor);
            device.read(qi.qsum(), qsum);
            float[] refState = new float[rows * d];
            for (int t = 0; t < rows; t++) {
                String at = what + " row " + t;
                float[] i = Arrays.copyOfRange(ifg, t * 3 * d, t * 3 * d + d);
                float[] fPre = Arrays.copyOfRange(ifg, t * 3 * d + d, t * 3 * d + 2 * d);
                float[] g = Arrays.copyOfRange(ifg, t * 3 * d + 2 * d, t * 3 * d + 3 * d);
                float[] state = Arrays.copyOfRange(state0, t * d, (t + 1) * d);
                float[] o = new float[d];
                MlgruReference.step(i, fPre, g, 0, lb, gNorm, eps, state, o, d);
                System.arraycopy(state, 0, refState, t * d, d);
                float[] y = new float[d];
                RmsNormQuantReference.rmsNorm(o, 0, oNorm, y, 0, d);
                byte[] refQ = new byte[d];
                float refFactor = RmsNormQuantReference.quantize(y, 0, refQ, 0, d);
                ClTesting.assertCodes(device, at, y, 1 / refFactor, refQ, Arrays.copyOfRange(q, t * kPad, t * kPad + d));
                int sum = 0;
                for (int j = 0; j < kPad; j++) {
                    sum += q[t * kPad + j];
                    if (j >= d) {
                        assertEquals(0, q[t * kPad + j], at + ": padding code " + j);
                    }
                }
                assertEquals(sum, qsum[t], at + ": qsum");
                ClTesting.assertFollowsReference(device, at + ": factor", new float[]{refFactor}, new float[]{factor[t]});
            }
            ClTesting.assertFollowsReference(device, what + " state", refState, gotState);
            assertThrows(MmfreeException.class, () -> k.mlgruNormQuant(ifgB, lbB, in, in, gn, eps, on, RmsNormQuantReference.EPS, qi, rows),
                    "one buffer for both states");
        }
    }
}
