package dev.mmfree.kernels.swiglu;

import dev.mmfree.kernels.bitlinear.BitLinearReference;
import dev.mmfree.kernels.bitlinear.DeviceTernaryMatrix;
import dev.mmfree.kernels.bitlinear.QuantizedInput;
import dev.mmfree.kernels.opencl.ClDeviceTest;
import dev.mmfree.kernels.opencl.ClTesting;
import dev.mmfree.kernels.opencl.Tiling;
import dev.mmfree.kernels.rmsnormquant.RmsNormQuantReference;
import dev.mmfree.kernels.ternary.TernaryMatrix;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.MemoryCategory;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * SwiGLU kernels against {@link SwiGluReference} then {@link RmsNormQuantReference}: codes as in
 * {@link ClTesting#assertCodes}, qsum exact; factors and the fused down_proj's output against the
 * reference composition as {@link ClTesting#assertFollowsReference}.
 */
class SwiGluOpenClTest extends ClDeviceTest {

    @Test
    void normQuantMatchesReference() {
        Random r = new Random(41);
        boolean ptx = Tiling.forDevice(device.info()).ptx();
        // the GEMM tiling, the model's SwiGLU tiling on this device, and the GPU's 1024-item one
        for (Tiling tiling : new Tiling[]{ClTesting.tilings(device)[0], Tiling.swiGluForDevice(device.info()),
                new Tiling(64, 16, 8, ptx)}) {
            try (SwiGluOpenCl k = new SwiGluOpenCl(device, tiling)) {
                for (int i : new int[]{100, 1000, 3, 6912}) {
                    for (int rows : new int[]{1, 4}) {
                        normQuantCase(k, r, i, rows);
                    }
                }
            }
        }
    }

    private void normQuantCase(SwiGluOpenCl k, Random r, int i, int rows) {
        String what = "swiglu norm-quant I " + i + " rows " + rows;
        float[] gu = ClTesting.gaussian(r, rows * 2 * i, 2f);
        float[] norm = ClTesting.normWeights(r, i);
        int kPad = QuantizedInput.kPad(i);
        try (DeviceBuffer guB = device.upload(MemoryCategory.WORKSPACE, "gu", gu);
             DeviceBuffer nB = device.upload(MemoryCategory.WEIGHTS, "down norm", norm);
             QuantizedInput out = QuantizedInput.allocate(device, MemoryCategory.WORKSPACE, "q", 1, rows, i)) {
            device.fill(out.q(), 0x5a5a5a5a);
            device.fill(out.factor(), ClTesting.POISON);
            try (Launch l = k.normQuant(guB, nB, RmsNormQuantReference.EPS, out, rows)) {
                l.enqueue(device);
            }
            byte[] q = new byte[rows * kPad];
            float[] factor = new float[rows];
            int[] qsum = new int[rows];
            device.read(out.q(), q);
            device.read(out.factor(), factor);
            device.read(out.qsum(), qsum);
            for (int t = 0; t < rows; t++) {
                float[] v = new float[i];
                SwiGluReference.apply(gu, t * 2 * i, gu, t * 2 * i + i, v, 0, i);
                float[] y = new float[i];
                RmsNormQuantReference.rmsNorm(v, 0, norm, y, 0, i);
                byte[] refQ = new byte[i];
                float refFactor = RmsNormQuantReference.quantize(y, 0, refQ, 0, i);
                ClTesting.assertCodes(device, what + " row " + t, y, 1 / refFactor, refQ, Arrays.copyOfRange(q, t * kPad, t * kPad + i));
                int sum = 0;
                for (int j = 0; j < kPad; j++) {
                    sum += q[t * kPad + j];
                }
                assertEquals(sum, qsum[t], what + " row " + t + ": qsum");
                ClTesting.assertFollowsReference(device, what + " row " + t + ": factor", new float[]{refFactor}, new float[]{factor[t]});
            }
        }
    }
}
