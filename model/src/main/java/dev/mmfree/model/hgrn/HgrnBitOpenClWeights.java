package dev.mmfree.model.hgrn;

import dev.mmfree.kernels.bitlinear.BitLinearDecodeOpenCl;
import dev.mmfree.kernels.bitlinear.DeviceLayerStack;
import dev.mmfree.kernels.bitlinear.DeviceTernaryMatrix;
import dev.mmfree.kernels.ternary.TernaryMatrix;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.MemoryCategory;

import java.util.ArrayList;
import java.util.List;

/**
 * HGRNBit weights resident on an OpenCL device: ternary projections in the device layout (i, f and
 * g stacked as one [3, d, d] so one launch does all three), float32 norms, lower bounds and embeddings.
 * The layers' tensors are stacked a kind to a buffer ({@link DeviceLayerStack}): one launch of a decode step
 * runs all layers from the stacks, and every other kernel takes a layer's slices of them.
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
    final List<Layer> layers;        // slices of stack
    final DeviceLayerStack stack;
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
            List<DeviceLayerStack.Host> host = new ArrayList<>();
            for (int l = 0; l < w.layers().size(); l++) {
                HgrnBitWeights.Layer y = w.layers().get(l);
                host.add(new DeviceLayerStack.Host(y.attnNorm(), new TernaryMatrix[]{y.iProj(), y.fProj(), y.gProj()},
                        concat(y.iNorm(), y.fNorm(), y.gNorm()), y.outGateNorm(), w.lowerBounds()[l], y.oProj(), y.oNorm(),
                        y.mlpNorm(), y.gateProj(), y.gateNorm(), y.downProj(), y.downNorm()));
            }
            stack = new DeviceLayerStack(device, MemoryCategory.WEIGHTS, "", blockRows, host);
            owned.add(stack);
            List<Layer> list = new ArrayList<>();
            for (int l = 0; l < stack.size(); l++) {
                BitLinearDecodeOpenCl.LayerWeights y = stack.layer(l);
                list.add(new Layer(y.attnNorm(), y.ifg(), y.ifgNorms(), y.gNorm(), y.lowerBound(), y.o(), y.oNorm(), y.mlpNorm(),
                        y.gateUp(), y.gateNorm(), y.down(), y.downNorm()));
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

    private DeviceTernaryMatrix matrix(Device device, String role, TernaryMatrix... stack) {
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
