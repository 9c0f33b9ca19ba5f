package dev.mmfree.runtime;

/** A launched command; {@link #elapsedNanos} waits for it and reads the device's own timer. */
public interface DeviceEvent extends AutoCloseable {
    /** Device time from the command's start to its end, in nanoseconds. */
    long elapsedNanos();

    @Override
    void close();
}
