package dev.mmfree.model.cli;

import dev.mmfree.model.CausalLm;
import dev.mmfree.model.ModelLoader;
import dev.mmfree.model.tokenizer.HfTokenizer;
import dev.mmfree.model.tokenizer.TestTokenizers;
import dev.mmfree.model.train.TrainCheckpoint;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code mmfree train} on a tiny corpus: a loadable folder, loss.csv, exact resume, one-line errors. */
class TrainCommandTest {
    @TempDir
    Path tmp;

    private Path corpus(long seed) throws IOException {
        String[] words = {"the ", "cat ", "sat ", "on ", "a ", "mat. ", "\n"};
        Random rnd = new Random(seed);
        StringBuilder s = new StringBuilder();
        while (s.length() < 600) {
            s.append(words[rnd.nextInt(words.length)]);
        }
        Path f = tmp.resolve("corpus.txt");
        Files.writeString(f, s, StandardCharsets.UTF_8);
        return f;
    }

    private static String[] args(Path corpus, Path out, int steps, String... more) {
        List<String> a = new java.util.ArrayList<>(List.of("train", "--corpus", corpus.toString(), "--out", out.toString(),
                "--hidden", "12", "--layers", "2", "--intermediate", "10", "--steps", String.valueOf(steps), "--batch", "3",
                "--seq", "7", "--warmup", "1", "--val-fraction", "0.1", "--val-windows", "4"));
        a.addAll(List.of(more));
        if (!a.contains("--eval-every")) {
            a.addAll(List.of("--eval-every", "2"));
        }
        return a.toArray(String[]::new);
    }

    @Test
    void trainsALoadableFolderWithALossCsv() throws IOException {
        Path out = tmp.resolve("model");
        CliRun r = CliRun.of(args(corpus(601), out, 5));
        assertEquals(0, r.code(), r.toString());
        assertTrue(r.err().contains("step 5/5"), r.toString());
        List<String> csv = Files.readAllLines(out.resolve("loss.csv"));
        assertEquals(List.of("step,train_loss,val_loss,lr"), csv.subList(0, 1));
        assertTrue(Files.size(out.resolve("loss.png")) > 1000, "loss.png");
        assertEquals(List.of("2", "4", "5"), csv.subList(1, csv.size()).stream().map(l -> l.split(",")[0]).toList(), csv.toString());
        for (String row : csv.subList(1, csv.size())) {
            String[] f = row.split(",");
            assertEquals(4, f.length, row);
            assertTrue(Double.parseDouble(f[1]) > 0 && Double.parseDouble(f[2]) > 0 && Double.parseDouble(f[3]) > 0, row);
        }
        try (CausalLm lm = ModelLoader.load(out, "reference"); CausalLm.Batch batch = lm.newBatch(2)) {
            assertEquals(256, lm.info().vocab());
            float[][][] logits = lm.forward(batch, new int[][]{{116, 104, 101}, {99, 97, 116}}, true);
            assertEquals(256, logits[1][2].length);
            assertTrue(Float.isFinite(logits[1][2][0]));
        }
        CliRun g = CliRun.of("generate", "--model", out.toString(), "--backend", "reference", "--prompt", "the cat", "--max-tokens", "6");
        assertEquals(0, g.code(), g.toString());
        assertTrue(g.err().contains("generate: 7 prompt + 6 new tokens"), g.toString());
    }

    /**
     * --tokenizer: a WordLevel tokenizer of 10 ids sets vocab_size 10 and is copied into the folder, where
     * generate finds it (prompt "the cat" = bos + 2 ids); --no-progress prints a line per --log-every.
     */
    @Test
    void trainsOnTheIdsOfATokenizer() throws IOException {
        Path tok = tmp.resolve("words.json");
        TestTokenizers.wordLevel(tok, List.of("<s>", "</s>", "<unk>", "the", "cat", "sat", "on", "a", "mat", "."), 0, 1);
        Path out = tmp.resolve("words");
        CliRun r = CliRun.of(args(corpus(605), out, 4, "--tokenizer", tok.toString(), "--no-progress", "--log-every", "1", "--threads", "2"));
        assertEquals(0, r.code(), r.toString());
        assertTrue(r.err().contains("vocab 10") && r.err().contains("step 1/4") && r.err().contains("2 threads"), r.toString());
        assertArrayEquals(Files.readAllBytes(tok), Files.readAllBytes(out.resolve(HfTokenizer.FILE)));
        try (CausalLm lm = ModelLoader.load(out, "reference")) {
            assertEquals(10, lm.info().vocab());
        }
        CliRun g = CliRun.of("generate", "--model", out.toString(), "--backend", "reference", "--prompt", "the cat", "--max-tokens", "3");
        assertEquals(0, g.code(), g.toString());
        assertTrue(g.err().contains("generate: 3 prompt + 3 new tokens"), g.toString());
        CliRun resumed = CliRun.of(args(corpus(605), out, 6, "--resume", out.toString()));
        assertEquals(0, resumed.code(), resumed.toString());
        assertTrue(resumed.err().contains("vocab 10"), resumed.toString());
    }

