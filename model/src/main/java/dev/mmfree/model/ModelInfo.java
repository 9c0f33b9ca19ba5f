package dev.mmfree.model;

/**
 * What a loaded model is, for {@code info}, logs and benchmark tables.
 *
 * @param architecture   "hgrn_bit" or "llama"
 * @param vocab          vocabulary size
 * @param hidden         d
 * @param layers         L
 * @param parameters     parameter count of the checkpoint's tensors
 * @param weightBytes    bytes the model's weights take as this backend holds them (packed ternary codes
 *                       and scales, norms, embeddings; fp16/fp32 for the baseline)
 * @param unpackedBytes  bytes the same weights take at 16 bits each (the fp16/bf16 reference point)
 * @param stateBytesPerSequence   recurrent state per sequence (HGRNBit), or KV cache per token of context (Llama)
 * @param stateGrowsWithContext   false for HGRNBit, true for Llama
 */
public record ModelInfo(String architecture, int vocab, int hidden, int layers, long parameters, long weightBytes,
                        long unpackedBytes, long stateBytesPerSequence, boolean stateGrowsWithContext) {
}
