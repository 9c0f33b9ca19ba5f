package dev.mmfree.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.stream.Collectors;

/**
 * Turns bench results into the terminal table, {@code results.csv}, {@code results.md},
 * {@code results.jsonl} (one line per case with the run's provenance) and PNG plots.
 */
final class BenchReport {
    private static final String[] COLUMNS = {"model", "backend", "device", "batch", "context", "params", "weights MiB",
            "analytic MiB", "state MiB", "workspace MiB", "device MiB", "heap MiB", "prefill tok/s", "decode tok/s [95% CI]", "J/token"};

    private final List<BenchResult> results;
    private final Map<String, String> provenance;

    BenchReport(List<BenchResult> results, Map<String, String> provenance) {
        this.results = List.copyOf(results);
        this.provenance = provenance;
    }

    private static String mib(long bytes) {
        return String.format(Locale.ROOT, "%.1f", bytes / 1048576.0);
    }

    private static String[] row(BenchResult r) {
        return new String[] {r.label(), r.backend(), r.device(), Integer.toString(r.batch()), Integer.toString(r.context()),
                String.format(Locale.ROOT, "%.1fM", r.parameters() / 1e6), mib(r.weightBytes()), mib(r.analyticWeightBytes()),
                mib(r.stateBytes()), mib(r.workspaceBytes()), mib(r.deviceBytes()), mib(r.heapBytes()),
                String.format(Locale.ROOT, "%.1f", r.prefill().median()), r.decode().format(),
                Double.isNaN(r.joulesPerToken()) ? "n/a" : String.format(Locale.ROOT, "%.3f", r.joulesPerToken())};
    }

    /** Ratios MatMul-free / Transformer++ at each (batch, context) measured for both. */
    List<String> ratioLines() {
        List<String> out = new ArrayList<>();
        Map<String, List<BenchResult>> byCase = results.stream()
                .collect(Collectors.groupingBy(r -> r.batch() + "/" + r.context(), TreeMap::new, Collectors.toList()));
        for (List<BenchResult> pair : byCase.values()) {
            Optional<BenchResult> h = pair.stream().filter(r -> r.architecture().equals("hgrn_bit")).findFirst();
            Optional<BenchResult> l = pair.stream().filter(r -> r.architecture().equals("llama")).findFirst();
            if (h.isPresent() && l.isPresent()) {
                BenchResult a = h.get();
                BenchResult b = l.get();
                out.add(String.format(Locale.ROOT,
                        "MatMul-free / Transformer++ at batch %d, context %d: weights x%.3f, state x%.3f, device memory x%.3f, "
                                + "prefill x%.2f, decode x%.2f%s",
                        a.batch(), a.context(), ratio(a.weightBytes(), b.weightBytes()), ratio(a.stateBytes(), b.stateBytes()),
                        ratio(a.deviceBytes(), b.deviceBytes()), a.prefill().median() / b.prefill().median(),
                        a.decode().median() / b.decode().median(),
                        Double.isNaN(a.joulesPerToken()) ? "" : String.format(Locale.ROOT, ", energy/token x%.2f",
                                a.joulesPerToken() / b.joulesPerToken())));
            }
        }
        return out;
    }

    private static double ratio(long a, long b) {
        return b == 0 ? Double.NaN : (double) a / b;
    }

    String table() {
        List<String[]> rows = new ArrayList<>();
        rows.add(COLUMNS);
        results.forEach(r -> rows.add(row(r)));
        int[] w = new int[COLUMNS.length];
        for (String[] r : rows) {
            for (int i = 0; i < r.length; i++) {
                w[i] = Math.max(w[i], r[i].length());
            }
        }
        StringBuilder sb = new StringBuilder();
        for (int k = 0; k < rows.size(); k++) {
            String[] r = rows.get(k);
            for (int i = 0; i < r.length; i++) {
                sb.append(i == 0 ? "" : "  ").append(i < 3 ? pad(r[i], w[i], false) : pad(r[i], w[i], true));
            }
            sb.append('\n');
            if (k == 0) {
                sb.append("-".repeat(sb.length() - 1)).append('\n');
            }
        }
        ratioLines().forEach(l -> sb.append(l).append('\n'));
        return sb.toString();
    }

    private static String pad(String s, int w, boolean right) {
        String fill = " ".repeat(w - s.length());
        return right ? fill + s : s + fill;
    }

    String markdown() {
        StringBuilder sb = new StringBuilder("# mmfree bench\n\n");
        provenance.forEach((k, v) -> sb.append("- ").append(k).append(": `").append(v).append("`\n"));
        sb.append("\n| ").append(String.join(" | ", COLUMNS)).append(" |\n|");
        sb.append(" --- |".repeat(COLUMNS.length)).append('\n');
        results.forEach(r -> sb.append("| ").append(String.join(" | ", row(r))).append(" |\n"));
        sb.append('\n');
        ratioLines().forEach(l -> sb.append("- ").append(l).append('\n'));
        return sb.toString();
    }

