package dev.mmfree.model;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every backend against the reference checkpoints' golden logits ({@code ../shared/fixtures/README.md}).
 * A backend's test extends this and names the backend; each fixture is loaded through
 * {@link ModelLoader} and run as a whole-sequence prefill, as token-by-token decoding, and as a
 * prompt prefill followed by decoding. Each sequence's logits must be within a relative L2 error of
 * {@link #TOLERANCE} of the golden ones, with no NaN or infinity.
 */
public abstract class FixtureConformanceSuite {
    /** The README's bound for float32 paths: room for an activation landing on the other side of an int8 rounding boundary. */
    protected static final double TOLERANCE = 2e-3;

    /** The backend under test, as {@link Backends#byName} takes it. */
    protected abstract String backend();

    /** Whether the backend runs this fixture's architecture; the suite skips (not fails) the others. */
    protected boolean supports(String fixture) {
        return true;
    }

    private CausalLm load(String fixture) {
        Assumptions.assumeTrue(supports(fixture), () -> "backend " + backend() + " does not run " + fixture
                + "'s architecture (skipped by design)");
        Path dir = Fixtures.dir().resolve(fixture);
        assertTrue(Files.isDirectory(dir), "fixture folder " + dir + " is missing though the fixtures folder exists");
        return ModelLoader.load(dir, backend());
    }

    private static Fixtures.Golden golden(String fixture) {
        return Fixtures.Golden.read(Fixtures.dir().resolve(fixture));
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"hgrn-tiny-a", "hgrn-tiny-a-bf16", "llama-tiny"})
    void prefillOfWholeSequencesMatchesGolden(String fixture) {
        Fixtures.Golden g = golden(fixture);
        try (CausalLm m = load(fixture); CausalLm.Batch batch = m.newBatch(g.batch())) {
            float[][][] out = m.forward(batch, g.ids(), true);
            assertEquals(g.length(), batch.position(), "position after prefill");
            check(fixture + " prefill", g.logits(), out);
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"hgrn-tiny-a", "hgrn-tiny-a-bf16", "llama-tiny"})
    void tokenByTokenDecodeMatchesGolden(String fixture) {
        Fixtures.Golden g = golden(fixture);
        try (CausalLm m = load(fixture); CausalLm.Batch batch = m.newBatch(g.batch())) {
            float[][][] out = new float[g.batch()][g.length()][];
            for (int p = 0; p < g.length(); p++) {
                float[][][] step = m.forward(batch, column(g.ids(), p, p + 1), true);
                place(step, out, p);
            }
            assertEquals(g.length(), batch.position(), "position after decoding");
            check(fixture + " decode", g.logits(), out);
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"hgrn-tiny-a", "hgrn-tiny-a-bf16", "llama-tiny"})
    void promptPrefillThenDecodeMatchesGolden(String fixture) {
        Fixtures.Golden g = golden(fixture);
        int prompt = g.promptLen();
        try (CausalLm m = load(fixture); CausalLm.Batch batch = m.newBatch(g.batch())) {
            float[][][] out = new float[g.batch()][g.length()][];
            place(m.forward(batch, column(g.ids(), 0, prompt), true), out, 0);
            for (int p = prompt; p < g.length(); p++) {
                place(m.forward(batch, column(g.ids(), p, p + 1), true), out, p);
            }
            check(fixture + " prefill " + prompt + " + decode", g.logits(), out);
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"hgrn-tiny-a", "hgrn-tiny-a-bf16", "llama-tiny"})
    void lastPositionOnlyMatchesGolden(String fixture) {
        Fixtures.Golden g = golden(fixture);
        int prompt = g.promptLen();
        try (CausalLm m = load(fixture); CausalLm.Batch batch = m.newBatch(g.batch())) {
            float[][][] first = m.forward(batch, column(g.ids(), 0, prompt), false);
            float[][][] rest = m.forward(batch, column(g.ids(), prompt, g.length()), false);
            assertEquals(g.length(), batch.position(), "position after two chunks");
            check(fixture + " last of prompt", lastOnly(g.logits(), prompt - 1), first);
            check(fixture + " last of rest", lastOnly(g.logits(), g.length() - 1), rest);
        }
    }

    /** ids[:, from:to] */
    private static int[][] column(int[][] ids, int from, int to) {
        int[][] out = new int[ids.length][];
        for (int b = 0; b < ids.length; b++) {
            out[b] = Arrays.copyOfRange(ids[b], from, to);
        }
        return out;
    }

    private static void place(float[][][] step, float[][][] out, int at) {
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

    private void check(String what, float[][][] ref, float[][][] out) {
        assertLogits(what, backend(), ref, out, TOLERANCE);
    }

    /**
     * Logits [batch][positions][vocab] against expected ones: the same shape, all finite, and per sequence a
     * relative L2 error within {@code tol} (printed for each, with the backend's name).
     */
    public static void assertLogits(String what, String backend, float[][][] ref, float[][][] out, double tol) {
        assertEquals(ref.length, out.length, what + ": batch size");
        for (int b = 0; b < ref.length; b++) {
            assertEquals(ref[b].length, out[b].length, what + ": positions of sequence " + b);
            double diff = 0;
            double norm = 0;
            int worstPos = 0;
            int worstIdx = 0;
            double worst = -1;
            for (int p = 0; p < ref[b].length; p++) {
                assertEquals(ref[b][p].length, out[b][p].length, what + ": vocab at [" + b + ", " + p + "]");
                for (int j = 0; j < ref[b][p].length; j++) {
                    float o = out[b][p][j];
                    if (!Float.isFinite(o)) {
                        fail(what + ": non-finite logit " + o + " at [" + b + ", " + p + ", " + j + "]");
                    }
                    double e = (double) o - ref[b][p][j];
                    diff += e * e;
                    norm += (double) ref[b][p][j] * ref[b][p][j];
                    if (Math.abs(e) > worst) {
                        worst = Math.abs(e);
                        worstPos = p;
                        worstIdx = j;
                    }
                }
            }
            double rel = Math.sqrt(diff / norm);
            System.out.printf("[%s] %s seq %d: rel L2 %.3e%n", backend, what, b, rel);
            if (!(rel <= tol)) {
                fail(String.format("%s, backend %s, sequence %d: rel L2 %.3e > %.1e; largest difference at [pos %d, id %d]: "
                                + "got %s, expected %s", what, backend, b, rel, tol, worstPos, worstIdx,
                        out[b][worstPos][worstIdx], ref[b][worstPos][worstIdx]));
            }
        }
    }
}
