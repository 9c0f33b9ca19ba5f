package dev.mmfree.model.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A Hugging Face {@code tokenizer.json}, run by DJL's binding of the Rust {@code tokenizers} library.
 *
 * <p>The native library ships inside the DJL jar and is extracted once to DJL's cache
 * ({@code ~/.djl.ai/tokenizers}, or {@code $DJL_CACHE_DIR}). Two DJL behaviours would reach the
 * network, so loading sets two system properties unless the user set them (as env or property):
 * {@code RUST_FLAVOR=cpu} (on a machine with CUDA, DJL would look for a CUDA build of the library
 * and download it) and {@code OPT_OUT_TRACKING=true} (creating a tokenizer otherwise queries the
 * EC2 metadata address and, on EC2, sends a telemetry request). No truncation, no padding: the ids
 * are exactly the text's.
 */
public final class HfTokenizer implements TextTokenizer {
    public static final String FILE = "tokenizer.json";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path file;
    private final HuggingFaceTokenizer tokenizer;
    private final int vocabSize;

    private HfTokenizer(Path file, HuggingFaceTokenizer tokenizer, int vocabSize) {
        this.file = file;
        this.tokenizer = tokenizer;
        this.vocabSize = vocabSize;
    }

    public static HfTokenizer load(Path file) {
        int vocab = vocabSize(file);
        setUnlessGiven("RUST_FLAVOR", "cpu");
        setUnlessGiven("OPT_OUT_TRACKING", "true");
        try {
            HuggingFaceTokenizer t = HuggingFaceTokenizer.builder()
                    .optTokenizerPath(file)
                    .optAddSpecialTokens(true)
                    .optTruncation(false)
                    .optPadding(false)
                    .build();
            return new HfTokenizer(file, t, vocab);
        } catch (IOException | RuntimeException e) {
            throw new TokenizerException(file + ": cannot load tokenizer (" + e.getMessage() + ")", e);
        }
    }

    private static void setUnlessGiven(String name, String value) {
        if (System.getenv(name) == null && System.getProperty(name) == null) {
            System.setProperty(name, value);
        }
    }

    /** Largest id in the model's vocabulary or the added tokens, plus one. */
    static int vocabSize(Path file) {
        JsonNode root;
        try {
            root = JSON.readTree(Files.readString(file));
        } catch (IOException e) {
            throw new TokenizerException(file + ": cannot read (" + e.getMessage() + ")", e);
        }
        int max = -1;
        JsonNode vocab = root.path("model").path("vocab");
        if (vocab.isObject()) {
            for (JsonNode id : vocab) {
                max = Math.max(max, id.asInt());
            }
        } else if (vocab.isArray()) {
            max = vocab.size() - 1;
        } else {
            throw new TokenizerException(file + ": no model.vocab (expected an object of token -> id or a list)");
        }
        for (JsonNode added : root.path("added_tokens")) {
            max = Math.max(max, added.path("id").asInt(-1));
        }
        return max + 1;
    }

    @Override
    public int[] encode(String text) {
        long[] ids = tokenizer.encode(text, true, false).getIds();
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = Math.toIntExact(ids[i]);
        }
        return out;
    }

    @Override
    public String decode(int[] ids) {
        long[] wide = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= vocabSize) {
                throw new TokenizerException(file + ": cannot decode id " + ids[i] + ", outside the vocabulary [0, " + vocabSize + ")");
            }
            wide[i] = ids[i];
        }
        return tokenizer.decode(wide, true);
    }

    @Override
    public int vocabSize() {
        return vocabSize;
    }

    @Override
    public void close() {
        tokenizer.close();
    }

    @Override
    public String toString() {
        return "HfTokenizer[" + file + ", vocab " + vocabSize + "]";
    }
}
