package dev.mmfree.model.llama;

import dev.mmfree.kernels.attention.AttentionOpenCl;
import dev.mmfree.kernels.gemv.DenseLayerOpenCl;
import dev.mmfree.kernels.gemv.DenseShape;
import dev.mmfree.kernels.gemv.GemvOpenCl;
import dev.mmfree.kernels.gemv.Storage;
import dev.mmfree.kernels.opencl.Tiling;
import dev.mmfree.kernels.sampling.SamplerOpenCl;
import dev.mmfree.kernels.sampling.SamplingParams;
import dev.mmfree.model.CausalLm;
import dev.mmfree.model.DecodeStream;
import dev.mmfree.model.ModelInfo;
import dev.mmfree.model.QueuedDecodeStream;
import dev.mmfree.model.TokenChecks;
import dev.mmfree.model.config.LlamaConfig;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.DeviceEvent;
import dev.mmfree.runtime.HostBuffer;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.LaunchProfile;
import dev.mmfree.runtime.MemoryCategory;
import dev.mmfree.runtime.MemoryLedger;
import dev.mmfree.runtime.MmfreeException;
import dev.mmfree.runtime.opencl.OpenCl;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.random.RandomGenerator;

/**
 * The Transformer++ baseline ({@link LlamaReference}'s function) on an OpenCL device: weights resident
 * (matrices fp16 or fp32, {@link Storage}; norms float32), a KV cache per batch on the device, and per
 * call only token ids in and logits out, or, sampling on the device, sampled ids out. One forward call
 * runs R = b * t activation rows at once (GEMV kernels for R = 1, tiled GEMM otherwise, split along K
 * when there are few tiles: prefill and batched decode), in chunks of at most {@value #MAX_ROWS} rows, so
 * the workspace stays bounded for long prompts.
 *
 * <pre>
 * ids ─► rows_gather(embed_tokens) ─► x [R, d]                                       (1 launch)
 * per layer:
 *   x ─► gemv/gemm_norm_rope_kv(input_layernorm, [Wq;Wk;Wv]) ─► q [R, H*hd]; k, v ─► cache[l] at pos0..
 *   q, cache[l] ─► attention (S splits of the context) [─► attention_combine when S > 1] ─► attn [R, H*hd]
 *   attn ─► gemv/gemm_add(Wo) ─► x +=
 *   x ─► gemv/gemm_norm_swiglu(post_attention_layernorm, [Wg|Wu]) ─► act [R, I]
 *   act ─► gemv/gemm_add(Wd) ─► x +=                                                 (5 launches, 6 when S > 1;
 *                                                 a GEMM split along K adds its gemm_reduce launch)
 * x (wanted rows) ─► gemv/gemm_norm(model.norm, lm_head) ─► logits                   (1 launch)
 * logits ─► argmax or top-k/top-p sampling ─► ids, which the next step gathers       (1 launch, sampling calls)
 * </pre>
 *
 * <p>A step of one activation row (decode at batch 1) runs each layer's five or six launches as one, {@link
 * DenseLayerOpenCl}, with grid barriers between its phases: by default on GPUs with NVIDIA's inline PTX
 * ({@value DenseLayerOpenCl#ENV} turns it off), and a grid barrier that gave up fails the call with a
 * {@link dev.mmfree.runtime.DeviceException}.
 *
 * <p>KV cache: per layer keys and values [b, cap, KV*hd] in the storage type, category STATE. cap grows
 * in blocks of {@value #KV_BLOCK} positions: a call that needs more allocates the larger caches, copies
 * the filled positions on the device and frees the old ones, so measured state follows the context
 * (within one block) at the cost of an O(context) copy once per block. Workspace (category WORKSPACE)
 * grows to the largest chunk seen.
 *
 * <p>Memory is counted in this model's own {@link #memory()} ledger (also on a shared device); the
 * device's ledger sees the same buffers. {@link #LlamaOpenCl(Device, LlamaWeights, Storage)} leaves the
 * device to the caller; {@link #onDefaultDevice} opens one and closes it with the model. Closing the
 * model closes its open batches. Not thread-safe.
 */
