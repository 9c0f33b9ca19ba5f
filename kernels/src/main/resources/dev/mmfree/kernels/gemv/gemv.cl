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

    int lane = l % LPR;
    int slot = l / LPR;
    int row0 = get_group_id(0) * GEMV_RPG;
    int row = row0 + slot;
    float acc = 0.0f;
    if (row < n) {
        __global const wtype* wr = w + (size_t) row * kPad;
        int words = kPad / 8;
        int c = lane;
        float acc1 = 0.0f;
        float acc2 = 0.0f;
        float acc3 = 0.0f;
        for (; c + 3 * LPR < words; c += 4 * LPR) {
            float8 w0 = LOAD_W8(c, wr);
            float8 w1 = LOAD_W8(c + LPR, wr);
            float8 w2 = LOAD_W8(c + 2 * LPR, wr);
            float8 w3 = LOAD_W8(c + 3 * LPR, wr);
            acc = dot8(w0, vload8(c, xs), acc);
            acc1 = dot8(w1, vload8(c + LPR, xs), acc1);
            acc2 = dot8(w2, vload8(c + 2 * LPR, xs), acc2);
            acc3 = dot8(w3, vload8(c + 3 * LPR, xs), acc3);
        }
        for (; c < words; c += LPR) {
            acc = dot8(LOAD_W8(c, wr), vload8(c, xs), acc);
        }
        acc = (acc + acc1) + (acc2 + acc3);
    }
#ifdef MMFREE_PTX
    for (int m = LPR / 2; m > 0; m >>= 1) {
        acc += dense_shfl_xor(acc, m);
    }
    if (lane == 0) {
        red[slot] = acc;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
#else
    red[l] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    float sum = 0.0f;
    if (l < GEMV_RPG) {
        for (int j = 0; j < LPR; j++) {
            sum += red[l * LPR + j];
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (l < GEMV_RPG) {
        red[l] = sum;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
#endif

    if (epi == E_STORE || epi == E_ADD) {
        if (l < GEMV_RPG && row0 + l < n) {
            float v = red[l];
            y[row0 + l] = epi == E_ADD ? y[row0 + l] + v : v;
        }
    } else if (l < GEMV_RPG / 2 && row0 + 2 * l < n) {
        int p = row0 / 2 + l;
        float a = red[2 * l];
        float b = red[2 * l + 1];
        if (epi == E_SWIGLU) {
            y[p] = dense_silu(a) * b;
        } else {
            rope_kv_pair(p, a, b, 0, meta, dm, invFreq, y, kc, vc);
        }
    }
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
