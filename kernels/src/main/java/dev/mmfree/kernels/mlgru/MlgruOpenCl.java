package dev.mmfree.kernels.mlgru;

import dev.mmfree.kernels.bitlinear.DeviceTernaryMatrix;
import dev.mmfree.kernels.opencl.ClPrograms;
import dev.mmfree.kernels.opencl.Tiling;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.DeviceProgram;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.MmfreeException;

/**
 * The MLGRU on OpenCL ({@link MlgruReference} is the math): the recurrence over t tokens per (sequence,
 * channel), for prefill; it writes the gate multiplier silu(state_t) that {@code rms_norm_quant_f32_i8}
 * applies with g_norm and o_proj's norm next. A batched decode step runs inside that norm-quantize instead
 * ({@code RmsNormQuantOpenCl#mlgruNormQuant}), and a batch-1 step in the epilogue of i|f|g's GEMV
 * ({@code BitLinearDecodeOpenCl#mlgruStep}). States are double-buffered (stateIn and stateOut must differ).
 *
 * <p>Two kernels compute the same bits ({@link ScanPath}): {@value #SCAN}, one work-item a channel that loads its
 * inputs eight tokens ahead, and {@value #SCAN_TOKENS}, which spreads each token's sigmoids and silus over a
 * work-group of {@value #TOKENS} tokens by {@value #CHANNELS} channels and leaves only the multiply-add of the
 * recurrence sequential. {@value #ENV} picks one (default {@code channels}; {@code tokens} is not yet measured
 * on a GPU). Tests: {@code MlgruOpenClTest}.
 */
public final class MlgruOpenCl implements AutoCloseable {
    public static final String SCAN = "mlgru_scan_f32";
    public static final String SCAN_TOKENS = "mlgru_scan_tokens_f32";
    public static final String ENV = "MMFREE_OPENCL_SCAN";
    /** {@value #SCAN_TOKENS}'s work-group: channels by tokens (SCAN_CH and SCAN_TOK in its source). */
    static final int CHANNELS = 16;
    static final int TOKENS = 16;

    /** Which kernel runs the prefill's recurrence. */
    public enum ScanPath {
        /** {@value #SCAN}: a work-item a (sequence, channel), the tokens in turn. */
        CHANNELS,
        /** {@value #SCAN_TOKENS}: a work-item a (token, channel) of a block of tokens. */
        TOKENS;

        /** {@value #ENV}: {@code channels} (or unset) or {@code tokens}. */
        public static ScanPath fromEnv() {
            return parse(System.getenv(ENV));
        }

        static ScanPath parse(String value) {
            if (value == null || value.isBlank() || value.strip().equalsIgnoreCase("channels")) {
                return CHANNELS;
            }
            if (value.strip().equalsIgnoreCase("tokens")) {
                return TOKENS;
            }
            throw new MmfreeException("env " + ENV + " must be channels or tokens, got '" + value + "'");
        }
    }

    private final DeviceProgram scan;
    private final ScanPath path;

    /** The path {@value #ENV} asks for. */
    public MlgruOpenCl(Device device, Tiling tiling) {
        this(device, tiling, ScanPath.fromEnv());
    }

    public MlgruOpenCl(Device device, Tiling tiling, ScanPath path) {
        this.path = path;
        this.scan = ClPrograms.build(device, tiling, "mlgru/" + SCAN + ".cl");
    }

    public ScanPath path() {
        return path;
    }

    /**
     * @param ifg      [b][t][3d] f32: i, fPre, g
     * @param lb       [d] the layer's lower bound
     * @param stateIn  [b][d], stateOut [b][d] (distinct)
     * @param gate     [b][t][d] f32 out: silu(state) after each token
     */
    public Launch scan(DeviceBuffer ifg, DeviceBuffer lb, DeviceBuffer stateIn, DeviceBuffer stateOut, DeviceBuffer gate,
                       int d, int t, int b) {
        if (stateIn == stateOut) {
            throw new MmfreeException(SCAN + ": stateIn and stateOut must be distinct buffers");
        }
        need(ifg, 12L * b * t * d, "ifg");
        need(gate, 4L * b * t * d, "gate");
        need(stateIn, 4L * b * d, "stateIn");
        need(stateOut, 4L * b * d, "stateOut");
        if (path == ScanPath.TOKENS) {
            var k = scan.kernel(SCAN_TOKENS).args(ifg, lb, stateIn, stateOut, gate, d, t);
            return new Launch(k, new long[]{ClPrograms.roundUp(d, CHANNELS), (long) b * TOKENS}, new long[]{CHANNELS, TOKENS});
        }
        var k = scan.kernel(SCAN).args(ifg, lb, stateIn, stateOut, gate, d, t);
        return new Launch(k, new long[]{ClPrograms.roundUp(d, 64), b}, new long[]{64, 1});
    }

    private static void need(DeviceBuffer b, long bytes, String what) {
        if (b.bytes() < bytes) {
            throw new MmfreeException("mlgru: buffer " + what + " (" + b.role() + ") has " + b.bytes() + " bytes, needs " + bytes);
        }
    }

    @Override
    public void close() {
        scan.close();
    }
}
