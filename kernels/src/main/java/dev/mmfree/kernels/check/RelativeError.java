package dev.mmfree.kernels.check;

/** How far a computed vector is from a reference, as the benchmarks and {@code mmfree verify} report it. */
public final class RelativeError {
    private RelativeError() {
    }

    /** ||got - ref|| / ||ref|| over [from, from + n); NaN when got holds a NaN or infinity. */
    public static double l2(float[] got, float[] ref, int from, int n) {
        double diff = 0;
        double norm = 0;
        for (int i = from; i < from + n; i++) {
            if (!Float.isFinite(got[i])) {
                return Double.NaN;
            }
            double d = (double) got[i] - ref[i];
            diff += d * d;
            norm += (double) ref[i] * ref[i];
        }
        return Math.sqrt(diff / norm);
    }

    /** {@link #l2(float[], float[], int, int)} over the whole reference. */
    public static double l2(float[] got, float[] ref) {
        return l2(got, ref, 0, ref.length);
    }
}
