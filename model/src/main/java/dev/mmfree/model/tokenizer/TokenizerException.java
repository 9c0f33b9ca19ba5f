package dev.mmfree.model.tokenizer;

import dev.mmfree.runtime.MmfreeException;

/** A tokenizer file is unusable, or text/ids cannot be converted: the message names the file. */
public class TokenizerException extends MmfreeException {
    public TokenizerException(String message) {
        super(message);
    }

    public TokenizerException(String message, Throwable cause) {
        super(message, cause);
    }
}
