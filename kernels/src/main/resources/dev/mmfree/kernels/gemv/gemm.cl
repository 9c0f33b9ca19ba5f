// gemm_*: t activation rows (prefill, batched decode), Y = epilogue(prologue(X) W^T), W [n, kPad]
// (see dense_common.cl). A work-group computes a TM x TN tile of Y (TM activation rows, TN weight rows)
// stepping K by TK through local memory, so each weight is read from device memory once per TM rows;
// work-item (tm, tn) keeps an MT x NT block of sums in registers. The _norm variants first compute
// each tile row's 1 / rms and scale X while loading it (RMSNorm fused in front).
// Launch: global = (ceil(n / TN) * GEMM_WG, ceil(rows / TM)), local = (GEMM_WG, 1).
// Args: w, n, k, kPad, x, xOff, xStride, rows, y, [norm: nw, eps], [rope: meta, invFreq, kc, vc, heads,
//   kvHeads, halfHd, cap]. X row r is x[xOff + r * xStride, + k); Y rows are dense: [rows, n]
//   ([rows, n / 2] for SWIGLU).

#define TMP (TM + 1)
#define TNP (TN + 1)
#define TPR (GEMM_WG / TM)

inline void gemm_body(const int epi, const int norm, __global const wtype* w, int n, int k, int kPad,
                      __global const float* x, int xStride, int rows, __global float* y,
                      __global const float* nw, float eps, __global const int* meta,
                      __global const float* invFreq, __global kvtype* kc, __global kvtype* vc, rope_dims dm,
                      __local float* xs, __local float* ws, __local float* inv) {
    int l = get_local_id(0);
    int tn = l % (TN / NT);
    int tm = l / (TN / NT);
    int n0 = get_group_id(0) * TN;
    int m0 = get_group_id(1) * TM;

    if (norm) {
        int rr = l / TPR;
        int part = l % TPR;
        float ss = 0.0f;
        if (m0 + rr < rows) {
            __global const float* xr = x + (size_t) (m0 + rr) * xStride;
            for (int i = part; i < k; i += TPR) {
                ss = fma(xr[i], xr[i], ss);
            }
        }
        ws[l] = ss;
        barrier(CLK_LOCAL_MEM_FENCE);
        if (part == 0) {
            float s = 0.0f;
            for (int j = 0; j < TPR; j++) {
                s += ws[l + j];
            }
            inv[rr] = rms_inv(s, k, eps);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }

    float acc[MT][NT];
#pragma unroll
    for (int i = 0; i < MT; i++) {
#pragma unroll
        for (int j = 0; j < NT; j++) {
            acc[i][j] = 0.0f;
        }
    }
    for (int k0 = 0; k0 < kPad; k0 += TK) {
        for (int e = l; e < TM * TK; e += GEMM_WG) {
            int rr = e / TK;
            int kk = e - rr * TK;
            int kx = k0 + kk;
            float v = 0.0f;
            if (m0 + rr < rows && kx < k) {
                v = x[(size_t) (m0 + rr) * xStride + kx];
                if (norm) {
                    v = v * inv[rr] * nw[kx];
                }
            }
            xs[kk * TMP + rr] = v;
        }
        for (int e = l; e < TN * (TK / 8); e += GEMM_WG) {
            int rr = e / (TK / 8);
            int c = e - rr * (TK / 8);
            float8 v = (float8) (0.0f);
            if (n0 + rr < n && k0 + 8 * c < kPad) {
                v = LOAD_W8(k0 / 8 + c, w + (size_t) (n0 + rr) * kPad);
            }
            __local float* dst = ws + 8 * c * TNP + rr;
            dst[0] = v.s0;
            dst[TNP] = v.s1;
            dst[2 * TNP] = v.s2;
            dst[3 * TNP] = v.s3;
            dst[4 * TNP] = v.s4;
            dst[5 * TNP] = v.s5;
            dst[6 * TNP] = v.s6;
            dst[7 * TNP] = v.s7;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int kk = 0; kk < TK; kk++) {
            float a[MT];
            float b[NT];
#pragma unroll
            for (int i = 0; i < MT; i++) {
                a[i] = xs[kk * TMP + tm * MT + i];
            }
#pragma unroll
            for (int j = 0; j < NT; j++) {
                b[j] = ws[kk * TNP + tn * NT + j];
            }
#pragma unroll
            for (int i = 0; i < MT; i++) {
#pragma unroll
                for (int j = 0; j < NT; j++) {
                    acc[i][j] = fma(a[i], b[j], acc[i][j]);
                }
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }

#pragma unroll
    for (int i = 0; i < MT; i++) {
        int r = m0 + tm * MT + i;
        if (r >= rows) {
            continue;
        }
        if (epi == E_STORE || epi == E_ADD) {
#pragma unroll
            for (int j = 0; j < NT; j++) {
                int c = n0 + tn * NT + j;
                if (c < n) {
                    size_t at = (size_t) r * n + c;
                    y[at] = epi == E_ADD ? y[at] + acc[i][j] : acc[i][j];
                }
            }
        } else {
#pragma unroll
            for (int j = 0; j < NT; j += 2) {
                int c = n0 + tn * NT + j;
                if (c < n) {
                    int p = c / 2;
                    if (epi == E_SWIGLU) {
                        y[(size_t) r * (n / 2) + p] = dense_silu(acc[i][j]) * acc[i][j + 1];
                    } else {
                        rope_kv_pair(p, acc[i][j], acc[i][j + 1], r, meta, dm, invFreq, y, kc, vc);
                    }
                }
            }
        }
    }
}

#define GEMM_LOCALS __local float xs[TK * TMP]; __local float ws[TK * TNP + GEMM_WG]; __local float inv[TM]

__kernel void KNAME(gemm)(GEMV_ARGS) {
    GEMM_LOCALS;
    rope_dims dm = {0, 0, 1, 0};
    gemm_body(E_STORE, 0, w, n, k, kPad, x + xOff, xStride, rows, y, 0, 0.0f, 0, 0, 0, 0, dm, xs, ws, inv);
}

__kernel void KNAME(gemm_add)(GEMV_ARGS) {
    GEMM_LOCALS;
    rope_dims dm = {0, 0, 1, 0};
    gemm_body(E_ADD, 0, w, n, k, kPad, x + xOff, xStride, rows, y, 0, 0.0f, 0, 0, 0, 0, dm, xs, ws, inv);
}

__kernel void KNAME(gemm_norm)(GEMV_ARGS, NORM_ARGS) {
    GEMM_LOCALS;
    rope_dims dm = {0, 0, 1, 0};
    gemm_body(E_STORE, 1, w, n, k, kPad, x + xOff, xStride, rows, y, nw, eps, 0, 0, 0, 0, dm, xs, ws, inv);
}

__kernel void KNAME(gemm_norm_swiglu)(GEMV_ARGS, NORM_ARGS) {
    GEMM_LOCALS;
    rope_dims dm = {0, 0, 1, 0};
    gemm_body(E_SWIGLU, 1, w, n, k, kPad, x + xOff, xStride, rows, y, nw, eps, 0, 0, 0, 0, dm, xs, ws, inv);
}

__kernel void KNAME(gemm_norm_rope_kv)(GEMV_ARGS, NORM_ARGS, ROPE_ARGS) {
    GEMM_LOCALS;
    rope_dims dm = {heads, kvHeads, halfHd, cap};
    gemm_body(E_ROPE_KV, 1, w, n, k, kPad, x + xOff, xStride, rows, y, nw, eps, meta, invFreq, kc, vc, dm, xs, ws, inv);
}
