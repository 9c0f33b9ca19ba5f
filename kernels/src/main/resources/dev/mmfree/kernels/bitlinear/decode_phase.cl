// decode_phase.cl: one BitLinear of a batch-1 decode step with its input side and epilogue, as an
// inline function; the host stamps it out once per use with these defines (then undefines them):
//   PHASE_FN  the function's name            P_NP, P_NQ  rows a work-item, quantized inputs (NQ = 1 or NP)
//   P_EPI     0 y (+)= v, 1 MLGRU step, 2 SwiGLU      P_NORM1, P_MULT  the block norm, the multiplier
//   P_PF      chunks a row prefetched        P_EPW  input words (4 elements) a work-item
//   VOL       empty, or volatile when another work-group of the same launch wrote the inputs
//             (the persistent layer kernel: loads then bypass the non-coherent L1)
//   P_LOAD4   how x and mult are read: load4, or load4_coherent with VOL volatile
//   h = RMSNorm_norm1(x) (eps1) * mult  (or h = x);  for k < NQ: q_k, a_k = quantize(RMSNorm_norm2[k](h) (eps2))
//   a work-item lane owns output r (of `rows`) and its NP rows r + p * rowStride of the layout; with
//   v_p = (wscale[k] * a_k / 127) * (T[row_p] . q_k), k = p when NQ = NP, else 0:
// EPI 0  y[r] (+)= v_0                                           (NP = 1: o_proj, down_proj, lm_head)
// EPI 1  the MLGRU step from i = v_0, fPre = v_1, g = v_2          (NP = NQ = 3: the stacked i|f|g)
//        f = lb + (1 - lb) * sigmoid(fPre);  s = f * stateIn[r] + silu(i) * (1 - f)
//        stateOut[r] = s;  y[r] = g;  y2[r] = silu(s)             (stateOut may be stateIn)
// EPI 2  SwiGLU from gate = v_0, up = v_1 (rowStride = I):  y[r] = silu(gate) * up   (NP = 2, NQ = 1)
// The work-group computes the input side once and then takes row blocks block0, block0 + blockStride, ...
// (the host launches no more work-groups than run at once, so none repeats the input side in a second wave).
// Latency bounds a phase this small, so a work-item issues its global loads first, all independent:
// its input elements and norm weights (elements 4u .. 4u+3, u = l + e * WG), then the weight words of its
// first block's first PF chunks, which arrive while the input side runs. That runs in registers with three
// reductions (sum of x^2, sum of h^2, the NQ maxima at once: RMSNorm_norm2[k] shares its sum of squares
// across k), and the quantizer adds up the codes it writes: the row's code sum, which the offset encoding
// needs (T = u - 1), comes out of the barrier that publishes the codes, with no pass over them.
// Each block's dot products then load the next block's first PF chunks, so they arrive during its reduction.
// Local: q [NQ][kPad] int8 (as int4s), part [NP][WG] int, scratch [NQ * WG] acc_t.

