package dev.mmfree.kernels.bitlinear;

import dev.mmfree.kernels.opencl.ClDeviceTest;
import dev.mmfree.kernels.opencl.ClPrograms;
import dev.mmfree.kernels.opencl.ClTesting;
import dev.mmfree.kernels.opencl.Tiling;
import dev.mmfree.kernels.rmsnormquant.RmsNormQuantOpenCl;
import dev.mmfree.kernels.swiglu.SwiGluOpenCl;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.DeviceException;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.MemoryCategory;
import dev.mmfree.runtime.MmfreeException;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/**
 * {@link DecodeBatchLayerOpenCl}, one launch a layer of a batched decode step, against the reference layer
 * ({@link BitLinearDecodeOpenClTest#referenceLayer}) row by row, and bit for bit against the eight standalone
 * launches it replaces built at its work-group size. Shapes that are not multiples of a chunk, a row tile or a
 * work-group's tokens; more items than work-groups in every phase; outputs poisoned beforehand. Without NVIDIA's
 * PTX (PoCL) the layer's GEMM phases take plain integer tiles and the eight launches the emulated mma GEMM, so
 * the exact match checks the tiles' indexing against the mma kernel's; on the H200 both run mma.sync.
 */
class DecodeBatchLayerOpenClTest extends ClDeviceTest {
    /** Fewer than the rows and GEMM tiles of every case, so each work-group takes several; PoCL runs two at once. */
    private static final int GROUPS = 2;


    @Test
    void layerMatchesReferenceAndTheEightLaunches() {
        Random r = new Random(77);
        boolean ptx = ClPrograms.ptx(device.info());
        // 64 work-items with the input split in two (sums through local memory), and 64 without a split
        for (MmaShape shape : new MmaShape[]{new MmaShape(1, 1, 1, 2), new MmaShape(2, 1, 2, 1)}) {
            try (DecodeBatchLayerOpenCl k = new DecodeBatchLayerOpenCl(device, shape, ptx, 0)) {
                layerCase(k, r, 100, 150, 11);
                layerCase(k, r, 64, 200, 2);
                layerCase(k, r, 130, 70, 19);
            }
        }
    }

    /**
     * More work-groups than the device runs at once (PoCL runs one a compute unit at a time): the grid barriers give up,
     * the check fails with a DeviceException instead of the launch hanging, and the next launch on a count that fits
     * computes the layer again. Not on a GPU, where a barrier polls for about a minute before it gives up.
     */
    @Test
    void moreWorkGroupsThanRunAtOnceFailLoudlyAndRecover() {
        assumeFalse(device.info().gpu(), "a GPU's barrier waits about a minute before it gives up");
        Random r = new Random(9);
        try (DecodeBatchLayerOpenCl k = new DecodeBatchLayerOpenCl(device, new MmaShape(1, 1, 1, 2), ClPrograms.ptx(device.info()), 0)) {
            try (Layer y = new Layer(BitLinearDecodeOpenClTest.randomLayer(r, 64, 96), 4)) {
                y.upload(ClTesting.gaussian(r, 4 * 64, 3f), ClTesting.gaussian(r, 4 * 64, 1f));
                try (Launch l = y.launch(k, 2 * device.info().computeUnits() + 1)) {
                    l.enqueue(device);
                }
                DeviceException e = assertThrows(DeviceException.class, () -> k.barriers().check());
                assertTrue(e.getMessage().contains("grid barrier timed out"), e.getMessage());
            }
            layerCase(k, r, 64, 96, 4);
        }
    }

