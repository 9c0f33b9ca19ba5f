// swiglu_norm_quant_f32_i8: the gated MLP activation and down_proj's input norm, rows of t.
//   v = silu(gate) * up;  q[t], factor[t] = quantize(RMSNorm_norm(v) (eps)),  qsum[t] = sum of the codes
// gu: [rows][2I] f32 (gate = first I, up = last I); norm: [I]; q: [rows][kPad] int8 (zero past I);
// factor: [rows] f32 (a / 127); qsum: [rows] int.
// Launch: global = rows * WG, local = WG. Local: z [kPad] f32, scratch [WG] acc_t.

#ifndef NQ_VOL
#define NQ_VOL
#endif
// NQ_HELD_PATH 0 leaves out the held rows (NQ_HELD, opencl/common.cl): decode_batch_layer_t2_f32 without PTX, on which
// they made PoCL's work-group compiler take ten times as long.
#ifndef NQ_HELD_PATH
#define NQ_HELD_PATH 1
#endif

// swiglu_norm_quant_row for I <= NQ_HELD * WG, each work-item's elements held in registers: its gate, up and norm
// weight loads all issued before the first sum (one round trip to memory instead of one a loop). The same
// operations in the same order: the same bits.
inline void swiglu_held(NQ_VOL __global const float* g, __global const float* norm, const float eps, const int I, const int kPad,
                        __global int* qRow, __global float* factorAt, __global int* qsumAt, __local float* z,
                        __local acc_t* scratch) {
    int l = get_local_id(0);
    float gv[NQ_HELD], uv[NQ_HELD], wv[NQ_HELD];
#pragma unroll
    for (int e = 0; e < NQ_HELD; e++) {
        int j = l + e * WG;
        bool in = j < I;
        gv[e] = in ? g[j] : 0.0f;
        uv[e] = in ? g[I + j] : 0.0f;
        wv[e] = in ? norm[j] : 0.0f;
    }
#pragma unroll
    for (int e = 0; e < NQ_HELD; e++) {
        if (l + e * WG < I) {
            gv[e] = silu_f(gv[e]) * uv[e];
        }
    }
    float scale = held_norm_and_scale(gv, wv, I, kPad, eps, z, scratch);
    int sum = quantize_global(z, kPad, scale, qRow, (__local int*) scratch, WG);
    if (l == 0) {
        *factorAt = 1.0f / scale;
        *qsumAt = sum;
    }
}

// Row t (the kernel: t = get_group_id(0)); gu qualified NQ_VOL as in rms_norm_quant_f32_i8.cl.
inline void swiglu_norm_quant_row(NQ_VOL __global const float* gu, __global const float* norm, const float eps,
                                  const int I, const int chunks, __global int* q, __global float* factor, __global int* qsum,
                                  __local float* z, __local acc_t* scratch, const int t) {
    int l = get_local_id(0);
    int kPad = chunks * 64;
    NQ_VOL __global const float* g = gu + (size_t) t * 2 * I;
#if NQ_HELD_PATH
    if (I <= NQ_HELD * WG) {
        swiglu_held(g, norm, eps, I, kPad, q + (size_t) t * (kPad / 4), factor + t, qsum + t, z, scratch);
        return;
    }
#endif
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
