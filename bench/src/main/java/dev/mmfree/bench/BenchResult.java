package dev.mmfree.bench;

/**
 * One measured case: a model on a backend at one batch size and context length.
 *
 * @param weightBytes    bytes the backend's memory ledger holds in WEIGHTS (measured)
 * @param analyticWeightBytes  the same computed from the shapes ({@code ModelInfo.weightBytes})
 * @param stateBytes     bytes in STATE after the run (recurrent state, or KV cache at context + decoded tokens)
 * @param workspaceBytes bytes in WORKSPACE (activations, scratch)
 * @param heapBytes      Java heap in use after a GC at the end of the case (the CPU backends keep data there)
 * @param joulesPerToken board energy per decoded token, NaN where the device reports no power
 */
public record BenchResult(String architecture, String source, String backend, String device, int batch, int context,
                          long parameters, long weightBytes, long analyticWeightBytes, long stateBytes, long workspaceBytes,
                          long heapBytes, RateStats prefill, RateStats decode, double joulesPerToken) {

    public long deviceBytes() {
        return weightBytes + stateBytes + workspaceBytes;
    }

    /** "MatMul-free" or "Transformer++", as the paper names them. */
    public String label() {
        return architecture.equals("hgrn_bit") ? "MatMul-free" : "Transformer++";
    }
}
