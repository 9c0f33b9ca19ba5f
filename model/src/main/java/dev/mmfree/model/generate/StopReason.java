package dev.mmfree.model.generate;

/** Why a generation ended. */
public enum StopReason {
    /** A stop token was sampled (it is not in the result's tokens). */
    STOP_TOKEN,
    /** maxNewTokens tokens were sampled. */
    MAX_TOKENS,
    /** The listener returned false. */
    CANCELLED
}
