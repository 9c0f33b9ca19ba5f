package dev.mmfree.kernels.opencl;

import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.Launch;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** {@link ColdCopies}: copies of whole 4 KiB halves filling the cold budget, every launch runs, close frees them. */
class ColdCopiesTest {
    @Test
    void copiesFillTheBudgetRunAndAreFreedOnClose() {
        try (Device device = ClTesting.openOrSkip()) {
            long before = device.memory().totalBytes();
            try (ColdCopies copies = new ColdCopies(device, 100_000, 1L << 20)) {
                assertEquals(2 * 49_152, copies.bytes(), "halves rounded down to 4 KiB");
                assertEquals(10, copies.launches().size(), "1 MiB of pairs of 96 KiB");
                assertEquals("96 KiB x10", copies.label());
                assertEquals(before + 10 * copies.bytes(), device.memory().totalBytes(), "both buffers of every pair counted");
                for (Launch l : copies.launches()) {
                    l.enqueue(device);
                }
                device.synchronize();
            }
            assertEquals(before, device.memory().totalBytes(), "ledger after close");
            try (ColdCopies tiny = new ColdCopies(device, 10, 1)) {
                assertEquals(8192, tiny.bytes(), "at least one 4 KiB half each way");
                assertEquals(1, tiny.launches().size(), "at least one pair");
            }
            assertEquals(before, device.memory().totalBytes());
            try (ColdCopies reads = ColdCopies.reads(device, 100_000, 1L << 20)) {
                assertEquals(98_304, reads.bytes(), "whole 4 KiB pages, all read");
                assertEquals(10, reads.launches().size(), "1 MiB of buffers of 96 KiB");
                assertEquals("96 KiB read x10", reads.label());
                assertEquals(before + 10 * reads.bytes() + 4, device.memory().totalBytes(), "each buffer and the sink counted");
                for (Launch l : reads.launches()) {
                    l.enqueue(device);
                }
                device.synchronize();
            }
            assertEquals(before, device.memory().totalBytes(), "ledger after closing the reads");
        }
    }
}
