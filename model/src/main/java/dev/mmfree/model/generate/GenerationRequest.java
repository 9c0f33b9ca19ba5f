package dev.mmfree.model.generate;

import dev.mmfree.kernels.sampling.SamplingParams;

/**
 * One turn of generation on a {@link Session}.
 *
 * @param prompt       token ids fed before sampling; may be empty only on a session that already holds tokens
 * @param maxNewTokens the budget: at most this many tokens are sampled (a stop token counts); 0 only queues the prompt
 * @param stopTokens   ids that end the turn when sampled; null = the generator's defaults (the model's eos)
 * @param sampling     how each token is picked, and the seed of this turn's uniforms
 */
public record GenerationRequest(int[] prompt, int maxNewTokens, int[] stopTokens, SamplingParams sampling) {
    public GenerationRequest {
        if (prompt == null) {
            throw new GenerationException("generate: prompt is null");
        }
        if (maxNewTokens < 0) {
            throw new GenerationException("--max-tokens must be >= 0, got " + maxNewTokens);
        }
        if (sampling == null) {
            throw new GenerationException("generate: sampling parameters are null");
        }
        prompt = prompt.clone();
        stopTokens = stopTokens == null ? null : stopTokens.clone();
    }

    /** Greedy, with the generator's default stop tokens. */
    public static GenerationRequest of(int[] prompt, int maxNewTokens) {
        return new GenerationRequest(prompt, maxNewTokens, null, SamplingParams.greedy());
    }

    public GenerationRequest withSampling(SamplingParams params) {
        return new GenerationRequest(prompt, maxNewTokens, stopTokens, params);
    }

    /** Replaces the default stop tokens; no arguments = never stop before the budget. */
    public GenerationRequest withStopTokens(int... ids) {
        return new GenerationRequest(prompt, maxNewTokens, ids, sampling);
    }

    @Override
    public int[] prompt() {
        return prompt.clone();
    }

    @Override
    public int[] stopTokens() {
        return stopTokens == null ? null : stopTokens.clone();
    }
}
