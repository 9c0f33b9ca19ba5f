// bitlinear_fused_t2_f32: one token through a BitLinear with its whole input side and an epilogue
// fused in, the batch-1 decode kernel (one launch a BitLinear).
//   h = RMSNorm_norm1(x) (eps1) * mult               (NORM1, MULT: compile-time switches; else h = x)
//   for k < NQ: q_k, a_k = quantize(RMSNorm_norm2[k](h) (eps2))
//   a work-item lane owns output r and its NP rows r + p * rowStride of the layout; with
//   v_p = (wscale[k] * a_k / 127) * (T[row_p] . q_k), k = p when NQ = NP, else 0:
// EPI 0  y[r] (+)= v_0                                           (NP = 1: o_proj, down_proj, lm_head)
// EPI 1  the MLGRU step from i = v_0, fPre = v_1, g = v_2          (NP = NQ = 3: the stacked i|f|g)
//        f = lb + (1 - lb) * sigmoid(fPre);  s = f * stateIn[r] + silu(i) * (1 - f)
//        stateOut[r] = s;  y[r] = g;  y2[r] = silu(s)             (stateOut may be stateIn)
// EPI 2  SwiGLU from gate = v_0, up = v_1 (rowStride = I):  y[r] = silu(gate) * up   (NP = 2, NQ = 1)
// Every element of the recurrence and the activation is computed once, by the work-item owning its
// row, so the next kernel's input side is float arithmetic only.
//
// Latency, not bandwidth, bounds a kernel this small, so the work-item issues every global load it
// will need first, all independent: its weight words of its first PF chunks and its EPW words of
// four input elements (x, norm1, mult, norm2[k]; elements 4u .. 4u+3 for u = l + e * WG). The input
// side then runs in registers with three reductions (sum of x^2, sum of h^2, the NQ maxima at once;
// RMSNorm_norm2[k] shares its sum of squares across k), and the codes' sum that the offset encoding
// needs (T = u - 1) is accumulated by each work-item over its own chunks, not reduced.
// x: [K] f32; norm1, mult: [K]; norm2: [NQ][K]; w: device layout (rowsPad rows a chunk); wscale: [NQ].
// Launch: global = ceil(rows / ROWS) * WG, local = WG.
// Local: q [NQ][kPad] int8 (as int4s), part [NP][WG] int, scratch [NQ * WG] acc_t.

#ifndef NP
#define NP 1
#endif
#ifndef NQ
#define NQ 1
#endif
#ifndef EPI
#define EPI 0
#endif
#ifndef PF
#define PF 4
#endif
#ifndef EPW
#define EPW 4
#endif
#define QI(p) (NQ == 1 ? 0 : (p))

// Four elements 4u .. 4u+3 of a vector of n, zero past n.
inline float4 load4(__global const float* v, int u, int n) {
    int j = 4 * u;
    if (j + 3 < n) {
        return vload4(u, v);
    }
    return (float4)(j < n ? v[j] : 0.0f, j + 1 < n ? v[j + 1] : 0.0f, j + 2 < n ? v[j + 2] : 0.0f,
                    j + 3 < n ? v[j + 3] : 0.0f);
}

inline acc_t sum_sq4(float4 v) {
    return (acc_t) (v.x * v.x) + (acc_t) (v.y * v.y) + (acc_t) (v.z * v.z) + (acc_t) (v.w * v.w);
}

