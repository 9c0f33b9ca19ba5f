package dev.mmfree.model;

import com.fasterxml.jackson.databind.JsonNode;
import dev.mmfree.model.checkpoint.ModelFolder;
import dev.mmfree.model.checkpoint.TensorSource;
import dev.mmfree.model.config.ConfigException;
import dev.mmfree.model.config.HgrnBitConfig;
import dev.mmfree.model.config.LlamaConfig;
import dev.mmfree.model.hgrn.HgrnBitWeights;
import dev.mmfree.model.llama.LlamaWeights;

import java.nio.file.Path;

/**
 * Loads a model on a backend: resolves the backend first (an unknown or unavailable one fails before
 * any weight is read), reads the config's {@code model_type}, builds the weights, closes the source
 * (weights are copies), then hands the weights to the backend. A failure at any step leaves nothing open.
 */
public final class ModelLoader {
    private ModelLoader() {
    }

    /** A Hugging Face folder on a backend name ("auto" allowed). */
    public static CausalLm load(Path modelDir, String backend) {
        ModelBackend b = Backends.resolve(backend);
        return build(ModelFolder.open(modelDir), b);
    }

    /** A Hugging Face folder on the given backend. */
    public static CausalLm load(Path modelDir, ModelBackend backend) {
        return build(ModelFolder.open(modelDir), backend);
    }

    /** Any tensor source on a backend name ("auto" allowed); the source is closed before this returns or throws. */
    public static CausalLm load(TensorSource src, String backend) {
        ModelBackend b;
        try {
            b = Backends.resolve(backend);
        } catch (RuntimeException e) {
            src.close();
            throw e;
        }
        return build(src, b);
    }

    /** Any tensor source on the given backend; the source is closed before this returns or throws. */
    public static CausalLm load(TensorSource src, ModelBackend backend) {
        return build(src, backend);
    }

    private static CausalLm build(TensorSource src, ModelBackend backend) {
        HgrnBitWeights hgrn = null;
        LlamaWeights llama = null;
        try (src) {
            String type = modelType(src);
            if (type.equals(HgrnBitConfig.MODEL_TYPE)) {
                hgrn = HgrnBitWeights.load(src);
            } else {
                llama = LlamaWeights.load(src);
            }
        }
        return hgrn != null ? backend.hgrnBit(hgrn) : backend.llama(llama);
    }

    /** The config's model_type, which must be one this library runs. */
    public static String modelType(TensorSource src) {
        String where = src.describe() + " config.json";
        JsonNode t = src.config() == null ? null : src.config().get("model_type");
        String expected = "expected \"" + HgrnBitConfig.MODEL_TYPE + "\" or \"" + LlamaConfig.MODEL_TYPE + "\"";
        if (t == null || !t.isTextual()) {
            throw new ConfigException(where + ": field 'model_type' is " + (t == null ? "missing" : t) + "; " + expected);
        }
        String type = t.textValue();
        if (!type.equals(HgrnBitConfig.MODEL_TYPE) && !type.equals(LlamaConfig.MODEL_TYPE)) {
            throw new ConfigException(where + ": field 'model_type' is \"" + type + "\"; " + expected);
        }
        return type;
    }
}
