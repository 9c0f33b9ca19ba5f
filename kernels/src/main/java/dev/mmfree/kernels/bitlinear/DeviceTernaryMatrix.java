package dev.mmfree.kernels.bitlinear;

import dev.mmfree.kernels.ternary.TernaryMatrix;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.MemoryCategory;

/**
 * Ternary weights on a device in {@link TernaryDeviceLayout}: P stacked projections [out, in] and their scales.
 *
 * @param codes     [chunks * rowsPad] uint4, the device layout
 * @param scales    [P] f32, each projection's weight scale s
 * @param blockRows 0 for the chunk-major layout, 16, 32 or 64 for the one blocked by that many rows
 *                  ({@link TernaryDeviceLayout}); a kernel reads the layout its program was built for
 */
public record DeviceTernaryMatrix(DeviceBuffer codes, DeviceBuffer scales, int projections, int out, int in, int blockRows)
        implements AutoCloseable {

    public DeviceTernaryMatrix {
        TernaryDeviceLayout.checkBlockRows(blockRows);
    }

    /** Packs and uploads the stacked matrices (all [out, in]); role names them in the memory ledger. */
    public static DeviceTernaryMatrix upload(Device device, MemoryCategory category, String role, TernaryMatrix... stack) {
        return upload(device, category, role, 0, stack);
    }

    /** As {@link #upload(Device, MemoryCategory, String, TernaryMatrix...)}, blocked by blockRows rows (0: chunk-major). */
    public static DeviceTernaryMatrix upload(Device device, MemoryCategory category, String role, int blockRows, TernaryMatrix... stack) {
        int[] words = TernaryDeviceLayout.pack(blockRows, stack);
        float[] s = new float[stack.length];
        for (int p = 0; p < stack.length; p++) {
            s[p] = stack[p].scale();
        }
        DeviceBuffer codes = device.upload(category, role + " codes", words);
        DeviceBuffer scales = device.upload(category, role + " scales", s);
        return new DeviceTernaryMatrix(codes, scales, stack.length, stack[0].out(), stack[0].in(), blockRows);
    }

    public int outPad() {
        return TernaryDeviceLayout.outPad(out);
    }

    public int chunks() {
        return TernaryDeviceLayout.chunks(in);
    }

    /** All stacked rows with padding. */
    public int rowsPad() {
        return projections * outPad();
    }

    @Override
    public void close() {
        codes.close();
        scales.close();
    }
}
