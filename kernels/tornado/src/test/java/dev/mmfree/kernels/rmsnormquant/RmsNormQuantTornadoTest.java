package dev.mmfree.kernels.rmsnormquant;

import dev.mmfree.kernels.tornado.HostCopies;
import dev.mmfree.kernels.tornado.Plans;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import uk.ac.manchester.tornado.api.GridScheduler;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.enums.DataTransferMode;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;

import java.util.Random;

import static dev.mmfree.kernels.tornado.TornadoTesting.assertBitExact;
import static dev.mmfree.kernels.tornado.TornadoTesting.floats;
import static dev.mmfree.kernels.tornado.TornadoTesting.requireTornado;

/** RmsNormQuantTornado against RmsNormQuantReference: int8 codes, factors and normed floats all bit-exact. */
class RmsNormQuantTornadoTest {
    @BeforeEach
    void tornado() {
        requireTornado();
    }

    @ParameterizedTest(name = "rows={0} d={1}")
    @CsvSource({"1, 1", "1, 7", "3, 100", "1, 1024", "2, 2816", "4, 5000"})
    void normQuantMatchesReference(int rows, int d) {
        Random rnd = new Random(17L * rows + d);
        float[] w = floats(rnd, d, 1f);
        try (RmsNormQuantTornado kernel = new RmsNormQuantTornado(w, rows, RmsNormQuantReference.EPS)) {
            for (int call = 0; call < 2; call++) {
                float[] x = floats(rnd, rows * d, 3f);   // [rows, d]
                if (call == 1) {
                    java.util.Arrays.fill(x, 0, d, 0f);  // an all-zero row takes the a = 1e-5 floor
                }
                byte[] qExp = new byte[rows * d];
                float[] fExp = new float[rows];
                float[] scratch = new float[d];
                for (int r = 0; r < rows; r++) {
                    fExp[r] = RmsNormQuantReference.normQuantize(x, r * d, w, qExp, r * d, d, scratch);
                }
                byte[] q = new byte[rows * d];
                float[] f = new float[rows];
                kernel.normQuantize(x, q, f);
                String what = "rmsnormquant rows " + rows + " d " + d + " call " + call;
                assertBitExact(what + " q", qExp, q);
                assertBitExact(what + " factor", fExp, f);
            }
        }
    }

    @Test
    void rmsNormMatchesReference() {
        int rows = 3;
        int d = 2049;
        double eps = 1e-5;
        Random rnd = new Random(5);
        float[] xHost = floats(rnd, rows * d, 2f);   // [rows, d]
        float[] wHost = floats(rnd, d, 1f);
        float[] expected = new float[rows * d];
        for (int r = 0; r < rows; r++) {
            RmsNormQuantReference.rmsNorm(xHost, r * d, wHost, expected, r * d, d, eps);
        }
        FloatArray x = FloatArray.fromArray(xHost);
        FloatArray w = FloatArray.fromArray(wHost);
        FloatArray out = new FloatArray(rows * d);
        TaskGraph graph = new TaskGraph("norm").transferToDevice(DataTransferMode.EVERY_EXECUTION, x, w);
        GridScheduler grids = new GridScheduler();
        RmsNormQuantTornado.addNormTask(graph, grids, RmsNormQuantTornado.TASK_NORM, x, w, out, rows, d, eps);
        graph.transferToHost(DataTransferMode.EVERY_EXECUTION, out);
        TornadoExecutionPlan plan = Plans.plan(grids, graph.snapshot());
        try {
            plan.execute();
        } finally {
            Plans.close("norm test", plan);
        }
        float[] actual = new float[rows * d];
        HostCopies.copy("out", out, actual);
        assertBitExact("rmsnorm rows " + rows + " d " + d, expected, actual);
    }
}