// The maxima of NQ values over the work-group, in place; scratch holds NQ * WG floats.
inline void wg_max_nq(float* m, __local float* s) {
    int l = get_local_id(0);
#ifdef MMFREE_PTX
#pragma unroll
    for (int k = 0; k < NQ; k++) {
        for (int o = 16; o > 0; o >>= 1) {
            m[k] = fmax(m[k], shfl_xor_f(m[k], o));
        }
        if ((l & 31) == 0) {
            s[k * (WG / 32) + (l >> 5)] = m[k];
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
#pragma unroll
    for (int k = 0; k < NQ; k++) {
        float r = s[k * (WG / 32)];
        for (int w = 1; w < WG / 32; w++) {
            r = fmax(r, s[k * (WG / 32) + w]);
        }
        m[k] = r;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
#else
#pragma unroll
    for (int k = 0; k < NQ; k++) {
        s[k * WG + l] = m[k];
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = WG >> 1; h > 0; h >>= 1) {
        if (l < h) {
#pragma unroll
            for (int k = 0; k < NQ; k++) {
                s[k * WG + l] = fmax(s[k * WG + l], s[k * WG + l + h]);
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
#pragma unroll
    for (int k = 0; k < NQ; k++) {
        m[k] = s[k * WG];
    }
    barrier(CLK_LOCAL_MEM_FENCE);
#endif
}

inline int quant_word4(float4 h, float inv2, float4 nw, float scale) {
    int a = quant_code(h.x * inv2 * nw.x, scale);
    int b = quant_code(h.y * inv2 * nw.y, scale);
    int c = quant_code(h.z * inv2 * nw.z, scale);
    int d = quant_code(h.w * inv2 * nw.w, scale);
    return (a & 0xff) | ((b & 0xff) << 8) | ((c & 0xff) << 16) | ((d & 0xff) << 24);
}

// Sum of the 16 codes in an int4 word group (4 ints of 4 bytes), added to acc.
inline int code_sum(int4 a, int acc) {
    acc = dot4(0x01010101u, a.x, acc);
    acc = dot4(0x01010101u, a.y, acc);
    acc = dot4(0x01010101u, a.z, acc);
    return dot4(0x01010101u, a.w, acc);
}

__kernel void bitlinear_fused_t2_f32(__global const float* x, __global const float* norm1, const float eps1,
                                     __global const float* mult, __global const float* norm2, const float eps2,
                                     __global const uint4* w, __global const float* wscale,
                                     const int K, const int rows, const int rowStride, const int rowsPad, const int chunks,
                                     __global float* y, __global float* y2, const int accumulate,
                                     __global const float* lb, __global const float* stateIn, __global float* stateOut,
                                     __local int4* q4, __local int* part, __local acc_t* scratch) {
    int l = get_local_id(0);
    int lane = l % ROWS;
    int slice = l / ROWS;
    int r = get_group_id(0) * ROWS + lane;
    int live = r < rows;
    int kPad = chunks * 64;
    int qWords = kPad / 4;

    uint4 wr[NP][PF];
#pragma unroll
    for (int i = 0; i < PF; i++) {
        int c = slice + i * SLICES;
#pragma unroll
        for (int p = 0; p < NP; p++) {
            wr[p][i] = live && c < chunks ? w[(size_t) c * rowsPad + p * rowStride + r] : (uint4)(0u);
        }
    }
    float4 h[EPW];
    float4 nw[NQ][EPW];
#if NORM1
    float4 n1[EPW];
#endif
#if MULT
    float4 mu[EPW];
#endif
#pragma unroll
    for (int e = 0; e < EPW; e++) {
        int u = l + e * WG;
        h[e] = load4(x, u, K);
#if NORM1
        n1[e] = load4(norm1, u, K);
#endif
#if MULT
        mu[e] = load4(mult, u, K);
#endif
#pragma unroll
        for (int k = 0; k < NQ; k++) {
            nw[k][e] = load4(norm2 + (size_t) k * K, u, K);
        }
    }

#if NORM1
    acc_t ss = 0;
#pragma unroll
    for (int e = 0; e < EPW; e++) {
        ss += sum_sq4(h[e]);
    }
    float inv = norm_inv(wg_sum_acc(ss, scratch, WG), K, eps1);
#pragma unroll
    for (int e = 0; e < EPW; e++) {
#if MULT
        h[e] = h[e] * inv * n1[e] * mu[e];
#else
        h[e] = h[e] * inv * n1[e];
#endif
    }
#endif
    acc_t s2 = 0;
#pragma unroll
    for (int e = 0; e < EPW; e++) {
        s2 += sum_sq4(h[e]);
    }
    float inv2 = norm_inv(wg_sum_acc(s2, scratch, WG), K, eps2);
    float m[NQ];
#pragma unroll
    for (int k = 0; k < NQ; k++) {
        m[k] = 0.0f;
#pragma unroll
        for (int e = 0; e < EPW; e++) {
            float4 a = fabs(h[e] * inv2 * nw[k][e]);
            m[k] = fmax(m[k], fmax(fmax(a.x, a.y), fmax(a.z, a.w)));
        }
    }
    wg_max_nq(m, (__local float*) scratch);
    __local int* q = (__local int*) q4;   // typed int4 so the driver aligns it for the int4 loads
    float ws[NQ];
#pragma unroll
    for (int k = 0; k < NQ; k++) {
        float scale = 127.0f / fmax(m[k], 1e-5f);
        ws[k] = wscale[k] * (1.0f / scale);
#pragma unroll
        for (int e = 0; e < EPW; e++) {
            int u = l + e * WG;
            if (u < qWords) {
                q[k * qWords + u] = quant_word4(h[e], inv2, nw[k][e], scale);
            }
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);

    int acc[NP];
    int qs[NQ];
#pragma unroll
    for (int p = 0; p < NP; p++) {
        acc[p] = 0;
    }
#pragma unroll
    for (int k = 0; k < NQ; k++) {
        qs[k] = 0;
    }
#pragma unroll
    for (int i = 0; i < PF; i++) {
        int c = slice + i * SLICES;
        if (c < chunks) {
#pragma unroll
            for (int k = 0; k < NQ; k++) {
                __local const int4* qc = q4 + k * (qWords / 4) + 4 * c;
                qs[k] = code_sum(qc[3], code_sum(qc[2], code_sum(qc[1], code_sum(qc[0], qs[k]))));
            }
#pragma unroll
            for (int p = 0; p < NP; p++) {
                acc[p] = chunk_dot_local(wr[p][i], q4 + QI(p) * (qWords / 4) + 4 * c, acc[p]);
            }
        }
    }
    for (int c = slice + PF * SLICES; c < chunks; c += SLICES) {
#pragma unroll
        for (int k = 0; k < NQ; k++) {
            __local const int4* qc = q4 + k * (qWords / 4) + 4 * c;
            qs[k] = code_sum(qc[3], code_sum(qc[2], code_sum(qc[1], code_sum(qc[0], qs[k]))));
        }
#pragma unroll
        for (int p = 0; p < NP; p++) {
            uint4 wv = live ? w[(size_t) c * rowsPad + p * rowStride + r] : (uint4)(0u);
            acc[p] = chunk_dot_local(wv, q4 + QI(p) * (qWords / 4) + 4 * c, acc[p]);
        }
    }
#pragma unroll
    for (int p = 0; p < NP; p++) {
        part[p * WG + l] = acc[p] - qs[QI(p)];
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (l < ROWS && live) {
        float v[NP];
#pragma unroll
        for (int p = 0; p < NP; p++) {
            int dot = 0;
            for (int s = 0; s < SLICES; s++) {
                dot += part[p * WG + s * ROWS + l];
            }
            v[p] = (float) dot * ws[QI(p)];
        }
#if EPI == 0
        y[r] = accumulate ? y[r] + v[0] : v[0];
#elif EPI == 1
        float f = lb[r] + (1.0f - lb[r]) * sigmoid_f(v[1]);
        float s = f * stateIn[r] + silu_f(v[0]) * (1.0f - f);
        stateOut[r] = s;
        y[r] = v[2];
        y2[r] = silu_f(s);
#elif EPI == 2
        y[r] = silu_f(v[0]) * v[1];
#endif
    }
}