public final class LlamaOpenCl implements CausalLm {
    public static final String BACKEND = "opencl";
    /** Activation rows per chunk of a forward call. */
    static final int MAX_ROWS = 512;
    /** Positions by which a KV cache grows. */
    static final int KV_BLOCK = 256;
    /** meta: [pos0, tps, rows, splits] */
    private static final int META_INTS = 4;

    private final Device device;
    private final boolean ownsDevice;
    private final LlamaConfig c;
    private final Storage storage;
    private final ModelInfo info;
    private final MemoryLedger memory = new MemoryLedger();
    private final GemvOpenCl dense;
    private final AttentionOpenCl attention;
    private final SamplerOpenCl sampler;
    private final DenseLayerOpenCl layer;   // the one-launch layer at batch 1, or null
    private final LlamaDeviceWeights w;
    private final Set<Sequences> open = Collections.newSetFromMap(new IdentityHashMap<>());
    private Workspace ws;
    private boolean closed;
    /** {@link LaunchProfile#ENV}: times the launches of batch-1 one-launch steps (embedding, layers, head), else null. */
    private final LaunchProfile profile;

    /** fp16 matrices and KV cache on a device the caller owns (and closes after this model). */
    public LlamaOpenCl(Device device, LlamaWeights weights) {
        this(device, weights, Storage.F16, false);
    }

    /** Matrices and KV cache in {@code storage} on a device the caller owns. */
    public LlamaOpenCl(Device device, LlamaWeights weights, Storage storage) {
        this(device, weights, storage, false);
    }

    /**
     * As {@link #LlamaOpenCl(Device, LlamaWeights, Storage)}, with the one-launch layer at batch 1 on
     * {@code layerGroups} work-groups of {@code layerWg} items (at most one per compute unit of a GPU), or
     * five launches a layer when layerGroups is 0.
     */
    public LlamaOpenCl(Device device, LlamaWeights weights, Storage storage, int layerGroups, int layerWg) {
        this(device, weights, storage, false, layerGroups, layerWg);
    }

    /** On the default OpenCL device ({@link OpenCl#open} with no selector), which the model closes. */
    public static LlamaOpenCl onDefaultDevice(LlamaWeights weights, Storage storage) {
        Device d = OpenCl.open(null, LaunchProfile.needsProfilingDevice());
        try {
            return new LlamaOpenCl(d, weights, storage, true);
        } catch (RuntimeException e) {
            d.close();
            throw e;
        }
    }

    private LlamaOpenCl(Device device, LlamaWeights weights, Storage storage, boolean ownsDevice) {
        this(device, weights, storage, ownsDevice, -1, -1);
    }

