package dev.mmfree.kernels.tornado;

import dev.mmfree.runtime.DeviceException;
import uk.ac.manchester.tornado.api.GridScheduler;
import uk.ac.manchester.tornado.api.ImmutableTaskGraph;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.enums.TornadoVMBackendType;
import uk.ac.manchester.tornado.api.exceptions.TornadoExecutionPlanException;

/** Execution plans as this backend builds them: explicit grids, IEEE float arithmetic, closed with a clear error. */
public final class Plans {
    /**
     * OpenCL build options for every kernel here. TornadoVM's default ({@code -cl-mad-enable
     * -cl-fast-relaxed-math}) lets the compiler approximate division, sqrt and exp, which changes
     * int8 codes against the reference; these keep float ops IEEE and divisions correctly rounded.
     */
    public static final String OPENCL_FLAGS = "-cl-fp32-correctly-rounded-divide-sqrt -w";

    private Plans() {
    }

    public static TornadoExecutionPlan plan(GridScheduler grids, ImmutableTaskGraph... graphs) {
        TornadoExecutionPlan plan = new TornadoExecutionPlan(graphs);
        plan.withGridScheduler(grids).withCompilerFlags(TornadoVMBackendType.OPENCL, OPENCL_FLAGS);
        return plan;
    }

    /**
     * Closes a plan, freeing the device buffers of all its graphs ({@code what} names the owner in the
     * error). TornadoVM frees only the graphs selected last ({@code withGraph}), so all are selected
     * first. Each graph frees the arrays it names in a transfer (persistOnDevice is one): an array
     * handed on by consumeFromDevice must be persisted by its first graph only, or it is freed twice.
     */
    public static void close(String what, TornadoExecutionPlan plan) {
        try {
            plan.withAllGraphs().close();
        } catch (TornadoExecutionPlanException e) {
            throw new DeviceException(what + ": closing the TornadoVM plan failed: " + e.getMessage(), e);
        }
    }
}
