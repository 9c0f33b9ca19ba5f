package dev.mmfree.model;

import dev.mmfree.model.hgrn.HgrnBitWeights;
import dev.mmfree.model.llama.LlamaWeights;

import java.util.Optional;

/**
 * Backends that the model module's test class path registers through ServiceLoader
 * ({@code src/test/resources/META-INF/services/dev.mmfree.model.ModelBackend}), for {@code BackendsTest}.
 */
public final class DiscoveredBackends {
    private DiscoveredBackends() {
    }

    /** An optional backend that is available: listed after the built-ins, never chosen by auto. */
    public static final class Extra extends Named {
        public static final String NAME = "test-extra";

        public Extra() {
            super(NAME);
        }
    }

    /** Takes the reference backend's name: must be ignored, the built-in kept. */
    public static final class NamedLikeABuiltIn extends Named {
        public NamedLikeABuiltIn() {
            super(ReferenceBackend.NAME);
        }
    }

    /** Throws while being constructed: must be skipped without breaking the others. */
    public static final class FailsToConstruct extends Named {
        public FailsToConstruct() {
            super("test-broken");
            throw new IllegalStateException("test backend that cannot be constructed");
        }
    }

    abstract static class Named implements ModelBackend {
        private final String name;

        Named(String name) {
            this.name = name;
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public Optional<String> unavailableReason() {
            return Optional.empty();
        }

        @Override
        public CausalLm hgrnBit(HgrnBitWeights w) {
            throw new UnsupportedOperationException(name + " runs nothing");
        }

        @Override
        public CausalLm llama(LlamaWeights w) {
            throw new UnsupportedOperationException(name + " runs nothing");
        }
    }
}
