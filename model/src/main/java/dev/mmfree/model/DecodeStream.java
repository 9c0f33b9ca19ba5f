package dev.mmfree.model;

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
}
