package dev.mmfree.kernels.gemv;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** {@link DenseLayerTraceReport} on a made-up trace of two work-groups, whose spans are known. */
class DenseLayerTraceReportTest {
    /** ns from one mark to the next (mark 0 is the entry). */
    private static final long[] STEP = {0, 100, 2000, 50, 800, 60, 30, 700, 40, 90, 3000, 50, 20, 1500};

    /** Work-group 0 stamps the marks at STEP's running sums; work-group 1 lags by 5 ns, and by 200 at mark 2. */
    private static byte[] trace() {
        int marks = DenseLayerOpenCl.TRACE_MARKS;
        ByteBuffer b = ByteBuffer.allocate(2 * marks * 2 * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (int g = 0; g < 2; g++) {
            long t = 1_000_000;
            for (int m = 0; m < marks; m++) {
                t += STEP[m];
                long lag = g == 0 ? 0 : m == 2 ? 200 : 5;
                b.putLong((g * marks + m) * 16, t + lag);
                b.putLong((g * marks + m) * 16 + 8, 2 * (t + lag));
            }
        }
        return b.array();
    }

    @Test
    void phasesTakeTheLastWorkGroupAtEachMarkAndTheirBytesOverThatSpan() {
        DenseLayerTraceReport r = new DenseLayerTraceReport(2);
        r.add(trace());
        r.add(trace());
        List<String> lines = r.phases(new long[]{4_390_000, 1_000_000, 6_000_000, 3_000_000}, 4000);
        assertEquals("phase | critical-path ns | weights MB | GB/s | % of copy", lines.get(0));
        // qkv: work-group 1 reaches mark 2 last, 2000 + 195 ns after the last at mark 1: 4.39 MB / 2195 ns = 2000 GB/s
        assertEquals("qkv | 2195 | 4.4 | 2000 | 50.0", lines.get(1));
        assertEquals("o_proj | 700 | 1.0 | 1429 | 35.7", lines.get(2));
        assertEquals("gate|up | 3000 | 6.0 | 2000 | 50.0", lines.get(3));
        assertEquals("down_proj | 1500 | 3.0 | 2000 | 50.0", lines.get(4));
        assertEquals("attention | 800 | - | - | -", lines.get(5));
        assertEquals(6, lines.size());
    }

    @Test
    void theTimelineEndsAtTheLastWorkGroupDone() {
        DenseLayerTraceReport r = new DenseLayerTraceReport(2);
        r.add(trace());
        long total = 0;
        for (long s : STEP) {
            total += s;
        }
        List<String> lines = r.lines();
        assertEquals("first entry to last done: median " + (total + 5) + " ns over 1 launches of 2 work-groups", lines.getLast());
    }

    @Test
    void phaseBytesMustNameEveryPhase() {
        DenseLayerTraceReport r = new DenseLayerTraceReport(2);
        r.add(trace());
        var e = assertThrows(IllegalArgumentException.class, () -> r.phases(new long[]{1, 2, 3}, 4000));
        assertEquals("phase bytes: 3 for 4 phases", e.getMessage());
    }
}
