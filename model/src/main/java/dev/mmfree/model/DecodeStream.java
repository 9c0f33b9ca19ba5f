package dev.mmfree.model;

import dev.mmfree.kernels.sampling.SamplingParams;
import dev.mmfree.runtime.MmfreeException;

import java.util.random.RandomGenerator;

/**
 * Decode steps of one batch, each feeding every sequence the id its previous step sampled: what
 * {@link CausalLm#decodeStream} returns.
 *
 * <p>A backend on a device keeps the next step queued while the caller handles the current one, so
 * the device never waits for the host between steps. That step is speculative: {@link #close} undoes
 * a step that {@link #next} has not returned, so the batch ends exactly where a loop of
 * {@link CausalLm#forwardSample} calls would have left it: at the last returned ids, not yet fed.
 * While a stream is open, its batch takes no other calls.
 */
public interface DecodeStream extends AutoCloseable {
    /** Feeds the last sampled ids, runs one step and returns each sequence's next id. */
    int[] next();

    /** Ends the stream, undoing a step it ran ahead; the batch then takes calls again. Idempotent. */
    @Override
    void close();

    /**
     * One {@link CausalLm#forwardSample} call a step, each waiting for its ids before the next step is
     * queued; nothing runs ahead, so closing undoes nothing. The default of {@link CausalLm#decodeStream}.
     */
    static DecodeStream stepByStep(CausalLm model, CausalLm.Batch batch, int[] last, SamplingParams params,
                                   RandomGenerator uniforms) {
        if (last.length != batch.size()) {
            throw new MmfreeException("decodeStream: " + last.length + " ids for a batch of " + batch.size());
        }
        return new DecodeStream() {
            private int[][] ids = CausalLm.column(last);
            private boolean closed;

            @Override
            public int[] next() {
                if (closed) {
                    throw new MmfreeException("decodeStream: the stream is closed");
                }
                double[] u = new double[ids.length];
                for (int b = 0; b < u.length; b++) {
                    u[b] = uniforms.nextDouble();
                }
                int[] next = model.forwardSample(batch, ids, params, u);
                ids = CausalLm.column(next);
                return next;
            }

            @Override
            public void close() {
                closed = true;
            }
        };
    }
}
