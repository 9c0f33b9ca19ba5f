package dev.mmfree.runtime.opencl;

import dev.mmfree.runtime.DeviceEvent;
import org.jocl.CL;
import org.jocl.Pointer;
import org.jocl.Sizeof;
import org.jocl.cl_event;

/** A cl_event of a command on a profiling queue. */
final class OpenClEvent implements DeviceEvent {
    private final cl_event event;
    private final String what;
    private boolean closed;

    OpenClEvent(cl_event event, String what) {
        this.event = event;
        this.what = what;
    }

    @Override
    public long elapsedNanos() {
        Cl.run("clWaitForEvents", what, () -> CL.clWaitForEvents(1, new cl_event[]{event}));
        long[] start = new long[1];
        long[] end = new long[1];
        Cl.run("clGetEventProfilingInfo", what, () -> {
            CL.clGetEventProfilingInfo(event, CL.CL_PROFILING_COMMAND_START, Sizeof.cl_ulong, Pointer.to(start), null);
            CL.clGetEventProfilingInfo(event, CL.CL_PROFILING_COMMAND_END, Sizeof.cl_ulong, Pointer.to(end), null);
        });
        return end[0] - start[0];
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            Cl.run("clReleaseEvent", what, () -> CL.clReleaseEvent(event));
        }
    }
}
