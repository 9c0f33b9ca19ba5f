package dev.mmfree.runtime.opencl;

import dev.mmfree.runtime.DeviceException;

/** An OpenCL call failed: the message names the call, the CL status and what it was working on. */
public final class ClException extends DeviceException {
    private final int status;

    public ClException(String call, int status, String context, Throwable cause) {
        super(call + " failed with " + statusName(status) + (context.isEmpty() ? "" : " (" + context + ")"), cause);
        this.status = status;
    }

    /** The OpenCL status code (CL_OUT_OF_RESOURCES is -5, ...). */
    public int status() {
        return status;
    }

    static String statusName(int status) {
        try {
            return org.jocl.CL.stringFor_errorCode(status);
        } catch (Throwable e) {
            return "status " + status;
        }
    }
}
