package dev.mmfree.model.cli;

import dev.mmfree.model.config.HgrnBitConfig;
import dev.mmfree.model.train.AdamW;
import dev.mmfree.model.train.BitLinearOp;
import dev.mmfree.model.train.TokenCorpus;
import dev.mmfree.model.tokenizer.HfTokenizer;
import dev.mmfree.model.train.HgrnBitTrainer;
import dev.mmfree.model.train.LossPlot;
import dev.mmfree.model.train.LrSchedule;
import dev.mmfree.model.train.Param;
import dev.mmfree.model.train.TrainCheckpoint;
import dev.mmfree.runtime.MmfreeException;
import dev.mmfree.runtime.cpu.CpuPool;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;

/**
 * {@code mmfree train}: quantization-aware training of an HGRNBit on a text file, on the CPU in double,
 * byte-level (vocab 256) or with a tokenizer.json; writes a loadable model folder (plus optimizer
 * state), {@code loss.csv} and its plot {@code loss.png} to --out.
 */
@Command(name = "train", sortOptions = false,
        description = {"Train an HGRNBit on a text file, on the CPU (all cores; -Dmmfree.threads or --threads to change).",
                "Tokens are the text's bytes (vocab 256), or the ids of --tokenizer (copied into --out, so generate uses it).",
                "Writes --out: config.json, model.safetensors (F32 latent weights), optimizer.safetensors (exact resume state),",
                "loss.csv (step, train loss, validation loss, lr) and loss.png. Progress goes to stderr."})
final class TrainCommand implements Callable<Integer> {
    private static final int BAR_WIDTH = 110;

    @Option(names = "--corpus", required = true, paramLabel = "FILE", description = "Training text (UTF-8 with --tokenizer).")
    Path corpus;

    @Option(names = "--tokenizer", paramLabel = "FILE",
            description = "A tokenizer.json: its ids are the tokens and its size the vocab; default bytes (with --resume, the folder's tokenizer.json if any).")
    Path tokenizer;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Folder for the checkpoint and loss.csv (created).")
    Path out;

    @Option(names = "--layers", paramLabel = "L", defaultValue = "2", description = "Layers; default ${DEFAULT-VALUE} (ignored with --resume).")
    int layers;

    @Option(names = "--hidden", paramLabel = "D", defaultValue = "128", description = "Hidden size; default ${DEFAULT-VALUE} (ignored with --resume).")
    int hidden;

    @Option(names = "--intermediate", paramLabel = "I",
            description = "MLP size; default 8 * hidden / 3 rounded up to a multiple of 32 (ignored with --resume).")
    Integer intermediate;

    @Option(names = "--steps", paramLabel = "N", defaultValue = "1000", description = "Total optimizer steps; default ${DEFAULT-VALUE}.")
    int steps;

    @Option(names = "--stop-after", paramLabel = "N",
            description = "Stop (and save) after step N, the schedule still spanning --steps; --resume continues.")
    Integer stopAfter;

    @Option(names = "--batch", paramLabel = "B", defaultValue = "16", description = "Sequences per step; default ${DEFAULT-VALUE}.")
    int batch;

    @Option(names = "--seq", paramLabel = "T", defaultValue = "64", description = "Tokens per sequence; default ${DEFAULT-VALUE}.")
    int seq;

    @Option(names = "--lr", paramLabel = "LR", defaultValue = "1.5e-3", description = "Peak learning rate; default ${DEFAULT-VALUE}.")
    double lr;

    @Option(names = "--min-lr", paramLabel = "LR", description = "Learning rate at the end of the cosine; default --lr / 10.")
    Double minLr;

    @Option(names = "--warmup", paramLabel = "N", defaultValue = "50", description = "Linear warmup steps; default ${DEFAULT-VALUE}.")
    int warmup;

    @Option(names = "--weight-decay", paramLabel = "W", defaultValue = "0.1",
            description = "AdamW decoupled weight decay of projection and head weights; default ${DEFAULT-VALUE}.")
    double weightDecay;

