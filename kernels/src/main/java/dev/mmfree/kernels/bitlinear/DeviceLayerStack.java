package dev.mmfree.kernels.bitlinear;

import dev.mmfree.kernels.ternary.TernaryMatrix;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.MemoryCategory;
import dev.mmfree.runtime.MmfreeException;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * HGRNBit layers' weights on a device with each kind of tensor stacked in one buffer, layer after layer at a
 * fixed stride padded to the device's base alignment: the one-launch decode of all layers
 * ({@link BitLinearDecodeOpenCl#layers}) takes the stacks ({@link #stack}), and every other kernel takes one
 * layer's tensors as slices of them ({@link #layer}), so the weights are on the device once.
 */
public final class DeviceLayerStack implements AutoCloseable {
    /** One layer's weights on the host; vectors are [d] unless noted. */
    public record Host(float[] attnNorm, TernaryMatrix[] ifg /* i, f, g: [d, d] each */, float[] ifgNorms /* [3d] */,
                       float[] gNorm, float[] lowerBound, TernaryMatrix o, float[] oNorm, float[] mlpNorm,
                       TernaryMatrix gateUp /* [2I, d] */, float[] gateNorm, TernaryMatrix down /* [d, I] */,
                       float[] downNorm /* [I] */) {
    }

    private final Device device;
    private final List<DeviceBuffer> owned = new ArrayList<>();
    private final BitLinearDecodeOpenCl.LayerStack stack;
    private final List<BitLinearDecodeOpenCl.LayerWeights> layers;

    /**
     * Uploads the layers (all of one shape), their matrices in the layout blocked by {@code blockRows} rows (0:
     * chunk-major); {@code role} prefixes the buffers' names in the memory ledger.
     */
    public DeviceLayerStack(Device device, MemoryCategory category, String role, int blockRows, List<Host> host) {
        if (host.isEmpty()) {
            throw new MmfreeException(role + ": a layer stack needs at least one layer");
        }
        this.device = device;
        try {
            int d = host.getFirst().attnNorm().length;
            int n = host.size();
            int vec = stride(d, 4);
            int ifgNorms = stride(3 * d, 4);
            int downNorm = stride(host.getFirst().downNorm().length, 4);
            int scales = stride(3, 4);
            DeviceBuffer attn = floats(category, role + "attn_norm", host, Host::attnNorm, vec);
            DeviceBuffer ifgN = floats(category, role + "i/f/g_proj norms", host, Host::ifgNorms, ifgNorms);
            DeviceBuffer gN = floats(category, role + "g_norm", host, Host::gNorm, vec);
            DeviceBuffer lb = floats(category, role + "lower bound", host, Host::lowerBound, vec);
            DeviceBuffer oN = floats(category, role + "o_proj norm", host, Host::oNorm, vec);
            DeviceBuffer mlpN = floats(category, role + "mlp_norm", host, Host::mlpNorm, vec);
            DeviceBuffer gateN = floats(category, role + "gate_proj norm", host, Host::gateNorm, vec);
            DeviceBuffer downN = floats(category, role + "down_proj norm", host, Host::downNorm, downNorm);
            Stacked ifg = matrices(category, role + "i/f/g_proj", blockRows, host, Host::ifg, scales);
            Stacked o = matrices(category, role + "o_proj", blockRows, host, h -> new TernaryMatrix[]{h.o()}, scales);
            Stacked gu = matrices(category, role + "gate_proj", blockRows, host, h -> new TernaryMatrix[]{h.gateUp()}, scales);
            Stacked down = matrices(category, role + "down_proj", blockRows, host, h -> new TernaryMatrix[]{h.down()}, scales);
            var first = new BitLinearDecodeOpenCl.LayerWeights(attn, ifgN, lb, ifg.m(), gN, oN, o.m(), mlpN, gateN, gu.m(), downN,
                    down.m());
            this.stack = new BitLinearDecodeOpenCl.LayerStack(first, n, vec, ifgNorms, downNorm, scales,
                    ifg.codeStride(), o.codeStride(), gu.codeStride(), down.codeStride());
            List<BitLinearDecodeOpenCl.LayerWeights> list = new ArrayList<>();
            for (int l = 0; l < n; l++) {
                String p = role + "layer " + l + " ";
                list.add(new BitLinearDecodeOpenCl.LayerWeights(slice(attn, l, vec, d, p + "attn_norm"),
                        slice(ifgN, l, ifgNorms, 3 * d, p + "i/f/g_proj norms"), slice(lb, l, vec, d, p + "lower bound"),
                        slice(ifg, l, scales, p + "i/f/g_proj"), slice(gN, l, vec, d, p + "g_norm"),
                        slice(oN, l, vec, d, p + "o_proj norm"), slice(o, l, scales, p + "o_proj"),
                        slice(mlpN, l, vec, d, p + "mlp_norm"), slice(gateN, l, vec, d, p + "gate_proj norm"),
                        slice(gu, l, scales, p + "gate_proj"),
                        slice(downN, l, downNorm, host.getFirst().downNorm().length, p + "down_proj norm"),
                        slice(down, l, scales, p + "down_proj")));
            }
            this.layers = List.copyOf(list);
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** All layers' stacks, as {@link BitLinearDecodeOpenCl#layers} takes them. */
    public BitLinearDecodeOpenCl.LayerStack stack() {
        return stack;
    }

    /** Layer l's weights: slices of the stacks. */
    public BitLinearDecodeOpenCl.LayerWeights layer(int l) {
        return layers.get(l);
    }

    public int size() {
        return layers.size();
    }

    /**
     * Elements of elementBytes bytes from one layer's tensor of n elements to the next one's: n rounded up so that
     * every layer's tensor starts at the device's base alignment (as a slice must).
     */
    public static int stride(Device device, int n, int elementBytes) {
        long align = device.info().baseAlignBytes();
        long unit = Math.max(1, align / elementBytes);
        if (unit * elementBytes != Math.max(align, elementBytes)) {
            throw new MmfreeException("layer stack: base alignment " + align + " bytes is not a multiple of " + elementBytes);
        }
        long s = (n + unit - 1) / unit * unit;
        if (s > Integer.MAX_VALUE) {
            throw new MmfreeException("layer stack: a stride of " + s + " elements is too long");
        }
        return (int) s;
    }

    private int stride(int n, int elementBytes) {
        return stride(device, n, elementBytes);
    }

    private DeviceBuffer own(DeviceBuffer b) {
        owned.add(b);
        return b;
    }

    private DeviceBuffer floats(MemoryCategory category, String role, List<Host> host, Function<Host, float[]> part, int stride) {
        int n = part.apply(host.getFirst()).length;
        DeviceBuffer b = own(device.allocate(category, 4L * stride * host.size(), role + " (" + host.size() + " layers)"));
        for (int l = 0; l < host.size(); l++) {
            float[] v = part.apply(host.get(l));
            if (v.length != n) {
                throw new MmfreeException(role + ": layer " + l + " has " + v.length + " elements, layer 0 " + n);
            }
            device.write(b, 4L * l * stride, v, 0, n);
        }
        return b;
    }

    /** A matrix stack: layer 0's view of the buffers, and uint4 words from one layer's codes to the next. */
    private record Stacked(DeviceTernaryMatrix m, int codeStride) {
    }

    private Stacked matrices(MemoryCategory category, String role, int blockRows, List<Host> host,
                                         Function<Host, TernaryMatrix[]> part, int scaleStride) {
        TernaryMatrix[] first = part.apply(host.getFirst());
        int words = TernaryDeviceLayout.chunks(first[0].in()) * first.length * TernaryDeviceLayout.outPad(first[0].out());
        int codeStride = stride(words, 16);
        int layersN = host.size();
        DeviceBuffer codes = own(device.allocate(category, 16L * codeStride * layersN, role + " codes (" + layersN + " layers)"));
        DeviceBuffer scales = own(device.allocate(category, 4L * scaleStride * layersN, role + " scales (" + layersN + " layers)"));
        for (int l = 0; l < layersN; l++) {
            TernaryMatrix[] m = part.apply(host.get(l));
            if (m.length != first.length || m[0].out() != first[0].out() || m[0].in() != first[0].in()) {
                throw new MmfreeException(role + ": layer " + l + " is " + m.length + " x [" + m[0].out() + ", " + m[0].in()
                        + "], layer 0 " + first.length + " x [" + first[0].out() + ", " + first[0].in() + "]");
            }
            int[] packed = TernaryDeviceLayout.pack(blockRows, m);
            float[] s = new float[m.length];
            for (int p = 0; p < m.length; p++) {
                s[p] = m[p].scale();
            }
            device.write(codes, 16L * l * codeStride, packed, 0, packed.length);
            device.write(scales, 4L * l * scaleStride, s, 0, s.length);
        }
        return new Stacked(new DeviceTernaryMatrix(codes, scales, first.length, first[0].out(), first[0].in(), blockRows), codeStride);
    }

    private DeviceBuffer slice(DeviceBuffer stacked, int l, int stride, int n, String role) {
        return own(device.slice(stacked, 4L * l * stride, 4L * n, role));
    }

    private DeviceTernaryMatrix slice(Stacked stacked, int l, int scaleStride, String role) {
        DeviceTernaryMatrix m = stacked.m();
        DeviceBuffer codes = own(device.slice(m.codes(), 16L * l * stacked.codeStride(), 16L * BitLinearDecodeOpenCl.LayerStack.words(m),
                role + " codes"));
        DeviceBuffer scales = own(device.slice(m.scales(), 4L * l * scaleStride, 4L * m.projections(), role + " scales"));
        return new DeviceTernaryMatrix(codes, scales, m.projections(), m.out(), m.in(), m.blockRows());
    }

    @Override
    public void close() {
        for (DeviceBuffer b : owned.reversed()) {
            b.close();
        }
        owned.clear();
    }
}