    /** layerGroups and layerWg -1: the device's defaults ({@link DenseLayerOpenCl#defaultGroups}), where the layer fits. */
    private LlamaOpenCl(Device device, LlamaWeights weights, Storage storage, boolean ownsDevice, int layerGroups, int layerWg) {
        LaunchProfile.Mode profileMode = LaunchProfile.requestedMode();
        this.profile = profileMode != null && (!profileMode.events() || device.profiling()) ? new LaunchProfile(profileMode) : null;
        this.device = device;
        this.ownsDevice = ownsDevice;
        this.c = weights.config();
        this.storage = storage;
        AttentionOpenCl.Shape as = AttentionOpenCl.Shape.forDevice(device.info().gpu());
        if (as.wg() < c.headDim()) {
            as = new AttentionOpenCl.Shape(Integer.highestOneBit(c.headDim() - 1) << 1, as.block(), as.minShare());
        }
        GemvOpenCl g = null;
        AttentionOpenCl a = null;
        SamplerOpenCl sa = null;
        DenseLayerOpenCl la = null;
        try {
            DenseShape shape = DenseShape.forDevice(device.info());
            g = new GemvOpenCl(device, storage, shape);
            a = new AttentionOpenCl(device, storage, c.headDim(), c.groupSize(), as);
            sa = new SamplerOpenCl(device, Tiling.forDevice(device.info()));
            la = layer(device, storage, shape, as, layerGroups, layerWg);
            this.w = new LlamaDeviceWeights(device, weights, storage);
        } catch (RuntimeException e) {
            for (AutoCloseable k : new AutoCloseable[]{g, a, sa, la}) {
                if (k != null) {
                    try {
                        k.close();
                    } catch (Exception ignored) {
                        // the device's close releases it anyway
                    }
                }
            }
            throw e;
        }
        this.dense = g;
        this.attention = a;
        this.sampler = sa;
        this.layer = la;
        memory.allocated(MemoryCategory.WEIGHTS, w.bytes());
        long kvPerToken = 2L * c.layers() * c.kvHeads() * c.headDim() * storage.bytes();
        this.info = new ModelInfo(LlamaConfig.MODEL_TYPE, c.vocab(), c.hidden(), c.layers(), weights.parameterCount(),
                w.bytes(), weights.unpackedBytes(), kvPerToken, true);
    }

    /**
     * The one-launch layer: on the given work-groups, or with -1 the device's defaults where the head dim and
     * local memory allow it; null for five launches a layer.
     */
    private DenseLayerOpenCl layer(Device device, Storage storage, DenseShape shape, AttentionOpenCl.Shape as,
                                   int groups, int wg) {
        var dims = new DenseLayerOpenCl.Dims(c.hidden(), c.intermediate(), c.heads(), c.kvHeads(), c.headDim());
        if (groups < 0) {
            groups = DenseLayerOpenCl.defaultGroups(device.info(), shape);
            wg = DenseLayerOpenCl.defaultWorkGroup(device.info(), shape);
            if (groups > 0 && (wg < c.headDim() || DenseLayerOpenCl.localBytes(dims, wg,
                    new AttentionOpenCl.Shape(wg, as.block(), as.minShare())) > device.info().localMemBytes())) {
                groups = 0;   // the model does not fit the layer's work-group: five launches a layer
            }
        }
        if (groups == 0) {
            return null;
        }
        var attention = new AttentionOpenCl.Shape(wg, as.block(), as.minShare());
        return new DenseLayerOpenCl(device, storage, dims, groups, wg, shape.ptx(), attention);
    }

