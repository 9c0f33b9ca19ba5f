package dev.mmfree.kernels.bitlinear;

import dev.mmfree.kernels.opencl.ClPrograms;
import dev.mmfree.kernels.opencl.GridBarriers;
import dev.mmfree.kernels.opencl.Tiling;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.DeviceInfo;
import dev.mmfree.runtime.DeviceProgram;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.MmfreeException;

import java.util.HashMap;
import java.util.Map;

/**
 * The batch-1 decode kernels: one launch a BitLinear, each with its input side (RMSNorms, the int8
 * quantizer) in front and its consumer behind, so an HGRNBit layer is four launches:
 * <ol>
 *   <li>{@link #mlgruStep}: i|f|g from the block input, then the MLGRU recurrence in the epilogue;</li>
 *   <li>{@link #gemv} for o_proj on RMSNorm(g) * silu(state) (the output gate), residual add;</li>
 *   <li>{@link #swiGluGateUp}: gate|up from the block input, then silu(gate) * up in the epilogue;</li>
 *   <li>{@link #gemv} for down_proj, residual add.</li>
 * </ol>
 * Every element-wise transcendental is computed once by the work-item that owns its row (not again
 * in every work-group of the next kernel); each work-item issues all its global loads first (its
 * input elements and norm weights, then its weight words) and runs the input side in registers with three
 * work-group reductions. One template, {@code decode_phase.cl}, stamped out per use with defines
 * (rows a work-item, epilogue, norms, prefetch depth, input words a work-item) and wrapped by the
 * kernel {@value #KERNEL}, or four times by {@value #LAYER} ({@link #layer}: a whole layer in one
 * launch, what an HGRNBit model uses on a GPU); programs cached by their text. Tests: {@code BitLinearDecodeOpenClTest}.
 */
public final class BitLinearDecodeOpenCl implements AutoCloseable {
    public static final String KERNEL = "bitlinear_fused_t2_f32";
    public static final String LAYER = "decode_layer_t2_f32";
    /**
     * Env switch of the one-launch decode on GPUs: by default ({@code 1}) all layers of a step in one launch
     * ({@link #layers}), {@code layer} one launch a layer ({@link #layer}), {@code 0} four launches a layer; the
     * one-launch kernels are never used on other devices.
     */
    public static final String PERSISTENT_ENV = "MMFREE_OPENCL_PERSISTENT";
    /**
     * Env cap on the work-groups of a decode launch: an integer, {@code 0} for one a row block. Default on
     * a GPU: its compute units, so that every work-group runs in the first wave (the decode programs
     * hold 160-250 registers a work-item, one 256-wide work-group a compute unit on the H200) and none
     * repeats the input side; elsewhere one a row block.
     */
    public static final String GROUPS_ENV = "MMFREE_OPENCL_DECODE_GROUPS";
    /** Marks a traced phase stamps ({@code TRACE_MARKS} of decode_common.cl). */
    public static final int TRACE_MARKS = 10;
    /** Chunks a work-item prefetches a row, at most: all of them at the 2.7B shapes (down_proj: 14). */
    private static final int MAX_PREFETCH = 16;

    private final Device device;
    private final Tiling tiling;
    private final int maxGroups;
    private final Map<String, DeviceProgram> programs = new HashMap<>();
    /** The layer kernel's grid barrier state. */
    private final GridBarriers barriers;

    /** With the device's default cap on work-groups ({@link #defaultGroups}). */
    public BitLinearDecodeOpenCl(Device device, Tiling tiling) {
        this(device, tiling, defaultGroups(device.info()));
    }

    /**
     * @param maxGroups at most this many work-groups a launch, each taking row blocks in turn; 0 for
     *                  one a row block
     */
    public BitLinearDecodeOpenCl(Device device, Tiling tiling, int maxGroups) {
        if (maxGroups < 0) {
            throw new MmfreeException(KERNEL + ": maxGroups must be >= 0 (0: one a row block), got " + maxGroups);
        }
        this.device = device;
        this.tiling = tiling;
        this.maxGroups = maxGroups;
        this.barriers = new GridBarriers(device, LAYER, "four launches a layer need no barrier: set " + PERSISTENT_ENV + "=0");
    }

