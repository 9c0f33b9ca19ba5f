package dev.mmfree.model;

import dev.mmfree.runtime.MmfreeException;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The registry of model backends, and the automatic choice among them.
 *
 * <p>{@link #auto()} prefers opencl, then cpu, then reference, and takes the first whose
 * {@link ModelBackend#unavailableReason()} is empty (the opencl backend reports itself unavailable
 * without a GPU). Each skipped backend is logged once with its reason; an explicitly named backend
 * that is unavailable is an error, never a silent fallback.
 */
public final class Backends {
    private static final System.Logger LOG = System.getLogger(Backends.class.getName());

    /** Every backend of this build; add one line per backend. */
    private static final List<ModelBackend> ALL = List.of(
            new ReferenceBackend(),
            new OpenClBackend());

    /** The order {@link #auto()} tries; names not registered are skipped. */
    private static final List<String> PREFERENCE = List.of("opencl", "cpu", ReferenceBackend.NAME);

    private Backends() {
    }

    public static List<ModelBackend> all() {
        return ALL;
    }

    public static List<String> names() {
        return ALL.stream().map(ModelBackend::name).toList();
    }

    /** The backend of that name, whether or not it is available here. */
    public static ModelBackend byName(String name) {
        for (ModelBackend b : ALL) {
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
            Optional<ModelBackend> b = ALL.stream().filter(x -> x.name().equals(name)).findFirst();
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
