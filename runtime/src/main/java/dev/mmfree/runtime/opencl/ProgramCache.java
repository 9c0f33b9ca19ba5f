package dev.mmfree.runtime.opencl;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Optional;

/**
 * Program binaries on disk, one file per key: {@code ${MMFREE_CACHE:-~/.cache/mmfree}/opencl/<sha256>.bin}
 * (the system property {@code mmfree.cache} overrides the env, for tests).
 * The key hashes the source, the build options, the device name and the driver version, so a new
 * driver or an edited kernel never loads a stale binary. A file that fails to load is deleted and
 * the program rebuilt from source; a cache that cannot be written is only skipped.
 */
final class ProgramCache {
    private final Path dir;

    ProgramCache(Path dir) {
        this.dir = dir;
    }

    static ProgramCache fromEnvironment() {
        String root = System.getProperty("mmfree.cache", System.getenv("MMFREE_CACHE"));
        Path base = root != null && !root.isBlank() ? Path.of(root) : Path.of(System.getProperty("user.home"), ".cache", "mmfree");
        return new ProgramCache(base.resolve("opencl"));
    }

    static String key(String source, String options, String deviceName, String driverVersion) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            for (String part : new String[]{source, options, deviceName, driverVersion}) {
                md.update(part.getBytes(StandardCharsets.UTF_8));
                md.update((byte) 0);
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    Path path(String key) {
        return dir.resolve(key + ".bin");
    }

    Optional<byte[]> load(String key) {
        Path p = path(key);
        try {
            return Files.isRegularFile(p) ? Optional.of(Files.readAllBytes(p)) : Optional.empty();
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    void store(String key, byte[] binary) {
        if (binary.length == 0) {
            return;
        }
        try {
            Files.createDirectories(dir);
            Path tmp = Files.createTempFile(dir, key, ".tmp");
            Files.write(tmp, binary);
            Files.move(tmp, path(key), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            // an unwritable cache only costs a rebuild next time
        }
    }

    void evict(String key) {
        try {
            Files.deleteIfExists(path(key));
        } catch (IOException e) {
            // a file we cannot delete is rebuilt over on the next store
        }
    }
}
