package dev.mmfree.model;

import dev.mmfree.kernels.linear.LinearVector;
import dev.mmfree.model.hgrn.HgrnBitCpu;
import dev.mmfree.model.hgrn.HgrnBitWeights;
import dev.mmfree.model.llama.LlamaCpu;
import dev.mmfree.model.llama.LlamaWeights;
import dev.mmfree.runtime.MmfreeException;
import dev.mmfree.runtime.cpu.CpuPool;
import jdk.incubator.vector.FloatVector;

import java.util.Locale;
import java.util.Objects;
import java.util.Optional;

/**
 * The models on all CPU cores with the Java Vector API ({@code jdk.incubator.vector}), on the shared
 * {@link CpuPool}. Unavailable when the JVM runs without {@code --add-modules=jdk.incubator.vector}.
 *
 * <p>Llama weights are held as float32, or as float16 with {@code -Dmmfree.cpu.llamaWeights=f16}
 * (half the bytes a decode step reads, weights rounded once to half precision), or as an instance made
 * with {@link #CpuBackend(LinearVector.Storage)} says.
 */
public final class CpuBackend implements ModelBackend {
    public static final String NAME = "cpu";
    public static final String LLAMA_WEIGHTS_PROPERTY = "mmfree.cpu.llamaWeights";

    private final LinearVector.Storage llamaStorage;   // null: the property's

    /** Llama weights as {@value #LLAMA_WEIGHTS_PROPERTY} says (float32 by default). */
    public CpuBackend() {
        this.llamaStorage = null;
    }

    /** Llama weights held in the given storage. */
    public CpuBackend(LinearVector.Storage llamaStorage) {
        this.llamaStorage = Objects.requireNonNull(llamaStorage, "llamaStorage");
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public Optional<String> unavailableReason() {
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
            return Optional.of("the JVM was started without --add-modules=jdk.incubator.vector");
        }
        return Optional.empty();
    }

    @Override
    public CausalLm hgrnBit(HgrnBitWeights w) {
        return new HgrnBitCpu(w, CpuPool.shared());
    }

    @Override
    public CausalLm llama(LlamaWeights w) {
        return new LlamaCpu(w, CpuPool.shared(), llamaStorage != null ? llamaStorage : llamaStorage());
    }

    /** F32 unless {@value #LLAMA_WEIGHTS_PROPERTY} says f16. */
    static LinearVector.Storage llamaStorage() {
        String v = System.getProperty(LLAMA_WEIGHTS_PROPERTY, "f32").trim().toLowerCase(Locale.ROOT);
        return switch (v) {
            case "f32" -> LinearVector.Storage.F32;
            case "f16" -> LinearVector.Storage.F16;
            default -> throw new MmfreeException("cpu backend: -D" + LLAMA_WEIGHTS_PROPERTY + " must be f32 or f16, got '" + v + "'");
        };
    }

    /** "CPU: 2 threads, Vector API 512-bit" for {@link CausalLm#device()}. */
    public static String describe(CpuPool pool) {
        return "CPU: " + pool.threads() + " threads, Vector API " + FloatVector.SPECIES_PREFERRED.vectorBitSize() + "-bit";
    }
}
