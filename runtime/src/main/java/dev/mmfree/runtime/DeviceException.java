package dev.mmfree.runtime;

/** A device or driver call failed: the message names the call, the status and the sizes involved. */
public class DeviceException extends MmfreeException {
    public DeviceException(String message) {
        super(message);
    }

    public DeviceException(String message, Throwable cause) {
        super(message, cause);
    }
}
