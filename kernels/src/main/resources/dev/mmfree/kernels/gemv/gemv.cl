// gemv_*: one activation row (decode at batch 1), y = epilogue(W prologue(x)), W [n, kPad] (see dense_common.cl).
// A work-group of GEMV_WG items takes GEMV_RPG = GEMV_WG / LPR consecutive rows; the LPR lanes of a row
// read it in 16-byte words (8 weights), four words in flight per lane, and sum through local memory (or
// warp shuffles with MMFREE_PTX).
// x is staged in local memory first, normalized there by the _norm variants (RMSNorm fused in front,
// so no separate norm launch). Launch: global = ceil(n / GEMV_RPG) * GEMV_WG, local = GEMV_WG.
// Args (same indices as gemm.cl): w, n, k, kPad, x, xOff, xStride (unused), rows (unused, 1), y,
//   [norm: nw, eps], [rope: meta, invFreq, kc, vc, heads, kvHeads, halfHd, cap], xs (local [kPad] floats).

inline void gemv_body(const int epi, const int norm, __global const wtype* w, int n, int k, int kPad,
                      __global const float* x, __global float* y, __global const float* nw, float eps,
                      __global const int* meta, __global const float* invFreq, __global kvtype* kc,
                      __global kvtype* vc, rope_dims dm, __local float* xs, __local float* red) {
    int l = get_local_id(0);
    float ss = 0.0f;
    for (int i = l; i < kPad; i += GEMV_WG) {
        float v = i < k ? x[i] : 0.0f;
        xs[i] = v;
        ss = fma(v, v, ss);
    }
    if (norm) {
        red[l] = ss;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int s = GEMV_WG / 2; s > 0; s >>= 1) {
            if (l < s) {
                red[l] += red[l + s];
            }
            barrier(CLK_LOCAL_MEM_FENCE);
        }
        float inv = rms_inv(red[0], k, eps);
        for (int i = l; i < k; i += GEMV_WG) {
            xs[i] = xs[i] * inv * nw[i];
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);

    int row0 = get_group_id(0) * GEMV_RPG;
    int row = row0 + l / LPR;
    float acc = row < n ? dense_lane_dot(LPR, 0, w + (size_t) row * kPad, kPad / 8, xs, l % LPR) : 0.0f;
    dense_row_sums(LPR, acc, red);
    dense_rows_epilogue(epi, GEMV_RPG, row0, n, n, y, y, meta, invFreq, kc, vc, dm, red);
}

__kernel void KNAME(gemv)(GEMV_ARGS, __local float* xs) {
    __local float red[GEMV_WG];
    rope_dims dm = {0, 0, 1, 0};
    gemv_body(E_STORE, 0, w, n, k, kPad, x + xOff, y, 0, 0.0f, 0, 0, 0, 0, dm, xs, red);
}

__kernel void KNAME(gemv_add)(GEMV_ARGS, __local float* xs) {
    __local float red[GEMV_WG];
    rope_dims dm = {0, 0, 1, 0};
    gemv_body(E_ADD, 0, w, n, k, kPad, x + xOff, y, 0, 0.0f, 0, 0, 0, 0, dm, xs, red);
}

__kernel void KNAME(gemv_norm)(GEMV_ARGS, NORM_ARGS, __local float* xs) {
    __local float red[GEMV_WG];
    rope_dims dm = {0, 0, 1, 0};
    gemv_body(E_STORE, 1, w, n, k, kPad, x + xOff, y, nw, eps, 0, 0, 0, 0, dm, xs, red);
}

__kernel void KNAME(gemv_norm_swiglu)(GEMV_ARGS, NORM_ARGS, __local float* xs) {
    __local float red[GEMV_WG];
    rope_dims dm = {0, 0, 1, 0};
    gemv_body(E_SWIGLU, 1, w, n, k, kPad, x + xOff, y, nw, eps, 0, 0, 0, 0, dm, xs, red);
}

__kernel void KNAME(gemv_norm_rope_kv)(GEMV_ARGS, NORM_ARGS, ROPE_ARGS, __local float* xs) {
    __local float red[GEMV_WG];
    rope_dims dm = {heads, kvHeads, halfHd, cap};
    gemv_body(E_ROPE_KV, 1, w, n, k, kPad, x + xOff, y, nw, eps, meta, invFreq, kc, vc, dm, xs, red);
}
