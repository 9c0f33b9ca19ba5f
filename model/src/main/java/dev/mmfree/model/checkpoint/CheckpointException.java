package dev.mmfree.model.checkpoint;

import dev.mmfree.runtime.MmfreeException;

/** A model folder, checkpoint file or tensor is unusable: the message names the file, tensor or field. */
public class CheckpointException extends MmfreeException {
    public CheckpointException(String message) {
        super(message);
    }

    public CheckpointException(String message, Throwable cause) {
        super(message, cause);
    }
}
