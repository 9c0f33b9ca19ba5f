package dev.mmfree.model.hgrn;

import dev.mmfree.kernels.bitlinear.BitLinearDecodeOpenCl;
import dev.mmfree.kernels.bitlinear.DecodeBatchLayerOpenCl;
import dev.mmfree.kernels.bitlinear.DeviceLayerStack;
import dev.mmfree.kernels.bitlinear.BitLinearOpenCl;
import dev.mmfree.kernels.bitlinear.BitLinearOpenCl.GemvSchedule;
import dev.mmfree.kernels.bitlinear.MmaShape;
import dev.mmfree.kernels.bitlinear.TernaryDeviceLayout;
import dev.mmfree.kernels.bitlinear.QuantizedInput;
import dev.mmfree.kernels.embedding.EmbeddingOpenCl;
import dev.mmfree.kernels.mlgru.MlgruOpenCl;
import dev.mmfree.kernels.opencl.GridBarriers;
import dev.mmfree.kernels.opencl.Tiling;
import dev.mmfree.kernels.rmsnormquant.RmsNormQuantOpenCl;
import dev.mmfree.kernels.rmsnormquant.RmsNormQuantReference;
import dev.mmfree.kernels.sampling.SamplerOpenCl;
import dev.mmfree.kernels.sampling.SamplingParams;
import dev.mmfree.kernels.swiglu.SwiGluOpenCl;
import dev.mmfree.model.CausalLm;
import dev.mmfree.model.DecodeStream;
import dev.mmfree.model.ModelInfo;
import dev.mmfree.model.QueuedDecodeStream;
import dev.mmfree.model.TokenChecks;
import dev.mmfree.model.config.HgrnBitConfig;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.DeviceEvent;
import dev.mmfree.runtime.HostBuffer;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.LaunchProfile;
import dev.mmfree.runtime.MemoryCategory;
import dev.mmfree.runtime.MemoryLedger;
import dev.mmfree.runtime.MmfreeException;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;
import java.util.random.RandomGenerator;

/**
 * HGRNBit on an OpenCL device ({@code ../shared/spec/hgrnbit.md}; {@link HgrnBitReference} is the
 * model it must match). Weights stay on the device; each {@link Batch} keeps its MLGRU states there
 * (double-buffered: a step reads one copy and writes the other); a forward call sends token ids and
 * brings back logits, or with {@link #forwardSample}/{@link #continueSample} only the next ids (sampled on
 * the device as {@code SamplerReference} does).
 *
 * <p>Batch-1 decoding is bound by launches (about 5.5 us each on the H200), so one token of one
 * sequence runs 4 launches a layer ({@link BitLinearDecodeOpenCl}), each a GEMV with the step's vector
 * work fused in front (norms, quantizer) and behind (the recurrence, SwiGLU, residual adds):
 * <pre>
 *   ids ─ gather ─ x
 *   per layer:  x, state[p] ─[attn_norm, i/f/g norms, quantize | GEMV i,f,g | MLGRU step]─ g, silu(state), state[1-p]
 *               g, silu(state) ─[g_norm gate, o norm, quantize | GEMV o_proj | x +=]─ x
 *               x ─[mlp_norm, gate norm, quantize | GEMV gate|up | SwiGLU]─ v
 *               v ─[down norm, quantize | GEMV down_proj | x +=]─ x
 *   x ─[norm, lm_head norm, quantize | GEMV lm_head]─ logits ─[argmax]─ ids
 * </pre>
 * 4L + 2 launches a token (+1 to sample). On a GPU (unless {@code MMFREE_OPENCL_PERSISTENT=0}) each layer is
 * one launch of the four as phases with grid-wide barriers on one work-group a compute unit
 * ({@link BitLinearDecodeOpenCl#layer}, checked after each step; 6-51% more tokens/s on the H200 at the 2.7B, 1.3B
 * and 370M shapes than four launches), and all L layers run in that one launch, a grid barrier between them
 * ({@link BitLinearDecodeOpenCl#layers}, from the weights stacked a kind to a buffer): 3 launches a token (+1 to
 * sample; {@code MMFREE_OPENCL_PERSISTENT=layer} for L + 2). There the host's enqueue calls, 5-20 us each in
 * NVIDIA's driver, had set the pace of a small model's step. Prefill and batched decoding (rows = b * t) run the GEMM
 * path instead, 9 launches a layer that read each weight once for all rows: norm-quantize, GEMM
 * i/f/g, MLGRU scan over t, gate norm-quantize, GEMM o_proj (+x), norm-quantize, GEMM gate_proj,
 * SwiGLU norm-quantize, GEMM down_proj (+x). A batched decode step (t = 1) runs the MLGRU step inside the gate
 * norm-quantize ({@code RmsNormQuantOpenCl#mlgruNormQuant}): 8 launches a layer. {@code MMFREE_OPENCL_BATCH_LAYER=1}
 * runs those 8 as phases of one launch a layer ({@link DecodeBatchLayerOpenCl}); slower on the H200, so off by
 * default. Long prompts go through in chunks of {@value #MAX_ROWS} rows.
 */
