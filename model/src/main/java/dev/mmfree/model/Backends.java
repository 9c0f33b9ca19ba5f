package dev.mmfree.model;

import dev.mmfree.runtime.MmfreeException;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;
import java.util.Set;

/**
 * The registry of model backends, and the automatic choice among them.
 *
 * <p>The built-in backends come first; optional ones (the TornadoVM backend, whose module only the
 * {@code -Ptornado} build makes) are found with {@link ServiceLoader} from
 * {@code META-INF/services/dev.mmfree.model.ModelBackend} on the class path. Names stay unique: a
 * discovered backend whose name is taken is ignored with a warning, and so is one that fails to load.
 *
 * <p>{@link #auto()} prefers opencl, then cpu, then reference, and takes the first whose
 * {@link ModelBackend#unavailableReason()} is empty (the opencl backend reports itself unavailable
 * without a GPU). Each skipped backend is logged once with its reason; an explicitly named backend
 * that is unavailable is an error, never a silent fallback.
 */
public final class Backends {
    private static final System.Logger LOG = System.getLogger(Backends.class.getName());

    /** The built-in backends; add one line per backend (optional ones register through ServiceLoader). */
    private static final List<ModelBackend> ALL = List.of(
            new ReferenceBackend(),
            new CpuBackend(),
            new OpenClBackend());

    /** The built-ins, then the discovered backends. */
    private static final List<ModelBackend> REGISTERED = withDiscovered(ALL);

    /** The order {@link #auto()} tries; names not registered are skipped (a discovered backend is never picked by auto). */
    private static final List<String> PREFERENCE = List.of("opencl", "cpu", ReferenceBackend.NAME);

    private Backends() {
    }

    private static List<ModelBackend> withDiscovered(List<ModelBackend> builtIn) {
        List<ModelBackend> all = new ArrayList<>(builtIn);
        Set<String> names = new HashSet<>(Set.of("auto"));
        builtIn.forEach(b -> names.add(b.name()));
        Iterator<ModelBackend> providers = ServiceLoader.load(ModelBackend.class, Backends.class.getClassLoader()).iterator();
        while (hasNext(providers)) {
            ModelBackend b;
            try {
                b = providers.next();
            } catch (ServiceConfigurationError e) {
                LOG.log(System.Logger.Level.WARNING, "backends: a discovered backend failed to load, ignored: {0}", e.getMessage());
                continue;
            }
            if (!names.add(b.name())) {
                LOG.log(System.Logger.Level.WARNING, "backends: {0} is named ''{1}'', which is taken; ignored",
                        b.getClass().getName(), b.name());
                continue;
            }
            all.add(b);
        }
        return List.copyOf(all);
    }

    /** False at the end, or when the service files cannot be read (logged: discovery then stops). */
    private static boolean hasNext(Iterator<ModelBackend> providers) {
        try {
            return providers.hasNext();
        } catch (ServiceConfigurationError e) {
            LOG.log(System.Logger.Level.WARNING, "backends: discovery stopped: {0}", e.getMessage());
            return false;
        }
    }

    /** Every registered backend: the built-ins, then those discovered. */
    public static List<ModelBackend> all() {
        return REGISTERED;
    }

    public static List<String> names() {
        return REGISTERED.stream().map(ModelBackend::name).toList();
    }

    /** The backend of that name, whether or not it is available here. */
    public static ModelBackend byName(String name) {
        for (ModelBackend b : REGISTERED) {
            if (b.name().equals(name)) {
                return b;
            }
        }
        throw new MmfreeException("unknown backend '" + name + "'; known: " + String.join(", ", names()) + " (or auto)");
    }

    /** The preferred available backend, logging why each earlier one was skipped. */
    public static ModelBackend auto() {
        List<String> skipped = new ArrayList<>();
        for (String name : PREFERENCE) {
            Optional<ModelBackend> b = REGISTERED.stream().filter(x -> x.name().equals(name)).findFirst();
            if (b.isEmpty()) {
                continue;
            }
            Optional<String> why = b.get().unavailableReason();
            if (why.isEmpty()) {
                LOG.log(System.Logger.Level.INFO, "backend auto: using {0}", name);
                return b.get();
            }
            LOG.log(System.Logger.Level.INFO, "backend auto: skipping {0}: {1}", name, why.get());
            skipped.add(name + " (" + why.get() + ")");
        }
        throw new MmfreeException("no backend available: " + String.join("; ", skipped));
    }

    /**
     * "auto" or a backend name, resolved to a backend that can run here.
     *
     * @throws MmfreeException for an unknown name, or a named backend that is unavailable (with its reason)
     */
    public static ModelBackend resolve(String name) {
        if (name.equals("auto")) {
            return auto();
        }
        ModelBackend b = byName(name);
        Optional<String> why = b.unavailableReason();
        if (why.isPresent()) {
            throw new MmfreeException("backend '" + name + "' is not available: " + why.get());
        }
        return b;
    }
}
