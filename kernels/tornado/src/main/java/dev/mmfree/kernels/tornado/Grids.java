package dev.mmfree.kernels.tornado;

import uk.ac.manchester.tornado.api.GridScheduler;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.WorkerGrid;
import uk.ac.manchester.tornado.api.WorkerGrid1D;

/**
 * Explicit launch grids: every kernel here runs as whole work-groups of a fixed, power-of-two size.
 * TornadoVM reads a task's grid at every launch, so a grid may be resized between executions (fewer
 * rows this call) without recompiling the kernel; the buffers must have been sized for the largest.
 */
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

    /** The number of work-groups a grid made by {@link #groups} launches now. */
    public static int groupCount(WorkerGrid grid) {
        return (int) (grid.getGlobalWork()[0] / grid.getLocalWork()[0]);
    }

    /** Launches {@code groups} work-groups of the grid's group size from the next execution on. */
    public static void resize(WorkerGrid grid, int groups) {
        long groupSize = grid.getLocalWork()[0];
        long global = groups * groupSize;
        if (groups <= 0 || global > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("grid: " + groups + " groups of " + groupSize + " threads is out of range");
        }
        grid.setGlobalWork(global, 1, 1);
        grid.setLocalWork(groupSize, 1, 1);   // recomputes the group count TornadoVM keeps beside the sizes
    }
}