public final class HgrnBitOpenCl implements CausalLm {
    public static final String BACKEND = "opencl";
    /** Rows (b * t) of one GEMM-path pass: bounds the workspace; longer prompts run in chunks. */
    static final int MAX_ROWS = 256;
    private static final float BITLINEAR_EPS = RmsNormQuantReference.EPS;

    private final Device device;
    private final HgrnBitConfig c;
    private final float eps;
    private final boolean fusedDecode;
    private final LaunchProfile profile;   // null unless LaunchProfile.requestedMode() and, for its events, the device profiles
    private final int layerGroups;   // > 0: a decode step runs each layer as one launch on this many work-groups
    private final boolean allLayers; // and all layers in one launch
    private final int batchGroups;   // > 0: a batched decode step runs each layer as one launch on this many work-groups
    private final BitLinearOpenCl bitLinear;
    private final DecodeBatchLayerOpenCl batchLayer;   // null unless batchGroups > 0
    private final BitLinearDecodeOpenCl decode;        // wide outputs: gate|up, lm_head
    private final BitLinearDecodeOpenCl decodeNarrow;  // d outputs: i|f|g (3 rows a work-item), o_proj, down_proj
    private final MlgruOpenCl mlgru;
    private final SwiGluOpenCl swiglu;
    private final RmsNormQuantOpenCl normQuant;
    private final EmbeddingOpenCl embedding;
    private final SamplerOpenCl sampler;
    private final HgrnBitOpenClWeights w;
    private final ModelInfo info;
    private final Set<State> batches = Collections.newSetFromMap(new IdentityHashMap<>());
    private boolean closed;

    /**
     * Uploads the weights to the device, which this model then owns (closing the model closes it).
     *
     * @param fusedDecode false: batch-1 decode steps take the GEMM path too (for comparisons)
     */
    public HgrnBitOpenCl(HgrnBitWeights weights, Device device, boolean fusedDecode) {
        this(weights, device, fusedDecode, BitLinearDecodeOpenCl.defaultLayerGroups(device.info()));
    }

    /**
     * @param layerGroups with fusedDecode, 0 for four launches a layer at batch 1, or n > 0 for one a layer
     *                    on n work-groups, all of which the device must run at once (its grid barriers wait
     *                    for them; a barrier that waits too long fails the step with a DeviceException)
     */
    public HgrnBitOpenCl(HgrnBitWeights weights, Device device, boolean fusedDecode, int layerGroups) {
        this(weights, device, fusedDecode, layerGroups, orClose(device, TernaryDeviceLayout::blockRowsFromEnv));
    }

    /** A setting read from the environment; a bad one closes the device the constructor was handed. */
    private static <T> T orClose(Device device, Supplier<T> setting) {
        try {
            return setting.get();
        } catch (RuntimeException e) {
            device.close();
            throw e;
        }
    }

    /**
     * @param blockRows the layout the ternary weights are uploaded in ({@link TernaryDeviceLayout}): 0 chunk-major
     *                  (the default, {@value TernaryDeviceLayout#BLOCK_ENV} overrides it), else blocked by 16, 32 or 64 rows
     */
    public HgrnBitOpenCl(HgrnBitWeights weights, Device device, boolean fusedDecode, int layerGroups, int blockRows) {
        this(weights, device, fusedDecode, layerGroups, blockRows, orClose(device, BitLinearDecodeOpenCl::allLayersInOneLaunch));
    }

