package dev.mmfree.kernels.embedding;

import dev.mmfree.kernels.tornado.Grids;
import uk.ac.manchester.tornado.api.GridScheduler;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.IntArray;

/**
 * Row gather as a TornadoVM kernel: the embedding lookup, and picking the rows the LM head needs.
 *
 * <pre>
 *   out[r, :] = table[index[r], :]
 * </pre>
 * table: [n, d] float; index: [rows] int; out: [rows, d] float. One work-group of {@link #GROUP}
 * threads per output row, copying its d values strided. Exact (a copy); checked by {@code RowGatherTornadoTest}.
 * Test: {@code source tornado.env && ./mvnw -q -o -Ptornado -pl kernels/tornado -am verify -Dtest=RowGatherTornadoTest}.
 */
public final class RowGatherTornado {
    public static final String TASK = "gather_rows_f32";
    /** Threads per work-group (a power of two). */
    public static final int GROUP = 128;

    private RowGatherTornado() {
    }

    public static void gatherRows(KernelContext ctx, FloatArray table, IntArray index, FloatArray out, int d) {
        int r = ctx.groupIdx;
        int src = index.get(r) * d;
        int dst = r * d;
        for (int j = ctx.localIdx; j < d; j += GROUP) {
            out.set(dst + j, table.get(src + j));
        }
    }

    /** Adds task {@code task} for {@code rows} rows of width d (the grid can be resized per call, {@link Grids#resize}). */
    public static TaskGraph addTask(TaskGraph graph, GridScheduler grids, String task, FloatArray table, IntArray index,
                                    FloatArray out, int rows, int d) {
        graph.task(task, RowGatherTornado::gatherRows, new KernelContext(), table, index, out, d);
        Grids.groups(grids, graph, task, rows, GROUP);
        return graph;
    }
}
