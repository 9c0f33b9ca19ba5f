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
 * recurrence sequential. {@value #ENV} picks one; by default ({@code auto}) a launch takes the token kernel when
 * its sequences times channels are fewer than {@value #AUTO_TOKENS_BELOW}, where one work-item a channel leaves most
 * of a GPU idle. On the H200 with 512-token prefills the token kernel was 13-26% faster at 370M batch 1 (1,024
 * channels), 8-39% at 2.7B batch 1 (2,560), and 8.5% slower at 370M batch 64 (65,536); the cut between is not
 * measured ({@code bench/results/nvidia-h200/2026-11-30/scan-tokens/}). Tests: {@code MlgruOpenClTest}.
 */
public final class MlgruOpenCl implements AutoCloseable {
    public static final String SCAN = "mlgru_scan_f32";
    public static final String SCAN_TOKENS = "mlgru_scan_tokens_f32";
    public static final String ENV = "MMFREE_OPENCL_SCAN";
    /** {@value #SCAN_TOKENS}'s work-group: channels by tokens (SCAN_CH and SCAN_TOK in its source). */
    static final int CHANNELS = 16;
    static final int TOKENS = 16;
    /** {@link ScanPath#AUTO}: the token kernel below this many (sequence, channel) pairs a launch. */
    public static final int AUTO_TOKENS_BELOW = 32768;

    /** Which kernel runs the prefill's recurrence. */
    public enum ScanPath {
        /** {@link #TOKENS} below {@value #AUTO_TOKENS_BELOW} (sequence, channel) pairs a launch, else {@link #CHANNELS}. */
        AUTO,
        /** {@value #SCAN}: a work-item a (sequence, channel), the tokens in turn. */
        CHANNELS,
        /** {@value #SCAN_TOKENS}: a work-item a (token, channel) of a block of tokens. */
        TOKENS;

        /** {@value #ENV}: {@code auto} (or unset), {@code channels} or {@code tokens}. */
        public static ScanPath fromEnv() {
            return parse(System.getenv(ENV));
        }

        static ScanPath parse(String value) {
            if (value == null || value.isBlank() || value.strip().equalsIgnoreCase("auto")) {
                return AUTO;
            }
            if (value.strip().equalsIgnoreCase("channels")) {
                return CHANNELS;
            }
            if (value.strip().equalsIgnoreCase("tokens")) {
                return TOKENS;
            }
            throw new MmfreeException("env " + ENV + " must be auto, channels or tokens, got '" + value + "'");
        }

        /** The kernel this path runs for b sequences of d channels: {@link #CHANNELS} or {@link #TOKENS}. */
        public ScanPath resolve(int b, int d) {
            if (this != AUTO) {
                return this;
            }
            return (long) b * d < AUTO_TOKENS_BELOW ? TOKENS : CHANNELS;
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
        if (path.resolve(b, d) == ScanPath.TOKENS) {
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
