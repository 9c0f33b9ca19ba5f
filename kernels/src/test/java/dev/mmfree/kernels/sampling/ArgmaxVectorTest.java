package dev.mmfree.kernels.sampling;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** {@link ArgmaxVector} against {@link SamplerReference#argmax}: same index, same errors. */
class ArgmaxVectorTest {

    @Test
    void matchesTheReferenceOnRandomRows() {
        SplittableRandom rnd = new SplittableRandom(17);
        for (int v : new int[]{1, 2, 7, 15, 16, 17, 31, 33, 100, 1000, 32000, 32001}) {
            for (int trial = 0; trial < 20; trial++) {
                int off = rnd.nextInt(5);
                float[] l = new float[off + v + rnd.nextInt(3)];
                for (int i = 0; i < l.length; i++) {
                    // few distinct values, so that the maximum often repeats (ties go to the lowest index)
                    l[i] = trial % 2 == 0 ? (float) rnd.nextGaussian() : rnd.nextInt(4) - 2f;
                }
                assertEquals(SamplerReference.argmax(l, off, v), ArgmaxVector.argmax(l, off, v), "v " + v + " off " + off + " trial " + trial);
            }
        }
    }

    @Test
    void signedZerosAndInfinitiesCountLikeTheReference() {
        float[][] rows = {
                {-0.0f, 0.0f, -1f},
                {-1f, 0.0f, -0.0f},
                {Float.NEGATIVE_INFINITY, Float.NEGATIVE_INFINITY, -3f},
                {Float.NEGATIVE_INFINITY, -0.0f},
                new float[40],
        };
        rows[4][39] = Float.MIN_VALUE;
        for (float[] l : rows) {
            assertEquals(SamplerReference.argmax(l, 0, l.length), ArgmaxVector.argmax(l, 0, l.length), Arrays.toString(l));
        }
    }

    @Test
    void badLogitsFailWithTheReferenceMessage() {
        for (int v : new int[]{5, 16, 40}) {
            for (int at = 0; at < v; at += 3) {
                for (float badValue : new float[]{Float.NaN, Float.POSITIVE_INFINITY}) {
                    float[] l = new float[v];
                    Arrays.fill(l, 1f);
                    l[at] = badValue;
                    if (at + 1 < v) {
                        l[v - 1] = Float.NaN;   // a later bad logit: the first is the one named
                    }
                    SamplingException expected = assertThrows(SamplingException.class, () -> SamplerReference.argmax(l, 0, v));
                    SamplingException actual = assertThrows(SamplingException.class, () -> ArgmaxVector.argmax(l, 0, v));
                    assertEquals(expected.getMessage(), actual.getMessage());
                }
            }
            float[] allNegInf = new float[v];
            Arrays.fill(allNegInf, Float.NEGATIVE_INFINITY);
            SamplingException e = assertThrows(SamplingException.class, () -> ArgmaxVector.argmax(allNegInf, 0, v));
            assertEquals("sampling: all " + v + " logits are -Infinity", e.getMessage());
        }
        assertThrows(SamplingException.class, () -> ArgmaxVector.argmax(new float[4], 2, 3));
        assertThrows(SamplingException.class, () -> ArgmaxVector.argmax(new float[4], 0, 0));
    }
}
