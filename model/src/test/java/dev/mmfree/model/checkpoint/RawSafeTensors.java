package dev.mmfree.model.checkpoint;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.StringJoiner;

/**
 * Writes safetensors bytes by hand for tests, independent of any writer in main: a valid file from
 * tensors ({@link #builder}), or any header text and data ({@link #write}), or a sparse file with bytes
 * at far offsets ({@link #writeSparse}, {@link #putData}).
 */
final class RawSafeTensors {
    private RawSafeTensors() {
    }

    /** [u64 LE length of header][header as UTF-8][data]. */
    static Path write(Path file, String header, byte[] data) {
        return write(file, header.getBytes(StandardCharsets.UTF_8), data);
    }

    static Path write(Path file, byte[] header, byte[] data) {
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(header.length).put(header).put(data);
        return bytes(file, b.array());
    }

    static Path bytes(Path file, byte[] content) {
        try {
            Files.write(file, content);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return file;
    }

    /** A file of {@code length} bytes, a hole but for the length field (which may lie) and the header. */
    static Path writeSparse(Path file, long headerLength, String header, long length) {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(length);
            f.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(headerLength).array());
            f.write(header.getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return file;
    }

    /** Writes {@code data} at data-section offset {@code at} of a file whose header is {@code header}. */
    static void putData(Path file, String header, long at, byte[] data) {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.seek(8 + header.getBytes(StandardCharsets.UTF_8).length + at);
            f.write(data);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A tensor entry {"dtype": .., "shape": .., "data_offsets": [begin, end]} as JSON text. */
    static String entry(String dtype, String shape, long begin, long end) {
        return "{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" + begin + "," + end + "]}";
    }

    static byte[] f32(float... v) {
        ByteBuffer b = le(4 * v.length);
        for (float x : v) {
            b.putFloat(x);
        }
        return b.array();
    }

    static byte[] f32Bits(int... bits) {
        ByteBuffer b = le(4 * bits.length);
        for (int x : bits) {
            b.putInt(x);
        }
        return b.array();
    }

    /** 16-bit patterns (F16 or BF16). */
    static byte[] u16(int... bits) {
        ByteBuffer b = le(2 * bits.length);
        for (int x : bits) {
            b.putShort((short) x);
        }
        return b.array();
    }

    static byte[] i64(long... v) {
        ByteBuffer b = le(8 * v.length);
        for (long x : v) {
            b.putLong(x);
        }
        return b.array();
    }

    static byte[] i32(int... v) {
        ByteBuffer b = le(4 * v.length);
        for (int x : v) {
            b.putInt(x);
        }
        return b.array();
    }

    private static ByteBuffer le(int n) {
        return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
    }

    static Builder builder() {
        return new Builder();
    }

    /** Tensors laid out back to back in the order added, with optional {@code __metadata__}. */
    static final class Builder {
        private final StringJoiner header = new StringJoiner(",", "{", "}");
        private final List<byte[]> data = new ArrayList<>();
        private long offset;

        Builder metadata(String json) {
            header.add("\"__metadata__\":" + json);
            return this;
        }

        Builder tensor(String name, String dtype, String shape, byte[] bytes) {
            header.add("\"" + name + "\":" + entry(dtype, shape, offset, offset + bytes.length));
            data.add(bytes);
            offset += bytes.length;
            return this;
        }

        Builder f32(String name, String shape, float... v) {
            return tensor(name, "F32", shape, RawSafeTensors.f32(v));
        }

        Path write(Path file) {
            ByteBuffer all = ByteBuffer.allocate(Math.toIntExact(offset));
            data.forEach(all::put);
            return RawSafeTensors.write(file, header.toString(), all.array());
        }
    }
}