    /** Five steps straight equal --stop-after 3 then --resume for two more: identical files, appended loss rows. */
    @Test
    void resumeContinuesExactly() throws IOException {
        Path corpus = corpus(602);
        Path straight = tmp.resolve("straight");
        Path half = tmp.resolve("half");
        assertEquals(0, CliRun.of(args(corpus, straight, 5, "--seed", "7")).code());
        assertEquals(0, CliRun.of(args(corpus, half, 5, "--seed", "7", "--stop-after", "3")).code());
        CliRun r = CliRun.of(args(corpus, half, 5, "--seed", "7", "--resume", half.toString()));
        assertEquals(0, r.code(), r.toString());
        assertTrue(r.err().contains("steps 3..5"), r.toString());
        for (String f : List.of("model.safetensors", TrainCheckpoint.OPTIMIZER)) {
            assertArrayEquals(Files.readAllBytes(straight.resolve(f)), Files.readAllBytes(half.resolve(f)), f);
        }
        List<String> csv = Files.readAllLines(half.resolve("loss.csv"));
        assertEquals(List.of("2", "3", "4", "5"), csv.subList(1, csv.size()).stream().map(l -> l.split(",")[0]).toList(), csv.toString());
    }

    /** Without --model, generate runs the shipped fortunes model: sampled text is nearly all letters, spaces and punctuation. */
    @Test
    void generateDefaultsToTheShippedModel() {
        String before = System.getProperty("mmfree.home");
        System.setProperty("mmfree.home", "..");
        try {
            CliRun g = CliRun.of("generate", "--backend", "reference", "--prompt", "The ", "--max-tokens", "80",
                    "--temperature", "0.8", "--top-k", "20", "--seed", "3");
            assertEquals(0, g.code(), g.toString());
            String text = g.out().strip();
            long plain = text.chars().filter(ch -> Character.isLetter(ch) || Character.isWhitespace(ch) || ".,;:'\"!?-%()".indexOf(ch) >= 0).count();
            assertTrue(text.length() >= 30 && plain >= 0.9 * text.length() && text.contains(" "), "not text-like: " + text);
        } finally {
            if (before == null) {
                System.clearProperty("mmfree.home");
            } else {
                System.setProperty("mmfree.home", before);
            }
        }
    }

    /** --halve-lr-midway: loss.csv's lr equals the plain run's for the first half of the steps and half of it after. */
    @Test
    void halvingTheLearningRateMidway() throws IOException {
        Path corpus = corpus(604);
        Path plain = tmp.resolve("plain");
        Path halved = tmp.resolve("halved");
        assertEquals(0, CliRun.of(args(corpus, plain, 5, "--eval-every", "1")).code());
        assertEquals(0, CliRun.of(args(corpus, halved, 5, "--eval-every", "1", "--halve-lr-midway")).code());
        List<String> a = Files.readAllLines(plain.resolve("loss.csv"));
        List<String> b = Files.readAllLines(halved.resolve("loss.csv"));
        assertEquals(6, a.size(), a.toString());
        for (int step = 1; step <= 5; step++) {
            double want = Double.parseDouble(a.get(step).split(",")[3]) * (step - 1 >= 5 / 2 ? 0.5 : 1);
            assertEquals(want, Double.parseDouble(b.get(step).split(",")[3]), 1e-6 * want, "lr of step " + step);
        }
    }

    @Test
    void errorsAreOneLine() throws IOException {
        CliRun missing = CliRun.of("train", "--corpus", tmp.resolve("nope.txt").toString(), "--out", tmp.resolve("o").toString());
        assertEquals(MmfreeCli.EXIT_FAILURE, missing.code());
        assertArrayEquals(new String[]{"mmfree train: " + tmp.resolve("nope.txt") + ": no such corpus file"}, missing.errLines());
        CliRun badSeq = CliRun.of("train", "--corpus", corpus(603).toString(), "--out", tmp.resolve("o").toString(), "--seq", "1");
        assertEquals(MmfreeCli.EXIT_USAGE, badSeq.code());
        assertEquals(1, badSeq.errLines().length, badSeq.toString());
        assertTrue(badSeq.err().startsWith("mmfree train: need --steps"), badSeq.toString());
        CliRun help = CliRun.of("train", "--help");
        assertEquals(0, help.code());
        assertTrue(help.out().contains("--corpus") && help.out().contains("--resume"), help.toString());
    }
}
