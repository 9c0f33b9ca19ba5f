// Dense layers of the Transformer++ baseline: y = W x with W [n, k] stored fp16 (or fp32) and
// activations, sums and outputs in float32. Shared by gemv.cl (one activation row) and gemm.cl (t rows).
// OpenCL C 1.2, after opencl/half8.cl. fp16 is storage only (NVIDIA OpenCL has no cl_khr_fp16): vloada_half8, or
// load_half8_ptx on NVIDIA, converts to float.
//
// Build-time defines (host: dev.mmfree.kernels.gemv.GemvOpenCl):
//   W_F16         weights are half, else float;   WSUF f16 | f32, the kernel-name suffix
//   KV_F16        the KV cache (ROPE_KV epilogue) is half, else float
//   GEMV_WG, LPR  GEMV: work-group size, lanes per output row (power of two <= 32); GEMV_RPG rows per group
//   TM, TN, TK, MT, NT  GEMM: a group computes TM activation rows x TN output rows, K step TK; each
//                 work-item an MT x NT block (NT even, so a row pair of the paired epilogues stays in one item)
//   MMFREE_PTX    NVIDIA only: warp shuffles through inline PTX for the GEMV's row sums
//
// Weight layout: [n, kPad] row-major, kPad = roundUp(k, 8), zero past k, so every row starts 16-byte
// aligned (fp16) and vector loads need no tail. Paired epilogues read adjacent rows (2p, 2p+1):
//   SWIGLU   rows interleave gate and up: 2j = gate_j, 2j+1 = up_j;  act[j] = silu(gate_j) * up_j
//   ROPE_KV  rows of each q/k/v head interleave its halves: 2j = h_j, 2j+1 = h_{j+hd/2}, heads stacked
//            q (H), k (KV), v (KV); q and k rotated at their position, q stored, k and v written to the cache.
// meta: [pos0, tps, rows]: the first position of this call, tokens per sequence, activation rows (b * tps).
// Activation row r belongs to sequence r / tps at position pos0 + r % tps.

#ifndef DENSE_W_V4
#define DENSE_W_V4 1
#endif

#define CAT_(a, b) a##_##b##_f32
#define CAT(a, b) CAT_(a, b)
#define KNAME(base) CAT(base, WSUF)

#define GEMV_RPG (GEMV_WG / LPR)
#define GEMM_WG ((TM / MT) * (TN / NT))

#ifdef W_F16
typedef half wtype;
#define LOAD_W1(i, p) vload_half((i), (p))
#if defined(MMFREE_PTX) && DENSE_W_V4
// Eight weights as one 16-byte load and eight cvt (opencl/half8.cl): vloada_half8 is eight 2-byte loads on NVIDIA
// (480 ld.global.u16 in the GEMV program), which made the GEMV 1.3-1.6x slower on the H200.
// DENSE_W_V4=0 (host: MMFREE_OPENCL_BUILD_OPTIONS) takes vloada_half8, for A/B.
#define LOAD_W8(i, p) load_half8_ptx((i), (p))
#else
#define LOAD_W8(i, p) vloada_half8((i), (p))
#endif
#else
typedef float wtype;
#define LOAD_W8(i, p) vload8((i), (p))
#define LOAD_W1(i, p) ((p)[i])
#endif

#ifdef KV_F16
#define STORE_KV(v, i, p) vstore_half_rte((v), (i), (p))
#else
#define STORE_KV(v, i, p) ((p)[i] = (v))
#endif

// Kernel arguments shared by gemv.cl and gemm.cl (same indices in both).
#define GEMV_ARGS __global const wtype* w, const int n, const int k, const int kPad, __global const float* x, \
        const int xOff, const int xStride, const int rows, __global float* y
#define NORM_ARGS __global const float* nw, const float eps
#define ROPE_ARGS __global const int* meta, __global const float* invFreq, __global kvtype* kc, __global kvtype* vc, \
        const int heads, const int kvHeads, const int halfHd, const int cap

#define E_STORE 0
#define E_ADD 1
#define E_SWIGLU 2
#define E_ROPE_KV 3

inline float dense_silu(float x) {
    return x / (1.0f + exp(-x));
}

