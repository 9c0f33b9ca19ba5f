package dev.mmfree.bench;

import dev.mmfree.kernels.linear.LinearVector;
import dev.mmfree.model.Backends;
import dev.mmfree.model.CausalLm;
import dev.mmfree.model.CpuBackend;
import dev.mmfree.model.ModelBackend;
import dev.mmfree.model.ModelLoader;
import dev.mmfree.model.checkpoint.RandomWeights;
import dev.mmfree.model.checkpoint.TensorSource;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;

/**
 * {@code mmfree bench}: memory and speed of the MatMul-free LM against a Transformer++ of the same
 * shape, on the device at hand. With no arguments: random weights of the 370M shape on the best
 * backend found, batch 1, a 128-token prompt then 64 decode steps, one table.
 */
@Command(name = "bench", sortOptions = false,
        description = "Measure memory and speed of MatMul-free (HGRNBit) against Transformer++ (Llama) of the same shape.")
public final class BenchCommand implements Callable<Integer> {
    @Option(names = "--preset", description = "Random-weight shape: tiny, 370M, 1.3B, 2.7B, 13B (default: ${DEFAULT-VALUE}).", defaultValue = "370M")
    String preset;

    @Option(names = "--model", description = "A checkpoint folder to measure instead of a preset (only that architecture is run).")
    Path model;

    @Option(names = "--backend", description = "reference, cpu, opencl, tornado (HGRNBit only; docs/tornadovm.md), or auto (default: ${DEFAULT-VALUE}).", defaultValue = "auto")
    String backend;

    @Option(names = "--device", paramLabel = "SEL", description = "OpenCL device of the opencl backend (index, gpu, cpu, or part of its name).")
    String device;

    @Option(names = "--models", split = ",", description = "Architectures for presets: hgrn, llama (default: both).", defaultValue = "hgrn,llama")
    List<String> models;

    @Option(names = "--batch", split = ",", description = "Batch sizes (default: ${DEFAULT-VALUE}).", defaultValue = "1")
    List<Integer> batches;

    @Option(names = "--context", split = ",", description = "Prompt lengths prefilled before decoding (default: ${DEFAULT-VALUE}).", defaultValue = "128")
    List<Integer> contexts;

    @Option(names = "--sweep", description = "Sweep batch 1,8,32,64 and context 512,2048,8192.")
    boolean sweep;

    @Option(names = "--decode-steps", description = "Timed decode steps per case (default: ${DEFAULT-VALUE}).", defaultValue = "64")
    int decodeSteps;

    @Option(names = "--warmup-steps", description = "Untimed decode steps first (default: ${DEFAULT-VALUE}).", defaultValue = "8")
    int warmupSteps;

    @Option(names = "--sync-decode", description = "Wait for each decode step's ids before queueing the next (default: the next step is queued ahead, as generation does).")
    boolean syncDecode;

    @Option(names = "--prefill-repeats", description = "Timed prefills per case (default: ${DEFAULT-VALUE}).", defaultValue = "3")
    int prefillRepeats;

    @Option(names = "--seed", description = "Seed of the random weights and tokens (default: ${DEFAULT-VALUE}).", defaultValue = "42")
    long seed;

    @Option(names = "--replot", paramLabel = "DIR", description = "Only draw the plots of an earlier run from DIR/results.csv (into DIR).")
    Path replot;

    @Option(names = "--cpu-llama-weights", paramLabel = "f32|f16", description = "Transformer++ weights on the cpu backend: f32, or f16"
            + " (half the bytes a token reads, but converted at load, which needs the f32 copy too) (default: f32, or what"
            + " -Dmmfree.cpu.llamaWeights says).")
    String cpuLlamaWeights;

    @Option(names = "--out", description = "Results folder (default: bench/results/<device>/<date>/ under MMFREE_HOME or the current folder).")
    Path out;

    private final List<BenchResult> results = new ArrayList<>();

    /** The results of the last {@link #call()}. */
    List<BenchResult> results() {
        return List.copyOf(results);
    }

    @Override
    public Integer call() {
        if (replot != null) {
            if (!BenchReport.plotsAvailable()) {
                throw new dev.mmfree.runtime.MmfreeException("bench --replot: this runtime has no XChart or java.desktop");
            }
            BenchPlots.write(BenchReport.readCsv(replot.resolve("results.csv")), replot).forEach(p -> System.err.println("wrote " + p));
            return 0;
        }
        if (sweep) {
            batches = List.of(1, 8, 32, 64);
            contexts = List.of(512, 2048, 8192);
        }
        check(decodeSteps >= 1, "--decode-steps must be >= 1, got " + decodeSteps);
        check(prefillRepeats >= 1, "--prefill-repeats must be >= 1, got " + prefillRepeats);
        check(warmupSteps >= 0, "--warmup-steps must be >= 0, got " + warmupSteps);
        batches.forEach(b -> check(b >= 1, "--batch values must be >= 1, got " + b));
        contexts.forEach(c -> check(c >= 1, "--context values must be >= 1, got " + c));
        check(cpuLlamaWeights == null || cpuLlamaWeights.equals("f16") || cpuLlamaWeights.equals("f32"),
                "--cpu-llama-weights must be f32 or f16, got " + cpuLlamaWeights);

        if (device != null) {
            System.setProperty(dev.mmfree.runtime.opencl.OpenCl.DEVICE_PROPERTY, device);
        }
        results.clear();
        String commit = commit();   // before the run: a commit made while it runs is not what it measured
        String device = runAll(results);
        BenchReport report = new BenchReport(results, provenance(device, commit));
        System.out.print(report.table());
        Path dir = out != null ? out : defaultOut(device);
        report.write(dir).forEach(p -> System.err.println("wrote " + p));
        return 0;
    }