    @Test
    void rejectsBadArguments() {
        Random r = new Random(5);
        boolean ptx = ClPrograms.ptx(device.info());
        try (DecodeBatchLayerOpenCl k = new DecodeBatchLayerOpenCl(device, new MmaShape(1, 1, 1, 2), ptx, 0);
             Layer y = new Layer(BitLinearDecodeOpenClTest.randomLayer(r, 64, 96), 4)) {
            MmfreeException e = assertThrows(MmfreeException.class, () -> y.launch(k, 0));
            assertTrue(e.getMessage().contains("groups"), e.getMessage());
            e = assertThrows(MmfreeException.class, () -> k.layer(1, y.lw, 1e-5f, 1e-5f, 4, y.x, y.stateIn, y.stateIn,
                    y.qIfg, y.qD, y.qI, y.ifg, y.gu));
            assertTrue(e.getMessage().contains("distinct"), e.getMessage());
            e = assertThrows(MmfreeException.class, () -> k.layer(1, y.lw, 1e-5f, 1e-5f, 5, y.x, y.stateIn, y.stateOut,
                    y.qIfg, y.qD, y.qI, y.ifg, y.gu));
            assertTrue(e.getMessage().contains("qIfg"), e.getMessage());
            e = assertThrows(MmfreeException.class, () -> k.layer(1, y.lw, 1e-5f, 1e-5f, 4, y.x, y.stateIn, y.stateOut,
                    y.qD, y.qIfg, y.qI, y.ifg, y.gu));
            assertTrue(e.getMessage().contains("qIfg holds 1"), e.getMessage());
        }
        assertThrows(MmfreeException.class, () -> new DecodeBatchLayerOpenCl(device, new MmaShape(1, 1, 1, 3), false, 0));
    }

    private void layerCase(DecodeBatchLayerOpenCl k, Random r, int d, int i, int rows) {
        String what = "batch layer " + k.shape() + " d " + d + " I " + i + " rows " + rows;
        DeviceLayerStack.Host host = BitLinearDecodeOpenClTest.randomLayer(r, d, i);
        float[] x = ClTesting.gaussian(r, rows * d, 3f);
        float[] state = ClTesting.gaussian(r, rows * d, 1f);
        float[] refX = x.clone();
        float[] refState = state.clone();
        for (int t = 0; t < rows; t++) {
            float[] xt = java.util.Arrays.copyOfRange(refX, t * d, (t + 1) * d);
            float[] st = java.util.Arrays.copyOfRange(refState, t * d, (t + 1) * d);
            BitLinearDecodeOpenClTest.referenceLayer(host, xt, st);
            System.arraycopy(xt, 0, refX, t * d, d);
            System.arraycopy(st, 0, refState, t * d, d);
        }
        float[] eightX;
        float[] eightState;
        try (Layer y = new Layer(host, rows)) {   // the eight launches at the layer's work-group size
            y.upload(x, state);
            float[][] got = eight(k.shape(), y, rows);
            eightX = got[0];
            eightState = got[1];
        }
        try (Layer y = new Layer(host, rows)) {
            y.upload(x, state);
            try (Launch l = y.launch(k, GROUPS)) {
                l.enqueue(device);
            }
            k.barriers().check();
            float[] gotX = read(y.x, rows * d);
            float[] gotState = read(y.stateOut, rows * d);
            ClTesting.assertExact(what + ": x against the eight launches", eightX, gotX);
            ClTesting.assertExact(what + ": state against the eight launches", eightState, gotState);
            ClTesting.assertFollowsReference(device, what + ": state", refState, gotState);
            ClTesting.assertFollowsReference(device, what + ": x", refX, gotX);
            ClTesting.assertExact(what + ": state in (must stay untouched)", state, read(y.stateIn, rows * d));
        }
    }

    /**
     * The GEMM path's eight launches of a decode step's layer (as HgrnBitOpenCl enqueues them), at shape's work-group:
     * x and the state out after them.
     */
    private static float[][] eight(MmaShape shape, Layer y, int rows) {
        boolean ptx = ClPrograms.ptx(device.info());
        Tiling rowTiling = new Tiling(32, shape.workGroup() / 32, 8, ptx);
        float eps = BitLinearDecodeOpenClTest.EPS_BLOCK;
        float eps2 = BitLinearDecodeOpenClTest.EPS_BL;
        var lw = y.lw;
        try (RmsNormQuantOpenCl nq = new RmsNormQuantOpenCl(device, rowTiling);
             SwiGluOpenCl sw = new SwiGluOpenCl(device, rowTiling);
             BitLinearOpenCl bl = new BitLinearOpenCl(device, new Tiling(32, 8, 8, ptx), Optional.of(MmaShape.Choice.of(shape)))) {
            int d = lw.ifg().in();
            List<Launch> plan = List.of(
                    nq.normQuant(y.x, d, 0, null, lw.attnNorm(), eps, lw.ifgNorms(), eps2, y.qIfg, rows),
                    bl.gemm(lw.ifg(), y.qIfg, rows, y.ifg, false),
                    nq.mlgruNormQuant(y.ifg, lw.lowerBound(), y.stateIn, y.stateOut, lw.gNorm(), eps, lw.oNorm(), eps2, y.qD, rows),
                    bl.gemm(lw.o(), y.qD, rows, y.x, true),
                    nq.normQuant(y.x, d, 0, null, lw.mlpNorm(), eps, lw.gateNorm(), eps2, y.qD, rows),
                    bl.gemm(lw.gateUp(), y.qD, rows, y.gu, false),
                    sw.normQuant(y.gu, lw.downNorm(), eps2, y.qI, rows),
                    bl.gemm(lw.down(), y.qI, rows, y.x, true));
            for (Launch l : plan) {
                l.enqueue(device);
            }
            float[][] out = {read(y.x, rows * d), read(y.stateOut, rows * d)};   // blocking reads, behind the launches
            plan.forEach(Launch::close);
            return out;
        }
    }

