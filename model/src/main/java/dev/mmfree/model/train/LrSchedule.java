package dev.mmfree.model.train;

/**
 * Linear warmup then cosine decay, by step k from 0: {@code peak * (k + 1) / warmup} while k < warmup, then
 * {@code min + (peak - min) * (1 + cos(pi * p)) / 2} with {@code p = (k - warmup) / (total - warmup)} clamped to 1.
 */
public record LrSchedule(double peak, double min, int warmup, int total) {
    public LrSchedule {
        if (!(peak > 0) || !(min >= 0) || min > peak || warmup < 0 || total <= warmup) {
            throw new TrainException("lr schedule: need peak > 0, 0 <= min <= peak, 0 <= warmup < total; got peak "
                    + peak + ", min " + min + ", warmup " + warmup + ", total " + total);
        }
    }

    public double at(int step) {
        if (step < warmup) {
            return peak * (step + 1) / warmup;
        }
        double p = Math.min(1.0, (double) (step - warmup) / (total - warmup));
        return min + (peak - min) * (1 + Math.cos(Math.PI * p)) / 2;
    }
}
