package dev.mmfree.runtime;

/** A built program; {@link #kernel} makes a new kernel instance with its own arguments. */
public interface DeviceProgram extends AutoCloseable {
    String label();

    DeviceKernel kernel(String name);

    @Override
    void close();
}
