package dev.mmfree.model.config;

import dev.mmfree.model.checkpoint.CheckpointException;

/** A config.json field is missing, mistyped or unsupported: the message names the field and the file. */
public class ConfigException extends CheckpointException {
    public ConfigException(String message) {
        super(message);
    }
}
