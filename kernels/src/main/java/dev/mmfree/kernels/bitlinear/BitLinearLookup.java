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

    /**
     * {@link #fourTiles} for two tokens at once, whose tables are tab and tab + tokenStride: s[0 .. 4L) for the
     * first, s[4L .. 8L) for the second. Each word's indices (shifts, and the wrap inside {@code selectFrom}) serve
     * both tokens, and its codes are loaded once: a GEMM step ran 1.41-1.44x faster than two {@link #fourTiles}
     * calls with its data in cache; three or four tokens a loop ran out of vector registers and were slower
     * ({@code bench/results/cpu-amd-epyc-2c/2026-11-30/two-tokens/}).
     */
    static void fourTilesTwoTokens(short[] codes, int a, int n, int words, short[] tables, int tab, int tokenStride, int[] s) {
        IntVector a0 = IntVector.zero(I);
        IntVector a1 = a0;
        IntVector b0 = a0;
        IntVector b1 = a0;
        IntVector c0 = a0;
        IntVector c1 = a0;
        IntVector d0 = a0;
        IntVector d1 = a0;
        IntVector e0 = a0;
        IntVector e1 = a0;
        IntVector f0 = a0;
        IntVector f1 = a0;
        IntVector g0 = a0;
        IntVector g1 = a0;
        IntVector h0 = a0;
        IntVector h1 = a0;
        for (int w0 = 0; w0 < words; w0 += FLUSH_WORDS) {
            int w1 = Math.min(words, w0 + FLUSH_WORDS);
            ShortVector accA = ShortVector.zero(S);   // tiles a..d of the first token
            ShortVector accB = accA;
            ShortVector accC = accA;
            ShortVector accD = accA;
            ShortVector accE = accA;                  // tiles a..d of the second
            ShortVector accF = accA;
            ShortVector accG = accA;
            ShortVector accH = accA;
            for (int w = w0; w < w1; w++) {
                int at = a + w * L;
                ShortVector ca = ShortVector.fromArray(S, codes, at);
                ShortVector cb = ShortVector.fromArray(S, codes, at + n);
                ShortVector cc = ShortVector.fromArray(S, codes, at + 2 * n);
                ShortVector cd = ShortVector.fromArray(S, codes, at + 3 * n);
                int t = tab + w * PER_WORD * L;
                for (int m = 0; m < PER_WORD; m++) {
                    ShortVector ia = index(ca, m);
                    ShortVector ib = index(cb, m);
                    ShortVector ic = index(cc, m);
                    ShortVector id = index(cd, m);
                    ShortVector x = ShortVector.fromArray(S, tables, t + m * L);
                    ShortVector y = ShortVector.fromArray(S, tables, t + tokenStride + m * L);
                    accA = accA.add(ia.selectFrom(x));
                    accE = accE.add(ia.selectFrom(y));
                    accB = accB.add(ib.selectFrom(x));
                    accF = accF.add(ib.selectFrom(y));
                    accC = accC.add(ic.selectFrom(x));
                    accG = accG.add(ic.selectFrom(y));
                    accD = accD.add(id.selectFrom(x));
                    accH = accH.add(id.selectFrom(y));
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
            e0 = e0.add(accE.convertShape(VectorOperators.S2I, I, 0));
            e1 = e1.add(accE.convertShape(VectorOperators.S2I, I, 1));
            f0 = f0.add(accF.convertShape(VectorOperators.S2I, I, 0));
            f1 = f1.add(accF.convertShape(VectorOperators.S2I, I, 1));
            g0 = g0.add(accG.convertShape(VectorOperators.S2I, I, 0));
            g1 = g1.add(accG.convertShape(VectorOperators.S2I, I, 1));
            h0 = h0.add(accH.convertShape(VectorOperators.S2I, I, 0));
            h1 = h1.add(accH.convertShape(VectorOperators.S2I, I, 1));
        }
        a0.intoArray(s, 0);
        a1.intoArray(s, L / 2);
        b0.intoArray(s, L);
        b1.intoArray(s, L + L / 2);
        c0.intoArray(s, 2 * L);
        c1.intoArray(s, 2 * L + L / 2);
        d0.intoArray(s, 3 * L);
        d1.intoArray(s, 3 * L + L / 2);
        e0.intoArray(s, 4 * L);
        e1.intoArray(s, 4 * L + L / 2);
        f0.intoArray(s, 5 * L);
        f1.intoArray(s, 5 * L + L / 2);
        g0.intoArray(s, 6 * L);
        g1.intoArray(s, 6 * L + L / 2);
        h0.intoArray(s, 7 * L);
        h1.intoArray(s, 7 * L + L / 2);
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
