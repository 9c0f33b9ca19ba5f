package dev.mmfree.runtime;

/** What an allocation holds; the memory benchmarks report bytes per category. */
public enum MemoryCategory {
    /** Model parameters: packed ternary codes, scales, norms, embeddings, fp16 baseline weights. */
    WEIGHTS,
    /** Per-sequence state: the MLGRU hidden state, or a Transformer's KV cache. */
    STATE,
    /** Activations and scratch buffers reused across steps. */
    WORKSPACE
}
