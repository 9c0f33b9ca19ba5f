package dev.mmfree.model.checkpoint;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a {@code .safetensors} file (the layout {@link SafeTensorsFile} reads) from float[] and long[]
 * tensors: F32, F16, BF16 from floats (F16 and BF16 rounded to nearest even), I64 from longs.
 *
 * <p>The JSON header is padded with spaces so the data section starts 8-byte aligned; tensors are laid
 * out by element size, largest first, so each one stays aligned to its element size, with no gaps (the
 * format requires the data section to be covered exactly). Values are converted through one small
 * buffer while writing: the only large arrays are the caller's. The file appears complete or not at
 * all (written to a temporary sibling, then moved).
 */
public final class SafeTensorsWriter {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int CHUNK = 1 << 16;

    private record Entry(String name, DType dtype, long[] shape, float[] floats, long[] longs) {
        long count() {
            return floats != null ? floats.length : longs.length;
        }
    }

    private final Map<String, Entry> entries = new LinkedHashMap<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    /** Adds a float tensor stored as {@code dtype} (F32, F16 or BF16); {@code values} row-major, not copied. */
    public SafeTensorsWriter floats(String name, DType dtype, float[] values, long... shape) {
        if (!dtype.isFloat()) {
            throw new CheckpointException("safetensors writer: tensor '" + name + "': dtype " + dtype + " is not F32, F16 or BF16");
        }
        return add(new Entry(name, dtype, shape.clone(), values, null));
    }

    /** Adds an I64 tensor; {@code values} row-major, not copied. */
    public SafeTensorsWriter longs(String name, long[] values, long... shape) {
        return add(new Entry(name, DType.I64, shape.clone(), null, values));
    }

    /** A string entry of the header's {@code __metadata__}. */
    public SafeTensorsWriter metadata(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    private SafeTensorsWriter add(Entry e) {
        if (e.name().isEmpty() || e.name().equals("__metadata__")) {
            throw new CheckpointException("safetensors writer: invalid tensor name '" + e.name() + "'");
        }
        if (entries.containsKey(e.name())) {
            throw new CheckpointException("safetensors writer: tensor '" + e.name() + "' added twice");
        }
        long n = 1;
        for (long s : e.shape()) {
            if (s < 0 || n * (double) s > Long.MAX_VALUE) {
                throw new CheckpointException("safetensors writer: tensor '" + e.name() + "' has an invalid shape " + Arrays.toString(e.shape()));
            }
            n *= s;
        }
        if (n != e.count()) {
            throw new CheckpointException("safetensors writer: tensor '" + e.name() + "' has " + e.count() + " values, shape "
                    + Arrays.toString(e.shape()) + " needs " + n);
        }
        entries.put(e.name(), e);
        return this;
    }

    public void write(Path file) {
        List<Entry> order = new ArrayList<>(entries.values());
        order.sort(Comparator.comparingInt((Entry e) -> -e.dtype().bytes()));
        byte[] header = header(order);
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
                ByteBuffer buf = ByteBuffer.allocate(CHUNK).order(ByteOrder.LITTLE_ENDIAN);
                buf.putLong(header.length);
                flush(ch, buf);
                writeFully(ch, ByteBuffer.wrap(header));
                for (Entry e : order) {
                    writeData(ch, buf, e);
                }
            }
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // the write error below is the one to report
            }
            throw new CheckpointException(file + ": cannot write (" + e.getMessage() + ")", e);
        }
    }

    private byte[] header(List<Entry> order) {
        ObjectNode root = JSON.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode meta = root.putObject("__metadata__");
            metadata.forEach(meta::put);
        }
        long offset = 0;
        for (Entry e : order) {
            ObjectNode t = root.putObject(e.name());
            t.put("dtype", e.dtype().name());
            var shape = t.putArray("shape");
            for (long s : e.shape()) {
                shape.add(s);
            }
            long end = offset + e.count() * e.dtype().bytes();
            t.putArray("data_offsets").add(offset).add(end);
            offset = end;
        }
        byte[] json;
        try {
            json = JSON.writeValueAsString(root).getBytes(StandardCharsets.UTF_8);
        } catch (JsonProcessingException e) {
            throw new CheckpointException("safetensors writer: cannot encode header (" + e.getOriginalMessage() + ")", e);
        }
        int padded = (json.length + 7) & ~7;
        byte[] out = Arrays.copyOf(json, padded);
        Arrays.fill(out, json.length, padded, (byte) ' ');
        return out;
    }

    private static void writeData(FileChannel ch, ByteBuffer buf, Entry e) throws IOException {
        int n = (int) e.count();
        for (int i = 0; i < n; i++) {
            if (buf.remaining() < 8) {
                flush(ch, buf);
            }
            switch (e.dtype()) {
                case F32 -> buf.putFloat(e.floats()[i]);
                case F16 -> buf.putShort(Float.floatToFloat16(e.floats()[i]));
                case BF16 -> buf.putShort(toBf16(e.floats()[i]));
                case I64 -> buf.putLong(e.longs()[i]);
                default -> throw new AssertionError(e.dtype());
            }
        }
        flush(ch, buf);
    }

    /** float32 to bfloat16 bits, rounding to nearest even; NaN stays a (quiet) NaN. */
    static short toBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) {
            return (short) ((bits >>> 16) | 0x0040);
        }
        int rounded = bits + 0x7fff + ((bits >>> 16) & 1);
        return (short) (rounded >>> 16);
    }

    private static void flush(FileChannel ch, ByteBuffer buf) throws IOException {
        buf.flip();
        writeFully(ch, buf);
        buf.clear();
    }

    private static void writeFully(FileChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) {
            ch.write(buf);
        }
    }
}
