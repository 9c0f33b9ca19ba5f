package dev.mmfree.model.hgrn;

import dev.mmfree.kernels.bitlinear.BitLinearDecodeOpenCl;
import dev.mmfree.kernels.bitlinear.DeviceTernaryMatrix;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.MemoryCategory;

import java.util.ArrayList;
import java.util.List;

/**
 * HGRNBit weights resident on an OpenCL device: ternary projections in the device layout (i, f and
 * g stacked as one [3, d, d] so one launch does all three), float32 norms, lower bounds and embeddings.
 * Every buffer is recorded as {@link MemoryCategory#WEIGHTS}.
 */
final class HgrnBitOpenClWeights implements AutoCloseable {
    /** One block on the device; vectors are [d] unless noted. */
    record Layer(DeviceBuffer attnNorm, DeviceTernaryMatrix ifg, DeviceBuffer ifgNorms /* [3][d] */,
                 DeviceBuffer outGateNorm, DeviceBuffer lowerBound, DeviceTernaryMatrix oProj, DeviceBuffer oNorm,
                 DeviceBuffer mlpNorm, DeviceTernaryMatrix gateProj, DeviceBuffer gateNorm,
                 DeviceTernaryMatrix downProj, DeviceBuffer downNorm /* [I] */) {
        /** The weights as the one-launch decode layer takes them. */
        BitLinearDecodeOpenCl.LayerWeights decode() {
            return new BitLinearDecodeOpenCl.LayerWeights(attnNorm, ifgNorms, lowerBound, ifg, outGateNorm, oNorm, oProj,
                    mlpNorm, gateNorm, gateProj, downNorm, downProj);
        }
    }

    final DeviceBuffer embeddings;   // [V, d] f32
    final List<Layer> layers;
    final DeviceBuffer norm;         // [d]
    final DeviceTernaryMatrix lmHead; // [V, d]
    final DeviceBuffer lmHeadNorm;   // [d]
    private final List<AutoCloseable> owned = new ArrayList<>();

    private final int blockRows;

    /** @param blockRows the layout of the ternary matrices: 0 chunk-major, else blocked by that many rows */
    HgrnBitOpenClWeights(Device device, HgrnBitWeights w, int blockRows) {
        this.blockRows = blockRows;
        try {
            embeddings = vector(device, "embeddings", w.embeddings());
            List<Layer> list = new ArrayList<>();
            for (int l = 0; l < w.layers().size(); l++) {
                HgrnBitWeights.Layer y = w.layers().get(l);
                String p = "layer " + l + " ";
                list.add(new Layer(vector(device, p + "attn_norm", y.attnNorm()),
                        matrix(device, p + "i/f/g_proj", y.iProj(), y.fProj(), y.gProj()),
                        vector(device, p + "i/f/g_proj norms", concat(y.iNorm(), y.fNorm(), y.gNorm())),
                        vector(device, p + "g_norm", y.outGateNorm()),
                        vector(device, p + "lower bound", w.lowerBounds()[l]),
                        matrix(device, p + "o_proj", y.oProj()), vector(device, p + "o_proj norm", y.oNorm()),
                        vector(device, p + "mlp_norm", y.mlpNorm()),
                        matrix(device, p + "gate_proj", y.gateProj()), vector(device, p + "gate_proj norm", y.gateNorm()),
                        matrix(device, p + "down_proj", y.downProj()), vector(device, p + "down_proj norm", y.downNorm())));
            }
            layers = List.copyOf(list);
            norm = vector(device, "norm", w.norm());
            lmHead = matrix(device, "lm_head", w.lmHead());
            lmHeadNorm = vector(device, "lm_head norm", w.lmHeadNorm());
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    private DeviceBuffer vector(Device device, String role, float[] v) {
        DeviceBuffer b = device.upload(MemoryCategory.WEIGHTS, role, v);
        owned.add(b);
        return b;
    }

    private DeviceTernaryMatrix matrix(Device device, String role, dev.mmfree.kernels.ternary.TernaryMatrix... stack) {
        DeviceTernaryMatrix m = DeviceTernaryMatrix.upload(device, MemoryCategory.WEIGHTS, role, blockRows, stack);
        owned.add(m);
        return m;
    }

    private static float[] concat(float[]... parts) {
        int n = 0;
        for (float[] p : parts) {
            n += p.length;
        }
        float[] out = new float[n];
        int at = 0;
        for (float[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }

    @Override
    public void close() {
        for (AutoCloseable a : owned.reversed()) {
            try {
                a.close();
            } catch (Exception e) {
                // the device's close releases whatever is left
            }
        }
        owned.clear();
    }
}
