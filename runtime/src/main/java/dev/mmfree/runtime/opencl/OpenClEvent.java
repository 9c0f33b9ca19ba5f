package dev.mmfree.runtime.opencl;

import dev.mmfree.runtime.DeviceEvent;
import dev.mmfree.runtime.DeviceException;
import org.jocl.CL;
import org.jocl.Pointer;
import org.jocl.Sizeof;
import org.jocl.cl_event;

/** A cl_event of an enqueued command; its timer works on a profiling queue only. */
final class OpenClEvent implements DeviceEvent {
    private final cl_event event;
    private final String what;
    private boolean closed;

    OpenClEvent(cl_event event, String what) {
        this.event = event;
        this.what = what;
    }

    @Override
    public void await() {
        if (closed) {
            throw new DeviceException(what + ": the event is closed");
        }
        Cl.run("clWaitForEvents", what, () -> CL.clWaitForEvents(1, new cl_event[]{event}));
    }

    @Override
    public long startNanos() {
        return profilingInfo(CL.CL_PROFILING_COMMAND_START);
    }

    @Override
    public long endNanos() {
        return profilingInfo(CL.CL_PROFILING_COMMAND_END);
    }

    private long profilingInfo(int which) {
        await();
        long[] value = new long[1];
        Cl.run("clGetEventProfilingInfo", what,
                () -> CL.clGetEventProfilingInfo(event, which, Sizeof.cl_ulong, Pointer.to(value), null));
        return value[0];
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            Cl.run("clReleaseEvent", what, () -> CL.clReleaseEvent(event));
        }
    }
}
