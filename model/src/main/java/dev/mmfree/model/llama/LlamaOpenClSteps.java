package dev.mmfree.model.llama;

import dev.mmfree.kernels.attention.AttentionOpenCl;
import dev.mmfree.kernels.gemv.DenseLayerOpenCl;
import dev.mmfree.kernels.gemv.GemvOpenCl;
import dev.mmfree.kernels.gemv.GemvOpenCl.Variant;
import dev.mmfree.model.config.LlamaConfig;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.Launch;
import dev.mmfree.runtime.LaunchProfile;

import java.util.ArrayList;
import java.util.List;

/**
 * The kernels of one {@link LlamaOpenCl} batch with their arguments bound once (weights, workspace,
 * KV caches), so a call only enqueues: the per-call values (position, tokens per sequence, splits)
 * come from the meta buffer the model writes, the token ids from the batch's id buffer. See {@link LlamaOpenCl} for the data flow.
 * With a {@link DenseLayerOpenCl}, a step of one activation row runs each layer as one launch.
 */
final class LlamaOpenClSteps implements AutoCloseable {
    private final Device device;
    private final LlamaConfig c;
    private final DeviceBuffer x;
    private final GemvOpenCl.Gather embed;
    private final GemvOpenCl.Op[] qkv;
    private final AttentionOpenCl.Op[] attend;
    private final GemvOpenCl.Op[] out;
    private final GemvOpenCl.Op[] mlp;
    private final GemvOpenCl.Op[] down;
    private final GemvOpenCl.Op head;
    private final Launch[] layerLaunches;   // one a layer, or null: five launches a layer
    private final DeviceBuffer meta;
    private final DeviceBuffer invFreq;
    private final DenseLayerOpenCl.Op[] layerOps;
    private final List<AutoCloseable> held = new ArrayList<>();
    private final LaunchProfile profile;    // times one-launch steps, or null