    /** One layer's weights on the device and the buffers of a step of `rows` sequences (outputs poisoned). */
    private static final class Layer implements AutoCloseable {
        final List<AutoCloseable> owned = new ArrayList<>();
        final BitLinearDecodeOpenCl.LayerWeights lw;
        final DeviceBuffer x, stateIn, stateOut, ifg, gu;
        final QuantizedInput qIfg, qD, qI;
        final int rows;

        Layer(DeviceLayerStack.Host h, int rows) {
            this.rows = rows;
            int d = h.attnNorm().length;
            int i = h.downNorm().length;
            MemoryCategory wt = MemoryCategory.WEIGHTS;
            lw = new BitLinearDecodeOpenCl.LayerWeights(up("attn_norm", h.attnNorm()), up("ifg norms", h.ifgNorms()),
                    up("lb", h.lowerBound()), own(DeviceTernaryMatrix.upload(device, wt, "ifg", 0, h.ifg())),
                    up("g_norm", h.gNorm()), up("o norm", h.oNorm()), own(DeviceTernaryMatrix.upload(device, wt, "o", 0, h.o())),
                    up("mlp_norm", h.mlpNorm()), up("gate norm", h.gateNorm()),
                    own(DeviceTernaryMatrix.upload(device, wt, "gate|up", 0, h.gateUp())),
                    up("down norm", h.downNorm()), own(DeviceTernaryMatrix.upload(device, wt, "down", 0, h.down())));
            x = own(ClTesting.poisoned(device, 4L * rows * d, "x"));
            stateIn = own(ClTesting.poisoned(device, 4L * rows * d, "state in"));
            stateOut = own(ClTesting.poisoned(device, 4L * rows * d, "state out"));
            ifg = own(ClTesting.poisoned(device, 12L * rows * d, "ifg"));
            gu = own(ClTesting.poisoned(device, 8L * rows * i, "gu"));
            MemoryCategory ws = MemoryCategory.WORKSPACE;
            qIfg = own(QuantizedInput.allocate(device, ws, "q ifg", 3, rows, d));
            qD = own(QuantizedInput.allocate(device, ws, "q d", 1, rows, d));
            qI = own(QuantizedInput.allocate(device, ws, "q i", 1, rows, i));
        }

        void upload(float[] xs, float[] state) {
            device.write(x, xs);
            device.write(stateIn, state);
        }

        Launch launch(DecodeBatchLayerOpenCl k, int groups) {
            return k.layer(groups, lw, BitLinearDecodeOpenClTest.EPS_BLOCK, BitLinearDecodeOpenClTest.EPS_BL, rows, x, stateIn,
                    stateOut, qIfg, qD, qI, ifg, gu);
        }

        private DeviceBuffer up(String role, float[] v) {
            return own(device.upload(MemoryCategory.WEIGHTS, role, v));
        }

        private <T extends AutoCloseable> T own(T t) {
            owned.add(t);
            return t;
        }

        @Override
        public void close() {
            for (int j = owned.size() - 1; j >= 0; j--) {
                try {
                    owned.get(j).close();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }
        }
    }

    private static float[] read(DeviceBuffer b, int n) {
        float[] a = new float[n];
        device.read(b, a);
        return a;
    }
}
