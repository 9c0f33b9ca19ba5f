package dev.mmfree.kernels.bitlinear;

import dev.mmfree.kernels.opencl.Tiling;
import dev.mmfree.runtime.MmfreeException;

import java.util.Locale;
import java.util.Optional;

/**
 * Work-group shape of the tensor-core ternary GEMM ({@code bitlinear/bitlinear_mma_t2_i8_f32.cl}): a
 * work-group is {@code warps} warps, each computing {@code mTiles} x 16 weight rows by {@code nTiles} x 8
 * tokens with {@code mma.sync.m16n8k32} int8.
 *
 * @param warps  warps a work-group
 * @param mTiles 16-row tiles a warp
 * @param nTiles 8-token tiles a warp (every warp of a group takes the same tokens)
 */
public record MmaShape(int warps, int mTiles, int nTiles) {
    /** Env switch: {@code 0} keeps the dp4a GEMM on NVIDIA; {@code WARPSxMTxNT} picks another shape. */
    public static final String ENV = "MMFREE_OPENCL_MMA";
    /** The shape taken on NVIDIA unless {@value #ENV} says otherwise (measured: bench/results/nvidia-h200/). */
    public static final MmaShape DEFAULT = new MmaShape(4, 1, 4);

    public MmaShape {
        if (warps < 1 || mTiles < 1 || nTiles < 1 || nTiles > 8 || 16 * mTiles * warps > TernaryDeviceLayout.ROW_TILE
                || TernaryDeviceLayout.ROW_TILE % (16 * mTiles * warps) != 0) {
            throw new MmfreeException("mma shape " + warps + "x" + mTiles + "x" + nTiles
                    + ": 16 * mTiles * warps must divide " + TernaryDeviceLayout.ROW_TILE + " and nTiles be in 1..8");
        }
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
        return 32 * warps;
    }

    /**
     * The shape for a device with this tiling: none without NVIDIA's inline PTX (the kernel is
     * mma.sync), none when {@value #ENV}=0, else {@value #ENV}'s shape or {@link #DEFAULT}.
     */
    public static Optional<MmaShape> forTiling(Tiling tiling) {
        if (!tiling.ptx()) {
            return Optional.empty();
        }
        String env = System.getenv(ENV);
        if (env == null || env.isBlank()) {
            return Optional.of(DEFAULT);
        }
        return env.trim().equals("0") ? Optional.empty() : Optional.of(parse(env));
    }

    /** {@code WARPSxMTxNT}, e.g. {@code 4x1x4}. */
    public static MmaShape parse(String spec) {
        String[] p = spec.trim().toLowerCase(Locale.ROOT).split("x");
        try {
            if (p.length != 3) {
                throw new NumberFormatException();
            }
            return new MmaShape(Integer.parseInt(p[0]), Integer.parseInt(p[1]), Integer.parseInt(p[2]));
        } catch (NumberFormatException e) {
            throw new MmfreeException("mma shape: expected WARPSxMTxNT like 4x1x4, got '" + spec + "'");
        }
    }

    /** The kernel's defines, as source text. */
    String defines() {
        return "#define MMA_WARPS " + warps + "\n#define MMA_MT " + mTiles + "\n#define MMA_NT " + nTiles + "\n";
    }

    @Override
    public String toString() {
        return warps + "x" + mTiles + "x" + nTiles;
    }
}
