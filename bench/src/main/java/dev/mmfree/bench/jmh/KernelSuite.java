package dev.mmfree.bench.jmh;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.openjdk.jmh.infra.BenchmarkParams;
import org.openjdk.jmh.results.BenchmarkResult;
import org.openjdk.jmh.results.IterationResult;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.CommandLineOptions;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Runs the JMH kernel suite (any JMH command-line options pass through), then prints each result's
 * effective bandwidth, {@code bytesPerOp} of its benchmark class over the measured time, and its
 * share of the measured {@code TriadBench.triad}; with {@code -rff x.json} it also writes that
 * table as {@code x.md} beside the JSON. Bandwidth is given for the mean over all iterations and
 * for the best iteration (as STREAM reports its best rate): on a machine shared with other jobs
 * the best iteration is the one least disturbed. Benchmarks that define {@code productsPerOp}
 * (weight x token products) also get G products/s, the figure that matters when t > 1.
 *
 * <pre>
 * ./mvnw -q -o -pl bench -am package -DskipTests
 * java -Dmmfree.commit=$(git rev-parse --short HEAD) --add-modules jdk.incubator.vector \
 *   -cp 'bench/target/mmfree-bench-0.1.0-SNAPSHOT.jar:bench/target/lib/*' dev.mmfree.bench.jmh.KernelSuite \
 *   -f 1 -wi 2 -i 3 -rf json -rff bench/results/cpu-HOST/DATE/jmh-kernels.json
 * </pre>
 * {@code KernelSuite --table x.json} rebuilds {@code x.md} from a recorded run.
 * Add a JMH regex (e.g. {@code 'BitLinearBench|TriadBench'}) to run a subset; the percentages need TriadBench in the run.
 * {@code -Dmmfree.bench.note="..."} adds a line to the Markdown (e.g. that other processes shared the machine).
 */
