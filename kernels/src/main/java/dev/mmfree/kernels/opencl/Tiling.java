package dev.mmfree.kernels.opencl;

import dev.mmfree.runtime.DeviceInfo;
import dev.mmfree.runtime.MmfreeException;

import java.util.Locale;

/**
 * Work-group shape of the mmfree OpenCL kernels, compiled in as defines (see {@code opencl/common.cl}).
 *
 * @param rows   output rows per ternary work-group (a power of two dividing the layout's row tile, 64)
 * @param slices input slices per ternary work-group (a power of two); the work-group is rows * slices
 * @param tokens activation rows a GEMM work-item accumulates at once
 * @param ptx    NVIDIA's inline-PTX dp4a and warp shuffles instead of the portable C
 */
public record Tiling(int rows, int slices, int tokens, boolean ptx) {
    /** Env override of the shape, {@code ROWSxSLICESxTOKENS}, e.g. {@code 32x8x8}. */
    public static final String TILING_ENV = "MMFREE_OPENCL_TILING";
    /** Env switch of the PTX path on NVIDIA: {@code 0} turns it off. */
    public static final String PTX_ENV = "MMFREE_OPENCL_PTX";

    public Tiling {
        if (rows < 1 || rows > 64 || Integer.bitCount(rows) != 1) {
            throw new MmfreeException("tiling: rows must be a power of two <= 64, got " + rows);
        }
        if (slices < 1 || Integer.bitCount(slices) != 1) {
            throw new MmfreeException("tiling: slices must be a power of two, got " + slices);
        }
        if (tokens < 1 || tokens > 32) {
            throw new MmfreeException("tiling: tokens must be in 1..32, got " + tokens);
        }
        if (ptx && ((rows * slices) % 32 != 0 || rows * slices > 1024)) {
            throw new MmfreeException("tiling: the PTX path needs a work-group of 32..1024 in warps of 32, got "
                    + rows + " x " + slices);
        }
    }

    /** Work-items per ternary work-group. */
    public int workGroup() {
        return rows * slices;
    }

    /**
     * The default for a device: 32 rows x 8 slices x 8 tokens on a GPU (a warp reads 512 contiguous
     * bytes), 16 x 4 x 4 on a CPU; PTX on NVIDIA unless {@value #PTX_ENV}=0; {@value #TILING_ENV} overrides the shape.
     */
    public static Tiling forDevice(DeviceInfo info) {
        boolean nvidia = info.vendor().toLowerCase(Locale.ROOT).contains("nvidia");
        boolean ptx = nvidia && !"0".equals(System.getenv(PTX_ENV));
        String env = System.getenv(TILING_ENV);
        if (env != null && !env.isBlank()) {
            return parse(env, ptx);
        }
        return info.gpu() ? new Tiling(32, 8, 8, ptx) : new Tiling(16, 4, 4, ptx);
    }

    /** Env override of {@link #narrowForDevice}'s shape, {@code ROWSxSLICESxTOKENS}. */
    public static final String NARROW_ENV = "MMFREE_OPENCL_TILING_NARROW";
    /** Env override of {@link #decodeForDevice}'s shape, {@code ROWSxSLICESxTOKENS}. */
    public static final String DECODE_ENV = "MMFREE_OPENCL_TILING_DECODE";

    /**
     * Batch-1 decode kernels with d outputs (i|f|g with 3 rows a work-item, o_proj, down_proj): 32 x 8
     * on a GPU, so that d = 2560 makes 80 work-groups, each repeating the input side once (measured
     * against 16 x 16 and 16 x 8 on the H200: bench/results/nvidia-h200/); the default shape elsewhere.
     * {@value #NARROW_ENV} overrides.
     */
    public static Tiling narrowForDevice(DeviceInfo info) {
        return decodeShape(info, NARROW_ENV, new Tiling(32, 8, 8, forDevice(info).ptx()));
    }

