package dev.mmfree.model.checkpoint;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.SplittableRandom;

import static dev.mmfree.model.checkpoint.SafeTensorsFileTest.assertMentions;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Model folders: config, single and sharded checkpoints, hostile indexes, and what a failed open releases. */
class ModelFolderTest {
    private static final String CONFIG = "{\"model_type\":\"hgrn_bit\",\"hidden_size\":4}";
    private static final String MAP = "{\"a\":\"s1.safetensors\",\"b\":\"s2.safetensors\",\"c\":\"s2.safetensors\"}";

    @TempDir
    Path dir;

    private static CheckpointException rejected(Path folder, String... fragments) {
        CheckpointException e = assertThrows(CheckpointException.class, () -> ModelFolder.open(folder).close());
        for (String s : fragments) {
            assertMentions(e, s);
        }
        return e;
    }

    private static void write(Path file, String text) throws IOException {
        Files.createDirectories(file.getParent());
        Files.writeString(file, text);
    }

    /** "a" [3, 5] F32, "b" [7] BF16 (random bit patterns), "c" [2, 2] F32, from a seed. */
    private record Weights(float[] a, int[] b, float[] c) {
        static Weights of(long seed) {
            SplittableRandom r = new SplittableRandom(seed);
            return new Weights(values(r, 15), r.ints(7, 0, 0x10000).toArray(), values(r, 4));
        }

        private static float[] values(SplittableRandom r, int n) {
            float[] v = new float[n];
            for (int i = 0; i < n; i++) {
                v[i] = (float) r.nextDouble(-2, 2);
            }
            return v;
        }

        RawSafeTensors.Builder a(RawSafeTensors.Builder w) {
            return w.f32("a", "[3, 5]", a);
        }

        RawSafeTensors.Builder bc(RawSafeTensors.Builder w) {
            return w.tensor("b", "BF16", "[7]", RawSafeTensors.u16(b)).f32("c", "[2, 2]", c);
        }
    }

    private Path single(Path folder) throws IOException {
        write(folder.resolve(ModelFolder.CONFIG), CONFIG);
        Weights w = Weights.of(11);
        w.bc(w.a(RawSafeTensors.builder())).write(folder.resolve(ModelFolder.SINGLE));
        return folder;
    }

    private Path sharded(Path folder, String weightMap) throws IOException {
        write(folder.resolve(ModelFolder.CONFIG), CONFIG);
        write(folder.resolve(ModelFolder.INDEX), "{\"metadata\":{\"total_size\":76},\"weight_map\":" + weightMap + "}");
        return folder;
    }

    @Test
    void shardedReadsTheSameAsSingleFile() throws IOException {
        Path one = single(dir.resolve("one"));
        Path two = sharded(dir.resolve("two"), MAP);
        Weights w = Weights.of(11);
        w.a(RawSafeTensors.builder()).write(two.resolve("s1.safetensors"));
        w.bc(RawSafeTensors.builder()).write(two.resolve("s2.safetensors"));
        try (ModelFolder a = ModelFolder.open(one); ModelFolder b = ModelFolder.open(two)) {
            assertEquals(a.names(), b.names());
            assertEquals(Set.of("a", "b", "c"), a.names());
            assertArrayEquals(w.a(), b.floats("a", 3, 5));
            assertArrayEquals(w.c(), b.floats("c", 2, 2));
            assertEquals("hgrn_bit", b.config().get("model_type").asText());
            assertArrayEquals(a.floats("a", 3, 5), b.floats("a", 3, 5));
            assertArrayEquals(a.floats("b", 7), b.floats("b", 7));
            assertArrayEquals(a.floats("c", 2, 2), b.floats("c", 2, 2));
            assertEquals(two.resolve("s2.safetensors"), b.info("c").file());
            assertTrue(b.has("b") && !b.has("d"));
        }
    }

    @Test
    void configMissingMalformedOrNotObject() throws IOException {
        Path folder = dir.resolve("m");
        Weights.of(1).a(RawSafeTensors.builder()).write(Files.createDirectories(folder).resolve(ModelFolder.SINGLE));
        Path config = folder.resolve(ModelFolder.CONFIG);
        rejected(folder, config.toString(), "not found");
        for (String bad : new String[] {"{\"hidden_size\":", "", "{\"a\":1,\"a\":2}", "{} {}"}) {
            write(config, bad);
            rejected(folder, config.toString(), "malformed JSON");
        }
        write(config, "[1, 2]");
        rejected(folder, config.toString(), "not a JSON object");
    }

    @Test
    void notAFolderOrNoWeights() throws IOException {
        rejected(dir.resolve("absent"), dir.resolve("absent").toString(), "no such directory");
        write(dir.resolve(ModelFolder.CONFIG), CONFIG);
        rejected(dir, dir.toString(), "neither model.safetensors nor model.safetensors.index.json");
    }

    @Test
    void expectedShapeMismatchAndMissingTensor() throws IOException {
        Path folder = single(dir);
        Path file = folder.resolve(ModelFolder.SINGLE);
        try (ModelFolder m = ModelFolder.open(folder)) {
            CheckpointException e = assertThrows(CheckpointException.class, () -> m.floats("a", 5, 3));
            assertEquals(file + ": tensor 'a': shape [3, 5], expected [5, 3]", e.getMessage());
            assertMentions(assertThrows(CheckpointException.class, () -> m.floats("c", 4)), "tensor 'c': shape [2, 2], expected [4]");
            e = assertThrows(CheckpointException.class, () -> m.floats("nope", 1));
            assertEquals(file + ": tensor 'nope': not found", e.getMessage());
        }
    }

