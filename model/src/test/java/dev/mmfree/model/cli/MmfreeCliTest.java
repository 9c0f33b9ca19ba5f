package dev.mmfree.model.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Usage and error behaviour of every command; nothing here needs a model. */
class MmfreeCliTest {
    @TempDir
    Path dir;

    private static void assertOneLineError(CliRun r, int code, String... fragments) {
        assertEquals(code, r.code(), r.toString());
        assertEquals(1, r.errLines().length, "expected one line on stderr: " + r);
        for (String f : fragments) {
            assertTrue(r.err().contains(f), "stderr lacks '" + f + "': " + r);
        }
        assertEquals("", r.out(), r.toString());
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "generate", "logits", "info", "hello"})
    void helpOnEveryCommand(String command) {
        CliRun r = command.isEmpty() ? CliRun.of("--help") : CliRun.of(command, "--help");
        assertEquals(0, r.code(), r.toString());
        assertTrue(r.out().startsWith("Usage: mmfree" + (command.isEmpty() ? "" : " " + command)), r.toString());
        assertEquals("", r.err());
    }

    @Test
    void rootHelpListsBuiltInAndExtensionCommands() {
        String out = CliRun.of("-h").out();
        for (String c : new String[]{"generate", "logits", "info", "hello"}) {
            assertTrue(out.contains("  " + c + " "), c + " missing from:\n" + out);
        }
    }

    @Test
    void usageErrorsExitTwoWithOneLine() {
        assertOneLineError(CliRun.of("generate", "--model", dir.toString(), "--ids", "1", "--bogus"), 2, "Unknown option: '--bogus'");
        assertOneLineError(CliRun.of("logits", "--input", "a", "--output", "b"), 2, "Missing required option: '--model=DIR'");
        assertOneLineError(CliRun.of("generate", "--model", dir.toString()), 2, "--prompt", "--ids");
        assertOneLineError(CliRun.of("generate", "--model", dir.toString(), "--ids", "1,x"), 2, "'x'");
        assertOneLineError(CliRun.of("generate", "--model", dir.toString(), "--ids", "1", "--temperature", "-1"), 2,
                "--temperature must be >= 0 and finite, got -1");
        assertOneLineError(CliRun.of("generate", "--model", dir.toString(), "--ids", "1", "--top-p", "0"), 2, "--top-p must be in (0, 1]");
        assertOneLineError(CliRun.of("generate", "--model", dir.toString(), "--ids", "1", "--max-tokens", "0"), 2, "--max-tokens must be >= 1, got 0");
        assertOneLineError(CliRun.of("generate", "--model", dir.toString(), "--ids", "1", "--backend", "gpu9"), 2,
                "--backend: unknown backend 'gpu9'; known: reference");
        assertOneLineError(CliRun.of("logits", "--model", dir.toString(), "--input", "a", "--output", "b", "--mode", "sideways"), 2, "--mode");
        assertOneLineError(CliRun.of("frobnicate"), 2, "Unmatched argument");
        assertOneLineError(CliRun.of(), 2, "missing command");
    }

    @Test
    void failuresExitOneWithOneLineNamingTheCause() {
        Path missing = dir.resolve("no-such-model");
        assertOneLineError(CliRun.of("generate", "--model", missing.toString(), "--ids", "1,2"), 1,
                "mmfree generate: " + missing + ": not a model folder (no such directory)");
        assertOneLineError(CliRun.of("info", "--model", missing.toString()), 1, missing + ": not a model folder");
        assertOneLineError(CliRun.of("logits", "--model", missing.toString(), "--input", "x", "--output", "y"), 1, missing.toString());
        assertOneLineError(CliRun.of("generate", "--model", dir.toString(), "--ids", "1"), 1, dir.resolve("config.json") + ": file not found");
        assertOneLineError(CliRun.of("hello", "--fail"), 1, "mmfree hello: hello: asked to fail");
    }

    @Test
    void debugAddsTheStackTrace() {
        CliRun r = CliRun.of("hello", "--fail", "--debug");
        assertEquals(1, r.code());
        assertTrue(r.errLines().length > 3, r.toString());
        assertTrue(r.err().contains("at dev.mmfree.model.cli.HelloExtension$Hello.call"), r.toString());
        CliRun usage = CliRun.of("--debug", "generate", "--bogus");
        assertEquals(2, usage.code());
        assertTrue(usage.errLines().length > 3, usage.toString());
    }

    @Test
    void extensionRuns() {
        CliRun r = CliRun.of("hello");
        assertEquals(0, r.code(), r.toString());
        assertEquals("hello", r.out().strip());
    }

    @Test
    void oneLineKeepsTheFirstLineOfLongMessages() {
        assertEquals("build failed [2 more lines; --debug shows them]",
                MmfreeCli.oneLine(new dev.mmfree.runtime.MmfreeException("build failed\nline 1\nline 2")));
        assertEquals("IllegalStateException: boom (--debug for the stack trace)", MmfreeCli.oneLine(new IllegalStateException("boom")));
    }
}
