package dev.mmfree.model.train;

import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.markers.SeriesMarkers;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The training and validation loss curves of a {@code loss.csv} (step, train_loss, val_loss, lr) as a
 * PNG, drawn by XChart without a display ({@code java.awt.headless} is set unless given). Callers
 * that must survive a runtime without XChart or {@code java.desktop} catch {@link LinkageError}.
 */
public final class LossPlot {
    private LossPlot() {
    }

    /** Reads csv and writes png (replaced); returns png. */
    public static Path write(Path csv, Path png) {
        List<Double> steps = new ArrayList<>();
        List<Double> train = new ArrayList<>();
        List<Double> valSteps = new ArrayList<>();
        List<Double> val = new ArrayList<>();
        List<String> lines;
        try {
            lines = Files.readAllLines(csv);
        } catch (IOException e) {
            throw new TrainException(csv + ": cannot read (" + e.getMessage() + ")");
        }
        for (String line : lines.subList(Math.min(1, lines.size()), lines.size())) {
            String[] f = line.split(",", -1);
            if (f.length < 3) {
                throw new TrainException(csv + ": row '" + line + "' has " + f.length + " fields, expected step,train_loss,val_loss,lr");
            }
            double step = Double.parseDouble(f[0]);
            steps.add(step);
            train.add(Double.parseDouble(f[1]));
            if (!f[2].isEmpty()) {
                valSteps.add(step);
                val.add(Double.parseDouble(f[2]));
            }
        }
        if (steps.isEmpty()) {
            throw new TrainException(csv + ": no loss rows to plot");
        }
        if (System.getProperty("java.awt.headless") == null) {
            System.setProperty("java.awt.headless", "true");
        }
        XYChart chart = new XYChartBuilder().width(800).height(500).title("Loss").xAxisTitle("step")
                .yAxisTitle("cross-entropy (nats/token)").build();
        chart.addSeries("train (mean since the previous row)", steps, train).setMarker(SeriesMarkers.NONE);
        if (!val.isEmpty()) {
            chart.addSeries("validation", valSteps, val).setMarker(SeriesMarkers.CIRCLE);
        }
        try {
            BitmapEncoder.saveBitmap(chart, png.toString(), BitmapEncoder.BitmapFormat.PNG);
        } catch (IOException e) {
            throw new TrainException(png + ": cannot write plot (" + e.getMessage() + ")");
        }
        return png;
    }
}
