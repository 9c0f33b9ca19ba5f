package dev.mmfree.model.tokenizer;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** UTF-8 bytes as ids, streamed decoding of split characters, and when a folder is byte-level. */
class ByteTokenizerTest {
    @Test
    void encodesUtf8BytesAndDecodesThem() {
        ByteTokenizer t = new ByteTokenizer();
        assertArrayEquals(new int[]{72, 105, 32, 0xc3, 0xa9, 0xe2, 0x82, 0xac}, t.encode("Hi é€"));
        assertEquals("Hi é€\n", t.decode(t.encode("Hi é€\n")));
        assertEquals("", t.decode(new int[0]));
        TokenizerException e = assertThrows(TokenizerException.class, () -> t.decode(new int[]{65, 256}));
        assertEquals("byte tokenizer: id 256 at 1 is not a byte (0..255)", e.getMessage());
    }

    /** A character split over tokens is printed once complete. */
    @Test
    void streamsMultiByteCharacters() {
        ByteTokenizer t = new ByteTokenizer();
        StreamingDecoder d = new StreamingDecoder(t, t.encode("a"));
        StringBuilder s = new StringBuilder();
        for (int id : t.encode("€ b")) {
            s.append(d.push(id));
        }
        s.append(d.flush());
        assertEquals("€ b", s.toString());
    }

    @Test
    void forModelPicksBytesOnlyForVocab256WithoutTokenizerJson(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("config.json"), "{\"model_type\": \"hgrn_bit\", \"vocab_size\": 256}");
        Optional<TextTokenizer> t = TextTokenizer.forModel(dir);
        assertTrue(t.isPresent());
        assertInstanceOf(ByteTokenizer.class, t.get());
        Files.writeString(dir.resolve("config.json"), "{\"model_type\": \"hgrn_bit\", \"vocab_size\": 257}");
        assertTrue(TextTokenizer.forModel(dir).isEmpty());
        Files.delete(dir.resolve("config.json"));
        assertTrue(TextTokenizer.forModel(dir).isEmpty());
    }
}