    @Option(names = "--clip", paramLabel = "NORM", defaultValue = "1.0", description = "Global gradient-norm clip; default ${DEFAULT-VALUE}.")
    double clip;

    @Option(names = "--halve-lr-midway", description = "Halve the learning rate for the second half of the steps.")
    boolean halveLrMidway;

    @Option(names = "--variant", paramLabel = "V", defaultValue = "fused", description = "BitLinear backward: fused or vanilla; default ${DEFAULT-VALUE}.")
    BitLinearOp.Variant variant;

    @Option(names = "--seed", paramLabel = "S", defaultValue = "42", description = "Seed of the init and the batches; default ${DEFAULT-VALUE}.")
    long seed;

    @Option(names = "--init-std", paramLabel = "STD", defaultValue = "0.02", description = "Std of the initial weights; default ${DEFAULT-VALUE}.")
    double initStd;

    @Option(names = "--eval-every", paramLabel = "N", defaultValue = "100",
            description = "Validate, save and add a loss.csv row every N steps (and at the end); default ${DEFAULT-VALUE}.")
    int evalEvery;

    @Option(names = "--log-every", paramLabel = "N", defaultValue = "10",
            description = "With --no-progress, a progress line every N steps (else lines only at validation); default ${DEFAULT-VALUE}.")
    int logEvery;

    @Option(names = "--progress", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "A progress bar with loss and tokens/s on stderr (--no-progress: lines instead); default on.")
    boolean progress;

    @Option(names = "--threads", paramLabel = "N", description = "Worker threads; default the shared CPU pool's (mmfree.threads, else all cores).")
    Integer threads;

    @Option(names = "--val-fraction", paramLabel = "F", defaultValue = "0.05",
            description = "Trailing fraction of the corpus held out for validation; default ${DEFAULT-VALUE}.")
    double valFraction;

    @Option(names = "--val-windows", paramLabel = "N", defaultValue = "64", description = "Most validation windows of --seq tokens; default ${DEFAULT-VALUE}.")
    int valWindows;

