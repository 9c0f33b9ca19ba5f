package dev.mmfree.kernels.tornado;

import dev.mmfree.runtime.DeviceException;
import dev.mmfree.runtime.opencl.OpenCl;
import uk.ac.manchester.tornado.api.TornadoBackend;
import uk.ac.manchester.tornado.api.TornadoRuntime;
import uk.ac.manchester.tornado.api.common.TornadoDevice;
import uk.ac.manchester.tornado.api.enums.TornadoDeviceType;
import uk.ac.manchester.tornado.api.runtime.TornadoRuntimeProvider;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * TornadoVM's devices, and the choice among them by the selector the opencl backend also takes
 * ({@link OpenCl#configuredSelector()}: {@code -Dmmfree.opencl.device}, else {@code MMFREE_OPENCL_DEVICE}):
 * an index into TornadoVM's own list (the order of {@code tornado --devices}, platform by platform
 * as the OpenCL list), "gpu" or "cpu" (the first of that type), or a case-insensitive part of
 * "platform / device". Without a selector: the first GPU, else the first device.
 */
public final class Devices {
    private Devices() {
    }

    /** Every device of every TornadoVM backend, in TornadoVM's order; starts the TornadoVM runtime. */
    public static List<TornadoDevice> all() {
        TornadoRuntime runtime = TornadoRuntimeProvider.getTornadoRuntime();
        List<TornadoDevice> out = new ArrayList<>();
        for (int b = 0; b < runtime.getNumBackends(); b++) {
            TornadoBackend backend = runtime.getBackend(b);
            for (int k = 0; k < backend.getNumDevices(); k++) {
                out.add(backend.getDevice(k));
            }
        }
        return out;
    }

    /** "platform / device", as the selector matches it. */
    public static String describe(TornadoDevice device) {
        return device.getPlatformName().trim() + " / " + device.getPhysicalDevice().getDeviceName().trim();
    }

    /** The device the configured selector picks. */
    public static TornadoDevice chooseConfigured() {
        return choose(OpenCl.configuredSelector());
    }

    /** The device the selector picks (null or blank: the first GPU, else the first device). */
    public static TornadoDevice choose(String selector) {
        List<TornadoDevice> devices = all();
        if (devices.isEmpty()) {
            throw new DeviceException("TornadoVM found no device (tornado --devices lists none)");
        }
        if (selector == null || selector.isBlank()) {
            return devices.stream().filter(d -> d.getDeviceType() == TornadoDeviceType.GPU).findFirst().orElse(devices.get(0));
        }
        String s = selector.trim().toLowerCase(Locale.ROOT);
        if (s.chars().allMatch(Character::isDigit)) {
            int index = Integer.parseInt(s);
            if (index < devices.size()) {
                return devices.get(index);
            }
        } else if (s.equals("gpu") || s.equals("cpu")) {
            TornadoDeviceType type = s.equals("gpu") ? TornadoDeviceType.GPU : TornadoDeviceType.CPU;
            for (TornadoDevice d : devices) {
                if (d.getDeviceType() == type) {
                    return d;
                }
            }
        } else {
            for (TornadoDevice d : devices) {
                if (describe(d).toLowerCase(Locale.ROOT).contains(s)) {
                    return d;
                }
            }
        }
        List<String> names = new ArrayList<>();
        for (int k = 0; k < devices.size(); k++) {
            names.add(k + ": " + describe(devices.get(k)) + " (" + devices.get(k).getDeviceType() + ")");
        }
        throw new DeviceException("device selector '" + selector + "' matches no TornadoVM device; devices: " + String.join("; ", names));
    }
}