    /**
     * @param allLayers with layerGroups > 0, true: all layers of a decode step in one launch, from the stacked weights
     *                  (the default, {@link BitLinearDecodeOpenCl#allLayersInOneLaunch}); false: one launch a layer
     */
    public HgrnBitOpenCl(HgrnBitWeights weights, Device device, boolean fusedDecode, int layerGroups, int blockRows,
                         boolean allLayers) {
        this(weights, device, fusedDecode, layerGroups, blockRows, allLayers, orClose(device, () -> DecodeBatchLayerOpenCl.defaultGroups(
                device.info(), MmaShape.forTiling(Tiling.forDevice(device.info())).isPresent())));
    }

    /**
     * @param batchGroups 0: a batched decode step (several sequences, one token each) runs the GEMM path's 8 launches a
     *                    layer; n > 0: one launch a layer on n work-groups ({@link DecodeBatchLayerOpenCl}, in its
     *                    shape {@link DecodeBatchLayerOpenCl#defaultShape}; the default, by
     *                    {@link DecodeBatchLayerOpenCl#defaultGroups}, is 0: eight launches measured faster)
     */
    public HgrnBitOpenCl(HgrnBitWeights weights, Device device, boolean fusedDecode, int layerGroups, int blockRows,
                         boolean allLayers, int batchGroups) {
        if (layerGroups < 0 || batchGroups < 0) {
            device.close();
            throw new MmfreeException("hgrn opencl: layerGroups and batchGroups must be >= 0, got " + layerGroups + " and "
                    + batchGroups);
        }
        this.device = device;
        this.c = weights.config();
        this.eps = (float) c.rmsNormEps();
        this.fusedDecode = fusedDecode;
        this.layerGroups = layerGroups;
        this.allLayers = layerGroups > 0 && allLayers;
        this.batchGroups = batchGroups;
        try {
            LaunchProfile.Mode profileMode = LaunchProfile.requestedMode();
            this.profile = profileMode != null && (!profileMode.events() || device.profiling()) ? new LaunchProfile(profileMode) : null;
            Tiling tiling = Tiling.forDevice(device.info());
            Tiling narrow = Tiling.narrowForDevice(device.info());
            bitLinear = new BitLinearOpenCl(device, tiling, MmaShape.forTiling(tiling), GemvSchedule.forDevice(device.info()), blockRows);
            batchLayer = batchGroups > 0 ? new DecodeBatchLayerOpenCl(device, DecodeBatchLayerOpenCl.defaultShape(), tiling.ptx(), blockRows)
                    : null;
            decode = new BitLinearDecodeOpenCl(device, Tiling.decodeForDevice(device.info()));
            decodeNarrow = new BitLinearDecodeOpenCl(device, narrow);
            mlgru = new MlgruOpenCl(device, narrow);
            swiglu = new SwiGluOpenCl(device, Tiling.swiGluForDevice(device.info()));
            normQuant = new RmsNormQuantOpenCl(device, Tiling.normQuantForDevice(device.info()));
            embedding = new EmbeddingOpenCl(device, tiling);
            sampler = new SamplerOpenCl(device, tiling);
            w = new HgrnBitOpenClWeights(device, weights, blockRows);
        } catch (RuntimeException e) {
            device.close();
            throw e;
        }
        info = new ModelInfo(HgrnBitConfig.MODEL_TYPE, c.vocab(), c.hidden(), c.layers(), weights.parameterCount(),
                device.memory().bytes(MemoryCategory.WEIGHTS), weights.unpackedBytes(), 8L * c.layers() * c.hidden(), false);
    }

    @Override
    public ModelInfo info() {
        return info;
    }

    @Override
    public String backend() {
        return BACKEND;
    }

    @Override
    public String device() {
        return device.info().name();
    }

    @Override
    public MemoryLedger memory() {
        return device.memory();
    }

    @Override
    public Batch newBatch(int size) {
        checkOpen();
        if (size < 1) {
            throw new MmfreeException("hgrn_bit opencl: batch size must be >= 1, got " + size);
        }
        State s = new State(size);
        batches.add(s);
        return s;
    }

