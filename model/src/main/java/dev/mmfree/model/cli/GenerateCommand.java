package dev.mmfree.model.cli;

import dev.mmfree.kernels.sampling.SamplingParams;
import dev.mmfree.model.CausalLm;
import dev.mmfree.model.ModelLoader;
import dev.mmfree.model.generate.GenerationRequest;
import dev.mmfree.model.generate.GenerationResult;
import dev.mmfree.model.generate.Generator;
import dev.mmfree.model.generate.Session;
import dev.mmfree.model.generate.TokenListener;
import dev.mmfree.model.tokenizer.StreamingDecoder;
import dev.mmfree.model.tokenizer.TextTokenizer;
import dev.mmfree.runtime.MmfreeException;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;

/** {@code mmfree generate}: streams a continuation of a prompt to stdout, a one-line summary to stderr. */
@Command(name = "generate", sortOptions = false,
        description = {"Continue a prompt, streaming the new text (or ids, when the folder has no tokenizer.json) to stdout.",
                "Without --model: the byte-level model trained on fortunes that ships in model/data/models/hgrn-fortunes.",
                "A one-line summary (tokens, tokens/s) goes to stderr."})
final class GenerateCommand implements Callable<Integer> {
    static final String DEFAULT_MODEL = "model/data/models/hgrn-fortunes";

    @Mixin
    ModelOptions model;

    static final class Prompt {
        @Option(names = "--prompt", paramLabel = "TEXT", required = true, description = "Prompt text (needs the folder's tokenizer.json, or a byte-level model: vocab_size 256).")
        String text;

        @Option(names = "--ids", paramLabel = "IDS", required = true, split = ",", description = "Prompt token ids, comma-separated: 1,2,3.")
        int[] ids;
    }

    @ArgGroup(multiplicity = "1")
    Prompt prompt;

    @Option(names = "--max-tokens", paramLabel = "N", defaultValue = "128", description = "Most tokens to generate; default ${DEFAULT-VALUE}.")
    int maxTokens;

    @Option(names = "--temperature", paramLabel = "T", defaultValue = "0", description = "Softmax temperature; 0 = greedy (default).")
    double temperature;

    @Option(names = "--top-k", paramLabel = "K", defaultValue = "0", description = "Sample among the K most likely tokens; 0 = off (default).")
    int topK;

    @Option(names = "--top-p", paramLabel = "P", defaultValue = "1", description = "Nucleus sampling mass in (0, 1]; 1 = off (default).")
    double topP;

    @Option(names = "--seed", paramLabel = "S", defaultValue = "42", description = "Seed of the sampling stream; default ${DEFAULT-VALUE}.")
    long seed;

    @Option(names = "--stop", paramLabel = "IDS", split = ",",
            description = "Stop token ids, comma-separated; default: the model's eos_token_id (generation_config.json, config.json).")
    List<Integer> stop;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        SamplingParams sampling;
        try {
            sampling = new SamplingParams(temperature, topK, topP, seed);
        } catch (MmfreeException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
        if (model.model == null) {
            model.model = defaultModel();
        }
        model.validate(spec);
        if (maxTokens < 1) {
            throw new ParameterException(spec.commandLine(), "--max-tokens must be >= 1, got " + maxTokens);
        }
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        Optional<TextTokenizer> tokenizer = TextTokenizer.forModel(model.model);
        try (CausalLm lm = ModelLoader.load(model.model, model.backend)) {
            int[] ids = promptIds(tokenizer);
            int[] stops = stop != null ? stop.stream().mapToInt(Integer::intValue).toArray() : Generator.eosTokens(model.model);
            GenerationRequest request = new GenerationRequest(ids, maxTokens, stops, sampling);
            StreamingDecoder text = tokenizer.map(t -> new StreamingDecoder(t, ids)).orElse(null);
            int[] printed = {0};
            TokenListener print = token -> {
                out.print(text != null ? text.push(token) : (printed[0]++ == 0 ? "" : " ") + token);
                out.flush();
                return true;
            };
            GenerationResult r;
            try (Session session = new Generator(lm, stops).newSession()) {
                r = session.generate(request, print);
            }
            out.println(text != null ? text.flush() : "");
            out.flush();
            err.println(summary(lm, r));
        } finally {
            tokenizer.ifPresent(TextTokenizer::close);
        }
        return 0;
    }

    /** The small model shipped in this repository (model/data/models/hgrn-fortunes), under -Dmmfree.home (./mmfree sets it) or the working directory. */
    static Path defaultModel() {
        return Path.of(System.getProperty("mmfree.home", ".")).resolve(DEFAULT_MODEL);
    }

    private int[] promptIds(Optional<TextTokenizer> tokenizer) {
        if (prompt.ids != null) {
            return prompt.ids;
        }
        if (tokenizer.isEmpty()) {
            throw new MmfreeException(model.model + ": no tokenizer.json (and not byte-level), so --prompt cannot be encoded; give token ids with --ids");
        }
        return tokenizer.get().encode(prompt.text);
    }

    static String summary(CausalLm lm, GenerationResult r) {
        return String.format(Locale.ROOT, "generate: %d prompt + %d new tokens (%s), prefill %.1f tok/s, decode %.1f tok/s, %s on %s",
                r.promptTokens(), r.generatedTokens(), r.reason().name().toLowerCase(Locale.ROOT).replace('_', ' '),
                r.prefillTokensPerSecond(), r.decodeTokensPerSecond(), lm.backend(), lm.device());
    }
}