    /** Whether a batch-1 decode step runs one launch a layer. */
    public boolean oneLaunchLayers() {
        return layer != null;
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

    public Storage storage() {
        return storage;
    }

    @Override
    public MemoryLedger memory() {
        return memory;
    }

    @Override
    public Batch newBatch(int size) {
        checkOpen();
        if (size < 1) {
            throw new MmfreeException("llama opencl: batch size must be >= 1, got " + size);
        }
        Sequences s = new Sequences(size);
        open.add(s);
        return s;
    }

    @Override
    public float[][][] forward(Batch batch, int[][] tokens, boolean allPositions) {
        Sequences s = idle(batch);
        int t = TokenChecks.check(tokens, s.size, c.vocab());
        int chunk = Math.max(1, Math.min(t, MAX_ROWS / s.size));
        float[][][] logits = new float[s.size][allPositions ? t : 1][];
        for (int c0 = 0; c0 < t; c0 += chunk) {
            int tc = Math.min(chunk, t - c0);
            boolean last = c0 + tc == t;
            float[] out = s.run(tokens, c0, tc, allPositions ? 2 : last ? 1 : 0);
            if (allPositions) {
                for (int b = 0; b < s.size; b++) {
                    for (int i = 0; i < tc; i++) {
                        logits[b][c0 + i] = slice(out, b * tc + i);
                    }
                }
            } else if (last) {
                for (int b = 0; b < s.size; b++) {
                    logits[b][0] = slice(out, b);
                }
            }
        }
        return logits;
    }

    /**
     * Feeds tokens like {@link #forward} and samples each sequence's next id on the device, so only ids
     * cross the bus; top-k/top-p on a device without fp64 falls back to sampling the logits on the host.
     */
    @Override
    public int[] forwardSample(Batch batch, int[][] tokens, SamplingParams params, double[] u) {
        if (!params.isGreedy() && !device.info().fp64()) {
            return CausalLm.super.forwardSample(batch, tokens, params, u);
        }
        Sequences s = idle(batch);
        int t = TokenChecks.check(tokens, s.size, c.vocab());
        if (u.length != s.size) {
            throw new MmfreeException("llama opencl: " + u.length + " uniforms for a batch of " + s.size);
        }
        int chunk = Math.max(1, Math.min(t, MAX_ROWS / s.size));
        for (int c0 = 0; c0 < t; c0 += chunk) {
            int tc = Math.min(chunk, t - c0);
            if (c0 + tc < t) {
                s.run(tokens, c0, tc, 0);
            } else {
                s.uploadUniforms(0, u);
                s.runAndSample(tokens, c0, tc, params);
            }
        }
        int[] ids = new int[s.size];
        device.read(s.ids, 0, ids, 0, s.size);
        return SamplerOpenCl.check(ids);
    }

    /**
     * Decode steps run one ahead, like {@link HgrnBitOpenCl#decodeStream}: each step's header (position,
     * splits) goes up and its ids come back by asynchronous copies, and the ids never leave the device in
     * between. Closing undoes the queued step: its position is taken back, so the next call overwrites
     * the KV cache entries it wrote.
     */
    @Override
    public DecodeStream decodeStream(Batch batch, int[] last, SamplingParams params, RandomGenerator uniforms) {
        if (!params.isGreedy() && !device.info().fp64()) {
            return CausalLm.super.decodeStream(batch, last, params, uniforms);
        }
        Sequences s = idle(batch);
        TokenChecks.check(CausalLm.column(last), s.size, c.vocab());
        s.stream = new Stream(s, last, params, uniforms);
        return s.stream;
    }

    /**
     * One step ahead on the queue; its header (position, splits) goes up asynchronously from pinned memory.
     * With one launch a layer, a step's grid-barrier flag comes back beside its ids.
     */
    private final class Stream extends QueuedDecodeStream {
        private final Sequences s;
        private final SamplingParams params;
        private final HostBuffer[] header = new HostBuffer[2];
        private final HostBuffer[] flags = new HostBuffer[2];   // a slot's copy of the grid barriers' flag
        private final boolean[] flagged = new boolean[2];

        Stream(Sequences s, int[] last, SamplingParams params, RandomGenerator uniforms) {
            super(device, s.ids, last, params, uniforms);
            this.s = s;
            this.params = params;
            try {
                for (int slot = 0; slot < 2; slot++) {
                    header[slot] = device.allocateHost(4L * META_INTS, "meta of decode slot " + slot);
                    flags[slot] = device.allocateHost(4, "grid barrier flag of decode slot " + slot);
                }
            } catch (RuntimeException e) {
                release();
                throw e;
            }
        }

        @Override
        protected List<DeviceEvent> enqueueStep(int slot, ByteBuffer uniforms) {
            int splits = s.prepare(1);
            ByteBuffer h = header[slot].bytes();
            h.putInt(0, s.position).putInt(4, 1).putInt(8, s.size).putInt(12, splits);
            List<DeviceEvent> up = new ArrayList<>(2);
            up.add(device.writeAsync(s.boundTo.meta, 0, h));
            if (uniforms != null) {
                s.allocateSampling();
                up.add(device.writeAsync(s.u[slot], 0, uniforms));
            }
            s.enqueueStep(s.size, 1, splits, params, slot);
            flagged[slot] = s.steps.oneLaunch(s.size);
            if (flagged[slot]) {
                DeviceEvent read = layer.readSync(flags[slot].bytes());
                if (read != null) {
                    up.add(read);
                }
            }
            s.position++;
            return up;
        }

        @Override
        protected void checkStep(int slot) {
            if (flagged[slot]) {
                layer.checkSync(flags[slot].bytes());
            }
        }

        @Override
        protected void undoStep() {
            s.position--;   // the next step overwrites the KV entries the undone one wrote
        }

        @Override
        protected boolean modelOpen() {
            return !closed;
        }

        @Override
        protected void detached() {
            for (int slot = 0; slot < 2; slot++) {
                if (header[slot] != null) {
                    header[slot].close();
                    header[slot] = null;
                }
                if (flags[slot] != null) {
                    flags[slot].close();
                    flags[slot] = null;
                }
            }
            s.stream = null;
        }
    }

    private Sequences idle(Batch batch) {
        checkOpen();
        if (!(batch instanceof Sequences s) || !open.contains(s)) {
            throw new MmfreeException("llama opencl: the batch is closed or belongs to another model");
        }
        if (s.stream != null) {
            throw new MmfreeException("llama opencl: a decode stream is open on this batch; close it first");
        }
        return s;
    }

    private float[] slice(float[] rows, int r) {
        float[] v = new float[c.vocab()];
        System.arraycopy(rows, r * c.vocab(), v, 0, c.vocab());
        return v;
    }

    /** Model-level scratch for up to {@code rows} activation rows, shared by all batches (calls do not overlap). */
    private final class Workspace {
        final int rows;
        final DeviceBuffer meta;    // [4] int: pos0, tps, rows, splits
        final DeviceBuffer x;       // [rows, d] the residual stream
        final DeviceBuffer q;       // [rows, H*hd] rotated queries
        final DeviceBuffer attn;    // [rows, H*hd] concatenated head outputs
        final DeviceBuffer act;     // [rows, I] silu(gate) * up
        final DeviceBuffer logits;  // [rows, V]
        final DeviceBuffer part;    // attention split results
        final DeviceBuffer split;   // split-K partial sums of the GEMMs

        Workspace(int rows) {
            this.rows = rows;
            int qw = c.heads() * c.headDim();
            meta = allocate(MemoryCategory.WORKSPACE, 4L * META_INTS, "meta");
            x = allocate(MemoryCategory.WORKSPACE, 4L * rows * c.hidden(), "x");
            q = allocate(MemoryCategory.WORKSPACE, 4L * rows * qw, "q");
            attn = allocate(MemoryCategory.WORKSPACE, 4L * rows * qw, "attn");
            act = allocate(MemoryCategory.WORKSPACE, 4L * rows * c.intermediate(), "act");
            logits = allocate(MemoryCategory.WORKSPACE, 4L * rows * c.vocab(), "logits");
            long splitBytes = attention.partialBytes(rows, c.heads(), c.kvHeads());
            part = allocate(MemoryCategory.WORKSPACE, layer == null ? splitBytes : Math.max(splitBytes, layer.partialBytes()),
                    "attention splits");
            split = allocate(MemoryCategory.WORKSPACE, rows > 1 ? dense.splitScratchBytes() : 4, "split-K sums");
        }

        void close() {
            for (DeviceBuffer b : List.of(meta, x, q, attn, act, logits, part, split)) {
                release(b);
            }
        }
    }

    /** The workspace for {@code rows} rows, grown (by doubling) when smaller. */
    private Workspace workspace(int rows) {
        if (ws == null || ws.rows < rows) {
            int grown = ws == null ? rows : Math.max(rows, Math.min(MAX_ROWS, 2 * ws.rows));
            if (ws != null) {
                ws.close();
            }
            ws = null;
            ws = new Workspace(grown);
        }
        return ws;
    }

    private DeviceBuffer allocate(MemoryCategory category, long bytes, String role) {
        DeviceBuffer b = device.allocate(category, Math.max(4, bytes), role);
        memory.allocated(category, b.bytes());
        return b;
    }

    private void release(DeviceBuffer b) {
        b.close();
        memory.released(b.category(), b.bytes());
    }

    /** A batch: its KV caches, token ids, sampling buffers, and the kernels bound to them and to the current workspace. */
    private final class Sequences implements Batch {
        private final int size;
        private final DeviceBuffer[] keys;      // [L] each [b, cap, KV*hd]
        private final DeviceBuffer[] values;    // [L] each [b, cap, KV*hd]
        private final DeviceBuffer ids;         // [MAX_ROWS] int: token ids in, sampled ids out
        private final DeviceBuffer[] u = new DeviceBuffer[2];   // [b] double: a step's uniforms, two slots
        private DeviceBuffer sampleScratch;     // [b][V] double: the top-k/top-p sampler's weights
        private final Map<String, Launch> samplers = new HashMap<>();
        private int cap;
        private int position;
        private LlamaOpenClSteps steps;
        private Workspace boundTo;
        private Stream stream;

        Sequences(int size) {
            this.size = size;
            this.keys = new DeviceBuffer[c.layers()];
            this.values = new DeviceBuffer[c.layers()];
            this.ids = allocate(MemoryCategory.WORKSPACE, 4L * Math.max(MAX_ROWS, size), "token ids");
        }

        /** Grows the caches and the workspace for tc more tokens a sequence, binds the kernels, and returns the attention splits. */
        int prepare(int tc) {
            int rows = size * tc;
            grow(position + tc);
            Workspace space = workspace(rows);
            if (steps == null || boundTo != space) {
                if (steps != null) {
                    steps.close();
                }
                closeSamplers();
                steps = new LlamaOpenClSteps(device, c, dense, attention, layer, w, space.meta, ids, space.x, space.q,
                        space.attn, space.act, space.logits, space.part, space.split, keys, values, cap, profile);
                boundTo = space;
            }
            return steps.oneLaunch(rows) ? layer.splits(position + tc) : attention.splits(rows, c.kvHeads(), position + tc);
        }

        /** Feeds tokens[b][c0, c0 + tc) and samples each sequence's next id into {@link #ids}, with uniforms in slot 0. */
        void runAndSample(int[][] tokens, int c0, int tc, SamplingParams params) {
            int splits = upload(tokens, c0, tc);
            enqueueStep(size * tc, tc, splits, params, 0);
            position += tc;
            checkBarriers(size * tc);
        }

        /** After a call of {@code rows} rows: fails when it ran one launch a layer and a grid barrier gave up (waits for it). */
        private void checkBarriers(int rows) {
            if (steps.oneLaunch(rows)) {
                layer.checkSync();
            }
        }

        /** The layers, the head on each sequence's last row, and the sampler (uniforms from slot). */
        void enqueueStep(int rows, int tc, int splits, SamplingParams params, int slot) {
            steps.layers(rows, splits);
            steps.head(rows, tc, false);
            String key = params + ":" + slot;
            Launch l = samplers.get(key);
            if (l == null) {
                if (samplers.size() > 8) {
                    closeSamplers();
                }
                l = sampler.sample(boundTo.logits, c.vocab(), c.vocab(), params, u[slot], sampleScratch, ids, size);
                samplers.put(key, l);
            }
            l.enqueue(device);
        }

        /** Writes the call's meta and tokens[b][c0, c0 + tc), after binding everything; returns the splits. */
        private int upload(int[][] tokens, int c0, int tc) {
            int rows = size * tc;
            int splits = prepare(tc);
            device.write(boundTo.meta, new int[]{position, tc, rows, splits});
            int[] flat = new int[rows];
            for (int b = 0; b < size; b++) {
                System.arraycopy(tokens[b], c0, flat, b * tc, tc);
            }
            device.write(ids, flat);
            return splits;
        }

        void allocateSampling() {
            if (sampleScratch == null) {
                u[0] = allocate(MemoryCategory.WORKSPACE, 8L * size, "sampling u, slot 0");
                u[1] = allocate(MemoryCategory.WORKSPACE, 8L * size, "sampling u, slot 1");
                sampleScratch = allocate(MemoryCategory.WORKSPACE, 8L * size * c.vocab(), "sampling weights");
            }
        }

        void uploadUniforms(int slot, double[] uniforms) {
            allocateSampling();
            ByteBuffer b = ByteBuffer.allocate(8 * size).order(ByteOrder.nativeOrder());
            for (double x : uniforms) {
                b.putDouble(x);
            }
            device.write(u[slot], 0, b.array(), 0, 8 * size);
        }

        private void closeSamplers() {
            samplers.values().forEach(Launch::close);
            samplers.clear();
        }

        /**
         * Feeds tokens[b][c0, c0 + tc) to every sequence; logits: 0 none, 1 the last position of each
         * sequence, 2 every position. Returns the logits rows read back ([b or b*tc, V]) or null.
         */
        float[] run(int[][] tokens, int c0, int tc, int logits) {
            int rows = size * tc;
            int splits = upload(tokens, c0, tc);
            Workspace space = boundTo;
            steps.layers(rows, splits);
            position += tc;
            if (logits == 0) {
                checkBarriers(rows);
                return null;
            }
            int outRows = logits == 2 ? rows : size;
            steps.head(rows, tc, logits == 2);
            float[] out = new float[outRows * c.vocab()];
            device.read(space.logits, 0, out, 0, out.length);
            checkBarriers(rows);
            return out;
        }

        /** Grows every cache to hold {@code positions}, copying the filled positions on the device. */
        private void grow(int positions) {
            if (positions <= cap) {
                return;
            }
            int grown = (positions + KV_BLOCK - 1) / KV_BLOCK * KV_BLOCK;
            int kvw = c.kvHeads() * c.headDim();
            long bytes = (long) size * grown * kvw * storage.bytes();
            for (int l = 0; l < c.layers(); l++) {
                keys[l] = moved(keys[l], allocate(MemoryCategory.STATE, bytes, "layer " + l + " keys"), grown, kvw);
                values[l] = moved(values[l], allocate(MemoryCategory.STATE, bytes, "layer " + l + " values"), grown, kvw);
            }
            cap = grown;
            if (steps != null) {
                steps.cache(keys, values, cap);
            }
        }

        private DeviceBuffer moved(DeviceBuffer old, DeviceBuffer fresh, int grown, int kvw) {
            if (old != null) {
                if (position > 0) {
                    try (var copy = attention.copy(old, cap, fresh, grown, size, kvw, position)) {
                        copy.enqueue(device);
                    }
                }
                release(old);
            }
            return fresh;
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
            if (!open.remove(this)) {
                return;
            }
            if (stream != null) {
                stream.release();
            }
            if (steps != null) {
                steps.close();
            }
            closeSamplers();
            release(ids);
            if (sampleScratch != null) {
                release(u[0]);
                release(u[1]);
                release(sampleScratch);
            }
            for (int l = 0; l < c.layers(); l++) {
                if (keys[l] != null) {
                    release(keys[l]);
                    release(values[l]);
                }
            }
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new MmfreeException("llama opencl: model is closed");
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        for (Sequences s : List.copyOf(open)) {
            s.close();
        }
        if (ws != null) {
            ws.close();
            ws = null;
        }
        if (profile != null) {
            profile.print(System.err, "llama, " + c.layers() + " layers, d " + c.hidden() + ", batch-1 one-launch steps, on "
                    + device.info().name());
        }
        w.close();
        memory.released(MemoryCategory.WEIGHTS, w.bytes());
        dense.close();
        attention.close();
        sampler.close();
        if (layer != null) {
            layer.close();
        }
        closed = true;
        if (ownsDevice) {
            device.close();
        }
    }
}
