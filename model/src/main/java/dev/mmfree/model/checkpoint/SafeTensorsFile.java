package dev.mmfree.model.checkpoint;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One {@code .safetensors} file, memory-mapped and validated as untrusted input.
 *
 * <pre>
 *   [u64 little-endian N][N bytes of UTF-8 JSON header][data section]
 *   header: {"name": {"dtype": "F32", "shape": [r, c], "data_offsets": [begin, end]}, ..., "__metadata__": {...}}
 * </pre>
 * The header is checked before anything is read: its length against the file, every entry's dtype,
 * shape and offsets, byte size against dtype x shape, and that no two tensors overlap. Tensor data is
 * read only when asked for, straight from the mapping (files over 2 GB work).
 */
public final class SafeTensorsFile implements AutoCloseable {
    /** Headers above this are refused before any allocation: real ones are a few hundred KB. */
    static final long MAX_HEADER_BYTES = 100L << 20;
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ValueLayout.OfShort SHORT_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat FLOAT_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LONG_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt INT_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Path path;
    private final Arena arena;
    private final MemorySegment data;
    private final Map<String, TensorInfo> tensors;

    private SafeTensorsFile(Path path, Arena arena, MemorySegment data, Map<String, TensorInfo> tensors) {
        this.path = path;
        this.arena = arena;
        this.data = data;
        this.tensors = tensors;
    }

