package dev.mmfree.model.llama;

import dev.mmfree.kernels.gemv.Storage;
import dev.mmfree.model.CausalLm;
import dev.mmfree.model.FixtureConformanceSuite;
import dev.mmfree.model.Fixtures;
import dev.mmfree.model.checkpoint.ModelFolder;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.opencl.OpenCl;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@link LlamaOpenCl}, built directly on the default OpenCL device, against the golden logits of
 * {@code llama-tiny} with the checks of {@code FixtureConformanceSuite} (whole-sequence prefill,
 * token-by-token decode, prompt prefill + decode, last-position-only in two chunks) plus decode at
 * batch 1 (the GEMV path; the fixture's batch of 2 runs the GEMM path). Each sequence's logits must be
 * within relative L2 {@value #TOLERANCE} of the golden ones (the fixtures README's float32 bound), no NaN
 * or infinity; both storages: fp16 matrices and cache (the fp16 rounding of the weights alone moves
 * these logits by about 4e-4) and fp32.
 */
class LlamaOpenClFixtureTest {
    private static final double TOLERANCE = 2e-3;
    private static Device device;
    private static LlamaWeights weights;
    private static Fixtures.Golden golden;

    @BeforeAll
    static void open() {
        var dir = Fixtures.dir().resolve("llama-tiny");
        assumeTrue(OpenCl.skipReason().isEmpty(), () -> "OpenCL unavailable: " + OpenCl.unavailableReason().orElse(""));
        try (ModelFolder f = ModelFolder.open(dir)) {
            weights = LlamaWeights.load(f);
        }
        golden = Fixtures.Golden.read(dir);
        device = OpenCl.open(null, false);
    }

    @AfterAll
    static void close() {
        if (device != null) {
            device.close();
            assertEquals(0, device.memory().totalBytes(), "device ledger after close");
        }
    }

    private static LlamaOpenCl model(Storage s) {
        return new LlamaOpenCl(device, weights, s);
    }

    @ParameterizedTest
    @EnumSource(Storage.class)
    void prefillOfWholeSequencesMatchesGolden(Storage s) {
        try (LlamaOpenCl m = model(s); CausalLm.Batch batch = m.newBatch(golden.batch())) {
            float[][][] out = m.forward(batch, golden.ids(), true);
            assertEquals(golden.length(), batch.position(), "position after prefill");
            check(s + " prefill", golden.logits(), out);
        }
    }

    @ParameterizedTest
    @EnumSource(Storage.class)
    void tokenByTokenDecodeMatchesGolden(Storage s) {
        try (LlamaOpenCl m = model(s); CausalLm.Batch batch = m.newBatch(golden.batch())) {
            float[][][] out = new float[golden.batch()][golden.length()][];
            for (int p = 0; p < golden.length(); p++) {
                place(m.forward(batch, column(golden.ids(), p, p + 1), true), out, p);
            }
            assertEquals(golden.length(), batch.position(), "position after decoding");
            check(s + " decode", golden.logits(), out);
        }
    }

    /** Batch-1 decode with five launches a layer and with one ({@link LlamaOpenClTest#layerModes}). */
    @ParameterizedTest
    @EnumSource(Storage.class)
    void decodeAtBatchOneMatchesGolden(Storage s) {
        for (int[] mode : LlamaOpenClTest.layerModes(device)) {
            try (LlamaOpenCl m = new LlamaOpenCl(device, weights, s, mode[0], mode[1])) {
                for (int b = 0; b < golden.batch(); b++) {
                    try (CausalLm.Batch batch = m.newBatch(1)) {
                        int[][] ids = {golden.ids()[b]};
                        float[][][] out = new float[1][golden.length()][];
                        for (int p = 0; p < golden.length(); p++) {
                            place(m.forward(batch, column(ids, p, p + 1), true), out, p);
                        }
                        check(s + " batch-1 decode of sequence " + b + ", layer groups " + mode[0],
                                new float[][][]{golden.logits()[b]}, out);
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Storage.class)
    void promptPrefillThenDecodeMatchesGolden(Storage s) {
        int prompt = golden.promptLen();
        try (LlamaOpenCl m = model(s); CausalLm.Batch batch = m.newBatch(golden.batch())) {
            float[][][] out = new float[golden.batch()][golden.length()][];
            place(m.forward(batch, column(golden.ids(), 0, prompt), true), out, 0);
            for (int p = prompt; p < golden.length(); p++) {
                place(m.forward(batch, column(golden.ids(), p, p + 1), true), out, p);
            }
            check(s + " prefill " + prompt + " + decode", golden.logits(), out);
        }
    }

    @ParameterizedTest
    @EnumSource(Storage.class)
    void lastPositionOnlyMatchesGoldenAndLedgerReturnsToZero(Storage s) {
        int prompt = golden.promptLen();
        LlamaOpenCl m = model(s);
        try (CausalLm.Batch batch = m.newBatch(golden.batch())) {
            float[][][] first = m.forward(batch, column(golden.ids(), 0, prompt), false);
            float[][][] rest = m.forward(batch, column(golden.ids(), prompt, golden.length()), false);
            assertEquals(golden.length(), batch.position(), "position after two chunks");
            check(s + " last of prompt", lastOnly(golden.logits(), prompt - 1), first);
            check(s + " last of rest", lastOnly(golden.logits(), golden.length() - 1), rest);
        }
        m.newBatch(3);
        m.close();
        assertEquals(0, m.memory().totalBytes(), "model ledger after close (with a batch left open)");
        assertEquals(0, device.memory().totalBytes(), "device ledger after the model closed");
    }

    static int[][] column(int[][] ids, int from, int to) {
        int[][] out = new int[ids.length][];
        for (int b = 0; b < ids.length; b++) {
            out[b] = Arrays.copyOfRange(ids[b], from, to);
        }
        return out;
    }

    static void place(float[][][] step, float[][][] out, int at) {
        for (int b = 0; b < step.length; b++) {
            for (int p = 0; p < step[b].length; p++) {
                out[b][at + p] = step[b][p];
            }
        }
    }

    private static float[][][] lastOnly(float[][][] logits, int pos) {
        float[][][] out = new float[logits.length][1][];
        for (int b = 0; b < logits.length; b++) {
            out[b][0] = logits[b][pos];
        }
        return out;
    }

    private static void check(String what, float[][][] ref, float[][][] out) {
        FixtureConformanceSuite.assertLogits(what, "opencl", ref, out, TOLERANCE);
    }
}
