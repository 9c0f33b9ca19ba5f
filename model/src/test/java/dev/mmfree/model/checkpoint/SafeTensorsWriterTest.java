package dev.mmfree.model.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SafeTensorsWriterTest {
    @TempDir
    Path dir;

    private static float[] randomFloats(SplittableRandom rnd, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (rnd.nextGaussian() * Math.pow(10, rnd.nextInt(-3, 4)));
        }
        return x;
    }

    private static void assertBitsEqual(float[] want, float[] got, String what) {
        assertEquals(want.length, got.length, what + ": length");
        for (int i = 0; i < want.length; i++) {
            if (Float.floatToIntBits(want[i]) != Float.floatToIntBits(got[i])) {
                throw new AssertionError(what + ": first difference at " + i + ": want " + want[i] + ", got " + got[i]);
            }
        }
    }

    @Test
    void roundTripsEveryDtype() {
        SplittableRandom rnd = new SplittableRandom(11);
        float[] f32 = randomFloats(rnd, 3 * 7 * 5);
        float[] f16 = randomFloats(rnd, 13);
        float[] bf16 = randomFloats(rnd, 2 * 9);
        long[] i64 = rnd.longs(4 * 3).toArray();
        f32[0] = Float.NaN;
        f32[1] = Float.NEGATIVE_INFINITY;
        f32[2] = -0.0f;
        Path file = dir.resolve("all.safetensors");
        new SafeTensorsWriter()
                .floats("half", DType.F16, f16, 13)
                .floats("w.f32", DType.F32, f32, 3, 7, 5)
                .longs("ids", i64, 4, 3)
                .floats("bf", DType.BF16, bf16, 2, 9)
                .floats("scalar", DType.F32, new float[]{2.5f})
                .floats("empty", DType.F32, new float[0], 0, 4)
                .write(file);

        float[] f16Want = new float[f16.length];
        for (int i = 0; i < f16.length; i++) {
            f16Want[i] = Float.float16ToFloat(Float.floatToFloat16(f16[i]));
        }
        try (SafeTensorsFile f = SafeTensorsFile.open(file)) {
            assertEquals(6, f.tensors().size());
            assertBitsEqual(f32, f.floats("w.f32"), "F32");
            assertBitsEqual(f16Want, f.floats("half"), "F16");
            assertArrayEquals(i64, f.longs("ids"));
            assertArrayEquals(new long[]{3, 7, 5}, f.info("w.f32").shape());
            assertArrayEquals(new long[]{4, 3}, f.info("ids").shape());
            assertArrayEquals(new long[0], f.info("scalar").shape());
            assertArrayEquals(new float[]{2.5f}, f.floats("scalar"));
            assertEquals(0, f.floats("empty").length);
            assertEquals(DType.BF16, f.info("bf").dtype());
            float[] bfGot = f.floats("bf");
            for (int i = 0; i < bf16.length; i++) {
                float rel = Math.abs(bfGot[i] - bf16[i]) / Math.abs(bf16[i]);
                assertTrue(rel <= 1f / 256, "BF16 " + i + ": " + bf16[i] + " read back as " + bfGot[i]);
                assertEquals(0, Float.floatToIntBits(bfGot[i]) & 0xffff, "BF16 " + i + " has low mantissa bits");
            }
        }
    }

    @Test
    void bf16RoundsToNearestEven() {
        assertEquals((short) 0x3f80, SafeTensorsWriter.toBf16(1.0f));
        assertEquals((short) 0x3f80, SafeTensorsWriter.toBf16(Float.intBitsToFloat(0x3f808000)), "tie to even (down)");
        assertEquals((short) 0x3f82, SafeTensorsWriter.toBf16(Float.intBitsToFloat(0x3f818000)), "tie to even (up)");
        assertEquals((short) 0x3f81, SafeTensorsWriter.toBf16(Float.intBitsToFloat(0x3f808001)), "above the tie");
        assertEquals((short) 0xbf80, SafeTensorsWriter.toBf16(-1.0f));
        assertEquals((short) 0x7f80, SafeTensorsWriter.toBf16(Float.POSITIVE_INFINITY));
        assertTrue(Float.isNaN(Float.intBitsToFloat(SafeTensorsWriter.toBf16(Float.intBitsToFloat(0x7f800001)) << 16)), "NaN stays NaN");
    }

    @Test
    void headerIsPaddedAndTensorsAligned() throws Exception {
        SplittableRandom rnd = new SplittableRandom(12);
        Path file = dir.resolve("aligned.safetensors");
        new SafeTensorsWriter()
                .metadata("format", "pt")
                .floats("a", DType.F16, randomFloats(rnd, 3), 3)
                .floats("b", DType.F32, randomFloats(rnd, 5), 5)
                .longs("c", new long[]{1, 2, 3}, 3)
                .write(file);
        byte[] bytes = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        assertEquals(0, n % 8, "header length " + n);
        String header = new String(bytes, 8, (int) n, StandardCharsets.UTF_8);
        JsonNode json = new ObjectMapper().readTree(header);
        assertEquals("pt", json.get("__metadata__").get("format").asText());
        for (String name : new String[]{"a", "b", "c"}) {
            JsonNode t = json.get(name);
            long begin = t.get("data_offsets").get(0).asLong();
            int size = t.get("dtype").asText().equals("I64") ? 8 : t.get("dtype").asText().equals("F32") ? 4 : 2;
            assertEquals(0, begin % size, name + " starts at " + begin);
        }
        assertEquals(8 + n + 3 * 8 + 5 * 4 + 3 * 2, bytes.length);
        assertFalse(Files.exists(dir.resolve("aligned.safetensors.tmp")));
    }

    @Test
    void rejectsBadInput() {
        assertEquals("safetensors writer: tensor 'x' has 6 values, shape [2, 4] needs 8",
                assertThrows(CheckpointException.class, () -> new SafeTensorsWriter().floats("x", DType.F32, new float[6], 2, 4)).getMessage());
        assertThrows(CheckpointException.class, () -> new SafeTensorsWriter().floats("x", DType.F32, new float[1], 1).longs("x", new long[1], 1));
        assertThrows(CheckpointException.class, () -> new SafeTensorsWriter().floats("x", DType.I64, new float[1], 1));
        assertThrows(CheckpointException.class, () -> new SafeTensorsWriter().floats("x", DType.F32, new float[0], -1, 0));
        Path missing = dir.resolve("no-such-dir").resolve("out.safetensors");
        CheckpointException e = assertThrows(CheckpointException.class, () -> new SafeTensorsWriter().longs("x", new long[1], 1).write(missing));
        assertTrue(e.getMessage().startsWith(missing + ": cannot write"), e.getMessage());
    }
}