    /**
     * Batch-1 decode kernels with wide outputs (gate|up, lm_head): 64 x 4 on a GPU (fewer work-groups
     * repeating the input side: lm_head 17 against 23 us at 32 x 8 on the H200); the default shape
     * elsewhere. {@value #DECODE_ENV} overrides.
     */
    public static Tiling decodeForDevice(DeviceInfo info) {
        return decodeShape(info, DECODE_ENV, new Tiling(64, 4, 8, forDevice(info).ptx()));
    }

    private static Tiling decodeShape(DeviceInfo info, String env, Tiling gpu) {
        Tiling def = forDevice(info);
        String spec = System.getenv(env);
        if (spec != null && !spec.isBlank()) {
            return parse(spec, def.ptx());
        }
        return info.gpu() ? gpu : def;
    }

    /** Env override of {@link #swiGluForDevice}'s shape, {@code ROWSxSLICESxTOKENS}. */
    public static final String SWIGLU_ENV = "MMFREE_OPENCL_TILING_SWIGLU";

    /**
     * SwiGLU + quantize of the GEMM path (one work-group a row of 2I, so a batch of 64 is 64 work-groups):
     * 1024 work-items (64 x 16) on a GPU, 14.4 against 21.3 us at 256 for 64 rows of the 2.7B shape on
     * the H200 (the norm-quantize of d-wide rows was slower at 1024: {@link #normQuantForDevice}); the
     * default shape elsewhere. {@value #SWIGLU_ENV} overrides.
     */
    public static Tiling swiGluForDevice(DeviceInfo info) {
        return decodeShape(info, SWIGLU_ENV, new Tiling(64, 16, 8, forDevice(info).ptx()));
    }

    /** Env override of {@link #normQuantForDevice}'s shape, {@code ROWSxSLICESxTOKENS}. */
    public static final String NORM_QUANT_ENV = "MMFREE_OPENCL_TILING_NORMQUANT";

    /**
     * Norm-quantize of the GEMM path's d-wide inputs (one work-group a row, so a batch of 64 is 64
     * work-groups): 512 work-items (64 x 8) on a GPU. 2.7B batch-64 decode on the H200 read
     * 19,753-19,790 tokens/s against 19,045-19,457 at 256 (alternating, two machines), 19,032 at 128
     * (bench/results/nvidia-h200/2026-11-28/pipeline/rowtile/); 1024 was slower before. The default
     * shape elsewhere. {@value #NORM_QUANT_ENV} overrides.
     */
    public static Tiling normQuantForDevice(DeviceInfo info) {
        return decodeShape(info, NORM_QUANT_ENV, new Tiling(64, 8, 8, forDevice(info).ptx()));
    }

    /** {@code ROWSxSLICESxTOKENS}. */
    public static Tiling parse(String spec, boolean ptx) {
        String[] p = spec.trim().toLowerCase(Locale.ROOT).split("x");
        try {
            if (p.length != 3) {
                throw new NumberFormatException();
            }
            return new Tiling(Integer.parseInt(p[0]), Integer.parseInt(p[1]), Integer.parseInt(p[2]), ptx);
        } catch (NumberFormatException e) {
            throw new MmfreeException("tiling: expected ROWSxSLICESxTOKENS like 32x8x8, got '" + spec + "'");
        }
    }

    /**
     * OpenCL build options carrying this shape. Single-precision division and sqrt must be correctly
     * rounded, as in Java: NVIDIA's default (2.5 ulp division) moved the quantizer's scale by an ulp on
     * the H200 and so flipped int8 codes at rounding boundaries (hgrn-tiny-a at 6.5e-3 rel L2 against
     * golden instead of 2e-7; bench/results/nvidia-h200/2026-11-28/README.md).
     */
    public String options() {
        return "-cl-std=CL1.2 -cl-fp32-correctly-rounded-divide-sqrt -DROWS=" + rows + " -DSLICES=" + slices + " -DTOKENS=" + tokens + (ptx ? " -DMMFREE_PTX=1" : "");
    }

    @Override
    public String toString() {
        return rows + "x" + slices + "x" + tokens + (ptx ? "+ptx" : "");
    }
}
