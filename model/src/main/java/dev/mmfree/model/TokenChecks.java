package dev.mmfree.model;

import dev.mmfree.runtime.MmfreeException;

/** Validation of a {@link CausalLm#forward} call's token block, shared by every backend. */
public final class TokenChecks {
    private TokenChecks() {
    }

    /**
     * Checks tokens is [batchSize][t] with t >= 1 the same for every row and every id in [0, vocab).
     *
     * @return t
     */
    public static int check(int[][] tokens, int batchSize, int vocab) {
        if (tokens.length != batchSize) {
            throw new MmfreeException("forward: " + tokens.length + " token rows for a batch of " + batchSize);
        }
        int t = tokens[0].length;
        if (t < 1) {
            throw new MmfreeException("forward: token rows must hold at least one token");
        }
        for (int b = 0; b < tokens.length; b++) {
            if (tokens[b].length != t) {
                throw new MmfreeException("forward: token row " + b + " has " + tokens[b].length + " tokens, row 0 has " + t);
            }
            for (int p = 0; p < t; p++) {
                int id = tokens[b][p];
                if (id < 0 || id >= vocab) {
                    throw new MmfreeException("forward: token id " + id + " at [" + b + ", " + p + "] is outside the vocabulary [0, " + vocab + ")");
                }
            }
        }
        return t;
    }
}
