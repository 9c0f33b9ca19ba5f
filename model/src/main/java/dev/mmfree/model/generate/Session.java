package dev.mmfree.model.generate;

import dev.mmfree.kernels.sampling.SamplerReference;
import dev.mmfree.kernels.sampling.SamplingParams;
import dev.mmfree.model.CausalLm;
import dev.mmfree.model.DecodeStream;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * One conversation: a batch of one sequence on the model, plus the tokens not yet fed to it.
 *
 * <p>A turn feeds the pending tokens and the prompt in one prefill, then samples and feeds one token
 * per decode step. The last sampled token (the stop token too) is not fed at once: it stays pending
 * and opens the next turn's prefill, so a turn that ends never pays for a forward it does not use,
 * and the next turn continues exactly where this one stopped. Decode steps run through a
 * {@link DecodeStream}: on a device the next step is queued while the listener takes this one, and
 * closing the stream at the end of the turn undoes it. Each turn draws its uniforms from
 * {@code new SplittableRandom(seed)}, one per sampled token (see {@link SamplerReference}).
 */
public final class Session implements AutoCloseable {
    private final CausalLm model;
    private final int[] defaultStopTokens;
    private final int vocab;
    private CausalLm.Batch batch;
    private int[] history = new int[16];   // every token of the conversation: fed, then pending
    private int historyLength;
    private int fed;

    Session(CausalLm model, int[] defaultStopTokens) {
        this.model = model;
        this.defaultStopTokens = defaultStopTokens;
        this.vocab = model.info().vocab();
        synchronized (model) {
            this.batch = model.newBatch(1);
        }
    }

    /** Tokens the model has consumed. */
    public int position() {
        return fed;
    }

    /** Every token of the conversation so far: prompts and sampled tokens (stop tokens included). */
    public int[] history() {
        return Arrays.copyOf(history, historyLength);
    }

    public GenerationResult generate(GenerationRequest request, TokenListener listener) {
        if (batch == null) {
            throw new GenerationException("generate: session is closed");
        }
        int[] prompt = request.prompt();
        for (int i = 0; i < prompt.length; i++) {
            if (prompt[i] < 0 || prompt[i] >= vocab) {
                throw new GenerationException("generate: prompt token " + i + " is " + prompt[i] + ", outside the vocabulary [0, " + vocab + ")");
            }
        }
        if (prompt.length == 0 && historyLength == 0) {
            throw new GenerationException("generate: empty prompt on a new session (nothing to continue from)");
        }
        append(prompt);
        int n = request.maxNewTokens();
        if (n == 0) {
            return new GenerationResult(new int[0], StopReason.MAX_TOKENS, -1, 0, 0, 0, 0);
        }
        int[] stops = request.stopTokens() != null ? request.stopTokens() : defaultStopTokens;
        SamplingParams params = request.sampling();
        SplittableRandom uniforms = new SplittableRandom(params.seed());

        int[] prefill = Arrays.copyOfRange(history, fed, historyLength);
        long t0 = System.nanoTime();
        int token = forwardSample(prefill, params, uniforms.nextDouble());
        long prefillNanos = System.nanoTime() - t0;
        long decodeNanos = 0;
        int[] out = new int[n];
        int count = 0;
        int generated = 1;
        StopReason reason;
        DecodeStream steps = null;
        try {
            while (true) {
                append(new int[]{token});
                if (contains(stops, token)) {
                    reason = StopReason.STOP_TOKEN;
                    break;
                }
                out[count++] = token;
                if (!listener.onToken(token)) {
                    reason = StopReason.CANCELLED;
                    break;
                }
                if (generated == n) {
                    reason = StopReason.MAX_TOKENS;
                    break;
                }
                long t = System.nanoTime();
                synchronized (model) {
                    if (steps == null) {
                        steps = model.decodeStream(batch, new int[]{token}, params, uniforms);
                    }
                    token = steps.next()[0];
                }
                fed++;
                decodeNanos += System.nanoTime() - t;
                generated++;
            }
        } finally {
            if (steps != null) {
                synchronized (model) {
                    steps.close();   // undoes a step queued ahead: the last token stays pending
                }
            }
        }
        return new GenerationResult(Arrays.copyOf(out, count), reason, reason == StopReason.STOP_TOKEN ? token : -1,
                prefill.length, generated, prefillNanos, decodeNanos);
    }

    /** Feeds {@code tokens} (the first pending ones) and samples the next id with the uniform u (on the device where the backend can). */
    private int forwardSample(int[] tokens, SamplingParams params, double u) {
        int[] next;
        synchronized (model) {
            next = model.forwardSample(batch, new int[][]{tokens}, params, new double[]{u});
        }
        fed += tokens.length;
        return next[0];
    }

    private void append(int[] tokens) {
        if (historyLength + tokens.length > history.length) {
            history = Arrays.copyOf(history, Math.max(2 * history.length, historyLength + tokens.length));
        }
        System.arraycopy(tokens, 0, history, historyLength, tokens.length);
        historyLength += tokens.length;
    }

    private static boolean contains(int[] ids, int id) {
        for (int x : ids) {
            if (x == id) {
                return true;
            }
        }
        return false;
    }

    /** Frees the session's state on the model; later calls fail. Idempotent. */
    @Override
    public void close() {
        if (batch != null) {
            synchronized (model) {
                batch.close();
            }
            batch = null;
        }
    }
}
