package dev.mmfree.model.generate;

/** Receives each generated token as soon as it is sampled (stop tokens are not passed on). */
@FunctionalInterface
public interface TokenListener {
    TokenListener NONE = token -> true;

    /** @return false to stop generating after this token (the result's reason is then CANCELLED) */
    boolean onToken(int token);
}
