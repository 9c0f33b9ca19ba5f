package dev.mmfree.model.train;

import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Set;

/**
 * An exact count of what a forward pass keeps for its backward: the bytes of the distinct arrays it
 * references (each counted once, by identity, so an input shared by three projections counts once),
 * split into activations (scale with batch x sequence) and weight copies (the ternarized weights,
 * fixed per model). Parameters and their gradients are not counted.
 */
public final class SavedBytes {
    private final Set<Object> seen = Collections.newSetFromMap(new IdentityHashMap<>());
    private long activations;
    private long weights;

    public SavedBytes activation(double[] a) {
        if (a != null && seen.add(a)) {
            activations += (long) Double.BYTES * a.length;
        }
        return this;
    }

    public SavedBytes activation(int[] a) {
        if (a != null && seen.add(a)) {
            activations += (long) Integer.BYTES * a.length;
        }
        return this;
    }

    public SavedBytes weight(double[] a) {
        if (a != null && seen.add(a)) {
            weights += (long) Double.BYTES * a.length;
        }
        return this;
    }

    public long activations() {
        return activations;
    }

    public long weights() {
        return weights;
    }

    public long total() {
        return activations + weights;
    }
}
