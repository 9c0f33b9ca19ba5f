package dev.mmfree.bench;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BenchCommandTest {
    @Test
    void tinySweepWritesTableCsvMarkdownJsonAndPlots(@TempDir Path out) throws Exception {
        PrintStream stdout = System.out;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        int rc;
        try {
            System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
            rc = new CommandLine(new BenchCommand()).execute("--preset", "tiny", "--backend", "reference", "--batch", "1,2",
                    "--context", "4,16", "--decode-steps", "6", "--warmup-steps", "1", "--prefill-repeats", "1", "--out", out.toString());
        } finally {
            System.setOut(stdout);
        }
        assertEquals(0, rc);
        String table = captured.toString(StandardCharsets.UTF_8);
        assertTrue(table.contains("MatMul-free") && table.contains("Transformer++"), table);
        assertTrue(table.contains("MatMul-free / Transformer++ at batch 1, context 4"), table);

        List<String> csv = Files.readAllLines(out.resolve("results.csv"));
        assertEquals(1 + 2 * 2 * 2, csv.size(), "header + 2 models x 2 batches x 2 contexts");
        assertTrue(Files.readString(out.resolve("results.md")).contains("| MatMul-free |"));
        assertEquals(8, Files.readAllLines(out.resolve("results.jsonl")).size());
        assertTrue(Files.size(out.resolve("memory-vs-context.png")) > 1000);
        assertTrue(Files.size(out.resolve("decode-vs-batch.png")) > 1000);

        List<BenchResult> back = BenchReport.readCsv(out.resolve("results.csv"));
        assertEquals(8, back.size());
        Files.delete(out.resolve("decode-vs-batch.png"));
        assertEquals(0, new CommandLine(new BenchCommand()).execute("--replot", out.toString()));
        assertTrue(Files.size(out.resolve("decode-vs-batch.png")) > 1000, "replot draws the plots again");
    }

    @Test
    void llamaStateGrowsWithContextAndHgrnStateDoesNot(@TempDir Path out) {
        BenchCommand cmd = new BenchCommand();
        int rc = new CommandLine(cmd).execute("--preset", "tiny", "--backend", "reference", "--context", "4,64",
                "--decode-steps", "6", "--warmup-steps", "0", "--prefill-repeats", "1", "--out", out.toString());
        assertEquals(0, rc);
        List<BenchResult> r = cmd.results();
        BenchResult hShort = find(r, "hgrn_bit", 4);
        BenchResult hLong = find(r, "hgrn_bit", 64);
        BenchResult lShort = find(r, "llama", 4);
        BenchResult lLong = find(r, "llama", 64);
        assertEquals(hShort.stateBytes(), hLong.stateBytes(), "recurrent state is independent of context");
        assertTrue(lLong.stateBytes() > lShort.stateBytes(), "KV cache grows: " + lShort.stateBytes() + " -> " + lLong.stateBytes());
        assertTrue(hShort.weightBytes() > 0 && lShort.weightBytes() > 0, "weights are accounted in the ledger");
    }

    /** The cpu backend's Transformer++ holds float32 weights unless asked for float16, and its table says which. */
    @Test
    void cpuBaselineHoldsFloatWeightsUnlessAskedForHalf(@TempDir Path out) {
        long[] weightBytes = new long[2];
        String[] storage = {"f32", "f16"};
        for (int i = 0; i < 2; i++) {
            BenchCommand cmd = new BenchCommand();
            List<String> args = new java.util.ArrayList<>(List.of("--preset", "tiny", "--backend", "cpu", "--models", "llama",
                    "--decode-steps", "2", "--warmup-steps", "0", "--prefill-repeats", "1", "--out", out.resolve(storage[i]).toString()));
            if (i == 1) {
                args.addAll(List.of("--cpu-llama-weights", "f16"));
            }
            assertEquals(0, new CommandLine(cmd).execute(args.toArray(String[]::new)));
            BenchResult r = find(cmd.results(), "llama", 128);
            assertTrue(r.device().endsWith("weights " + storage[i].toUpperCase(java.util.Locale.ROOT)), r.device());
            weightBytes[i] = r.weightBytes();
        }
        // the linear layers' bytes halve; the embedding table and the norms stay float32
        assertTrue(weightBytes[0] > 1.5 * weightBytes[1], "f32 holds far more than f16: " + weightBytes[0] + ", " + weightBytes[1]);
    }

    @Test
    void badArgumentsExitWithUsageError() {
        assertEquals(2, new CommandLine(new BenchCommand()).execute("--decode-steps", "0"));
        assertEquals(2, new CommandLine(new BenchCommand()).execute("--batch", "0"));
        assertEquals(2, new CommandLine(new BenchCommand()).execute("--cpu-llama-weights", "bf16"));
    }

    private static BenchResult find(List<BenchResult> rs, String arch, int context) {
        return rs.stream().filter(r -> r.architecture().equals(arch) && r.context() == context).findFirst().orElseThrow();
    }
}
