package dev.mmfree.model;

import dev.mmfree.model.hgrn.HgrnBitWeights;
import dev.mmfree.model.llama.LlamaWeights;

import java.util.Optional;

/**
 * A way to run the models (reference, cpu, opencl, ...): turns loaded weights into a {@link CausalLm}.
 * Registered in {@link Backends}. Constructing one must be cheap; probing devices happens in
 * {@link #unavailableReason()}, which may cache its answer.
 */
public interface ModelBackend {
    /** As {@code --backend} takes it. */
    String name();

    /** Empty when this backend can run here; otherwise why not, in one line ("no OpenCL GPU found"). */
    Optional<String> unavailableReason();

    CausalLm hgrnBit(HgrnBitWeights w);

    CausalLm llama(LlamaWeights w);
}
