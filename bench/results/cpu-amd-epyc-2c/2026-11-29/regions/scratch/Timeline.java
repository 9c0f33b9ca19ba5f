package dev.mmfree.bench.jmh;
import dev.mmfree.kernels.bitlinear.BitLinearVector;
import dev.mmfree.kernels.ternary.TernaryMatrix;

import dev.mmfree.runtime.cpu.CpuPool;
import java.util.*;

public class Timeline {
    public static void main(String[] a) {
        int out = Integer.parseInt(a[0]), in = Integer.parseInt(a[1]);
        TernaryMatrix w = Fill.ternary(7, out, in);
        BitLinearVector[] copies = new BitLinearVector[Fill.copies(BitLinearVector.packedBytes(out, in))];
        for (int i = 0; i < copies.length; i++) copies[i] = new BitLinearVector(CpuPool.shared(), w);
        byte[] q = Fill.int8(11, in);
        float[] f = {0.01f};
        float[] y = new float[out];
        List<long[]> rows = new ArrayList<>();
        for (int it = 0; it < 4000; it++) {
            copies[it % copies.length].forward(q, f, 1, y, false);
            if (it >= 2000) {
                long t0 = BitLinearVector.TL[0];
                int n = Math.min(64, BitLinearVector.TL_N.get());
                // per thread: first start, first build done, last end, spans
                Map<Long, long[]> per = new HashMap<>();
                for (int k = 0; k < n; k++) {
                    long id = BitLinearVector.TL[2 + 4 * k];
                    long[] e = per.computeIfAbsent(id, x -> new long[]{Long.MAX_VALUE, Long.MAX_VALUE, 0, 0});
                    e[0] = Math.min(e[0], BitLinearVector.TL[3 + 4 * k] - t0);
                    if (BitLinearVector.TL[4 + 4 * k] != 0) e[1] = Math.min(e[1], BitLinearVector.TL[4 + 4 * k] - t0);
                    e[2] = Math.max(e[2], BitLinearVector.TL[5 + 4 * k] - t0);
                    e[3]++;
                }
                long[][] ts = per.values().toArray(new long[0][]);
                // id 0 = the caller, 1 = the worker: sort by id so rows read caller then worker
                ts = new long[][]{per.getOrDefault(0L, null), per.getOrDefault(1L, null)};
                if (ts[0] == null || ts[1] == null) continue;
                long total = BitLinearVector.TL[1] - t0;
                if (ts.length == 2) rows.add(new long[]{total, ts[0][0], ts[0][1], ts[0][2], ts[0][3], ts[1][0], ts[1][1], ts[1][2], ts[1][3]});
            }
        }
        System.out.println("ops with 2 threads: " + rows.size());
        String[] names = {"total", "caller start", "caller built", "caller end", "caller spans", "worker start", "worker built", "worker end", "worker spans"};
        for (int c = 0; c < names.length; c++) {
            long[] v = new long[rows.size()];
            for (int r = 0; r < v.length; r++) v[r] = rows.get(r)[c];
            Arrays.sort(v);
            System.out.printf("%-8s median %7d  p10 %7d  p90 %7d%n", names[c], v[v.length / 2], v[v.length / 10], v[v.length * 9 / 10]);
        }
    }
}
