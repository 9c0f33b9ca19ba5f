package dev.mmfree.kernels.bitlinear;

import dev.mmfree.kernels.opencl.ClTesting;
import dev.mmfree.kernels.ternary.TernaryMatrix;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

class TernaryDeviceLayoutTest {
    @ParameterizedTest(name = "P {0}, [{1}, {2}]")
    @CsvSource({"1, 3, 100", "2, 257, 1000", "3, 64, 64", "1, 1, 17"})
    void packedLayoutHoldsEveryWeightAndZeroPadding(int projections, int out, int in) {
        Random r = new Random(31L * out + in);
        TernaryMatrix[] stack = new TernaryMatrix[projections];
        for (int p = 0; p < projections; p++) {
            stack[p] = ClTesting.randomTernary(r, out, in);
        }
        int[] words = TernaryDeviceLayout.pack(stack);
        int outPad = TernaryDeviceLayout.outPad(out);
        int cols = 64 * TernaryDeviceLayout.chunks(in);
        assertEquals(TernaryDeviceLayout.chunks(in) * projections * outPad * 4, words.length);
        for (int p = 0; p < projections; p++) {
            for (int row = 0; row < outPad; row++) {
                for (int c = 0; c < cols; c++) {
                    int expected = row < out && c < in ? stack[p].get(row, c) : 0;
                    int got = TernaryDeviceLayout.get(words, projections, out, in, p, row, c);
                    assertEquals(expected, got, "T[" + p + "][" + row + ", " + c + "]");
                }
            }
        }
    }

    /** The blocked layouts hold chunk-major's uint4s, block after block of B rows, each block's chunks in turn. */
    @ParameterizedTest(name = "B {0}, P {1}, [{2}, {3}]")
    @CsvSource({"16, 1, 3, 100", "32, 2, 257, 1000", "64, 3, 64, 64", "64, 1, 130, 17"})
    void blockedLayoutOrdersChunkMajorWordsByBlock(int blockRows, int projections, int out, int in) {
        Random r = new Random(17L * out + in + blockRows);
        TernaryMatrix[] stack = new TernaryMatrix[projections];
        for (int p = 0; p < projections; p++) {
            stack[p] = ClTesting.randomTernary(r, out, in);
        }
        int[] plain = TernaryDeviceLayout.pack(stack);
        int[] blocked = TernaryDeviceLayout.pack(blockRows, stack);
        assertEquals(plain.length, blocked.length);
        int chunks = TernaryDeviceLayout.chunks(in);
        int rowsPad = projections * TernaryDeviceLayout.outPad(out);
        int at = 0;
        for (int block = 0; block < rowsPad / blockRows; block++) {
            for (int c = 0; c < chunks; c++) {
                for (int i = 0; i < blockRows; i++) {
                    int row = block * blockRows + i;
                    for (int m = 0; m < 4; m++) {
                        assertEquals(plain[4 * (c * rowsPad + row) + m], blocked[at++], "chunk " + c + " row " + row + " word " + m);
                    }
                }
            }
        }
        for (int p = 0; p < projections; p++) {
            for (int row = 0; row < out; row++) {
                for (int c = 0; c < in; c++) {
                    assertEquals(stack[p].get(row, c), TernaryDeviceLayout.get(blockRows, blocked, projections, out, in, p, row, c));
                }
            }
        }
    }

    @org.junit.jupiter.api.Test
    void blockSizesOtherThan16To64AreRejected() {
        TernaryMatrix m = ClTesting.randomTernary(new Random(1), 3, 10);
        for (int bad : new int[]{-1, 8, 48, 128}) {
            org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> TernaryDeviceLayout.pack(bad, m));
        }
    }

    @org.junit.jupiter.api.Test
    void inputsWiderThanTheKernelsSumsAreRejected() {
        int in = TernaryDeviceLayout.MAX_IN + 1;
        TernaryMatrix wide = new TernaryMatrix(1, in, new int[TernaryMatrix.wordsPerRow(in)], 1f);
        var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> TernaryDeviceLayout.pack(wide));
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("in = " + in), e.getMessage());
        TernaryMatrix widest = new TernaryMatrix(1, TernaryDeviceLayout.MAX_IN,
                new int[TernaryMatrix.wordsPerRow(TernaryDeviceLayout.MAX_IN)], 1f);
        assertEquals(0, TernaryDeviceLayout.get(TernaryDeviceLayout.pack(widest), 1, 1, TernaryDeviceLayout.MAX_IN, 0, 0, 12345));
    }
}