    @Override
    public float[][][] forward(Batch batch, int[][] tokens, boolean allPositions) {
        State s = state(batch);
        int t = TokenChecks.check(tokens, s.size, c.vocab());
        float[][][] logits = new float[s.size][allPositions ? t : 1][];
        run(s, tokens, t, allPositions ? Head.ALL : Head.LAST, (rows, from, n) -> {
            int v = c.vocab();
            float[] all = new float[rows * v];
            device.read(s.ws.logits, 0, all, 0, all.length);
            for (int b = 0; b < s.size; b++) {
                for (int p = 0; p < (allPositions ? n : 1); p++) {
                    int row = allPositions ? b * n + p : b;
                    logits[b][allPositions ? from + p : 0] = Arrays.copyOfRange(all, row * v, (row + 1) * v);
                }
            }
        });
        return logits;
    }

    /**
     * Feeds tokens like {@link #forward} and returns each sequence's next id, sampled on the device
     * from the last position's logits under params with this step's uniform u[b] (see SamplerReference).
     */
    @Override
    public int[] forwardSample(Batch batch, int[][] tokens, SamplingParams params, double[] u) {
        State s = state(batch);
        int t = TokenChecks.check(tokens, s.size, c.vocab());
        int[] ids = new int[s.size];
        s.sampling(params, u);
        run(s, tokens, t, Head.SAMPLE, (rows, from, n) -> device.read(s.ws.ids, 0, ids, 0, s.size));
        s.idsOnDevice = true;
        return SamplerOpenCl.check(ids);
    }

    /** Feeds every sequence the id the last sampling call returned (it never left the device) and samples the next. */
    public int[] continueSample(Batch batch, SamplingParams params, double[] u) {
        State s = state(batch);
        if (!s.idsOnDevice) {
            throw new MmfreeException("hgrn_bit opencl: continueSample needs a forwardSample or continueSample call before it");
        }
        s.sampling(params, u);
        int[] ids = new int[s.size];
        pass(s, 1, Head.SAMPLE, true);
        device.read(s.ws.ids, 0, ids, 0, s.size);
        s.position++;
        return SamplerOpenCl.check(ids);
    }

    /** {@link #forwardSample} with greedy decoding. */
    @Override
    public int[] forwardGreedy(Batch batch, int[][] tokens) {
        return forwardSample(batch, tokens, SamplingParams.greedy(), new double[state(batch).size]);
    }

    /** {@link #continueSample} with greedy decoding. */
    public int[] continueGreedy(Batch batch) {
        return continueSample(batch, SamplingParams.greedy(), new double[state(batch).size]);
    }

    /**
     * Decode steps run one ahead: while the caller handles a step's ids, the next step is queued on the
     * device behind it, and its ids come back by an asynchronous read. Closing undoes that queued step
     * (the MLGRU state is double-buffered, so the parity flips back) and leaves the last returned ids in
     * the batch's id buffer, as {@link #continueSample} would.
     */
    @Override
    public DecodeStream decodeStream(Batch batch, int[] last, SamplingParams params, RandomGenerator uniforms) {
        State s = state(batch);
        TokenChecks.check(CausalLm.column(last), s.size, c.vocab());
        s.stream = new Stream(s, last, params, uniforms);
        return s.stream;
    }

    /**
     * One step ahead on the batch's queue; undoing it flips the MLGRU state back to its other buffer. With one
     * launch a layer, a step's grid-barrier flag comes back beside its ids, so the host never waits on a step
     * that it has not yet asked for.
     */
    private final class Stream extends QueuedDecodeStream {
        private final State s;
        private final SamplingParams params;
        private final HostBuffer[] flags = new HostBuffer[2];   // a slot's copy of the grid barriers' flag
        private final GridBarriers[] flagged = new GridBarriers[2];   // a slot's step's grid barriers, if it had any

        Stream(State s, int[] last, SamplingParams params, RandomGenerator uniforms) {
            super(device, s.ensured().ws.ids, last, params, uniforms);
            this.s = s;
            this.params = params;
            try {
                for (int slot = 0; slot < 2; slot++) {
                    flags[slot] = device.allocateHost(4, "grid barrier flag of decode slot " + slot);
                }
                if (!params.isGreedy()) {
                    s.allocateSampling();
                }
            } catch (RuntimeException e) {
                release();
                throw e;
            }
            s.idsOnDevice = true;
        }

