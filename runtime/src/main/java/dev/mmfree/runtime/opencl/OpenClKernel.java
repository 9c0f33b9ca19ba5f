package dev.mmfree.runtime.opencl;

import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.DeviceException;
import dev.mmfree.runtime.DeviceKernel;
import org.jocl.CL;
import org.jocl.Pointer;
import org.jocl.Sizeof;
import org.jocl.cl_kernel;

/** A cl_kernel; argument setters go straight to clSetKernelArg. */
final class OpenClKernel implements DeviceKernel {
    private final OpenClDevice owner;
    final cl_kernel kernel;
    private final String name;
    private boolean closed;

    OpenClKernel(OpenClDevice owner, cl_kernel kernel, String name) {
        this.owner = owner;
        this.kernel = kernel;
        this.name = name;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public DeviceKernel arg(int index, DeviceBuffer buffer) {
        if (!(buffer instanceof OpenClBuffer b) || b.owner() != owner) {
            throw new DeviceException(name + ": argument " + index + " is not a buffer of this device: " + buffer);
        }
        if (b.isClosed()) {
            throw new DeviceException(name + ": argument " + index + " is a closed buffer: " + buffer);
        }
        Cl.run("clSetKernelArg", name + " arg " + index + " = " + b.role(),
                () -> CL.clSetKernelArg(kernel, index, Sizeof.cl_mem, Pointer.to(b.mem)));
        return this;
    }

    @Override
    public DeviceKernel arg(int index, int value) {
        Cl.run("clSetKernelArg", name + " arg " + index + " = int " + value,
                () -> CL.clSetKernelArg(kernel, index, Sizeof.cl_int, Pointer.to(new int[]{value})));
        return this;
    }

    @Override
    public DeviceKernel arg(int index, float value) {
        Cl.run("clSetKernelArg", name + " arg " + index + " = float " + value,
                () -> CL.clSetKernelArg(kernel, index, Sizeof.cl_float, Pointer.to(new float[]{value})));
        return this;
    }

    @Override
    public DeviceKernel arg(int index, double value) {
        Cl.run("clSetKernelArg", name + " arg " + index + " = double " + value,
                () -> CL.clSetKernelArg(kernel, index, Sizeof.cl_double, Pointer.to(new double[]{value})));
        return this;
    }

    @Override
    public DeviceKernel argLocal(int index, long bytes) {
        Cl.run("clSetKernelArg", name + " arg " + index + " = local " + bytes + " bytes",
                () -> CL.clSetKernelArg(kernel, index, bytes, null));
        return this;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        Cl.run("clReleaseKernel", name, () -> CL.clReleaseKernel(kernel));
        owner.released(this);
    }
}
