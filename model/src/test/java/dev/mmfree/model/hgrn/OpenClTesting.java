package dev.mmfree.model.hgrn;

import dev.mmfree.runtime.opencl.OpenCl;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Test setup shared by the OpenCL model tests. */
public final class OpenClTesting {
    private OpenClTesting() {
    }

    /**
     * Skips without OpenCL (fails where MMFREE_REQUIRE_OPENCL=1, {@link OpenCl#skipReason()}); otherwise, unless a selector is configured, selects the default device
     * (first GPU, else the first CPU) so the opencl backend also runs on a PoCL-only machine.
     */
    public static void selectDefaultDeviceOrSkip() {
        assumeTrue(OpenCl.skipReason().isEmpty(), () -> "OpenCL unavailable: " + OpenCl.unavailableReason().orElse(""));
        if (OpenCl.configuredSelector() == null) {
            System.setProperty(OpenCl.DEVICE_PROPERTY, String.valueOf(OpenCl.select(null).index()));
        }
    }
}
