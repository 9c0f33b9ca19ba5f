package dev.mmfree.runtime.opencl;

import dev.mmfree.runtime.DeviceException;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Locale;
import java.util.Optional;

/**
 * Program binaries on disk, one file per key: {@code ${MMFREE_CACHE:-~/.cache/mmfree}/opencl/<sha256>.bin}
 * (the system property {@code mmfree.cache} overrides the env, for tests).
 * The key hashes the source, the build options, the device name and the driver version, so a new
 * driver or an edited kernel never loads a stale binary. A file that fails to load is deleted and
 * the program rebuilt from source; a cache that cannot be written is only skipped.
 *
 * <p>{@code MMFREE_PROGRAM_CACHE} (property {@code mmfree.programCache}) says which platforms use it: {@code on},
 * {@code off}, or {@code auto} (the default), which is on except on PoCL. PoCL caches its own compiled kernels
 * ({@code POCL_CACHE_DIR}), and asking it for a program's binary makes it compile every kernel of the program
 * once more, for any work-group size, the slowest of its compiles: with cold caches that took the decode
 * kernels' first test 2 min 55 s instead of 1 min 5 s (bench/results/pocl/2026-11-29/program-cache). Warm, the
 * binary saves PoCL only its front end (a few seconds a test class).
 */
final class ProgramCache {
    /** The platform name PoCL reports. */
    static final String POCL_PLATFORM = "Portable Computing Language";
    private final Path dir;

    /** A cache in dir, or none (every program built from source, nothing stored) where dir is null. */
    ProgramCache(Path dir) {
        this.dir = dir;
    }

    /** The cache for programs of the given platform: the directory and the policy set by the environment. */
    static ProgramCache forPlatform(String platformName) {
        String policy = System.getProperty("mmfree.programCache", System.getenv("MMFREE_PROGRAM_CACHE"));
        if (!usesBinaries(platformName, policy)) {
            return new ProgramCache(null);
        }
        String root = System.getProperty("mmfree.cache", System.getenv("MMFREE_CACHE"));
        Path base = root != null && !root.isBlank() ? Path.of(root) : Path.of(System.getProperty("user.home"), ".cache", "mmfree");
        return new ProgramCache(base.resolve("opencl"));
    }

    /** Whether programs of the platform go through the cache under the policy (on, off, auto; null or blank = auto). */
    static boolean usesBinaries(String platformName, String policy) {
        String p = policy == null || policy.isBlank() ? "auto" : policy.trim().toLowerCase(Locale.ROOT);
        return switch (p) {
            case "on" -> true;
            case "off" -> false;
            case "auto" -> !platformName.contains(POCL_PLATFORM);
            default -> throw new DeviceException("MMFREE_PROGRAM_CACHE (mmfree.programCache) must be on, off or auto, got '" + policy + "'");
        };
    }

    /** False for the cache that stores nothing. */
    boolean enabled() {
        return dir != null;
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
        if (dir == null) {
            return Optional.empty();
        }
        Path p = path(key);
        try {
            return Files.isRegularFile(p) ? Optional.of(Files.readAllBytes(p)) : Optional.empty();
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    void store(String key, byte[] binary) {
        if (dir == null || binary.length == 0) {
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
        if (dir == null) {
            return;
        }
        try {
            Files.deleteIfExists(path(key));
        } catch (IOException e) {
            // a file we cannot delete is rebuilt over on the next store
        }
    }
}
