package dev.mmfree.model.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
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
 * The header is checked before anything is read: its length against the file and a 100 MB limit (before
 * any allocation), strict JSON without duplicate names, every entry's dtype, shape and offsets, byte size
 * against dtype x shape, and that no two tensors overlap. Gaps between tensors are tolerated. Tensor data
 * is read only when asked for, straight from the mapping (files over 2 GB work). The file handle is
 * closed once mapped; {@link #close} unmaps.
 */
public final class SafeTensorsFile implements AutoCloseable {
    /** Headers above this are refused before any allocation: real ones are a few hundred KB. */
    static final long MAX_HEADER_BYTES = StrictJson.MAX_BYTES;
    /** The most elements one Java array can hold on every JVM. */
    static final long MAX_ARRAY = Integer.MAX_VALUE - 8;
    private static final int CHUNK = 1 << 16;
    private static final ValueLayout.OfShort SHORT_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat FLOAT_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LONG_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt INT_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Path path;
    private final Arena arena;
    private final MemorySegment data;
    private final Map<String, TensorInfo> tensors;
    private volatile boolean closed;

    private SafeTensorsFile(Path path, Arena arena, MemorySegment data, Map<String, TensorInfo> tensors) {
        this.path = path;
        this.arena = arena;
        this.data = data;
        this.tensors = tensors;
    }

    public static SafeTensorsFile open(Path path) {
        Arena arena = Arena.ofShared();
        try {
            MemorySegment file = map(path, arena);
            long size = file.byteSize();
            long n = file.get(LONG_LE, 0);
            if (n < 0 || n > size - 8) {
                throw new CheckpointException(path + ": header length " + Long.toUnsignedString(n)
                        + " does not fit in the file (" + size + " bytes)");
            }
            if (n > MAX_HEADER_BYTES) {
                throw new CheckpointException(path + ": header length " + n + " exceeds the " + MAX_HEADER_BYTES + "-byte limit");
            }
            byte[] header = file.asSlice(8, n).toArray(ValueLayout.JAVA_BYTE);
            MemorySegment data = file.asSlice(8 + n);
            return new SafeTensorsFile(path, arena, data, parseHeader(path, header, data.byteSize()));
        } catch (Throwable e) {
            arena.close();
            throw e;
        }
    }

    private static MemorySegment map(Path path, Arena arena) {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) {
                throw new CheckpointException(path + ": not a safetensors file (" + size + " bytes, the header length alone needs 8)");
            }
            return ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
        } catch (NoSuchFileException e) {
            throw new CheckpointException(path + ": file not found", e);
        } catch (IOException e) {
            throw new CheckpointException(path + ": cannot read (" + e + ")", e);
        }
    }

    static Map<String, TensorInfo> parseHeader(Path path, byte[] header, long dataSize) {
        JsonNode root = StrictJson.parse(path + ": header", header);
        if (!root.isObject()) {
            throw new CheckpointException(path + ": header is not a JSON object but " + root.getNodeType());
        }
        Map<String, TensorInfo> out = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!e.getKey().equals("__metadata__")) {
                out.put(e.getKey(), parseEntry(path, e.getKey(), e.getValue(), dataSize));
            }
        }
        checkNoOverlap(path, out.values());
        return Collections.unmodifiableMap(out);
    }

    private static TensorInfo parseEntry(Path path, String name, JsonNode e, long dataSize) {
        String where = path + ": tensor '" + name + "'";
        if (!e.isObject()) {
            throw new CheckpointException(where + ": header entry is not an object but " + e.getNodeType());
        }
        DType dtype = parseDType(where, e.get("dtype"));
        JsonNode sh = e.get("shape");
        if (sh == null || !sh.isArray()) {
            throw new CheckpointException(where + ": missing field 'shape' (an array)");
        }
        long[] shape = new long[sh.size()];
        long count = 1;
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = sh.get(i);
            if (!isLong(d) || d.asLong() < 0) {
                throw new CheckpointException(where + ": shape " + sh + ": entry " + i + " is not a non-negative integer");
            }
            shape[i] = d.asLong();
            try {
                count = Math.multiplyExact(count, shape[i]);
            } catch (ArithmeticException ex) {
                throw new CheckpointException(where + ": shape " + sh + ": element count overflows 64 bits");
            }
        }
        JsonNode off = e.get("data_offsets");
        if (off == null || !off.isArray() || off.size() != 2 || !isLong(off.get(0)) || !isLong(off.get(1))) {
            throw new CheckpointException(where + ": missing field 'data_offsets' ([begin, end], integers)");
        }
        long begin = off.get(0).asLong();
        long end = off.get(1).asLong();
        if (end < begin) {
            throw new CheckpointException(where + ": data_offsets [" + begin + ", " + end + "]: end < begin");
        }
        if (begin < 0 || end > dataSize) {
            throw new CheckpointException(where + ": data_offsets [" + begin + ", " + end + "] lie outside the data section ("
                    + dataSize + " bytes)");
        }
        long expected;
        try {
            expected = Math.multiplyExact(count, dtype.bytes());
        } catch (ArithmeticException ex) {
            throw new CheckpointException(where + ": byte size of " + dtype + " x " + sh + " overflows 64 bits");
        }
        if (end - begin != expected) {
            throw new CheckpointException(where + ": data_offsets hold " + (end - begin) + " bytes, but " + dtype + " x " + sh
                    + " needs " + expected);
        }
        return new TensorInfo(name, dtype, shape, begin, end, path);
    }

    private static DType parseDType(String where, JsonNode dt) {
        if (dt == null || !dt.isTextual()) {
            throw new CheckpointException(where + ": missing field 'dtype' (a string)");
        }
        for (DType d : DType.values()) {
            if (d.name().equals(dt.textValue())) {
                return d;
            }
        }
        throw new CheckpointException(where + ": unsupported dtype " + dt + " (supported: " + List.of(DType.values()) + ")");
    }

    private static boolean isLong(JsonNode n) {
        return n != null && n.isIntegralNumber() && n.canConvertToLong();
    }

    /** Non-empty tensors must not share a byte; empty ones occupy none. */
    private static void checkNoOverlap(Path path, Iterable<TensorInfo> infos) {
        List<TensorInfo> sorted = new ArrayList<>();
        for (TensorInfo t : infos) {
            if (t.byteSize() > 0) {
                sorted.add(t);
            }
        }
        sorted.sort(Comparator.comparingLong(TensorInfo::begin));
        TensorInfo last = null;
        for (TensorInfo t : sorted) {
            if (last != null && t.begin() < last.end()) {
                throw new CheckpointException(path + ": tensor '" + t.name() + "': bytes [" + t.begin() + ", " + t.end()
                        + ") overlap tensor '" + last.name() + "' [" + last.begin() + ", " + last.end() + ")");
            }
            if (last == null || t.end() > last.end()) {
                last = t;
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
            throw new CheckpointException(path + ": tensor '" + name + "': not found");
        }
        return t;
    }

    /** The tensor's raw bytes, a read-only view into the mapping (valid until close). */
    public MemorySegment bytes(String name) {
        TensorInfo t = info(name);
        if (closed) {
            throw new CheckpointException(path + ": tensor '" + name + "': file already closed");
        }
        return data.asSlice(t.begin(), t.byteSize());
    }

    /** The tensor as float32 (F32, F16, BF16 converted exactly), row-major. */
    public float[] floats(String name) {
        TensorInfo t = info(name);
        if (!t.dtype().isFloat()) {
            throw new CheckpointException(path + ": tensor '" + name + "': dtype " + t.dtype() + ", expected F32, F16 or BF16");
        }
        int n = arrayLength(t);
        MemorySegment s = bytes(name);
        float[] out = new float[n];
        if (t.dtype() == DType.F32) {
            MemorySegment.copy(s, FLOAT_LE, 0, out, 0, n);
            return out;
        }
        short[] raw = new short[Math.min(n, CHUNK)];
        for (int start = 0; start < n; start += CHUNK) {
            int len = Math.min(CHUNK, n - start);
            MemorySegment.copy(s, SHORT_LE, 2L * start, raw, 0, len);
            if (t.dtype() == DType.F16) {
                for (int i = 0; i < len; i++) {
                    out[start + i] = Float.float16ToFloat(raw[i]);
                }
            } else {
                for (int i = 0; i < len; i++) {
                    out[start + i] = Float.intBitsToFloat((raw[i] & 0xffff) << 16);
                }
            }
        }
        return out;
    }

    /** The tensor as int64 (I64, I32 widened), row-major. */
    public long[] longs(String name) {
        TensorInfo t = info(name);
        if (t.dtype() != DType.I64 && t.dtype() != DType.I32) {
            throw new CheckpointException(path + ": tensor '" + name + "': dtype " + t.dtype() + ", expected I64 or I32");
        }
        int n = arrayLength(t);
        MemorySegment s = bytes(name);
        long[] out = new long[n];
        if (t.dtype() == DType.I64) {
            MemorySegment.copy(s, LONG_LE, 0, out, 0, n);
        } else {
            for (int i = 0; i < n; i++) {
                out[i] = s.getAtIndex(INT_LE, i);
            }
        }
        return out;
    }

    private int arrayLength(TensorInfo t) {
        long n = t.elementCount();
        if (n > MAX_ARRAY) {
            throw new CheckpointException(path + ": tensor '" + t.name() + "': " + n + " elements, more than one Java array holds ("
                    + MAX_ARRAY + ")");
        }
        return (int) n;
    }

    /** Unmaps the file; views from {@link #bytes} become invalid. Closing twice is harmless. */
    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            arena.close();
        }
    }
}
