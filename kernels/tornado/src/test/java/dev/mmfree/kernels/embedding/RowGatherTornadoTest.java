package dev.mmfree.kernels.embedding;

import dev.mmfree.kernels.tornado.Grids;
import dev.mmfree.kernels.tornado.HostCopies;
import dev.mmfree.kernels.tornado.Plans;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import uk.ac.manchester.tornado.api.GridScheduler;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.enums.DataTransferMode;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.IntArray;

import java.util.Random;

import static dev.mmfree.kernels.tornado.TornadoTesting.assertBitExact;
import static dev.mmfree.kernels.tornado.TornadoTesting.floats;
import static dev.mmfree.kernels.tornado.TornadoTesting.requireTornado;

/**
 * RowGatherTornado against a plain copy, bit-exact, with the grid shrunk for a second call: rows past
 * the launched ones must keep the poison value they were given.
 */
class RowGatherTornadoTest {
    static final float POISON = -12345.5f;

    @BeforeEach
    void tornado() {
        requireTornado();
    }

    @ParameterizedTest(name = "n={0} d={1} rows={2}")
    @CsvSource({"1, 1, 1", "7, 5, 3", "300, 129, 9", "50, 1024, 2"})
    void gatheredRowsAreExactCopies(int n, int d, int rows) {
        Random rnd = new Random(17L * n + d + rows);
        float[] tableHost = floats(rnd, n * d, 1f);   // [n, d]
        FloatArray table = FloatArray.fromArray(tableHost);
        IntArray index = new IntArray(rows);           // [rows]
        FloatArray out = new FloatArray(rows * d);     // [rows, d]
        GridScheduler grids = new GridScheduler();
        TaskGraph graph = new TaskGraph("gather")
                .transferToDevice(DataTransferMode.FIRST_EXECUTION, table)
                .transferToDevice(DataTransferMode.EVERY_EXECUTION, index, out);
        RowGatherTornado.addTask(graph, grids, RowGatherTornado.TASK, table, index, out, rows, d);
        graph.transferToHost(DataTransferMode.EVERY_EXECUTION, out);
        TornadoExecutionPlan plan = Plans.plan(grids, graph.snapshot());
        try {
            for (int launched : new int[] {rows, Math.max(1, rows / 2)}) {
                int[] idx = new int[rows];
                for (int r = 0; r < rows; r++) {
                    idx[r] = rnd.nextInt(n);
                    index.set(r, idx[r]);
                }
                out.init(POISON);
                Grids.resize(grids.get("gather." + RowGatherTornado.TASK), launched);
                plan.execute();
                float[] expected = new float[rows * d];
                java.util.Arrays.fill(expected, POISON);
                for (int r = 0; r < launched; r++) {
                    System.arraycopy(tableHost, idx[r] * d, expected, r * d, d);
                }
                float[] got = new float[rows * d];
                HostCopies.copy("gather out", out, got);
                assertBitExact("gather n " + n + " d " + d + " rows " + launched + " of " + rows, expected, got);
            }
        } finally {
            Plans.close("gather", plan);
        }
    }
}
