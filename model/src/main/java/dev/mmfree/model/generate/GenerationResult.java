package dev.mmfree.model.generate;

/**
 * What one {@link Session#generate} call produced.
 *
 * @param tokens          the sampled tokens, in order, without the stop token
 * @param reason          why it ended
 * @param stopToken       the stop token that ended it, or -1
 * @param promptTokens    tokens fed by the prefill: the prompt, plus the previous turn's last sampled token
 * @param generatedTokens tokens sampled, the stop token included
 * @param prefillNanos    the prefill forward and the first sample
 * @param decodeNanos     every later decode step's forward and sample (listener time excluded)
 */
public record GenerationResult(int[] tokens, StopReason reason, int stopToken, int promptTokens, int generatedTokens,
                               long prefillNanos, long decodeNanos) {
    public GenerationResult {
        tokens = tokens.clone();
    }

    @Override
    public int[] tokens() {
        return tokens.clone();
    }

    /** Decode steps per second (each step samples one token after the first), 0 when there were none. */
    public double decodeTokensPerSecond() {
        int steps = generatedTokens - 1;
        return steps > 0 && decodeNanos > 0 ? steps * 1e9 / decodeNanos : 0;
    }

    /** Prompt tokens per second of the prefill, 0 when it did not run. */
    public double prefillTokensPerSecond() {
        return promptTokens > 0 && prefillNanos > 0 ? promptTokens * 1e9 / prefillNanos : 0;
    }
}
