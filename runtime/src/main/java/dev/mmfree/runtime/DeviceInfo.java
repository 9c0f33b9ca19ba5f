package dev.mmfree.runtime;

/**
 * What a device is, for selection, kernel tuning and benchmark records.
 *
 * @param name             "platform / device", as device selectors match it
 * @param vendor           the device vendor string ("NVIDIA Corporation", ...)
 * @param driverVersion    driver version string
 * @param gpu              true for a GPU, false for a CPU or other accelerator
 * @param computeUnits     compute units (SMs on NVIDIA)
 * @param maxWorkGroupSize the largest work-group
 * @param localMemBytes    local (shared) memory per work-group
 * @param globalMemBytes   device memory
 * @param maxAllocBytes    the largest single buffer
 * @param fp64             the device computes in double precision (kernels then sum norms in double)
 * @param baseAlignBytes   the alignment of a buffer's start, and so of a {@link Device#slice}'s offset
 */
public record DeviceInfo(String name, String vendor, String driverVersion, boolean gpu, int computeUnits,
                         long maxWorkGroupSize, long localMemBytes, long globalMemBytes, long maxAllocBytes, boolean fp64,
                         long baseAlignBytes) {
}
