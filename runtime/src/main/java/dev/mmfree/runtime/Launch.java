package dev.mmfree.runtime;

import java.util.Arrays;

/**
 * A kernel with its arguments set and its launch geometry: built once, enqueued any number of times.
 * Closing it releases the kernel instance.
 *
 * @param global work-items per dimension
 * @param local  work-group size per dimension (null: the driver's choice)
 */
public record Launch(DeviceKernel kernel, long[] global, long[] local) implements AutoCloseable {
    public void enqueue(Device device) {
        device.launch(kernel, global, local);
    }

    public DeviceEvent enqueueTimed(Device device) {
        return device.launchTimed(kernel, global, local);
    }

    @Override
    public void close() {
        kernel.close();
    }

    @Override
    public String toString() {
        return kernel.name() + " global " + Arrays.toString(global) + " local " + Arrays.toString(local);
    }
}