    /** Runs every (architecture, batch, context) case; returns the device name. */
    private String runAll(List<BenchResult> results) {
        String device = "unknown";
        PowerSampler power = null;
        try {
            for (String arch : model != null ? List.of("checkpoint") : models) {
                String source = model != null ? model.toString() : arch + " " + preset + " (random weights, seed " + seed + ")";
                System.err.println("loading " + source + " on backend " + backend + " ...");
                try (CausalLm lm = load(arch)) {
                    device = lm.device();
                    if (power == null && device.toUpperCase(Locale.ROOT).contains("NVIDIA")) {
                        power = PowerSampler.start().orElse(null);
                    }
                    ModelBench bench = new ModelBench(lm, source, prefillRepeats, warmupSteps, decodeSteps, !syncDecode, Optional.ofNullable(power));
                    try (ProgressBar bar = new ProgressBarBuilder().setTaskName(lm.info().architecture()).setInitialMax(
                            (long) batches.size() * contexts.size()).setStyle(ProgressBarStyle.ASCII).setConsumer(
                            new me.tongfei.progressbar.ConsoleProgressBarConsumer(System.err)).build()) {
                        for (int c : contexts) {
                            for (int b : batches) {
                                results.add(bench.run(b, c, seed + 31L * b + c));
                                bar.step();
                            }
                        }
                    }
                }
            }
        } finally {
            if (power != null) {
                power.close();
            }
        }
        return device;
    }

    private CausalLm load(String arch) {
        ModelBackend b = Backends.resolve(backend);
        if (b instanceof CpuBackend && cpuLlamaWeights != null) {
            b = new CpuBackend(cpuLlamaWeights.equals("f32") ? LinearVector.Storage.F32 : LinearVector.Storage.F16);
        }
        if (model != null) {
            return ModelLoader.load(model, b);
        }
        RandomWeights.Preset p = Presets.parse(preset);
        TensorSource src = switch (arch) {
            case "hgrn", "hgrn_bit", "matmul-free" -> RandomWeights.hgrnBit(p, seed);
            case "llama", "transformer++" -> RandomWeights.llama(p, seed);
            default -> throw new picocli.CommandLine.ParameterException(new picocli.CommandLine(this),
                    "--models: unknown architecture '" + arch + "' (hgrn, llama)");
        };
        return ModelLoader.load(src, b);
    }

    private void check(boolean ok, String message) {
        if (!ok) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), message);
        }
    }

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    private Map<String, String> provenance(String device, String commit) {
        Map<String, String> p = new LinkedHashMap<>();
        p.put("date", ZonedDateTime.now(ZoneOffset.UTC).toString());
        p.put("commit", commit);
        p.put("device", device);
        List<String> args = spec.commandLine().getParseResult().originalArgs();   // from the root command: "bench" first
        p.put("command", "mmfree " + (!args.isEmpty() && args.getFirst().equals("bench") ? "" : "bench ") + String.join(" ", args));
        p.put("jvm", System.getProperty("java.vm.name") + " " + Runtime.version());
        p.put("jvm_flags", String.join(" ", ManagementFactory.getRuntimeMXBean().getInputArguments()));
        p.put("cpus", Integer.toString(Runtime.getRuntime().availableProcessors()));
        return p;
    }

    private static String commit() {
        String env = System.getenv("MMFREE_COMMIT");
        if (env != null && !env.isBlank()) {
            return env;
        }
        try {
            Process p = new ProcessBuilder("git", "rev-parse", "--short", "HEAD").redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes()).trim();
            return p.waitFor() == 0 ? out : "unknown";
        } catch (java.io.IOException e) {
            return "unknown";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "unknown";
        }
    }

    private static Path defaultOut(String device) {
        String home = System.getenv().getOrDefault("MMFREE_HOME", ".");
        String slug = device.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9]+", "-").replaceAll("(^-|-$)", "");
        return Path.of(home, "bench", "results", slug.isEmpty() ? "device" : slug, LocalDate.now(ZoneOffset.UTC).toString());
    }
}
