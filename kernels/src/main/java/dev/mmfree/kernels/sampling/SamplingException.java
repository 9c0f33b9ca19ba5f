package dev.mmfree.kernels.sampling;

import dev.mmfree.runtime.MmfreeException;

/** Sampling parameters are invalid, or the logits cannot be sampled from (NaN, +Infinity, all -Infinity). */
public class SamplingException extends MmfreeException {
    public SamplingException(String message) {
        super(message);
    }
}