inline float dot8(float8 a, float8 b, float acc) {
    acc = fma(a.s0, b.s0, acc);
    acc = fma(a.s1, b.s1, acc);
    acc = fma(a.s2, b.s2, acc);
    acc = fma(a.s3, b.s3, acc);
    acc = fma(a.s4, b.s4, acc);
    acc = fma(a.s5, b.s5, acc);
    acc = fma(a.s6, b.s6, acc);
    return fma(a.s7, b.s7, acc);
}

// Everything the ROPE_KV epilogue needs, bundled so both kernels pass it the same way.
typedef struct {
    int heads;      // H
    int kvHeads;    // KV
    int halfHd;     // hd / 2
    int cap;        // positions the cache holds per sequence
} rope_dims;

// Row pair p = (2p, 2p+1) of the stacked qkv output for activation row r: a = h_j, b = h_{j+hd/2}.
// q: [rows, H*hd]; kc, vc: [b, cap, KV*hd]; invFreq: [hd/2] theta^(-2j/hd).
inline void rope_kv_pair(int p, float a, float b, int r, __global const int* meta, rope_dims dm,
                         __global const float* invFreq, __global float* q, __global kvtype* kc, __global kvtype* vc) {
    int hd = 2 * dm.halfHd;
    int head = p / dm.halfHd;
    int j = p - head * dm.halfHd;
    int tps = meta[1];
    int seq = r / tps;
    int pos = meta[0] + (r - seq * tps);
    if (head < dm.heads + dm.kvHeads) {
        float angle = (float) pos * invFreq[j];
        float c = cos(angle);
        float s = sin(angle);
        float ra = a * c - b * s;
        float rb = b * c + a * s;
        a = ra;
        b = rb;
    }
    if (head < dm.heads) {
        size_t at = (size_t) r * dm.heads * hd + (size_t) head * hd + j;
        q[at] = a;
        q[at + dm.halfHd] = b;
    } else {
        int kvHead = head - dm.heads;
        __global kvtype* cache = kc;
        if (kvHead >= dm.kvHeads) {
            kvHead -= dm.kvHeads;
            cache = vc;
        }
        size_t at = ((size_t) seq * dm.cap + pos) * dm.kvHeads * hd + (size_t) kvHead * hd + j;
        STORE_KV(a, at, cache);
        STORE_KV(b, at + dm.halfHd, cache);
    }
}

// 1 / sqrt(mean(x^2) + eps) from a sum of squares over k values.
inline float rms_inv(float sumSq, int k, float eps) {
    return 1.0f / sqrt(sumSq / (float) k + eps);
}

// The GEMV's row loop, shared by gemv.cl (one row block a work-group) and decode_layer_dense.cl (row ranges
// in passes): a work-group of GEMV_WG items holds GEMV_WG / lpr rows, each read by lpr lanes.

// This lane's part of row wr . xs over `words` 16-byte words (8 weights each): rounds of four words in flight
// a lane, then single words. deep (a constant at each call) first takes rounds of eight: the one-launch layer's
// GEMVs that gain from it (DenseLayerOpenCl.deep); the round of four then runs at most once.
inline float dense_lane_dot(const int lpr, const int deep, __global const wtype* wr, int words, __local const float* xs,
                            int lane) {
    int c = lane;
    float acc = 0.0f;
    float acc1 = 0.0f;
    float acc2 = 0.0f;
    float acc3 = 0.0f;
    if (deep) {
        for (; c + 7 * lpr < words; c += 8 * lpr) {
            float8 w0 = LOAD_W8(c, wr);
            float8 w1 = LOAD_W8(c + lpr, wr);
            float8 w2 = LOAD_W8(c + 2 * lpr, wr);
            float8 w3 = LOAD_W8(c + 3 * lpr, wr);
            float8 w4 = LOAD_W8(c + 4 * lpr, wr);
            float8 w5 = LOAD_W8(c + 5 * lpr, wr);
            float8 w6 = LOAD_W8(c + 6 * lpr, wr);
            float8 w7 = LOAD_W8(c + 7 * lpr, wr);
            acc = dot8(w0, vload8(c, xs), acc);
            acc1 = dot8(w1, vload8(c + lpr, xs), acc1);
            acc2 = dot8(w2, vload8(c + 2 * lpr, xs), acc2);
            acc3 = dot8(w3, vload8(c + 3 * lpr, xs), acc3);
            acc = dot8(w4, vload8(c + 4 * lpr, xs), acc);
            acc1 = dot8(w5, vload8(c + 5 * lpr, xs), acc1);
            acc2 = dot8(w6, vload8(c + 6 * lpr, xs), acc2);
            acc3 = dot8(w7, vload8(c + 7 * lpr, xs), acc3);
        }
    }
    for (; c + 3 * lpr < words; c += 4 * lpr) {
        float8 w0 = LOAD_W8(c, wr);
        float8 w1 = LOAD_W8(c + lpr, wr);
        float8 w2 = LOAD_W8(c + 2 * lpr, wr);
        float8 w3 = LOAD_W8(c + 3 * lpr, wr);
        acc = dot8(w0, vload8(c, xs), acc);
        acc1 = dot8(w1, vload8(c + lpr, xs), acc1);
        acc2 = dot8(w2, vload8(c + 2 * lpr, xs), acc2);
        acc3 = dot8(w3, vload8(c + 3 * lpr, xs), acc3);
    }
    for (; c < words; c += lpr) {
        acc = dot8(LOAD_W8(c, wr), vload8(c, xs), acc);
    }
    return (acc + acc1) + (acc2 + acc3);
}

