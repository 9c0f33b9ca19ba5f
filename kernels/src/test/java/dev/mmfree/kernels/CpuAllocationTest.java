package dev.mmfree.kernels;

import dev.mmfree.kernels.attention.AttentionVector;
import dev.mmfree.kernels.attention.RopeVector;
import dev.mmfree.kernels.bitlinear.BitLinearVector;
import dev.mmfree.kernels.linear.LinearVector;
import dev.mmfree.kernels.mlgru.MlgruVector;
import dev.mmfree.kernels.rmsnormquant.RmsNormQuantVector;
import dev.mmfree.kernels.swiglu.SwiGluVector;
import dev.mmfree.kernels.ternary.TernaryMatrix;
import dev.mmfree.runtime.cpu.CpuPool;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.lang.management.ManagementFactory;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.IntConsumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every CPU kernel a decode step or a prefill calls allocates nothing once compiled: rounds of 20
 * calls per kernel (t = 1, and t = 20, over the 16-row threshold where row loops go parallel) run
 * until a round allocates zero bytes on the caller and on every pool worker, or the warm-up budget
 * runs out (interpreted and C1 code box vectors); then it fails naming each kernel's bytes per call.
 */
class CpuAllocationTest {
    private static final CpuPool POOL = new CpuPool(2);
    private static final long BUDGET_NANOS = 60_000_000_000L;
    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    private final int d = 96;
    private final int inter = 160;
    private final int heads = 4;
    private final int hd = 24;
    private final int capacity = 64;
    private final Random rnd = new Random(42);
    private final float[] x = Checks.gaussian(rnd, 20 * d, 1f);              // [t, d]
    private final float[] norm = Checks.gaussian(rnd, d, 1f);                 // [d]
    private final float[][] norms = {norm, Checks.gaussian(rnd, d, 1f), Checks.gaussian(rnd, d, 1f)};
    private final float[] h = new float[20 * d];                              // [t, d]
    private final byte[] q = new byte[3 * 20 * inter];                        // [parts, t, in] int8
    private final float[] factor = new float[3 * 20];                         // [parts, t]
    private final float[] ifg = Checks.gaussian(rnd, 20 * 3 * d, 1f);         // [t, 3d]
    private final float[] lb = new float[d];                                  // [d]
    private final float[] state = new float[d];                               // [1, d]
    private final float[] o = new float[20 * d];                              // [t, d]
    private final float[] gateUp = Checks.gaussian(rnd, 20 * 2 * inter, 1f);  // [t, 2 inter]
    private final float[] p = new float[20 * inter];                          // [t, inter]
    private final float[] downNorm = Checks.gaussian(rnd, inter, 1f);         // [inter]
    private final float[] y = new float[20 * 3 * d];                          // [t, 3d]
    private final float[] cos = Checks.gaussian(rnd, capacity * hd / 2, 1f);  // [capacity, hd / 2]
    private final float[] sin = Checks.gaussian(rnd, capacity * hd / 2, 1f);
    private final float[][] keys = {Checks.gaussian(rnd, heads * capacity * hd, 1f)};   // [1][H, capacity, hd]
    private final float[][] values = {Checks.gaussian(rnd, heads * capacity * hd, 1f)};
    private final float[] att = Checks.gaussian(rnd, 20 * heads * hd, 1f);    // [t, H*hd]
    private final float[] attOut = new float[20 * heads * hd];                // [t, H*hd]
    private final BitLinearVector ifgProj = new BitLinearVector(POOL, ternary(d, d), ternary(d, d), ternary(d, d));
    private final BitLinearVector down = new BitLinearVector(POOL, ternary(d, inter));
    private final LinearVector f32 = new LinearVector(POOL, LinearVector.Storage.F32, d, Checks.gaussian(rnd, 3 * d * d, 0.1f));
    private final LinearVector f16 = new LinearVector(POOL, LinearVector.Storage.F16, d, Checks.gaussian(rnd, 3 * d * d, 0.1f));
    private final AttentionVector attention = new AttentionVector(POOL, heads, heads, hd);

