package dev.mmfree.model.tokenizer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
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
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<String> WORDS = List.of("<s>", "</s>", "<unk>", "the", "cat", "sat", "on", "mat", ".", "a");

    @TempDir
    Path dir;

    private static ObjectNode special(int id, String content) {
        ObjectNode t = JSON.createObjectNode();
        t.put("id", id).put("content", content).put("single_word", false).put("lstrip", false).put("rstrip", false)
                .put("normalized", false).put("special", true);
        return t;
    }

    /** A tokenizer.json with the given model, bos prepended by a template, no decoder unless given. */
    private static ObjectNode tokenizerJson(ObjectNode model, ObjectNode preTokenizer, ObjectNode decoder) {
        ObjectNode root = JSON.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        added.add(special(0, "<s>")).add(special(1, "</s>"));
        root.putNull("normalizer");
        root.set("pre_tokenizer", preTokenizer);
        ObjectNode post = root.putObject("post_processor");
        post.put("type", "TemplateProcessing");
        ArrayNode single = post.putArray("single");
        single.addObject().putObject("SpecialToken").put("id", "<s>").put("type_id", 0);
        single.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
        ArrayNode pair = post.putArray("pair");
        pair.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
        pair.addObject().putObject("Sequence").put("id", "B").put("type_id", 1);
        ObjectNode bos = post.putObject("special_tokens").putObject("<s>");
        bos.put("id", "<s>");
        bos.putArray("ids").add(0);
        bos.putArray("tokens").add("<s>");
        if (decoder == null) {
            root.putNull("decoder");
        } else {
            root.set("decoder", decoder);
        }
        root.set("model", model);
        return root;
    }

    private Path writeWordLevel() throws Exception {
        ObjectNode model = JSON.createObjectNode();
        model.put("type", "WordLevel");
        ObjectNode vocab = model.putObject("vocab");
        for (int i = 0; i < WORDS.size(); i++) {
            vocab.put(WORDS.get(i), i);
        }
        model.put("unk_token", "<unk>");
        ObjectNode pre = JSON.createObjectNode().put("type", "Whitespace");
        Path file = dir.resolve("tokenizer.json");
        Files.writeString(file, JSON.writeValueAsString(tokenizerJson(model, pre, null)));
        return file;
    }

    /** GPT-2's byte to printable-character map: printable Latin-1 bytes stand for themselves, the rest move to 256+. */
    private static char[] byteChars() {
        char[] map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = (char) (printable ? b : next++);
        }
        return map;
    }

    /** Byte-level BPE without merges: one token per UTF-8 byte, id = byte + 2. */
    private Path writeByteLevel() throws Exception {
        ObjectNode model = JSON.createObjectNode();
        model.put("type", "BPE");
        ObjectNode vocab = model.putObject("vocab");
        vocab.put("<s>", 0).put("</s>", 1);
        char[] map = byteChars();
        for (int b = 0; b < 256; b++) {
            vocab.put(String.valueOf(map[b]), b + 2);
        }
        model.putArray("merges");
        ObjectNode pre = JSON.createObjectNode().put("type", "ByteLevel").put("add_prefix_space", false).put("trim_offsets", true)
                .put("use_regex", true);
        ObjectNode dec = JSON.createObjectNode().put("type", "ByteLevel").put("add_prefix_space", false).put("trim_offsets", true)
                .put("use_regex", true);
        Path sub = Files.createDirectories(dir.resolve("bytes"));
        Path file = sub.resolve("tokenizer.json");
        Files.writeString(file, JSON.writeValueAsString(tokenizerJson(model, pre, dec)));
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
