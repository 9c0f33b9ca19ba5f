package dev.mmfree.runtime.opencl;

import dev.mmfree.runtime.DeviceException;
import org.jocl.CL;
import org.jocl.CLException;
import org.jocl.Pointer;
import org.jocl.Sizeof;
import org.jocl.cl_device_id;
import org.jocl.cl_platform_id;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * OpenCL discovery and device selection.
 *
 * <p>Devices are listed platform by platform, in the order the ICD loader reports them; the index
 * in that list is what an index selector means. A selector (the system property
 * {@value #DEVICE_PROPERTY}, set by a CLI flag, or the env {@value #DEVICE_ENV}) is an index, {@code gpu}
 * or {@code cpu} (the first of that type), or a
 * case-insensitive substring of "platform / device". Without one: the first GPU, else the first CPU.
 */
public final class OpenCl {
    public static final String DEVICE_ENV = "MMFREE_OPENCL_DEVICE";
    /** System property of the selector (a CLI flag sets it); it wins over {@value #DEVICE_ENV}. */
    public static final String DEVICE_PROPERTY = "mmfree.opencl.device";

    /** One device as discovery found it. */
    public record Candidate(int index, cl_platform_id platform, cl_device_id device, String platformName,
                            String deviceName, boolean gpu, boolean cpu) {
        public String name() {
            return platformName + " / " + deviceName;
        }

        /** The device's OpenCL version and extensions, as the driver reports them. */
        public String capabilities() {
            return deviceString(device, CL.CL_DEVICE_VERSION) + "; " + deviceString(device, CL.CL_DEVICE_EXTENSIONS).trim();
        }

        @Override
        public String toString() {
            return "#" + index + " " + name() + (gpu ? " [gpu]" : cpu ? " [cpu]" : "");
        }
    }

    /** Environment variable: "1" makes {@link #skipReason()} throw instead of returning a reason. */
    public static final String REQUIRE_ENV = "MMFREE_REQUIRE_OPENCL";

    private static List<Candidate> found;
    private static String unavailable;

    private OpenCl() {
    }

    /** Why OpenCL cannot be used here (no ICD loader, no platform, no device), or empty when it can. */
    public static synchronized Optional<String> unavailableReason() {
        discover();
        return Optional.ofNullable(unavailable);
    }

    /**
     * {@link #unavailableReason()} for code that may go without OpenCL (the test suites skip their OpenCL
     * classes on it), except where {@value #REQUIRE_ENV}=1: there no OpenCL is an error, so that a machine
     * that must run them (CI) cannot skip them unseen.
     *
     * @throws DeviceException where OpenCL is required and unavailable
     */
    public static Optional<String> skipReason() {
        Optional<String> why = unavailableReason();
        if (why.isPresent() && "1".equals(System.getenv(REQUIRE_ENV))) {
            throw new DeviceException(REQUIRE_ENV + "=1 but OpenCL is unavailable: " + why.get());
        }
        return why;
    }

    /** Every device of every platform, in selector-index order; empty when OpenCL is unavailable. */
    public static synchronized List<Candidate> devices() {
        discover();
        return found;
    }

    /** The selector the user configured ({@value #DEVICE_PROPERTY}, else {@value #DEVICE_ENV}), or null. */
    public static String configuredSelector() {
        String s = System.getProperty(DEVICE_PROPERTY);
        if (s == null || s.isBlank()) {
            s = System.getenv(DEVICE_ENV);
        }
        return s == null || s.isBlank() ? null : s.trim();
    }

    /** Opens the device the selector names (null or blank: the configured selector, else the default). */
    public static OpenClDevice open(String selector, boolean profiling) {
        return new OpenClDevice(select(selector), profiling);
    }

    public static Candidate select(String selector) {
        Optional<String> reason = unavailableReason();
        if (reason.isPresent()) {
            throw new DeviceException("OpenCL unavailable: " + reason.get());
        }
        String s = selector;
        if (s == null || s.isBlank()) {
            s = configuredSelector();
        }
        List<Candidate> all = devices();
        if (s == null || s.isBlank()) {
            return all.stream().filter(Candidate::gpu).findFirst()
                    .or(() -> all.stream().filter(Candidate::cpu).findFirst())
                    .orElse(all.getFirst());
        }
        String want = s.trim().toLowerCase(Locale.ROOT);
        if (want.chars().allMatch(Character::isDigit)) {
            int i = Integer.parseInt(want);
            if (i < all.size()) {
                return all.get(i);
            }
            throw new DeviceException("OpenCL device index " + i + " out of range; devices: " + all);
        }
        for (Candidate c : all) {
            boolean match = switch (want) {
                case "gpu" -> c.gpu();
                case "cpu" -> c.cpu();
                default -> (c.name() + " / " + platformString(c.platform(), CL.CL_PLATFORM_VENDOR))   // vendor: "The pocl project"
                        .toLowerCase(Locale.ROOT).contains(want);
            };
            if (match) {
                return c;
            }
        }
        throw new DeviceException("no OpenCL device matches '" + s + "'; devices: " + all);
    }

    private static void discover() {
        if (found != null) {
            return;
        }
        found = List.of();
        try {
            CL.setExceptionsEnabled(true);
            int[] n = new int[1];
            try {
                CL.clGetPlatformIDs(0, null, n);
            } catch (CLException e) {
                unavailable = "no OpenCL platform (clGetPlatformIDs: " + ClException.statusName(e.getStatus()) + ")";
                return;
            }
            if (n[0] == 0) {
                unavailable = "no OpenCL platform installed";
                return;
            }
            cl_platform_id[] platforms = new cl_platform_id[n[0]];
            CL.clGetPlatformIDs(n[0], platforms, null);
            List<Candidate> list = new ArrayList<>();
            for (cl_platform_id p : platforms) {
                String pName = platformString(p, CL.CL_PLATFORM_NAME);
                for (cl_device_id d : devicesOf(p)) {
                    long type = deviceLong(d, CL.CL_DEVICE_TYPE);
                    list.add(new Candidate(list.size(), p, d, pName, deviceString(d, CL.CL_DEVICE_NAME),
                            (type & CL.CL_DEVICE_TYPE_GPU) != 0, (type & CL.CL_DEVICE_TYPE_CPU) != 0));
                }
            }
            if (list.isEmpty()) {
                unavailable = "OpenCL platforms found but no devices";
            }
            found = List.copyOf(list);
        } catch (UnsatisfiedLinkError | NoClassDefFoundError e) {
            unavailable = "OpenCL library not loadable (no ICD loader?): " + e.getMessage();
        } catch (CLException e) {
            unavailable = "OpenCL discovery failed: " + ClException.statusName(e.getStatus());
        }
    }

    /** A platform's devices; a platform without devices answers CL_DEVICE_NOT_FOUND, which means none. */
    private static List<cl_device_id> devicesOf(cl_platform_id p) {
        int[] n = new int[1];
        try {
            CL.clGetDeviceIDs(p, CL.CL_DEVICE_TYPE_ALL, 0, null, n);
        } catch (CLException e) {
            if (e.getStatus() == CL.CL_DEVICE_NOT_FOUND) {
                return List.of();
            }
            throw e;
        }
        cl_device_id[] ids = new cl_device_id[n[0]];
        CL.clGetDeviceIDs(p, CL.CL_DEVICE_TYPE_ALL, n[0], ids, null);
        return List.of(ids);
    }

    static String platformString(cl_platform_id p, int param) {
        long[] size = new long[1];
        CL.clGetPlatformInfo(p, param, 0, null, size);
        byte[] b = new byte[(int) size[0]];
        CL.clGetPlatformInfo(p, param, b.length, Pointer.to(b), null);
        return cString(b);
    }

    static String deviceString(cl_device_id d, int param) {
        long[] size = new long[1];
        CL.clGetDeviceInfo(d, param, 0, null, size);
        byte[] b = new byte[(int) size[0]];
        CL.clGetDeviceInfo(d, param, b.length, Pointer.to(b), null);
        return cString(b);
    }

    static long deviceLong(cl_device_id d, int param) {
        long[] v = new long[1];
        CL.clGetDeviceInfo(d, param, Sizeof.cl_ulong, Pointer.to(v), null);
        return v[0];
    }

    static int deviceInt(cl_device_id d, int param) {
        int[] v = new int[1];
        CL.clGetDeviceInfo(d, param, Sizeof.cl_uint, Pointer.to(v), null);
        return v[0];
    }

    static long deviceSizeT(cl_device_id d, int param) {
        long[] v = new long[1];
        CL.clGetDeviceInfo(d, param, Sizeof.size_t, Pointer.to(v), null);
        return v[0];
    }

    private static String cString(byte[] b) {
        int n = 0;
        while (n < b.length && b[n] != 0) {
            n++;
        }
        return new String(b, 0, n, StandardCharsets.UTF_8).trim();
    }
}
