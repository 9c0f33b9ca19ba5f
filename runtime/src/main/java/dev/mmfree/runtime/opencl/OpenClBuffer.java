package dev.mmfree.runtime.opencl;

import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.MemoryCategory;
import org.jocl.CL;
import org.jocl.cl_mem;

/** A cl_mem and its ledger entry (none for a slice, {@link OpenClDevice#slice}). */
final class OpenClBuffer implements DeviceBuffer {
    private final OpenClDevice owner;
    final cl_mem mem;
    private final long bytes;
    private final MemoryCategory category;
    private final String role;
    private final boolean counted;
    private boolean closed;

    OpenClBuffer(OpenClDevice owner, cl_mem mem, long bytes, MemoryCategory category, String role) {
        this(owner, mem, bytes, category, role, true);
    }

    /** @param counted whether the bytes are in the device's ledger (false for a slice of another buffer) */
    OpenClBuffer(OpenClDevice owner, cl_mem mem, long bytes, MemoryCategory category, String role, boolean counted) {
        this.owner = owner;
        this.mem = mem;
        this.bytes = bytes;
        this.category = category;
        this.role = role;
        this.counted = counted;
    }

    boolean counted() {
        return counted;
    }

    @Override
    public long bytes() {
        return bytes;
    }

    @Override
    public MemoryCategory category() {
        return category;
    }

    @Override
    public String role() {
        return role;
    }

    boolean isClosed() {
        return closed;
    }

    OpenClDevice owner() {
        return owner;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        Cl.run("clReleaseMemObject", role, () -> CL.clReleaseMemObject(mem));
        owner.released(this);
    }

    @Override
    public String toString() {
        return role + " (" + category + ", " + bytes + " bytes)";
    }
}
