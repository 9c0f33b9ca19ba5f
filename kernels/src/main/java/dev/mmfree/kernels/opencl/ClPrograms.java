package dev.mmfree.kernels.opencl;

import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceException;
import dev.mmfree.runtime.DeviceInfo;
import dev.mmfree.runtime.DeviceProgram;
import dev.mmfree.runtime.MmfreeException;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Locale;

/**
 * Loads kernel sources from {@code dev/mmfree/kernels/<family>/<name>.cl} and builds them after the
 * shared header {@code opencl/common.cl}, with a {@link Tiling}'s defines.
 */
public final class ClPrograms {
    private static final String ROOT = "/dev/mmfree/kernels/";

    private ClPrograms() {
    }

    /** The text of a resource under the kernels root, e.g. {@code bitlinear/bitlinear_t2_i8_f32.cl}. */
    public static String resource(String path) {
        try (InputStream in = ClPrograms.class.getResourceAsStream(ROOT + path)) {
            if (in == null) {
                throw new MmfreeException("kernel source " + ROOT + path + " not on the classpath");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new MmfreeException("kernel source " + ROOT + path + ": " + e.getMessage(), e);
        }
    }

    /** Builds clocks.cl and common.cl followed by the given sources as one program. */
    public static DeviceProgram build(Device device, Tiling tiling, String... paths) {
        StringBuilder src = new StringBuilder(prelude());
        for (String p : paths) {
            src.append("\n// ---- ").append(p).append('\n').append(resource(p));
        }
        return device.build(String.join("+", paths), src.toString(), tiling.options());
    }

    /** Builds clocks.cl and common.cl followed by the given source texts as one program (label names it in errors and the cache). */
    public static DeviceProgram buildText(Device device, Tiling tiling, String label, String... texts) {
        StringBuilder src = new StringBuilder(prelude());
        for (String t : texts) {
            src.append('\n').append(t);
        }
        return device.build(label, src.toString(), tiling.options());
    }

    /** What every ternary program starts with: the trace clocks (opencl/clocks.cl) and opencl/common.cl. */
    private static String prelude() {
        return resource("opencl/clocks.cl") + "\n" + resource("opencl/common.cl");
    }

    /** Whether the device is an NVIDIA GPU, whose OpenCL compiles inline PTX ({@code asm}). */
    public static boolean ptx(DeviceInfo info) {
        return info.gpu() && info.vendor().toLowerCase(Locale.ROOT).contains("nvidia");
    }

    /** Fails when a kernel's local memory would exceed the device's. */
    public static void checkLocal(Device device, String kernel, long bytes) {
        long have = device.info().localMemBytes();
        if (bytes > have) {
            throw new DeviceException(kernel + ": needs " + bytes + " bytes of local memory, device " + device.info().name()
                    + " has " + have);
        }
    }

    public static long roundUp(long n, long to) {
        return (n + to - 1) / to * to;
    }
}