    /**
     * Work-groups of the one-launch layer by default: a GPU's compute units (one work-group each, so all run
     * at once, which its grid barriers need) unless {@value #PERSISTENT_ENV} is {@code 0}; 0 (four launches
     * a layer) on other devices.
     */
    public static int defaultLayerGroups(DeviceInfo info) {
        return persistentSetting() != Persistent.OFF && info.gpu() ? info.computeUnits() : 0;
    }

    /**
     * Whether a one-launch decode runs all layers in one launch ({@link #layers}, the default) or one launch a
     * layer ({@link #layer}; {@value #PERSISTENT_ENV}{@code =layer}).
     */
    public static boolean allLayersInOneLaunch() {
        return persistentSetting() != Persistent.LAYER;
    }

    /** The values of {@value #PERSISTENT_ENV}: {@code 1} (or unset), {@code layer}, {@code 0}. */
    private enum Persistent { ALL, LAYER, OFF }

    private static Persistent persistentSetting() {
        String env = System.getenv(PERSISTENT_ENV);
        if (env == null || env.isBlank()) {
            return Persistent.ALL;
        }
        return switch (env.trim()) {
            case "1" -> Persistent.ALL;
            case "layer" -> Persistent.LAYER;
            case "0" -> Persistent.OFF;
            default -> throw new MmfreeException("env " + PERSISTENT_ENV + " must be 1 (all layers in one launch), layer (one launch a "
                    + "layer) or 0 (four launches a layer), got '" + env + "'");
        };
    }

    /** {@value #GROUPS_ENV} if set, else the compute units of a GPU, else 0 (one work-group a row block). */
    public static int defaultGroups(DeviceInfo info) {
        String env = System.getenv(GROUPS_ENV);
        if (env != null && !env.isBlank()) {
            try {
                int n = Integer.parseInt(env.trim());
                if (n >= 0) {
                    return n;
                }
            } catch (NumberFormatException ignored) {
                // reported below
            }
            throw new MmfreeException("env " + GROUPS_ENV + " must be an integer >= 0 (0: one work-group a row block), got '" + env + "'");
        }
        return info.gpu() ? info.computeUnits() : 0;
    }

    public Tiling tiling() {
        return tiling;
    }

    /** The cap on work-groups a launch (0: none). */
    public int maxGroups() {
        return maxGroups;
    }

    /**
     * y (+)= BitLinear_w(h) for one token, with h = RMSNorm_norm1(x) (eps1) [* mult], or h = x when
     * norm1 is null: o_proj (norm1 = the output gate's norm, mult = silu(state)), down_proj, lm_head.
     *
     * @param x [K] f32; norm1, mult: [K] or null; norm2: [K], the BitLinear's own norm; y: [out] f32
     */
    public Launch gemv(DeviceTernaryMatrix w, DeviceBuffer x, DeviceBuffer norm1, float eps1, DeviceBuffer mult,
                       DeviceBuffer norm2, float eps2, DeviceBuffer y, boolean accumulate) {
        if (w.projections() != 1) {
            throw new MmfreeException(KERNEL + ": gemv takes one projection, got " + w.projections());
        }
        if (mult != null && norm1 == null) {
            throw new MmfreeException(KERNEL + ": a multiplier needs norm1");
        }
        int k = w.in();
        need(x, 4L * k, "x");
        need(norm2, 4L * k, "norm2");
        if (norm1 != null) {
            need(norm1, 4L * k, "norm1");
        }
        if (mult != null) {
            need(mult, 4L * k, "mult");
        }
        need(y, 4L * w.out(), "y");
        return launch(new Phase(1, 1, 0, norm1 != null, mult != null), w, w.out(), 0, x, norm1, eps1, mult, norm2, eps2, y, y, accumulate, x, x, y);
    }

