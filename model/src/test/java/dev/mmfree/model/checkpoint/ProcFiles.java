package dev.mmfree.model.checkpoint;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** What this process holds of a file, read from Linux's /proc: mappings and open descriptors. */
final class ProcFiles {
    private static final Path MAPS = Path.of("/proc/self/maps");
    private static final Path FDS = Path.of("/proc/self/fd");

    private ProcFiles() {
    }

    static void assumeLinux() {
        assumeTrue(Files.isReadable(MAPS) && Files.isDirectory(FDS), "needs /proc/self (Linux)");
    }

    static boolean mapped(Path file) throws IOException {
        String real = file.toRealPath().toString();
        try (var lines = Files.lines(MAPS)) {
            return lines.anyMatch(l -> l.endsWith(" " + real));
        }
    }

    static boolean openDescriptor(Path file) throws IOException {
        Path real = file.toRealPath();
        try (DirectoryStream<Path> fds = Files.newDirectoryStream(FDS)) {
            for (Path fd : fds) {
                try {
                    if (Files.readSymbolicLink(fd).equals(real)) {
                        return true;
                    }
                } catch (IOException gone) {
                    // the descriptor closed while listing (e.g. the listing's own)
                }
            }
        }
        return false;
    }
}
