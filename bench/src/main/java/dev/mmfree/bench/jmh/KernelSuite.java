package dev.mmfree.bench.jmh;

import org.openjdk.jmh.infra.BenchmarkParams;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.CommandLineOptions;

import java.io.IOException;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Runs the JMH kernel suite (any JMH command-line options pass through), then prints each result's
 * effective bandwidth, {@code bytesPerOp} of its benchmark class over the measured time, and its
 * share of the measured {@code TriadBench.triad}; with {@code -rff x.json} it also writes that
 * table as {@code x.md} beside the JSON.
 *
 * <pre>
 * ./mvnw -q -o -pl bench -am package -DskipTests
 * java -Dmmfree.commit=$(git rev-parse --short HEAD) --add-modules jdk.incubator.vector \
 *   -cp 'bench/target/mmfree-bench-0.1.0-SNAPSHOT.jar:bench/target/lib/*' dev.mmfree.bench.jmh.KernelSuite \
 *   -f 1 -wi 2 -i 3 -rf json -rff bench/results/cpu-HOST/DATE/jmh-kernels.json
 * </pre>
 * Add a JMH regex (e.g. {@code 'BitLinearBench|TriadBench'}) to run a subset; the percentages need TriadBench in the run.
 * {@code -Dmmfree.bench.note="..."} adds a line to the Markdown (e.g. that other processes shared the machine).
 */
public final class KernelSuite {
    private KernelSuite() {
    }

    public static void main(String[] args) throws Exception {
        CommandLineOptions options = new CommandLineOptions(args);
        Collection<RunResult> results = new Runner(options).run();
        List<Row> rows = new ArrayList<>();
        double triad = Double.NaN;
        for (RunResult r : results) {
            Row row = Row.of(r);
            rows.add(row);
            if (row.name.equals("TriadBench.triad")) {
                triad = row.gbPerS;
            }
        }
        StringBuilder md = new StringBuilder();
        md.append("# JMH kernel suite\n\n");
        md.append("- date: ").append(LocalDate.now()).append('\n');
        md.append("- command: `KernelSuite ").append(String.join(" ", args)).append("`\n");
        md.append("- device: ").append(cpuModel()).append(", ").append(Runtime.getRuntime().availableProcessors())
                .append(" cores visible to the JVM, threads ").append(System.getProperty("mmfree.threads", "all")).append('\n');
        md.append("- JVM: ").append(System.getProperty("java.vm.name")).append(' ').append(System.getProperty("java.vm.version"))
                .append(", commit ").append(System.getProperty("mmfree.commit", "(not given)")).append('\n');
        String note = System.getProperty("mmfree.bench.note");
        if (note != null) {
            md.append("- note: ").append(note).append('\n');
        }
        md.append("- bandwidth = bytes a op (weights as held + activations read; see each class) / time; % of triad = that / TriadBench.triad\n\n");
        md.append("| benchmark | params | us/op | +- | GB/s | % of triad |\n|---|---|---:|---:|---:|---:|\n");
        for (Row r : rows) {
            md.append(String.format("| %s | %s | %.1f | %.1f | %.2f | %s |%n", r.name, r.params, r.score, r.error, r.gbPerS,
                    Double.isNaN(triad) ? "n/a" : String.format("%.0f%%", 100 * r.gbPerS / triad)));
        }
        System.out.println();
        System.out.println(md);
        if (options.getResult().hasValue()) {
            String json = options.getResult().get();
            Path out = Path.of(json.endsWith(".json") ? json.substring(0, json.length() - 5) + ".md" : json + ".md");
            Files.writeString(out, md.toString());
            System.out.println("wrote " + out);
        }
    }

    private static String cpuModel() {
        try (Stream<String> lines = Files.lines(Path.of("/proc/cpuinfo"))) {
            return lines.filter(l -> l.startsWith("model name")).findFirst().map(l -> l.substring(l.indexOf(':') + 1).trim())
                    .orElse(System.getProperty("os.arch"));
        } catch (IOException e) {
            return System.getProperty("os.arch");
        }
    }

    private record Row(String name, String params, double score, double error, double gbPerS) {
        static Row of(RunResult r) throws ReflectiveOperationException {
            BenchmarkParams bp = r.getParams();
            String full = bp.getBenchmark();
            int dot = full.lastIndexOf('.');
            String className = full.substring(0, dot);
            String method = full.substring(dot + 1);
            Map<String, String> params = new LinkedHashMap<>();
            for (String k : bp.getParamsKeys()) {
                params.put(k, bp.getParam(k));
            }
            Method bytes = Class.forName(className).getMethod("bytesPerOp", String.class, Map.class);
            long perOp = (long) bytes.invoke(null, method, params);
            Result<?> pr = r.getPrimaryResult();
            if (!pr.getScoreUnit().equals("us/op")) {
                throw new IllegalStateException(full + ": expected us/op, got " + pr.getScoreUnit());
            }
            double gb = perOp / (pr.getScore() * 1e-6) / 1e9;
            String shortName = className.substring(className.lastIndexOf('.') + 1) + "." + method;
            return new Row(shortName, params.toString(), pr.getScore(), pr.getScoreError(), gb);
        }
    }
}
