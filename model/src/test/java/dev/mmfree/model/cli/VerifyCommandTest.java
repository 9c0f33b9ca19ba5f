package dev.mmfree.model.cli;

import dev.mmfree.model.Fixtures;
import dev.mmfree.model.checkpoint.DType;
import dev.mmfree.model.checkpoint.SafeTensorsWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class VerifyCommandTest {
    @TempDir
    Path tmp;

    @ParameterizedTest
    @ValueSource(strings = {"hgrn-tiny-a", "hgrn-tiny-a-bf16", "llama-tiny"})
    void fixturesPassInBothModes(String fixture) {
        CliRun r = CliRun.of("verify", "--model", Fixtures.dir().resolve(fixture).toString(), "--backend", "reference");
        assertEquals(0, r.code(), r.toString());
        assertEquals(4, r.out().lines().filter(l -> l.endsWith(" ok") && l.contains("sequence")).count(), r.toString());
        assertTrue(r.out().strip().endsWith("verify: ok"), r.toString());
    }

    @Test
    void perturbedReferenceFailsOnlyTheSequenceItTouches() {
        Path model = Fixtures.dir().resolve("hgrn-tiny-a");
        Fixtures.Golden g = Fixtures.Golden.read(model);
        int v = g.logits()[0][0].length;
        float[] flat = new float[g.batch() * g.length() * v];
        for (int s = 0; s < g.batch(); s++) {
            for (int p = 0; p < g.length(); p++) {
                System.arraycopy(g.logits()[s][p], 0, flat, (s * g.length() + p) * v, v);
            }
        }
        for (int k = 0; k < v; k++) {
            flat[(g.length() - 1) * v + k] *= 1.5f;   // sequence 0, last position: far beyond 2e-3
        }
        long[] ids = Arrays.stream(g.ids()).flatMapToInt(Arrays::stream).asLongStream().toArray();
        Path golden = tmp.resolve("bad.safetensors");
        new SafeTensorsWriter().longs("input_ids", ids, g.batch(), g.length()).floats("logits", DType.F32, flat, g.batch(), g.length(), v)
                .write(golden);

        CliRun r = CliRun.of("verify", "--model", model.toString(), "--backend", "reference", "--golden", golden.toString());
        assertEquals(1, r.code(), r.toString());
        assertEquals(2, r.out().lines().filter(l -> l.contains("sequence 0") && l.endsWith("FAIL")).count(), r.toString());
        assertEquals(2, r.out().lines().filter(l -> l.contains("sequence 1") && l.endsWith(" ok")).count(), r.toString());
    }

    @Test
    void missingGoldenIsOneLineError() {
        CliRun r = CliRun.of("verify", "--model", Fixtures.dir().resolve("hgrn-tiny-a").toString(), "--golden", tmp.resolve("none").toString());
        assertEquals(1, r.code(), r.toString());
        assertEquals(1, r.errLines().length, r.toString());
        assertTrue(r.err().contains("none: no such file"), r.toString());
    }
}
