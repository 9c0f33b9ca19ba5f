package dev.mmfree.runtime;

/** An enqueued command: {@link #await} waits for it, {@link #elapsedNanos} also reads the device's own timer. */
public interface DeviceEvent extends AutoCloseable {
    /** Waits until the command has finished. */
    void await();

    /** Device time from the command's start to its end, in nanoseconds (needs a profiling device). */
    long elapsedNanos();

    @Override
    void close();
}
