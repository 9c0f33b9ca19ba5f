package dev.mmfree.kernels.mlgru;

import dev.mmfree.kernels.bitlinear.BitLinearReference;
import dev.mmfree.kernels.bitlinear.DeviceTernaryMatrix;
import dev.mmfree.kernels.bitlinear.QuantizedInput;
import dev.mmfree.kernels.opencl.ClTesting;
import dev.mmfree.kernels.opencl.Tiling;
import dev.mmfree.kernels.rmsnormquant.RmsNormQuantReference;
import dev.mmfree.kernels.swiglu.SwiGluReference;
import dev.mmfree.kernels.ternary.TernaryMatrix;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.MemoryCategory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * MLGRU kernels against {@link MlgruReference}, and the fused o_proj step against the reference
 * composition (MLGRU step, then BitLinear(o; o_proj) with its own norm). The kernels follow the
 * reference's float steps (sigmoid and norm sums in double): bit for bit on an fp64 device
 * ({@link ClTesting#assertFollowsReference}).
 */
class MlgruOpenClTest {
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
    void scanMatchesReferenceSteps() {
        Random r = new Random(31);
        try (MlgruOpenCl k = new MlgruOpenCl(device, ClTesting.tilings(device)[0])) {
            for (int[] s : new int[][]{{100, 1, 1}, {257, 5, 3}, {64, 2, 2}}) {
                scanCase(k, r, s[0], s[1], s[2]);
            }
        }
    }

    /** Every tiling (the work-group size sets which work-item owns which channel and the reduction order). */
    @Test
    void scanNormQuantMatchesReference() {
        Random r = new Random(37);
        for (Tiling tiling : ClTesting.tilings(device)) {
            try (MlgruOpenCl k = new MlgruOpenCl(device, tiling)) {
                for (int[] s : new int[][]{{100, 1, 1}, {257, 1, 5}, {64, 3, 2}, {1000, 2, 3}, {3, 1, 2}}) {
                    scanNormQuantCase(k, r, s[0], s[1], s[2]);
                }
            }
        }
    }

    private void scanNormQuantCase(MlgruOpenCl k, Random r, int d, int t, int b) {
        String what = "scan+norm-quantize d " + d + " t " + t + " b " + b;
        float[] ifg = ClTesting.gaussian(r, b * t * 3 * d, 2f);
        float[] lb = new float[d];
        for (int j = 0; j < d; j++) {
            lb[j] = r.nextFloat() * 0.9f;
        }
        float[] gNorm = ClTesting.normWeights(r, d);
        float[] oNorm = ClTesting.normWeights(r, d);
        float eps1 = 1e-6f;
        float[] state0 = ClTesting.gaussian(r, b * d, 1f);
        float[] refState = state0.clone();
        float[][] refY = new float[b * t][d];
        for (int q = 0; q < b; q++) {
            float[] s = Arrays.copyOfRange(refState, q * d, (q + 1) * d);
            for (int p = 0; p < t; p++) {
                int row = q * t + p;
                float[] o = Arrays.copyOfRange(ifg, row * 3 * d + 2 * d, row * 3 * d + 3 * d);
                RmsNormQuantReference.rmsNorm(o, 0, gNorm, o, 0, d, eps1);
                for (int j = 0; j < d; j++) {
                    float f = lb[j] + (1 - lb[j]) * SwiGluReference.sigmoid(ifg[row * 3 * d + d + j]);
                    s[j] = f * s[j] + SwiGluReference.silu(ifg[row * 3 * d + j]) * (1 - f);
                    o[j] *= SwiGluReference.silu(s[j]);
                }
                RmsNormQuantReference.rmsNorm(o, 0, oNorm, refY[row], 0, d);
            }
            System.arraycopy(s, 0, refState, q * d, d);
        }
        int kPad = QuantizedInput.kPad(d);
        try (DeviceBuffer ifgB = device.upload(MemoryCategory.WORKSPACE, "ifg", ifg);
             DeviceBuffer lbB = device.upload(MemoryCategory.WEIGHTS, "lb", lb);
             DeviceBuffer n1 = device.upload(MemoryCategory.WEIGHTS, "g_norm", gNorm);
             DeviceBuffer n2 = device.upload(MemoryCategory.WEIGHTS, "o norm", oNorm);
             DeviceBuffer in = device.upload(MemoryCategory.STATE, "state in", state0);
             DeviceBuffer out = ClTesting.poisoned(device, 4L * b * d, "state out");
             QuantizedInput qOut = QuantizedInput.allocate(device, MemoryCategory.WORKSPACE, "q", 1, b * t + 1, d)) {
            device.fill(qOut.q(), 0x5a5a5a5a);
            device.fill(qOut.factor(), ClTesting.POISON);
            device.fill(qOut.qsum(), 0x5a5a5a5a);
            try (Launch l = k.scanNormQuant(ifgB, lbB, in, out, n1, eps1, n2, RmsNormQuantReference.EPS, qOut, d, t, b)) {
                l.enqueue(device);
            }
            float[] gotState = new float[b * d];
            device.read(out, gotState);
            ClTesting.assertFollowsReference(device, what + " state", refState, gotState);
            byte[] q = new byte[(b * t + 1) * kPad];
            float[] factor = new float[b * t + 1];
            int[] qsum = new int[b * t + 1];
            device.read(qOut.q(), q);
            device.read(qOut.factor(), factor);
            device.read(qOut.qsum(), qsum);
            for (int row = 0; row < b * t; row++) {
                String at = what + " row " + row;
                byte[] refQ = new byte[d];
                float refFactor = RmsNormQuantReference.quantize(refY[row], 0, refQ, 0, d);
                int base = row * kPad;
                ClTesting.assertCodes(device, at, refY[row], 1 / refFactor, refQ, Arrays.copyOfRange(q, base, base + d));
                int sum = 0;
                for (int j = 0; j < kPad; j++) {
                    sum += q[base + j];
                    if (j >= d) {
                        assertEquals(0, q[base + j], at + ": padding code " + j);
                    }
                }
                assertEquals(sum, qsum[row], at + ": qsum");
                ClTesting.assertFollowsReference(device, at + ": factor", new float[]{refFactor}, new float[]{factor[row]});
            }
            assertEquals(0x5a5a5a5a, qsum[b * t], what + ": qsum past the last row was written");
        }
    }

    private void scanCase(MlgruOpenCl k, Random r, int d, int t, int b) {
        String what = "scan d " + d + " t " + t + " b " + b;
        float[] ifg = ClTesting.gaussian(r, b * t * 3 * d, 2f);
        float[] lb = new float[d];
        for (int j = 0; j < d; j++) {
            lb[j] = r.nextFloat() * 0.9f;
        }
        float[] state0 = ClTesting.gaussian(r, b * d, 1f);
        float[] refState = state0.clone();
        float[] refGate = new float[b * t * d];
        for (int q = 0; q < b; q++) {
            float[] s = Arrays.copyOfRange(refState, q * d, (q + 1) * d);
            for (int p = 0; p < t; p++) {
                int row = (q * t + p) * 3 * d;
                for (int j = 0; j < d; j++) {
                    float f = lb[j] + (1 - lb[j]) * SwiGluReference.sigmoid(ifg[row + d + j]);
                    s[j] = f * s[j] + SwiGluReference.silu(ifg[row + j]) * (1 - f);
                    refGate[(q * t + p) * d + j] = SwiGluReference.silu(s[j]);
                }
            }
            System.arraycopy(s, 0, refState, q * d, d);
        }
        try (DeviceBuffer ifgB = device.upload(MemoryCategory.WORKSPACE, "ifg", ifg);
             DeviceBuffer lbB = device.upload(MemoryCategory.WEIGHTS, "lb", lb);
             DeviceBuffer in = device.upload(MemoryCategory.STATE, "state in", state0);
             DeviceBuffer out = ClTesting.poisoned(device, 4L * b * d, "state out");
             DeviceBuffer gate = ClTesting.poisoned(device, 4L * b * t * d, "gate")) {
            try (Launch l = k.scan(ifgB, lbB, in, out, gate, d, t, b)) {
                l.enqueue(device);
            }
            float[] gotState = new float[b * d];
            float[] gotGate = new float[b * t * d];
            device.read(out, gotState);
            device.read(gate, gotGate);
            ClTesting.assertFollowsReference(device, what + " state", refState, gotState);
            ClTesting.assertFollowsReference(device, what + " gate", refGate, gotGate);
        }
    }
}
