package dev.mmfree.kernels.attention;

import dev.mmfree.kernels.gemv.Storage;
import dev.mmfree.kernels.opencl.ClPrograms;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.DeviceKernel;
import dev.mmfree.runtime.DeviceProgram;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.MmfreeException;

/**
 * Causal grouped-query attention over a KV cache on OpenCL (decode and prefill alike), split over the
 * context flash-decoding style, and the cache's growth copy. Sources {@code attention/attention_common.cl} and
 * {@code attention.cl}:
 * {@code attention_<kv>_f32} (scores, online softmax, weighted values per split),
 * {@code attention_combine_f32} (merges the splits), {@code kv_cache_copy_u32}.
 *
 * <p>Cache layout: keys and values each [b, cap, KV * hd] in the {@link Storage} type; queries and
 * outputs [rows, H * hd] float32; meta [pos0, tps, rows, S] int (row r is sequence r / tps at position
 * pos0 + r % tps, S the number of splits). Tests: {@code ./mvnw -o -pl kernels -am test
 * -Dtest=AttentionOpenClTest}; GPU timing in {@code GemvOpenClBench}.
 */
public final class AttentionOpenCl implements AutoCloseable {
    public static final String COMBINE = "attention_combine_f32";
    public static final String COPY = "kv_cache_copy_u32";
    /** Environment variable that overrides {@link Shape#forDevice}: "WG/BLOCK/MIN_SHARE". */
    public static final String ENV = "MMFREE_ATTENTION";

    /**
     * @param wg       work-group size (a power of two >= hd)
     * @param block    positions per block held in local memory
     * @param minShare fewest positions a split takes: shorter contexts run in one split, one launch
     */
    public record Shape(int wg, int block, int minShare) {
        public Shape {
            if (Integer.bitCount(wg) != 1 || wg > 1024 || block < 2 || minShare < 1) {
                throw new MmfreeException("attention shape: work-group " + wg + " (a power of two <= 1024), block " + block
                        + " (>= 2), min share " + minShare + " (>= 1)");
            }
        }

        /** The device's default, or {@value #ENV} ("WG/BLOCK/MIN_SHARE", e.g. 128/256/64) where set. */
        public static Shape forDevice(boolean gpu) {
            String env = System.getenv(ENV);
            return env == null || env.isBlank() ? (gpu ? new Shape(128, 256, 256) : new Shape(64, 64, 64)) : parse(env.strip());
        }

        /** "WG/BLOCK/MIN_SHARE". */
        public static Shape parse(String text) {
            String[] p = text.split("/");
            try {
                if (p.length == 3) {
                    return new Shape(Integer.parseInt(p[0]), Integer.parseInt(p[1]), Integer.parseInt(p[2]));
                }
            } catch (NumberFormatException e) {
                // reported below
            }
            throw new MmfreeException(ENV + ": '" + text + "' is not WORKGROUP/BLOCK/MIN_SHARE, e.g. 128/256/64");
        }
    }

    private final Device device;
    private final Storage storage;
    private final Shape shape;
    private final int hd;
    private final int group;
    private final DeviceProgram program;

    /**
     * @param hd    head dim
     * @param group query heads per key/value head (H / KV)
     */
    public AttentionOpenCl(Device device, Storage storage, int hd, int group, Shape shape) {
        if (hd > shape.wg()) {
            throw new MmfreeException("attention: head dim " + hd + " > work-group " + shape.wg());
        }
        this.device = device;
        this.storage = storage;
        this.shape = shape;
        this.hd = hd;
        this.group = group;
        ClPrograms.checkLocal(device, kernelName(), 4L * group * (hd + shape.block() + shape.wg()));
        String options = "-cl-std=CL1.2 -DHD=" + hd + " -DG=" + group + " -DAWG=" + shape.wg() + " -DCH=" + shape.block()
                + " -DKSUF=" + storage.suffix() + (storage == Storage.F16 ? " -DKV_F16" : "")
                + (ClPrograms.ptx(device.info()) ? " -DMMFREE_PTX=1" : "");
        this.program = device.build("attention " + storage.suffix() + " hd " + hd + " g " + group,
                source(), options);
    }

    /** The kernels' source: opencl/half8.cl, attention_common.cl (the math, shared with the dense decode layer), attention.cl. */
    public static String source() {
        return String.join("\n", ClPrograms.resource("opencl/half8.cl"), ClPrograms.resource("attention/attention_common.cl"),
                ClPrograms.resource("attention/attention.cl"));
    }

    public String kernelName() {
        return "attention_" + storage.suffix() + "_f32";
    }

    public Shape shape() {
        return shape;
    }

    /** Target groups in flight: two per compute unit. */
    private int targetGroups() {
        return 2 * Math.max(1, device.info().computeUnits());
    }

