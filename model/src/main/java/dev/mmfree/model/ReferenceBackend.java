package dev.mmfree.model;

import dev.mmfree.model.hgrn.HgrnBitReference;
import dev.mmfree.model.hgrn.HgrnBitWeights;
import dev.mmfree.model.llama.LlamaReference;
import dev.mmfree.model.llama.LlamaWeights;

import java.util.Optional;

/** The plain-Java models that follow the specs line by line; always available, slow, and the one others are tested against. */
public final class ReferenceBackend implements ModelBackend {
    public static final String NAME = "reference";

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public Optional<String> unavailableReason() {
        return Optional.empty();
    }

    @Override
    public CausalLm hgrnBit(HgrnBitWeights w) {
        return new HgrnBitReference(w);
    }

    @Override
    public CausalLm llama(LlamaWeights w) {
        return new LlamaReference(w);
    }
}
