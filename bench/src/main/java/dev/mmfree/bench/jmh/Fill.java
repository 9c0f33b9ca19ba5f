package dev.mmfree.bench.jmh;

import dev.mmfree.kernels.ternary.TernaryMatrix;

import java.util.SplittableRandom;

/** Seeded random inputs for the benchmarks, and the copy count that keeps weights out of the caches. */
final class Fill {
    /** Weights rotated per benchmark: far more than any last-level cache, so every op reads DRAM as a model's decode does. */
    static final long ROTATION_BYTES = 256L << 20;

    private Fill() {
    }

    /** How many copies of a weight of this many bytes make {@link #ROTATION_BYTES}. */
    static int copies(long bytes) {
        return (int) Math.max(1, (ROTATION_BYTES + bytes - 1) / bytes);
    }

    /** "7680x2560" as {out, in}. */
    static int[] shape(String s) {
        String[] p = s.split("x");
        return new int[]{Integer.parseInt(p[0]), Integer.parseInt(p[1])};
    }

    static TernaryMatrix ternary(long seed, int out, int in) {
        SplittableRandom r = new SplittableRandom(seed);
        byte[] t = new byte[out * in];
        for (int i = 0; i < t.length; i++) {
            t[i] = (byte) (r.nextInt(3) - 1);
        }
        return TernaryMatrix.pack(t, out, in, 0.02f);
    }

    static byte[] int8(long seed, int n) {
        SplittableRandom r = new SplittableRandom(seed);
        byte[] a = new byte[n];
        for (int i = 0; i < n; i++) {
            a[i] = (byte) (r.nextInt(256) - 128);
        }
        return a;
    }

    static float[] floats(long seed, int n, float scale) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (r.nextDouble() * 2 - 1) * scale;
        }
        return a;
    }
}
