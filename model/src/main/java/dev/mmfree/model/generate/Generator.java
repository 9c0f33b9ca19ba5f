package dev.mmfree.model.generate;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.mmfree.model.CausalLm;
import dev.mmfree.model.checkpoint.CheckpointException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Text generation over a loaded {@link CausalLm}: the entry point a service embeds.
 *
 * <pre>{@code
 * try (CausalLm lm = ModelLoader.load(dir, "auto")) {
 *     Generator gen = new Generator(lm, Generator.eosTokens(dir));
 *     try (Session s = gen.newSession()) {
 *         GenerationResult r = s.generate(GenerationRequest.of(promptIds, 64), token -> { emit(token); return true; });
 *     }
 * }
 * }</pre>
 * Each {@link Session} owns its own sequence state, so sessions are independent; they may run on
 * different threads, and their model calls are serialized on the model (one forward at a time).
 * The generator does not own the model: close the model after its sessions.
 */
public final class Generator {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final CausalLm model;
    private final int[] defaultStopTokens;

    /** @param defaultStopTokens ids that end a turn when a request names none (usually the model's eos) */
    public Generator(CausalLm model, int... defaultStopTokens) {
        this.model = model;
        this.defaultStopTokens = defaultStopTokens.clone();
    }

    public CausalLm model() {
        return model;
    }

    public int[] defaultStopTokens() {
        return defaultStopTokens.clone();
    }

    /** A new conversation at position 0, holding a batch of one sequence until closed. */
    public Session newSession() {
        return new Session(model, defaultStopTokens);
    }

    /**
     * The eos ids of a model folder: {@code eos_token_id} (a number or a list) of
     * {@code generation_config.json} if present, else of {@code config.json}; empty when neither names one.
     */
    public static int[] eosTokens(Path modelDir) {
        for (String name : new String[]{"generation_config.json", "config.json"}) {
            Path file = modelDir.resolve(name);
            if (!Files.isRegularFile(file)) {
                continue;
            }
            JsonNode eos;
            try {
                eos = JSON.readTree(Files.readString(file)).get("eos_token_id");
            } catch (IOException e) {
                throw new CheckpointException(file + ": cannot read (" + e.getMessage() + ")", e);
            }
            if (eos == null || eos.isNull()) {
                continue;
            }
            if (eos.isIntegralNumber()) {
                return new int[]{eos.asInt()};
            }
            if (eos.isArray()) {
                int[] ids = new int[eos.size()];
                for (int i = 0; i < ids.length; i++) {
                    if (!eos.get(i).isIntegralNumber()) {
                        throw new CheckpointException(file + ": eos_token_id entry " + i + " is not an integer: " + eos.get(i));
                    }
                    ids[i] = eos.get(i).asInt();
                }
                return ids;
            }
            throw new CheckpointException(file + ": eos_token_id must be an integer or a list, got " + eos);
        }
        return new int[0];
    }

    @Override
    public String toString() {
        return "Generator[" + model.backend() + ", stop " + Arrays.toString(defaultStopTokens) + "]";
    }
}
