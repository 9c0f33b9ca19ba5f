package dev.mmfree.model.checkpoint;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;

/**
 * JSON parsing for untrusted checkpoint files: strict UTF-8, no duplicate keys (a repeated tensor name
 * or config field is ambiguous, so hostile), nothing after the value, and a size limit checked before
 * any allocation.
 */
final class StrictJson {
    /** JSON documents (headers, config, index) above this are refused: real ones are a few hundred KB. */
    static final long MAX_BYTES = 100L << 20;

    private static final ObjectMapper MAPPER = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private StrictJson() {
    }

    /** Parses {@code utf8}; errors name {@code where} ("x/config.json", "x/model.safetensors: header"). */
    static JsonNode parse(String where, byte[] utf8) {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(utf8)).toString();
        } catch (CharacterCodingException e) {
            throw new CheckpointException(where + ": not valid UTF-8", e);
        }
        try {
            JsonNode root = MAPPER.readTree(text);
            if (root == null || root.isMissingNode()) {
                throw new CheckpointException(where + ": malformed JSON (empty document)");
            }
            return root;
        } catch (JsonProcessingException e) {
            throw new CheckpointException(where + ": malformed JSON (" + e.getOriginalMessage() + ")", e);
        }
    }

    /** Reads and parses a whole JSON file, refusing files over {@link #MAX_BYTES}. */
    static JsonNode read(Path file) {
        byte[] bytes;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size > MAX_BYTES) {
                throw new CheckpointException(file + ": " + size + " bytes, over the " + MAX_BYTES + "-byte limit for a JSON file");
            }
            ByteBuffer buf = ByteBuffer.allocate((int) size);
            while (buf.hasRemaining()) {
                if (ch.read(buf) < 0) {
                    break;
                }
            }
            bytes = Arrays.copyOf(buf.array(), buf.position());
        } catch (NoSuchFileException e) {
            throw new CheckpointException(file + ": file not found", e);
        } catch (IOException e) {
            throw new CheckpointException(file + ": cannot read (" + e + ")", e);
        }
        return parse(file.toString(), bytes);
    }
}