    /**
     * The MLGRU's input side and its recurrence for one token: i|f|g = BitLinear_p(RMSNorm_ifgNorm[p](
     * RMSNorm_norm1(x))), then f = lb + (1 - lb) * sigmoid(fPre), state' = f * state + silu(i) * (1 - f).
     *
     * @param ifg      the stacked i, f, g projections, each [d, d]
     * @param norm2    [3][d] each projection's own norm
     * @param lb       [d] the layer's lower bound
     * @param stateIn  [d] f32; stateOut [d] f32 (may be the same buffer)
     * @param g        [d] f32 out: g, the output gate's input
     * @param gate     [d] f32 out: silu(state'), the output gate's multiplier
     */
    public Launch mlgruStep(DeviceTernaryMatrix ifg, DeviceBuffer x, DeviceBuffer norm1, float eps1, DeviceBuffer norm2,
                            float eps2, DeviceBuffer lb, DeviceBuffer stateIn, DeviceBuffer stateOut,
                            DeviceBuffer g, DeviceBuffer gate) {
        int d = ifg.in();
        if (ifg.projections() != 3 || ifg.out() != d) {
            throw new MmfreeException(KERNEL + ": the MLGRU step needs 3 stacked [d, d] projections, got "
                    + ifg.projections() + " x [" + ifg.out() + ", " + d + "]");
        }
        need(x, 4L * d, "x");
        need(norm1, 4L * d, "norm1");
        need(norm2, 12L * d, "norm2");
        need(lb, 4L * d, "lb");
        need(stateIn, 4L * d, "stateIn");
        need(stateOut, 4L * d, "stateOut");
        need(g, 4L * d, "g");
        need(gate, 4L * d, "gate");
        return launch(IFG, ifg, d, ifg.outPad(), x, norm1, eps1, x, norm2, eps2,
                g, gate, false, lb, stateIn, stateOut);
    }

    /**
     * gate_proj's input side and SwiGLU for one token: gate|up = BitLinear(RMSNorm_norm2(RMSNorm_norm1(x))),
     * v = silu(gate) * up.
     *
     * @param gateUp one projection [2I, d]: rows [0, I) gate, [I, 2I) up
     * @param v      [I] f32 out
     */
    public Launch swiGluGateUp(DeviceTernaryMatrix gateUp, DeviceBuffer x, DeviceBuffer norm1, float eps1,
                               DeviceBuffer norm2, float eps2, DeviceBuffer v) {
        int k = gateUp.in();
        if (gateUp.projections() != 1 || gateUp.out() % 2 != 0) {
            throw new MmfreeException(KERNEL + ": gate|up must be one projection of even out, got "
                    + gateUp.projections() + " x [" + gateUp.out() + ", " + k + "]");
        }
        int i = gateUp.out() / 2;
        need(x, 4L * k, "x");
        need(norm1, 4L * k, "norm1");
        need(norm2, 4L * k, "norm2");
        need(v, 4L * i, "v");
        return launch(GATE_UP, gateUp, i, i, x, norm1, eps1, x, norm2, eps2,
                v, v, false, x, x, v);
    }