    String csv() {
        StringBuilder sb = new StringBuilder("model,architecture,source,backend,device,batch,context,parameters,weight_bytes,"
                + "analytic_weight_bytes,state_bytes,workspace_bytes,device_bytes,heap_bytes,prefill_tok_s,prefill_low,prefill_high,"
                + "decode_tok_s,decode_low,decode_high,decode_samples,joules_per_token\n");
        for (BenchResult r : results) {
            sb.append(String.join(",", r.label(), r.architecture(), quote(r.source()), r.backend(), quote(r.device()),
                    Integer.toString(r.batch()), Integer.toString(r.context()), Long.toString(r.parameters()),
                    Long.toString(r.weightBytes()), Long.toString(r.analyticWeightBytes()), Long.toString(r.stateBytes()),
                    Long.toString(r.workspaceBytes()), Long.toString(r.deviceBytes()), Long.toString(r.heapBytes()),
                    num(r.prefill().median()), num(r.prefill().low()), num(r.prefill().high()), num(r.decode().median()),
                    num(r.decode().low()), num(r.decode().high()), Integer.toString(r.decode().samples()),
                    num(r.joulesPerToken()))).append('\n');
        }
        return sb.toString();
    }

    /** Reads back a {@code results.csv} this class wrote (to draw its plots elsewhere). */
    static List<BenchResult> readCsv(Path file) {
        try {
            List<String> lines = Files.readAllLines(file);
            List<BenchResult> out = new ArrayList<>();
            for (String line : lines.subList(1, lines.size())) {
                List<String> f = splitCsv(line);
                if (f.size() != 22) {
                    throw new IllegalArgumentException(file + ": expected 22 fields, got " + f.size() + ": " + line);
                }
                out.add(new BenchResult(f.get(1), f.get(2), f.get(3), f.get(4), Integer.parseInt(f.get(5)), Integer.parseInt(f.get(6)),
                        Long.parseLong(f.get(7)), Long.parseLong(f.get(8)), Long.parseLong(f.get(9)), Long.parseLong(f.get(10)),
                        Long.parseLong(f.get(11)), Long.parseLong(f.get(13)),
                        new RateStats(dbl(f.get(14)), dbl(f.get(15)), dbl(f.get(16)), 0),
                        new RateStats(dbl(f.get(17)), dbl(f.get(18)), dbl(f.get(19)), Integer.parseInt(f.get(20))), dbl(f.get(21))));
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException("bench: cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    private static double dbl(String s) {
        return s.isEmpty() ? Double.NaN : Double.parseDouble(s);
    }

    private static List<String> splitCsv(String line) {
        List<String> out = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        boolean quoted = false;
        for (int i = 0; i < line.length(); i++) {
            char ch = line.charAt(i);
            if (quoted) {
                if (ch == '"' && i + 1 < line.length() && line.charAt(i + 1) == '"') {
                    cur.append('"');
                    i++;
                } else if (ch == '"') {
                    quoted = false;
                } else {
                    cur.append(ch);
                }
            } else if (ch == '"') {
                quoted = true;
            } else if (ch == ',') {
                out.add(cur.toString());
                cur.setLength(0);
            } else {
                cur.append(ch);
            }
        }
        out.add(cur.toString());
        return out;
    }

    private static String quote(String s) {
        return '"' + s.replace("\"", "\"\"") + '"';
    }

    private static String num(double v) {
        return Double.isNaN(v) ? "" : String.format(Locale.ROOT, "%.4f", v);
    }

    /** Writes every output into {@code dir}; returns the files written. */
    List<Path> write(Path dir) {
        try {
            Files.createDirectories(dir);
            List<Path> files = new ArrayList<>();
            files.add(Files.writeString(dir.resolve("results.csv"), csv()));
            files.add(Files.writeString(dir.resolve("results.md"), markdown()));
            files.add(appendJsonLines(dir.resolve("results.jsonl")));
            if (BenchPlots.available()) {
                files.addAll(BenchPlots.write(results, dir));
            } else {
                System.err.println("bench: plots skipped (no XChart or java.desktop in this runtime); "
                        + "'mmfree bench --replot " + dir + "' draws them from results.csv");
            }
            return files;
        } catch (IOException e) {
            throw new UncheckedIOException("bench: cannot write results to " + dir + ": " + e.getMessage(), e);
        }
    }

    private Path appendJsonLines(Path file) throws IOException {
        ObjectMapper json = new ObjectMapper();
        StringBuilder sb = new StringBuilder();
        for (BenchResult r : results) {
            ObjectNode o = json.createObjectNode();
            provenance.forEach(o::put);
            o.set("result", json.valueToTree(r));
            sb.append(json.writeValueAsString(o)).append('\n');
        }
        return Files.writeString(file, sb.toString(), StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }
}