    /**
     * @param meta   [4] int: pos0, tps, rows, splits
     * @param ids    [rows] int: the token ids
     * @param x      [rows, d] residual stream; q, attn [rows, H*hd]; act [rows, I]; logits [rows, V]
     * @param part   attention split results; split: the GEMMs' split-K scratch
     * @param keys   [L] caches [b, cap, KV*hd]; values likewise
     * @param layer  the one-launch layer for steps of one row (a batch of one), or null
     * @param profile times the launches of one-launch steps (not the sampler's), or null
     */
    LlamaOpenClSteps(Device device, LlamaConfig c, GemvOpenCl dense, AttentionOpenCl attention, DenseLayerOpenCl layer,
                     LlamaDeviceWeights w, DeviceBuffer meta, DeviceBuffer ids, DeviceBuffer x, DeviceBuffer q,
                     DeviceBuffer attn, DeviceBuffer act, DeviceBuffer logits, DeviceBuffer part, DeviceBuffer split,
                     DeviceBuffer[] keys, DeviceBuffer[] values, int cap, LaunchProfile profile) {
        this.device = device;
        this.profile = profile;
        this.c = c;
        this.x = x;
        this.meta = meta;
        this.invFreq = w.invFreq;
        int d = c.hidden();
        int qw = c.heads() * c.headDim();
        float eps = (float) c.rmsNormEps();
        int l = c.layers();
        qkv = new GemvOpenCl.Op[l];
        attend = new AttentionOpenCl.Op[l];
        out = new GemvOpenCl.Op[l];
        mlp = new GemvOpenCl.Op[l];
        down = new GemvOpenCl.Op[l];
        DenseLayerOpenCl.Op[] layerOps = layer == null ? null : new DenseLayerOpenCl.Op[l];
        layerLaunches = layer == null ? null : new Launch[l];
        this.layerOps = layerOps;
        try {
            embed = hold(dense.gather(w.embedTokens, ids, 0, x));
            for (int i = 0; i < l; i++) {
                LlamaDeviceWeights.Layer y = w.layers.get(i);
                qkv[i] = hold(dense.op(Variant.NORM_ROPE_KV, y.qkvProj()).input(x, 0, d).output(q).norm(y.inputLayernorm(), eps)
                        .rope(meta, invFreq, keys[i], values[i], c.heads(), c.kvHeads(), c.headDim(), cap).splitScratch(split));
                attend[i] = hold(attention.op(q, keys[i], values[i], meta, c.kvHeads(), cap, attn, part));
                out[i] = hold(dense.op(Variant.ADD, y.oProj()).input(attn, 0, qw).output(x).splitScratch(split));
                mlp[i] = hold(dense.op(Variant.NORM_SWIGLU, y.gateUpProj()).input(x, 0, d).output(act)
                        .norm(y.postAttentionLayernorm(), eps).splitScratch(split));
                down[i] = hold(dense.op(Variant.ADD, y.downProj()).input(act, 0, c.intermediate()).output(x).splitScratch(split));
                if (layer != null) {
                    layerOps[i] = hold(layer.op(new DenseLayerOpenCl.Weights(y.inputLayernorm(), y.qkvProj(), y.oProj(),
                            y.postAttentionLayernorm(), y.gateUpProj(), y.downProj()), eps, invFreq, meta, x, q, attn, act, part,
                            keys[i], values[i], cap));
                    layerLaunches[i] = layerOps[i].launch();
                }
            }
            head = hold(dense.op(Variant.NORM, w.lmHead).output(logits).norm(w.norm, eps).splitScratch(split));
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    private <T extends AutoCloseable> T hold(T a) {
        held.add(a);
        return a;
    }

    /** Points the layers at re-allocated caches. */
    void cache(DeviceBuffer[] keys, DeviceBuffer[] values, int cap) {
        for (int i = 0; i < qkv.length; i++) {
            qkv[i].rope(meta, invFreq, keys[i], values[i], c.heads(), c.kvHeads(), c.headDim(), cap);
            attend[i].cache(keys[i], values[i], cap);
            if (layerOps != null) {
                layerOps[i].cache(keys[i], values[i], cap);
            }
        }
    }

    /** Whether a call of {@code rows} rows runs one launch a layer (whose attention splits {@link DenseLayerOpenCl#splits}). */
    boolean oneLaunch(int rows) {
        return rows == 1 && layerLaunches != null;
    }

    /**
     * Embedding and every layer for {@code rows} activation rows, attention in {@code splits} splits (meta must
     * agree); one launch a layer when {@link #oneLaunch}.
     */
    void layers(int rows, int splits) {
        if (oneLaunch(rows) && profile != null) {
            profile.step();
            profile.run(embed.launch(rows), device);
            for (Launch l : layerLaunches) {
                profile.run(l, device);
            }
            return;
        }
        embed.launch(rows).enqueue(device);
        if (oneLaunch(rows)) {
            for (Launch l : layerLaunches) {
                l.enqueue(device);
            }
            return;
        }
        for (int i = 0; i < qkv.length; i++) {
            qkv[i].enqueue(rows);
            attend[i].attend(rows, splits).enqueue(device);
            if (splits > 1) {
                attend[i].combine(rows).enqueue(device);
            }
            out[i].enqueue(rows);
            mlp[i].enqueue(rows);
            down[i].enqueue(rows);
        }
    }

    /** Final norm and head into logits: every row, or the last of each sequence's tps rows. */
    void head(int rows, int tps, boolean all) {
        int d = c.hidden();
        if (oneLaunch(rows) && profile != null) {
            for (Launch l : head.input(x, (tps - 1) * d, tps * d).launches(rows / tps)) {
                profile.run(l, device);
            }
            return;
        }
        if (all) {
            head.input(x, 0, d).enqueue(rows);
        } else {
            head.input(x, (tps - 1) * d, tps * d).enqueue(rows / tps);
        }
    }

    @Override
    public void close() {
        for (AutoCloseable a : held.reversed()) {
            try {
                a.close();
            } catch (Exception e) {
                throw new IllegalStateException("closing " + a, e);
            }
        }
        held.clear();
    }
}
