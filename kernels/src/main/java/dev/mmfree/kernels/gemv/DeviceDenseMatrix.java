package dev.mmfree.kernels.gemv;

import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.MemoryCategory;
import dev.mmfree.runtime.MmfreeException;

import java.util.List;

/**
 * A dense weight matrix on a device in the layout of {@code gemv/dense_common.cl}: [n, kPad] row-major,
 * kPad = roundUp(k, 8), zero past k, fp16 or fp32. Rows may be stacked from several checkpoint tensors
 * and reordered (the paired epilogues want the two rows they combine next to each other).
 */
public final class DeviceDenseMatrix implements AutoCloseable {
    /** Rows converted per host-to-device write while uploading. */
    private static final int UPLOAD_ROWS = 2048;

    private final DeviceBuffer buffer;
    private final Storage storage;
    private final int n;
    private final int k;
    private final int kPad;

    private DeviceDenseMatrix(DeviceBuffer buffer, Storage storage, int n, int k) {
        this.buffer = buffer;
        this.storage = storage;
        this.n = n;
        this.k = k;
        this.kPad = padded(k);
    }

    public static int padded(int k) {
        return (k + 7) / 8 * 8;
    }

    /**
     * Uploads the row-stack of {@code parts} (each [rows_i, k] float32 row-major) as WEIGHTS.
     *
     * @param order stored row i is stacked row order[i]; null keeps the stacked order
     */
    public static DeviceDenseMatrix upload(Device device, Storage storage, String role, int k, List<float[]> parts, int[] order) {
        long total = 0;
        for (float[] p : parts) {
            if (p.length % k != 0) {
                throw new MmfreeException(role + ": a part of " + p.length + " values is not a whole number of rows of " + k);
            }
            total += p.length / k;
        }
        if (total > Integer.MAX_VALUE) {
            throw new MmfreeException(role + ": " + total + " rows");
        }
        int n = (int) total;
        if (order != null && order.length != n) {
            throw new MmfreeException(role + ": row order has " + order.length + " entries for " + n + " rows");
        }
        int kPad = padded(k);
        float[][] partOf = new float[n][];
        int[] rowIn = new int[n];
        int at = 0;
        for (float[] p : parts) {
            for (int r = 0; r < p.length / k; r++, at++) {
                partOf[at] = p;
                rowIn[at] = r;
            }
        }
        DeviceBuffer b = device.allocate(MemoryCategory.WEIGHTS, (long) n * kPad * storage.bytes(), role);
        try {
            for (int r0 = 0; r0 < n; r0 += UPLOAD_ROWS) {
                int rows = Math.min(UPLOAD_ROWS, n - r0);
                long offset = (long) r0 * kPad * storage.bytes();
                if (storage == Storage.F16) {
                    byte[] block = new byte[rows * kPad * 2];
                    for (int i = 0; i < rows; i++) {
                        int src = order == null ? r0 + i : order[r0 + i];
                        float[] p = partOf[src];
                        int base = rowIn[src] * k;
                        for (int j = 0; j < k; j++) {
                            short h = Float.floatToFloat16(p[base + j]);
                            block[2 * (i * kPad + j)] = (byte) h;
                            block[2 * (i * kPad + j) + 1] = (byte) (h >> 8);
                        }
                    }
                    device.write(b, offset, block, 0, block.length);
                } else {
                    float[] block = new float[rows * kPad];
                    for (int i = 0; i < rows; i++) {
                        int src = order == null ? r0 + i : order[r0 + i];
                        System.arraycopy(partOf[src], rowIn[src] * k, block, i * kPad, k);
                    }
                    device.write(b, offset, block, 0, block.length);
                }
            }
        } catch (RuntimeException e) {
            b.close();
            throw e;
        }
        return new DeviceDenseMatrix(b, storage, n, k);
    }

    /**
     * The row order of the ROPE_KV epilogue for {@code heads} stacked heads of hd rows each: stored rows
     * 2j and 2j+1 of a head are its rows j and j + hd/2, the pair a rotation combines.
     */
    public static int[] ropePairOrder(int heads, int hd) {
        if (hd % 2 != 0) {
            throw new MmfreeException("rope pair order: head dim " + hd + " is odd");
        }
        int[] order = new int[heads * hd];
        for (int h = 0; h < heads; h++) {
            for (int j = 0; j < hd / 2; j++) {
                order[h * hd + 2 * j] = h * hd + j;
                order[h * hd + 2 * j + 1] = h * hd + hd / 2 + j;
            }
        }
        return order;
    }

    /** The row order of the SWIGLU epilogue for [gate; up] stacked ([2i, k]): stored 2j = gate j, 2j+1 = up j. */
    public static int[] interleaveOrder(int i) {
        int[] order = new int[2 * i];
        for (int j = 0; j < i; j++) {
            order[2 * j] = j;
            order[2 * j + 1] = i + j;
        }
        return order;
    }

    public DeviceBuffer buffer() {
        return buffer;
    }

    public Storage storage() {
        return storage;
    }

    /** Rows. */
    public int n() {
        return n;
    }

    /** Columns (the input length). */
    public int k() {
        return k;
    }

    public int kPad() {
        return kPad;
    }

    public long bytes() {
        return buffer.bytes();
    }

    @Override
    public void close() {
        buffer.close();
    }

    @Override
    public String toString() {
        return buffer.role() + " [" + n + ", " + k + "] " + storage.suffix();
    }
}
