package dev.mmfree.runtime;

/** An enqueued command: {@link #await} waits for it, {@link #elapsedNanos} also reads the device's own timer. */
public interface DeviceEvent extends AutoCloseable {
    /** Waits until the command has finished. */
    void await();

    /** Device time from the command's start to its end, in nanoseconds (needs a profiling device). */
    default long elapsedNanos() {
        return endNanos() - startNanos();
    }

    /** The device's timer when the command started, in nanoseconds (waits for it; needs a profiling device). */
    long startNanos();

    /** The device's timer when the command ended, in nanoseconds (waits for it; needs a profiling device). */
    long endNanos();

    @Override
    void close();
}
