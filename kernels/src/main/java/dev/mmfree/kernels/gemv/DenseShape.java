package dev.mmfree.kernels.gemv;

import dev.mmfree.kernels.opencl.ClPrograms;
import dev.mmfree.runtime.DeviceInfo;
import dev.mmfree.runtime.MmfreeException;

/**
 * Work-group shapes of the dense kernels, compiled in as defines (see {@code gemv/dense_common.cl}).
 *
 * @param gemvWg GEMV work-group size (a power of two)
 * @param lpr    GEMV lanes per output row (a power of two <= 32 dividing gemvWg; gemvWg / lpr rows per group, even)
 * @param tm     GEMM activation rows per group at most (a launch may take fewer: a multiple of mt)
 * @param tn     GEMM output rows per group
 * @param tk     GEMM K step (a multiple of 8)
 * @param mt     GEMM activation rows per work-item (divides tm)
 * @param nt     GEMM output rows per work-item (even, divides tn)
 * @param ptx    NVIDIA's warp shuffles (inline PTX) for the GEMV row sums instead of local memory
 */
public record DenseShape(int gemvWg, int lpr, int tm, int tn, int tk, int mt, int nt, boolean ptx) {
    public DenseShape {
        if (Integer.bitCount(gemvWg) != 1 || gemvWg > 1024 || Integer.bitCount(lpr) != 1 || lpr > 32 || gemvWg % lpr != 0
                || gemvWg / lpr < 2) {
            throw new MmfreeException("dense shape: GEMV group " + gemvWg + " with " + lpr
                    + " lanes per row needs powers of two, lanes <= 32, at least 2 rows per group");
        }
        if (ptx && gemvWg % 32 != 0) {
            throw new MmfreeException("dense shape: the PTX path needs a GEMV group of whole warps, got " + gemvWg);
        }
        if (tk % 8 != 0 || nt % 2 != 0 || tm % mt != 0 || tn % nt != 0) {
            throw new MmfreeException("dense shape: GEMM tile " + tm + "x" + tn + "x" + tk + " per item " + mt + "x" + nt
                    + " needs tk % 8 == 0, even nt, mt | tm, nt | tn");
        }
        int wg = (tm / mt) * (tn / nt);
        if (wg > 1024 || (tn / nt) % mt != 0) {
            throw new MmfreeException("dense shape: GEMM group of " + wg + " items must be <= 1024, and tn / nt (" + tn / nt
                    + ") a multiple of mt " + mt);
        }
    }

    /**
     * Environment variable that sets the GEMV's work-group size and lanes per row, "256/16" (a tuning knob; the
     * lanes are the fewest a row gets, see {@link #gemvLanes}).
     */
    public static final String GEMV_ENV = "MMFREE_DENSE_GEMV";

    /**
     * GPU: 256-item GEMV groups from 8 lanes per row (32 rows per group), widened per matrix by {@link #gemvLanes}:
     * cold on the H200, 8 lanes were best for the wide matrices (gate|up, the head) and more for those with few
     * rows ({@code bench/results/nvidia-h200/2026-11-29/dense-gemv/README.md}); 64 x 64 GEMM tiles, K step 32,
     * 4 x 4 per item. CPU: smaller. {@value #GEMV_ENV} ("WG/LANES") overrides the GEMV's group and lanes.
     */
    public static DenseShape forDevice(DeviceInfo info) {
        DenseShape d = info.gpu() ? new DenseShape(256, 8, 64, 64, 32, 4, 4, ClPrograms.ptx(info)) : new DenseShape(64, 8, 16, 16, 8, 2, 2, false);
        String env = System.getenv(GEMV_ENV);
        return env == null || env.isBlank() ? d : d.withGemv(env.strip());
    }

    /** This shape with the GEMV group and lanes of "WG/LANES" (e.g. "256/16"). */
    public DenseShape withGemv(String wgSlashLanes) {
        String[] p = wgSlashLanes.split("/");
        try {
            if (p.length == 2) {
                return new DenseShape(Integer.parseInt(p[0]), Integer.parseInt(p[1]), tm, tn, tk, mt, nt, ptx);
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new MmfreeException(GEMV_ENV + ": '" + wgSlashLanes + "' is not WORKGROUP/LANES, e.g. 256/16");
    }

    public int gemvRowsPerGroup() {
        return gemvWg / lpr;
    }

    /**
     * Lanes per row for a GEMV of n rows on a device of {@code computeUnits}: this shape's lanes, doubled (up to
     * a warp, keeping two rows a group) while the groups would be fewer than the compute units. Wide matrices
     * keep few lanes and many rows a group (each group's copy of x serves more weights); narrow ones get the
     * lanes to occupy every compute unit. On the H200, cold, 8 lanes were best for gate|up and the head at every
     * size, and down_proj wanted 16 at the 2.7B shape (160 groups: 26.7 us against 32.1 at 32 lanes) but 32 at
     * 370M ({@code bench/results/nvidia-h200/2026-11-29/dense-gemv/README.md}).
     */
    public int gemvLanes(int n, int computeUnits) {
        int lanes = lpr;
        while (lanes < 32 && gemvWg / (2 * lanes) >= 2 && gemvGroups(n, lanes) < computeUnits) {
            lanes *= 2;
        }
        return lanes;
    }

    /** Work-groups of a GEMV of n rows at {@code lanes} per row. */
    public long gemvGroups(int n, int lanes) {
        int rows = gemvWg / lanes;
        return (n + rows - 1) / rows;
    }

    /** This shape with {@code lanes} GEMV lanes per row. */
    public DenseShape withLanes(int lanes) {
        return new DenseShape(gemvWg, lanes, tm, tn, tk, mt, nt, ptx);
    }

    /** GEMM work-items at the full tm; a launch with fewer rows uses rows / mt * (tn / nt). */
    public int gemmWg() {
        return (tm / mt) * (tn / nt);
    }

    /** Local memory of one GEMM group in bytes. */
    public long gemmLocalBytes() {
        return 4L * (tk * (tm + 1) + tk * (tn + 1) + gemmWg() + tm);
    }

    String options() {
        return " -DGEMV_WG=" + gemvWg + " -DLPR=" + lpr + " -DTM=" + tm + " -DTN=" + tn + " -DTK=" + tk + " -DMT=" + mt
                + " -DNT=" + nt + (ptx ? " -DMMFREE_PTX=1" : "");
    }

    @Override
    public String toString() {
        return "gemv " + gemvWg + "/" + lpr + ", gemm " + tm + "x" + tn + "x" + tk + "/" + mt + "x" + nt + (ptx ? " +ptx" : "");
    }
}
