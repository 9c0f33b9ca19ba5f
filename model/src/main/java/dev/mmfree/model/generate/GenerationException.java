package dev.mmfree.model.generate;

import dev.mmfree.runtime.MmfreeException;

/** A generation request cannot run: bad request values, or a session used after close. */
public class GenerationException extends MmfreeException {
    public GenerationException(String message) {
        super(message);
    }
}
