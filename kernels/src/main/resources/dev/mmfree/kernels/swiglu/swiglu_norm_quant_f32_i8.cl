// swiglu_norm_quant_f32_i8: the gated MLP activation and down_proj's input norm, rows of t.
//   v = silu(gate) * up;  q[t], factor[t] = quantize(RMSNorm_norm(v) (eps)),  qsum[t] = sum of the codes
// gu: [rows][2I] f32 (gate = first I, up = last I); norm: [I]; q: [rows][kPad] int8 (zero past I);
// factor: [rows] f32 (a / 127); qsum: [rows] int.
// Launch: global = rows * WG, local = WG. Local: z [kPad] f32, scratch [WG] acc_t.

__kernel void swiglu_norm_quant_f32_i8(__global const float* gu, __global const float* norm, const float eps,
                                       const int I, const int chunks,
                                       __global int* q, __global float* factor, __global int* qsum,
                                       __local float* z, __local acc_t* scratch) {
    int l = get_local_id(0);
    int t = get_group_id(0);
    int kPad = chunks * 64;
    __global const float* g = gu + (size_t) t * 2 * I;
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

// swiglu_norm_quant_reg_f32_i8: the same result, for rows of kPad <= 4 * NQ_WORDS * WG, held in registers (see
// rms_norm_quant_reg_f32_i8): gate, up and the norm's weights load as 16-byte words (aligned: I % 4 == 0) before
// the first reduction. Local: scratch [WG] acc_t.
inline float4 silu4(float4 v) {
    return (float4)(silu_f(v.x), silu_f(v.y), silu_f(v.z), silu_f(v.w));
}

__kernel void swiglu_norm_quant_reg_f32_i8(__global const float* gu, __global const float* norm, const float eps,
                                           const int I, const int chunks,
                                           __global int* q, __global float* factor, __global int* qsum,
                                           const int aligned, __local acc_t* scratch) {
    int l = get_local_id(0);
    int t = get_group_id(0);
    int words = chunks * 16;   // kPad / 4
    __global const float* g = gu + (size_t) t * 2 * I;
    float4 z[NQ_WORDS];
    float4 w[NQ_WORDS];
#pragma unroll
    for (int i = 0; i < NQ_WORDS; i++) {
        int m = l + i * WG;
        int in = 4 * m < I;
        float4 gate = in ? row_word4(g, m, I, aligned) : (float4)(0.0f);
        float4 up = in ? row_word4(g + I, m, I, aligned) : (float4)(0.0f);
        w[i] = in ? row_word4(norm, m, I, aligned) : (float4)(0.0f);
        z[i] = silu4(gate) * up;   // zero past I: silu(0) * 0
    }
    acc_t ss = 0;
#pragma unroll
    for (int i = 0; i < NQ_WORDS; i++) {
        ss += (acc_t) (z[i].x * z[i].x);
        ss += (acc_t) (z[i].y * z[i].y);
        ss += (acc_t) (z[i].z * z[i].z);
        ss += (acc_t) (z[i].w * z[i].w);
    }
    float inv = norm_inv(wg_sum_acc(ss, scratch, WG), I, eps);
    float mx = 0.0f;
#pragma unroll
    for (int i = 0; i < NQ_WORDS; i++) {
        z[i] = z[i] * inv * w[i];
        mx = fmax(mx, fmax(fmax(fabs(z[i].x), fabs(z[i].y)), fmax(fabs(z[i].z), fabs(z[i].w))));
    }
    float scale = 127.0f / fmax(wg_max_f(mx, (__local float*) scratch, WG), 1e-5f);
    __global int* qr = q + (size_t) t * words;
    int sum = 0;
#pragma unroll
    for (int i = 0; i < NQ_WORDS; i++) {
        int m = l + i * WG;
        if (m < words) {
            qr[m] = quant_pack4(z[i], scale, &sum);
        }
    }
    sum = wg_sum_int(sum, (__local int*) scratch, WG);
    if (l == 0) {
        factor[t] = 1.0f / scale;
        qsum[t] = sum;
    }
}
