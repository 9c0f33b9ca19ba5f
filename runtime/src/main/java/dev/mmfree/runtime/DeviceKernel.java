package dev.mmfree.runtime;

/**
 * One kernel instance and its arguments. Arguments stay set between launches, so a model can set
 * up one instance per (layer, step) once and only launch it afterwards. Setters return this.
 */
public interface DeviceKernel extends AutoCloseable {
    String name();

    DeviceKernel arg(int index, DeviceBuffer buffer);

    DeviceKernel arg(int index, int value);

    DeviceKernel arg(int index, float value);

    /** A double argument (the kernel needs fp64). */
    DeviceKernel arg(int index, double value);

    /** A __local buffer of {@code bytes}. */
    DeviceKernel argLocal(int index, long bytes);

    /** Sets arguments 0.. in order: DeviceBuffer, Integer, Float or Double. */
    default DeviceKernel args(Object... values) {
        for (int i = 0; i < values.length; i++) {
            switch (values[i]) {
                case DeviceBuffer b -> arg(i, b);
                case Integer v -> arg(i, v);
                case Float v -> arg(i, v);
                case Double v -> arg(i, v);
                default -> throw new IllegalArgumentException(name() + ": argument " + i + " has unsupported type "
                        + (values[i] == null ? "null" : values[i].getClass().getSimpleName()));
            }
        }
        return this;
    }

    @Override
    void close();
}
