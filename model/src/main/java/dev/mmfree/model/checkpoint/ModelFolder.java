package dev.mmfree.model.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;

import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * A Hugging Face model folder: {@code config.json} plus either {@code model.safetensors} or a sharded
 * checkpoint ({@code model.safetensors.index.json} whose {@code weight_map} names each tensor's shard).
 * Every file's header is validated at open, so a bad file fails the load before any weight is converted;
 * a failed open unmaps whatever it had mapped. Shard names must be plain files of this folder.
 * Errors read {@code <file>: tensor '<name>': <what>}.
 */
public final class ModelFolder implements TensorSource {
    public static final String CONFIG = "config.json";
    public static final String SINGLE = "model.safetensors";
    public static final String INDEX = "model.safetensors.index.json";

    private final Path dir;
    private final Path weights;
    private final JsonNode config;
    private final List<SafeTensorsFile> files;
    private final Map<String, SafeTensorsFile> byTensor;

    private ModelFolder(Path dir, Path weights, JsonNode config, List<SafeTensorsFile> files, Map<String, SafeTensorsFile> byTensor) {
        this.dir = dir;
        this.weights = weights;
        this.config = config;
        this.files = files;
        this.byTensor = byTensor;
    }

    public static ModelFolder open(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new CheckpointException(dir + ": not a model folder (no such directory)");
        }
        JsonNode config = StrictJson.read(dir.resolve(CONFIG));
        if (!config.isObject()) {
            throw new CheckpointException(dir.resolve(CONFIG) + ": not a JSON object but " + config.getNodeType());
        }
        Path single = dir.resolve(SINGLE);
        Path index = dir.resolve(INDEX);
        List<SafeTensorsFile> files = new ArrayList<>();
        Map<String, SafeTensorsFile> byTensor = new HashMap<>();
        try {
            if (Files.isRegularFile(single)) {
                SafeTensorsFile f = SafeTensorsFile.open(single);
                files.add(f);
                f.tensors().keySet().forEach(n -> byTensor.put(n, f));
                return new ModelFolder(dir, single, config, List.copyOf(files), byTensor);
            }
            if (Files.isRegularFile(index)) {
                openShards(dir, index, files, byTensor);
                return new ModelFolder(dir, index, config, List.copyOf(files), byTensor);
            }
            throw new CheckpointException(dir + ": neither " + SINGLE + " nor " + INDEX + " found");
        } catch (Throwable e) {
            files.forEach(SafeTensorsFile::close);
            throw e;
        }
    }

    private static void openShards(Path dir, Path index, List<SafeTensorsFile> files, Map<String, SafeTensorsFile> byTensor) {
        JsonNode root = StrictJson.read(index);
        JsonNode map = root.get("weight_map");
        if (map == null || !map.isObject()) {
            throw new CheckpointException(index + ": missing field 'weight_map' (an object of tensor name to shard file)");
        }
        Path folder = dir.toAbsolutePath().normalize();
        Map<Path, SafeTensorsFile> shards = new HashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = map.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String name = e.getKey();
            String where = index + ": tensor '" + name + "'";
            if (!e.getValue().isTextual()) {
                throw new CheckpointException(where + ": shard name is not a string: " + e.getValue());
            }
            Path shard = shardPath(folder, e.getValue().textValue(), where);
            SafeTensorsFile f = shards.get(shard);
            if (f == null) {
                if (!Files.isRegularFile(shard)) {
                    throw new CheckpointException(where + ": shard '" + e.getValue().textValue() + "' does not exist");
                }
                f = SafeTensorsFile.open(shard);
                files.add(f);
                shards.put(shard, f);
            }
            if (!f.tensors().containsKey(name)) {
                throw new CheckpointException(shard + ": tensor '" + name + "': not found, though " + INDEX + " maps it here");
            }
            byTensor.put(name, f);
        }
    }

    /** The shard as a file directly in {@code folder}: no separators, no "..", nothing absolute. */
    private static Path shardPath(Path folder, String shardName, String where) {
        try {
            Path shard = folder.resolve(shardName).normalize();
            if (!shardName.isEmpty() && folder.equals(shard.getParent())) {
                return shard;
            }
        } catch (InvalidPathException ex) {
            throw new CheckpointException(where + ": shard name '" + shardName + "' is not a valid file name", ex);
        }
        throw new CheckpointException(where + ": shard name '" + shardName + "' is not a file in the model folder");
    }

    public Path dir() {
        return dir;
    }

    @Override
    public JsonNode config() {
        return config;
    }

    @Override
    public boolean has(String name) {
        return byTensor.containsKey(name);
    }

    /** Every tensor name the checkpoint holds, sorted. */
    public Set<String> names() {
        return Collections.unmodifiableSet(new TreeSet<>(byTensor.keySet()));
    }

    public TensorInfo info(String name) {
        SafeTensorsFile f = byTensor.get(name);
        if (f == null) {
            throw new CheckpointException(weights + ": tensor '" + name + "': not found");
        }
        return f.info(name);
    }

    @Override
    public float[] floats(String name, long... shape) {
        TensorInfo t = info(name);
        if (!Arrays.equals(t.shape(), shape)) {
            throw new CheckpointException(t.file() + ": tensor '" + name + "': shape " + t.shapeString() + ", expected "
                    + Arrays.toString(shape));
        }
        return byTensor.get(name).floats(name);
    }

    @Override
    public String describe() {
        return "model folder " + dir;
    }

    @Override
    public void close() {
        files.forEach(SafeTensorsFile::close);
    }
}
