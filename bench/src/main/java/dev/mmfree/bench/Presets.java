package dev.mmfree.bench;

import dev.mmfree.model.checkpoint.RandomWeights;
import dev.mmfree.runtime.MmfreeException;

import java.util.Locale;

/** The paper's model sizes as {@code --preset} names them. */
final class Presets {
    private Presets() {
    }

    static RandomWeights.Preset parse(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "tiny" -> RandomWeights.Preset.TINY;
            case "370m" -> RandomWeights.Preset.M370;
            case "1.3b" -> RandomWeights.Preset.B1_3;
            case "2.7b" -> RandomWeights.Preset.B2_7;
            case "13b" -> RandomWeights.Preset.B13;
            default -> throw new MmfreeException("--preset: unknown preset '" + name + "' (tiny, 370M, 1.3B, 2.7B, 13B)");
        };
    }
}
