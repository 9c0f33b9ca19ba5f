package dev.mmfree.model.cli;

import dev.mmfree.kernels.sampling.SamplingParams;
import dev.mmfree.model.CausalLm;
import dev.mmfree.model.Fixtures;
import dev.mmfree.model.ModelLoader;
import dev.mmfree.model.checkpoint.SafeTensorsFile;
import dev.mmfree.model.checkpoint.SafeTensorsWriter;
import dev.mmfree.model.generate.GenerationRequest;
import dev.mmfree.model.generate.Generator;
import dev.mmfree.model.generate.Session;
import dev.mmfree.model.generate.TokenListener;
import dev.mmfree.model.tokenizer.TestTokenizers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The commands on the shared reference checkpoints ({@code ../shared/fixtures}). */
class CliFixtureTest {
    private static final double TOLERANCE = 2e-3;

    @TempDir
    Path tmp;

    private static int[] parseIds(String out) {
        String s = out.strip();
        return s.isEmpty() ? new int[0] : Arrays.stream(s.split(" ")).mapToInt(Integer::parseInt).toArray();
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"hgrn-tiny-a, prefill", "hgrn-tiny-a, decode", "hgrn-tiny-a-bf16, prefill", "llama-tiny, decode"})
    void logitsReproduceGolden(String fixture, String mode) {
        Path model = Fixtures.dir().resolve(fixture);
        Fixtures.Golden g = Fixtures.Golden.read(model);
        long[] flat = Arrays.stream(g.ids()).flatMapToInt(Arrays::stream).asLongStream().toArray();
        Path in = tmp.resolve("ids.safetensors");
        Path out = tmp.resolve("out.safetensors");
        new SafeTensorsWriter().longs("input_ids", flat, g.batch(), g.length()).write(in);

        CliRun r = CliRun.of("logits", "--model", model.toString(), "--input", in.toString(), "--output", out.toString(),
                "--mode", mode, "--backend", "reference");
        assertEquals(0, r.code(), r.toString());
        assertTrue(r.err().startsWith("logits: [" + g.batch() + ", " + g.length() + ", "), r.toString());

        try (SafeTensorsFile f = SafeTensorsFile.open(out)) {
            int v = g.logits()[0][0].length;
            assertArrayEquals(new long[]{g.batch(), g.length(), v}, f.info("logits").shape());
            assertArrayEquals(flat, f.longs("input_ids"));
            float[] got = f.floats("logits");
            for (int s = 0; s < g.batch(); s++) {
                double diff = 0;
                double ref = 0;
                for (int p = 0; p < g.length(); p++) {
                    for (int k = 0; k < v; k++) {
                        float x = got[(s * g.length() + p) * v + k];
                        float y = g.logits()[s][p][k];
                        assertTrue(Float.isFinite(x), "sequence " + s + " position " + p + " logit " + k + " is " + x);
                        diff += (x - y) * (double) (x - y);
                        ref += y * (double) y;
                    }
                }
                double rel = Math.sqrt(diff / ref);
                assertTrue(rel <= TOLERANCE, fixture + " " + mode + " sequence " + s + ": relative L2 error " + rel + " > " + TOLERANCE);
            }
        }
    }

    @Test
    void generateIdsFollowsTheGenerationApiWithSeedBudgetAndStop() {
        Path model = Fixtures.dir().resolve("hgrn-tiny-a");
        String[] base = {"generate", "--model", model.toString(), "--ids", "1,17,300,42", "--backend", "reference",
                "--temperature", "0.9", "--top-k", "50", "--top-p", "0.95", "--seed", "7"};
        CliRun a = CliRun.of(concat(base, "--max-tokens", "12", "--stop", "600"));
        CliRun b = CliRun.of(concat(base, "--max-tokens", "12", "--stop", "600"));
        assertEquals(0, a.code(), a.toString());
        assertEquals(a.out(), b.out(), "same seed, same tokens");
        int[] tokens = parseIds(a.out());
        assertEquals(12, tokens.length, "the budget is spent when no stop token can occur: " + a);
        assertTrue(a.err().startsWith("generate: 4 prompt + 12 new tokens (max tokens)"), a.toString());

        int[] expected;
        try (CausalLm lm = ModelLoader.load(model, "reference"); Session s = new Generator(lm).newSession()) {
            expected = s.generate(new GenerationRequest(new int[]{1, 17, 300, 42}, 12, new int[0],
                    new SamplingParams(0.9, 50, 0.95, 7)), TokenListener.NONE).tokens();
        }
        assertArrayEquals(expected, tokens, "the CLI streams what the Java API generates");

        int stop = tokens[5];
        int first = 0;
        while (tokens[first] != stop) {
            first++;
        }
        CliRun stopped = CliRun.of(concat(base, "--max-tokens", "12", "--stop", "600," + stop));
        assertArrayEquals(Arrays.copyOf(tokens, first), parseIds(stopped.out()), stopped.toString());
        assertTrue(stopped.err().contains("+ " + (first + 1) + " new tokens (stop token)"), stopped.toString());

        CliRun other = CliRun.of(concat(new String[]{"generate", "--model", model.toString(), "--ids", "1,17,300,42", "--backend",
                "reference", "--temperature", "0.9", "--top-k", "50", "--top-p", "0.95", "--seed", "8"}, "--max-tokens", "12", "--stop", "600"));
        assertTrue(!other.out().equals(a.out()), "seeds 7 and 8 gave the same 12 tokens");
    }

    @Test
    void generateWithTokenizerStreamsTextAndPromptNeedsOne() throws Exception {
        Path fixture = Fixtures.dir().resolve("hgrn-tiny-a");
        CliRun noTok = CliRun.of("generate", "--model", fixture.toString(), "--prompt", "hello", "--backend", "reference");
        assertEquals(1, noTok.code(), noTok.toString());
        assertTrue(noTok.err().contains("no tokenizer.json") && noTok.err().contains("--ids"), noTok.toString());

        Path model = Files.createDirectories(tmp.resolve("with-tokenizer"));
        for (String f : new String[]{"config.json", "model.safetensors"}) {
            Files.copy(fixture.resolve(f), model.resolve(f));
        }
        List<String> words = new ArrayList<>();
        for (int i = 0; i < 512; i++) {
            words.add(i == 0 ? "<unk>" : i == 1 ? "<s>" : i == 2 ? "</s>" : "w" + i);
        }
        TestTokenizers.wordLevel(model.resolve("tokenizer.json"), words, 1, 2);

        String[] common = {"--backend", "reference", "--max-tokens", "9", "--temperature", "1.1", "--seed", "3"};
        CliRun text = CliRun.of(concat(concat(new String[]{"generate", "--model", model.toString()}, common), "--prompt", "w17 w300 w42"));
        CliRun ids = CliRun.of(concat(concat(new String[]{"generate", "--model", fixture.toString()}, common), "--ids", "1,17,300,42"));
        assertEquals(0, text.code(), text.toString());
        int[] generated = parseIds(ids.out());
        String expected = Arrays.stream(generated).filter(t -> t != 1 && t != 2).mapToObj(words::get).collect(Collectors.joining(" "));
        assertEquals(" " + expected, text.out().stripTrailing(), "text is the decoded ids, continuing the prompt");

        CliRun info = CliRun.of("info", "--model", model.toString(), "--backend", "reference");
        assertEquals(0, info.code(), info.toString());
        for (String s : new String[]{"architecture hgrn_bit: vocab 512, hidden 64, 2 layers", "parameters", "state", "eos          [2]",
                "tokenizer    tokenizer.json, vocab 512", "backends:", "reference  available"}) {
            assertTrue(info.out().contains(s), "info lacks '" + s + "':\n" + info.out());
        }
    }

    private static String[] concat(String[] a, String... b) {
        String[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
