package dev.mmfree.kernels.bitlinear;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link GemvTrace}'s summary of hand-made stamps. */
class GemvTraceTest {
    /** Work-group stamps: entry, codes, dots, end (ns) and the SM. */
    private static long[] stamps(long[]... groups) {
        long[] raw = new long[groups.length * GemvTrace.SLOTS];
        for (int g = 0; g < groups.length; g++) {
            System.arraycopy(groups[g], 0, raw, g * GemvTrace.SLOTS, GemvTrace.SLOTS);
        }
        return raw;
    }

    @Test
    void summarizesEntriesEndsPhasesAndResidency() {
        // SM 7 holds groups 0 and 1 at once, then group 2 after group 0 ends; SM 9 holds group 3
        long[] raw = stamps(
                new long[]{1_000, 1_400, 2_000, 3_000, 7},
                new long[]{1_100, 1_500, 2_300, 3_500, 7},
                new long[]{3_000, 3_200, 3_900, 5_000, 7},
                new long[]{1_050, 1_450, 2_050, 3_050, 9});
        GemvTrace.Summary s = GemvTrace.summarize(raw, 4);
        assertEquals(4.0, s.span(), 1e-12, "first entry to last end");
        assertEquals(2.0, s.lastStart(), 1e-12);
        assertEquals(2.0, s.firstEnd(), 1e-12);
        assertEquals(0, s.late(), "group 2 enters as group 0 ends, not after");
        assertEquals(2.0, s.wgMedian(), 1e-12, "durations 2.0, 2.4, 2.0, 2.0");
        assertEquals(2.4, s.wgMax(), 1e-12);
        assertEquals(0.4, s.codes(), 1e-12);
        assertEquals(0.7, s.dots(), 1e-12, "0.6, 0.8, 0.7, 0.6: the upper median");
        assertEquals(1.1, s.rest(), 1e-12, "1.0, 1.2, 1.1, 1.0");
        assertEquals(2, s.sms());
        assertEquals(2, s.maxPerSm());

        long[] later = raw.clone();
        later[2 * GemvTrace.SLOTS] = 3_001;
        assertEquals(1, GemvTrace.summarize(later, 4).late(), "entered after the first end");
    }

    @Test
    void readWithoutInnerMarksHasNoPhases() {
        long[] raw = stamps(new long[]{10, 0, 0, 510, 1}, new long[]{20, 0, 0, 700, 2});
        GemvTrace.Summary s = GemvTrace.summarize(raw, 2);
        assertTrue(Double.isNaN(s.codes()) && Double.isNaN(s.dots()) && Double.isNaN(s.rest()));
        assertEquals(0.69, s.span(), 1e-12);
        assertEquals(1, s.maxPerSm());
    }

    @Test
    void overlapCountsEndsBeforeEntriesAtOneTime() {
        assertEquals(1, GemvTrace.maxOverlap(List.of(new long[]{0, 5}, new long[]{5, 9})));
        assertEquals(3, GemvTrace.maxOverlap(List.of(new long[]{0, 5}, new long[]{1, 9}, new long[]{4, 6}, new long[]{6, 7})));
    }

    @Test
    void rejectsTooFewStamps() {
        assertThrows(IllegalArgumentException.class, () -> GemvTrace.summarize(new long[9], 2));
        assertThrows(IllegalArgumentException.class, () -> GemvTrace.summarize(new long[0], 0));
    }

    @Test
    void linesTakeMediansOverLaunches() {
        GemvTrace t = GemvTrace.collect();
        t.add(stamps(new long[]{0, 100, 200, 1_000, 0}), 1, 7.0);
        t.add(stamps(new long[]{0, 100, 200, 3_000, 0}), 1, 9.0);
        t.add(stamps(new long[]{0, 100, 200, 2_000, 0}), 1, 8.0);
        assertEquals(3, t.launches());
        String line = t.line("x");
        assertTrue(line.startsWith("x | 3 | 8.00 | 2.00 | "), line);
        assertEquals(GemvTrace.header().split("\\|").length, line.split("\\|").length, "a column each");
    }
}
