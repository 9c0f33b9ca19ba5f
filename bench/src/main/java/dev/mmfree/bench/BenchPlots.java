package dev.mmfree.bench;

import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.markers.SeriesMarkers;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.function.Predicate;
import java.util.function.ToDoubleFunction;
import java.util.function.ToIntFunction;

/**
 * The bench's PNG plots, one line per model: device memory against context length (at the smallest
 * batch) and decode tokens/s against batch size (at the shortest context). Kept apart from
 * {@link BenchReport} so a runtime without XChart or {@code java.desktop} (the trimmed one the GPU
 * machine gets) still writes the tables.
 */
final class BenchPlots {
    private BenchPlots() {
    }

    /** Whether XChart and AWT are present (checked without loading any XChart class). */
    static boolean available() {
        if (ModuleLayer.boot().findModule("java.desktop").isEmpty()) {
            return false;
        }
        try {
            Class.forName("org.knowm.xchart.XYChart", false, BenchPlots.class.getClassLoader());
            return true;
        } catch (ClassNotFoundException e) {
            return false;
        }
    }

    static List<Path> write(List<BenchResult> results, Path dir) {
        int minBatch = results.stream().mapToInt(BenchResult::batch).min().orElse(1);
        int minContext = results.stream().mapToInt(BenchResult::context).min().orElse(0);
        List<Path> files = new ArrayList<>();
        plot(results, dir, "memory-vs-context.png", "Device memory vs context length", "context (tokens)", "device memory (MiB)",
                BenchResult::context, r -> r.deviceBytes() / 1048576.0, r -> r.batch() == minBatch).ifPresent(files::add);
        plot(results, dir, "decode-vs-batch.png", "Decode throughput vs batch size", "batch size", "decode tokens/s",
                BenchResult::batch, r -> r.decode().median(), r -> r.context() == minContext).ifPresent(files::add);
        return files;
    }

    /** One line per model of y against x over the results that pass the filter; none when x has one value. */
    private static Optional<Path> plot(List<BenchResult> results, Path dir, String name, String title, String xLabel, String yLabel,
                                       ToIntFunction<BenchResult> x, ToDoubleFunction<BenchResult> y, Predicate<BenchResult> keep) {
        Map<String, TreeMap<Integer, Double>> lines = new TreeMap<>();
        for (BenchResult r : results) {
            if (keep.test(r)) {
                lines.computeIfAbsent(r.label(), k -> new TreeMap<>()).put(x.applyAsInt(r), y.applyAsDouble(r));
            }
        }
        if (lines.values().stream().allMatch(m -> m.size() < 2)) {
            return Optional.empty();
        }
        XYChart chart = new XYChartBuilder().width(800).height(500).title(title).xAxisTitle(xLabel).yAxisTitle(yLabel).build();
        lines.forEach((label, pts) -> chart.addSeries(label, pts.keySet().stream().mapToDouble(Integer::doubleValue).toArray(),
                pts.values().stream().mapToDouble(Double::doubleValue).toArray()).setMarker(SeriesMarkers.CIRCLE));
        Path out = dir.resolve(name);
        try {
            BitmapEncoder.saveBitmap(chart, out.toString(), BitmapEncoder.BitmapFormat.PNG);
        } catch (IOException e) {
            throw new UncheckedIOException("bench: cannot write " + out + ": " + e.getMessage(), e);
        }
        return Optional.of(out);
    }
}
