package dev.mmfree.model.checkpoint;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** The shared reference checkpoints: system property {@code mmfree.fixtures}, else env {@code MMFREE_FIXTURES}. */
final class Fixtures {
    private Fixtures() {
    }

    static Path root() {
        String p = System.getProperty("mmfree.fixtures", System.getenv("MMFREE_FIXTURES"));
        assertTrue(p != null && Files.isDirectory(Path.of(p)), "fixtures not found: set -Dmmfree.fixtures or MMFREE_FIXTURES (got " + p + ")");
        return Path.of(p);
    }
}
