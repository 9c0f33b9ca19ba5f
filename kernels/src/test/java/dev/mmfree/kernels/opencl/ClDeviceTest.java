package dev.mmfree.kernels.opencl;

import dev.mmfree.runtime.Device;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A test class on one OpenCL device ({@link ClTesting#openOrSkip}): opened before the class's tests, which are
 * skipped where no OpenCL platform exists, and closed after them (after the subclass's own {@code @AfterAll}),
 * when the device's memory ledger must read zero: whatever the tests allocated, they released.
 */
public abstract class ClDeviceTest {
    protected static Device device;

    @BeforeAll
    static void openDevice() {
        device = ClTesting.openOrSkip();
    }

    @AfterAll
    static void closeDevice() {
        if (device != null) {
            Device d = device;
            device = null;
            d.close();
            assertEquals(0, d.memory().totalBytes(), "ledger after close");
        }
    }
}
