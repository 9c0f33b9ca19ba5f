package dev.mmfree.kernels.sampling;

import java.math.BigDecimal;

/**
 * How the next token is picked from a row of logits; see {@link SamplerReference} for the exact rule.
 *
 * @param temperature logits are divided by it before the softmax; 0 = greedy (argmax, the other fields unused)
 * @param topK        keep only the k most likely tokens; 0 = off
 * @param topP        nucleus: keep the fewest most likely tokens whose probability reaches p; 1 = off
 * @param seed        seed of the {@code SplittableRandom} that draws one uniform per generated token
 */
public record SamplingParams(double temperature, int topK, double topP, long seed) {
    public static final long DEFAULT_SEED = 42;

    public SamplingParams {
        if (!(temperature >= 0) || Double.isInfinite(temperature)) {
            throw new SamplingException("--temperature must be >= 0 and finite, got " + format(temperature));
        }
        if (topK < 0) {
            throw new SamplingException("--top-k must be >= 0 (0 = off), got " + topK);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new SamplingException("--top-p must be in (0, 1] (1 = off), got " + format(topP));
        }
    }

    /** Argmax decoding (lowest index on ties). */
    public static SamplingParams greedy() {
        return new SamplingParams(0, 0, 1, DEFAULT_SEED);
    }

    public boolean isGreedy() {
        return temperature == 0;
    }

    /** -1.0 as "-1", 0.25 as "0.25", NaN as "NaN": the number as a user typed it. */
    static String format(double x) {
        if (Double.isNaN(x) || Double.isInfinite(x)) {
            return Double.toString(x);
        }
        return BigDecimal.valueOf(x).stripTrailingZeros().toPlainString();
    }
}
