package dev.mmfree.kernels.mlgru;

import dev.mmfree.kernels.bitlinear.BitLinearReference;
import dev.mmfree.kernels.bitlinear.DeviceTernaryMatrix;
import dev.mmfree.kernels.opencl.ClDeviceTest;
import dev.mmfree.kernels.opencl.ClTesting;
import dev.mmfree.kernels.opencl.Tiling;
import dev.mmfree.kernels.rmsnormquant.RmsNormQuantReference;
import dev.mmfree.kernels.swiglu.SwiGluReference;
import dev.mmfree.kernels.ternary.TernaryMatrix;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.MemoryCategory;
import dev.mmfree.runtime.MmfreeException;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * MLGRU kernels against {@link MlgruReference}, and the fused o_proj step against the reference
 * composition (MLGRU step, then BitLinear(o; o_proj) with its own norm). The kernels follow the
 * reference's float steps (sigmoid and norm sums in double): bit for bit on an fp64 device
 * ({@link ClTesting#assertFollowsReference}).
 */
class MlgruOpenClTest extends ClDeviceTest {

    @Test
    void scanMatchesReferenceSteps() {
        Random r = new Random(31);
        for (MlgruOpenCl.ScanPath path : MlgruOpenCl.ScanPath.values()) {
            try (MlgruOpenCl k = new MlgruOpenCl(device, ClTesting.tilings(device)[0], path)) {
                // the channel kernel loads 8 tokens ahead (t = 37: four blocks and a tail of 5); the token kernel
                // takes blocks of 16 tokens by 16 channels (d = 100: a partial group; t = 37: a partial block)
                for (int[] s : new int[][]{{100, 1, 1}, {257, 5, 3}, {64, 2, 2}, {70, 8, 1}, {100, 37, 2}, {33, 16, 3}, {16, 48, 1}}) {
                    scanCase(k, r, s[0], s[1], s[2]);
                }
            }
        }
    }

    @Test
    void scanPathComesFromItsSetting() {
        assertEquals(MlgruOpenCl.ScanPath.AUTO, MlgruOpenCl.ScanPath.parse(null));
        assertEquals(MlgruOpenCl.ScanPath.AUTO, MlgruOpenCl.ScanPath.parse(" "));
        assertEquals(MlgruOpenCl.ScanPath.AUTO, MlgruOpenCl.ScanPath.parse("auto"));
        assertEquals(MlgruOpenCl.ScanPath.CHANNELS, MlgruOpenCl.ScanPath.parse("channels"));
        assertEquals(MlgruOpenCl.ScanPath.TOKENS, MlgruOpenCl.ScanPath.parse("Tokens"));
        MmfreeException e = assertThrows(MmfreeException.class, () -> MlgruOpenCl.ScanPath.parse("time"));
        assertTrue(e.getMessage().contains(MlgruOpenCl.ENV) && e.getMessage().contains("'time'"), e.getMessage());
    }

    @Test
    void autoTakesTheTokenKernelForFewChannels() {
        MlgruOpenCl.ScanPath auto = MlgruOpenCl.ScanPath.AUTO;
        assertEquals(MlgruOpenCl.ScanPath.TOKENS, auto.resolve(1, 1024));                // 370M, batch 1
        assertEquals(MlgruOpenCl.ScanPath.TOKENS, auto.resolve(1, 2560));                // 2.7B, batch 1
        assertEquals(MlgruOpenCl.ScanPath.CHANNELS, auto.resolve(64, 1024));             // 370M, batch 64
        assertEquals(MlgruOpenCl.ScanPath.CHANNELS, auto.resolve(1, MlgruOpenCl.AUTO_TOKENS_BELOW));
        assertEquals(MlgruOpenCl.ScanPath.TOKENS, auto.resolve(1, MlgruOpenCl.AUTO_TOKENS_BELOW - 1));
        assertEquals(MlgruOpenCl.ScanPath.CHANNELS, auto.resolve(65536, 65536));         // no int overflow
        assertEquals(MlgruOpenCl.ScanPath.CHANNELS, MlgruOpenCl.ScanPath.CHANNELS.resolve(1, 16));
        assertEquals(MlgruOpenCl.ScanPath.TOKENS, MlgruOpenCl.ScanPath.TOKENS.resolve(64, 65536));
    }

    private void scanCase(MlgruOpenCl k, Random r, int d, int t, int b) {
        String what = "scan (" + k.path() + ") d " + d + " t " + t + " b " + b;
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