    @AfterAll
    static void closePool() {
        POOL.close();
    }

    @Test
    void kernelsAllocateNothingAfterWarmup() {
        Map<String, IntConsumer> kernels = kernels();
        long[] ids = threadIds();
        long start = System.nanoTime();
        Map<String, Long> bytes = new LinkedHashMap<>();
        int rounds = 0;
        while (System.nanoTime() - start < BUDGET_NANOS) {
            bytes.clear();
            for (Map.Entry<String, IntConsumer> k : kernels.entrySet()) {
                for (int t : new int[]{1, 20}) {
                    long before = allocated(ids);
                    for (int i = 0; i < 20; i++) {
                        k.getValue().accept(t);
                    }
                    long after = allocated(ids);
                    if (after != before) {
                        bytes.put(k.getKey() + " t=" + t, (after - before) / 20);
                    }
                }
            }
            rounds++;
            if (bytes.isEmpty()) {
                return;
            }
        }
        fail("bytes allocated per call after " + rounds + " rounds of warm-up: " + bytes);
    }

    /** One layer's kernels, each as a call for t tokens, in the order a model calls them. */
    private Map<String, IntConsumer> kernels() {
        Map<String, IntConsumer> k = new LinkedHashMap<>();
        k.put("normNormQuantize", t -> RmsNormQuantVector.normNormQuantize(POOL, x, t, d, norm, 1e-6, norms, h, q, factor));
        k.put("bitlinear i|f|g", t -> ifgProj.forward(q, factor, t, y, false));
        k.put("mlgru", t -> MlgruVector.scan(POOL, ifg, 1, t, d, lb, norm, 1e-6, state, 0, o));
        k.put("normQuantize", t -> RmsNormQuantVector.normQuantize(POOL, o, t, d, norm, q, factor));
        k.put("swiglu normQuantize", t -> SwiGluVector.applyNormQuantize(POOL, gateUp, t, inter, downNorm, p, q, factor));
        k.put("bitlinear down", t -> down.forward(q, factor, t, y, true));
        k.put("swiglu", t -> SwiGluVector.apply(POOL, gateUp, t, inter, p));
        k.put("rmsNorm", t -> RmsNormQuantVector.rmsNorm(POOL, x, t, d, norm, 1e-5, h));
        k.put("linear f32", t -> f32.forward(x, 0, t, y, 0, false));
        k.put("linear f16", t -> f16.forward(x, 0, t, y, 0, true));
        k.put("rope", t -> {
            for (int i = 0; i < t; i++) {
                RopeVector.rotate(att, i * heads * hd, heads, hd, cos, sin, (capacity - t + i) * hd / 2);
            }
        });
        k.put("attention", t -> attention.forward(att, 1, t, keys, values, 0, capacity, capacity - t, attOut));
        return k;
    }

    private TernaryMatrix ternary(int out, int in) {
        byte[] t = new byte[out * in];
        for (int i = 0; i < t.length; i++) {
            t[i] = (byte) (rnd.nextInt(3) - 1);
        }
        return TernaryMatrix.pack(t, out, in, 0.05f);
    }

    /** The caller and every worker of the pool: threads that ran a chunk of a loop slow enough for all to join. */
    private static long[] threadIds() {
        Set<Long> seen = ConcurrentHashMap.newKeySet();
        for (int i = 0; i < 100 && seen.size() < POOL.threads(); i++) {
            POOL.parallelFor(64, 1, (from, to) -> {
                seen.add(Thread.currentThread().threadId());
                try {
                    Thread.sleep(1);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
        }
        assertEquals(POOL.threads(), seen.size(), "threads that ran pool chunks");
        return seen.stream().mapToLong(Long::longValue).toArray();
    }

    /** Bytes allocated so far by the given threads (reading them allocates only on this thread, before or after a round). */
    private static long allocated(long[] ids) {
        long sum = 0;
        for (long id : ids) {
            sum += THREADS.getThreadAllocatedBytes(id);
        }
        return sum;
    }
}
