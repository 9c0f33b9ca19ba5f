package dev.mmfree.kernels.bitlinear;

import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;

import static dev.mmfree.kernels.bitlinear.BitLinearVector.FLUSH_WORDS;
import static dev.mmfree.kernels.bitlinear.BitLinearVector.I;
import static dev.mmfree.kernels.bitlinear.BitLinearVector.IDX;
import static dev.mmfree.kernels.bitlinear.BitLinearVector.L;
import static dev.mmfree.kernels.bitlinear.BitLinearVector.PER_WORD;
import static dev.mmfree.kernels.bitlinear.BitLinearVector.S;

/**
 * The inner loops of {@link BitLinearVector}: row tiles (L rows) against one token's tables, in the
 * layout that class describes. Kept apart and small so that C2 compiles each into one loop of
 * vector registers (large Vector API methods can exceed its inlining budget, and then it boxes
 * vectors, which costs an order of magnitude).
 */
final class BitLinearLookup {
    private BitLinearLookup() {
    }

    /**
     * Index m of each lane's word, as {@code selectFrom} reads it: bits IDX*m .. IDX*m + IDX-1. The
     * bits above need no mask, because selectFrom wraps indices modulo L = 2^IDX (the hardware's
     * permute reads only the low IDX bits).
     */
    static ShortVector index(ShortVector c, int m) {
        return m == 0 ? c : c.lanewise(VectorOperators.LSHR, IDX * m);
    }

    /** s[0 .. L) = the dot products of tile a's rows, s[L .. 2L) of tile b's, with tables from tab. */
    static void twoTiles(short[] codes, int a, int b, int words, short[] tables, int tab, int[] s) {
        IntVector a0 = IntVector.zero(I);
        IntVector a1 = IntVector.zero(I);
        IntVector b0 = IntVector.zero(I);
        IntVector b1 = IntVector.zero(I);
        for (int w0 = 0; w0 < words; w0 += FLUSH_WORDS) {
            int w1 = Math.min(words, w0 + FLUSH_WORDS);
            ShortVector accA = ShortVector.zero(S);
            ShortVector accB = ShortVector.zero(S);
            for (int w = w0; w < w1; w++) {
                ShortVector ca = ShortVector.fromArray(S, codes, a + w * L);
                ShortVector cb = ShortVector.fromArray(S, codes, b + w * L);
                int t = tab + w * PER_WORD * L;
                for (int m = 0; m < PER_WORD; m++) {
                    ShortVector table = ShortVector.fromArray(S, tables, t + m * L);
                    accA = accA.add(index(ca, m).selectFrom(table));
                    accB = accB.add(index(cb, m).selectFrom(table));
                }
            }
            a0 = a0.add(accA.convertShape(VectorOperators.S2I, I, 0));
            a1 = a1.add(accA.convertShape(VectorOperators.S2I, I, 1));
            b0 = b0.add(accB.convertShape(VectorOperators.S2I, I, 0));
            b1 = b1.add(accB.convertShape(VectorOperators.S2I, I, 1));
        }
        a0.intoArray(s, 0);
        a1.intoArray(s, L / 2);
        b0.intoArray(s, L);
        b1.intoArray(s, L + L / 2);
    }

    /** s[0 .. 4L) = the dot products of the four tiles at a, a + n, a + 2n, a + 3n. */
    static void fourTiles(short[] codes, int a, int n, int words, short[] tables, int tab, int[] s) {
        IntVector a0 = IntVector.zero(I);
        IntVector a1 = IntVector.zero(I);
        IntVector b0 = IntVector.zero(I);
        IntVector b1 = IntVector.zero(I);
        IntVector c0 = IntVector.zero(I);
        IntVector c1 = IntVector.zero(I);
        IntVector d0 = IntVector.zero(I);
        IntVector d1 = IntVector.zero(I);
        for (int w0 = 0; w0 < words; w0 += FLUSH_WORDS) {
            int w1 = Math.min(words, w0 + FLUSH_WORDS);
            ShortVector accA = ShortVector.zero(S);
            ShortVector accB = ShortVector.zero(S);
            ShortVector accC = ShortVector.zero(S);
            ShortVector accD = ShortVector.zero(S);
            for (int w = w0; w < w1; w++) {
                int at = a + w * L;
                ShortVector ca = ShortVector.fromArray(S, codes, at);
                ShortVector cb = ShortVector.fromArray(S, codes, at + n);
                ShortVector cc = ShortVector.fromArray(S, codes, at + 2 * n);
                ShortVector cd = ShortVector.fromArray(S, codes, at + 3 * n);
                int t = tab + w * PER_WORD * L;
                for (int m = 0; m < PER_WORD; m++) {
                    ShortVector table = ShortVector.fromArray(S, tables, t + m * L);
                    accA = accA.add(index(ca, m).selectFrom(table));
                    accB = accB.add(index(cb, m).selectFrom(table));
                    accC = accC.add(index(cc, m).selectFrom(table));
                    accD = accD.add(index(cd, m).selectFrom(table));
                }
            }
            a0 = a0.add(accA.convertShape(VectorOperators.S2I, I, 0));
            a1 = a1.add(accA.convertShape(VectorOperators.S2I, I, 1));
            b0 = b0.add(accB.convertShape(VectorOperators.S2I, I, 0));
            b1 = b1.add(accB.convertShape(VectorOperators.S2I, I, 1));
            c0 = c0.add(accC.convertShape(VectorOperators.S2I, I, 0));
            c1 = c1.add(accC.convertShape(VectorOperators.S2I, I, 1));
            d0 = d0.add(accD.convertShape(VectorOperators.S2I, I, 0));
            d1 = d1.add(accD.convertShape(VectorOperators.S2I, I, 1));
        }
        a0.intoArray(s, 0);
        a1.intoArray(s, L / 2);
        b0.intoArray(s, L);
        b1.intoArray(s, L + L / 2);
        c0.intoArray(s, 2 * L);
        c1.intoArray(s, 2 * L + L / 2);
        d0.intoArray(s, 3 * L);
        d1.intoArray(s, 3 * L + L / 2);
    }

    /** s[sOff .. sOff + L) = the dot products of tile a's rows. */
    static void oneTile(short[] codes, int a, int words, short[] tables, int tab, int[] s, int sOff) {
        IntVector a0 = IntVector.zero(I);
        IntVector a1 = IntVector.zero(I);
        for (int w0 = 0; w0 < words; w0 += FLUSH_WORDS) {
            int w1 = Math.min(words, w0 + FLUSH_WORDS);
            ShortVector acc = ShortVector.zero(S);
            for (int w = w0; w < w1; w++) {
                ShortVector c = ShortVector.fromArray(S, codes, a + w * L);
                int t = tab + w * PER_WORD * L;
                for (int m = 0; m < PER_WORD; m++) {
                    acc = acc.add(index(c, m).selectFrom(ShortVector.fromArray(S, tables, t + m * L)));
                }
            }
            a0 = a0.add(acc.convertShape(VectorOperators.S2I, I, 0));
            a1 = a1.add(acc.convertShape(VectorOperators.S2I, I, 1));
        }
        a0.intoArray(s, sOff);
        a1.intoArray(s, sOff + L / 2);
    }
}
