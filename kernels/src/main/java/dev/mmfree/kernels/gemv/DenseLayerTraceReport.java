package dev.mmfree.kernels.gemv;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Where the time of a traced one-launch Transformer++ layer goes ({@link DenseLayerOpenCl} built with its trace):
 * per step between two marks, the median and 90th percentile over work-groups and launches, in ns of %globaltimer
 * and in cycles of %clock64; and a timeline of each mark, from the first work-group's entry to the first and the
 * last work-group reaching it (medians over launches), which is the layer's critical path. {@link #phases} then
 * puts each GEMV phase's span on that path against the bytes of its weights and a copy's rate.
 */
final class DenseLayerTraceReport {
    static final String[] MARKS = {"entry", "input norm", "qkv + rope + cache", "barrier", "attention", "barrier",
            "stage o_proj input (merge)", "o_proj + residual", "barrier", "post-attention norm", "gate|up + swiglu", "barrier",
            "stage act", "down_proj + residual"};

    private final int groups;
    private final List<long[]> launches = new ArrayList<>();

    DenseLayerTraceReport(int groups) {
        if (MARKS.length != DenseLayerOpenCl.TRACE_MARKS) {
            throw new IllegalStateException("trace marks: " + MARKS.length + " names for " + DenseLayerOpenCl.TRACE_MARKS);
        }
        this.groups = groups;
    }

    /** Adds one launch's trace buffer as read back (little-endian longs). */
    void add(byte[] raw) {
        long[] t = new long[raw.length / 8];
        ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).asLongBuffer().get(t);
        launches.add(t);
    }

    private long at(long[] t, int group, int mark, int clock) {
        return t[(group * DenseLayerOpenCl.TRACE_MARKS + mark) * 2 + clock];
    }

    /** Lines of the report. */
    List<String> lines() {
        List<String> out = new ArrayList<>();
        out.add("mark | step | median ns | p90 ns | median cycles | first group there (ns from first entry) | last group there");
        for (int m = 0; m < MARKS.length; m++) {
            List<Long> ns = new ArrayList<>();
            List<Long> cy = new ArrayList<>();
            List<Long> first = new ArrayList<>();
            List<Long> last = new ArrayList<>();
            for (long[] t : launches) {
                long start = Long.MAX_VALUE;
                long lo = Long.MAX_VALUE;
                long hi = Long.MIN_VALUE;
                for (int g = 0; g < groups; g++) {
                    start = Math.min(start, at(t, g, 0, 0));
                    lo = Math.min(lo, at(t, g, m, 0));
                    hi = Math.max(hi, at(t, g, m, 0));
                    if (m > 0) {
                        ns.add(at(t, g, m, 0) - at(t, g, m - 1, 0));
                        cy.add(at(t, g, m, 1) - at(t, g, m - 1, 1));
                    }
                }
                first.add(lo - start);
                last.add(hi - start);
            }
            out.add(String.format(Locale.ROOT, "%d | %s | %s | %s | %s | %d | %d", m, MARKS[m],
                    m == 0 ? "-" : "" + quantile(ns, 0.5), m == 0 ? "-" : "" + quantile(ns, 0.9), m == 0 ? "-" : "" + quantile(cy, 0.5),
                    quantile(first, 0.5), quantile(last, 0.5)));
        }
        out.add(String.format(Locale.ROOT, "first entry to last done: median %d ns over %d launches of %d work-groups",
                quantile(lastDone(), 0.5), launches.size(), groups));
        return out;
    }

    /** The GEMV phases, in layer order, and (PHASE_MARKS) the marks before and after each. */
    static final String[] PHASES = {"qkv", "o_proj", "gate|up", "down_proj"};
    private static final int[][] PHASE_MARKS = {{1, 2}, {6, 7}, {9, 10}, {12, 13}};

    /**
     * Lines of a summary: for each GEMV phase of {@link #PHASES}, its span on the critical path (the last
     * work-group reaching the mark before it to the last reaching the mark after, median over launches), the bytes
     * of its weights, their rate over that span, and that rate as a share of copyGbps (a copy measured in the same
     * run; NaN: none); then the attention phase's span (the last work-group past the barrier to the last done).
     *
     * @param weightBytes the weights' bytes of each phase, in the order of {@link #PHASES}
     */
    List<String> phases(long[] weightBytes, double copyGbps) {
        if (weightBytes.length != PHASES.length) {
            throw new IllegalArgumentException("phase bytes: " + weightBytes.length + " for " + PHASES.length + " phases");
        }
        List<String> out = new ArrayList<>();
        out.add("phase | critical-path ns | weights MB | GB/s | % of copy");
        for (int p = 0; p < PHASES.length; p++) {
            long ns = span(PHASE_MARKS[p][0], PHASE_MARKS[p][1]);
            double gbps = ns == 0 ? Double.NaN : weightBytes[p] / (double) ns;
            out.add(String.format(Locale.ROOT, "%s | %d | %.1f | %.0f | %.1f", PHASES[p], ns, weightBytes[p] / 1e6, gbps,
                    100 * gbps / copyGbps));
        }
        out.add(String.format(Locale.ROOT, "attention | %d | - | - | -", span(3, 4)));
        return out;
    }

    /** Median over launches of (the last work-group at mark to) - (the last at mark from), ns. */
    private long span(int from, int to) {
        List<Long> v = new ArrayList<>();
        for (long[] t : launches) {
            long a = Long.MIN_VALUE;
            long b = Long.MIN_VALUE;
            for (int g = 0; g < groups; g++) {
                a = Math.max(a, at(t, g, from, 0));
                b = Math.max(b, at(t, g, to, 0));
            }
            v.add(b - a);
        }
        return quantile(v, 0.5);
    }

    private List<Long> lastDone() {
        List<Long> whole = new ArrayList<>();
        for (long[] t : launches) {
            long start = Long.MAX_VALUE;
            long end = Long.MIN_VALUE;
            for (int g = 0; g < groups; g++) {
                start = Math.min(start, at(t, g, 0, 0));
                end = Math.max(end, at(t, g, MARKS.length - 1, 0));
            }
            whole.add(end - start);
        }
        return whole;
    }

    private static long quantile(List<Long> v, double q) {
        List<Long> s = new ArrayList<>(v);
        s.sort(null);
        return s.isEmpty() ? 0 : s.get((int) Math.min(s.size() - 1, Math.floor(q * s.size())));
    }
}
