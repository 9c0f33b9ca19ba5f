package dev.mmfree.model.checkpoint;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.SplittableRandom;

import static dev.mmfree.model.checkpoint.RawSafeTensors.entry;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Hostile and valid safetensors files, written byte by byte: every bad file is a CheckpointException naming it. */
class SafeTensorsFileTest {
    @TempDir
    Path dir;

    /** Opens (and if it opens, reads every tensor of) the file; the error must name the file and each fragment. */
    static CheckpointException rejected(Path file, String... fragments) {
        CheckpointException e = assertThrows(CheckpointException.class, () -> {
            try (SafeTensorsFile f = SafeTensorsFile.open(file)) {
                f.tensors().keySet().forEach(f::bytes);
            }
        });
        assertMentions(e, file.toString());
        for (String s : fragments) {
            assertMentions(e, s);
        }
        return e;
    }

    static void assertMentions(Exception e, String fragment) {
        assertTrue(e.getMessage().contains(fragment), () -> "message lacks '" + fragment + "': " + e.getMessage());
    }

    private Path header(String header) {
        return RawSafeTensors.write(dir.resolve("m.safetensors"), header, new byte[64]);
    }

    private Path oneEntry(String entryJson) {
        return header("{\"w\":" + entryJson + "}");
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 7})
    void fileShorterThanHeaderLength(int size) {
        rejected(RawSafeTensors.bytes(dir.resolve("short.safetensors"), new byte[size]), size + " bytes");
    }

    @Test
    void missingFile() {
        rejected(dir.resolve("absent.safetensors"), "not found");
    }

    @ParameterizedTest
    @ValueSource(longs = {100, 1L << 62, -1L, Long.MIN_VALUE, 1L << 32})
    void headerLengthBeyondFile(long n) {
        byte[] content = ByteBuffer.allocate(40).order(ByteOrder.LITTLE_ENDIAN).putLong(n).put("{}".getBytes(StandardCharsets.UTF_8)).array();
        rejected(RawSafeTensors.bytes(dir.resolve("len.safetensors"), content), "header length " + Long.toUnsignedString(n), "40 bytes");
    }

    @Test
    void headerOverLimitRefusedBeforeReading() {
        long n = SafeTensorsFile.MAX_HEADER_BYTES + 1;
        Path f = RawSafeTensors.writeSparse(dir.resolve("big.safetensors"), n, "{", 8 + n + 16);
        rejected(f, "header length " + n, "limit");
    }

    @ParameterizedTest
    @ValueSource(strings = {"{", "{\"w\":}", "", "   ", "{} trailing", "{\"w\":{}}}"})
    void malformedJson(String header) {
        rejected(header(header), "malformed JSON");
    }

    @Test
    void deeplyNestedHeaderIsAnErrorNotAStackOverflow() {
        int depth = 200_000;
        rejected(header("{\"w\":" + "[".repeat(depth) + "]".repeat(depth) + "}"), "malformed JSON");
    }

    @Test
    void invalidUtf8() {
        byte[] h = {'{', '"', (byte) 0xC3, (byte) 0x28, '"', ':', '{', '}', '}'};
        rejected(RawSafeTensors.write(dir.resolve("utf.safetensors"), h, new byte[0]), "UTF-8");
    }

    @Test
    void duplicateTensorName() {
        String e = entry("F32", "[1]", 0, 4);
        rejected(header("{\"w\":" + e + ",\"w\":" + e + "}"), "Duplicate", "'w'");
    }

    @ParameterizedTest
    @ValueSource(strings = {"[]", "\"x\"", "null", "42"})
    void headerNotObject(String header) {
        rejected(header(header), "header is not a JSON object");
    }

    @ParameterizedTest
    @ValueSource(strings = {"5", "[0, 4]", "\"F32\"", "null"})
    void entryNotObject(String entry) {
        rejected(oneEntry(entry), "tensor 'w'", "not an object");
    }

    @ParameterizedTest
    @ValueSource(strings = {
            "{\"shape\":[1],\"data_offsets\":[0,4]}|'dtype'",
            "{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}|'dtype'",
            "{\"dtype\":\"F32\",\"data_offsets\":[0,4]}|'shape'",
            "{\"dtype\":\"F32\",\"shape\":\"[1]\",\"data_offsets\":[0,4]}|'shape'",
            "{\"dtype\":\"F32\",\"shape\":[1]}|'data_offsets'",
            "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}|'data_offsets'",
            "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}|'data_offsets'",
            "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.0]}|'data_offsets'",
            "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[\"0\",\"4\"]}|'data_offsets'",
            "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,99999999999999999999]}|'data_offsets'"})
    void missingOrMistypedField(String entryAndField) {
        String[] p = entryAndField.split("\\|");
        rejected(oneEntry(p[0]), "tensor 'w'", p[1]);
    }

    @ParameterizedTest
    @ValueSource(strings = {"f32", "F64", "", " F32", "F32 ", "Bf16", "XYZ"})
    void unknownDtype(String dtype) {
        rejected(oneEntry(entry(dtype, "[1]", 0, 4)), "tensor 'w'", "unsupported dtype \"" + dtype + "\"");
    }

    @ParameterizedTest
    @ValueSource(strings = {"[-1]", "[2.5]", "[\"2\"]", "[null]", "[1e3]", "[99999999999999999999]", "[2, -4]"})
    void badShapeEntry(String shape) {
        rejected(oneEntry(entry("F32", shape, 0, 4)), "tensor 'w'", "not a non-negative integer");
    }

    @Test
    void shapeElementCountOverflows() {
        rejected(oneEntry(entry("F32", "[4294967296, 4294967296]", 0, 4)), "tensor 'w'", "overflows");
        rejected(oneEntry(entry("F32", "[4611686018427387904]", 0, 4)), "tensor 'w'", "byte size", "overflows");
    }

    @Test
    void offsetsOutsideDataSection() {
        rejected(oneEntry(entry("F32", "[1]", 64, 68)), "tensor 'w'", "outside the data section (64 bytes)");
        rejected(oneEntry(entry("F32", "[1]", -4, 0)), "tensor 'w'", "outside the data section");
        rejected(oneEntry(entry("U8", "[" + Long.MAX_VALUE + "]", 0, Long.MAX_VALUE)), "tensor 'w'", "outside the data section");
    }

    @Test
    void endBeforeBegin() {
        rejected(oneEntry(entry("F32", "[1]", 8, 4)), "tensor 'w'", "end < begin");
    }

    @Test
    void byteSizeNotMatchingShape() {
        rejected(oneEntry(entry("F32", "[2]", 0, 12)), "tensor 'w'", "12 bytes", "needs 8");
        rejected(oneEntry(entry("BF16", "[3, 2]", 0, 24)), "tensor 'w'", "24 bytes", "needs 12");
    }

    @Test
    void overlappingTensors() {
        rejected(header("{\"a\":" + entry("F32", "[2]", 0, 8) + ",\"b\":" + entry("F32", "[2]", 4, 12) + "}"), "'a'", "'b'", "overlap");
        rejected(header("{\"a\":" + entry("F32", "[4]", 0, 16) + ",\"b\":" + entry("F32", "[1]", 4, 8) + "}"), "'a'", "'b'", "overlap");
    }

    @Test
    void overlapHiddenBehindEmptyTensorIsFound() {
        String h = "{\"a\":" + entry("F32", "[4]", 0, 16) + ",\"z\":" + entry("F32", "[0]", 8, 8)
                + ",\"c\":" + entry("F32", "[2]", 12, 20) + "}";
        rejected(header(h), "'a'", "'c'", "overlap");
    }

    @Test
    void missingTensorAndWrongKind() throws IOException {
        Path f = RawSafeTensors.builder().f32("w", "[2]", 1, 2).tensor("ids", "I64", "[1]", RawSafeTensors.i64(5)).write(dir.resolve("k.safetensors"));
        try (SafeTensorsFile st = SafeTensorsFile.open(f)) {
            CheckpointException e = assertThrows(CheckpointException.class, () -> st.floats("nope"));
            assertEquals(f + ": tensor 'nope': not found", e.getMessage());
            assertMentions(assertThrows(CheckpointException.class, () -> st.floats("ids")), f + ": tensor 'ids': dtype I64");
            assertMentions(assertThrows(CheckpointException.class, () -> st.longs("w")), f + ": tensor 'w': dtype F32");
        }
    }

    @Test
    void floatConversionsExact() {
        int[] f32 = {0x3F800000, 0x80000000, 0x00000001, 0x007FFFFF, 0x7F7FFFFF, 0x7F800000, 0xFF800000, 0x7FC00000, 0xC0490FDB};
        int[] f16 = {0x0000, 0x8000, 0x3C00, 0xC000, 0x3555, 0x7BFF, 0x0400, 0x0001, 0x03FF, 0x7C00, 0xFC00, 0x7E00, 0xFE01};
        float[] f16Want = {0f, -0f, 1f, -2f, 0.333251953125f, 65504f, 0x1p-14f, 0x1p-24f, 1023 * 0x1p-24f,
                Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, Float.NaN};
        int[] bf16 = {0x0000, 0x8000, 0x3F80, 0xC049, 0x0080, 0x0001, 0x7F7F, 0x7F80, 0xFF80, 0x7FC0, 0xFFC1};
        float[] bf16Want = {0f, -0f, 1f, -3.140625f, 0x1p-126f, 0x1p-133f, 0x1.fep127f,
                Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, Float.NaN};
        Path f = RawSafeTensors.builder()
                .tensor("f32", "F32", "[9]", RawSafeTensors.f32Bits(f32))
                .tensor("f16", "F16", "[13]", RawSafeTensors.u16(f16))
                .tensor("bf16", "BF16", "[11]", RawSafeTensors.u16(bf16))
                .write(dir.resolve("conv.safetensors"));
        try (SafeTensorsFile st = SafeTensorsFile.open(f)) {
            float[] got = st.floats("f32");
            for (int i = 0; i < f32.length; i++) {
                assertEquals(f32[i], Float.floatToRawIntBits(got[i]), "F32 element " + i);
            }
            assertBits(f16Want, st.floats("f16"), "F16");
            assertBits(bf16Want, st.floats("bf16"), "BF16");
        }
    }

    private static void assertBits(float[] want, float[] got, String what) {
        assertEquals(want.length, got.length, what + " length");
        for (int i = 0; i < want.length; i++) {
            if (Float.isNaN(want[i])) {
                assertTrue(Float.isNaN(got[i]), what + " element " + i + ": want NaN, got " + got[i]);
            } else {
                assertEquals(Float.floatToRawIntBits(want[i]), Float.floatToRawIntBits(got[i]),
                        what + " element " + i + ": want " + want[i] + ", got " + got[i]);
            }
        }
    }

    @Test
    void largeHalfTensorsConvertAcrossChunks() {
        int n = 70_007;
        int[] bits = new int[n];
        SplittableRandom r = new SplittableRandom(7);
        for (int i = 0; i < n; i++) {
            bits[i] = r.nextInt() & 0xffff;
        }
        Path f = RawSafeTensors.builder().tensor("h", "F16", "[7, 10001]", RawSafeTensors.u16(bits))
                .tensor("b", "BF16", "[70007]", RawSafeTensors.u16(bits)).write(dir.resolve("chunk.safetensors"));
        try (SafeTensorsFile st = SafeTensorsFile.open(f)) {
            float[] h = st.floats("h");
            float[] b = st.floats("b");
            for (int i = 0; i < n; i++) {
                float hw = Float.float16ToFloat((short) bits[i]);
                assertTrue(Float.compare(hw, h[i]) == 0, "F16 element " + i + ": want " + hw + ", got " + h[i]);
                assertEquals(bits[i] << 16, Float.floatToRawIntBits(b[i]), "BF16 element " + i);
            }
        }
    }

    @Test
    void integerTensors() {
        long[] l = {Long.MIN_VALUE, -1, 0, 1L << 40, Long.MAX_VALUE};
        int[] i = {Integer.MIN_VALUE, -1, 7, Integer.MAX_VALUE};
        Path f = RawSafeTensors.builder().tensor("l", "I64", "[5]", RawSafeTensors.i64(l))
                .tensor("i", "I32", "[2, 2]", RawSafeTensors.i32(i)).write(dir.resolve("int.safetensors"));
        try (SafeTensorsFile st = SafeTensorsFile.open(f)) {
            assertArrayEquals(l, st.longs("l"));
            assertArrayEquals(new long[] {Integer.MIN_VALUE, -1, 7, Integer.MAX_VALUE}, st.longs("i"));
            assertArrayEquals(new long[] {2, 2}, st.info("i").shape());
        }
    }

    @Test
    void metadataIgnoredAndHeaderPaddingAccepted() {
        String h = "{\"__metadata__\":{\"format\":\"pt\"},\"w\":" + entry("F32", "[2]", 0, 8) + "}      ";
        Path f = RawSafeTensors.write(dir.resolve("meta.safetensors"), h, RawSafeTensors.f32(1.5f, -2f));
        try (SafeTensorsFile st = SafeTensorsFile.open(f)) {
            assertEquals(Set.of("w"), st.tensors().keySet());
            assertArrayEquals(new float[] {1.5f, -2f}, st.floats("w"));
        }
    }

    @Test
    void zeroSizeAndScalarTensors() {
        Path f = RawSafeTensors.builder().f32("empty", "[0]").tensor("empty2", "BF16", "[3, 0]", new byte[0])
                .f32("scalar", "[]", 4.25f).tensor("emptyI", "I64", "[0, 5]", new byte[0]).write(dir.resolve("zero.safetensors"));
        try (SafeTensorsFile st = SafeTensorsFile.open(f)) {
            assertEquals(0, st.floats("empty").length);
            assertEquals(0, st.floats("empty2").length);
            assertEquals(0, st.longs("emptyI").length);
            assertArrayEquals(new long[] {3, 0}, st.info("empty2").shape());
            assertArrayEquals(new float[] {4.25f}, st.floats("scalar"));
        }
    }

    @Test
    void tensorsPastTwoGigabytesReadFromSparseFile() {
        long far = (1L << 31) + 12;
        String h = "{\"near\":" + entry("F32", "[1]", 0, 4) + ",\"cross\":" + entry("F16", "[4]", (1L << 31) - 4, (1L << 31) + 4)
                + ",\"far\":" + entry("F32", "[2, 2]", far, far + 16) + "}";
        int hl = h.getBytes(StandardCharsets.UTF_8).length;
        Path f = RawSafeTensors.writeSparse(dir.resolve("huge.safetensors"), hl, h, 8 + hl + far + 16);
        RawSafeTensors.putData(f, h, (1L << 31) - 4, RawSafeTensors.u16(0x3C00, 0xC000, 0x3800, 0x7C00));
        RawSafeTensors.putData(f, h, far, RawSafeTensors.f32(1f, -2f, 3.5f, 1e-30f));
        try (SafeTensorsFile st = SafeTensorsFile.open(f)) {
            assertArrayEquals(new float[] {1f, -2f, 3.5f, 1e-30f}, st.floats("far"));
            assertArrayEquals(new float[] {1f, -2f, 0.5f, Float.POSITIVE_INFINITY}, st.floats("cross"));
            assertArrayEquals(new float[] {0f}, st.floats("near"));
        }
    }

    @Test
    void tensorTooLargeForOneArrayRefusedWithoutAllocating() {
        long n = SafeTensorsFile.MAX_ARRAY + 1;
        String h = "{\"w\":" + entry("BF16", "[" + n + "]", 0, 2 * n) + "}";
        int hl = h.getBytes(StandardCharsets.UTF_8).length;
        Path f = RawSafeTensors.writeSparse(dir.resolve("vast.safetensors"), hl, h, 8 + hl + 2 * n);
        try (SafeTensorsFile st = SafeTensorsFile.open(f)) {
            assertEquals(n, st.info("w").elementCount());
            CheckpointException e = assertThrows(CheckpointException.class, () -> st.floats("w"));
            assertMentions(e, f + ": tensor 'w': " + n + " elements, more than one Java array holds");
        }
    }

    @Test
    void closeReleasesMappingAndFileHandle() throws IOException {
        ProcFiles.assumeLinux();
        Path f = RawSafeTensors.builder().f32("w", "[1]", 1f).write(dir.resolve("handles.safetensors"));
        SafeTensorsFile st = SafeTensorsFile.open(f);
        assertTrue(ProcFiles.mapped(f), "an open file is mapped (else this test could not fail)");
        assertTrue(!ProcFiles.openDescriptor(f), "the file handle is closed once mapped");
        st.close();
        st.close();
        assertTrue(!ProcFiles.mapped(f), "close unmaps");
        assertMentions(assertThrows(CheckpointException.class, () -> st.floats("w")), "closed");
    }

    @Test
    void failedOpenReleasesMapping() throws IOException {
        ProcFiles.assumeLinux();
        Path f = oneEntry(entry("F32", "[2]", 0, 4));
        rejected(f, "needs 8");
        assertTrue(!ProcFiles.mapped(f) && !ProcFiles.openDescriptor(f), "a failed open leaves no mapping or handle");
        Files.delete(f);
    }
}
