// rms_norm_quant_f32_i8: rows of a BitLinear input, normalized (once or twice) and quantized to int8.
//   h = RMSNorm_norm1(x) (eps1, skipped when hasNorm1 = 0);  v = h * mult (when hasMult)
//   q[p][t], factor[p][t] = quantize(RMSNorm_norm2[p](v) (eps2)),  qsum[p][t] = sum of the codes
// x row t starts at x + t * xStride + xOffset (K floats); mult: [rows][K] f32; norm1: [K]; norm2: [P][K];
// q: [P][rows][kPad] int8 (zero past K); factor: [P][rows] f32 (a / 127); qsum: [P][rows] int.
// With mult = silu(state) and norm1 = g_norm this is the MLGRU output gate then o_proj's norm.
// One work-group per (row, projection), the same steps as the fused GEMV prologues.
// Launch: global = (rows * WG, P), local = (WG, 1). Local: z [kPad] f32, scratch [WG] acc_t.

__kernel void rms_norm_quant_f32_i8(__global const float* x, const int xStride, const int xOffset,
                                    __global const float* mult, const int hasMult,
                                    __global const float* norm1, const int hasNorm1, const float eps1,
                                    __global const float* norm2, const float eps2, const int K, const int chunks,
                                    __global int* q, __global float* factor, __global int* qsum,
                                    __local float* z, __local acc_t* scratch) {
    int l = get_local_id(0);
    int t = get_group_id(0);
    int p = get_group_id(1);
    int rows = get_num_groups(0);
    int kPad = chunks * 64;
    __global const float* xr = x + (size_t) t * xStride + xOffset;
    __global const float* mr = mult + (size_t) t * K;
    acc_t ss = 0;
    for (int j = l; j < kPad; j += WG) {
        float v = j < K ? xr[j] : 0.0f;
        z[j] = v;
        ss += (acc_t) (v * v);
    }
    float inv = norm_inv(wg_sum_acc(ss, (__local acc_t*) scratch, WG), K, eps1);
    if (hasNorm1) {
        for (int j = l; j < K; j += WG) {
            z[j] = z[j] * inv * norm1[j];
        }
    }
    if (hasMult) {
        for (int j = l; j < K; j += WG) {
            z[j] = z[j] * mr[j];
        }
    }
    float scale = norm_and_scale(z, K, kPad, norm2 + (size_t) p * K, eps2, scratch, WG);
    size_t row = (size_t) p * rows + t;
    int sum = quantize_global(z, kPad, scale, q + row * (kPad / 4), (__local int*) scratch, WG);
    if (l == 0) {
        factor[row] = 1.0f / scale;
        qsum[row] = sum;
    }
}

// rms_norm_quant_reg_f32_i8: the same result, for rows of kPad <= 4 * NQ_WORDS * WG, held in registers. Work-item l
// owns the float4 words m = l, l + WG, ... of its row, so it loads x, mult and both norms' weights as 16-byte
// words, all before the first reduction (one round trip to memory where the kernel above makes one a pass), and
// packs its own four codes a word. The element-wise steps are the reference's, in its order.
// aligned: K, xStride and xOffset are multiples of 4, so every row starts 16-byte aligned. Local: scratch [WG] acc_t.
__kernel void rms_norm_quant_reg_f32_i8(__global const float* x, const int xStride, const int xOffset,
                                        __global const float* mult, const int hasMult,
                                        __global const float* norm1, const int hasNorm1, const float eps1,
                                        __global const float* norm2, const float eps2, const int K, const int chunks,
                                        __global int* q, __global float* factor, __global int* qsum,
                                        const int aligned, __local acc_t* scratch) {
    int l = get_local_id(0);
    int t = get_group_id(0);
    int p = get_group_id(1);
    int rows = get_num_groups(0);
    int words = chunks * 16;   // kPad / 4
    __global const float* xr = x + (size_t) t * xStride + xOffset;
    __global const float* mr = mult + (size_t) t * K;
    __global const float* w2 = norm2 + (size_t) p * K;
    float4 z[NQ_WORDS];
    float4 n1[NQ_WORDS];
    float4 mv[NQ_WORDS];
    float4 n2[NQ_WORDS];
#pragma unroll
    for (int i = 0; i < NQ_WORDS; i++) {
        int m = l + i * WG;
        int in = 4 * m < K;
        z[i] = in ? row_word4(xr, m, K, aligned) : (float4)(0.0f);
        n1[i] = in && hasNorm1 ? row_word4(norm1, m, K, aligned) : (float4)(0.0f);
        mv[i] = in && hasMult ? row_word4(mr, m, K, aligned) : (float4)(0.0f);
        n2[i] = in ? row_word4(w2, m, K, aligned) : (float4)(0.0f);
    }
    acc_t ss = 0;
#pragma unroll
    for (int i = 0; i < NQ_WORDS; i++) {
        ss += (acc_t) (z[i].x * z[i].x);
        ss += (acc_t) (z[i].y * z[i].y);
        ss += (acc_t) (z[i].z * z[i].z);
        ss += (acc_t) (z[i].w * z[i].w);
    }
    float inv = norm_inv(wg_sum_acc(ss, scratch, WG), K, eps1);
#pragma unroll
    for (int i = 0; i < NQ_WORDS; i++) {
        if (hasNorm1) {
            z[i] = z[i] * inv * n1[i];
        }
        if (hasMult) {
            z[i] = z[i] * mv[i];
        }
    }
    acc_t ss2 = 0;
#pragma unroll
    for (int i = 0; i < NQ_WORDS; i++) {
        ss2 += (acc_t) (z[i].x * z[i].x);
        ss2 += (acc_t) (z[i].y * z[i].y);
        ss2 += (acc_t) (z[i].z * z[i].z);
        ss2 += (acc_t) (z[i].w * z[i].w);
    }
    float inv2 = norm_inv(wg_sum_acc(ss2, scratch, WG), K, eps2);
    float mx = 0.0f;
#pragma unroll
    for (int i = 0; i < NQ_WORDS; i++) {
        z[i] = z[i] * inv2 * n2[i];
        mx = fmax(mx, fmax(fmax(fabs(z[i].x), fabs(z[i].y)), fmax(fabs(z[i].z), fabs(z[i].w))));
    }
    float scale = 127.0f / fmax(wg_max_f(mx, (__local float*) scratch, WG), 1e-5f);
    size_t row = (size_t) p * rows + t;
    __global int* qr = q + row * words;
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
        factor[row] = 1.0f / scale;
        qsum[row] = sum;
    }
}
