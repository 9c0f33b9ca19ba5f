package dev.mmfree.runtime.opencl;

import org.jocl.CLException;

import java.util.function.Supplier;

/** Wraps JOCL calls so a failure becomes a {@link ClException} naming the call and its context. */
final class Cl {
    private Cl() {
    }

    static <T> T call(String call, String context, Supplier<T> body) {
        try {
            return body.get();
        } catch (CLException e) {
            throw new ClException(call, e.getStatus(), context, e);
        }
    }

    static void run(String call, String context, Runnable body) {
        try {
            body.run();
        } catch (CLException e) {
            throw new ClException(call, e.getStatus(), context, e);
        }
    }
}
