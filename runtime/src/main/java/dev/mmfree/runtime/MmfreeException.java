package dev.mmfree.runtime;

/**
 * Root of every error this library raises. Unchecked: callers that want to react to a class of
 * failure catch a subclass ({@code CheckpointException}, {@code DeviceException}, ...); the CLI
 * catches this one and prints its message as one line.
 */
public class MmfreeException extends RuntimeException {
    public MmfreeException(String message) {
        super(message);
    }

    public MmfreeException(String message, Throwable cause) {
        super(message, cause);
    }
}