    @Option(names = "--resume", paramLabel = "DIR", description = "Continue from a checkpoint folder written by train (its config and step).")
    Path resume;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        validate();
        PrintWriter err = spec.commandLine().getErr();
        Path tokenizerFile = tokenizer != null ? tokenizer
                : resume != null && Files.isRegularFile(resume.resolve(HfTokenizer.FILE)) ? resume.resolve(HfTokenizer.FILE) : null;
        TokenCorpus text = readCorpus(tokenizerFile);
        if (text.trainLength() < seq) {
            throw new MmfreeException(corpus + ": training part has " + text.trainLength() + " tokens, fewer than --seq " + seq);
        }
        HgrnBitConfig config;
        Map<String, Param> params;
        AdamW opt = new AdamW(0.9, 0.95, 1e-8, weightDecay);
        if (resume != null) {
            TrainCheckpoint.State s = TrainCheckpoint.load(resume);
            config = s.config();
            params = s.params();
            s.restore(opt);
        } else {
            int inter = intermediate != null ? intermediate : (8 * hidden / 3 + 31) / 32 * 32;
            config = new HgrnBitConfig(text.vocab(), hidden, layers, inter, 1e-6, true, false, 1, 2);
            params = HgrnBitTrainer.init(config, seed, initStd);
        }
        if (config.vocab() != text.vocab()) {
            throw new MmfreeException(resume + ": vocab_size " + config.vocab() + ", the corpus tokens need " + text.vocab()
                    + (tokenizerFile != null ? " (" + tokenizerFile + ")" : " (bytes)"));
        }
        copyTokenizer(tokenizerFile);
        CpuPool pool = threads != null ? new CpuPool(threads) : CpuPool.shared();
        try {
            HgrnBitTrainer model = new HgrnBitTrainer(config, params, true, variant, pool);
            int[][] val = text.validationWindows(seq, valWindows);
            long count = params.values().stream().mapToLong(Param::size).sum();
            err.printf(Locale.ROOT, "train: %d params (d %d, L %d, I %d, vocab %d), corpus %d train + %d val tokens, %d val windows, "
                            + "steps %d..%d, %d threads%n", count, config.hidden(), config.layers(), config.intermediate(), config.vocab(),
                    text.trainLength(), text.valLength(), val.length, opt.steps(), steps, pool.threads());
            err.flush();
            loop(model, config, opt, text, val, err);
        } finally {
            if (pool != CpuPool.shared()) {
                pool.close();
            }
        }
        return 0;
    }

    private void loop(HgrnBitTrainer model, HgrnBitConfig config, AdamW opt, TokenCorpus text, int[][] val, PrintWriter err) {
        LrSchedule schedule = new LrSchedule(lr, minLr != null ? minLr : lr / 10, Math.min(warmup, steps - 1), steps);
        Path csv = out.resolve("loss.csv");
        long start = System.nanoTime();
        int first = opt.steps();
        int last = stopAfter != null ? Math.min(stopAfter, steps) : steps;
        double sinceRow = 0;
        int rowSteps = 0;
        double sinceLog = 0;
        int logSteps = 0;
        boolean plotWarned = false;
        try (ProgressBar bar = progress ? bar(first, last) : null) {
            for (int k = first; k < last; k++) {
                double rate = schedule.at(k) * (halveLrMidway && k >= steps / 2 ? 0.5 : 1);
                int[][] tokens = text.batch(new Random(seed * 1_000_003L + k), batch, seq);
                double loss = model.trainStep(tokens, opt, rate, clip);
                if (!Double.isFinite(loss)) {
                    throw new MmfreeException("train: loss is " + loss + " at step " + (k + 1) + "; lower --lr");
                }
                sinceRow += loss;
                rowSteps++;
                sinceLog += loss;
                logSteps++;
                int done = k + 1;
                double secs = (System.nanoTime() - start) / 1e9;
                double tps = (double) (done - first) * batch * seq / secs;
                if (bar != null) {
                    bar.setExtraMessage(String.format(Locale.ROOT, "loss %.4f  %.0f tok/s", sinceLog / logSteps, tps));
                    bar.stepTo(done);
                }
                boolean row = done % evalEvery == 0 || done == last;
                double valLoss = row ? TokenCorpus.meanLoss(model, val, batch) : Double.NaN;
                if (row || (bar == null && done % logEvery == 0)) {
                    String line = String.format(Locale.ROOT, "step %d/%d  loss %.4f%s  lr %.2e  %.0f tok/s  eta %s", done, steps,
                            sinceLog / logSteps,
                            row && !Double.isNaN(valLoss) ? String.format(Locale.ROOT, "  val %.4f (ppl %.2f)", valLoss, Math.exp(valLoss)) : "",
                            rate, tps, duration(secs / (done - first) * (steps - done)));
                    err.println(bar != null ? String.format(Locale.ROOT, "\r%-" + BAR_WIDTH + "s", line) : line);
                    err.flush();
                    sinceLog = 0;
                    logSteps = 0;
                }
                if (row) {
                    TrainCheckpoint.save(out, config, model.params(), opt);
                    appendRow(csv, String.format(Locale.ROOT, "%d,%.6f,%s,%.6e", done, sinceRow / rowSteps,
                            Double.isNaN(valLoss) ? "" : String.format(Locale.ROOT, "%.6f", valLoss), rate));
                    plotWarned |= !plot(csv, err, plotWarned);
                    sinceRow = 0;
                    rowSteps = 0;
                }
            }
        }
        err.printf(Locale.ROOT, "train: %d steps in %s, checkpoint in %s%n", Math.max(0, last - first), duration((System.nanoTime() - start) / 1e9), out);
    }

    private ProgressBar bar(int first, int last) {
        return new ProgressBarBuilder().setTaskName("train").setInitialMax(last).startsFrom(first, Duration.ZERO)
                .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(500).setMaxRenderedLength(BAR_WIDTH)
                .setConsumer(new ConsoleProgressBarConsumer(System.err)).build();
    }

    /** loss.png beside loss.csv; false (after a one-line warning, given once) where XChart or AWT is missing. */
    private static boolean plot(Path csv, PrintWriter err, boolean warned) {
        try {
            LossPlot.write(csv, csv.resolveSibling("loss.png"));
            return true;
        } catch (LinkageError | RuntimeException e) {
            if (!warned) {
                err.println("train: warning: no loss.png (" + e + ")");
                err.flush();
            }
            return false;
        }
    }

    private TokenCorpus readCorpus(Path tokenizerFile) {
        if (tokenizerFile == null) {
            return TokenCorpus.read(corpus, valFraction);
        }
        try (HfTokenizer t = HfTokenizer.load(tokenizerFile)) {
            return TokenCorpus.read(corpus, t, valFraction);
        }
    }

    /** The tokenizer goes into --out, so generate and info on the folder use it. */
    private void copyTokenizer(Path tokenizerFile) {
        if (tokenizerFile == null) {
            return;
        }
        Path target = out.resolve(HfTokenizer.FILE);
        try {
            Files.createDirectories(out);
            if (!Files.exists(target) || !Files.isSameFile(tokenizerFile, target)) {
                Files.copy(tokenizerFile, target, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            throw new MmfreeException(target + ": cannot copy the tokenizer (" + e.getMessage() + ")");
        }
    }

    private void validate() {
        if (layers < 1 || hidden < 1 || (intermediate != null && intermediate < 1)) {
            throw usage("--layers, --hidden and --intermediate must be >= 1");
        }
        if (steps < 1 || (stopAfter != null && stopAfter < 1) || batch < 1 || seq < 2 || evalEvery < 1 || logEvery < 1 || warmup < 0 || valWindows < 0) {
            throw usage("need --steps, --stop-after, --batch, --eval-every, --log-every >= 1, --seq >= 2, --warmup, --val-windows >= 0");
        }
        if (!(lr > 0) || (minLr != null && !(minLr >= 0 && minLr <= lr)) || !(weightDecay >= 0) || !(clip > 0) || !(initStd > 0)) {
            throw usage("need --lr > 0, 0 <= --min-lr <= --lr, --weight-decay >= 0, --clip > 0, --init-std > 0");
        }
        if (!(valFraction >= 0 && valFraction < 1)) {
            throw usage("--val-fraction must be in [0, 1), got " + valFraction);
        }
        if (!Files.isRegularFile(corpus)) {
            throw new MmfreeException(corpus + ": no such corpus file");
        }
        if (tokenizer != null && !Files.isRegularFile(tokenizer)) {
            throw new MmfreeException(tokenizer + ": no such tokenizer file");
        }
        if (threads != null && threads < 1) {
            throw usage("--threads must be >= 1, got " + threads);
        }
        if (resume != null && !Files.isDirectory(resume)) {
            throw new MmfreeException(resume + ": not a checkpoint folder (no such directory)");
        }
    }

    private ParameterException usage(String message) {
        return new ParameterException(spec.commandLine(), message);
    }

    private static void appendRow(Path csv, String row) {
        try {
            Files.createDirectories(csv.getParent());
            String text = (Files.exists(csv) ? "" : "step,train_loss,val_loss,lr\n") + row + "\n";
            Files.writeString(csv, text, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new MmfreeException(csv + ": cannot write (" + e.getMessage() + ")");
        }
    }

    private static String duration(double seconds) {
        long s = Math.round(seconds);
        return s >= 60 ? (s / 60) + "m" + String.format(Locale.ROOT, "%02d", s % 60) + "s" : s + "s";
    }
}
