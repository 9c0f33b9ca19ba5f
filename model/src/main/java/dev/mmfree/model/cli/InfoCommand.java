package dev.mmfree.model.cli;

import dev.mmfree.model.Backends;
import dev.mmfree.runtime.opencl.OpenCl;
import dev.mmfree.model.CausalLm;
import dev.mmfree.model.ModelBackend;
import dev.mmfree.model.ModelInfo;
import dev.mmfree.model.ModelLoader;
import dev.mmfree.model.generate.Generator;
import dev.mmfree.model.tokenizer.TextTokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;

/** {@code mmfree info}: what a model is and takes, and which backends can run here. */
@Command(name = "info", sortOptions = false,
        description = {"Show a model's architecture, parameter count, weight and state sizes, and the backends available here.",
                "Without --model, only the backends."})
final class InfoCommand implements Callable<Integer> {
    @Option(names = "--model", paramLabel = "DIR", description = "Hugging Face model folder.")
    Path model;

    @Option(names = "--backend", paramLabel = "NAME", defaultValue = "auto",
            description = "Backend to load the model on (sizes are as it holds the weights); default ${DEFAULT-VALUE}.")
    String backend;

    @Option(names = {"-v", "--verbose"}, description = "Also each OpenCL device's version and extensions.")
    boolean verbose;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        if (model != null) {
            ModelOptions opts = new ModelOptions();
            opts.model = model;
            opts.backend = backend;
            opts.validate(spec);
            try (CausalLm lm = ModelLoader.load(model, backend)) {
                describe(out, lm);
            }
        }
        out.println("backends:");
        for (ModelBackend b : Backends.all()) {
            Optional<String> why = b.unavailableReason();
            out.printf(Locale.ROOT, "  %-10s %s%n", b.name(), why.map(w -> "unavailable: " + w).orElse("available"));
        }
        out.println("opencl devices (" + OpenCl.DEVICE_ENV + " picks one):");
        OpenCl.unavailableReason().ifPresentOrElse(why -> out.println("  none: " + why), () -> OpenCl.devices().forEach(d -> {
            out.printf(Locale.ROOT, "  %d  %s (%s)%n", d.index(), d.name(), d.gpu() ? "GPU" : d.cpu() ? "CPU" : "other");
            if (verbose) {
                out.printf(Locale.ROOT, "     %s%n", d.capabilities());
            }
        }));
        out.flush();
        return 0;
    }

    private void describe(PrintWriter out, CausalLm lm) {
        ModelInfo i = lm.info();
        out.printf(Locale.ROOT, "model        %s%n", model);
        out.printf(Locale.ROOT, "architecture %s: vocab %d, hidden %d, %d layers%n", i.architecture(), i.vocab(), i.hidden(), i.layers());
        out.printf(Locale.ROOT, "parameters   %s (%d)%n", count(i.parameters()), i.parameters());
        out.printf(Locale.ROOT, "weights      %s as %s holds them; %s at 16 bits per weight (%.1fx)%n",
                bytes(i.weightBytes()), lm.backend(), bytes(i.unpackedBytes()), i.unpackedBytes() / (double) Math.max(1, i.weightBytes()));
        out.printf(Locale.ROOT, "state        %s per %s%n", bytes(i.stateBytesPerSequence()),
                i.stateGrowsWithContext() ? "token of context (KV cache)" : "sequence, constant in context length");
        out.printf(Locale.ROOT, "device       %s (%s)%n", lm.device(), lm.backend());
        out.printf(Locale.ROOT, "eos          %s%n", Arrays.toString(Generator.eosTokens(model)));
        Optional<TextTokenizer> tok = TextTokenizer.forModel(model);
        out.printf(Locale.ROOT, "tokenizer    %s%n", tok.map(t -> "tokenizer.json, vocab " + t.vocabSize()).orElse("none (generate takes --ids)"));
        tok.ifPresent(TextTokenizer::close);
    }

    static String count(long n) {
        if (n >= 1_000_000_000L) {
            return String.format(Locale.ROOT, "%.2f B", n / 1e9);
        }
        if (n >= 1_000_000L) {
            return String.format(Locale.ROOT, "%.2f M", n / 1e6);
        }
        return n >= 1000 ? String.format(Locale.ROOT, "%.1f K", n / 1e3) : Long.toString(n);
    }

    static String bytes(long n) {
        if (n >= 1L << 30) {
            return String.format(Locale.ROOT, "%.2f GiB", n / (double) (1L << 30));
        }
        if (n >= 1L << 20) {
            return String.format(Locale.ROOT, "%.2f MiB", n / (double) (1L << 20));
        }
        return n >= 1024 ? String.format(Locale.ROOT, "%.1f KiB", n / 1024.0) : n + " B";
    }
}