        @Override
        protected List<DeviceEvent> enqueueStep(int slot, ByteBuffer uniforms) {
            List<DeviceEvent> events = new ArrayList<>(2);
            if (uniforms != null) {
                events.add(device.writeAsync(s.u[s.parity], 0, uniforms));
            }
            s.params = params;
            flagged[slot] = pass(s, 1, Head.SAMPLE, false);
            if (flagged[slot] != null) {
                DeviceEvent read = flagged[slot].readAsync(flags[slot].bytes());
                if (read != null) {
                    events.add(read);
                }
            }
            s.position++;
            return events;
        }

        @Override
        protected void checkStep(int slot) {
            if (flagged[slot] != null) {
                flagged[slot].check(flags[slot].bytes());
            }
        }

        @Override
        protected void undoStep() {
            s.parity ^= 1;
            s.position--;
        }

        @Override
        protected boolean modelOpen() {
            return !closed;
        }

        @Override
        protected void detached() {
            for (int slot = 0; slot < 2; slot++) {
                if (flags[slot] != null) {
                    flags[slot].close();
                    flags[slot] = null;
                }
            }
            s.stream = null;
        }
    }

    private enum Head { NONE, LAST, ALL, SAMPLE }

    private interface Collect {
        void rows(int rows, int from, int n);
    }

    /** Runs tokens [b][t] in chunks of at most MAX_ROWS rows; collect reads each chunk's results. */
    private void run(State s, int[][] tokens, int t, Head head, Collect collect) {
        int b = s.size;
        int chunk = Math.max(1, Math.min(t, MAX_ROWS / b));
        for (int from = 0; from < t; from += chunk) {
            int n = Math.min(chunk, t - from);
            boolean last = from + n == t;
            Head h = head == Head.ALL || last ? head : Head.NONE;
            int[] ids = new int[b * n];
            for (int q = 0; q < b; q++) {
                System.arraycopy(tokens[q], from, ids, q * n, n);
            }
            s.ensure(b * n);
            device.write(s.ws.ids, 0, ids, 0, ids.length);
            s.idsOnDevice = false;
            pass(s, n, h, true);
            if (h != Head.NONE) {
                collect.rows(h == Head.ALL ? b * n : b, from, n);
            }
        }
        s.position += t;
    }

    /**
     * One pass of n tokens a sequence whose ids are in ws.ids: enqueues its plan and flips the state parity.
     * Returns the grid barriers of its one-launch layers, or null when it ran none; it checks their flag (waiting
     * for the pass) only with checkSync; a stream reads the flag back with the step's ids instead.
     */
    private GridBarriers pass(State s, int n, Head head, boolean checkSync) {
        s.ensure(s.size * n);
        boolean fused = s.size == 1 && n == 1 && fusedDecode;
        String key = s.parity + ":" + n + ":" + head + (head == Head.SAMPLE ? ":" + s.params : "");
        List<Launch> plan = s.plans.get(key);
        if (plan == null) {
            if (s.plans.size() > 16) {
                s.closePlans();
            }
            plan = fused ? fusedPlan(s, head) : gemmPlan(s, n, head);
            s.plans.put(key, plan);
        }
        if (profile != null) {
            profile.step();
        }
        for (Launch l : plan) {
            if (profile != null) {
                profile.run(l, device);
            } else {
                l.enqueue(device);
            }
        }
        GridBarriers barriers = fused && layerGroups > 0 ? decodeNarrow.barriers()
                : !fused && n == 1 && batchLayer != null ? batchLayer.barriers() : null;
        if (barriers != null && checkSync) {
            barriers.check();
        }
        s.parity ^= 1;
        return barriers;
    }

