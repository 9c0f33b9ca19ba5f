package dev.mmfree.model;

import dev.mmfree.runtime.MmfreeException;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static dev.mmfree.kernels.tornado.TornadoTesting.requireTornado;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The tornado backend as Backends sees it: discovered, available in this (TornadoVM) JVM, never chosen
 * by auto; and in child JVMs started without what TornadoVM needs, unavailable with the reason.
 */
class TornadoBackendTest {
    /** Run in a child JVM: prints the tornado backend's unavailable reason, or "available". */
    public static final class Probe {
        public static void main(String[] args) {
            System.out.println(Backends.byName(TornadoBackend.NAME).unavailableReason().orElse("available"));
        }
    }

    @Test
    void discoveredAvailableAndNotChosenByAuto() {
        requireTornado();
        ModelBackend b = Backends.byName(TornadoBackend.NAME);
        assertInstanceOf(TornadoBackend.class, b);
        assertEquals("", b.unavailableReason().orElse(""));
        assertNotEquals(TornadoBackend.NAME, Backends.auto().name());
        MmfreeException e = assertThrows(MmfreeException.class, () -> b.llama(null));
        assertTrue(e.getMessage().contains("hgrn_bit models only"), e.getMessage());
    }

    @Test
    void withoutTornadoVmOnTheClassPathTheReasonSaysSo() throws Exception {
        String out = probe(List.of(), null);
        assertTrue(out.startsWith("no TornadoVM runtime on the class path") && out.contains("tornado-argfile"), out);
    }

    @Test
    void withTheApiJarButNoArgfileTheReasonSaysSo() throws Exception {
        Path api = apiJar();
        String out = probe(List.of(), api);
        assertTrue(out.startsWith("the JVM was not started with TornadoVM's argfile"), out);
    }

    @Test
    void withBailoutOnTheReasonSaysSo() throws Exception {
        requireTornado();
        String home = System.getenv("TORNADOVM_HOME");
        String out = probe(List.of("@" + home + "/tornado-argfile", "-Dtornado.recover.bailout=True"), null);
        assertTrue(out.contains("TornadoVM's bailout is on"), out);
    }

    private static Path apiJar() throws IOException {
        String home = System.getenv("TORNADOVM_HOME");
        org.junit.jupiter.api.Assumptions.assumeTrue(home != null, "TORNADOVM_HOME is not set");
        try (var files = Files.list(Path.of(home, "share", "java", "tornado"))) {
            return files.filter(p -> p.getFileName().toString().startsWith("tornado-api-")).findFirst().orElseThrow();
        }
    }

    /** Starts a JVM with this test's class path (plus extra, if given) and returns the probe's last output line. */
    private static String probe(List<String> jvmArgs, Path extra) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(jvmArgs);
        String cp = System.getProperty("java.class.path");
        cmd.add("-cp");
        cmd.add(extra == null ? cp : cp + java.io.File.pathSeparator + extra);
        cmd.add(Probe.class.getName());
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "probe JVM did not finish");
        assertEquals(0, p.exitValue(), "probe JVM failed: " + out);
        String[] lines = out.split("\\R");
        return lines[lines.length - 1];
    }
}
