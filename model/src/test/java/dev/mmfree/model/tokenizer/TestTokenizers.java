package dev.mmfree.model.tokenizer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Small tokenizer.json files written by tests: bos (id 0 unless given) prepended by a template. */
public final class TestTokenizers {
    private static final ObjectMapper JSON = new ObjectMapper();

    private TestTokenizers() {
    }

    private static ObjectNode special(int id, String content) {
        ObjectNode t = JSON.createObjectNode();
        t.put("id", id).put("content", content).put("single_word", false).put("lstrip", false).put("rstrip", false)
                .put("normalized", false).put("special", true);
        return t;
    }

    private static void write(Path file, ObjectNode model, ObjectNode preTokenizer, ObjectNode decoder, int bos, int eos) throws IOException {
        ObjectNode root = JSON.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        added.add(special(bos, "<s>")).add(special(eos, "</s>"));
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
        ObjectNode bosEntry = post.putObject("special_tokens").putObject("<s>");
        bosEntry.put("id", "<s>");
        bosEntry.putArray("ids").add(bos);
        bosEntry.putArray("tokens").add("<s>");
        if (decoder == null) {
            root.putNull("decoder");
        } else {
            root.set("decoder", decoder);
        }
        root.set("model", model);
        Files.writeString(file, JSON.writeValueAsString(root));
    }

    /**
     * A WordLevel tokenizer over whitespace-split words: word i has id i; the words at {@code bos} and
     * {@code eos} must be "&lt;s&gt;" and "&lt;/s&gt;", and the one named "&lt;unk&gt;" takes unknown words.
     */
    public static void wordLevel(Path file, List<String> words, int bos, int eos) throws IOException {
        ObjectNode model = JSON.createObjectNode();
        model.put("type", "WordLevel");
        ObjectNode vocab = model.putObject("vocab");
        for (int i = 0; i < words.size(); i++) {
            vocab.put(words.get(i), i);
        }
        model.put("unk_token", "<unk>");
        write(file, model, JSON.createObjectNode().put("type", "Whitespace"), null, bos, eos);
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

    /** Byte-level BPE without merges: one token per UTF-8 byte, id = byte + 2; bos 0, eos 1. */
    public static void byteLevel(Path file) throws IOException {
        ObjectNode model = JSON.createObjectNode();
        model.put("type", "BPE");
        ObjectNode vocab = model.putObject("vocab");
        vocab.put("<s>", 0).put("</s>", 1);
        char[] map = byteChars();
        for (int b = 0; b < 256; b++) {
            vocab.put(String.valueOf(map[b]), b + 2);
        }
        model.putArray("merges");
        ObjectNode byteLevel = JSON.createObjectNode().put("type", "ByteLevel").put("add_prefix_space", false)
                .put("trim_offsets", true).put("use_regex", true);
        write(file, model, byteLevel, byteLevel.deepCopy(), 0, 1);
    }
}
