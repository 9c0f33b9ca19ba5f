package dev.mmfree.model;

import dev.mmfree.kernels.sampling.SamplerReference;
import dev.mmfree.kernels.sampling.SamplingParams;
import dev.mmfree.runtime.MemoryCategory;
import dev.mmfree.runtime.MemoryLedger;
import dev.mmfree.runtime.MmfreeException;

/**
 * The bookkeeping shared by the models that live in Java heap arrays (reference and cpu): the
 * {@link ModelInfo}, a {@link MemoryLedger} of WEIGHTS, WORKSPACE and STATE bytes, the closed flag,
 * and the checks on batches. Subclasses keep only their weights, scratch buffers and forward pass.
 *
 * <p>Error messages start with the name given to the constructor ({@code "hgrn_bit cpu"}).
 */
public abstract class LedgeredModel implements CausalLm {
    private final String name;
    private final MemoryLedger memory = new MemoryLedger();
    private ModelInfo info;
    private long workspaceBytes;
    private boolean closed;
    private final SamplerReference sampler = new SamplerReference();   // its scratch is reused call after call

    protected LedgeredModel(String name) {
        this.name = name;
    }

    /** Records the model as loaded: its info, and its weight and initial workspace bytes in the ledger. */
    protected final void loaded(ModelInfo info, long workspaceBytes) {
        this.info = info;
        this.workspaceBytes = workspaceBytes;
        memory.allocated(MemoryCategory.WEIGHTS, info.weightBytes());
        if (workspaceBytes > 0) {
            memory.allocated(MemoryCategory.WORKSPACE, workspaceBytes);
        }
    }

    /** Replaces the workspace bytes in the ledger after the scratch buffers were reallocated. */
    protected final void workspaceResized(long bytes) {
        memory.released(MemoryCategory.WORKSPACE, workspaceBytes);
        workspaceBytes = bytes;
        memory.allocated(MemoryCategory.WORKSPACE, workspaceBytes);
    }

    /** A batch of {@code size} >= 1 new sequences of this model. */
    protected abstract SequenceBatch openBatch(int size);

    /** Drops the scratch buffers on close; the ledger has been settled already. */
    protected void freeWorkspace() {
    }

    @Override
    public final ModelInfo info() {
        return info;
    }

    @Override
    public final MemoryLedger memory() {
        return memory;
    }

    @Override
    public final Batch newBatch(int size) {
        checkOpen();
        if (size < 1) {
            throw new MmfreeException(name + ": batch size must be >= 1, got " + size);
        }
        return openBatch(size);
    }

    /** {@code batch} as this model's batch type, after checking that the model and the batch are open and the batch is its own. */
    protected final <B extends SequenceBatch> B checkBatch(CausalLm.Batch batch, Class<B> type) {
        checkOpen();
        if (type.isInstance(batch) && batch instanceof SequenceBatch s && s.owner() == this && !s.closed) {
            return type.cast(batch);
        }
        throw new MmfreeException(name + ": the batch is closed or belongs to another model");
    }

    /** Moves every sequence of the batch t positions on, after a forward pass. */
    protected final void advance(SequenceBatch batch, int t) {
        batch.position += t;
    }

    /**
     * Samples each sequence's next id from the buffer {@link #forwardToHead} leaves, without copying the
     * logits out; models without that hook take the default, which copies them.
     */
    @Override
    public int[] forwardSample(CausalLm.Batch batch, int[][] tokens, SamplingParams params, double[] u) {
        if (u.length != batch.size()) {
            throw new MmfreeException(name + ": " + u.length + " uniforms for a batch of " + batch.size());
        }
        float[] logits = forwardToHead(batch, tokens);
        if (logits == null) {
            return CausalLm.super.forwardSample(batch, tokens, params, u);
        }
        int v = info.vocab();
        int[] ids = new int[u.length];
        for (int b = 0; b < ids.length; b++) {
            ids[b] = sampler.sample(logits, b * v, v, params, u[b]);
        }
        return ids;
    }

    /**
     * Feeds tokens like {@link #forward} and returns the model's own buffer holding each sequence's last
     * logits, [b][vocab] (valid until the next call), or null where the model has no such path.
     */
    protected float[] forwardToHead(CausalLm.Batch batch, int[][] tokens) {
        return null;
    }

    protected final void checkOpen() {
        if (closed) {
            throw new MmfreeException(name + ": model is closed");
        }
    }

    @Override
    public final void close() {
        if (!closed) {
            closed = true;
            memory.released(MemoryCategory.WEIGHTS, info.weightBytes());
            memory.released(MemoryCategory.WORKSPACE, workspaceBytes);
            workspaceBytes = 0;
            freeWorkspace();
        }
    }

    /** Per-sequence state of a batch; its STATE bytes go into the model's ledger and leave it on close. */
    protected abstract class SequenceBatch implements CausalLm.Batch {
        private final int size;
        private int position;
        private long stateBytes;
        private boolean closed;

        protected SequenceBatch(int size) {
            this.size = size;
        }

        /** Records this many more bytes of state (a new cache, or one that grew). */
        protected final void stateAllocated(long bytes) {
            stateBytes += bytes;
            memory.allocated(MemoryCategory.STATE, bytes);
        }

        private LedgeredModel owner() {
            return LedgeredModel.this;
        }

        @Override
        public final int size() {
            return size;
        }

        @Override
        public final int position() {
            return position;
        }

        @Override
        public final void close() {
            if (!closed) {
                closed = true;
                memory.released(MemoryCategory.STATE, stateBytes);
            }
        }
    }
}
