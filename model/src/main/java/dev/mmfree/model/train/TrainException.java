package dev.mmfree.model.train;

import dev.mmfree.runtime.MmfreeException;

/** A training error: shapes that do not fit, configurations the trainer does not support. */
public class TrainException extends MmfreeException {
    public TrainException(String message) {
        super(message);
    }
}
