package dev.mmfree.kernels.tornado;

import uk.ac.manchester.tornado.api.math.TornadoMath;

/**
 * Helpers TornadoVM inlines into kernels: the same arithmetic as the plain-Java references, in the
 * same order and precision (sigmoid in double), so int8 codes come out identical. Reductions are not
 * here: TornadoVM 5.2 mis-addresses a local array passed to a helper (it indexes it like a global
 * array with a header), so each kernel writes its tree reduction inline.
 */
public final class DeviceMath {
    private DeviceMath() {
    }

    /** rint (round half to even, as {@link Math#rint}) of v, clamped to the int8 range. */
    public static int rintInt8(float v) {
        float f = TornadoMath.floor(v);
        float frac = v - f;
        int r = (int) f;
        if (frac > 0.5f || (frac == 0.5f && (r & 1) != 0)) {
            r = r + 1;
        }
        return TornadoMath.clamp(r, -128, 127);
    }

    public static float sigmoid(float x) {
        return (float) (1.0 / (1.0 + TornadoMath.exp((double) -x)));
    }

    public static float silu(float x) {
        return x * sigmoid(x);
    }
}
