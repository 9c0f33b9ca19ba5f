package dev.mmfree.runtime.opencl;

import dev.mmfree.runtime.DeviceKernel;
import dev.mmfree.runtime.DeviceProgram;
import org.jocl.CL;
import org.jocl.cl_program;

/** A built cl_program. */
final class OpenClProgram implements DeviceProgram {
    private final OpenClDevice owner;
    final cl_program program;
    private final String label;
    private final boolean fromCache;
    private boolean closed;

    OpenClProgram(OpenClDevice owner, cl_program program, String label, boolean fromCache) {
        this.owner = owner;
        this.program = program;
        this.label = label;
        this.fromCache = fromCache;
    }

    @Override
    public String label() {
        return label;
    }

    /** True when the binary came from the program cache rather than a compile. */
    boolean fromCache() {
        return fromCache;
    }

    @Override
    public DeviceKernel kernel(String name) {
        return owner.createKernel(this, name);
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            Cl.run("clReleaseProgram", label, () -> CL.clReleaseProgram(program));
            owner.released(this);
        }
    }
}
