package dev.mmfree.model;

import dev.mmfree.model.checkpoint.SafeTensorsFile;
import org.junit.jupiter.api.Assumptions;

import java.nio.file.Files;
import java.nio.file.Path;

/** The shared reference checkpoints ({@code ../shared/fixtures}) and their golden logits. */
public final class Fixtures {
    private Fixtures() {
    }

    /** The fixtures folder from {@code -Dmmfree.fixtures} or env {@code MMFREE_FIXTURES}; skips the test when absent. */
    public static Path dir() {
        String p = System.getProperty("mmfree.fixtures");
        if (p == null || p.isBlank()) {
            p = System.getenv("MMFREE_FIXTURES");
        }
        Assumptions.assumeTrue(p != null && !p.isBlank(),
                "fixtures folder not configured: set -Dmmfree.fixtures or MMFREE_FIXTURES to shared/fixtures");
        Path dir = Path.of(p);
        Assumptions.assumeTrue(Files.isDirectory(dir), "fixtures folder " + dir + " not found; skipping fixture tests");
        return dir;
    }

    /**
     * A fixture's golden data.
     *
     * @param ids       [b][t] token ids
     * @param logits    [b][t][V] reference logits
     * @param promptLen the prompt length the fixture states, else 12
     */
    public record Golden(int[][] ids, float[][][] logits, int promptLen) {
        public int batch() {
            return ids.length;
        }

        public int length() {
            return ids[0].length;
        }

        public static Golden read(Path modelDir) {
            try (SafeTensorsFile f = SafeTensorsFile.open(modelDir.resolve("golden.safetensors"))) {
                long[] shape = f.info("logits").shape();
                int b = (int) shape[0];
                int t = (int) shape[1];
                int v = (int) shape[2];
                long[] flatIds = f.longs("input_ids");
                float[] flatLogits = f.floats("logits");
                int[][] ids = new int[b][t];
                float[][][] logits = new float[b][t][v];
                for (int i = 0; i < b; i++) {
                    for (int p = 0; p < t; p++) {
                        ids[i][p] = Math.toIntExact(flatIds[i * t + p]);
                        System.arraycopy(flatLogits, (i * t + p) * v, logits[i][p], 0, v);
                    }
                }
                int prompt = f.tensors().containsKey("prompt_len") ? (int) f.longs("prompt_len")[0] : 12;
                return new Golden(ids, logits, prompt);
            }
        }
    }
}