    /** One token of one sequence: 4 fused launches a layer, one a layer, or one for all layers (see layerGroups, allLayers). */
    private List<Launch> fusedPlan(State s, Head head) {
        Workspace ws = s.ws;
        int d = c.hidden();
        int p = s.parity;
        List<Launch> plan = new ArrayList<>();
        plan.add(embedding.gather(ws.ids, w.embeddings, ws.x, d, 1));
        if (allLayers) {   // all layers in one launch, from the stacks
            if (s.stateStride != w.stack.stack().vec()) {
                throw new IllegalStateException("hgrn opencl: state stride " + s.stateStride + " != the stacks' " + w.stack.stack().vec());
            }
            plan.add(decodeNarrow.layers(layerGroups, w.stack.stack(), eps, BITLINEAR_EPS, ws.x, s.stateStacks[p], s.stateStacks[1 - p],
                    ws.ifg, ws.gate, ws.gateUp));
        }
        for (int l = 0; l < c.layers() && !allLayers; l++) {
            HgrnBitOpenClWeights.Layer y = w.layers.get(l);
            if (layerGroups > 0) {
                plan.add(decodeNarrow.layer(layerGroups, y.decode(), eps, BITLINEAR_EPS, ws.x, s.state[l][p], s.state[l][1 - p],
                        ws.ifg, ws.gate, ws.gateUp));
                continue;
            }
            plan.add(decodeNarrow.mlgruStep(y.ifg(), ws.x, y.attnNorm(), eps, y.ifgNorms(), BITLINEAR_EPS, y.lowerBound(),
                    s.state[l][p], s.state[l][1 - p], ws.ifg, ws.gate));
            plan.add(decodeNarrow.gemv(y.oProj(), ws.ifg, y.outGateNorm(), eps, ws.gate, y.oNorm(), BITLINEAR_EPS, ws.x, true));
            plan.add(decode.swiGluGateUp(y.gateProj(), ws.x, y.mlpNorm(), eps, y.gateNorm(), BITLINEAR_EPS, ws.gateUp));
            plan.add(decodeNarrow.gemv(y.downProj(), ws.gateUp, null, 0f, null, y.downNorm(), BITLINEAR_EPS, ws.x, true));
        }
        if (head != Head.NONE) {
            plan.add(decode.gemv(w.lmHead, ws.x, w.norm, eps, null, w.lmHeadNorm, BITLINEAR_EPS, ws.logits, false));
            if (head == Head.SAMPLE) {
                plan.add(sampler.sample(ws.logits, c.vocab(), c.vocab(), s.params, s.u[p], s.sampleScratch, ws.ids, 1));
            }
        }
        return plan;
    }

    /** n tokens of each of b sequences, rows = b * n in sequence-major order: 9 launches a layer, 8 for a decode step (n = 1). */
    private List<Launch> gemmPlan(State s, int n, Head head) {
        Workspace ws = s.ws;
        int b = s.size;
        int rows = b * n;
        int d = c.hidden();
        int p = s.parity;
        List<Launch> plan = new ArrayList<>();
        plan.add(embedding.gather(ws.ids, w.embeddings, ws.x, d, rows));
        for (int l = 0; l < c.layers(); l++) {
            HgrnBitOpenClWeights.Layer y = w.layers.get(l);
            if (n == 1 && batchLayer != null) {   // a decode step: the layer's eight launches as one
                plan.add(batchLayer.layer(batchGroups, y.decode(), eps, BITLINEAR_EPS, rows, ws.x, s.state[l][p], s.state[l][1 - p],
                        ws.qIfg, ws.qD, ws.qI, ws.ifg, ws.gateUp));
                continue;
            }
            plan.add(normQuant.normQuant(ws.x, d, 0, null, y.attnNorm(), eps, y.ifgNorms(), BITLINEAR_EPS, ws.qIfg, rows));
            plan.add(bitLinear.gemm(y.ifg(), ws.qIfg, rows, ws.ifg, false));
            if (n == 1) {   // a decode step: the MLGRU step inside the output gate's norm-quantize
                plan.add(normQuant.mlgruNormQuant(ws.ifg, y.lowerBound(), s.state[l][p], s.state[l][1 - p], y.outGateNorm(), eps,
                        y.oNorm(), BITLINEAR_EPS, ws.qD, rows));
            } else {
                plan.add(mlgru.scan(ws.ifg, y.lowerBound(), s.state[l][p], s.state[l][1 - p], ws.gate, d, n, b));
                plan.add(normQuant.normQuant(ws.ifg, 3 * d, 2 * d, ws.gate, y.outGateNorm(), eps, y.oNorm(), BITLINEAR_EPS, ws.qD, rows));
            }
            plan.add(bitLinear.gemm(y.oProj(), ws.qD, rows, ws.x, true));
            plan.add(normQuant.normQuant(ws.x, d, 0, null, y.mlpNorm(), eps, y.gateNorm(), BITLINEAR_EPS, ws.qD, rows));
            plan.add(bitLinear.gemm(y.gateProj(), ws.qD, rows, ws.gateUp, false));
            plan.add(swiglu.normQuant(ws.gateUp, y.downNorm(), BITLINEAR_EPS, ws.qI, rows));
            plan.add(bitLinear.gemm(y.downProj(), ws.qI, rows, ws.x, true));
        }
        if (head != Head.NONE) {
            boolean all = head == Head.ALL;
            int headRows = all ? rows : b;
            plan.add(normQuant.normQuant(ws.x, all ? d : n * d, all ? 0 : (n - 1) * d, null, w.norm, eps, w.lmHeadNorm,
                    BITLINEAR_EPS, ws.qD, headRows));
            plan.add(bitLinear.gemm(w.lmHead, ws.qD, headRows, ws.logits, false));
            if (head == Head.SAMPLE) {
                plan.add(sampler.sample(ws.logits, c.vocab(), c.vocab(), s.params, s.u[p], s.sampleScratch, ws.ids, headRows));
            }
        }
        return plan;
    }

