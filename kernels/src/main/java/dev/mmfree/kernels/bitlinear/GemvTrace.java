package dev.mmfree.kernels.bitlinear;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * Where a one-row GEMV's time goes, by the GPU's own clock: the work-groups of a kernel built with
 * {@code GEMV_TRACE} ({@code opencl/trace.cl}) stamp {@code %globaltimer} at marks, and this class sums up one
 * launch's stamps ({@link #summarize}) and many launches' summaries ({@link #lines}). The GEMV stamps
 * {@link #ENTRY}, {@link #CODES} (its input in local memory), {@link #DOTS} (the first block's dot products of
 * work-item 0) and {@link #END}; the traced read ({@code read_f32x4_traced}) only entry and end. Without the
 * PTX path every clock reads 0 and a summary is all zeros. Medians are upper medians.
 */
public final class GemvTrace {
    /** Longs a work-group: four marks and the SM it ran on. */
    public static final int SLOTS = 5;
    public static final int ENTRY = 0;
    public static final int CODES = 1;
    public static final int DOTS = 2;
    public static final int END = 3;
    private static final int SM = 4;

    /**
     * One launch, in microseconds from its first work-group's entry.
     *
     * @param span       to the last work-group's end
     * @param lastStart  the last work-group's entry
     * @param firstEnd   the first work-group's end
     * @param late       work-groups that entered after the first one ended (a second wave)
     * @param wgMedian   a work-group's time, entry to end (median)
     * @param wgMax      the longest work-group's time
     * @param codes      entry to codes in local memory (median; NaN for a kernel without that mark)
     * @param dots       codes to the first block's dot products (median)
     * @param rest       dot products to end (median)
     * @param sms        SMs that ran a work-group
     * @param maxPerSm   the most work-groups one SM held at once
     */
    public record Summary(double span, double lastStart, double firstEnd, int late, double wgMedian, double wgMax,
                          double codes, double dots, double rest, int sms, int maxPerSm) {
    }

    private final List<Summary> summaries = new ArrayList<>();
    private final List<Double> eventUs = new ArrayList<>();

    private GemvTrace() {
    }

    /** An empty collection of launches. */
    public static GemvTrace collect() {
        return new GemvTrace();
    }

    /** Adds one launch: its raw stamps ({@code groups} x {@link #SLOTS}) and its event time. */
    public void add(long[] raw, int groups, double eventMicros) {
        summaries.add(summarize(raw, groups));
        eventUs.add(eventMicros);
    }

    /** One launch's stamps, {@code groups} x {@link #SLOTS} longs as the kernel wrote them. */
    public static Summary summarize(long[] raw, int groups) {
        if (raw.length < (long) groups * SLOTS || groups < 1) {
            throw new IllegalArgumentException("gemv trace: " + raw.length + " longs for " + groups + " work-groups");
        }
        long t0 = Long.MAX_VALUE;
        long lastEntry = Long.MIN_VALUE;
        long lastEnd = Long.MIN_VALUE;
        long firstEnd = Long.MAX_VALUE;
        for (int g = 0; g < groups; g++) {
            t0 = Math.min(t0, raw[g * SLOTS + ENTRY]);
            lastEntry = Math.max(lastEntry, raw[g * SLOTS + ENTRY]);
            lastEnd = Math.max(lastEnd, raw[g * SLOTS + END]);
            firstEnd = Math.min(firstEnd, raw[g * SLOTS + END]);
        }
        double[] wg = new double[groups];
        double[] codes = new double[groups];
        double[] dots = new double[groups];
        double[] rest = new double[groups];
        boolean marked = false;
        int late = 0;
        Map<Long, List<long[]>> bySm = new HashMap<>();
        for (int g = 0; g < groups; g++) {
            int at = g * SLOTS;
            long entry = raw[at + ENTRY];
            long end = raw[at + END];
            wg[g] = (end - entry) / 1e3;
            marked |= raw[at + CODES] != 0;
            codes[g] = (raw[at + CODES] - entry) / 1e3;
            dots[g] = (raw[at + DOTS] - raw[at + CODES]) / 1e3;
            rest[g] = (end - raw[at + DOTS]) / 1e3;
            if (entry > firstEnd) {
                late++;
            }
            bySm.computeIfAbsent(raw[at + SM], k -> new ArrayList<>()).add(new long[]{entry, end});
        }
        int maxPerSm = 0;
        for (List<long[]> spans : bySm.values()) {
            maxPerSm = Math.max(maxPerSm, maxOverlap(spans));
        }
        return new Summary((lastEnd - t0) / 1e3, (lastEntry - t0) / 1e3, (firstEnd - t0) / 1e3, late, median(wg),
                Arrays.stream(wg).max().orElse(0), marked ? median(codes) : Double.NaN, marked ? median(dots) : Double.NaN,
                marked ? median(rest) : Double.NaN, bySm.size(), maxPerSm);
    }

    /** The most intervals [entry, end] that overlap at one moment. */
    static int maxOverlap(List<long[]> spans) {
        long[][] points = new long[2 * spans.size()][];
        int i = 0;
        for (long[] s : spans) {
            points[i++] = new long[]{s[0], 1};
            points[i++] = new long[]{s[1], -1};
        }
        // at equal times an end comes before an entry: a work-group that starts as another ends replaces it
        Arrays.sort(points, (a, b) -> a[0] != b[0] ? Long.compare(a[0], b[0]) : Long.compare(a[1], b[1]));
        int now = 0;
        int most = 0;
        for (long[] p : points) {
            now += (int) p[1];
            most = Math.max(most, now);
        }
        return most;
    }

    /** The upper median (of an even count, the larger middle value). */
    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length == 0 ? Double.NaN : s[s.length / 2];
    }

    /** Launches added so far. */
    public int launches() {
        return summaries.size();
    }

    /** The median of each field over the launches, as one table row after {@link #header()}. */
    public String line(String label) {
        double event = median(eventUs.stream().mapToDouble(Double::doubleValue).toArray());
        return String.format(Locale.ROOT, "%s | %d | %.2f | %.2f | %.2f | %.2f | %d | %.2f | %.2f | %.2f | %.2f | %.2f | %d | %d",
                label, summaries.size(), event, med(Summary::span), med(Summary::lastStart), med(Summary::firstEnd),
                (int) med(s -> s.late), med(Summary::wgMedian), med(Summary::wgMax), med(Summary::codes), med(Summary::dots),
                med(Summary::rest), (int) med(s -> s.sms), (int) med(s -> s.maxPerSm));
    }

    /** The columns of {@link #line}. */
    public static String header() {
        return "kernel | launches | event us | span us | last entry us | first end us | late groups | group us median"
                + " | group us max | codes us | dots us | rest us | SMs | most groups an SM";
    }

    private double med(ToDoubleFunction<Summary> f) {
        return median(summaries.stream().mapToDouble(f).toArray());
    }
}
