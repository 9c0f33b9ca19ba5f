package dev.mmfree.bench;

import org.apache.commons.math3.distribution.BinomialDistribution;
import org.apache.commons.math3.stat.descriptive.rank.Percentile;

import java.util.Arrays;

/**
 * A rate (tokens/s) summarized from repeated timings: the median and a distribution-free 95%
 * confidence interval for the median, from the order statistics whose ranks a Binomial(n, 1/2)
 * brackets (no normality assumed: step times on a shared machine have long tails).
 *
 * @param median   tokens/s at the median step time
 * @param low      lower end of the 95% interval (tokens/s)
 * @param high     upper end of the 95% interval (tokens/s)
 * @param samples  number of timed repetitions
 */
public record RateStats(double median, double low, double high, int samples) {

    /**
     * @param seconds       one duration per repetition
     * @param tokensPerRep  tokens processed in one repetition
     */
    public static RateStats of(double[] seconds, double tokensPerRep) {
        if (seconds.length == 0) {
            throw new IllegalArgumentException("no timings");
        }
        double[] rates = new double[seconds.length];
        for (int i = 0; i < seconds.length; i++) {
            rates[i] = tokensPerRep / seconds[i];
        }
        Arrays.sort(rates);
        double median = new Percentile(50).evaluate(rates);
        int n = rates.length;
        // [x_(k), x_(n-1-k)] (0-based) covers the median with probability 1 - 2 P(B <= k), B ~ Bin(n, 1/2):
        // take the narrowest such interval that still covers 95%; below 6 samples only [min, max] is left.
        BinomialDistribution b = new BinomialDistribution(null, n, 0.5);
        int k = 0;
        while (k + 1 < n / 2 && b.cumulativeProbability(k + 1) <= 0.025) {
            k++;
        }
        return new RateStats(median, rates[k], rates[n - 1 - k], n);
    }

    public String format() {
        return String.format("%.1f [%.1f, %.1f]", median, low, high);
    }
}
