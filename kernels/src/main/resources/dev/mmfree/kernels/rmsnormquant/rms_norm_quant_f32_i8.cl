// rms_norm_quant_f32_i8: rows of a BitLinear input, normalized (once or twice) and quantized to int8.
//   h = RMSNorm_norm1(x) (eps1, skipped when hasNorm1 = 0);  v = h * mult (when hasMult)
//   q[p][t], factor[p][t] = quantize(RMSNorm_norm2[p](v) (eps2)),  qsum[p][t] = sum of the codes
// x row t starts at x + t * xStride + xOffset (K floats); mult: [rows][K] f32; norm1: [K]; norm2: [P][K];
// q: [P][rows][kPad] int8 (zero past K); factor: [P][rows] f32 (a / 127); qsum: [P][rows] int.
// With mult = silu(state) and norm1 = g_norm this is the MLGRU output gate then o_proj's norm.
// One work-group per (row, projection), the same steps as the fused GEMV prologues.
// Launch: global = (rows * WG, P), local = (WG, 1). Local: z [kPad] f32, scratch [WG] acc_t.
//
// mlgru_norm_quant_f32_i8: a batched decode step's MLGRU and what follows it, one token a sequence, one
// work-group a row: mlgru_scan_f32's step (stateIn -> stateOut) then this kernel with x = g and
// mult = silu(state), so the gate never goes through memory and the step takes one launch less. The same
// operations in the same order as the two kernels: the same bits.
// ifg: [rows][3K] (i | fPre | g); lb: [K]; stateIn, stateOut: [rows][K] (distinct); P = 1.

// NQ_VOL qualifies the inputs: empty, or volatile where another work-group of the same launch wrote them
// (decode_batch_layer_t2_f32.cl: loads then bypass the non-coherent L1).
#ifndef NQ_VOL
#define NQ_VOL
#endif
// NQ_HELD_PATH 0 leaves out the held rows (NQ_HELD, opencl/common.cl): decode_batch_layer_t2_f32 without PTX, on which
// they made PoCL's work-group compiler take ten times as long.
#ifndef NQ_HELD_PATH
#define NQ_HELD_PATH 1
#endif

// norm_quant_row for K <= NQ_HELD * WG, with each work-item's elements j = l, l + WG, ... held in registers. All of
// its global loads (x, both norms' weights, the multiplier or the MLGRU's i, f, state and lower bound) are issued
// before the first sum, so the row waits for one round trip to memory where the loops wait for one a loop. The same
// operations in the same order: the same bits.
inline void norm_quant_held(const int step, NQ_VOL __global const float* xr, NQ_VOL __global const float* mr, const int hasMult,
                            NQ_VOL __global const float* ir, __global const float* lb, __global const float* sIn,
                            __global float* sOut, __global const float* norm1, const int hasNorm1, const float eps1,
                            __global const float* n2, const float eps2, const int K, const int kPad,
                            __global int* qRow, __global float* factorAt, __global int* qsumAt,
                            __local float* z, __local acc_t* scratch) {
    int l = get_local_id(0);
    float xv[NQ_HELD], n1v[NQ_HELD], n2v[NQ_HELD], mv[NQ_HELD];
    float iv[NQ_HELD], fv[NQ_HELD], sv[NQ_HELD], lbv[NQ_HELD];
#pragma unroll
    for (int e = 0; e < NQ_HELD; e++) {
        int j = l + e * WG;
        bool in = j < K;
        xv[e] = in ? xr[j] : 0.0f;
        n1v[e] = in && hasNorm1 ? norm1[j] : 0.0f;
        n2v[e] = in ? n2[j] : 0.0f;
        mv[e] = in && hasMult && !step ? mr[j] : 0.0f;
        iv[e] = in && step ? ir[j] : 0.0f;
        fv[e] = in && step ? ir[K + j] : 0.0f;
        sv[e] = in && step ? sIn[j] : 0.0f;
        lbv[e] = in && step ? lb[j] : 0.0f;
    }
    acc_t ss = 0;
#pragma unroll
    for (int e = 0; e < NQ_HELD; e++) {
        ss += (acc_t) (xv[e] * xv[e]);
    }
    float inv = norm_inv(wg_sum_acc(ss, (__local acc_t*) scratch, WG), K, eps1);
#pragma unroll
    for (int e = 0; e < NQ_HELD; e++) {
        int j = l + e * WG;
        if (j < K) {
            float h = hasNorm1 ? xv[e] * inv * n1v[e] : xv[e];
            if (step) {
                float f = lbv[e] + (1.0f - lbv[e]) * sigmoid_f(fv[e]);
                float st = f * sv[e] + silu_f(iv[e]) * (1.0f - f);
                sOut[j] = st;
                h = h * silu_f(st);
            } else if (hasMult) {
                h = h * mv[e];
            }
            xv[e] = h;
        }
    }
    float scale = held_norm_and_scale(xv, n2v, K, kPad, eps2, z, scratch);
    int sum = quantize_global(z, kPad, scale, qRow, (__local int*) scratch, WG);
    if (l == 0) {
        *factorAt = 1.0f / scale;
        *qsumAt = sum;
    }
}