// Sums the lanes' parts through local memory (red: GEMV_WG floats): afterwards red[s] holds the sum of row slot s
// (s < GEMV_WG / lpr). Ends with a barrier.
inline void dense_row_sums_local(const int lpr, float acc, __local float* red) {
    int l = get_local_id(0);
    int rpg = GEMV_WG / lpr;
    red[l] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    float sum = 0.0f;
    if (l < rpg) {
        for (int j = 0; j < lpr; j++) {
            sum += red[l * lpr + j];
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (l < rpg) {
        red[l] = sum;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
}

// dense_row_sums_local, through warp shuffles with MMFREE_PTX where lpr is a power of two (a row's lanes then
// lie in one warp). lpr is a compile-time constant, so the branch is the same for the whole work-group.
inline void dense_row_sums(const int lpr, float acc, __local float* red) {
#ifdef MMFREE_PTX
    if ((lpr & (lpr - 1)) == 0) {
        int l = get_local_id(0);
        for (int m = lpr / 2; m > 0; m >>= 1) {
            acc += dense_shfl_xor(acc, m);
        }
        if (l % lpr == 0) {
            red[l / lpr] = acc;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    } else {
        dense_row_sums_local(lpr, acc, red);
    }
#else
    dense_row_sums_local(lpr, acc, red);
#endif
}

// The epilogue of output element c (or pair c, c + 1 of the paired epilogues) of activation row r, y [rows, n]
// ([rows, n / 2] for E_SWIGLU), with sums a (and b, the pair's second): E_STORE y =, E_ADD y += (a volatile
// read: in the one-launch layer another work-group may have written y), E_SWIGLU silu(gate) * up, E_ROPE_KV
// rope_kv_pair into q and the caches.
inline void dense_epilogue(const int epi, int r, int c, int n, float a, float b, volatile __global float* y,
                           __global float* q, __global const int* meta, __global const float* invFreq,
                           __global kvtype* kc, __global kvtype* vc, rope_dims dm) {
    if (epi == E_STORE || epi == E_ADD) {
        size_t at = (size_t) r * n + c;
        y[at] = epi == E_ADD ? y[at] + a : a;
    } else if (epi == E_SWIGLU) {
        y[(size_t) r * (n / 2) + c / 2] = dense_silu(a) * b;
    } else {
        rope_kv_pair(c / 2, a, b, r, meta, dm, invFreq, q, kc, vc);
    }
}

// dense_epilogue on one activation row's outputs [row0, min(row0 + rpg, end)) from their sums in red (row0 even).
inline void dense_rows_epilogue(const int epi, int rpg, int row0, int end, int n, volatile __global float* y,
                                __global float* q, __global const int* meta, __global const float* invFreq,
                                __global kvtype* kc, __global kvtype* vc, rope_dims dm, __local const float* red) {
    int l = get_local_id(0);
    if (epi == E_STORE || epi == E_ADD) {
        if (l < rpg && row0 + l < end) {
            dense_epilogue(epi, 0, row0 + l, n, red[l], 0.0f, y, q, meta, invFreq, kc, vc, dm);
        }
    } else if (l < rpg / 2 && row0 + 2 * l < end) {
        dense_epilogue(epi, 0, row0 + 2 * l, n, red[2 * l], red[2 * l + 1], y, q, meta, invFreq, kc, vc, dm);
    }
}
