package dev.mmfree.model.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Byte-level tokens, as {@code mmfree train} uses: a token per UTF-8 byte (ids 0..255), no special tokens. */
public final class ByteTokenizer implements TextTokenizer {
    public static final int VOCAB = 256;

    /** Whether a model folder's config.json says {@code "vocab_size": 256}; false when it is missing or unreadable (the load reports that). */
    static boolean isByteLevel(Path modelDir) {
        Path config = modelDir.resolve("config.json");
        if (!Files.isRegularFile(config)) {
            return false;
        }
        try {
            JsonNode v = new ObjectMapper().readTree(config.toFile()).get("vocab_size");
            return v != null && v.isInt() && v.intValue() == VOCAB;
        } catch (IOException e) {
            return false;
        }
    }

    @Override
    public int[] encode(String text) {
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        int[] ids = new int[b.length];
        for (int k = 0; k < b.length; k++) {
            ids[k] = b[k] & 0xff;
        }
        return ids;
    }

    /** The bytes as UTF-8; an id outside 0..255 is an error, invalid byte sequences decode to U+FFFD. */
    @Override
    public String decode(int[] ids) {
        byte[] b = new byte[ids.length];
        for (int k = 0; k < ids.length; k++) {
            if (ids[k] < 0 || ids[k] >= VOCAB) {
                throw new TokenizerException("byte tokenizer: id " + ids[k] + " at " + k + " is not a byte (0..255)");
            }
            b[k] = (byte) ids[k];
        }
        return new String(b, StandardCharsets.UTF_8);
    }

    @Override
    public int vocabSize() {
        return VOCAB;
    }

    @Override
    public void close() {
    }
}
