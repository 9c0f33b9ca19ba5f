package dev.mmfree.model;

import dev.mmfree.kernels.sampling.SamplerReference;
import dev.mmfree.kernels.sampling.SamplingParams;
import dev.mmfree.runtime.MemoryLedger;

import java.util.random.RandomGenerator;

/**
 * A loaded causal language model on one backend: what generation, the CLI and the benchmarks drive.
 *
 * <p>State lives in {@link Batch}es: a batch is {@code size} independent sequences whose per-sequence
 * state (the MLGRU hidden state for HGRNBit, the KV cache for Llama) stays on the backend between
 * calls. Each {@link #forward} call feeds every sequence of the batch the same number of tokens t
 * (t = the prompt length for a prefill, t = 1 for a decode step) and advances them all.
 *
 * <p>Implementations are named {@code <Model><Backend>} ({@code HgrnBitReference}, {@code HgrnBitOpenCl}, ...).
 * Closing the model frees its weights; closing a batch frees its state. Not thread-safe: one caller
 * drives a model at a time (open one model per thread for parallel services).
 */
public interface CausalLm extends AutoCloseable {
    ModelInfo info();

    /** The backend's name, as {@code --backend} takes it: reference, cpu, opencl, tornado. */
    String backend();

    /** A human-readable name of the device the model runs on. */
    String device();

    /** Bytes this model holds on its device, by category; zero in every category after close. */
    MemoryLedger memory();

    /** A batch of {@code size} new sequences, each at position 0 with zeroed state. */
    Batch newBatch(int size);

    /**
     * Feeds {@code tokens[b]} (all rows of one length t >= 1, ids in [0, vocab)) to sequence b of
     * the batch, advancing each by t positions.
     *
     * @param allPositions true: logits of every position, [b][t][vocab]; false: of the last only, [b][1][vocab]
     */
    float[][][] forward(Batch batch, int[][] tokens, boolean allPositions);

    /**
     * Feeds tokens like {@link #forward} and returns each sequence's next id, sampled from its last
     * position's logits under {@code params} with that sequence's uniform {@code u[b]} in [0, 1), by the
     * rule of {@link SamplerReference}. Backends on a device override it to sample there, so that only
     * ids cross the bus.
     */
    default int[] forwardSample(Batch batch, int[][] tokens, SamplingParams params, double[] u) {
        float[][][] logits = forward(batch, tokens, false);
        SamplerReference sampler = new SamplerReference();
        int[] ids = new int[logits.length];
        for (int b = 0; b < ids.length; b++) {
            ids[b] = sampler.sample(logits[b][0], 0, logits[b][0].length, params, u[b]);
        }
        return ids;
    }

    /** {@link #forwardSample} with greedy decoding: the argmax, lowest index on ties. */
    default int[] forwardGreedy(Batch batch, int[][] tokens) {
        return forwardSample(batch, tokens, SamplingParams.greedy(), new double[tokens.length]);
    }

    /**
     * Decode steps from {@code last} (the ids the batch's last {@link #forwardSample} returned, one a
     * sequence, not yet fed): each {@link DecodeStream#next} call returns what {@link #forwardSample} of the
     * previous ids would, drawing the step's uniforms from {@code uniforms}, one a sequence in order.
     * Backends on a device run one step ahead and undo it on close; this default runs each step when asked.
     */
    default DecodeStream decodeStream(Batch batch, int[] last, SamplingParams params, RandomGenerator uniforms) {
        return DecodeStream.stepByStep(this, batch, last, params, uniforms);
    }

    /** ids [b] as one step's tokens [b][1]. */
    static int[][] column(int[] ids) {
        int[][] t = new int[ids.length][1];
        for (int b = 0; b < ids.length; b++) {
            t[b][0] = ids[b];
        }
        return t;
    }

    @Override
    void close();

    /** Per-sequence state of a model, owned by the model that made it. */
    interface Batch extends AutoCloseable {
        int size();

        /** Tokens consumed so far by every sequence of the batch. */
        int position();

        @Override
        void close();
    }
}