    /**
     * One HGRNBit layer's decode weights, as {@link #layer} and {@link DecodeBatchLayerOpenCl#layer} take them: one
     * layout for the four matrices, and their shapes those of a layer of d = ifg's inputs and I = down's inputs
     * (i|f|g 3 x [d, d], o [d, d], gate|up one [2I, d], down [d, I]).
     */
    public record LayerWeights(DeviceBuffer attnNorm, DeviceBuffer ifgNorms, DeviceBuffer lowerBound, DeviceTernaryMatrix ifg,
                               DeviceBuffer gNorm, DeviceBuffer oNorm, DeviceTernaryMatrix o,
                               DeviceBuffer mlpNorm, DeviceBuffer gateNorm, DeviceTernaryMatrix gateUp,
                               DeviceBuffer downNorm, DeviceTernaryMatrix down) {
        public LayerWeights {
            for (DeviceTernaryMatrix w : new DeviceTernaryMatrix[]{o, gateUp, down}) {
                if (w.blockRows() != ifg.blockRows()) {
                    throw new MmfreeException(LAYER + ": a layer's matrices must share one layout, got blocks of "
                            + ifg.blockRows() + " and " + w.blockRows() + " rows (0: chunk-major)");
                }
            }
            int d = ifg.in();
            int i = down.in();
            if (ifg.projections() != 3 || ifg.out() != d || o.projections() != 1 || o.in() != d || o.out() != d
                    || gateUp.projections() != 1 || gateUp.in() != d || gateUp.out() != 2 * i
                    || down.projections() != 1 || down.out() != d) {
                throw new MmfreeException(LAYER + ": shapes do not make an HGRNBit layer: i|f|g " + ifg.projections() + " x ["
                        + ifg.out() + ", " + d + "], o " + o.projections() + " x [" + o.out() + ", " + o.in() + "], gate|up "
                        + gateUp.projections() + " x [" + gateUp.out() + ", " + gateUp.in() + "], down " + down.projections()
                        + " x [" + down.out() + ", " + i + "]");
            }
        }

        /** The layer's width d. */
        public int d() {
            return ifg.in();
        }

        /** The MLP's width I. */
        public int intermediate() {
            return down.in();
        }
    }

    /**
     * The decode weights of {@code layers} layers, each kind stacked in one buffer: layer l's tensor starts l strides
     * (in elements) past layer 0's, which {@code first} holds at the start of each buffer. What {@link #layers} takes
     * to run them all in one launch.
     *
     * @param vec       floats from one layer's [d] vectors to the next: the attn, g, o, mlp and gate norms, the lower
     *                  bound, and the MLGRU state buffers the launch takes
     * @param ifgNorms  floats between the [3d] i|f|g norms
     * @param downNorm  floats between the [I] down_proj norms
     * @param scales    floats between the scales of every matrix (i|f|g's 3, one for each of the others)
     * @param ifgCodes  uint4 words between the i|f|g codes; oCodes, gateUpCodes, downCodes: the same for the others
     */
    public record LayerStack(LayerWeights first, int layers, int vec, int ifgNorms, int downNorm, int scales,
                             int ifgCodes, int oCodes, int gateUpCodes, int downCodes) {
        public LayerStack {
            if (layers < 1) {
                throw new MmfreeException(LAYER + ": a stack needs at least one layer, got " + layers);
            }
            if (layers > 1) {
                int d = first.ifg().in();
                int i = first.down().in();
                long[][] strideAndSize = {{vec, d}, {ifgNorms, 3L * d}, {downNorm, i}, {scales, 3},
                        {ifgCodes, words(first.ifg())}, {oCodes, words(first.o())}, {gateUpCodes, words(first.gateUp())},
                        {downCodes, words(first.down())}};
                String[] names = {"vec", "ifgNorms", "downNorm", "scales", "ifgCodes", "oCodes", "gateUpCodes", "downCodes"};
                for (int k = 0; k < names.length; k++) {
                    if (strideAndSize[k][0] < strideAndSize[k][1]) {
                        throw new MmfreeException(LAYER + ": stride " + names[k] + " " + strideAndSize[k][0]
                                + " is shorter than a layer's " + strideAndSize[k][1] + " elements");
                    }
                }
            }
        }

        /** One layer, unstacked. */
        public static LayerStack of(LayerWeights w) {
            return new LayerStack(w, 1, 0, 0, 0, 0, 0, 0, 0, 0);
        }

        /** uint4 words of a matrix's codes. */
        public static int words(DeviceTernaryMatrix w) {
            return w.chunks() * w.rowsPad();
        }

        /** Checks that every stacked buffer holds all the layers. */
        void checkSizes() {
            LayerWeights w = first;
            int d = w.ifg().in();
            int i = w.down().in();
            long more = layers - 1L;
            for (DeviceBuffer b : new DeviceBuffer[]{w.attnNorm(), w.lowerBound(), w.gNorm(), w.oNorm(), w.mlpNorm(), w.gateNorm()}) {
                need(b, 4L * (more * vec + d), "stacked [d] vector");
            }
            need(w.ifgNorms(), 4L * (more * ifgNorms + 3L * d), "stacked i|f|g norms");
            need(w.downNorm(), 4L * (more * downNorm + i), "stacked down_proj norm");
            DeviceTernaryMatrix[] ms = {w.ifg(), w.o(), w.gateUp(), w.down()};
            int[] strides = {ifgCodes, oCodes, gateUpCodes, downCodes};
            for (int k = 0; k < ms.length; k++) {
                need(ms[k].codes(), 16L * (more * strides[k] + words(ms[k])), "stacked codes");
                need(ms[k].scales(), 4L * (more * scales + ms[k].projections()), "stacked scales");
            }
        }
    }

