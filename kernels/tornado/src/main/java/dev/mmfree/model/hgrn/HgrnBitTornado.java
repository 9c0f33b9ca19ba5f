package dev.mmfree.model.hgrn;

import dev.mmfree.kernels.bitlinear.BitLinearTornado;
import dev.mmfree.kernels.embedding.RowGatherTornado;
import dev.mmfree.kernels.hgrnblock.HgrnBitBlocksTornado;
import dev.mmfree.kernels.hgrnblock.HgrnBitBlocksTornado.Activations;
import dev.mmfree.kernels.hgrnblock.HgrnBitBlocksTornado.DeviceLayer;
import dev.mmfree.kernels.mlgru.MlgruScanTornado;
import dev.mmfree.kernels.rmsnormquant.RmsNormQuantReference;
import dev.mmfree.kernels.rmsnormquant.RmsNormQuantTornado;
import dev.mmfree.kernels.tornado.Devices;
import dev.mmfree.kernels.tornado.Grids;
import dev.mmfree.kernels.tornado.HostCopies;
import dev.mmfree.kernels.tornado.Plans;
import dev.mmfree.model.CausalLm;
import dev.mmfree.model.ModelInfo;
import dev.mmfree.model.TokenChecks;
import dev.mmfree.model.TornadoBackend;
import dev.mmfree.model.config.HgrnBitConfig;
import dev.mmfree.runtime.MemoryCategory;
import dev.mmfree.runtime.MemoryLedger;
import dev.mmfree.runtime.MmfreeException;
import uk.ac.manchester.tornado.api.DataRange;
import uk.ac.manchester.tornado.api.GridScheduler;
import uk.ac.manchester.tornado.api.ImmutableTaskGraph;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.TornadoExecutionResult;
import uk.ac.manchester.tornado.api.WorkerGrid;
import uk.ac.manchester.tornado.api.common.TornadoDevice;
import uk.ac.manchester.tornado.api.enums.DataTransferMode;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.IntArray;
import uk.ac.manchester.tornado.api.types.arrays.TornadoNativeArray;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * HGRNBit on TornadoVM: one execution plan of L + 1 task graphs, "layer0" .. "layer{L-1}" and "head",
 * run in that order for each chunk of tokens.
 * <pre>
 *   ids ─ embed (gather E rows) ─ x ─ layer0 ─ x ─ ... ─ layer{L-1} ─ x ─┐        (HgrnBitBlocksTornado's task flow)
 *   head: x ─ head_rows (the rows whose logits are wanted) ─ final_norm ─ head_quant ─ lm_head ─ logits ─ host
 * </pre>
 * Weights (embeddings, packed ternary codes, norms, lower bounds) go to the device on the first
 * execution only. Each layer's MLGRU states live on the device in a pool of {@code maxBatch} slots;
 * a batch holds slots from newBatch to close, and a new sequence's slot is zeroed by the scan kernel
 * on its first token. The activations are one set for all graphs, handed on by
 * {@code persistOnDevice} / {@code consumeFromDevice}; the host sends only token ids, the sequence map
 * and the head's row list, and reads back only the logit rows asked for (a partial copy).
 *
 * <p>Prefill is not token by token: all b * t token rows of a chunk go through every BitLinear, norm
 * and SwiGLU at once, and the recurrence runs as a scan over time ({@link MlgruScanTornado}: one
 * work-group per sequence walks its tokens in order). A chunk holds at most {@code maxRows} rows, so
 * a prompt of t tokens takes ceil(t / floor(maxRows / b)) passes; decode (t = 1) is one pass of b rows.
 * Grids are resized per pass (TornadoVM reads them at every launch), so kernels compile once.
 *
 * <p>Memory: the ledger counts the TornadoVM arrays this class allocates (with their 16-byte headers,
 * as the device buffers hold them): WEIGHTS the weights above, STATE the whole slot pool (allocated at
 * load, whatever the open batches use), WORKSPACE the activations, ids, maps and the logits buffer.
 * TornadoVM's {@code getCurrentDeviceMemoryUsage} is not used: per graph it reports only its latest
 * allocation step (about 50 KB against the 281 KB counted here for hgrn-tiny-a at 4 x 16).
 * Float32 only; Tested by {@code HgrnBitTornadoFixtureTest} against the golden logits.
 */
public final class HgrnBitTornado implements CausalLm {
    public static final String HEAD_GRAPH = "head";
    public static final String EMBED = "embed";
    public static final String HEAD_ROWS = "head_rows";
    public static final String FINAL_NORM = "final_norm";
    public static final String HEAD_QUANT = "head_quant";
    public static final String LM_HEAD = "lm_head";

    /**
     * How much one execution takes: {@code maxBatch} sequences open at once (the state slots) and
     * {@code maxRows} token rows per pass (b * t of a chunk); buffers are sized for these at load.
     */
    public record Capacity(int maxBatch, int maxRows) {
        public Capacity {
            if (maxBatch < 1 || maxRows < maxBatch) {
                throw new MmfreeException("tornado capacity: maxBatch " + maxBatch + " must be >= 1 and maxRows " + maxRows
                        + " >= maxBatch");
            }
        }
    }

    /** A task's grid and how many work-groups it launches per unit (token row, sequence or head row). */
    private record Sized(WorkerGrid grid, int groupsPerUnit) {
        void resize(int units) {
            Grids.resize(grid, groupsPerUnit * units);
        }
    }

    private final HgrnBitConfig c;
    private final Capacity cap;
    private final ModelInfo info;
    private final String deviceName;
    private final MemoryLedger memory = new MemoryLedger();
    private final long[] held = new long[MemoryCategory.values().length];
    private final Activations a;
    private final IntArray ids;          // [maxRows] token id of each row
    private final IntArray headIndex;    // [maxRows] the rows of x whose logits are computed
    private final FloatArray logits;     // [maxRows, V]
    private final boolean[] slotInUse;   // [maxBatch]
    private final List<Sized> rowGrids = new ArrayList<>();
    private final List<Sized> seqGrids = new ArrayList<>();
    private final List<Sized> headGrids = new ArrayList<>();
    private final TornadoExecutionPlan plan;
    private boolean closed;

    /** Builds the plan on the device the configured selector picks ({@link Devices#chooseConfigured}). */
    public static HgrnBitTornado load(HgrnBitWeights w, Capacity cap) {
        return new HgrnBitTornado(w, cap, Devices.chooseConfigured());
    }

    public HgrnBitTornado(HgrnBitWeights w, Capacity cap, TornadoDevice device) {
        this.c = w.config();
        this.cap = cap;
        int d = c.hidden();
        int n = c.intermediate();
        int rows = cap.maxRows();
        int seqs = cap.maxBatch();
        double eps = c.rmsNormEps();
        this.a = Activations.allocate(rows, seqs, d, n);
        this.ids = new IntArray(rows);
        this.headIndex = new IntArray(rows);
        this.logits = new FloatArray(rows * c.vocab());
        this.slotInUse = new boolean[seqs];
        FloatArray xHead = new FloatArray(rows * d);   // [maxRows, d] the rows of x the head reads
        FloatArray embeddings = FloatArray.fromArray(w.embeddings());
        count(MemoryCategory.WEIGHTS, embeddings);
        count(MemoryCategory.WORKSPACE, a.all());
        count(MemoryCategory.WORKSPACE, ids, headIndex, logits, xHead);

        GridScheduler grids = new GridScheduler();
        ImmutableTaskGraph[] graphs = new ImmutableTaskGraph[c.layers() + 1];
        for (int l = 0; l < c.layers(); l++) {
            HgrnBitBlocksTornado.Layer layer = blockLayer(w.layers().get(l), w.lowerBounds()[l]);
            HgrnBitBlocksTornado.checkShapes(l, layer, d, n);
            DeviceLayer dl = DeviceLayer.of(layer);
            FloatArray states = new FloatArray(seqs * d);   // [maxBatch, d] layer l's state slots
            count(MemoryCategory.WEIGHTS, dl.arrays());
            count(MemoryCategory.STATE, states);
            String name = HgrnBitBlocksTornado.GRAPH_PREFIX + l;
            TaskGraph graph = new TaskGraph(name);
            if (l == 0) {
                graph.transferToDevice(DataTransferMode.EVERY_EXECUTION, ids, a.seqMap())
                        .transferToDevice(DataTransferMode.FIRST_EXECUTION, embeddings, a.x())
                        .transferToDevice(DataTransferMode.FIRST_EXECUTION, (Object[]) a.scratch());
                RowGatherTornado.addTask(graph, grids, EMBED, embeddings, ids, a.x(), rows, d);
                track(grids, name, EMBED, rows, rowGrids);
            } else {
                HgrnBitBlocksTornado.handOn(graph, HgrnBitBlocksTornado.GRAPH_PREFIX + (l - 1), a);
            }
            graph.transferToDevice(DataTransferMode.FIRST_EXECUTION, (Object[]) dl.arrays())
                    .transferToDevice(DataTransferMode.FIRST_EXECUTION, states);
            HgrnBitBlocksTornado.addLayerTasks(graph, grids, dl, a, states, rows, seqs, d, n, eps);
            if (l == 0) {
                graph.persistOnDevice((Object[]) a.all());   // layer 0 owns the activations; later graphs consume them
            }
            for (String task : HgrnBitBlocksTornado.rowTasks()) {
                track(grids, name, task, rows, rowGrids);
            }
            track(grids, name, HgrnBitBlocksTornado.MLGRU, seqs, seqGrids);
            graphs[l] = graph.snapshot();
        }

        BitLinearTornado.Weights lmHead = BitLinearTornado.Weights.of(w.lmHead());
        FloatArray norm = FloatArray.fromArray(w.norm());
        FloatArray lmHeadNorm = FloatArray.fromArray(w.lmHeadNorm());
        count(MemoryCategory.WEIGHTS, lmHead.codes(), norm, lmHeadNorm);
        TaskGraph head = new TaskGraph(HEAD_GRAPH)
                .consumeFromDevice(HgrnBitBlocksTornado.GRAPH_PREFIX + (c.layers() - 1), a.x(), a.h(), a.q(), a.qScale())
                .transferToDevice(DataTransferMode.EVERY_EXECUTION, headIndex)
                .transferToDevice(DataTransferMode.FIRST_EXECUTION, lmHead.codes(), norm, lmHeadNorm, xHead, logits);
        RowGatherTornado.addTask(head, grids, HEAD_ROWS, a.x(), headIndex, xHead, rows, d);
        RmsNormQuantTornado.addNormTask(head, grids, FINAL_NORM, xHead, norm, a.h(), rows, d, eps);
        RmsNormQuantTornado.addTask(head, grids, HEAD_QUANT, a.h(), lmHeadNorm, a.q(), a.qScale(), rows, d, RmsNormQuantReference.EPS);
        BitLinearTornado.addTask(head, grids, LM_HEAD, lmHead, a.q(), a.qScale(), logits, rows, false);
        head.transferToHost(DataTransferMode.UNDER_DEMAND, logits);
        for (String task : List.of(HEAD_ROWS, FINAL_NORM, HEAD_QUANT, LM_HEAD)) {
            track(grids, HEAD_GRAPH, task, rows, headGrids);
        }
        graphs[c.layers()] = head.snapshot();

        this.plan = Plans.plan(grids, graphs);
        try {
            // compile every kernel at load (0.3 to 0.8 s a task on a loaded 2-core PoCL machine), not in the first forward
            plan.withDevice(device).withPreCompilation();
        } catch (RuntimeException e) {
            try {
                Plans.close("hgrn_bit tornado", plan);
            } catch (RuntimeException closing) {
                e.addSuppressed(closing);
            }
            throw e;
        }
        this.deviceName = "TornadoVM " + device.getTornadoVMBackend() + ": " + Devices.describe(device);
        this.info = new ModelInfo(HgrnBitConfig.MODEL_TYPE, c.vocab(), d, c.layers(), w.parameterCount(),
                memory.bytes(MemoryCategory.WEIGHTS), w.unpackedBytes(), 4L * c.layers() * d, false);
    }

    private static HgrnBitBlocksTornado.Layer blockLayer(HgrnBitWeights.Layer y, float[] lowerBound) {
        return new HgrnBitBlocksTornado.Layer(y.attnNorm(), y.iProj(), y.iNorm(), y.fProj(), y.fNorm(), y.gProj(), y.gNorm(),
                y.outGateNorm(), y.oProj(), y.oNorm(), y.mlpNorm(), y.gateProj(), y.gateNorm(), y.downProj(), y.downNorm(),
                lowerBound);
    }

    private void count(MemoryCategory category, TornadoNativeArray... arrays) {
        for (TornadoNativeArray x : arrays) {
            memory.allocated(category, x.getNumBytesOfSegmentWithHeader());
            held[category.ordinal()] += x.getNumBytesOfSegmentWithHeader();
        }
    }

    private static void track(GridScheduler grids, String graph, String task, int unitsAtBuild, List<Sized> into) {
        WorkerGrid grid = grids.get(graph + "." + task);
        into.add(new Sized(grid, Grids.groupCount(grid) / unitsAtBuild));
    }

    @Override
    public ModelInfo info() {
        return info;
    }

    @Override
    public String backend() {
        return TornadoBackend.NAME;
    }

    @Override
    public String device() {
        return deviceName;
    }

    @Override
    public MemoryLedger memory() {
        return memory;
    }

    @Override
    public Batch newBatch(int size) {
        checkOpen();
        if (size < 1 || size > cap.maxBatch()) {
            throw new MmfreeException("hgrn_bit tornado: batch size " + size + " is outside [1, " + cap.maxBatch()
                    + "] (the state slots allocated at load; -D" + TornadoBackend.MAX_BATCH + " sets them)");
        }
        int[] slots = new int[size];
        int found = 0;
        for (int s = 0; s < slotInUse.length && found < size; s++) {
            if (!slotInUse[s]) {
                slots[found++] = s;
            }
        }
        if (found < size) {
            throw new MmfreeException("hgrn_bit tornado: a batch of " + size + " needs " + size + " free state slots, "
                    + found + " of " + cap.maxBatch() + " are free; close other batches first");
        }
        for (int s : slots) {
            slotInUse[s] = true;
        }
        return new Slots(slots);
    }

    @Override
    public float[][][] forward(CausalLm.Batch batch, int[][] tokens, boolean allPositions) {
        checkOpen();
        if (!(batch instanceof Slots s) || s.owner() != this || s.closed) {
            throw new MmfreeException("hgrn_bit tornado: the batch is closed or belongs to another model");
        }
        int b = s.slots.length;
        int t = TokenChecks.check(tokens, b, c.vocab());
        int chunk = Math.min(t, cap.maxRows() / b);
        float[][][] out = new float[b][allPositions ? t : 1][];
        boolean[] reset = new boolean[b];
        for (int p0 = 0; p0 < t; p0 += chunk) {
            int len = Math.min(chunk, t - p0);
            // ids of rows s * len + p; a new sequence's state slot is zeroed on its first token
            for (int q = 0; q < b; q++) {
                for (int p = 0; p < len; p++) {
                    ids.set(q * len + p, tokens[q][p0 + p]);
                }
            }
            Arrays.fill(reset, s.fresh);
            s.fresh = false;
            MlgruScanTornado.setMap(a.seqMap(), cap.maxBatch(), len, s.slots, reset);
            rowGrids.forEach(g -> g.resize(b * len));
            seqGrids.forEach(g -> g.resize(b));
            for (int l = 0; l < c.layers(); l++) {
                plan.withGraph(l).execute();
            }
            if (allPositions) {
                head(b * len, k -> k);
                for (int q = 0; q < b; q++) {
                    for (int p = 0; p < len; p++) {
                        out[q][p0 + p] = logitRow(q * len + p);
                    }
                }
            } else if (p0 + len == t) {
                int last = len;
                head(b, q -> q * last + last - 1);
                for (int q = 0; q < b; q++) {
                    out[q][0] = logitRow(q);
                }
            }
        }
        s.position += t;
        return out;
    }

    /** Runs the head on headRows rows of x (row k of the logits is row rowOf(k) of x) and copies those logits back. */
    private void head(int headRows, java.util.function.IntUnaryOperator rowOf) {
        for (int k = 0; k < headRows; k++) {
            headIndex.set(k, rowOf.applyAsInt(k));
        }
        headGrids.forEach(g -> g.resize(headRows));
        TornadoExecutionResult result = plan.withGraph(c.layers()).execute();
        result.transferToHost(new DataRange(logits).withSize((long) headRows * c.vocab()));
    }

    private float[] logitRow(int k) {
        float[] row = new float[c.vocab()];
        HostCopies.copyOut("hgrn_bit tornado: logits", logits, (long) k * c.vocab(), row);
        return row;
    }

    private void checkOpen() {
        if (closed) {
            throw new MmfreeException("hgrn_bit tornado: model is closed");
        }
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            Plans.close("hgrn_bit tornado", plan);
            for (MemoryCategory category : MemoryCategory.values()) {
                memory.released(category, held[category.ordinal()]);
            }
        }
    }

    /** A batch: the state slots its sequences own, and whether they still need zeroing. */
    private final class Slots implements CausalLm.Batch {
        private final int[] slots;
        private boolean fresh = true;
        private int position;
        private boolean closed;

        Slots(int[] slots) {
            this.slots = slots;
        }

        HgrnBitTornado owner() {
            return HgrnBitTornado.this;
        }

        @Override
        public int size() {
            return slots.length;
        }

        @Override
        public int position() {
            return position;
        }

        @Override
        public void close() {
            if (!closed) {
                closed = true;
                for (int s : slots) {
                    slotInUse[s] = false;
                }
            }
        }
    }
}
