package dev.mmfree.model.tokenizer;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Text to token ids and back, for a model folder that ships a tokenizer.
 *
 * <p>{@link #encode} applies the tokenizer's own template (for Llama-style tokenizers this puts the
 * bos token first, as Hugging Face's {@code tokenizer(text)} does); {@link #decode} drops special
 * tokens (bos, eos, padding), so streamed text shows only words.
 */
public interface TextTokenizer extends AutoCloseable {
    int[] encode(String text);

    String decode(int[] ids);

    /** One more than the largest id the tokenizer can produce (its vocabulary and added tokens). */
    int vocabSize();

    @Override
    void close();

    /**
     * The tokenizer of a model folder: its {@code tokenizer.json} if present, else the {@link ByteTokenizer}
     * when config.json's {@code vocab_size} is 256 (a byte-level model, as {@code mmfree train} writes), else empty.
     */
    static Optional<TextTokenizer> forModel(Path modelDir) {
        Path file = modelDir.resolve(HfTokenizer.FILE);
        if (Files.isRegularFile(file)) {
            return Optional.of(HfTokenizer.load(file));
        }
        return ByteTokenizer.isByteLevel(modelDir) ? Optional.of(new ByteTokenizer()) : Optional.empty();
    }
}
