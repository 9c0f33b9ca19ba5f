// mlgru_scan_f32: the MLGRU recurrence over t tokens, one work-item per (sequence, channel).
//   f = lb + (1 - lb) * sigmoid(fPre);  state = f * state + silu(i) * (1 - f);  gate[t] = silu(state)
// ifg: [b][t][3d] f32 (i | fPre | g, the BitLinear outputs); lb: [d]; stateIn, stateOut: [b][d] f32
// (may not alias: the model double-buffers); gate: [b][t][d] f32, the multiplier of the output gate
// o = RMSNorm_g_norm(g) * gate that rms_norm_quant_f32_i8 applies next.
// Only the state carries from one token to the next; i and fPre do not depend on it. So a work-item
// loads them SCAN_AHEAD tokens at a time, and the next block's loads are issued before the current
// block is computed: a prefill of one sequence (d work-items, too few to hide a memory round trip
// behind other warps) waits for memory once in its first block instead of once a token. Each token's
// arithmetic is the same as before, in the same order.
// Launch: global = (roundUp(d, 64), b), local = (64, 1).

#ifndef SCAN_AHEAD
#define SCAN_AHEAD 8
#endif

// A token's step is s = forget * s + inflow, in both kernels below.
inline float scan_forget(float lbj, float fPre) {
    return lbj + (1.0f - lbj) * sigmoid_f(fPre);
}

inline float scan_inflow(float i, float f) {
    return silu_f(i) * (1.0f - f);
}

inline float scan_token(float s, float lbj, float i, float fPre, __global float* g) {
    float f = scan_forget(lbj, fPre);
    s = f * s + scan_inflow(i, f);
    *g = silu_f(s);
    return s;
}

__kernel void mlgru_scan_f32(__global const float* ifg, __global const float* lb, __global const float* stateIn,
                             __global float* stateOut, __global float* gate, const int d, const int T) {
    int j = get_global_id(0);
    int b = get_global_id(1);
    if (j >= d) {
        return;
    }
    __global const float* r = ifg + (size_t) b * T * 3 * d + j;   // token t: i at r[3dt], fPre at r[3dt + d]
    __global float* g = gate + (size_t) b * T * d + j;
    float s = stateIn[(size_t) b * d + j];
    float lbj = lb[j];
    int full = T - T % SCAN_AHEAD;
    float ni[SCAN_AHEAD];
    float nf[SCAN_AHEAD];
    if (full > 0) {
#pragma unroll
        for (int u = 0; u < SCAN_AHEAD; u++) {
            ni[u] = r[(size_t) u * 3 * d];
            nf[u] = r[(size_t) u * 3 * d + d];
        }
    }
    for (int t0 = 0; t0 < full; t0 += SCAN_AHEAD) {
        float ci[SCAN_AHEAD];
        float cf[SCAN_AHEAD];
#pragma unroll
        for (int u = 0; u < SCAN_AHEAD; u++) {
            ci[u] = ni[u];
            cf[u] = nf[u];
        }
        if (t0 + SCAN_AHEAD < full) {   // the next block, in flight while this one is computed
#pragma unroll
            for (int u = 0; u < SCAN_AHEAD; u++) {
                size_t at = (size_t) (t0 + SCAN_AHEAD + u) * 3 * d;
                ni[u] = r[at];
                nf[u] = r[at + d];
            }
        }
#pragma unroll
        for (int u = 0; u < SCAN_AHEAD; u++) {
            s = scan_token(s, lbj, ci[u], cf[u], g + (size_t) (t0 + u) * d);
        }
    }
    for (int t = full; t < T; t++) {
        size_t at = (size_t) t * 3 * d;
        s = scan_token(s, lbj, r[at], r[at + d], g + (size_t) t * d);
    }
    stateOut[(size_t) b * d + j] = s;
}

// mlgru_scan_tokens_f32: the same recurrence, with its sigmoids and silus spread over the tokens. The
// channel kernel above leaves them to one work-item a channel: at batch 1 that is d work-items on a few
// SMs, each computing three double-precision exps and divisions a token in turn. Here a work-group takes
// SCAN_CH channels of one sequence and SCAN_TOK tokens at a time, one work-item a (token, channel):
//   1. each work-item computes f and u = silu(i) * (1 - f) of its token into local memory;
//   2. the SCAN_CH work-items of token lane 0 run the block's steps s = f * s + u (the only sequential
//      part: a multiply and an add a token), leaving each token's state in local memory;
//   3. each work-item writes silu(state) of its token.
// Each token's arithmetic is the channel kernel's, in the same order, so the results are the same bits.
// Launch: global = (roundUp(d, SCAN_CH), b * SCAN_TOK), local = (SCAN_CH, SCAN_TOK).

#ifndef SCAN_CH
#define SCAN_CH 16
#endif
#ifndef SCAN_TOK
#define SCAN_TOK 16
#endif

__kernel __attribute__((reqd_work_group_size(SCAN_CH, SCAN_TOK, 1)))
void mlgru_scan_tokens_f32(__global const float* ifg, __global const float* lb, __global const float* stateIn,
                           __global float* stateOut, __global float* gate, const int d, const int T) {
    __local float lf[SCAN_TOK][SCAN_CH];   // f, then the state after the token
    __local float lu[SCAN_TOK][SCAN_CH];   // silu(i) * (1 - f)
    int c = get_local_id(0);
    int k = get_local_id(1);
    int j = get_group_id(0) * SCAN_CH + c;
    int b = get_group_id(1);
    int live = j < d;
    float lbj = live ? lb[j] : 0.0f;
    float s = live && k == 0 ? stateIn[(size_t) b * d + j] : 0.0f;
    for (int t0 = 0; t0 < T; t0 += SCAN_TOK) {
        int t = t0 + k;
        if (live && t < T) {
            size_t at = ((size_t) b * T + t) * 3 * d + j;
            float f = scan_forget(lbj, ifg[at + d]);
            lf[k][c] = f;
            lu[k][c] = scan_inflow(ifg[at], f);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        if (live && k == 0) {
            int n = min(SCAN_TOK, T - t0);
            for (int u = 0; u < n; u++) {
                s = lf[u][c] * s + lu[u][c];
                lf[u][c] = s;
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        if (live && t < T) {
            gate[((size_t) b * T + t) * d + j] = silu_f(lf[k][c]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);   // the next block writes lf and lu again
    }
    if (live && k == 0) {
        stateOut[(size_t) b * d + j] = s;
    }
}