    /** The batch as this model's, open and not driven by a decode stream. */
    private State state(Batch batch) {
        checkOpen();
        if (!(batch instanceof State s) || !batches.contains(s)) {
            throw new MmfreeException("hgrn_bit opencl: the batch is closed or belongs to another model");
        }
        if (s.stream != null) {
            throw new MmfreeException("hgrn_bit opencl: a decode stream is open on this batch; close it first");
        }
        return s;
    }

    private void checkOpen() {
        if (closed) {
            throw new MmfreeException("hgrn_bit opencl: model is closed");
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        for (State s : new ArrayList<>(batches)) {
            s.close();
        }
        if (profile != null) {
            profile.print(System.err, c.layers() + " layers, d " + c.hidden() + ", on " + device.info().name());
        }
        w.close();
        List<AutoCloseable> kernels = new ArrayList<>(List.of(bitLinear, decode, decodeNarrow, mlgru, swiglu, normQuant, embedding, sampler));
        if (batchLayer != null) {
            kernels.add(batchLayer);
        }
        for (AutoCloseable k : kernels) {
            try {
                k.close();
            } catch (Exception e) {
                // the device's close below releases it anyway
            }
        }
        device.close();
        closed = true;
    }

    /** Activations of one pass, for up to `rows` rows (b * t). */
    private final class Workspace implements AutoCloseable {
        final int rows;
        final DeviceBuffer ids;       // [rows] int: token ids in, sampled ids out
        final DeviceBuffer x;         // [rows][d] the residual stream
        final DeviceBuffer ifg;       // [rows][3d] i | f | g
        final DeviceBuffer gate;      // [rows][d] silu(state): the output gate's multiplier
        final DeviceBuffer gateUp;    // [rows][2I]
        final DeviceBuffer logits;    // [rows][V]
        final QuantizedInput qIfg; // 3 x [rows][d]
        final QuantizedInput qD;   // [rows][d]: o_proj, gate_proj and lm_head inputs
        final QuantizedInput qI;   // [rows][I]: down_proj input

        Workspace(int rows) {
            this.rows = rows;
            int d = c.hidden();
            MemoryCategory m = MemoryCategory.WORKSPACE;
            ids = device.allocate(m, 4L * rows, "ids");
            x = device.allocate(m, 4L * rows * d, "x");
            ifg = device.allocate(m, 12L * rows * d, "ifg");
            gate = device.allocate(m, 4L * rows * d, "gate");
            gateUp = device.allocate(m, 8L * rows * c.intermediate(), "gate|up");
            logits = device.allocate(m, 4L * rows * c.vocab(), "logits");
            qIfg = QuantizedInput.allocate(device, m, "i/f/g input", 3, rows, d);
            qD = QuantizedInput.allocate(device, m, "d input", 1, rows, d);
            qI = QuantizedInput.allocate(device, m, "down input", 1, rows, c.intermediate());
        }

        @Override
        public void close() {
            for (AutoCloseable a : List.of(ids, x, ifg, gate, gateUp, logits, qIfg, qD, qI)) {
                try {
                    a.close();
                } catch (Exception e) {
                    // released with the device at the latest
                }
            }
        }
    }

    /**
     * A batch: MLGRU states [L][2] x [b][d] f32 on the device (per parity one buffer of all layers at stateStride
     * floats, state[l][p] its slices), its workspace and its launch plans.
     */
    private final class State implements Batch {
        final int size;
        final DeviceBuffer[][] state;
        final DeviceBuffer[] stateStacks = new DeviceBuffer[2];
        final int stateStride;
        final Map<String, List<Launch>> plans = new HashMap<>();
        Workspace ws;
        SamplingParams params = SamplingParams.greedy();
        final DeviceBuffer[] u = new DeviceBuffer[2];  // [b] double: the uniforms of the step of each parity
        DeviceBuffer sampleScratch;   // [b][V] double: the top-k/top-p sampler's weights
        int parity;
        int position;
        boolean idsOnDevice;
        Stream stream;                // the open decode stream, which alone may drive the batch

        State(int size) {
            this.size = size;
            this.state = new DeviceBuffer[c.layers()][2];
            this.stateStride = DeviceLayerStack.stride(device, size * c.hidden(), 4);
            for (int p = 0; p < 2; p++) {
                stateStacks[p] = device.allocate(MemoryCategory.STATE, 4L * c.layers() * stateStride, "states " + p + " of " + c.layers() + " layers");
                device.fill(stateStacks[p], 0);
                for (int l = 0; l < c.layers(); l++) {
                    state[l][p] = device.slice(stateStacks[p], 4L * l * stateStride, 4L * size * c.hidden(), "layer " + l + " state " + p);
                }
            }
            ensure(size);
        }

        /** This state, its workspace grown to its own batch size at least. */
        State ensured() {
            ensure(size);
            return this;
        }

        /** Grows the workspace to hold rows rows; plans made for the old one are dropped. */
        void ensure(int rows) {
            if (ws != null && ws.rows >= rows) {
                return;
            }
            closePlans();
            if (ws != null) {
                ws.close();
            }
            ws = new Workspace(Math.max(rows, size));
        }

        /** Sets the next sampling launch's params and uploads its uniforms (allocating their buffers once). */
        void sampling(SamplingParams p, double[] uniforms) {
            if (uniforms.length != size) {
                throw new MmfreeException("hgrn_bit opencl: " + uniforms.length + " uniforms for a batch of " + size);
            }
            params = p;
            if (p.isGreedy()) {
                return;
            }
            allocateSampling();
            ByteBuffer b = ByteBuffer.allocate(8 * size).order(ByteOrder.nativeOrder());
            for (double x : uniforms) {
                b.putDouble(x);
            }
            device.write(u[parity], 0, b.array(), 0, 8 * size);
        }

        void allocateSampling() {
            if (sampleScratch == null) {
                u[0] = device.allocate(MemoryCategory.WORKSPACE, 8L * size, "sampling u, even steps");
                u[1] = device.allocate(MemoryCategory.WORKSPACE, 8L * size, "sampling u, odd steps");
                sampleScratch = device.allocate(MemoryCategory.WORKSPACE, 8L * size * c.vocab(), "sampling weights");
            }
        }

        void closePlans() {
            for (List<Launch> plan : plans.values()) {
                plan.forEach(Launch::close);
            }
            plans.clear();
        }

        @Override
        public int size() {
            return size;
        }

        @Override
        public int position() {
            return position;
        }

        @Override
        public void close() {
            if (!batches.remove(this)) {
                return;
            }
            if (stream != null) {
                stream.release();
            }
            closePlans();
            ws.close();
            if (sampleScratch != null) {
                u[0].close();
                u[1].close();
                sampleScratch.close();
            }
            for (DeviceBuffer[] pair : state) {
                pair[0].close();
                pair[1].close();
            }
            stateStacks[0].close();
            stateStacks[1].close();
        }
    }
}
