package dev.mmfree.model;

import dev.mmfree.kernels.tornado.Devices;
import dev.mmfree.model.hgrn.HgrnBitTornado;
import dev.mmfree.model.hgrn.HgrnBitWeights;
import dev.mmfree.model.llama.LlamaWeights;
import dev.mmfree.runtime.MmfreeException;

import java.util.Optional;

/**
 * The TornadoVM backend ({@code --backend tornado}): HGRNBit on the kernels of module kernels/tornado,
 * on the device the opencl backend's selector picks ({@code -Dmmfree.opencl.device} or {@code MMFREE_OPENCL_DEVICE}). Optional: registered through
 * {@code META-INF/services/dev.mmfree.model.ModelBackend} of this module, never chosen by auto.
 *
 * <p>Available when the JVM runs the TornadoVM way: {@code java @$TORNADOVM_HOME/tornado-argfile} (which
 * puts TornadoVM's modules on the module path) with {@code -Dtornado.recover.bailout=False}, and
 * TornadoVM finds a device. {@code ./mmfree --backend tornado} starts it so. This class touches no
 * TornadoVM type until those checks pass, so it loads on any JVM. No Llama (no attention kernels here).
 */
public final class TornadoBackend implements ModelBackend {
    public static final String NAME = "tornado";
    /** System property: sequences open at once (state slots); default {@value #DEFAULT_MAX_BATCH}. */
    public static final String MAX_BATCH = "mmfree.tornado.maxBatch";
    /** System property: token rows per pass (b * t of a prefill chunk); default {@value #DEFAULT_MAX_ROWS}. */
    public static final String MAX_ROWS = "mmfree.tornado.maxRows";
    static final int DEFAULT_MAX_BATCH = 64;
    static final int DEFAULT_MAX_ROWS = 128;

    private static final String API_CLASS = "uk.ac.manchester.tornado.api.TornadoExecutionPlan";
    private static final String RUNTIME_PROPERTY = "tornado.load.runtime.implementation";
    private static final String BAILOUT_PROPERTY = "tornado.recover.bailout";
    private static final String HOW = "start the JVM with @$TORNADOVM_HOME/tornado-argfile -D" + BAILOUT_PROPERTY
            + "=False (./mmfree --backend tornado does; docs/tornadovm.md)";

    private Optional<String> reason;

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public synchronized Optional<String> unavailableReason() {
        if (reason == null) {
            reason = probe();
        }
        return reason;
    }

    private static Optional<String> probe() {
        try {
            Class.forName(API_CLASS, false, TornadoBackend.class.getClassLoader());
        } catch (ClassNotFoundException | LinkageError e) {
            return Optional.of("no TornadoVM runtime on the class path (" + API_CLASS + " not found): " + HOW);
        }
        if (System.getProperty(RUNTIME_PROPERTY) == null) {
            return Optional.of("the JVM was not started with TornadoVM's argfile (" + RUNTIME_PROPERTY + " is unset): " + HOW);
        }
        if (!"false".equalsIgnoreCase(System.getProperty(BAILOUT_PROPERTY))) {
            return Optional.of("TornadoVM's bailout is on (" + BAILOUT_PROPERTY + " is not False): a kernel that fails to compile"
                    + " would run as sequential Java, which these work-group kernels do not support; " + HOW);
        }
        try {
            Devices.chooseConfigured();
        } catch (MmfreeException e) {
            return Optional.of(e.getMessage());
        } catch (RuntimeException | LinkageError e) {
            return Optional.of("the TornadoVM runtime did not start: " + e);
        }
        return Optional.empty();
    }

    @Override
    public CausalLm hgrnBit(HgrnBitWeights w) {
        return HgrnBitTornado.load(w, new HgrnBitTornado.Capacity(intProperty(MAX_BATCH, DEFAULT_MAX_BATCH),
                intProperty(MAX_ROWS, DEFAULT_MAX_ROWS)));
    }

    @Override
    public CausalLm llama(LlamaWeights w) {
        throw new MmfreeException("backend tornado runs hgrn_bit models only, not llama (Transformer++): there are no"
                + " attention kernels on TornadoVM; use another backend (mmfree info lists them)");
    }

    private static int intProperty(String name, int fallback) {
        String v = System.getProperty(name);
        if (v == null || v.isBlank()) {
            return fallback;
        }
        try {
            return Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new MmfreeException("-D" + name + "=" + v + " is not an integer");
        }
    }
}
