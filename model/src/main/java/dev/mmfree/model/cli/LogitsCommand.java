package dev.mmfree.model.cli;

import dev.mmfree.model.CausalLm;
import dev.mmfree.model.ModelLoader;
import dev.mmfree.model.checkpoint.CheckpointException;
import dev.mmfree.model.checkpoint.DType;
import dev.mmfree.model.checkpoint.SafeTensorsFile;
import dev.mmfree.model.checkpoint.SafeTensorsWriter;
import dev.mmfree.model.checkpoint.TensorInfo;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code mmfree logits}: the logits of every position of given id sequences, for comparing this
 * library with another implementation (the fixtures' golden files have the same layout).
 */
@Command(name = "logits", sortOptions = false,
        description = {"Compute logits of every position of token id sequences.",
                "Reads I64 (or I32) 'input_ids' [batch, seq]; writes F32 'logits' [batch, seq, vocab] and the 'input_ids'."})
final class LogitsCommand implements Callable<Integer> {
    enum Mode { prefill, decode }

    @Mixin
    ModelOptions model;

    @Option(names = "--input", required = true, paramLabel = "IDS.safetensors", description = "File holding 'input_ids' [batch, seq].")
    Path input;

    @Option(names = "--output", required = true, paramLabel = "OUT.safetensors", description = "File to write (replaced if present).")
    Path output;

    @Option(names = "--mode", paramLabel = "MODE", defaultValue = "prefill",
            description = "prefill: each sequence in one forward; decode: one token at a time. Default ${DEFAULT-VALUE}.")
    Mode mode;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        model.validate(spec);
        if (!Files.isRegularFile(input)) {
            throw new CheckpointException("--input " + input + ": no such file");
        }
        int[][] ids = readIds(input);   // [b][t]
        int b = ids.length;
        int t = ids[0].length;
        long[] flatIds = new long[b * t];  // [b, t]
        for (int s = 0; s < b; s++) {
            for (int p = 0; p < t; p++) {
                flatIds[s * t + p] = ids[s][p];
            }
        }
        long start = System.nanoTime();
        try (CausalLm lm = ModelLoader.load(model.model, model.backend)) {
            int v = lm.info().vocab();
            float[] logits = new float[Math.multiplyExact(Math.multiplyExact(b, t), v)];   // [b, t, v]
            long run = System.nanoTime();
            try (CausalLm.Batch batch = lm.newBatch(b)) {
                if (mode == Mode.prefill) {
                    place(lm.forward(batch, ids, true), logits, 0, t, v);
                } else {
                    for (int p = 0; p < t; p++) {
                        int[][] column = new int[b][1];
                        for (int s = 0; s < b; s++) {
                            column[s][0] = ids[s][p];
                        }
                        place(lm.forward(batch, column, true), logits, p, t, v);
                    }
                }
            }
            double seconds = (System.nanoTime() - run) / 1e9;
            new SafeTensorsWriter()
                    .longs("input_ids", flatIds, b, t)
                    .floats("logits", DType.F32, logits, b, t, v)
                    .write(output);
            spec.commandLine().getErr().println(String.format(Locale.ROOT, "logits: [%d, %d, %d] by %s on %s, %s %.3f s (total %.3f s) -> %s",
                    b, t, v, lm.backend(), lm.device(), mode, seconds, (System.nanoTime() - start) / 1e9, output));
        }
        return 0;
    }

    /** out[s, p0 + q, :] = step[s][q] for every row s and step position q. */
    private static void place(float[][][] step, float[] out, int p0, int t, int v) {
        for (int s = 0; s < step.length; s++) {
            for (int q = 0; q < step[s].length; q++) {
                System.arraycopy(step[s][q], 0, out, ((s * t) + p0 + q) * v, v);
            }
        }
    }

    /** input_ids as [batch][seq], checked to be 2-d, non-empty and int-sized. */
    static int[][] readIds(Path file) {
        try (SafeTensorsFile f = SafeTensorsFile.open(file)) {
            TensorInfo info = f.info("input_ids");
            long[] shape = info.shape();
            if (shape.length != 2 || shape[0] < 1 || shape[1] < 1) {
                throw new CheckpointException(file + ": 'input_ids' has shape " + info.shapeString() + ", expected [batch >= 1, seq >= 1]");
            }
            long[] flat = f.longs("input_ids");
            int b = (int) shape[0];
            int t = (int) shape[1];
            int[][] ids = new int[b][t];
            for (int s = 0; s < b; s++) {
                for (int p = 0; p < t; p++) {
                    long id = flat[s * t + p];
                    if (id < 0 || id > Integer.MAX_VALUE) {
                        throw new CheckpointException(file + ": 'input_ids'[" + s + ", " + p + "] = " + id + " is not a token id");
                    }
                    ids[s][p] = (int) id;
                }
            }
            return ids;
        }
    }
}