    /**
     * All layers of a stack in one launch ({@value #LAYER}), one after another with a grid barrier between them:
     * {@link #layer} for each, but one enqueue a step instead of one a layer. The same co-scheduling rules and
     * {@link #barriers} apply.
     *
     * @param stateIn  [layers][vec] the MLGRU states in, at the stack's vec stride (stateOut likewise); x [d], g, gate [d]
     *                 and v [I] as in {@link #layer}
     */
    public Launch layers(int groups, LayerStack stack, float eps, float eps2, DeviceBuffer x, DeviceBuffer stateIn,
                         DeviceBuffer stateOut, DeviceBuffer g, DeviceBuffer gate, DeviceBuffer v) {
        stack.checkSizes();
        long stateBytes = 4L * ((stack.layers() - 1L) * stack.vec() + stack.first().ifg().in());
        need(stateIn, stateBytes, "stateIn");
        need(stateOut, stateBytes, "stateOut");
        return layer(groups, stack, eps, eps2, x, stateIn, stateOut, g, gate, v, null);
    }

    /**
     * A whole layer of one decode step in one launch ({@value #LAYER}): {@link #mlgruStep}, {@link #gemv}
     * of o_proj, {@link #swiGluGateUp} and {@link #gemv} of down_proj as phases of one kernel separated
     * by grid-wide barriers, on {@code groups} work-groups that each take row blocks in turn. A grid
     * barrier needs every work-group running at once, which OpenCL does not promise: give at most one
     * work-group per compute unit of a device running nothing else, and check {@link #barriers}
     * after the step (a barrier that waited too long gives up and flags it, so results are then wrong).
     *
     * @param x [d] the residual stream (in and out); stateIn, stateOut [d]; g, gate [d] and v [I] scratch
     */
    public Launch layer(int groups, LayerWeights lw, float eps, float eps2, DeviceBuffer x, DeviceBuffer stateIn,
                        DeviceBuffer stateOut, DeviceBuffer g, DeviceBuffer gate, DeviceBuffer v) {
        return layer(groups, LayerStack.of(lw), eps, eps2, x, stateIn, stateOut, g, gate, v, null);
    }

    /** Longs a {@link #layerTrace} launch of this many work-groups writes: 4 phases x groups x marks x 2. */
    public static long traceLongs(int groups) {
        return 4L * groups * TRACE_MARKS * 2;
    }

    /**
     * {@link #layer} built with {@code MMFREE_TRACE}, a diagnostic: work-item 0 of each work-group stamps the
     * GPU's clocks at the marks listed in {@code decode_common.cl} into {@code trace} ({@link #traceLongs}
     * longs: [phase][group][mark] x {%globaltimer ns, %clock64 cycles}; zero where a phase has no such mark,
     * and everywhere without inline PTX). The results are the same as {@link #layer}'s.
     */
    public Launch layerTrace(int groups, LayerWeights lw, float eps, float eps2, DeviceBuffer x, DeviceBuffer stateIn,
                             DeviceBuffer stateOut, DeviceBuffer g, DeviceBuffer gate, DeviceBuffer v, DeviceBuffer trace) {
        need(trace, 8 * traceLongs(groups), "trace");
        return layer(groups, LayerStack.of(lw), eps, eps2, x, stateIn, stateOut, g, gate, v, trace);
    }

