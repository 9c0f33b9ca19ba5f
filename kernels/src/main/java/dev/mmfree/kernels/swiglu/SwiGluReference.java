package dev.mmfree.kernels.swiglu;

/**
 * The gated MLP activation, plain Java: the semantic reference.
 *
 * <pre>
 *   out[j] = silu(gate[j]) * up[j],   silu(x) = x * sigmoid(x) = x / (1 + e^-x)      float32, [n]
 * </pre>
 * HGRNBit's gate_proj gives one row [2I] = [gate | up]; Llama has separate gate and up rows.
 */
public final class SwiGluReference {
    private SwiGluReference() {
    }

    public static float sigmoid(float x) {
        return (float) (1.0 / (1.0 + Math.exp(-x)));
    }

    public static float silu(float x) {
        return x * sigmoid(x);
    }

    /** out[outOff + j] = silu(gate[gOff + j]) * up[uOff + j] for j < n; out may alias gate or up. */
    public static void apply(float[] gate, int gOff, float[] up, int uOff, float[] out, int outOff, int n) {
        for (int j = 0; j < n; j++) {
            out[outOff + j] = silu(gate[gOff + j]) * up[uOff + j];
        }
    }
}
