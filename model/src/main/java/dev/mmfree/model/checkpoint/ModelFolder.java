package dev.mmfree.model.checkpoint;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A Hugging Face model folder: {@code config.json} plus either {@code model.safetensors} or a sharded
 * checkpoint ({@code model.safetensors.index.json} whose {@code weight_map} names each tensor's shard).
 * Shards are mapped lazily-validated at open: every shard's header is checked up front so that a bad
 * file fails the load before any weight is converted.
 */
public final class ModelFolder implements TensorSource {
    private static final ObjectMapper JSON = new ObjectMapper();
    public static final String CONFIG = "config.json";
    public static final String SINGLE = "model.safetensors";
    public static final String INDEX = "model.safetensors.index.json";

    private final Path dir;
    private final JsonNode config;
    private final List<SafeTensorsFile> files;
    private final Map<String, SafeTensorsFile> byTensor;

    private ModelFolder(Path dir, JsonNode config, List<SafeTensorsFile> files, Map<String, SafeTensorsFile> byTensor) {
        this.dir = dir;
        this.config = config;
        this.files = files;
        this.byTensor = byTensor;
    }

    public static ModelFolder open(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new CheckpointException(dir + ": not a model folder (no such directory)");
        }
        JsonNode config = readJson(dir.resolve(CONFIG));
        if (!config.isObject()) {
            throw new CheckpointException(dir.resolve(CONFIG) + ": not a JSON object");
        }
        List<SafeTensorsFile> files = new ArrayList<>();
        Map<String, SafeTensorsFile> byTensor = new HashMap<>();
        try {
            Path single = dir.resolve(SINGLE);
            Path index = dir.resolve(INDEX);
            if (Files.isRegularFile(single)) {
                SafeTensorsFile f = SafeTensorsFile.open(single);
                files.add(f);
                f.tensors().keySet().forEach(n -> byTensor.put(n, f));
            } else if (Files.isRegularFile(index)) {
                openShards(dir, index, files, byTensor);
            } else {
                throw new CheckpointException(dir + ": neither " + SINGLE + " nor " + INDEX + " found");
            }
        } catch (RuntimeException e) {
            files.forEach(SafeTensorsFile::close);
            throw e;
        }
        return new ModelFolder(dir, config, List.copyOf(files), byTensor);
    }

    private static void openShards(Path dir, Path index, List<SafeTensorsFile> files, Map<String, SafeTensorsFile> byTensor) {
        JsonNode map = readJson(index).get("weight_map");
        if (map == null || !map.isObject()) {
            throw new CheckpointException(index + ": missing field 'weight_map'");
        }
        Map<String, SafeTensorsFile> shards = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = map.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String shardName = e.getValue().asText("");
            Path shard = dir.resolve(shardName).normalize();
            if (shardName.isEmpty() || !shard.getParent().equals(dir.normalize())) {
                throw new CheckpointException(index + ": tensor '" + e.getKey() + "' maps to an invalid shard name '" + shardName + "'");
            }
            SafeTensorsFile f = shards.get(shardName);
            if (f == null) {
                if (!Files.isRegularFile(shard)) {
                    throw new CheckpointException(index + ": shard '" + shardName + "' of tensor '" + e.getKey() + "' does not exist");
                }
                f = SafeTensorsFile.open(shard);
                shards.put(shardName, f);
                files.add(f);
            }
            if (!f.tensors().containsKey(e.getKey())) {
                throw new CheckpointException(shard + ": index says it holds tensor '" + e.getKey() + "', but it does not");
            }
            byTensor.put(e.getKey(), f);
        }
    }

    static JsonNode readJson(Path file) {
        try {
            return JSON.readTree(Files.readString(file));
        } catch (NoSuchFileException e) {
            throw new CheckpointException(file + ": file not found");
        } catch (JsonProcessingException e) {
            throw new CheckpointException(file + ": malformed JSON (" + e.getOriginalMessage() + ")", e);
        } catch (IOException e) {
            throw new CheckpointException(file + ": cannot read (" + e.getMessage() + ")", e);
        }
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

    public TensorInfo info(String name) {
        SafeTensorsFile f = byTensor.get(name);
        if (f == null) {
            throw new CheckpointException(dir + ": missing tensor '" + name + "'");
        }
        return f.info(name);
    }

    @Override
    public float[] floats(String name, long... shape) {
        TensorInfo t = info(name);
        if (!Arrays.equals(t.shape(), shape)) {
            throw new CheckpointException(t.file() + ": tensor '" + name + "' has shape " + t.shapeString() + ", expected " + Arrays.toString(shape));
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
