package dev.mmfree.model.cli;

import dev.mmfree.model.Backends;
import dev.mmfree.model.checkpoint.CheckpointException;
import dev.mmfree.runtime.opencl.OpenCl;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

import java.nio.file.Files;
import java.nio.file.Path;

/** The options every model-running command shares. */
final class ModelOptions {
    @Option(names = "--model", paramLabel = "DIR",
            description = "Hugging Face model folder (config.json, model.safetensors[.index.json], optional tokenizer.json)")
    Path model;

    @Option(names = "--backend", paramLabel = "NAME", defaultValue = "auto",
            description = "Backend: auto (the first available of opencl, cpu, reference) or one of ${COMPLETION-CANDIDATES}; default ${DEFAULT-VALUE}",
            completionCandidates = BackendNames.class)
    String backend;

    @Option(names = "--device", paramLabel = "SEL",
            description = "OpenCL device of the opencl backend: an index (see 'mmfree info'), gpu, cpu, or part of its name; "
                    + "default $MMFREE_OPENCL_DEVICE, else the first GPU")
    String device;

    /**
     * An unknown --backend is a usage error, and a missing folder an error, both found before a
     * backend is probed or anything is loaded.
     */
    void validate(CommandSpec spec) {
        if (model == null) {
            throw new ParameterException(spec.commandLine(), "Missing required option: '--model=DIR'");
        }
        if (!backend.equals("auto") && !Backends.names().contains(backend)) {
            throw new ParameterException(spec.commandLine(), "--backend: unknown backend '" + backend + "'; known: "
                    + String.join(", ", Backends.names()) + " (or auto)");
        }
        checkFolder(model);
        if (device != null) {
            System.setProperty(OpenCl.DEVICE_PROPERTY, device);
        }
    }

    static void checkFolder(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new CheckpointException(dir + ": not a model folder (no such directory)");
        }
    }

    /** The registered backend names, for --help. */
    static final class BackendNames implements Iterable<String> {
        @Override
        public java.util.Iterator<String> iterator() {
            return Backends.names().iterator();
        }
    }
}
