// gemm_*: t activation rows (prefill, batched decode), Y = epilogue(prologue(X) W^T), W [n, kPad]
// (see dense_common.cl). A work-group computes a tile of Y of tm activation rows x TN weight rows,
// stepping K by TK through local memory, so each weight is read from device memory once per tile of
// rows; work-item (row block, column block) keeps an MT x NT block of sums in registers. tm is chosen
// per launch by the local size, tm = local / (TN / NT) * MT <= TM, so 8 rows run an 8-row tile, not TM.
// Split-K: groups along dimension 2 take equal ranges of K, so few tiles (small t, small n) still fill
// the device; with more than one split each group writes its raw sums to part [splits, rows, n] and
// gemm_reduce_* adds them and applies the epilogue. The _norm variants first compute each tile row's
// 1 / rms over all of K and scale X while loading it (RMSNorm fused in front).
// Launch: global = (ceil(n / TN) * wg, ceil(rows / tm), splits), local = (wg, 1, 1), wg = tm / MT * TN / NT.
// Args: w, n, k, kPad, x, xOff, xStride, rows, y, [norm: nw, eps], [rope: meta, invFreq, kc, vc, heads,
//   kvHeads, halfHd, cap], part. X row r is x[xOff + r * xStride, + k); Y rows are dense: [rows, n]
//   ([rows, n / 2] for SWIGLU; q [rows, H*hd] for ROPE_KV).

#define TMP (TM + 1)
#define TNP (TN + 1)
#define COLS (TN / NT)
#define TPR (COLS / MT)