    public static SafeTensorsFile open(Path path) {
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) {
                throw new CheckpointException(path + ": not a safetensors file (" + size + " bytes, the header length alone needs 8)");
            }
            MemorySegment file = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            long n = file.get(LONG_LE, 0);
            if (n < 2 || n > size - 8) {
                throw new CheckpointException(path + ": header length " + Long.toUnsignedString(n) + " does not fit in the file (" + size + " bytes)");
            }
            if (n > MAX_HEADER_BYTES) {
                throw new CheckpointException(path + ": header length " + n + " exceeds the " + MAX_HEADER_BYTES + "-byte limit");
            }
            byte[] header = file.asSlice(8, n).toArray(ValueLayout.JAVA_BYTE);
            MemorySegment data = file.asSlice(8 + n);
            Map<String, TensorInfo> tensors = parseHeader(path, new String(header, StandardCharsets.UTF_8), data.byteSize());
            return new SafeTensorsFile(path, arena, data, tensors);
        } catch (IOException e) {
            arena.close();
            throw new CheckpointException(path + ": cannot read (" + e.getMessage() + ")", e);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    static Map<String, TensorInfo> parseHeader(Path path, String header, long dataSize) {
        JsonNode root;
        try {
            root = JSON.readTree(header);
        } catch (JsonProcessingException e) {
            throw new CheckpointException(path + ": malformed JSON header (" + e.getOriginalMessage() + ")", e);
        }
        if (root == null || !root.isObject()) {
            throw new CheckpointException(path + ": header is not a JSON object");
        }
        Map<String, TensorInfo> out = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String name = e.getKey();
            if (name.equals("__metadata__")) {
                continue;
            }
            out.put(name, parseEntry(path, name, e.getValue(), dataSize));
        }
        checkNoOverlap(path, out.values());
        return Collections.unmodifiableMap(out);
    }

    private static TensorInfo parseEntry(Path path, String name, JsonNode e, long dataSize) {
        String where = path + ": tensor '" + name + "'";
        if (!e.isObject()) {
            throw new CheckpointException(where + ": header entry is not an object");
        }
        JsonNode dt = e.get("dtype");
        if (dt == null || !dt.isTextual()) {
            throw new CheckpointException(where + ": missing field 'dtype'");
        }
        DType dtype;
        try {
            dtype = DType.valueOf(dt.asText());
        } catch (IllegalArgumentException ex) {
            throw new CheckpointException(where + ": unsupported dtype '" + dt.asText() + "'");
        }
        JsonNode sh = e.get("shape");
        if (sh == null || !sh.isArray()) {
            throw new CheckpointException(where + ": missing field 'shape'");
        }
        long[] shape = new long[sh.size()];
        long count = 1;
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = sh.get(i);
            if (!d.isIntegralNumber() || !d.canConvertToLong() || d.asLong() < 0) {
                throw new CheckpointException(where + ": shape entry " + i + " is not a non-negative integer: " + d);
            }
            shape[i] = d.asLong();
            try {
                count = Math.multiplyExact(count, shape[i]);
            } catch (ArithmeticException ex) {
                throw new CheckpointException(where + ": shape " + sh + " overflows");
            }
        }
        JsonNode off = e.get("data_offsets");
        if (off == null || !off.isArray() || off.size() != 2 || !off.get(0).canConvertToLong() || !off.get(1).canConvertToLong()
                || !off.get(0).isIntegralNumber() || !off.get(1).isIntegralNumber()) {
            throw new CheckpointException(where + ": field 'data_offsets' must be [begin, end]");
        }
        long begin = off.get(0).asLong();
        long end = off.get(1).asLong();
        if (begin < 0 || end < begin || end > dataSize) {
            throw new CheckpointException(where + ": data_offsets [" + begin + ", " + end + "] lie outside the data section (" + dataSize + " bytes)");
        }
        long expected;
        try {
            expected = Math.multiplyExact(count, dtype.bytes());
        } catch (ArithmeticException ex) {
            throw new CheckpointException(where + ": byte size of shape " + sh + " overflows");
        }
        if (end - begin != expected) {
            throw new CheckpointException(where + ": " + (end - begin) + " bytes, but " + dtype + " x " + sh + " needs " + expected);
        }
        return new TensorInfo(name, dtype, shape, begin, end, path);
    }

    private static void checkNoOverlap(Path path, Iterable<TensorInfo> infos) {
        List<TensorInfo> sorted = new ArrayList<>();
        infos.forEach(sorted::add);
        sorted.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
        for (int i = 1; i < sorted.size(); i++) {
            TensorInfo a = sorted.get(i - 1);
            TensorInfo b = sorted.get(i);
            if (b.begin() < a.end() && b.byteSize() > 0 && a.byteSize() > 0) {
                throw new CheckpointException(path + ": tensors '" + a.name() + "' and '" + b.name() + "' overlap");
            }
        }
    }

    public Path path() {
        return path;
    }

    public Map<String, TensorInfo> tensors() {
        return tensors;
    }

    public TensorInfo info(String name) {
        TensorInfo t = tensors.get(name);
        if (t == null) {
            throw new CheckpointException(path + ": no tensor '" + name + "'");
        }
        return t;
    }

    /** The tensor's raw bytes, a read-only view into the mapping (valid until close). */
    public MemorySegment bytes(String name) {
        TensorInfo t = info(name);
        return data.asSlice(t.begin(), t.byteSize());
    }

    /** The tensor as float32 (F32, F16, BF16 converted). */
    public float[] floats(String name) {
        TensorInfo t = info(name);
        if (!t.dtype().isFloat()) {
            throw new CheckpointException(path + ": tensor '" + name + "' is " + t.dtype() + ", expected a float dtype");
        }
        int n = arrayLength(t);
        MemorySegment s = bytes(name);
        float[] out = new float[n];
        switch (t.dtype()) {
            case F32 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = s.getAtIndex(FLOAT_LE, i);
                }
            }
            case F16 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = Float.float16ToFloat(s.getAtIndex(SHORT_LE, i));
                }
            }
            case BF16 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = Float.intBitsToFloat((s.getAtIndex(SHORT_LE, i) & 0xffff) << 16);
                }
            }
            default -> throw new AssertionError(t.dtype());
        }
        return out;
    }

    /** The tensor as int64 (I64, I32 widened). */
    public long[] longs(String name) {
        TensorInfo t = info(name);
        int n = arrayLength(t);
        MemorySegment s = bytes(name);
        long[] out = new long[n];
        switch (t.dtype()) {
            case I64 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = s.getAtIndex(LONG_LE, i);
                }
            }
            case I32 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = s.getAtIndex(INT_LE, i);
                }
            }
            default -> throw new CheckpointException(path + ": tensor '" + name + "' is " + t.dtype() + ", expected I64 or I32");
        }
        return out;
    }

    private int arrayLength(TensorInfo t) {
        long n = t.elementCount();
        if (n > Integer.MAX_VALUE - 8) {
            throw new CheckpointException(path + ": tensor '" + t.name() + "' has " + n + " elements, more than one Java array holds");
        }
        return (int) n;
    }

    @Override
    public void close() {
        arena.close();
    }
}
