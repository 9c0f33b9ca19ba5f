import jdk.incubator.vector.*;
import java.util.concurrent.*;

public class ReadStreams {
    static final VectorSpecies<Long> S = LongVector.SPECIES_512;
    static long stream(long[] d, int streams) {
        int len = d.length / streams;
        LongVector acc = LongVector.zero(S);
        for (int i = 0; i + 8 <= len; i += 8) {
            for (int s = 0; s < streams; s++) {
                acc = acc.add(LongVector.fromArray(S, d, s * len + i));
            }
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }

    public static void main(String[] a) throws Exception {
        int threads = Integer.parseInt(a[0]);
        int streams = Integer.parseInt(a[1]);
        long total = 1L << 28; // 256 MB
        int perThread = (int) (total / 8 / threads);
        long[][] data = new long[threads][perThread];
        for (long[] d : data) for (int i = 0; i < d.length; i++) d[i] = i;
        for (int w = 0; w < 20; w++) stream(data[0], streams);
        for (int rep = 0; rep < 10; rep++) {
            CyclicBarrier start = new CyclicBarrier(threads + 1);
            long[] sums = new long[threads];
            long[] t0s = new long[threads];
            long[] t1s = new long[threads];
            Thread[] ts = new Thread[threads];
            for (int t = 0; t < threads; t++) {
                final int tt = t;
                ts[t] = new Thread(() -> {
                    try { start.await(); } catch (Exception e) { throw new RuntimeException(e); }
                    t0s[tt] = System.nanoTime();
                    sums[tt] = stream(data[tt], streams);
                    t1s[tt] = System.nanoTime();
                });
                ts[t].start();
            }
            start.await();
            for (Thread t : ts) t.join();
            long t0 = Long.MAX_VALUE, t1 = 0, check = 0;
            for (int t = 0; t < threads; t++) { t0 = Math.min(t0, t0s[t]); t1 = Math.max(t1, t1s[t]); check += sums[t]; }
            if (check == 42) System.out.println("!");
            System.out.printf("threads %d streams %d: %.1f GB/s%n", threads, streams, (double) total / (t1 - t0));
        }
    }
}
