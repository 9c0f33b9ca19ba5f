package dev.mmfree.model.cli;

import dev.mmfree.kernels.check.RelativeError;
import dev.mmfree.model.CausalLm;
import dev.mmfree.model.ModelLoader;
import dev.mmfree.model.checkpoint.CheckpointException;
import dev.mmfree.model.checkpoint.SafeTensorsFile;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code mmfree verify}: a backend's logits against a reference implementation's, the check a new
 * device or driver gets before its figures are trusted. The golden file holds I64 {@code input_ids}
 * [batch, seq] and F32 {@code logits} [batch, seq, vocab] (the fixtures' {@code golden.safetensors});
 * both the prefill and the token-by-token decode path are compared, per sequence, by relative L2.
 */
@Command(name = "verify", sortOptions = false,
        description = {"Compare a backend's logits with reference logits (prefill and decode), per sequence, by relative L2.",
                "Exits 1 when a sequence exceeds the tolerance or any logit is NaN or infinite."})
final class VerifyCommand implements Callable<Integer> {
    @Mixin
    ModelOptions model;

    @Option(names = "--golden", paramLabel = "FILE", description = "Reference file (default: golden.safetensors in the model folder).")
    Path golden;

    @Option(names = "--tolerance", paramLabel = "REL_L2", defaultValue = "2e-3",
            description = "Largest relative L2 error per sequence (default ${DEFAULT-VALUE}, the fixtures' float32 tolerance).")
    double tolerance;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        model.validate(spec);
        Path file = golden != null ? golden : model.model.resolve("golden.safetensors");
        if (!Files.isRegularFile(file)) {
            throw new CheckpointException(file + ": no such file (--golden names the reference logits)");
        }
        int[][] ids = LogitsCommand.readIds(file);
        float[] expected;
        try (SafeTensorsFile f = SafeTensorsFile.open(file)) {
            expected = f.floats("logits");
        }
        PrintWriter out = spec.commandLine().getOut();
        boolean ok = true;
        try (CausalLm lm = ModelLoader.load(model.model, model.backend)) {
            int b = ids.length;
            int t = ids[0].length;
            int v = lm.info().vocab();
            if ((long) b * t * v != expected.length) {
                throw new CheckpointException(file + ": 'logits' has " + expected.length + " values, expected [" + b + ", " + t + ", " + v + "]");
            }
            out.printf(Locale.ROOT, "verify %s on %s (%s), tolerance %.1e%n", model.model, lm.device(), lm.backend(), tolerance);
            for (LogitsCommand.Mode mode : LogitsCommand.Mode.values()) {
                float[] actual = LogitsCommand.logits(lm, ids, mode);
                for (int s = 0; s < b; s++) {
                    int from = s * t * v;
                    double err = RelativeError.l2(actual, expected, from, t * v);
                    boolean pass = err <= tolerance;   // NaN fails
                    ok &= pass;
                    out.printf(Locale.ROOT, "  %-7s sequence %d: rel L2 %.3e %s%n", mode, s, err, pass ? "ok" : "FAIL");
                }
            }
        }
        out.println(ok ? "verify: ok" : "verify: FAILED");
        return ok ? 0 : MmfreeCli.EXIT_FAILURE;
    }
}
