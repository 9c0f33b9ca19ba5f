package dev.mmfree.kernels.ternary;

import java.util.Objects;

/**
 * A BitLinear weight after ternarization: {@code W ~ scale * T}, T in {-1, 0, +1}, shape [out, in].
 *
 * <p>Packed layout (the reference layout; a device backend may repack at upload):
 * <pre>
 *   codes: int[out * wordsPerRow], row-major; wordsPerRow = ceil(in / 16)
 *   word k of row r holds T[r, 16k .. 16k+15]; T[r, 16k + j] sits in bits 2j+1..2j
 *   2-bit code: 0b00 = 0, 0b01 = +1, 0b11 = -1 (the two's complement of the value); 0b10 never occurs
 *   columns past `in` in the last word of a row are 0b00
 * </pre>
 * 16 weights in 4 bytes: 2 bits a weight, 8x smaller than fp16.
 *
 * <p>Ternarization (per tensor, {@code ../shared/spec/hgrnbit.md}): {@code s = max(mean|W|, 1e-5)},
 * {@code T = clamp(rint(W * (1/s)), -1, 1)}. It is done once, from the checkpoint's full-precision
 * weights; never ternarize {@code s*T} again (the quantizer is not idempotent).
 */
public final class TernaryMatrix {
    public static final int WEIGHTS_PER_WORD = 16;

    private final int out;
    private final int in;
    private final int wordsPerRow;
    private final int[] codes;
    private final float scale;

    public TernaryMatrix(int out, int in, int[] codes, float scale) {
        if (out <= 0 || in <= 0) {
            throw new IllegalArgumentException("ternary matrix shape must be positive, got [" + out + ", " + in + "]");
        }
        this.out = out;
        this.in = in;
        this.wordsPerRow = wordsPerRow(in);
        this.codes = Objects.requireNonNull(codes, "codes");
        if ((long) out * wordsPerRow != codes.length) {
            throw new IllegalArgumentException("ternary codes: " + codes.length + " words != " + out + " rows x " + wordsPerRow);
        }
        if (!(scale > 0) || !Float.isFinite(scale)) {
            throw new IllegalArgumentException("ternary scale must be finite and > 0, got " + scale);
        }
        this.scale = scale;
    }

    public static int wordsPerRow(int in) {
        return (in + WEIGHTS_PER_WORD - 1) / WEIGHTS_PER_WORD;
    }

    /** Ternarizes a full-precision weight [out, in] (row-major) as the spec says, and packs it. */
    public static TernaryMatrix ternarize(float[] w, int out, int in) {
        if ((long) out * in != w.length) {
            throw new IllegalArgumentException("weight has " + w.length + " values, shape [" + out + ", " + in + "] needs " + (long) out * in);
        }
        double sumAbs = 0;
        for (float v : w) {
            sumAbs += Math.abs(v);
        }
        float s = Math.max((float) (sumAbs / w.length), 1e-5f);
        float inv = 1.0f / s;
        int wpr = wordsPerRow(in);
        int[] codes = new int[out * wpr];
        for (int r = 0; r < out; r++) {
            for (int c = 0; c < in; c++) {
                float t = (float) Math.rint(w[r * in + c] * inv);
                int v = t > 0 ? 1 : (t < 0 ? -1 : 0);
                codes[r * wpr + c / WEIGHTS_PER_WORD] |= encode(v) << (2 * (c % WEIGHTS_PER_WORD));
            }
        }
        return new TernaryMatrix(out, in, codes, s);
    }

    /** Packs codes given as values in {-1, 0, 1} (row-major [out, in]) with a given scale. */
    public static TernaryMatrix pack(byte[] t, int out, int in, float scale) {
        int wpr = wordsPerRow(in);
        int[] codes = new int[out * wpr];
        for (int r = 0; r < out; r++) {
            for (int c = 0; c < in; c++) {
                int v = t[r * in + c];
                if (v < -1 || v > 1) {
                    throw new IllegalArgumentException("ternary value " + v + " at [" + r + ", " + c + "]");
                }
                codes[r * wpr + c / WEIGHTS_PER_WORD] |= encode(v) << (2 * (c % WEIGHTS_PER_WORD));
            }
        }
        return new TernaryMatrix(out, in, codes, scale);
    }

    static int encode(int v) {
        return v & 0b11;
    }

    /** The 2-bit code's value: sign-extends bits 1..0. */
    public static int decode(int code2) {
        return (code2 << 30) >> 30;
    }

    /** T[r, c] in {-1, 0, +1}. */
    public int get(int r, int c) {
        int word = codes[r * wordsPerRow + c / WEIGHTS_PER_WORD];
        return decode(word >>> (2 * (c % WEIGHTS_PER_WORD)));
    }

    /** Unpacks T into a row-major byte array [out, in]. */
    public byte[] unpack() {
        byte[] t = new byte[out * in];
        for (int r = 0; r < out; r++) {
            for (int c = 0; c < in; c++) {
                t[r * in + c] = (byte) get(r, c);
            }
        }
        return t;
    }

    public int out() {
        return out;
    }

    public int in() {
        return in;
    }

    public int wordsPerRow() {
        return wordsPerRow;
    }

    /** The packed codes, shared (not copied): callers must not modify them. */
    public int[] codes() {
        return codes;
    }

    /** The per-tensor weight scale s: the layer's weight is s * T. */
    public float scale() {
        return scale;
    }

    /** Bytes the packed codes occupy. */
    public long packedBytes() {
        return 4L * codes.length;
    }

    @Override
    public String toString() {
        return "TernaryMatrix[" + out + ", " + in + "] scale=" + scale;
    }
}