    @Test
    void indexWithoutWeightMap() throws IOException {
        Path folder = dir.resolve("m");
        write(folder.resolve(ModelFolder.CONFIG), CONFIG);
        Path index = folder.resolve(ModelFolder.INDEX);
        for (String bad : new String[] {"{}", "{\"weight_map\":[\"a\"]}", "[]", "{\"weight_map\":null}"}) {
            write(index, bad);
            rejected(folder, index.toString(), "missing field 'weight_map'");
        }
        write(index, "{\"weight_map\":{\"a\":\"s.safetensors\",\"a\":\"t.safetensors\"}}");
        rejected(folder, index.toString(), "Duplicate");
    }

    @Test
    void shardThatDoesNotExist() throws IOException {
        Path folder = sharded(dir.resolve("m"), "{\"a\":\"gone.safetensors\"}");
        rejected(folder, folder.resolve(ModelFolder.INDEX) + ": tensor 'a': shard 'gone.safetensors' does not exist");
    }

    @ParameterizedTest
    @ValueSource(strings = {"../outside.safetensors", "sub/inner.safetensors", "/ABS/outside.safetensors", "", ".", "..", "a\u0000b"})
    void shardNameEscapingTheFolder(String shardName) throws IOException {
        Path folder = dir.resolve("m");
        Weights.of(1).a(RawSafeTensors.builder()).write(dir.resolve("outside.safetensors"));
        Weights.of(1).a(RawSafeTensors.builder()).write(Files.createDirectories(folder.resolve("sub")).resolve("inner.safetensors"));
        String name = shardName.replace("/ABS", dir.toAbsolutePath().toString()).replace("\u0000", "\\u0000");
        sharded(folder, "{\"a\":\"" + name + "\"}");
        rejected(folder, folder.resolve(ModelFolder.INDEX) + ": tensor 'a': shard name '");
    }

    @Test
    void shardNameNotAString() throws IOException {
        Path folder = sharded(dir.resolve("m"), "{\"a\":7}");
        rejected(folder, folder.resolve(ModelFolder.INDEX) + ": tensor 'a': shard name is not a string");
    }

    @Test
    void indexMapsTensorToShardThatLacksIt() throws IOException {
        Path folder = sharded(dir.resolve("m"), "{\"a\":\"s1.safetensors\",\"z\":\"s1.safetensors\"}");
        Weights.of(1).a(RawSafeTensors.builder()).write(folder.resolve("s1.safetensors"));
        rejected(folder, folder.resolve("s1.safetensors") + ": tensor 'z': not found, though " + ModelFolder.INDEX + " maps it here");
    }

    @Test
    void failedOpenReleasesEveryMapping() throws IOException {
        ProcFiles.assumeLinux();
        Path folder = sharded(dir.resolve("m"), MAP);
        Path good = Weights.of(3).a(RawSafeTensors.builder()).write(folder.resolve("s1.safetensors"));
        Path bad = RawSafeTensors.write(folder.resolve("s2.safetensors"), "{\"b\":" + RawSafeTensors.entry("f32", "[1]", 0, 4) + "}", new byte[4]);
        rejected(folder, bad + ": tensor 'b': unsupported dtype");
        assertFalse(ProcFiles.mapped(good), "the first shard was unmapped when the second failed");
        assertFalse(ProcFiles.mapped(bad) || ProcFiles.openDescriptor(good) || ProcFiles.openDescriptor(bad));

        Files.delete(bad);
        Weights.of(3).bc(RawSafeTensors.builder()).write(bad);
        ModelFolder m = ModelFolder.open(folder);
        assertTrue(ProcFiles.mapped(good) && ProcFiles.mapped(bad), "an open folder maps its shards");
        m.close();
        m.close();
        assertFalse(ProcFiles.mapped(good) || ProcFiles.mapped(bad), "close unmaps every shard");
    }

    @Test
    void bf16FixtureIsRoundedF32Fixture() {
        Path fixtures = Fixtures.root();
        try (ModelFolder f32 = ModelFolder.open(fixtures.resolve("hgrn-tiny-a"));
             ModelFolder bf16 = ModelFolder.open(fixtures.resolve("hgrn-tiny-a-bf16"))) {
            assertEquals(f32.names(), bf16.names());
            assertEquals(35, f32.names().size());
            for (String name : f32.names()) {
                long[] shape = f32.info(name).shape();
                assertEquals(DType.BF16, bf16.info(name).dtype());
                float[] w = f32.floats(name, shape);
                float[] h = bf16.floats(name, shape);
                for (int i = 0; i < w.length; i++) {
                    int x = Float.floatToRawIntBits(w[i]);
                    int rne = (x + 0x7fff + ((x >>> 16) & 1)) & 0xffff0000;
                    assertEquals(rne, Float.floatToRawIntBits(h[i]), name + " element " + i + ": f32 " + w[i] + ", bf16 " + h[i]);
                }
            }
        }
    }
}
