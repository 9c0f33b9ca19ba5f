package dev.mmfree.model.llama;

import dev.mmfree.kernels.gemv.DeviceDenseMatrix;
import dev.mmfree.kernels.gemv.Storage;
import dev.mmfree.model.config.LlamaConfig;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.MemoryCategory;

import java.util.ArrayList;
import java.util.List;

/**
 * Llama weights resident on an OpenCL device: matrices in the dense layout ({@link DeviceDenseMatrix},
 * fp16 or fp32), norms and rotary frequencies float32. Per layer, q/k/v are one stacked matrix with
 * each head's halves interleaved (the rotary epilogue's pairs), gate/up one matrix with rows interleaved
 * (the SwiGLU epilogue's pairs). A tied head is the embedding matrix itself.
 */
final class LlamaDeviceWeights implements AutoCloseable {
    /** One block's device weights. */
    record Layer(DeviceBuffer inputLayernorm, DeviceDenseMatrix qkvProj, DeviceDenseMatrix oProj,
                 DeviceBuffer postAttentionLayernorm, DeviceDenseMatrix gateUpProj, DeviceDenseMatrix downProj) {
    }

    final DeviceDenseMatrix embedTokens;   // [V, d]
    final List<Layer> layers;
    final DeviceBuffer norm;               // [d] f32
    final DeviceDenseMatrix lmHead;        // [V, d]; == embedTokens when tied
    final DeviceBuffer invFreq;            // [hd/2] f32 theta^(-2j/hd)
    private final List<AutoCloseable> held = new ArrayList<>();
    private long bytes;

    LlamaDeviceWeights(Device device, LlamaWeights w, Storage storage) {
        LlamaConfig c = w.config();
        int d = c.hidden();
        int hd = c.headDim();
        try {
            embedTokens = matrix(device, storage, "model.embed_tokens.weight", d, List.of(w.embedTokens()), null);
            List<Layer> ls = new ArrayList<>();
            for (int l = 0; l < c.layers(); l++) {
                LlamaWeights.Layer y = w.layers().get(l);
                String p = "model.layers." + l + ".";
                ls.add(new Layer(
                        vector(device, p + "input_layernorm.weight", y.inputLayernorm()),
                        matrix(device, storage, p + "self_attn.{q,k,v}_proj.weight", d, List.of(y.qProj(), y.kProj(), y.vProj()),
                                DeviceDenseMatrix.ropePairOrder(c.heads() + 2 * c.kvHeads(), hd)),
                        matrix(device, storage, p + "self_attn.o_proj.weight", c.heads() * hd, List.of(y.oProj()), null),
                        vector(device, p + "post_attention_layernorm.weight", y.postAttentionLayernorm()),
                        matrix(device, storage, p + "mlp.{gate,up}_proj.weight", d, List.of(y.gateProj(), y.upProj()),
                                DeviceDenseMatrix.interleaveOrder(c.intermediate())),
                        matrix(device, storage, p + "mlp.down_proj.weight", c.intermediate(), List.of(y.downProj()), null)));
            }
            layers = List.copyOf(ls);
            norm = vector(device, "model.norm.weight", w.norm());
            lmHead = w.lmHead() == w.embedTokens() ? embedTokens
                    : matrix(device, storage, "lm_head.weight", d, List.of(w.lmHead()), null);
            float[] inv = new float[hd / 2];
            for (int j = 0; j < hd / 2; j++) {
                inv[j] = 1.0f / (float) Math.pow(c.ropeTheta(), (float) (2 * j) / hd);
            }
            invFreq = vector(device, "rotary inv_freq", inv);
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    private DeviceDenseMatrix matrix(Device device, Storage s, String role, int k, List<float[]> parts, int[] order) {
        DeviceDenseMatrix m = DeviceDenseMatrix.upload(device, s, role, k, parts, order);
        held.add(m);
        bytes += m.bytes();
        return m;
    }

    private DeviceBuffer vector(Device device, String role, float[] v) {
        DeviceBuffer b = device.upload(MemoryCategory.WEIGHTS, role, v);
        held.add(b);
        bytes += b.bytes();
        return b;
    }

    /** Bytes of every buffer held. */
    long bytes() {
        return bytes;
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
