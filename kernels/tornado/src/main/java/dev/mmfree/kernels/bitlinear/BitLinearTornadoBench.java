package dev.mmfree.kernels.bitlinear;

import dev.mmfree.kernels.ternary.TernaryMatrix;
import uk.ac.manchester.tornado.api.TornadoExecutionResult;
import uk.ac.manchester.tornado.api.enums.ProfilerMode;

import java.util.Arrays;
import java.util.Random;

/**
 * BitLinear, TornadoVM kernel against plain Java ({@link BitLinearReference}) at one shape: validates
 * first (bit-exact), then times after a warm-up and prints a table. Kernel time comes from TornadoVM's
 * profiler; "execute" is the whole plan.execute() (q and factors in, out back) measured on the host.
 * <pre>
 *   ./mvnw -q -o -Ptornado -pl kernels/tornado -am package -DskipTests
 *   java @$TORNADOVM_HOME/tornado-argfile -Dtornado.recover.bailout=False \
 *     -cp "kernels/tornado/target/classes:kernels/tornado/target/lib/*" \
 *     dev.mmfree.kernels.bitlinear.BitLinearTornadoBench [out in rows warmup iters]
 * </pre>
 */
public final class BitLinearTornadoBench {
    private BitLinearTornadoBench() {
    }

    public static void main(String[] args) {
        int out = args.length > 0 ? Integer.parseInt(args[0]) : 2048;
        int in = args.length > 1 ? Integer.parseInt(args[1]) : 2048;
        int rows = args.length > 2 ? Integer.parseInt(args[2]) : 1;
        int warmup = args.length > 3 ? Integer.parseInt(args[3]) : 20;
        int iters = args.length > 4 ? Integer.parseInt(args[4]) : 50;
        Random rnd = new Random(42);
        byte[] t = new byte[out * in];
        for (int k = 0; k < t.length; k++) {
            t[k] = (byte) (rnd.nextInt(3) - 1);
        }
        TernaryMatrix w = TernaryMatrix.pack(t, out, in, 0.03f);
        byte[] q = new byte[rows * in];            // [rows, in] int8
        rnd.nextBytes(q);
        float[] factor = new float[rows];          // [rows]
        Arrays.fill(factor, 0.01f);
        float[] expected = new float[rows * out];  // [rows, out]
        float[] actual = new float[rows * out];

        double[] javaMs = new double[iters];
        double[] kernelMs = new double[iters];
        double[] executeMs = new double[iters];
        try (BitLinearTornado kernel = new BitLinearTornado(w, rows, false)) {
            kernel.plan().withProfiler(ProfilerMode.SILENT);
            BitLinearReference.forward(w, q, factor, rows, expected, false);
            kernel.forward(q, factor, actual);
            if (!Arrays.equals(expected, actual)) {
                throw new IllegalStateException("bitlinear bench: TornadoVM output differs from the reference; not timing");
            }
            for (int k = 0; k < warmup; k++) {
                BitLinearReference.forward(w, q, factor, rows, expected, false);
                kernel.forward(q, factor, actual);
            }
            for (int k = 0; k < iters; k++) {
                long t0 = System.nanoTime();
                BitLinearReference.forward(w, q, factor, rows, expected, false);
                long t1 = System.nanoTime();
                TornadoExecutionResult r = kernel.forward(q, factor, actual);
                long t2 = System.nanoTime();
                javaMs[k] = (t1 - t0) / 1e6;
                executeMs[k] = (t2 - t1) / 1e6;
                kernelMs[k] = r.getProfilerResult().getDeviceKernelTime() / 1e6;
            }
        }
        long bytes = w.packedBytes() + (long) rows * in + 4L * rows + 4L * rows * out;
        String shape = "[" + out + ", " + in + "] x " + rows;
        System.out.printf("bitlinear %s, %d warm-up + %d timed, median of the timed runs; bytes counted: codes + q + factors + out = %d%n",
                shape, warmup, iters, bytes);
        System.out.println("| variant | shape | median ms | min ms | GB/s (median) |");
        System.out.println("| --- | --- | --- | --- | --- |");
        row("plain Java (BitLinearReference, 1 thread)", shape, javaMs, bytes);
        row("TornadoVM kernel (profiler)", shape, kernelMs, bytes);
        row("TornadoVM execute() incl. transfers", shape, executeMs, bytes);
    }

    private static void row(String variant, String shape, double[] ms, long bytes) {
        double[] s = ms.clone();
        Arrays.sort(s);
        double median = s[s.length / 2];
        System.out.printf("| %s | %s | %.3f | %.3f | %.2f |%n", variant, shape, median, s[0], bytes / (median * 1e6));
    }
}
