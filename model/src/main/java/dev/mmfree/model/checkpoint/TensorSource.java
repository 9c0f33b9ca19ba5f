package dev.mmfree.model.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * Where a model's configuration and named tensors come from: a Hugging Face folder on disk, or
 * random weights generated for a shape (benchmarks). Reading checks the tensor's shape.
 */
public interface TensorSource extends AutoCloseable {
    /** The parsed config.json. */
    JsonNode config();

    boolean has(String name);

    /**
     * The tensor as float32 values (F32, F16 and BF16 are converted), row-major.
     *
     * @param shape the shape the model expects; a mismatch is a {@link CheckpointException} naming the tensor
     */
    float[] floats(String name, long... shape);

    /** A short description for messages ("model folder /x/y"). */
    String describe();

    @Override
    void close();
}
