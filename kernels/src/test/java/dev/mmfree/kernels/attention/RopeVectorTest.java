package dev.mmfree.kernels.attention;

import dev.mmfree.kernels.Checks;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

/** RopeVector against RopeReference: bit-identical (same float operations). */
class RopeVectorTest {
    @ParameterizedTest(name = "hd={0} heads={1} pos={2}")
    @CsvSource({"6, 1, 0", "24, 4, 7", "80, 3, 1000", "128, 2, 65000", "34, 5, 3"})
    void matchesReference(int hd, int heads, int pos) {
        Random rnd = new Random(hd * 31L + heads + pos);
        float[] invFreq = RopeReference.invFreq(10000.0, hd);
        float[] cos = new float[hd / 2 + 2];
        float[] sin = new float[hd / 2 + 2];
        RopeReference.angles(invFreq, pos, cos, sin, 2);
        int off = 3;
        float[] a = Checks.gaussian(rnd, off + heads * hd + 5, 1f);
        float[] expected = a.clone();
        RopeReference.rotate(expected, off, heads, hd, cos, sin, 2);
        RopeVector.rotate(a, off, heads, hd, cos, sin, 2);
        Checks.assertSameFloats("rope", expected, 0, a, 0, a.length);
    }
}