public final class KernelSuite {
    private KernelSuite() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 2 && args[0].equals("--table")) {
            Path json = Path.of(args[1]);
            write(table(fromJson(json), "`KernelSuite --table " + args[1] + "` (recomputed from the recorded JSON)"), json);
            return;
        }
        CommandLineOptions options = new CommandLineOptions(args);
        List<Row> rows = new ArrayList<>();
        for (RunResult r : new Runner(options).run()) {
            rows.add(Row.of(r));
        }
        String md = table(rows, "`KernelSuite " + String.join(" ", args) + "`");
        if (options.getResult().hasValue()) {
            write(md, Path.of(options.getResult().get()));
        }
    }

    private static void write(String md, Path json) throws IOException {
        System.out.println();
        System.out.println(md);
        String name = json.toString();
        Path out = Path.of(name.endsWith(".json") ? name.substring(0, name.length() - 5) + ".md" : name + ".md");
        Files.writeString(out, md);
        System.out.println("wrote " + out);
    }

    private static String table(List<Row> rows, String command) {
        double triad = best(rows, "TriadBench.triad");
        double dot = best(rows, "TriadBench.dot");
        StringBuilder md = new StringBuilder();
        md.append("# JMH kernel suite\n\n");
        md.append("- date: ").append(LocalDate.now()).append('\n');
        md.append("- command: ").append(command).append('\n');
        md.append("- device: ").append(cpuModel()).append(", ").append(Runtime.getRuntime().availableProcessors())
                .append(" cores visible to the JVM, threads ").append(System.getProperty("mmfree.threads", "all")).append('\n');
        md.append("- JVM: ").append(System.getProperty("java.vm.name")).append(' ').append(System.getProperty("java.vm.version"))
                .append(", commit ").append(System.getProperty("mmfree.commit", "(not given)")).append('\n');
        String note = System.getProperty("mmfree.bench.note");
        if (note != null) {
            md.append("- note: ").append(note).append('\n');
        }
        md.append("- bandwidth = bytes a op (weights as held + activations read; see each class) / time; ")
                .append("% of triad = best GB/s / best TriadBench.triad GB/s (STREAM's measure, which counts 3 arrays a element); ")
                .append("% of dot = the same against the read-only TriadBench.dot, the roofline of a GEMV\n\n");
        md.append("| benchmark | params | us/op mean | +- (99.9%) | us/op best | GB/s mean | GB/s best | % of triad | % of dot | Gprod/s best |\n");
        md.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for (Row r : rows) {
            md.append(String.format("| %s | %s | %.1f | %.1f | %.1f | %.2f | %.2f | %s | %s | %s |%n", r.name, r.params, r.score, r.error, r.best,
                    r.gbPerS, r.bestGbPerS, percent(r.bestGbPerS, triad), percent(r.bestGbPerS, dot),
                    r.productsPerOp == 0 ? "" : String.format("%.1f", r.productsPerOp / (r.best * 1e-6) / 1e9)));
        }
        return md.toString();
    }

    private static double best(List<Row> rows, String name) {
        return rows.stream().filter(r -> r.name.equals(name)).mapToDouble(Row::bestGbPerS).findFirst().orElse(Double.NaN);
    }

    private static String percent(double v, double of) {
        return Double.isNaN(of) ? "n/a" : String.format("%.0f%%", 100 * v / of);
    }

    /** Rows from a JMH JSON result file (-rf json). */
    private static List<Row> fromJson(Path json) throws IOException, ReflectiveOperationException {
        List<Row> rows = new ArrayList<>();
        for (JsonNode b : new ObjectMapper().readTree(json.toFile())) {
            Map<String, String> params = new LinkedHashMap<>();
            if (b.has("params")) {
                b.get("params").properties().forEach(e -> params.put(e.getKey(), e.getValue().asText()));
            }
            JsonNode pm = b.get("primaryMetric");
            double best = Double.POSITIVE_INFINITY;
            for (JsonNode fork : pm.get("rawData")) {
                for (JsonNode it : fork) {
                    best = Math.min(best, it.asDouble());
                }
            }
            rows.add(Row.of(b.get("benchmark").asText(), params, pm.get("score").asDouble(), pm.get("scoreError").asDouble(), best,
                    pm.get("scoreUnit").asText()));
        }
        return rows;
    }

    private static String cpuModel() {
        try (Stream<String> lines = Files.lines(Path.of("/proc/cpuinfo"))) {
            return lines.filter(l -> l.startsWith("model name")).findFirst().map(l -> l.substring(l.indexOf(':') + 1).trim())
                    .orElse(System.getProperty("os.arch"));
        } catch (IOException e) {
            return System.getProperty("os.arch");
        }
    }

    private record Row(String name, String params, double score, double error, double best, double gbPerS, double bestGbPerS,
                       long productsPerOp) {
        static Row of(RunResult r) throws ReflectiveOperationException {
            BenchmarkParams bp = r.getParams();
            Map<String, String> params = new LinkedHashMap<>();
            for (String k : bp.getParamsKeys()) {
                params.put(k, bp.getParam(k));
            }
            double best = Double.POSITIVE_INFINITY;
            for (BenchmarkResult br : r.getBenchmarkResults()) {
                for (IterationResult ir : br.getIterationResults()) {
                    best = Math.min(best, ir.getPrimaryResult().getScore());
                }
            }
            Result<?> pr = r.getPrimaryResult();
            return of(bp.getBenchmark(), params, pr.getScore(), pr.getScoreError(), best, pr.getScoreUnit());
        }

        static Row of(String full, Map<String, String> params, double score, double error, double best, String unit)
                throws ReflectiveOperationException {
            if (!unit.equals("us/op")) {
                throw new IllegalStateException(full + ": expected us/op, got " + unit);
            }
            int dot = full.lastIndexOf('.');
            String className = full.substring(0, dot);
            String method = full.substring(dot + 1);
            Class<?> bench = Class.forName(className);
            long perOp = (long) bench.getMethod("bytesPerOp", String.class, Map.class).invoke(null, method, params);
            long products = 0;
            try {
                products = (long) bench.getMethod("productsPerOp", String.class, Map.class).invoke(null, method, params);
            } catch (NoSuchMethodException absent) {
                // not a matrix kernel
            }
            String shortName = className.substring(className.lastIndexOf('.') + 1) + "." + method;
            return new Row(shortName, params.toString(), score, error, best, perOp / (score * 1e-6) / 1e9, perOp / (best * 1e-6) / 1e9,
                    products);
        }
    }
}
