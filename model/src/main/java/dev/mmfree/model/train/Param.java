package dev.mmfree.model.train;

import java.util.Arrays;

/** A trainable tensor named as in the checkpoint: latent full-precision values and their gradient, row-major. */
public record Param(String name, int[] shape, double[] value, double[] grad) {
    public Param {
        long n = 1;
        for (int s : shape) {
            n *= s;
        }
        if (value.length != n || grad.length != n) {
            throw new TrainException("param '" + name + "': " + value.length + " values / " + grad.length
                    + " grads for shape " + Arrays.toString(shape));
        }
    }

    public Param(String name, double[] value, int... shape) {
        this(name, shape, value, new double[value.length]);
    }

    public int size() {
        return value.length;
    }

    public void zeroGrad() {
        Arrays.fill(grad, 0);
    }
}
