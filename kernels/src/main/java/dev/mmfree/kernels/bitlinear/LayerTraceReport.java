package dev.mmfree.kernels.bitlinear;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Where the time of a traced persistent layer launch goes ({@link BitLinearDecodeOpenCl#layerTrace}): per
 * phase, the median over work-groups and launches of each step between two marks, in nanoseconds of
 * %globaltimer and in cycles of %clock64, and across work-groups how far apart they enter a phase,
 * finish it, and leave the grid barrier after it.
 */
final class LayerTraceReport {
    static final String[] PHASES = {"ifg+mlgru", "o_proj", "gate_up+swiglu", "down"};
    static final String[] STEPS = {"", "x loads + norm1 sum", "norm2 sum", "maxima", "quantize to local", "code sums",
            "dot products (item 0)", "sums to local", "reduce + epilogue (+ more blocks)", "grid barrier"};

    private final int groups;
    private final List<long[]> launches = new ArrayList<>();

    LayerTraceReport(int groups) {
        this.groups = groups;
    }

    /** Adds one launch's trace buffer as read back (little-endian longs). */
    void add(byte[] raw) {
        long[] t = new long[raw.length / 8];
        ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).asLongBuffer().get(t);
        launches.add(t);
    }

    private long at(long[] t, int phase, int group, int mark, int clock) {
        return t[(((phase * groups) + group) * BitLinearDecodeOpenCl.TRACE_MARKS + mark) * 2 + clock];
    }

    /** Lines of the report. */
    List<String> lines() {
        List<String> out = new ArrayList<>();
        out.add("phase | step | median ns | p90 ns | median cycles");
        for (int p = 0; p < PHASES.length; p++) {
            int last = p < PHASES.length - 1 ? 9 : 8;
            for (int m = 1; m <= last; m++) {
                List<Long> ns = new ArrayList<>();
                List<Long> cy = new ArrayList<>();
                for (long[] t : launches) {
                    for (int g = 0; g < groups; g++) {
                        if (at(t, p, g, m, 0) == 0) {
                            continue;   // a mark this phase has not (down_proj: no norm1)
                        }
                        int prev = m - 1;
                        while (prev > 0 && at(t, p, g, prev, 0) == 0) {
                            prev--;
                        }
                        ns.add(at(t, p, g, m, 0) - at(t, p, g, prev, 0));
                        cy.add(at(t, p, g, m, 1) - at(t, p, g, prev, 1));
                    }
                }
                if (!ns.isEmpty()) {
                    out.add(String.format(Locale.ROOT, "%s | %d %s | %d | %d | %d", PHASES[p], m, STEPS[m],
                            quantile(ns, 0.5), quantile(ns, 0.9), quantile(cy, 0.5)));
                }
            }
        }
        out.add("");
        out.add("phase | entry spread ns | entry to last done ns | last done to first out of barrier ns | to last out ns");
        for (int p = 0; p < PHASES.length; p++) {
            List<Long> spread = new ArrayList<>();
            List<Long> span = new ArrayList<>();
            List<Long> firstOut = new ArrayList<>();
            List<Long> lastOut = new ArrayList<>();
            for (long[] t : launches) {
                long minIn = Long.MAX_VALUE, maxIn = 0, maxDone = 0, minOut = Long.MAX_VALUE, maxOut = 0;
                for (int g = 0; g < groups; g++) {
                    minIn = Math.min(minIn, at(t, p, g, 0, 0));
                    maxIn = Math.max(maxIn, at(t, p, g, 0, 0));
                    maxDone = Math.max(maxDone, at(t, p, g, 8, 0));
                    minOut = Math.min(minOut, at(t, p, g, 9, 0));
                    maxOut = Math.max(maxOut, at(t, p, g, 9, 0));
                }
                spread.add(maxIn - minIn);
                span.add(maxDone - minIn);
                if (p < PHASES.length - 1) {
                    firstOut.add(minOut - maxDone);
                    lastOut.add(maxOut - maxDone);
                }
            }
            out.add(String.format(Locale.ROOT, "%s | %d | %d | %s | %s", PHASES[p], quantile(spread, 0.5), quantile(span, 0.5),
                    firstOut.isEmpty() ? "-" : "" + quantile(firstOut, 0.5), lastOut.isEmpty() ? "-" : "" + quantile(lastOut, 0.5)));
        }
        List<Long> whole = new ArrayList<>();
        for (long[] t : launches) {
            long minIn = Long.MAX_VALUE, maxDone = 0;
            for (int g = 0; g < groups; g++) {
                minIn = Math.min(minIn, at(t, 0, g, 0, 0));
                maxDone = Math.max(maxDone, at(t, PHASES.length - 1, g, 8, 0));
            }
            whole.add(maxDone - minIn);
        }
        out.add(String.format(Locale.ROOT, "first entry to last done, whole layer: median %d ns over %d launches",
                quantile(whole, 0.5), launches.size()));
        return out;
    }

    private static long quantile(List<Long> v, double q) {
        List<Long> s = new ArrayList<>(v);
        s.sort(null);
        return s.get((int) Math.min(s.size() - 1, Math.floor(q * s.size())));
    }
}