    /**
     * How many splits a call with {@code rows} query rows over up to {@code positions} keys uses: one when
     * the context is at most {@link Shape#minShare}, else enough for about two groups per compute unit,
     * no split shorter than minShare.
     */
    public int splits(int rows, int kvHeads, int positions) {
        if (positions <= shape.minShare()) {
            return 1;
        }
        long want = (targetGroups() + (long) rows * kvHeads - 1) / ((long) rows * kvHeads);
        long most = (positions + shape.minShare() - 1) / shape.minShare();
        return (int) Math.max(1, Math.min(want, most));
    }

    /** Bytes of the split results for up to {@code rows} rows under {@link #splits}: rows * S <= rows + target / KV. */
    public long partialBytes(int rows, int heads, int kvHeads) {
        long splitRows = rows + (targetGroups() + kvHeads - 1) / kvHeads;
        return 4L * splitRows * heads * (hd + 2);
    }

    /**
     * Bound attention for one layer.
     *
     * @param q    [rows, H*hd] f32
     * @param out  [rows, H*hd] f32
     * @param part split results, {@link #partialBytes} bytes
     */
    public Op op(DeviceBuffer q, DeviceBuffer kc, DeviceBuffer vc, DeviceBuffer meta, int kvHeads, int cap,
                 DeviceBuffer out, DeviceBuffer part) {
        return new Op(q, kc, vc, meta, kvHeads, cap, out, part);
    }

    /** Copies the first {@code positions} positions of each of {@code seqs} sequences into a cache of larger capacity. */
    public Launch copy(DeviceBuffer src, int srcCap, DeviceBuffer dst, int dstCap, int seqs, int kvWidth, int positions) {
        if (positions > srcCap || srcCap > dstCap) {
            throw new MmfreeException(COPY + ": positions " + positions + ", capacities " + srcCap + " -> " + dstCap);
        }
        int words = kvWidth * storage.bytes() / 4;
        long need = 4L * words * seqs;
        if (src.bytes() < need * srcCap || dst.bytes() < need * dstCap) {
            throw new MmfreeException(COPY + ": caches " + src.role() + " / " + dst.role() + " smaller than " + seqs + " x cap x " + words + " words");
        }
        DeviceKernel k = program.kernel(COPY).args(src, dst, words, srcCap, dstCap, positions);
        return new Launch(k, new long[]{ClPrograms.roundUp(Math.max(1L, (long) positions * words), 256), seqs}, new long[]{256, 1});
    }

    /** One layer's attention; arguments stay set between launches. */
    public final class Op implements AutoCloseable {
        private final DeviceKernel attend;
        private final DeviceKernel combine;
        private final int kvHeads;
        private final DeviceBuffer q;
        private final DeviceBuffer out;
        private final DeviceBuffer part;

        private Op(DeviceBuffer q, DeviceBuffer kc, DeviceBuffer vc, DeviceBuffer meta, int kvHeads, int cap,
                   DeviceBuffer out, DeviceBuffer part) {
            this.kvHeads = kvHeads;
            this.q = q;
            this.out = out;
            this.part = part;
            float scale = (float) (1.0 / Math.sqrt(hd));
            attend = program.kernel(kernelName()).args(q, kc, vc, meta, kvHeads, cap, scale, out, part);
            combine = program.kernel(COMBINE).args(part, meta, kvHeads * group, out);
        }

        /** Points the op at a (re-allocated) cache. */
        public void cache(DeviceBuffer kc, DeviceBuffer vc, int cap) {
            attend.arg(1, kc).arg(2, vc).arg(5, cap);
        }

        /** The split pass for {@code rows} rows in {@code splits} splits; meta[3] must hold the same splits. */
        public Launch attend(int rows, int splits) {
            long width = 4L * rows * kvHeads * group * hd;
            if (q.bytes() < width || out.bytes() < width) {
                throw new MmfreeException(kernelName() + ": q " + q.role() + " or out " + out.role() + " smaller than " + rows + " rows");
            }
            if (splits > 1 && part.bytes() < width / hd * (hd + 2) * splits) {
                throw new MmfreeException(kernelName() + ": split buffer " + part.role() + " too small for " + rows + " rows x " + splits + " splits");
            }
            return new Launch(attend, new long[]{(long) splits * shape.wg(), kvHeads, rows}, new long[]{shape.wg(), 1, 1});
        }

        /** Merges the splits (only when splits > 1). */
        public Launch combine(int rows) {
            return new Launch(combine, new long[]{ClPrograms.roundUp(hd, 32), (long) kvHeads * group, rows}, new long[]{32, 1, 1});
        }

        @Override
        public void close() {
            attend.close();
            combine.close();
        }
    }

    @Override
    public void close() {
        program.close();
    }
}
