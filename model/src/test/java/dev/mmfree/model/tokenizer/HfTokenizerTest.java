package dev.mmfree.model.tokenizer;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HfTokenizerTest {
    private static final List<String> WORDS = List.of("<s>", "</s>", "<unk>", "the", "cat", "sat", "on", "mat", ".", "a");

    @TempDir
    Path dir;

    private Path writeWordLevel() throws Exception {
        Path file = dir.resolve("tokenizer.json");
        TestTokenizers.wordLevel(file, WORDS, 0, 1);
        return file;
    }

    private Path writeByteLevel() throws Exception {
        Path file = Files.createDirectories(dir.resolve("bytes")).resolve("tokenizer.json");
        TestTokenizers.byteLevel(file);
        return file;
    }

    @Test
    void wordLevelEncodesDecodesAndAddsBos() throws Exception {
        writeWordLevel();
        Optional<TextTokenizer> found = TextTokenizer.forModel(dir);
        assertTrue(found.isPresent());
        try (TextTokenizer t = found.get()) {
            assertArrayEquals(new int[]{0, 3, 4, 5, 6, 3, 7, 8}, t.encode("the cat sat on the mat."));
            assertArrayEquals(new int[]{0, 9, 2, 4}, t.encode("a dog cat"), "unknown words become <unk>");
            assertEquals("the cat sat", t.decode(new int[]{0, 3, 4, 5, 1}), "special tokens are dropped");
            assertEquals(WORDS.size(), t.vocabSize());
            assertEquals(dir.resolve("tokenizer.json") + ": cannot decode id 10, outside the vocabulary [0, 10)",
                    assertThrows(TokenizerException.class, () -> t.decode(new int[]{3, 10})).getMessage());
            int[] many = t.encode("the cat ".repeat(600));
            assertEquals(1 + 1200, many.length, "no truncation");
        }
    }

    @Test
    void streamingReassemblesMultiByteCharacters() throws Exception {
        Path file = writeByteLevel();
        try (TextTokenizer t = HfTokenizer.load(file)) {
            String text = "héllo wörld 🙂 ok";
            int[] ids = t.encode(text);
            byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
            assertEquals(1 + utf8.length, ids.length);
            assertEquals(utf8[1] & 0xff, ids[2] - 2);
            assertEquals(text, t.decode(ids));
            StreamingDecoder stream = new StreamingDecoder(t, new int[]{ids[0]});
            StringBuilder out = new StringBuilder();
            for (int i = 1; i < ids.length; i++) {
                String piece = stream.push(ids[i]);
                assertTrue(!piece.contains("\uFFFD"), "piece " + i + " holds a broken character: " + piece);
                out.append(piece);
            }
            out.append(stream.flush());
            assertEquals(text, out.toString());
        }
    }

    @Test
    void streamingOverManyTokensMatchesWholeDecode() throws Exception {
        writeWordLevel();
        try (TextTokenizer t = HfTokenizer.load(dir.resolve("tokenizer.json"))) {
            int[] prompt = t.encode("the cat");
            StreamingDecoder stream = new StreamingDecoder(t, prompt);
            StringBuilder out = new StringBuilder();
            int[] gen = new int[300];
            for (int i = 0; i < gen.length; i++) {
                gen[i] = 3 + (i * 7) % 7;
                out.append(stream.push(gen[i]));
            }
            out.append(stream.flush());
            assertEquals(" " + t.decode(gen), out.toString(), "continuation after a prompt starts with its separator");
        }
    }

    @Test
    void missingOrBrokenTokenizer() throws Exception {
        assertTrue(TextTokenizer.forModel(dir).isEmpty());
        Path bad = dir.resolve("tokenizer.json");
        Files.writeString(bad, "{\"model\": {\"type\": \"WordLevel\", \"vocab\": {\"a\": 0}}, \"pre_tokenizer\": 5}");
        TokenizerException e = assertThrows(TokenizerException.class, () -> TextTokenizer.forModel(dir));
        assertTrue(e.getMessage().startsWith(bad + ": cannot load tokenizer"), e.getMessage());
    }
}
