package dev.mmfree.runtime;

import java.nio.ByteBuffer;

/**
 * A compute device: buffers (each recorded in {@link #memory()} under a {@link MemoryCategory}),
 * programs built from source, kernel launches on one in-order queue, blocking transfers and,
 * for pipelining, asynchronous ones between direct buffers and the device.
 *
 * <p>Kernels are not methods of the device: a kernel family builds its own program and launches its
 * kernels through this interface, so new kernels never change it. Closing the device releases every
 * buffer, program and kernel it still holds, which returns the ledger to zero.
 */
public interface Device extends AutoCloseable {
    DeviceInfo info();

    /** Bytes held on this device by category. */
    MemoryLedger memory();

    /** A new buffer of {@code bytes} (contents undefined); {@code role} names it in errors. */
    DeviceBuffer allocate(MemoryCategory category, long bytes, String role);

    /**
     * A view of bytes [offsetBytes, offsetBytes + bytes) of {@code parent}, which kernels and copies take as a
     * buffer of its own (an OpenCL sub-buffer): how tensors stacked in one allocation are also handed out one by
     * one. Not counted in {@link #memory()}, where the parent is. {@code offsetBytes} must be a multiple of
     * {@link DeviceInfo#baseAlignBytes()}. Closing the view leaves the parent; either may be closed first.
     */
    DeviceBuffer slice(DeviceBuffer parent, long offsetBytes, long bytes, String role);

    /** Builds (or loads from a cache) a program from source; a build failure carries the build log. */
    DeviceProgram build(String label, String source, String options);

    /** Enqueues a kernel on {@code global} work-items in groups of {@code local} (null: the driver's choice). */
    void launch(DeviceKernel kernel, long[] global, long[] local);

    /** Whether the device was opened with profiling, so that {@link #launchTimed} works. */
    boolean profiling();

    /** Like {@link #launch} and returns an event that can time the kernel on the device. */
    DeviceEvent launchTimed(DeviceKernel kernel, long[] global, long[] local);

    void write(DeviceBuffer dst, long offsetBytes, float[] src, int from, int count);

    void write(DeviceBuffer dst, long offsetBytes, int[] src, int from, int count);

    void write(DeviceBuffer dst, long offsetBytes, byte[] src, int from, int count);

    void read(DeviceBuffer src, long offsetBytes, float[] dst, int from, int count);

    void read(DeviceBuffer src, long offsetBytes, int[] dst, int from, int count);

    void read(DeviceBuffer src, long offsetBytes, byte[] dst, int from, int count);

    /**
     * Enqueues a read of {@code dst.remaining()} bytes at {@code offsetBytes} into {@code dst}, a direct
     * buffer, and returns without waiting: the bytes are there once the event's {@link DeviceEvent#await}
     * returns, and dst must be left alone until then. Commands enqueued later run after it.
     */
    DeviceEvent readAsync(DeviceBuffer src, long offsetBytes, ByteBuffer dst);

    /**
     * Enqueues a write of {@code src.remaining()} bytes from {@code src}, a direct buffer, to {@code offsetBytes}
     * and returns without waiting: src must be left alone until the event's {@link DeviceEvent#await} returns.
     * Commands enqueued later see the written bytes.
     */
    DeviceEvent writeAsync(DeviceBuffer dst, long offsetBytes, ByteBuffer src);

    /**
     * Page-locked host memory of {@code bytes}, which {@link #readAsync} and {@link #writeAsync} move
     * straight from and to (no staging copy that needs the host), in native byte order. Not counted in
     * {@link #memory()}; released by its close, or with the device.
     */
    HostBuffer allocateHost(long bytes, String role);

    /** Submits every enqueued command to the device without waiting for any. */
    void flush();

    /** Sets every 32-bit word of the buffer to {@code pattern} (poison a buffer with a NaN's bits, or zero it). */
    void fill(DeviceBuffer dst, int pattern);

    /** Waits until every enqueued command has finished. */
    void synchronize();

    default void write(DeviceBuffer dst, float[] src) {
        write(dst, 0, src, 0, src.length);
    }

    default void write(DeviceBuffer dst, int[] src) {
        write(dst, 0, src, 0, src.length);
    }

    default void write(DeviceBuffer dst, byte[] src) {
        write(dst, 0, src, 0, src.length);
    }

    default void read(DeviceBuffer src, float[] dst) {
        read(src, 0, dst, 0, dst.length);
    }

    default void read(DeviceBuffer src, int[] dst) {
        read(src, 0, dst, 0, dst.length);
    }

    default void read(DeviceBuffer src, byte[] dst) {
        read(src, 0, dst, 0, dst.length);
    }

    /** An allocation filled from {@code src}. */
    default DeviceBuffer upload(MemoryCategory category, String role, float[] src) {
        DeviceBuffer b = allocate(category, 4L * Math.max(1, src.length), role);
        write(b, src);
        return b;
    }

    default DeviceBuffer upload(MemoryCategory category, String role, int[] src) {
        DeviceBuffer b = allocate(category, 4L * Math.max(1, src.length), role);
        write(b, src);
        return b;
    }

    default DeviceBuffer upload(MemoryCategory category, String role, byte[] src) {
        DeviceBuffer b = allocate(category, Math.max(4, (src.length + 3) & ~3L), role);
        write(b, src);
        return b;
    }

    @Override
    void close();
}