// Row t of rows and projection p of either kernel (the kernels: t = get_group_id(0), p = get_group_id(1)). With
// step, the multiplier is silu of the MLGRU state stepped from stateIn with i (at the start of x's row t) and fPre
// (K floats further).
inline void norm_quant_row(const int step, NQ_VOL __global const float* x, const int xStride, const int xOffset,
                           NQ_VOL __global const float* mult, const int hasMult,
                           __global const float* lb, __global const float* stateIn, __global float* stateOut,
                           __global const float* norm1, const int hasNorm1, const float eps1,
                           __global const float* norm2, const float eps2, const int K, const int chunks,
                           __global int* q, __global float* factor, __global int* qsum,
                           __local float* z, __local acc_t* scratch, const int t, const int p, const int rows) {
    int l = get_local_id(0);
    int kPad = chunks * 64;
    NQ_VOL __global const float* xr = x + (size_t) t * xStride + xOffset;
    NQ_VOL __global const float* mr = mult + (size_t) t * K;
#if NQ_HELD_PATH
    if (K <= NQ_HELD * WG) {
        size_t at = (size_t) p * rows + t;
        norm_quant_held(step, xr, mr, hasMult, x + (size_t) t * xStride, lb, step ? stateIn + (size_t) t * K : stateIn,
                        step ? stateOut + (size_t) t * K : stateOut,
                        norm1, hasNorm1, eps1, norm2 + (size_t) p * K, eps2, K, kPad, q + at * (kPad / 4), factor + at, qsum + at,
                        z, scratch);
        return;
    }
#endif
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
    if (step) {
        NQ_VOL __global const float* ir = x + (size_t) t * xStride;
        for (int j = l; j < K; j += WG) {
            float s = stateIn[(size_t) t * K + j];
            float f = lb[j] + (1.0f - lb[j]) * sigmoid_f(ir[K + j]);
            s = f * s + silu_f(ir[j]) * (1.0f - f);
            stateOut[(size_t) t * K + j] = s;
            z[j] = z[j] * silu_f(s);
        }
    } else if (hasMult) {
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

__kernel void rms_norm_quant_f32_i8(__global const float* x, const int xStride, const int xOffset,
                                    __global const float* mult, const int hasMult,
                                    __global const float* norm1, const int hasNorm1, const float eps1,
                                    __global const float* norm2, const float eps2, const int K, const int chunks,
                                    __global int* q, __global float* factor, __global int* qsum,
                                    __local float* z, __local acc_t* scratch) {
    norm_quant_row(0, x, xStride, xOffset, mult, hasMult, 0, 0, 0, norm1, hasNorm1, eps1, norm2, eps2, K, chunks,
                   q, factor, qsum, z, scratch, get_group_id(0), get_group_id(1), get_num_groups(0));
}

__kernel void mlgru_norm_quant_f32_i8(__global const float* ifg, __global const float* lb, __global const float* stateIn,
                                      __global float* stateOut, __global const float* gNorm, const float eps1,
                                      __global const float* norm2, const float eps2, const int K, const int chunks,
                                      __global int* q, __global float* factor, __global int* qsum,
                                      __local float* z, __local acc_t* scratch) {
    norm_quant_row(1, ifg, 3 * K, 2 * K, ifg, 0, lb, stateIn, stateOut, gNorm, 1, eps1, norm2, eps2, K, chunks,
                   q, factor, qsum, z, scratch, get_group_id(0), 0, get_num_groups(0));
}