inline void PHASE_FN(VOL __global const float* x, __global const float* norm1, const float eps1,
                     VOL __global const float* mult, __global const float* norm2, const float eps2,
                     __global const uint4* w, __global const float* wscale,
                     const int K, const int rows, const int rowStride, const int rowsPad, const int chunks,
                     VOL __global float* y, VOL __global float* y2, const int accumulate,
                     __global const float* lb, VOL __global const float* stateIn, VOL __global float* stateOut,
                     __local int4* q4, __local int* part, __local acc_t* scratch, const int block0, const int blockStride
                     TRACE_PARAM) {
    int l = get_local_id(0);
    TRACE(0);
    int lane = l % ROWS;
    int slice = l / ROWS;
    int kPad = chunks * 64;
    int qWords = kPad / 4;
    int blocks = (rows + ROWS - 1) / ROWS;

    float4 h[P_EPW];
    float4 nw[P_NQ][P_EPW];
#if P_NORM1
    float4 n1[P_EPW];
#endif
#if P_MULT
    float4 mu[P_EPW];
#endif
#pragma unroll
    for (int e = 0; e < P_EPW; e++) {
        int u = l + e * WG;
        h[e] = P_LOAD4(x, u, K);
#if P_NORM1
        n1[e] = load4(norm1, u, K);
#endif
#if P_MULT
        mu[e] = P_LOAD4(mult, u, K);
#endif
#pragma unroll
        for (int k = 0; k < P_NQ; k++) {
            nw[k][e] = load4(norm2 + (size_t) k * K, u, K);
        }
    }
    // the weights behind the inputs: the input side needs the inputs first, and the weight loads would
    // hold the memory pipeline until they arrive (traced: x took 2.4-3.4 us behind them)
    uint4 wr[P_NP][P_PF];
    {
        int r = block0 * ROWS + lane;
        int live = block0 < blocks && r < rows;
#pragma unroll
        for (int i = 0; i < P_PF; i++) {
            int c = slice + i * SLICES;
#pragma unroll
            for (int p = 0; p < P_NP; p++) {
                wr[p][i] = live && c < chunks ? w[W_AT(c, p * rowStride + r)] : (uint4)(0u);
            }
        }
    }

#if P_NORM1
    acc_t ss = 0;
#pragma unroll
    for (int e = 0; e < P_EPW; e++) {
        ss += sum_sq4(h[e]);
    }
    float inv = norm_inv(wg_sum_acc(ss, scratch, WG), K, eps1);
    TRACE(1);
#pragma unroll
    for (int e = 0; e < P_EPW; e++) {
#if P_MULT
        h[e] = h[e] * inv * n1[e] * mu[e];
#else
        h[e] = h[e] * inv * n1[e];
#endif
    }
#endif
    acc_t s2 = 0;
#pragma unroll
    for (int e = 0; e < P_EPW; e++) {
        s2 += sum_sq4(h[e]);
    }
    float inv2 = norm_inv(wg_sum_acc(s2, scratch, WG), K, eps2);
    TRACE(2);
    float m[P_NQ];
#pragma unroll
    for (int k = 0; k < P_NQ; k++) {
        m[k] = 0.0f;
#pragma unroll
        for (int e = 0; e < P_EPW; e++) {
            float4 a = fabs(h[e] * inv2 * nw[k][e]);
            m[k] = fmax(m[k], fmax(fmax(a.x, a.y), fmax(a.z, a.w)));
        }
    }
    wg_max_n(m, P_NQ, (__local float*) scratch);
    TRACE(3);
    __local int* q = (__local int*) q4;   // typed int4 so the driver aligns it for the int4 loads
    __local int* qsums = (__local int*) scratch;   // free since the maxima: the code sums' partials
    float ws[P_NQ];
    int qs[P_NQ];
#pragma unroll
    for (int k = 0; k < P_NQ; k++) {
        float scale = 127.0f / fmax(m[k], 1e-5f);
        ws[k] = wscale[k] * (1.0f / scale);
        qs[k] = 0;
#pragma unroll
        for (int e = 0; e < P_EPW; e++) {
            int u = l + e * WG;
            if (u < qWords) {
                q[k * qWords + u] = quant_word4(h[e], inv2, nw[k][e], scale, &qs[k]);
            }
        }
        code_sum_partial(qs[k], qsums + k * WG);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    TRACE(4);
    // the whole row's code sum of each input (T.q = u.q - sum q, over all slices: taken off in the epilogue)
#pragma unroll
    for (int k = 0; k < P_NQ; k++) {
        qs[k] = code_sum_total(qsums + k * WG);
    }
    TRACE(5);
    for (int b = block0; b < blocks; b += blockStride) {
        int r = b * ROWS + lane;
        int live = r < rows;
        dacc_t acc[P_NP];
#pragma unroll
        for (int p = 0; p < P_NP; p++) {
            acc[p] = 0;
        }
#pragma unroll
        for (int i = 0; i < P_PF; i++) {
            int c = slice + i * SLICES;
            if (c < chunks) {
#pragma unroll
                for (int p = 0; p < P_NP; p++) {
                    acc[p] = chunk_dacc_local(wr[p][i], q4 + QI(p) * (qWords / 4) + 4 * c, acc[p]);
                }
            }
        }
        for (int c = slice + P_PF * SLICES; c < chunks; c += SLICES) {
#pragma unroll
            for (int p = 0; p < P_NP; p++) {
                uint4 wv = live ? w[W_AT(c, p * rowStride + r)] : (uint4)(0u);
                acc[p] = chunk_dacc_local(wv, q4 + QI(p) * (qWords / 4) + 4 * c, acc[p]);
            }
        }
        if (b == block0) {
            TRACE(6);
        }
        // the next block's first chunks, in flight while this block's sums are reduced and stored
        {
            int nb = b + blockStride;
            int nr = nb * ROWS + lane;
            int nlive = nb < blocks && nr < rows;
#pragma unroll
            for (int i = 0; i < P_PF; i++) {
                int c = slice + i * SLICES;
#pragma unroll
                for (int p = 0; p < P_NP; p++) {
                    wr[p][i] = nlive && c < chunks ? w[W_AT(c, p * rowStride + nr)] : (uint4)(0u);
                }
            }
        }
#pragma unroll
        for (int p = 0; p < P_NP; p++) {
            part[p * WG + l] = dacc_total(acc[p]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        if (b == block0) {
            TRACE(7);
        }
        if (l < ROWS && live) {
            float v[P_NP];
#pragma unroll
            for (int p = 0; p < P_NP; p++) {
                int dot = 0;
                for (int s = 0; s < SLICES; s++) {
                    dot += part[p * WG + s * ROWS + l];
                }
                v[p] = (float) (dot - qs[QI(p)]) * ws[QI(p)];
            }
#if P_EPI == 0
            y[r] = accumulate ? y[r] + v[0] : v[0];
#elif P_EPI == 1
            float f = lb[r] + (1.0f - lb[r]) * sigmoid_f(v[1]);
            float s = f * stateIn[r] + silu_f(v[0]) * (1.0f - f);
            stateOut[r] = s;
            y[r] = v[2];
            y2[r] = silu_f(s);
#elif P_EPI == 2
            y[r] = silu_f(v[0]) * v[1];
#endif
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    TRACE(8);
}
