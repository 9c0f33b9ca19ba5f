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
}
