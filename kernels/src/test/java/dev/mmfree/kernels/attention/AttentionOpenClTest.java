package dev.mmfree.kernels.attention;

import dev.mmfree.kernels.gemv.Storage;
import dev.mmfree.kernels.opencl.ClDeviceTest;
import dev.mmfree.kernels.opencl.ClTesting;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.MemoryCategory;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link AttentionOpenCl} against {@link AttentionOracle} on random caches (values rounded to the storage
 * type, so both read the same numbers): decode rows and prefill rows, batches, GQA ratios 1 and 2,
 * one split and several (including more splits than positions, so some splits are empty), blocks
 * shorter than a split. float32 math vs the oracle's double: relative L2 at most {@value #TOL}.
 * Outputs and split results are poisoned with NaN first.
 */
class AttentionOpenClTest extends ClDeviceTest {
    private static final double TOL = 1e-5;

    /** Small blocks so that a split walks several of them. */
    private static final AttentionOpenCl.Shape SHAPE = new AttentionOpenCl.Shape(64, 16, 8);
    /** Blocks long enough that the value pass of hd 64 loads several positions a work-item at once. */
    private static final AttentionOpenCl.Shape LONG_BLOCKS = new AttentionOpenCl.Shape(64, 80, 8);

    @Test
    void matchesOracleAcrossSplitsRowsAndGroups() {
        Random r = new Random(31);
        // {storage, hd, H, KV, shape}: head dims that are multiples of 8 take 16-byte words (hd 64 at 64 work-items:
        // 8 of them a position in the value pass, 8 positions at once), the others one element a load
        Object[][] programs = {{Storage.F16, 24, 4, 2, SHAPE}, {Storage.F32, 24, 2, 2, SHAPE}, {Storage.F32, 10, 4, 2, SHAPE},
                {Storage.F16, 10, 3, 3, SHAPE}, {Storage.F16, 64, 4, 1, SHAPE}, {Storage.F16, 64, 2, 2, LONG_BLOCKS},
                {Storage.F32, 64, 2, 1, LONG_BLOCKS}};
        // {b, tps, pos0}
        int[][] calls = {{1, 1, 0}, {1, 1, 40}, {3, 1, 100}, {1, 7, 0}, {2, 5, 13}, {1, 33, 20}};
        for (Object[] p : programs) {
            Storage s = (Storage) p[0];
            int hd = (int) p[1];
            int heads = (int) p[2];
            int kvHeads = (int) p[3];
            try (AttentionOpenCl a = new AttentionOpenCl(device, s, hd, heads / kvHeads, (AttentionOpenCl.Shape) p[4])) {
                for (int[] c : calls) {
                    int positions = c[2] + c[1];
                    for (int splits : new int[]{1, 2, 5, positions + 3, a.splits(c[0] * c[1], kvHeads, positions)}) {
                        attentionCase(a, r, s, hd, heads, kvHeads, c[0], c[1], c[2], splits);
                    }
                }
            }
        }
    }

    private void attentionCase(AttentionOpenCl a, Random r, Storage s, int hd, int heads, int kvHeads, int b, int tps,
                               int pos0, int splits) {
        int rows = b * tps;
        int cap = pos0 + tps + 3;
        int kvw = kvHeads * hd;
        String what = a.kernelName() + " hd " + hd + " H " + heads + " KV " + kvHeads + " b " + b + " tps " + tps
                + " pos0 " + pos0 + " splits " + splits;
        float[] q = ClTesting.gaussian(r, rows * heads * hd, 1f);
        float[] kc = ClTesting.gaussian(r, b * cap * kvw, 1f);
        float[] vc = ClTesting.gaussian(r, b * cap * kvw, 1f);
        for (int i = 0; i < kc.length; i++) {
            kc[i] = s.round(kc[i]);
            vc[i] = s.round(vc[i]);
        }
        float[] expect = AttentionOracle.attend(q, kc, vc, rows, tps, pos0, cap, heads, kvHeads, hd);
        long partBytes = 4L * rows * heads * splits * (hd + 2);
        try (DeviceBuffer qb = device.upload(MemoryCategory.WORKSPACE, "q", q);
             DeviceBuffer kb = upload(s, "k cache", kc);
             DeviceBuffer vb = upload(s, "v cache", vc);
             DeviceBuffer meta = device.upload(MemoryCategory.WORKSPACE, "meta", new int[]{pos0, tps, rows, splits});
             DeviceBuffer out = ClTesting.poisoned(device, 4L * rows * heads * hd, "attn");
             DeviceBuffer part = ClTesting.poisoned(device, partBytes, "part");
             AttentionOpenCl.Op op = a.op(qb, kb, vb, meta, kvHeads, cap, out, part)) {
            op.attend(rows, splits).enqueue(device);
            if (splits > 1) {
                op.combine(rows).enqueue(device);
            }
            float[] got = new float[rows * heads * hd];
            device.read(out, got);
            ClTesting.assertRelL2(what, expect, got, TOL);
        }
    }

    private DeviceBuffer upload(Storage s, String role, float[] values) {
        if (s == Storage.F32) {
            return device.upload(MemoryCategory.STATE, role, values);
        }
        byte[] raw = new byte[2 * values.length];
        for (int i = 0; i < values.length; i++) {
            short h = Float.floatToFloat16(values[i]);
            raw[2 * i] = (byte) h;
            raw[2 * i + 1] = (byte) (h >> 8);
        }
        return device.upload(MemoryCategory.STATE, role, raw);
    }

    @Test
    void cacheCopyMovesFilledPositionsIntoTheLargerCache() {
        Random r = new Random(32);
        int b = 3;
        int kvw = 12;
        int srcCap = 5;
        int dstCap = 9;
        int filled = 4;
        try (AttentionOpenCl a = new AttentionOpenCl(device, Storage.F16, 12, 1, SHAPE)) {
            float[] src = ClTesting.gaussian(r, b * srcCap * kvw, 1f);
            try (DeviceBuffer sb = upload(Storage.F16, "old", src);
                 DeviceBuffer db = ClTesting.poisoned(device, 2L * b * dstCap * kvw, "new");
                 var copy = a.copy(sb, srcCap, db, dstCap, b, kvw, filled)) {
                copy.enqueue(device);
                byte[] raw = new byte[2 * b * dstCap * kvw];
                device.read(db, raw);
                byte[] old = new byte[2 * b * srcCap * kvw];
                device.read(sb, old);
                for (int seq = 0; seq < b; seq++) {
                    for (int p = 0; p < dstCap; p++) {
                        for (int j = 0; j < 2 * kvw; j++) {
                            int at = 2 * (seq * dstCap + p) * kvw + j;
                            if (p < filled) {
                                assertEquals(old[2 * (seq * srcCap + p) * kvw + j], raw[at], "seq " + seq + " pos " + p + " byte " + j);
                            } else {
                                int poison = ClTesting.POISON >>> (8 * (at % 4));
                                assertTrue(raw[at] == (byte) poison, "seq " + seq + " pos " + p + " beyond the filled positions was written");
                            }
                        }
                    }
                }
            }
        }
    }
}
