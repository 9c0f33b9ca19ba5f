// swiglu_norm_quant_f32_i8: the gated MLP activation and down_proj's input norm, rows of t.
//   v = silu(gate) * up;  q[t], factor[t] = quantize(RMSNorm_norm(v) (eps)),  qsum[t] = sum of the codes
// gu: [rows][2I] f32 (gate = first I, up = last I); norm: [I]; q: [rows][kPad] int8 (zero past I);
// factor: [rows] f32 (a / 127); qsum: [rows] int.
// Launch: global = rows * WG, local = WG. Local: z [kPad] f32, scratch [WG] acc_t.

#ifndef NQ_VOL
#define NQ_VOL
#endif

// Row t (the kernel: t = get_group_id(0)); gu qualified NQ_VOL as in rms_norm_quant_f32_i8.cl.
inline void swiglu_norm_quant_row(NQ_VOL __global const float* gu, __global const float* norm, const float eps,
                                  const int I, const int chunks, __global int* q, __global float* factor, __global int* qsum,
                                  __local float* z, __local acc_t* scratch, const int t) {
    int l = get_local_id(0);
    int kPad = chunks * 64;
    NQ_VOL __global const float* g = gu + (size_t) t * 2 * I;
    for (int j = l; j < kPad; j += WG) {
        z[j] = j < I ? silu_f(g[j]) * g[I + j] : 0.0f;
    }
    float scale = norm_and_scale(z, I, kPad, norm, eps, scratch, WG);
    int sum = quantize_global(z, kPad, scale, q + (size_t) t * (kPad / 4), (__local int*) scratch, WG);
    if (l == 0) {
        factor[t] = 1.0f / scale;
        qsum[t] = sum;
    }
}

__kernel void swiglu_norm_quant_f32_i8(__global const float* gu, __global const float* norm, const float eps,
                                       const int I, const int chunks,
                                       __global int* q, __global float* factor, __global int* qsum,
                                       __local float* z, __local acc_t* scratch) {
    swiglu_norm_quant_row(gu, norm, eps, I, chunks, q, factor, qsum, z, scratch, get_group_id(0));
}
