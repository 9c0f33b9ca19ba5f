package dev.mmfree.model.tokenizer;

import java.util.Arrays;

/**
 * Turns a stream of token ids into a stream of text pieces whose concatenation is the decoded text.
 *
 * <p>A token alone may decode differently than in context (a SentencePiece word-start marker becomes
 * a space only after another word; a multi-byte character may span tokens), so each piece is the
 * difference between decoding a short window with and without the newest tokens. A piece that ends
 * in an incomplete character (U+FFFD) is held back until the next token completes it.
 */
public final class StreamingDecoder {
    private final TextTokenizer tokenizer;
    private int[] ids;
    private int length;
    private int prefixStart;   // window start: tokens already printed that give context
    private int readStart;     // first token whose text is not printed yet

    /** @param context the last few tokens before the stream (the prompt's tail), used only as context */
    public StreamingDecoder(TextTokenizer tokenizer, int[] context) {
        this.tokenizer = tokenizer;
        int keep = Math.min(context.length, 6);
        this.ids = Arrays.copyOf(Arrays.copyOfRange(context, context.length - keep, context.length), keep + 16);
        this.length = keep;
        this.prefixStart = 0;
        this.readStart = keep;
    }

    /** The text that token adds, possibly empty (held back until the next token). */
    public String push(int token) {
        if (length == ids.length) {
            ids = Arrays.copyOf(ids, 2 * ids.length);
        }
        ids[length++] = token;
        String before = tokenizer.decode(Arrays.copyOfRange(ids, prefixStart, readStart));
        String after = tokenizer.decode(Arrays.copyOfRange(ids, prefixStart, length));
        if (after.length() > before.length() && !after.endsWith("\uFFFD")) {
            prefixStart = readStart;
            readStart = length;
            compact();
            return after.substring(before.length());
        }
        return "";
    }

    /** Whatever is held back, even if incomplete. */
    public String flush() {
        String before = tokenizer.decode(Arrays.copyOfRange(ids, prefixStart, readStart));
        String after = tokenizer.decode(Arrays.copyOfRange(ids, prefixStart, length));
        prefixStart = readStart = length;
        return after.length() > before.length() ? after.substring(before.length()) : "";
    }

    private void compact() {
        if (prefixStart > 64) {
            ids = Arrays.copyOfRange(ids, prefixStart, prefixStart + ids.length);
            length -= prefixStart;
            readStart -= prefixStart;
            prefixStart = 0;
        }
    }
}
