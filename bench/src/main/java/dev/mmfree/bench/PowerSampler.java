package dev.mmfree.bench;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Samples NVIDIA board power with {@code nvidia-smi --query-gpu=power.draw -lms 50} in the background
 * and integrates it over a measured interval (trapezoids between samples). Absent on machines without
 * nvidia-smi: {@link #start()} then returns empty and the report says "n/a".
 */
public final class PowerSampler implements AutoCloseable {
    private static final int PERIOD_MS = 50;

    private final Process process;
    private final Thread reader;
    private final List<long[]> samples = new ArrayList<>(); // {nanoTime, milliwatts}

    private PowerSampler(Process process) {
        this.process = process;
        this.reader = Thread.ofPlatform().daemon().name("nvidia-smi-reader").start(this::read);
    }

    /** Starts sampling GPU 0's board power, or returns empty when nvidia-smi is not there or fails. */
    public static Optional<PowerSampler> start() {
        try {
            Process p = new ProcessBuilder("nvidia-smi", "--query-gpu=power.draw", "--format=csv,noheader,nounits",
                    "-i", "0", "-lms", Integer.toString(PERIOD_MS)).redirectErrorStream(true).start();
            return Optional.of(new PowerSampler(p));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    private void read() {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) {
                try {
                    long mw = Math.round(Double.parseDouble(line.trim()) * 1000);
                    synchronized (samples) {
                        samples.add(new long[] {System.nanoTime(), mw});
                    }
                } catch (NumberFormatException ignored) {
                    // "[N/A]" or a warning line: not a sample
                }
            }
        } catch (IOException ignored) {
            // the process was stopped
        }
    }

    /** Joules drawn between two System.nanoTime() instants, or NaN with fewer than two samples inside. */
    public double joules(long fromNanos, long toNanos) {
        List<long[]> in = new ArrayList<>();
        synchronized (samples) {
            for (long[] s : samples) {
                if (s[0] >= fromNanos && s[0] <= toNanos) {
                    in.add(s);
                }
            }
        }
        if (in.size() < 2) {
            return Double.NaN;
        }
        double joules = 0;
        for (int i = 1; i < in.size(); i++) {
            double dt = (in.get(i)[0] - in.get(i - 1)[0]) * 1e-9;
            joules += dt * (in.get(i)[1] + in.get(i - 1)[1]) * 0.5e-3;
        }
        // extrapolate the mean power over the uncovered edges of the interval
        double covered = (in.getLast()[0] - in.getFirst()[0]) * 1e-9;
        double total = (toNanos - fromNanos) * 1e-9;
        return covered > 0 ? joules * total / covered : Double.NaN;
    }

    /** Waits until a sample newer than now has arrived (up to 1 s), so an interval's end is covered. */
    public void awaitSample() {
        long now = System.nanoTime();
        long deadline = now + 1_000_000_000L;
        while (System.nanoTime() < deadline) {
            synchronized (samples) {
                if (!samples.isEmpty() && samples.getLast()[0] > now) {
                    return;
                }
            }
            try {
                Thread.sleep(PERIOD_MS / 2);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    @Override
    public void close() {
        process.destroy();
        try {
            reader.join(1000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
