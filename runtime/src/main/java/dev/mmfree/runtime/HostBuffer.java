package dev.mmfree.runtime;

import java.nio.ByteBuffer;

/** Page-locked host memory from {@link Device#allocateHost}: a direct buffer the device copies to and from directly. */
public interface HostBuffer extends AutoCloseable {
    /** The memory, position 0, limit its size, native byte order. */
    ByteBuffer bytes();

    @Override
    void close();
}
