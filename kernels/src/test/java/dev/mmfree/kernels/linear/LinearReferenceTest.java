package dev.mmfree.kernels.linear;

import dev.mmfree.kernels.swiglu.SwiGluReference;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class LinearReferenceTest {
    @Test
    void handCaseAtOffsetsWithAndWithoutAccumulate() {
        float[] w = {1, 2, 3, -1, 0, 0.5f};   // [2, 3]
        float[] x = {9, 1, 2, 4};             // the input starts at offset 1: [1, 2, 4]
        float[] y = {7, 10, 20};
        LinearReference.forward(w, 2, 3, x, 1, y, 1, false);
        assertArrayEquals(new float[]{7, 17, 1}, y);
        LinearReference.forward(w, 2, 3, x, 1, y, 1, true);
        assertArrayEquals(new float[]{7, 34, 2}, y);
        assertThrows(IllegalArgumentException.class, () -> LinearReference.forward(w, 3, 3, x, 0, y, 0, false));
    }

    @Test
    void swiGluHandCase() {
        float[] gate = {0f, 2f, -3f};
        float[] up = {5f, 0.5f, 2f};
        float[] out = new float[3];
        SwiGluReference.apply(gate, 0, up, 0, out, 0, 3);
        assertEquals(0f, out[0]);
        assertEquals(2 / (1 + Math.exp(-2)) * 0.5, out[1], 1e-6);
        assertEquals(-3 / (1 + Math.exp(3)) * 2, out[2], 1e-6);
    }
}
