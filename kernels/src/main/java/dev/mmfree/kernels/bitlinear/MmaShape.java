package dev.mmfree.kernels.bitlinear;

import dev.mmfree.kernels.opencl.Tiling;
import dev.mmfree.runtime.MmfreeException;

import java.util.Locale;
import java.util.Optional;

/**
 * Work-group shape of the tensor-core ternary GEMM ({@code bitlinear/bitlinear_mma_t2_i8_f32.cl}): a
 * work-group is {@code warps} x {@code kSplit} warps, each computing {@code mTiles} x 16 weight rows by
 * {@code nTiles} x 8 tokens over a {@code 1 / kSplit} run of the input with {@code mma.sync.m16n8k32} int8.
 *
 * @param warps  warps a work-group along the rows
 * @param mTiles 16-row tiles a warp
 * @param nTiles 8-token tiles a warp (every warp of a group takes the same tokens)
 * @param kSplit warps along the input, their sums added in local memory
 */
public record MmaShape(int warps, int mTiles, int nTiles, int kSplit) {
    /**
     * Env switch: {@code 0} keeps the dp4a GEMM on NVIDIA; {@code WIDE} or {@code WIDE,NARROW} (each
     * {@code WARPSxMTxNT[xKSPLIT]}) pick other shapes.
     */
    public static final String ENV = "MMFREE_OPENCL_MMA";
    /**
     * GEMMs with fewer stacked rows than this (o_proj and down_proj at 2.7B: 2560) take the narrow
     * shape, whose smaller work-groups give more of them to fill the device.
     */
    public static final int NARROW_ROWS = 4096;
    /** The shape of wide GEMMs on NVIDIA unless {@value #ENV} says otherwise (measured: bench/results/nvidia-h200/). */
    public static final MmaShape DEFAULT = new MmaShape(1, 4, 4, 2);
    /** The shape of narrow GEMMs (fewer than {@value #NARROW_ROWS} rows). */
    public static final MmaShape NARROW_DEFAULT = new MmaShape(1, 2, 2, 4);

    /** The shapes a GEMM takes by its rows. */
    public record Choice(MmaShape wide, MmaShape narrow) {
        public MmaShape pick(int rowsPad) {
            return rowsPad < NARROW_ROWS ? narrow : wide;
        }

        /** The same shape for every GEMM. */
        public static Choice of(MmaShape shape) {
            return new Choice(shape, shape);
        }

        @Override
        public String toString() {
            return wide.equals(narrow) ? wide.toString() : wide + "/" + narrow;
        }
    }

    public MmaShape {
        if (warps < 1 || mTiles < 1 || nTiles < 1 || nTiles > 8 || 16 * mTiles * warps > TernaryDeviceLayout.ROW_TILE
                || TernaryDeviceLayout.ROW_TILE % (16 * mTiles * warps) != 0 || kSplit < 1 || warps * kSplit > 32) {
            throw new MmfreeException("mma shape " + warps + "x" + mTiles + "x" + nTiles + "x" + kSplit
                    + ": 16 * mTiles * warps must divide " + TernaryDeviceLayout.ROW_TILE
                    + ", nTiles be in 1..8 and warps * kSplit at most 32");
        }
    }

    /** Without a split of the input. */
    public MmaShape(int warps, int mTiles, int nTiles) {
        this(warps, mTiles, nTiles, 1);
    }

    /** Weight rows a work-group. */
    public int rows() {
        return 16 * mTiles * warps;
    }

    /** Tokens a work-group. */
    public int tokens() {
        return 8 * nTiles;
    }

    public int workGroup() {
        return 32 * warps * kSplit;
    }

    /** Local memory bytes of the input split's sums. */
    public long localBytes() {
        return 4L * (kSplit - 1) * warps * mTiles * nTiles * 4 * 32;
    }

    /**
     * The shapes for a device with this tiling: none without NVIDIA's inline PTX (the kernel is
     * mma.sync), none when {@value #ENV}=0, else {@value #ENV}'s shapes or {@link #DEFAULT} and
     * {@link #NARROW_DEFAULT}.
     */
    public static Optional<Choice> forTiling(Tiling tiling) {
        if (!tiling.ptx()) {
            return Optional.empty();
        }
        String env = System.getenv(ENV);
        if (env == null || env.isBlank()) {
            return Optional.of(new Choice(DEFAULT, NARROW_DEFAULT));
        }
        if (env.trim().equals("0")) {
            return Optional.empty();
        }
        String[] both = env.split(",");
        if (both.length > 2) {
            throw new MmfreeException(ENV + ": expected 0, WIDE or WIDE,NARROW (each WARPSxMTxNT[xKSPLIT]), got '" + env + "'");
        }
        MmaShape wide = parse(both[0]);
        return Optional.of(new Choice(wide, both.length == 2 ? parse(both[1]) : wide));
    }

    /** {@code WARPSxMTxNT} or {@code WARPSxMTxNTxKSPLIT}, e.g. {@code 2x2x2} or {@code 2x2x2x4}. */
    public static MmaShape parse(String spec) {
        String[] p = spec.trim().toLowerCase(Locale.ROOT).split("x");
        try {
            if (p.length != 3 && p.length != 4) {
                throw new NumberFormatException();
            }
            return new MmaShape(Integer.parseInt(p[0]), Integer.parseInt(p[1]), Integer.parseInt(p[2]),
                    p.length == 4 ? Integer.parseInt(p[3]) : 1);
        } catch (NumberFormatException e) {
            throw new MmfreeException("mma shape: expected WARPSxMTxNT[xKSPLIT] like 2x2x2x4, got '" + spec + "'");
        }
    }

    /** The kernel's defines, as source text. */
    String defines() {
        return "#define MMA_WARPS " + warps + "\n#define MMA_MT " + mTiles + "\n#define MMA_NT " + nTiles
                + "\n#define MMA_KSPLIT " + kSplit + "\n";
    }

    @Override
    public String toString() {
        return warps + "x" + mTiles + "x" + nTiles + (kSplit > 1 ? "x" + kSplit : "");
    }
}