    private Launch layer(int groups, LayerStack stack, float eps, float eps2, DeviceBuffer x, DeviceBuffer stateIn,
                         DeviceBuffer stateOut, DeviceBuffer g, DeviceBuffer gate, DeviceBuffer v, DeviceBuffer trace) {
        LayerWeights lw = stack.first();
        int d = lw.d();
        int i = lw.intermediate();
        if (groups < 1) {
            throw new MmfreeException(LAYER + ": groups must be >= 1, got " + groups);
        }
        need(x, 4L * d, "x");
        need(stateIn, 4L * d, "stateIn");
        need(stateOut, 4L * d, "stateOut");
        need(g, 4L * d, "g");
        need(gate, 4L * d, "gate");
        need(v, 4L * i, "v");
        int wg = tiling.workGroup();
        int chunksD = lw.ifg().chunks();
        int chunksI = lw.down().chunks();
        long qBytes = Math.max(3 * 64L * chunksD, 64L * chunksI);
        ClPrograms.checkLocal(device, LAYER, qBytes + 12L * wg + 24L * wg);
        int blockRows = lw.ifg().blockRows();
        String text = IFG.source("phase_ifg", prefetch(chunksD), wordsPerItem(chunksD), true, blockRows)
                + O_PROJ.source("phase_o", prefetch(chunksD), wordsPerItem(chunksD), true, blockRows)
                + GATE_UP.source("phase_gu", prefetch(chunksD), wordsPerItem(chunksD), true, blockRows)
                + DOWN.source("phase_down", prefetch(chunksI), wordsPerItem(chunksI), true, blockRows);
        String traced = (trace != null ? "#define MMFREE_TRACE 1\n" : "") + (stack.layers() == 1 ? "#define LAYER_LOOP 0\n" : "");
        DeviceProgram program = programs.computeIfAbsent(traced + text, t -> ClPrograms.buildText(device, tiling, LAYER,
                traced + ClPrograms.resource("bitlinear/decode_common.cl"), GridBarriers.source(device.info()), text,
                ClPrograms.resource("bitlinear/" + LAYER + ".cl")));
        DeviceBuffer sync = barriers.sync(groups);
        var k = program.kernel(LAYER).args(x, stateIn, stateOut, g, gate, v, eps, eps2, d, i,
                lw.attnNorm(), lw.ifgNorms(), lw.lowerBound(), lw.ifg().codes(), lw.ifg().scales(), lw.ifg().outPad(),
                lw.gNorm(), lw.oNorm(), lw.o().codes(), lw.o().scales(), lw.o().rowsPad(),
                lw.mlpNorm(), lw.gateNorm(), lw.gateUp().codes(), lw.gateUp().scales(), lw.gateUp().rowsPad(),
                lw.downNorm(), lw.down().codes(), lw.down().scales(), lw.down().rowsPad(), sync, barriers.error(),
                stack.layers(), stack.vec(), stack.ifgNorms(), stack.downNorm(), stack.scales(), stack.ifgCodes(), stack.oCodes(),
                stack.gateUpCodes(), stack.downCodes());
        int local = 41;
        if (trace != null) {
            k.arg(local++, trace);
        }
        k.argLocal(local, qBytes).argLocal(local + 1, 12L * wg).argLocal(local + 2, 24L * wg);
        return new Launch(k, new long[]{(long) groups * wg}, new long[]{wg});
    }

    /**
     * The state of the one-launch layers' grid barriers: after {@link #layer} launches, {@link GridBarriers#check()}
     * fails (and clears the flag) when one of them gave up, waiting for the launches; a stream of steps queues a read
     * of the flag with {@link GridBarriers#readAsync} instead and checks the copy.
     */
    public GridBarriers barriers() {
        return barriers;
    }

