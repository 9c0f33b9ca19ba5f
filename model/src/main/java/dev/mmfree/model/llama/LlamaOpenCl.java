package dev.mmfree.model.llama;

import dev.mmfree.kernels.attention.AttentionOpenCl;
import dev.mmfree.kernels.gemv.DenseShape;
import dev.mmfree.kernels.gemv.GemvOpenCl;
import dev.mmfree.kernels.gemv.Storage;
import dev.mmfree.model.CausalLm;
import dev.mmfree.model.ModelInfo;
import dev.mmfree.model.TokenChecks;
import dev.mmfree.model.config.LlamaConfig;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.MemoryCategory;
import dev.mmfree.runtime.MemoryLedger;
import dev.mmfree.runtime.MmfreeException;
import dev.mmfree.runtime.opencl.OpenCl;

import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;

/**
 * The Transformer++ baseline ({@link LlamaReference}'s function) on an OpenCL device: weights resident
 * (matrices fp16 or fp32, {@link Storage}; norms float32), a KV cache per batch on the device, and per
 * call only token ids in and logits out. One forward call runs R = b * t activation rows at once
 * (GEMV kernels for R = 1, tiled GEMM otherwise, split along K when there are few tiles: prefill and
 * batched decode), in chunks of at most
 * {@value #MAX_ROWS} rows, so the workspace stays bounded for long prompts.
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
 * </pre>
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
    /** meta: [pos0, tps, rows, splits, ids...] */
    private static final int META_IDS = 4;

    private final Device device;
    private final boolean ownsDevice;
    private final LlamaConfig c;
    private final Storage storage;
    private final ModelInfo info;
    private final MemoryLedger memory = new MemoryLedger();
    private final GemvOpenCl dense;
    private final AttentionOpenCl attention;
    private final LlamaDeviceWeights w;
    private final Set<Sequences> open = Collections.newSetFromMap(new IdentityHashMap<>());
    private Workspace ws;
    private boolean closed;

    /** fp16 matrices and KV cache on a device the caller owns (and closes after this model). */
    public LlamaOpenCl(Device device, LlamaWeights weights) {
        this(device, weights, Storage.F16, false);
    }

    /** Matrices and KV cache in {@code storage} on a device the caller owns. */
    public LlamaOpenCl(Device device, LlamaWeights weights, Storage storage) {
        this(device, weights, storage, false);
    }

    /** On the default OpenCL device ({@link OpenCl#open} with no selector), which the model closes. */
    public static LlamaOpenCl onDefaultDevice(LlamaWeights weights, Storage storage) {
        Device d = OpenCl.open(null, false);
        try {
            return new LlamaOpenCl(d, weights, storage, true);
        } catch (RuntimeException e) {
            d.close();
            throw e;
        }
    }

    private LlamaOpenCl(Device device, LlamaWeights weights, Storage storage, boolean ownsDevice) {
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
        try {
            g = new GemvOpenCl(device, storage, DenseShape.forDevice(device.info()));
            a = new AttentionOpenCl(device, storage, c.headDim(), c.groupSize(), as);
            this.w = new LlamaDeviceWeights(device, weights, storage);
        } catch (RuntimeException e) {
            if (g != null) {
                g.close();
            }
            if (a != null) {
                a.close();
            }
            throw e;
        }
        this.dense = g;
        this.attention = a;
        memory.allocated(MemoryCategory.WEIGHTS, w.bytes());
        long kvPerToken = 2L * c.layers() * c.kvHeads() * c.headDim() * storage.bytes();
        this.info = new ModelInfo(LlamaConfig.MODEL_TYPE, c.vocab(), c.hidden(), c.layers(), weights.parameterCount(),
                w.bytes(), weights.unpackedBytes(), kvPerToken, true);
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
        checkOpen();
        if (!(batch instanceof Sequences s) || !open.contains(s)) {
            throw new MmfreeException("llama opencl: the batch is closed or belongs to another model");
        }
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

    private float[] slice(float[] rows, int r) {
        float[] v = new float[c.vocab()];
        System.arraycopy(rows, r * c.vocab(), v, 0, c.vocab());
        return v;
    }

    /** Model-level scratch for up to {@code rows} activation rows, shared by all batches (calls do not overlap). */
    private final class Workspace {
        final int rows;
        final DeviceBuffer meta;    // [4 + rows] int: pos0, tps, rows, splits, ids
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
            meta = allocate(MemoryCategory.WORKSPACE, 4L * (META_IDS + rows), "meta and token ids");
            x = allocate(MemoryCategory.WORKSPACE, 4L * rows * c.hidden(), "x");
            q = allocate(MemoryCategory.WORKSPACE, 4L * rows * qw, "q");
            attn = allocate(MemoryCategory.WORKSPACE, 4L * rows * qw, "attn");
            act = allocate(MemoryCategory.WORKSPACE, 4L * rows * c.intermediate(), "act");
            logits = allocate(MemoryCategory.WORKSPACE, 4L * rows * c.vocab(), "logits");
            part = allocate(MemoryCategory.WORKSPACE, attention.partialBytes(rows, c.heads(), c.kvHeads()), "attention splits");
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

    /** A batch: its KV caches and the kernels bound to them and to the current workspace. */
    private final class Sequences implements Batch {
        private final int size;
        private final DeviceBuffer[] keys;      // [L] each [b, cap, KV*hd]
        private final DeviceBuffer[] values;    // [L] each [b, cap, KV*hd]
        private int cap;
        private int position;
        private LlamaOpenClSteps steps;
        private Workspace boundTo;

        Sequences(int size) {
            this.size = size;
            this.keys = new DeviceBuffer[c.layers()];
            this.values = new DeviceBuffer[c.layers()];
        }

        /**
         * Feeds tokens[b][c0, c0 + tc) to every sequence; logits: 0 none, 1 the last position of each
         * sequence, 2 every position. Returns the logits rows read back ([b or b*tc, V]) or null.
         */
        float[] run(int[][] tokens, int c0, int tc, int logits) {
            int rows = size * tc;
            grow(position + tc);
            Workspace space = workspace(rows);
            if (steps == null || boundTo != space) {
                if (steps != null) {
                    steps.close();
                }
                steps = new LlamaOpenClSteps(device, c, dense, attention, w, space.meta, META_IDS, space.x, space.q,
                        space.attn, space.act, space.logits, space.part, space.split, keys, values, cap);
                boundTo = space;
            }
            int splits = attention.splits(rows, c.kvHeads(), position + tc);
            int[] meta = new int[META_IDS + rows];
            meta[0] = position;
            meta[1] = tc;
            meta[2] = rows;
            meta[3] = splits;
            for (int b = 0; b < size; b++) {
                System.arraycopy(tokens[b], c0, meta, META_IDS + b * tc, tc);
            }
            device.write(space.meta, meta);
            steps.layers(rows, splits);
            position += tc;
            if (logits == 0) {
                return null;
            }
            int outRows = logits == 2 ? rows : size;
            steps.head(rows, tc, logits == 2);
            float[] out = new float[outRows * c.vocab()];
            device.read(space.logits, 0, out, 0, out.length);
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
            if (steps != null) {
                steps.close();
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
        w.close();
        memory.released(MemoryCategory.WEIGHTS, w.bytes());
        dense.close();
        attention.close();
        closed = true;
        if (ownsDevice) {
            device.close();
        }
    }
}
