package dev.mmfree.model.hgrn;

import dev.mmfree.model.CausalLm;
import dev.mmfree.model.Fixtures;
import dev.mmfree.model.checkpoint.ModelFolder;
import dev.mmfree.runtime.MemoryCategory;
import dev.mmfree.runtime.MmfreeException;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static dev.mmfree.kernels.tornado.TornadoTesting.assertRelL2;
import static dev.mmfree.kernels.tornado.TornadoTesting.requireTornado;
import static dev.mmfree.kernels.tornado.Devices.choose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What the fixture suite does not reach in HgrnBitTornado: prefill split into chunks by a small row
 * capacity, batches sharing the state pool (interleaved, and a slot reused after close), capacity
 * errors, and the memory ledger. Logits against the golden ones of hgrn-tiny-a, relative L2 per
 * sequence at most {@link #TOL} (the fixtures' float32 tolerance, shared/fixtures/README.md).
 */
class HgrnBitTornadoTest {
    static final double TOL = 2e-3;
    static final String FIXTURE = "hgrn-tiny-a";

    private static HgrnBitWeights weights;
    private static Fixtures.Golden golden;

    @BeforeAll
    static void fixture() {
        try (ModelFolder f = ModelFolder.open(Fixtures.dir().resolve(FIXTURE))) {
            weights = HgrnBitWeights.load(f);
        }
        golden = Fixtures.Golden.read(Fixtures.dir().resolve(FIXTURE));
    }

    @BeforeEach
    void tornado() {
        requireTornado();
    }

    private static HgrnBitTornado model(int maxBatch, int maxRows) {
        return new HgrnBitTornado(weights, new HgrnBitTornado.Capacity(maxBatch, maxRows), choose(null));
    }

    @Test
    void prefillInChunksOfFewRowsMatchesGolden() {
        // 2 sequences, 5 rows a pass: chunks of 2 tokens, so 32 tokens take 16 passes
        try (HgrnBitTornado m = model(2, 5); CausalLm.Batch b = m.newBatch(2)) {
            float[][][] all = m.forward(b, golden.ids(), true);
            for (int s = 0; s < 2; s++) {
                check("chunked prefill, seq " + s, golden.logits()[s], all[s]);
            }
        }
        try (HgrnBitTornado m = model(2, 3); CausalLm.Batch b = m.newBatch(2)) {
            // chunks of 1 token, last position only: the head runs once, on the last pass
            float[][][] last = m.forward(b, golden.ids(), false);
            for (int s = 0; s < 2; s++) {
                check("chunked prefill, last position, seq " + s, new float[][] {golden.logits()[s][golden.length() - 1]}, last[s]);
            }
        }
    }

    @Test
    void batchesSharingThePoolStayIndependent() {
        int t = golden.length();
        try (HgrnBitTornado m = model(3, 8)) {
            CausalLm.Batch pair = m.newBatch(2);
            CausalLm.Batch single = m.newBatch(1);
            float[][][] pairOut = new float[2][t][];
            float[][][] singleOut = new float[1][t][];
            for (int p = 0; p < t; p++) {
                // interleaved decode: the single batch runs sequence 1's ids, so its slot must not mix with the pair's
                float[][][] a = m.forward(pair, new int[][] {{golden.ids()[0][p]}, {golden.ids()[1][p]}}, true);
                float[][][] b = m.forward(single, new int[][] {{golden.ids()[1][p]}}, true);
                pairOut[0][p] = a[0][0];
                pairOut[1][p] = a[1][0];
                singleOut[0][p] = b[0][0];
            }
            check("pair seq 0", golden.logits()[0], pairOut[0]);
            check("pair seq 1", golden.logits()[1], pairOut[1]);
            check("single (seq 1's ids)", golden.logits()[1], singleOut[0]);
            pair.close();
            // the pair's slots are reused: the new sequences must start from a zero state
            try (CausalLm.Batch again = m.newBatch(2)) {
                float[][][] out = m.forward(again, golden.ids(), true);
                check("reused slots, seq 0", golden.logits()[0], out[0]);
                check("reused slots, seq 1", golden.logits()[1], out[1]);
            }
            single.close();
        }
    }

    @Test
    void batchesBeyondTheSlotsFailWithTheReason() {
        try (HgrnBitTornado m = model(2, 4)) {
            MmfreeException tooBig = assertThrows(MmfreeException.class, () -> m.newBatch(3));
            assertTrue(tooBig.getMessage().contains("batch size 3") && tooBig.getMessage().contains("[1, 2]"), tooBig.getMessage());
            try (CausalLm.Batch held = m.newBatch(2)) {
                MmfreeException full = assertThrows(MmfreeException.class, () -> m.newBatch(1));
                assertTrue(full.getMessage().contains("0 of 2 are free"), full.getMessage());
                assertEquals(2, held.size());
            }
            m.newBatch(1).close();
        }
    }

    @Test
    void ledgerCountsTheDeviceArraysAndEmptiesOnClose() {
        int maxBatch = 4;
        int maxRows = 16;
        HgrnBitTornado m = model(maxBatch, maxRows);
        var c = weights.config();
        long d = c.hidden();
        long n = c.intermediate();
        long header = 16;   // TornadoVM's array header, which its device buffers hold too
        int layers = c.layers();
        // the weights as HgrnBitWeights counts them, less the 6L + 1 matrix scales (kernel constants here), plus headers
        long weightsExpected = weights.packedBytes() - 4L * (6 * layers + 1) + header * (1 + 16L * layers + 3);
        long stateExpected = layers * (4 * maxBatch * d + header);
        long r = maxRows;
        long workspaceExpected = 4 * r * d * 7            // x, h, i, fPre, g, o, xHead
                + 4 * r * 2 * n + r * Math.max(d, n)      // gateUp, q (int8)
                + 4 * (1 + 2L * maxBatch) + 4 * r * 3     // seqMap; qScale, ids, headIndex
                + 4 * r * c.vocab() + header * 14;        // logits; 14 arrays
        assertEquals(weightsExpected, m.memory().bytes(MemoryCategory.WEIGHTS), "weights");
        assertEquals(stateExpected, m.memory().bytes(MemoryCategory.STATE), "state pool");
        assertEquals(workspaceExpected, m.memory().bytes(MemoryCategory.WORKSPACE), "workspace");
        assertEquals(weightsExpected, m.info().weightBytes());
        try (CausalLm.Batch b = m.newBatch(1)) {
            m.forward(b, new int[][] {Arrays.copyOf(golden.ids()[0], 3)}, false);
            assertEquals(stateExpected, m.memory().bytes(MemoryCategory.STATE), "the pool does not grow with batches");
        }
        m.close();
        assertEquals(0, m.memory().totalBytes(), m.memory().toString());
        assertThrows(MmfreeException.class, () -> m.newBatch(1));
    }

    private static void check(String what, float[][] expected, float[][] actual) {
        assertEquals(expected.length, actual.length, what + ": positions");
        assertRelL2(FIXTURE + " " + what, flat(expected), flat(actual), TOL);
    }

    private static float[] flat(float[][] rows) {
        int v = rows[0].length;
        float[] out = new float[rows.length * v];
        for (int p = 0; p < rows.length; p++) {
            System.arraycopy(rows[p], 0, out, p * v, v);
        }
        return out;
    }
}
