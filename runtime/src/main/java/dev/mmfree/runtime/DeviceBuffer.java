package dev.mmfree.runtime;

/** Memory on a {@link Device}; closing it returns its bytes to the device's ledger. Idempotent close. */
public interface DeviceBuffer extends AutoCloseable {
    long bytes();

    MemoryCategory category();

    /** What the buffer holds, as named at allocation ("layer 3 iProj codes"); used in errors. */
    String role();

    @Override
    void close();
}
