package dev.mmfree.kernels.tornado;

import uk.ac.manchester.tornado.api.GridScheduler;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.WorkerGrid1D;

/** Explicit launch grids: every kernel here runs as whole work-groups of a fixed, power-of-two size. */
public final class Grids {
    private Grids() {
    }

    /** Registers {@code groups} work-groups of {@code groupSize} threads for task {@code task} of {@code graph}. */
    public static void groups(GridScheduler grids, TaskGraph graph, String task, int groups, int groupSize) {
        long global = (long) groups * groupSize;
        if (groups <= 0 || global > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(graph.getTaskGraphName() + "." + task + ": " + groups + " groups of "
                    + groupSize + " threads is out of range");
        }
        WorkerGrid1D grid = new WorkerGrid1D((int) global);
        grid.setLocalWork(groupSize, 1, 1);
        grids.addWorkerGrid(graph.getTaskGraphName() + "." + task, grid);
    }
}
