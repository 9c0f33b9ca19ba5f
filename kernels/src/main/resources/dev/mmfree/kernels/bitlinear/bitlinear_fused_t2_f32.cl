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
// The work-item's weight words of its first PF chunks are loaded into registers before the input
// side is computed: reading the weights overlaps the norms, the reductions and the quantizer.
// x: [K] f32; norm1, mult: [K]; norm2: [NQ][K]; w: device layout (rowsPad rows a chunk); wscale: [NQ].
// Launch: global = ceil(rows / ROWS) * WG, local = WG.
// Local: h [kPad] f32, q [NQ][kPad] int8 (as int4s), part [NP][WG] int, scratch [WG] acc_t.

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
#define QI(p) (NQ == 1 ? 0 : (p))

__kernel void bitlinear_fused_t2_f32(__global const float* x, __global const float* norm1, const float eps1,
                                     __global const float* mult, __global const float* norm2, const float eps2,
                                     __global const uint4* w, __global const float* wscale,
                                     const int K, const int rows, const int rowStride, const int rowsPad, const int chunks,
                                     __global float* y, __global float* y2, const int accumulate,
                                     __global const float* lb, __global const float* stateIn, __global float* stateOut,
                                     __local float* h, __local int4* q4, __local int* part, __local acc_t* scratch) {
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

#if NORM1
    acc_t ss = 0;
    for (int j = l; j < kPad; j += WG) {
        float v = j < K ? x[j] : 0.0f;
        h[j] = v;
        ss += (acc_t) (v * v);
    }
    float inv = norm_inv(wg_sum_acc(ss, scratch, WG), K, eps1);
    for (int j = l; j < K; j += WG) {
#if MULT
        h[j] = h[j] * inv * norm1[j] * mult[j];
#else
        h[j] = h[j] * inv * norm1[j];
#endif
    }
#else
    for (int j = l; j < K; j += WG) {
        h[j] = x[j];
    }
#endif

    __local int* q = (__local int*) q4;   // typed int4 so the driver aligns it for the int4 loads
    float ws[NQ];
    int qsum[NQ];
#pragma unroll
    for (int k = 0; k < NQ; k++) {
        __global const float* nw = norm2 + (size_t) k * K;
        acc_t s2 = 0;
        for (int j = l; j < K; j += WG) {
            s2 += (acc_t) (h[j] * h[j]);
        }
        float inv2 = norm_inv(wg_sum_acc(s2, scratch, WG), K, eps2);
        float m = 0.0f;
        for (int j = l; j < K; j += WG) {
            m = fmax(m, fabs(h[j] * inv2 * nw[j]));
        }
        float scale = 127.0f / fmax(wg_max_f(m, (__local float*) scratch, WG), 1e-5f);
        int sum = 0;
        for (int u = l; u < qWords; u += WG) {
            int word = 0;
            for (int b = 0; b < 4; b++) {
                int j = 4 * u + b;
                int code = j < K ? quant_code(h[j] * inv2 * nw[j], scale) : 0;
                sum += code;
                word |= (code & 0xff) << (8 * b);
            }
            q[k * qWords + u] = word;
        }
        qsum[k] = wg_sum_int(sum, (__local int*) scratch, WG);
        ws[k] = wscale[k] * (1.0f / scale);
    }

    int acc[NP];
#pragma unroll
    for (int p = 0; p < NP; p++) {
        acc[p] = 0;
    }
#pragma unroll
    for (int i = 0; i < PF; i++) {
        int c = slice + i * SLICES;
        if (c < chunks) {
#pragma unroll
            for (int p = 0; p < NP; p++) {
                acc[p] = chunk_dot_local(wr[p][i], q4 + QI(p) * (qWords / 4) + 4 * c, acc[p]);
            }
        }
    }
    for (int c = slice + PF * SLICES; c < chunks; c += SLICES) {
#pragma unroll
        for (int p = 0; p < NP; p++) {
            uint4 wv = live ? w[(size_t) c * rowsPad + p * rowStride + r] : (uint4)(0u);
            acc[p] = chunk_dot_local(wv, q4 + QI(p) * (qWords / 4) + 4 * c, acc[p]);
        }
    }
#pragma unroll
    for (int p = 0; p < NP; p++) {
        part[p * WG + l] = acc[p];
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (l < ROWS && live) {
        float v[NP];
#pragma unroll
        for (int p = 0; p < NP; p++) {
            int dot = -qsum[QI(p)];
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