    private Launch launch(Phase phase, DeviceTernaryMatrix w, int rows, int rowStride,
                          DeviceBuffer x, DeviceBuffer norm1, float eps1, DeviceBuffer mult, DeviceBuffer norm2, float eps2,
                          DeviceBuffer y, DeviceBuffer y2, boolean accumulate,
                          DeviceBuffer lb, DeviceBuffer stateIn, DeviceBuffer stateOut) {
        int wg = tiling.workGroup();
        int chunks = w.chunks();
        long kPad = 64L * chunks;
        ClPrograms.checkLocal(device, KERNEL, phase.nq * kPad + 4L * phase.np * wg + 8L * phase.nq * wg);
        String text = phase.source("phase_main", prefetch(chunks), wordsPerItem(chunks), false, w.blockRows());
        DeviceProgram program = programs.computeIfAbsent(text, t -> ClPrograms.buildText(device, tiling, KERNEL,
                ClPrograms.resource("bitlinear/decode_common.cl"), t, ClPrograms.resource("bitlinear/" + KERNEL + ".cl")));
        var k = program.kernel(KERNEL).args(x, norm1 == null ? x : norm1, eps1, mult == null ? x : mult, norm2, eps2,
                w.codes(), w.scales(), w.in(), rows, rowStride, w.rowsPad(), chunks, y, y2, accumulate ? 1 : 0,
                lb, stateIn, stateOut);
        k.argLocal(19, phase.nq * kPad).argLocal(20, 4L * phase.np * wg).argLocal(21, 8L * phase.nq * wg);
        long groups = (rows + tiling.rows() - 1) / tiling.rows();
        if (maxGroups > 0) {
            groups = Math.min(groups, maxGroups);
        }
        return new Launch(k, new long[]{groups * wg}, new long[]{wg});
    }

    /**
     * Chunks a work-item prefetches a row: all its chunks, at most {@value #MAX_PREFETCH}. Exact, not
     * rounded up: each prefetched chunk holds NP uint4 registers whether or not it exists.
     */
    private int prefetch(int chunks) {
        return Math.min(MAX_PREFETCH, (chunks + tiling.slices() - 1) / tiling.slices());
    }

    /** Input words (4 elements) a work-item holds. */
    private int wordsPerItem(int chunks) {
        return (16 * chunks + tiling.workGroup() - 1) / tiling.workGroup();
    }

    /** One use of {@code decode_phase.cl}: rows a work-item, quantized inputs, epilogue, block norm, multiplier. */
    private record Phase(int np, int nq, int epi, boolean norm1, boolean mult) {
        /** The template stamped out as function fn with this phase's defines, reading weights blocked by blockRows rows. */
        String source(String fn, int prefetch, int words, boolean volatileInputs, int blockRows) {
            String[][] defs = {{"PHASE_FN", fn}, {"WBLOCK", "" + blockRows}, {"P_NP", "" + np}, {"P_NQ", "" + nq}, {"P_EPI", "" + epi},
                    {"P_NORM1", norm1 ? "1" : "0"}, {"P_MULT", mult ? "1" : "0"}, {"P_PF", "" + prefetch},
                    {"P_EPW", "" + words}, {"VOL", volatileInputs ? "volatile" : ""},
                    {"P_LOAD4", volatileInputs ? "load4_coherent" : "load4"}};
            StringBuilder b = new StringBuilder();
            for (String[] d : defs) {
                b.append("#define ").append(d[0]).append(' ').append(d[1]).append('\n');
            }
            b.append(ClPrograms.resource("bitlinear/decode_phase.cl"));
            for (String[] d : defs) {
                b.append("#undef ").append(d[0]).append('\n');
            }
            return b.toString();
        }
    }

    private static final Phase IFG = new Phase(3, 3, 1, true, false);
    private static final Phase GATE_UP = new Phase(2, 1, 2, true, false);
    private static final Phase O_PROJ = new Phase(1, 1, 0, true, true);
    private static final Phase DOWN = new Phase(1, 1, 0, false, false);

    private static void need(DeviceBuffer b, long bytes, String what) {
        if (b.bytes() < bytes) {
            throw new MmfreeException(KERNEL + ": buffer " + what + " (" + b.role() + ") has " + b.bytes() + " bytes, needs " + bytes);
        }
    }

    @Override
    public void close() {
        programs.values().forEach(DeviceProgram::close);
        programs.clear();
        barriers.close();
    }
}
