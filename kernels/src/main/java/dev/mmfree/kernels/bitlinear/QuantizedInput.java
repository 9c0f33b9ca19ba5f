package dev.mmfree.kernels.bitlinear;

import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.MemoryCategory;

/**
 * Quantized BitLinear inputs on a device, as the norm-quantize kernels write them and
 * {@code bitlinear_t2_i8_f32} reads them; room for {@code capacity} rows of each of P projections.
 * A launch for {@code rows <= capacity} rows uses the layout [P][rows][...].
 *
 * @param q      [P][rows][kPad] int8, zero past k (kPad = 64 * ceil(k / 64))
 * @param factor [P][rows] f32, the quantizer's a / 127
 * @param qsum   [P][rows] int, the sum of the row's codes
 */
public record QuantizedInput(DeviceBuffer q, DeviceBuffer factor, DeviceBuffer qsum, int projections, int capacity, int k)
        implements AutoCloseable {

    public static QuantizedInput allocate(Device device, MemoryCategory category, String role, int projections, int capacity, int k) {
        long rows = (long) projections * capacity;
        return new QuantizedInput(device.allocate(category, rows * kPad(k), role + " q"),
                device.allocate(category, 4 * rows, role + " factor"),
                device.allocate(category, 4 * rows, role + " qsum"), projections, capacity, k);
    }

    public static int kPad(int k) {
        return TernaryDeviceLayout.chunks(k) * TernaryDeviceLayout.CHUNK;
    }

    public int chunks() {
        return TernaryDeviceLayout.chunks(k);
    }

    @Override
    public void close() {
        q.close();
        factor.close();
        qsum.close();
    }
}
