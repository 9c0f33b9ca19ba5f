package dev.mmfree.model.train;

import dev.mmfree.model.checkpoint.CheckpointException;
import dev.mmfree.model.checkpoint.DType;
import dev.mmfree.model.checkpoint.ModelFolder;
import dev.mmfree.model.checkpoint.SafeTensorsFile;
import dev.mmfree.model.checkpoint.SafeTensorsWriter;
import dev.mmfree.model.config.HgrnBitConfig;

import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A training checkpoint as a Hugging Face model folder: {@code config.json}, {@code model.safetensors}
 * (the latent weights rounded to F32, under the reference names, loadable by every backend) and
 * {@code optimizer.safetensors}, which makes a resume exact: the step count ({@code step}, I64 [1}) and,
 * per parameter, the latent double values ({@code <name>}) and AdamW's moments ({@code <name>.exp_avg},
 * {@code <name>.exp_avg_sq}), each double stored as its IEEE-754 bits in an I64 tensor of the parameter's shape.
 */
public final class TrainCheckpoint {
    public static final String OPTIMIZER = "optimizer.safetensors";
    private static final String STEP = "step";

    /** What a checkpoint restores: the config, the parameters (exact when the optimizer file is there), the optimizer step. */
    public record State(HgrnBitConfig config, Map<String, Param> params, int step, Map<String, double[][]> moments) {
        /** Puts the saved step and moments into an optimizer (nothing when the folder had no optimizer file). */
        public void restore(AdamW optimizer) {
            Map<Param, double[][]> byParam = new IdentityHashMap<>();
            moments.forEach((name, mv) -> byParam.put(params.get(name), mv));
            optimizer.restore(step, byParam);
        }
    }

    private TrainCheckpoint() {
    }

    /** Writes the folder (created if absent; its three files replaced). */
    public static void save(Path dir, HgrnBitConfig config, Map<String, Param> params, AdamW optimizer) {
        try {
            Files.createDirectories(dir);
            new ObjectMapper().writerWithDefaultPrettyPrinter().writeValue(dir.resolve(ModelFolder.CONFIG).toFile(), config.toJson());
        } catch (IOException e) {
            throw new CheckpointException(dir + ": cannot write " + ModelFolder.CONFIG + " (" + e.getMessage() + ")", e);
        }
        SafeTensorsWriter model = new SafeTensorsWriter().metadata("format", "pt");
        SafeTensorsWriter opt = new SafeTensorsWriter()
                .metadata("content", "latent weights and AdamW moments, f64 stored as IEEE-754 bits in I64")
                .longs(STEP, new long[]{optimizer.steps()}, 1);
        HgrnBitTrainer.shapes(config).forEach((name, shape) -> {
            Param p = params.get(name);
            if (p == null || !Arrays.equals(p.shape(), shape)) {
                throw new CheckpointException(dir + ": parameter '" + name + "' " + (p == null ? "missing" : "has shape "
                        + Arrays.toString(p.shape())) + ", the config needs " + Arrays.toString(shape));
            }
            long[] s = Arrays.stream(shape).asLongStream().toArray();
            float[] f = new float[p.size()];
            for (int k = 0; k < f.length; k++) {
                f[k] = (float) p.value()[k];
            }
            model.floats(name, DType.F32, f, s);
            double[][] mv = optimizer.moments(p);
            opt.longs(name, bits(p.value()), s).longs(name + ".exp_avg", bits(mv[0]), s).longs(name + ".exp_avg_sq", bits(mv[1]), s);
        });
        model.write(dir.resolve(ModelFolder.SINGLE));
        opt.write(dir.resolve(OPTIMIZER));
    }

    /** Reads a folder: exact parameters and moments from optimizer.safetensors if present, else the F32 weights and step 0. */
    public static State load(Path dir) {
        HgrnBitConfig config;
        Path optFile = dir.resolve(OPTIMIZER);
        try (ModelFolder f = ModelFolder.open(dir)) {
            config = HgrnBitConfig.fromJson(f.config(), dir.resolve(ModelFolder.CONFIG).toString());
            if (!Files.isRegularFile(optFile)) {
                return new State(config, HgrnBitTrainer.paramsFrom(f, config), 0, Map.of());
            }
        }
        Map<String, Param> params = new LinkedHashMap<>();
        Map<String, double[][]> moments = new LinkedHashMap<>();
        try (SafeTensorsFile f = SafeTensorsFile.open(optFile)) {
            long step = Double.doubleToRawLongBits(doubles(f, STEP, new int[]{1}, optFile)[0]);
            if (step < 0 || step > Integer.MAX_VALUE) {
                throw new CheckpointException(optFile + ": tensor 'step': " + step + " is not a step count");
            }
            HgrnBitTrainer.shapes(config).forEach((name, shape) -> {
                params.put(name, new Param(name, doubles(f, name, shape, optFile), shape));
                moments.put(name, new double[][]{doubles(f, name + ".exp_avg", shape, optFile), doubles(f, name + ".exp_avg_sq", shape, optFile)});
            });
            return new State(config, params, (int) step, moments);
        }
    }

    private static long[] bits(double[] v) {
        long[] b = new long[v.length];
        for (int k = 0; k < v.length; k++) {
            b[k] = Double.doubleToRawLongBits(v[k]);
        }
        return b;
    }

    private static double[] doubles(SafeTensorsFile f, String name, int[] shape, Path file) {
        if (!f.tensors().containsKey(name)) {
            throw new CheckpointException(file + ": tensor '" + name + "': not found");
        }
        long[] want = Arrays.stream(shape).asLongStream().toArray();
        if (!Arrays.equals(f.info(name).shape(), want)) {
            throw new CheckpointException(file + ": tensor '" + name + "': shape " + f.info(name).shapeString() + ", expected "
                    + Arrays.toString(want));
        }
        long[] b = f.longs(name);
        double[] v = new double[b.length];
        for (int k = 0; k < v.length; k++) {
            v[k] = Double.longBitsToDouble(b[k]);
        }
        return v;
    }
}
