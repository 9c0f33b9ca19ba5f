package dev.mmfree.kernels.mlgru;

import dev.mmfree.kernels.rmsnormquant.RmsNormQuantReference;

import static dev.mmfree.kernels.swiglu.SwiGluReference.sigmoid;
import static dev.mmfree.kernels.swiglu.SwiGluReference.silu;

/**
 * One MLGRU token step of one layer, plain Java: the semantic reference ({@code ../shared/spec/hgrnbit.md}).
 *
 * <pre>
 *   f     = lb + (1 - lb) * sigmoid(fPre)          lb = the layer's lower bound (row 0 is all zero)
 *   state = f * state + silu(i) * (1 - f)          element-wise, per channel
 *   o     = RMSNorm_gNorm(g) * silu(state)         the output gate
 * </pre>
 * i, fPre, g, o: one row [d] float32 at rowOff (the BitLinear outputs of i_proj, f_proj, g_proj);
 * lb, gNorm, state: [d]. The state is the only thing a sequence carries from token to token.
 */
public final class MlgruReference {
    private MlgruReference() {
    }

    /** Advances state by one token and writes the gated output o; eps is the g_norm's. */
    public static void step(float[] i, float[] fPre, float[] g, int rowOff, float[] lb, float[] gNorm, double eps,
                            float[] state, float[] o, int d) {
        for (int j = 0; j < d; j++) {
            float f = lb[j] + (1 - lb[j]) * sigmoid(fPre[rowOff + j]);
            state[j] = f * state[j] + silu(i[rowOff + j]) * (1 - f);
        }
        RmsNormQuantReference.rmsNorm(g, rowOff, gNorm, o, rowOff, d, eps);
        for (int j = 0; j < d; j++) {
            o[rowOff + j] *= silu(state[j]);
        }
    }
}