inline void gemm_body(const int epi, const int norm, __global const wtype* w, int n, int k, int kPad,
                      __global const float* x, int xStride, int rows, __global float* y,
                      __global const float* nw, float eps, __global const int* meta,
                      __global const float* invFreq, __global kvtype* kc, __global kvtype* vc, rope_dims dm,
                      __global float* part, __local float* xs, __local float* ws, __local float* inv) {
    int l = get_local_id(0);
    int tmRun = (int) get_local_size(0) / COLS * MT;
    int tn = l % COLS;
    int tm = l / COLS;
    int n0 = get_group_id(0) * TN;
    int m0 = get_group_id(1) * tmRun;
    int splits = get_num_groups(2);
    int ks = get_group_id(2);
    int steps = (kPad + TK - 1) / TK;
    int per = (steps + splits - 1) / splits;
    int kBegin = ks * per * TK;
    int kEnd = min(kPad, (ks + 1) * per * TK);

    if (norm) {
        int rr = l / TPR;
        int share = l % TPR;
        float ss = 0.0f;
        if (m0 + rr < rows) {
            __global const float* xr = x + (size_t) (m0 + rr) * xStride;
            for (int i = share; i < k; i += TPR) {
                ss = fma(xr[i], xr[i], ss);
            }
        }
        ws[l] = ss;
        barrier(CLK_LOCAL_MEM_FENCE);
        if (share == 0) {
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
    for (int k0 = kBegin; k0 < kEnd; k0 += TK) {
        for (int e = l; e < tmRun * TK; e += get_local_size(0)) {
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
        for (int e = l; e < TN * (TK / 8); e += get_local_size(0)) {
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
#pragma unroll
        for (int j = 0; j < NT; j += 2) {
            int c = n0 + tn * NT + j;
            if (c >= n) {
                continue;
            }
            if (splits > 1) {
                size_t at = ((size_t) ks * rows + r) * n + c;
                part[at] = acc[i][j];
                if (c + 1 < n) {
                    part[at + 1] = acc[i][j + 1];
                }
            } else if (epi == E_STORE || epi == E_ADD) {
                dense_epilogue(epi, r, c, n, acc[i][j], 0.0f, y, y, meta, invFreq, kc, vc, dm);
                if (c + 1 < n) {
                    dense_epilogue(epi, r, c + 1, n, acc[i][j + 1], 0.0f, y, y, meta, invFreq, kc, vc, dm);
                }
            } else {
                dense_epilogue(epi, r, c, n, acc[i][j], acc[i][j + 1], y, y, meta, invFreq, kc, vc, dm);
            }
        }
    }
}

#define GEMM_LOCALS __local float xs[TK * TMP]; __local float ws[TK * TNP + TM * COLS / MT]; __local float inv[TM]

__kernel void KNAME(gemm)(GEMV_ARGS, __global float* part) {
    GEMM_LOCALS;
    rope_dims dm = {0, 0, 1, 0};
    gemm_body(E_STORE, 0, w, n, k, kPad, x + xOff, xStride, rows, y, 0, 0.0f, 0, 0, 0, 0, dm, part, xs, ws, inv);
}

__kernel void KNAME(gemm_add)(GEMV_ARGS, __global float* part) {
    GEMM_LOCALS;
    rope_dims dm = {0, 0, 1, 0};
    gemm_body(E_ADD, 0, w, n, k, kPad, x + xOff, xStride, rows, y, 0, 0.0f, 0, 0, 0, 0, dm, part, xs, ws, inv);
}

__kernel void KNAME(gemm_norm)(GEMV_ARGS, NORM_ARGS, __global float* part) {
    GEMM_LOCALS;
    rope_dims dm = {0, 0, 1, 0};
    gemm_body(E_STORE, 1, w, n, k, kPad, x + xOff, xStride, rows, y, nw, eps, 0, 0, 0, 0, dm, part, xs, ws, inv);
}

__kernel void KNAME(gemm_norm_swiglu)(GEMV_ARGS, NORM_ARGS, __global float* part) {
    GEMM_LOCALS;
    rope_dims dm = {0, 0, 1, 0};
    gemm_body(E_SWIGLU, 1, w, n, k, kPad, x + xOff, xStride, rows, y, nw, eps, 0, 0, 0, 0, dm, part, xs, ws, inv);
}

__kernel void KNAME(gemm_norm_rope_kv)(GEMV_ARGS, NORM_ARGS, ROPE_ARGS, __global float* part) {
    GEMM_LOCALS;
    rope_dims dm = {heads, kvHeads, halfHd, cap};
    gemm_body(E_ROPE_KV, 1, w, n, k, kPad, x + xOff, xStride, rows, y, nw, eps, meta, invFreq, kc, vc, dm, part, xs, ws, inv);
}

// gemm_reduce_*: Y = epilogue(sum over splits of part [splits, rows, n]), one work-item per output
// (per row pair for SWIGLU and ROPE_KV). Launch: global = roundUp(rows * width, 256), local = 256,
// width = n (n / 2 paired). Args: part, splits, rows, n, y, [rope: meta, invFreq, kc, vc, heads, kvHeads, halfHd, cap].
inline void reduce_body(const int epi, __global const float* part, int splits, int rows, int n, __global float* y,
                        __global const int* meta, __global const float* invFreq, __global kvtype* kc,
                        __global kvtype* vc, rope_dims dm) {
    int paired = epi == E_SWIGLU || epi == E_ROPE_KV;
    int width = paired ? n / 2 : n;
    size_t i = get_global_id(0);
    if (i >= (size_t) rows * width) {
        return;
    }
    int r = (int) (i / width);
    int c = (int) (i - (size_t) r * width) * (paired ? 2 : 1);
    size_t at = (size_t) r * n + c;
    size_t stride = (size_t) rows * n;
    float a = 0.0f;
    float b = 0.0f;
    for (int s = 0; s < splits; s++) {
        a += part[s * stride + at];
        if (paired) {
            b += part[s * stride + at + 1];
        }
    }
    dense_epilogue(epi, r, c, n, a, b, y, y, meta, invFreq, kc, vc, dm);
}

#define REDUCE_ARGS __global const float* part, const int splits, const int rows, const int n, __global float* y

__kernel void KNAME(gemm_reduce)(REDUCE_ARGS) {
    rope_dims dm = {0, 0, 1, 0};
    reduce_body(E_STORE, part, splits, rows, n, y, 0, 0, 0, 0, dm);
}

__kernel void KNAME(gemm_reduce_add)(REDUCE_ARGS) {
    rope_dims dm = {0, 0, 1, 0};
    reduce_body(E_ADD, part, splits, rows, n, y, 0, 0, 0, 0, dm);
}

__kernel void KNAME(gemm_reduce_swiglu)(REDUCE_ARGS) {
    rope_dims dm = {0, 0, 1, 0};
    reduce_body(E_SWIGLU, part, splits, rows, n, y, 0, 0, 0, 0, dm);
}

__kernel void KNAME(gemm_reduce_rope_kv)(REDUCE_ARGS, ROPE_ARGS) {
    rope_dims dm = {heads, kvHeads, halfHd, cap};
    reduce_body(E_ROPE_KV, part, splits, rows, n, y, meta, invFreq, kc, vc, dm);
}
