package dev.mmfree.kernels.bitlinear;

import dev.mmfree.kernels.mlgru.MlgruReference;
import dev.mmfree.kernels.opencl.ClDeviceTest;
import dev.mmfree.kernels.opencl.ClTesting;
import dev.mmfree.kernels.opencl.Tiling;
import dev.mmfree.kernels.rmsnormquant.RmsNormQuantReference;
import dev.mmfree.kernels.swiglu.SwiGluReference;
import dev.mmfree.kernels.ternary.TernaryMatrix;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.DeviceEvent;
import dev.mmfree.runtime.DeviceException;
import dev.mmfree.runtime.HostBuffer;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.MemoryCategory;
import dev.mmfree.runtime.MmfreeException;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The batch-1 decode kernels of {@link BitLinearDecodeOpenCl} against the reference composition
 * (RMSNorms, the quantizer, {@link BitLinearReference}, {@link MlgruReference}, {@link SwiGluReference}),
 * on every tiling of {@link ClTesting#decodeTilings} with one work-group a row block, and on the
 * device's default tiling and the smallest one with {@value #FEW_GROUPS} work-groups taking the blocks in
 * turn (each loading the next block's weights ahead); outputs poisoned beforehand. Shapes include sizes
 * that are not multiples of the work-group's rows or of a 64-column chunk; a tiling of one slice gives a
 * work-item every chunk of its row, more than it prefetches from 1025 columns on (3100 and 1100 here).
 */
class BitLinearDecodeOpenClTest extends ClDeviceTest {
    static final float EPS_BLOCK = 1e-5f;
    static final float EPS_BL = RmsNormQuantReference.EPS;
    /** The capped launches' work-groups: fewer than the row blocks of every shape but the smallest. */
    private static final int FEW_GROUPS = 3;


    @Test
    void gemvMatchesReference() {
        Random r = new Random(41);
        int[][] shapes = {{5, 17}, {257, 1000}, {33, 3100}};
        for (BitLinearDecodeOpenCl k : kernels()) {
            try (k) {
                for (int[] s : shapes) {
                    for (int b : layouts(k)) {
                        gemvCase(k, r, s[0], s[1], false, false, false, b);
                        gemvCase(k, r, s[0], s[1], true, false, true, b);
                        gemvCase(k, r, s[0], s[1], true, true, true, b);
                    }
                }
            }
        }
    }

    /**
     * Every tiling of {@link ClTesting#decodeTilings} and one of a single slice uncapped, then the device's
     * default decode tiling and the smallest with {@value #FEW_GROUPS} work-groups (the capped launch is the
     * same program on a smaller grid).
     */
    private static List<BitLinearDecodeOpenCl> kernels() {
        List<BitLinearDecodeOpenCl> ks = new ArrayList<>();
        for (Tiling tiling : ClTesting.decodeTilings(device)) {
            ks.add(new BitLinearDecodeOpenCl(device, tiling, 0));
        }
        ks.add(new BitLinearDecodeOpenCl(device, new Tiling(32, 1, 1, false), 0));
        ks.add(new BitLinearDecodeOpenCl(device, Tiling.decodeForDevice(device.info()), FEW_GROUPS));
        ks.add(new BitLinearDecodeOpenCl(device, new Tiling(8, 4, 3, false), FEW_GROUPS));
        return ks;
    }

    /**
     * The weight layouts a kernel's cases run on: chunk-major on every tiling, and blocked by 64 rows as well
     * ({@link TernaryDeviceLayout}) on a GPU, and elsewhere where a work-group takes a whole block (64 rows) or an
     * eighth of one (8 rows, uncapped and capped). The blocked index ({@code W_AT}) is the same for every tiling;
     * a tiling changes only which blocks and rows a work-group walks, and those two cover a work-group as wide as a
     * block and one inside it. On PoCL each program takes seconds to build (this class took over 600 s with a cold
     * cache when every tiling ran both layouts).
     */
    private static int[] layouts(BitLinearDecodeOpenCl k) {
        int rows = k.tiling().rows();
        return rows == 64 || rows == 8 || device.info().gpu() ? new int[]{0, 64} : new int[]{0};
    }

    private static String layout(int blockRows) {
        return blockRows == 0 ? "" : " blocked " + blockRows;
    }

    private static String name(BitLinearDecodeOpenCl k) {
        return k.tiling() + (k.maxGroups() > 0 ? " groups<=" + k.maxGroups() : "");
    }

    private void gemvCase(BitLinearDecodeOpenCl k, Random r, int out, int in, boolean hasNorm1, boolean hasMult, boolean accumulate,
                          int blockRows) {
        String what = "gemv " + name(k) + layout(blockRows) + " [" + out + ", " + in + "]" + (hasNorm1 ? " norm1" : "") + (hasMult ? " mult" : "");
        TernaryMatrix m = ClTesting.randomTernary(r, out, in);
        float[] x = ClTesting.gaussian(r, in, 3f);
        float[] norm1 = ClTesting.normWeights(r, in);
        float[] mult = ClTesting.gaussian(r, in, 1f);
        float[] norm2 = ClTesting.normWeights(r, in);
        float[] y0 = ClTesting.gaussian(r, out, 1f);
        float[] h = x.clone();
        if (hasNorm1) {
            RmsNormQuantReference.rmsNorm(x, 0, norm1, h, 0, in, EPS_BLOCK);
        }
        if (hasMult) {
            for (int j = 0; j < in; j++) {
                h[j] *= mult[j];
            }
        }
        float[] expected = accumulate ? y0.clone() : new float[out];
        bitLinear(m, h, norm2, expected, accumulate);
        try (DeviceTernaryMatrix w = DeviceTernaryMatrix.upload(device, MemoryCategory.WEIGHTS, "w", blockRows, m);
             DeviceBuffer xb = device.upload(MemoryCategory.WORKSPACE, "x", x);
             DeviceBuffer n1 = device.upload(MemoryCategory.WEIGHTS, "norm1", norm1);
             DeviceBuffer mb = device.upload(MemoryCategory.WORKSPACE, "mult", mult);
             DeviceBuffer n2 = device.upload(MemoryCategory.WEIGHTS, "norm2", norm2);
             DeviceBuffer y = ClTesting.poisoned(device, 4L * out, "y")) {
            if (accumulate) {
                device.write(y, y0);
            }
            try (Launch l = k.gemv(w, xb, hasNorm1 ? n1 : null, EPS_BLOCK, hasMult ? mb : null, n2, EPS_BL, y, accumulate)) {
                l.enqueue(device);
            }
            ClTesting.assertFollowsReference(device, what, expected, read(y, out));
        }
    }

    @Test
    void mlgruStepMatchesReference() {
        Random r = new Random(42);
        for (BitLinearDecodeOpenCl k : kernels()) {
            try (k) {
                for (int d : new int[]{3, 257, 1100}) {
                    for (int b : layouts(k)) {
                        mlgruCase(k, r, d, false, b);
                        mlgruCase(k, r, d, true, b);
                    }
                }
            }
        }
    }

    private void mlgruCase(BitLinearDecodeOpenCl k, Random r, int d, boolean inPlace, int blockRows) {
        String what = "mlgru " + name(k) + layout(blockRows) + " d " + d + (inPlace ? " in place" : "");
        TernaryMatrix[] ifg = {ClTesting.randomTernary(r, d, d), ClTesting.randomTernary(r, d, d), ClTesting.randomTernary(r, d, d)};
        float[] x = ClTesting.gaussian(r, d, 3f);
        float[] norm1 = ClTesting.normWeights(r, d);
        float[] norm2 = ClTesting.normWeights(r, 3 * d);
        float[] lb = new float[d];
        for (int j = 0; j < d; j++) {
            lb[j] = r.nextFloat() * 0.9f;
        }
        float[] state0 = ClTesting.gaussian(r, d, 1f);

        float[] h = new float[d];
        RmsNormQuantReference.rmsNorm(x, 0, norm1, h, 0, d, EPS_BLOCK);
        float[][] v = new float[3][d];
        for (int p = 0; p < 3; p++) {
            bitLinear(ifg[p], h, Arrays.copyOfRange(norm2, p * d, (p + 1) * d), v[p], false);
        }
        float[] refState = state0.clone();
        float[] ones = new float[d];
        Arrays.fill(ones, 1f);
        MlgruReference.step(v[0], v[1], v[2], 0, lb, ones, EPS_BLOCK, refState, new float[d], d);
        float[] refGate = new float[d];
        for (int j = 0; j < d; j++) {
            refGate[j] = SwiGluReference.silu(refState[j]);
        }
        try (DeviceTernaryMatrix w = DeviceTernaryMatrix.upload(device, MemoryCategory.WEIGHTS, "ifg", blockRows, ifg);
             DeviceBuffer xb = device.upload(MemoryCategory.WORKSPACE, "x", x);
             DeviceBuffer n1 = device.upload(MemoryCategory.WEIGHTS, "norm1", norm1);
             DeviceBuffer n2 = device.upload(MemoryCategory.WEIGHTS, "norm2", norm2);
             DeviceBuffer lbB = device.upload(MemoryCategory.WEIGHTS, "lb", lb);
             DeviceBuffer in = device.upload(MemoryCategory.STATE, "state in", state0);
             DeviceBuffer out = inPlace ? null : ClTesting.poisoned(device, 4L * d, "state out");
             DeviceBuffer g = ClTesting.poisoned(device, 4L * d, "g");
             DeviceBuffer gate = ClTesting.poisoned(device, 4L * d, "gate")) {
            DeviceBuffer stateOut = inPlace ? in : out;
            try (Launch l = k.mlgruStep(w, xb, n1, EPS_BLOCK, n2, EPS_BL, lbB, in, stateOut, g, gate)) {
                l.enqueue(device);
            }
            ClTesting.assertFollowsReference(device, what + " state", refState, read(stateOut, d));
            ClTesting.assertFollowsReference(device, what + " g", v[2], read(g, d));
            ClTesting.assertFollowsReference(device, what + " gate", refGate, read(gate, d));
            if (!inPlace) {
                ClTesting.assertExact(what + " state in (must stay untouched)", state0, read(in, d));
            }
        }
    }

    @Test
    void swiGluGateUpMatchesReference() {
        Random r = new Random(43);
        for (BitLinearDecodeOpenCl k : kernels()) {
            try (k) {
                for (int[] s : new int[][]{{5, 3}, {256, 130}, {1000, 33}}) {
                    for (int b : layouts(k)) {
                        swiGluCase(k, r, s[0], s[1], b);
                    }
                }
            }
        }
    }

    private void swiGluCase(BitLinearDecodeOpenCl k, Random r, int d, int i, int blockRows) {
        String what = "swiglu " + name(k) + layout(blockRows) + " d " + d + " I " + i;
        TernaryMatrix gateUp = ClTesting.randomTernary(r, 2 * i, d);
        float[] x = ClTesting.gaussian(r, d, 3f);
        float[] norm1 = ClTesting.normWeights(r, d);
        float[] norm2 = ClTesting.normWeights(r, d);
        float[] h = new float[d];
        RmsNormQuantReference.rmsNorm(x, 0, norm1, h, 0, d, EPS_BLOCK);
        float[] gu = new float[2 * i];
        bitLinear(gateUp, h, norm2, gu, false);
        float[] expected = new float[i];
        SwiGluReference.apply(gu, 0, gu, i, expected, 0, i);
        try (DeviceTernaryMatrix w = DeviceTernaryMatrix.upload(device, MemoryCategory.WEIGHTS, "gate|up", blockRows, gateUp);
             DeviceBuffer xb = device.upload(MemoryCategory.WORKSPACE, "x", x);
             DeviceBuffer n1 = device.upload(MemoryCategory.WEIGHTS, "norm1", norm1);
             DeviceBuffer n2 = device.upload(MemoryCategory.WEIGHTS, "norm2", norm2);
             DeviceBuffer v = ClTesting.poisoned(device, 4L * i, "v")) {
            try (Launch l = k.swiGluGateUp(w, xb, n1, EPS_BLOCK, n2, EPS_BL, v)) {
                l.enqueue(device);
            }
            ClTesting.assertFollowsReference(device, what, expected, read(v, i));
        }
    }

    @Test
    void persistentLayerMatchesReference() {
        Random r = new Random(44);
        for (Tiling tiling : new Tiling[]{Tiling.narrowForDevice(device.info()), new Tiling(8, 4, 3, false)}) {
            try (BitLinearDecodeOpenCl k = new BitLinearDecodeOpenCl(device, tiling)) {
                for (int[] s : new int[][]{{67, 130}, {256, 700}}) {
                    for (int groups : new int[]{1, 2}) {
                        for (int b : layouts(k)) {
                            layerCase(k, r, s[0], s[1], groups, false, b);
                        }
                    }
                }
            }
        }
        // the diagnostic build with clock marks computes the same
        try (BitLinearDecodeOpenCl k = new BitLinearDecodeOpenCl(device, Tiling.narrowForDevice(device.info()))) {
            for (int b : layouts(k)) {
                layerCase(k, r, 67, 130, 2, true, b);
            }
        }
    }

    /**
     * All layers in one launch from stacked weights, and each layer alone from its slices of the same stacks, against
     * the reference layer applied in turn: x and every layer's state.
     */
    @Test
    void stackedLayersMatchReferenceInOneLaunchAndSliceBySlice() {
        Random r = new Random(46);
        try (BitLinearDecodeOpenCl k = new BitLinearDecodeOpenCl(device, Tiling.narrowForDevice(device.info()))) {
            for (int[] s : new int[][]{{67, 130, 3}, {256, 700, 2}}) {
                for (int b : layouts(k)) {
                    stackCase(k, r, s[0], s[1], s[2], 2, b);
                }
            }
            try (DeviceLayerStack one = new DeviceLayerStack(device, MemoryCategory.WEIGHTS, "", 0, List.of(randomLayer(r, 67, 130)));
                 DeviceBuffer small = device.allocate(MemoryCategory.STATE, 4L * 67, "state");
                 DeviceBuffer x = device.allocate(MemoryCategory.WORKSPACE, 4L * 67, "x");
                 DeviceBuffer v = device.allocate(MemoryCategory.WORKSPACE, 4L * 130, "v")) {
                var two = new BitLinearDecodeOpenCl.LayerStack(one.stack().first(), 2, one.stack().vec(), one.stack().ifgNorms(),
                        one.stack().downNorm(), one.stack().scales(), one.stack().ifgCodes(), one.stack().oCodes(),
                        one.stack().gateUpCodes(), one.stack().downCodes());
                MmfreeException e = assertThrows(MmfreeException.class, () -> k.layers(2, two, EPS_BLOCK, EPS_BL, x, small, small, x, x, v));
                assertTrue(e.getMessage().contains("stacked"), "a stack that claims more layers than its buffers hold: " + e.getMessage());
            }
        }
    }

    private void stackCase(BitLinearDecodeOpenCl k, Random r, int d, int i, int n, int groups, int blockRows) {
        String what = "stack of " + n + layout(blockRows) + " d " + d + " I " + i + " groups " + groups;
        List<DeviceLayerStack.Host> host = new ArrayList<>();
        for (int l = 0; l < n; l++) {
            host.add(randomLayer(r, d, i));
        }
        float[] x = ClTesting.gaussian(r, d, 3f);
        float[][] state0 = new float[n][];
        float[] refX = x.clone();
        float[][] refState = new float[n][];
        for (int l = 0; l < n; l++) {
            state0[l] = ClTesting.gaussian(r, d, 1f);
            refState[l] = state0[l].clone();
            referenceLayer(host.get(l), refX, refState[l]);
        }
        try (DeviceLayerStack stack = new DeviceLayerStack(device, MemoryCategory.WEIGHTS, "", blockRows, host)) {
            int vec = stack.stack().vec();
            assertEquals(0, 4L * vec % device.info().baseAlignBytes(), what + ": the [d] stride keeps every layer aligned");
            try (DeviceBuffer in = device.allocate(MemoryCategory.STATE, 4L * n * vec, "states in");
                 DeviceBuffer out = ClTesting.poisoned(device, 4L * n * vec, "states out");
                 DeviceBuffer xb = device.upload(MemoryCategory.WORKSPACE, "x", x);
                 DeviceBuffer g = ClTesting.poisoned(device, 4L * d, "g");
                 DeviceBuffer gate = ClTesting.poisoned(device, 4L * d, "gate");
                 DeviceBuffer vb = ClTesting.poisoned(device, 4L * i, "v")) {
                for (int l = 0; l < n; l++) {
                    device.write(in, 4L * l * vec, state0[l], 0, d);
                }
                try (Launch all = k.layers(groups, stack.stack(), EPS_BLOCK, EPS_BL, xb, in, out, g, gate, vb)) {
                    all.enqueue(device);
                }
                k.barriers().check();
                ClTesting.assertFollowsReference(device, what + " x, one launch", refX, read(xb, d));
                for (int l = 0; l < n; l++) {
                    float[] got = new float[d];
                    device.read(out, 4L * l * vec, got, 0, d);
                    ClTesting.assertFollowsReference(device, what + " state of layer " + l + ", one launch", refState[l], got);
                }

                device.write(xb, x);
                device.fill(out, Float.floatToRawIntBits(Float.NaN));
                for (int l = 0; l < n; l++) {
                    try (DeviceBuffer sIn = device.slice(in, 4L * l * vec, 4L * d, "state in " + l);
                         DeviceBuffer sOut = device.slice(out, 4L * l * vec, 4L * d, "state out " + l);
                         Launch one = k.layer(groups, stack.layer(l), EPS_BLOCK, EPS_BL, xb, sIn, sOut, g, gate, vb)) {
                        one.enqueue(device);
                        k.barriers().check();
                        ClTesting.assertFollowsReference(device, what + " state of layer " + l + ", its slices", refState[l], read(sOut, d));
                    }
                }
                ClTesting.assertFollowsReference(device, what + " x, layer by layer", refX, read(xb, d));
            }
        }
    }

    @Test
    void layerWeightsOfMixedLayoutsOrOtherShapesAreRejected() {
        Random r = new Random(45);
        try (DeviceTernaryMatrix plain = DeviceTernaryMatrix.upload(device, MemoryCategory.WEIGHTS, "plain", ClTesting.randomTernary(r, 5, 7));
             DeviceTernaryMatrix blocked = DeviceTernaryMatrix.upload(device, MemoryCategory.WEIGHTS, "blocked", 64, ClTesting.randomTernary(r, 5, 7))) {
            MmfreeException e = assertThrows(MmfreeException.class, () -> new BitLinearDecodeOpenCl.LayerWeights(null, null, null, plain,
                    null, null, plain, null, null, blocked, null, plain));
            assertTrue(e.getMessage().contains("one layout"), e.getMessage());
            e = assertThrows(MmfreeException.class, () -> new BitLinearDecodeOpenCl.LayerWeights(null, null, null, plain,
                    null, null, plain, null, null, plain, null, plain));
            assertTrue(e.getMessage().contains("shapes do not make an HGRNBit layer"), e.getMessage());
        }
    }

    /** A random HGRNBit layer of d, I. */
    static DeviceLayerStack.Host randomLayer(Random r, int d, int i) {
        TernaryMatrix[] ifg = {ClTesting.randomTernary(r, d, d), ClTesting.randomTernary(r, d, d), ClTesting.randomTernary(r, d, d)};
        float[] lb = new float[d];
        for (int j = 0; j < d; j++) {
            lb[j] = r.nextFloat() * 0.9f;
        }
        return new DeviceLayerStack.Host(ClTesting.normWeights(r, d), ifg, ClTesting.normWeights(r, 3 * d), ClTesting.normWeights(r, d),
                lb, ClTesting.randomTernary(r, d, d), ClTesting.normWeights(r, d), ClTesting.normWeights(r, d),
                ClTesting.randomTernary(r, 2 * i, d), ClTesting.normWeights(r, d), ClTesting.randomTernary(r, d, i),
                ClTesting.normWeights(r, i));
    }

    /** The reference layer: x (the residual stream) and state (the MLGRU state) in and out. */
    static void referenceLayer(DeviceLayerStack.Host y, float[] x, float[] state) {
        int d = x.length;
        int i = y.downNorm().length;
        float[] h = new float[d];
        RmsNormQuantReference.rmsNorm(x, 0, y.attnNorm(), h, 0, d, EPS_BLOCK);
        float[][] v = new float[3][d];
        for (int p = 0; p < 3; p++) {
            bitLinear(y.ifg()[p], h, Arrays.copyOfRange(y.ifgNorms(), p * d, (p + 1) * d), v[p], false);
        }
        float[] gated = new float[d];
        MlgruReference.step(v[0], v[1], v[2], 0, y.lowerBound(), y.gNorm(), EPS_BLOCK, state, gated, d);
        bitLinear(y.o(), gated, y.oNorm(), x, true);
        RmsNormQuantReference.rmsNorm(x, 0, y.mlpNorm(), h, 0, d, EPS_BLOCK);
        float[] gu = new float[2 * i];
        bitLinear(y.gateUp(), h, y.gateNorm(), gu, false);
        float[] act = new float[i];
        SwiGluReference.apply(gu, 0, gu, i, act, 0, i);
        bitLinear(y.down(), act, y.downNorm(), x, true);
    }

    private void layerCase(BitLinearDecodeOpenCl k, Random r, int d, int i, int groups, boolean traced, int blockRows) {
        String what = "layer " + k.tiling() + layout(blockRows) + " d " + d + " I " + i + " groups " + groups + (traced ? " traced" : "");
        DeviceLayerStack.Host y = randomLayer(r, d, i);
        TernaryMatrix[] ifg = y.ifg();
        TernaryMatrix o = y.o();
        TernaryMatrix gateUp = y.gateUp();
        TernaryMatrix down = y.down();
        float[] x = ClTesting.gaussian(r, d, 3f);
        float[] state0 = ClTesting.gaussian(r, d, 1f);
        float[] attnNorm = y.attnNorm();
        float[] ifgNorms = y.ifgNorms();
        float[] lb = y.lowerBound();
        float[] gNorm = y.gNorm();
        float[] oNorm = y.oNorm();
        float[] mlpNorm = y.mlpNorm();
        float[] gateNorm = y.gateNorm();
        float[] downNorm = y.downNorm();
        float[] refState = state0.clone();
        float[] refX = x.clone();
        referenceLayer(y, refX, refState);

        MemoryCategory wt = MemoryCategory.WEIGHTS;
        try (DeviceTernaryMatrix ifgW = DeviceTernaryMatrix.upload(device, wt, "ifg", blockRows, ifg);
             DeviceTernaryMatrix oW = DeviceTernaryMatrix.upload(device, wt, "o", blockRows, o);
             DeviceTernaryMatrix guW = DeviceTernaryMatrix.upload(device, wt, "gate|up", blockRows, gateUp);
             DeviceTernaryMatrix downW = DeviceTernaryMatrix.upload(device, wt, "down", blockRows, down);
             DeviceBuffer an = device.upload(wt, "attn_norm", attnNorm);
             DeviceBuffer ifgN = device.upload(wt, "ifg norms", ifgNorms);
             DeviceBuffer lbB = device.upload(wt, "lb", lb);
             DeviceBuffer gn = device.upload(wt, "g_norm", gNorm);
             DeviceBuffer on = device.upload(wt, "o norm", oNorm);
             DeviceBuffer mn = device.upload(wt, "mlp_norm", mlpNorm);
             DeviceBuffer gaten = device.upload(wt, "gate norm", gateNorm);
             DeviceBuffer dn = device.upload(wt, "down norm", downNorm);
             DeviceBuffer xb = device.upload(MemoryCategory.WORKSPACE, "x", x);
             DeviceBuffer in = device.upload(MemoryCategory.STATE, "state in", state0);
             DeviceBuffer out = ClTesting.poisoned(device, 4L * d, "state out");
             DeviceBuffer g = ClTesting.poisoned(device, 4L * d, "g");
             DeviceBuffer gate = ClTesting.poisoned(device, 4L * d, "gate");
             DeviceBuffer vb = ClTesting.poisoned(device, 4L * i, "v");
             DeviceBuffer trace = device.allocate(MemoryCategory.WORKSPACE, 8 * BitLinearDecodeOpenCl.traceLongs(groups), "trace")) {
            var lw = new BitLinearDecodeOpenCl.LayerWeights(an, ifgN, lbB, ifgW, gn, on, oW, mn, gaten, guW, dn, downW);
            try (Launch l = traced ? k.layerTrace(groups, lw, EPS_BLOCK, EPS_BL, xb, in, out, g, gate, vb, trace)
                    : k.layer(groups, lw, EPS_BLOCK, EPS_BL, xb, in, out, g, gate, vb)) {
                l.enqueue(device);
            }
            // the grid barriers' flag, read back asynchronously as a decode stream does, then the failure path
            try (HostBuffer flag = device.allocateHost(4, "flag")) {
                flag.bytes().putInt(0, -1);
                DeviceEvent read = k.barriers().readAsync(flag.bytes());
                read.await();
                read.close();
                k.barriers().check(flag.bytes());
                assertEquals(0, flag.bytes().getInt(0), what + ": the flag after a layer");
                flag.bytes().putInt(0, 1);   // as a barrier that gave up leaves it
                assertThrows(DeviceException.class, () -> k.barriers().check(flag.bytes()), what + ": a set flag");
            }
            k.barriers().check();
            ClTesting.assertFollowsReference(device, what + " state", refState, read(out, d));
            ClTesting.assertFollowsReference(device, what + " x", refX, read(xb, d));
            ClTesting.assertExact(what + " state in (must stay untouched)", state0, read(in, d));
        }
    }

    /** y (+)= BitLinear(h) with the BitLinear's own norm, as the reference model computes it. */
    private static void bitLinear(TernaryMatrix m, float[] h, float[] norm, float[] y, boolean accumulate) {
        byte[] q = new byte[m.in()];
        float[] f = {RmsNormQuantReference.normQuantize(h, 0, norm, q, 0, m.in(), new float[m.in()])};
        BitLinearReference.forward(m, q, f, 1, y, accumulate);
    }

    private static float[] read(DeviceBuffer b, int n) {
        float[] a = new float[n];
        device.read(b, a);
        return a;
    }
}
