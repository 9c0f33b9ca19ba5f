package dev.mmfree.kernels.bitlinear;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link LayerTraceReport} on a synthetic trace whose steps and spreads are known. */
class LayerTraceReportTest {
    private static final int GROUPS = 2;
    private static final int MARKS = BitLinearDecodeOpenCl.TRACE_MARKS;

    /**
     * Phase p of group g enters at 1000 * (10 p + 1) + 50 g ns and each mark 0 < m < 9 comes (m + p) ns
     * after the one before it (cycles: twice that), except down_proj's mark 1, left at zero as the
     * kernel leaves it (no block norm); every group leaves the barrier (mark 9) 9 ns after the last one
     * arrived.
     */
    private static byte[] trace() {
        long[] t = new long[(int) BitLinearDecodeOpenCl.traceLongs(GROUPS)];
        for (int p = 0; p < 4; p++) {
            for (int g = 0; g < GROUPS; g++) {
                long ns = 1000L * (10 * p + 1) + 50L * g;
                long cy = 2 * ns;
                for (int m = 0; m < MARKS; m++) {
                    if (m == MARKS - 1) {
                        ns = 1000L * (10 * p + 1) + 50L * (GROUPS - 1) + 8 * p + 36 + 9;
                        cy = 2 * ns;
                    } else if (m > 0) {
                        ns += m + p;
                        cy += 2L * (m + p);
                    }
                    if (p == 3 && m == 1) {
                        continue;
                    }
                    int at = ((p * GROUPS + g) * MARKS + m) * 2;
                    t[at] = ns;
                    t[at + 1] = cy;
                }
            }
        }
        ByteBuffer b = ByteBuffer.allocate(8 * t.length).order(ByteOrder.LITTLE_ENDIAN);
        b.asLongBuffer().put(t);
        return b.array();
    }

    @Test
    void stepsAndSpreadsComeOutOfTheMarks() {
        LayerTraceReport r = new LayerTraceReport(GROUPS);
        r.add(trace());
        r.add(trace());
        List<String> lines = r.lines();
        // o_proj (p = 1), mark 4: 4 + 1 ns, 10 cycles
        assertTrue(lines.contains("o_proj | 4 quantize to local | 5 | 5 | 10"), lines.toString());
        // down_proj has no mark 1: its mark 2 counts from entry, 1 + 3 + 2 + 3 ns
        assertTrue(lines.contains("down | 2 norm2 sum | 9 | 9 | 18"), lines.toString());
        assertTrue(lines.stream().noneMatch(l -> l.startsWith("down | 1 ")), lines.toString());
        // i|f|g: entries 50 ns apart; the last done at entry + 50 + (1 + ... + 8); out of the barrier 9 ns later
        assertTrue(lines.contains("ifg+mlgru | 50 | 86 | 9 | 9"), lines.toString());
        // down_proj: marks 1 .. 8 come 4 .. 11 ns apart, 60 in all
        assertTrue(lines.contains("down | 50 | 110 | - | -"), lines.toString());
        // whole layer: first entry of i|f|g (1000) to the last group's mark 8 of down_proj (31,050 + 60)
        assertEquals("first entry to last done, whole layer: median 30110 ns over 2 launches", lines.get(lines.size() - 1));
    }
}
