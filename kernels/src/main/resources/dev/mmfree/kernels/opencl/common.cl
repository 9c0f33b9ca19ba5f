// Shared by every mmfree OpenCL program: work-group reductions, the ternary dot product on the
// device layout, and the int8 quantizer. OpenCL C 1.2; little-endian devices.
//
// Build-time defines (host: dev.mmfree.kernels.opencl.Tiling):
//   ROWS, SLICES  a ternary work-group is ROWS output rows x SLICES slices of the input, WG = ROWS*SLICES
//                 work-items; work-item l has row l % ROWS and slice l / ROWS, so the ROWS lanes of a
//                 slice read ROWS consecutive 16-byte words of the device layout (coalesced).
//   TOKENS        rows of activations one GEMM work-item accumulates at once
//   MMFREE_PTX    NVIDIA only: dp4a and warp shuffles through inline PTX; without it, portable C
//
// Device layout of a ternary matrix (host: dev.mmfree.kernels.bitlinear.TernaryDeviceLayout):
//   P projections [out, in] stacked, each padded to outPad = roundUp(out, ROW_TILE) rows; R = p*outPad + r
//   chunk c = input columns [64c, 64c + 64); chunks = ceil(in / 64)
//   uint4 at index c * (P*outPad) + R holds row R's chunk c: word m covers columns 64c+16m .. +15, and
//   column 64c + 16m + 4s + j sits in bits 8j+2s+1 .. 8j+2s of word m as u = T + 1 in {0, 1, 2}
//   so (word >> 2s) & 0x03030303 is four u's, one per byte, matching activation int 16c + 4m + s.
//   Padding (rows >= out, columns >= in) holds u = 1 (T = 0).
// Activations: int8 codes as ints, [kPad = 64 * chunks] per row, zero past `in`, with qsum = sum of the
// row's codes: T.q = sum(u*q) - qsum, so the inner loop is a shift, a mask and a dp4a per 4 weights (word_dot,
// the GEMM), or in the one-row kernels a mask and a dp4a (word_dacc: fields masked in place, sums scaled).

#pragma OPENCL FP_CONTRACT OFF

// Norm sums accumulate in double where the device has it, as the Java reference does, and the
// float steps run in the reference's order, so int8 codes match the reference's except where a
// double sum in another order rounds to another float (about never). Without fp64: float sums.
#ifdef cl_khr_fp64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double acc_t;
#else
typedef float acc_t;
#endif

#define WG (ROWS * SLICES)
#define ROW_TILE 64

// sigmoid(x) = 1 / (1 + e^-x), evaluated in acc_t and rounded to float like the reference.
inline float sigmoid_f(float x) {
    return (float) (1.0 / (1.0 + exp(-(acc_t) x)));
}

inline float silu_f(float x) {
    return x * sigmoid_f(x);
}

// 1 / sqrt(ss / n + eps) as RmsNormQuantReference computes it (in double, then rounded to float).
inline float norm_inv(acc_t ss, int n, float eps) {
    return (float) (1.0 / sqrt(ss / n + (acc_t) eps));
}

// acc + sum over 4 bytes of u (unsigned, 0..255) times a (signed int8).
inline int dot4(uint u, int a, int acc) {
#ifdef MMFREE_PTX
    int r;
    asm volatile("dp4a.u32.s32 %0, %1, %2, %3;" : "=r"(r) : "r"(u), "r"(a), "r"(acc));
    return r;
#else
    uchar4 x = as_uchar4(u);
    char4 y = as_char4(a);
    return acc + x.s0 * y.s0 + x.s1 * y.s1 + x.s2 * y.s2 + x.s3 * y.s3;
#endif
}

// The uint4 of chunk c of stacked row `row` in the device layout (TernaryDeviceLayout): chunk-major, or with
// WBLOCK = 16, 32 or 64 blocked by that many rows, each block's chunks together. The program defines WBLOCK
// (the host, from the weights it reads); chunks and rowsPad must be in scope. A constant WBLOCK folds the test.
#define W_DIV (WBLOCK == 0 ? 1 : WBLOCK)
#define W_AT(c, row) (WBLOCK == 0 ? (size_t) (c) * rowsPad + (row) \
                      : (((size_t) (row) / W_DIV) * chunks + (c)) * W_DIV + (row) % W_DIV)

// 16 weights (one word of the device layout) against 16 int8 activations.
inline int word_dot(uint w, int4 a, int acc) {
    acc = dot4(w & 0x03030303u, a.x, acc);
    acc = dot4((w >> 2) & 0x03030303u, a.y, acc);
    acc = dot4((w >> 4) & 0x03030303u, a.z, acc);
    return dot4((w >> 6) & 0x03030303u, a.w, acc);
}

inline int chunk_dot_global(uint4 w, __global const int4* q, int acc) {
    acc = word_dot(w.x, q[0], acc);
    acc = word_dot(w.y, q[1], acc);
    acc = word_dot(w.z, q[2], acc);
    return word_dot(w.w, q[3], acc);
}

// The masked dot product, for the one-row kernels (GEMV, decode phases): a word's four 2-bit fields are
// masked in place, not shifted down, so (w & 0x0C0C0C0C) holds 4u and its dp4a 4 * (u . a). Each field
// keeps its own sum in one lane of a dacc_t, scaled by 1, 4, 16 or 64, and dacc_total divides the scales out
// (exactly: each lane is a multiple of its scale). A word then costs 4 masks and 4 dp4a, against 3 shifts,
// 4 masks and 4 dp4a. Lane w grows by at most 4 * 128 * 128 = 2^16 a word, so a work-item's sum is exact up
// to 2^15 words (K = 2^19 inputs, TernaryDeviceLayout.MAX_IN). On the H200 it decoded 2.7B 2-11% faster.
typedef int4 dacc_t;

inline dacc_t word_dacc(uint w, int4 a, dacc_t acc) {
    acc.x = dot4(w & 0x03030303u, a.x, acc.x);
    acc.y = dot4(w & 0x0C0C0C0Cu, a.y, acc.y);
    acc.z = dot4(w & 0x30303030u, a.z, acc.z);
    acc.w = dot4(w & 0xC0C0C0C0u, a.w, acc.w);
    return acc;
}

inline int dacc_total(dacc_t acc) {
    return acc.x + acc.y / 4 + acc.z / 16 + acc.w / 64;
}

inline dacc_t chunk_dacc_local(uint4 w, __local const int4* q, dacc_t acc) {
    acc = word_dacc(w.x, q[0], acc);
    acc = word_dacc(w.y, q[1], acc);
    acc = word_dacc(w.z, q[2], acc);
    return word_dacc(w.w, q[3], acc);
}

#ifdef MMFREE_PTX
inline int shfl_xor_i(int v, int mask) {
    int r;
    asm volatile("shfl.sync.bfly.b32 %0, %1, %2, 0x1f, 0xffffffff;" : "=r"(r) : "r"(v), "r"(mask));
    return r;
}

inline float shfl_xor_f(float v, int mask) {
    return as_float(shfl_xor_i(as_int(v), mask));
}

#ifdef cl_khr_fp64
inline double shfl_xor_acc(double v, int mask) {
    int2 h = as_int2(v);
    return as_double((int2)(shfl_xor_i(h.x, mask), shfl_xor_i(h.y, mask)));
}
#else
inline float shfl_xor_acc(float v, int mask) {
    return shfl_xor_f(v, mask);
}
#endif
#endif

// Work-group reductions over n work-items (n = WG, a power of two; a multiple of 32 on the PTX path).
// Every work-item must call them, and never inside a branch (PoCL miscompiles barriers in branches,
// even uniform ones); scratch holds n values of the type; each ends with a barrier, so scratch is free
// again afterwards. PTX: warp shuffles, then one value a warp through scratch.
#ifdef MMFREE_PTX
#define WG_REDUCE(T, v, s, n, OP, SHFL)                          \
    for (int k = 16; k > 0; k >>= 1) {                           \
        v = OP(v, SHFL(v, k));                                   \
    }                                                            \
    if ((get_local_id(0) & 31) == 0) {                           \
        s[get_local_id(0) >> 5] = v;                             \
    }                                                            \
    barrier(CLK_LOCAL_MEM_FENCE);                                \
    T r = s[0];                                                  \
    for (int w = 1; w < ((n) >> 5); w++) {                       \
        r = OP(r, s[w]);                                         \
    }                                                            \
    barrier(CLK_LOCAL_MEM_FENCE);                                \
    return r;
#else
#define WG_REDUCE(T, v, s, n, OP, SHFL)                          \
    int l = get_local_id(0);                                     \
    s[l] = v;                                                    \
    barrier(CLK_LOCAL_MEM_FENCE);                                \
    for (int k = (n) >> 1; k > 0; k >>= 1) {                     \
        if (l < k) {                                             \
            s[l] = OP(s[l], s[l + k]);                           \
        }                                                        \
        barrier(CLK_LOCAL_MEM_FENCE);                            \
    }                                                            \
    T r = s[0];                                                  \
    barrier(CLK_LOCAL_MEM_FENCE);                                \
    return r;
#endif

#define OP_ADD(a, b) ((a) + (b))

inline acc_t wg_sum_acc(acc_t v, __local acc_t* s, int n) {
    WG_REDUCE(acc_t, v, s, n, OP_ADD, shfl_xor_acc)
}

inline float wg_max_f(float v, __local float* s, int n) {
    WG_REDUCE(float, v, s, n, fmax, shfl_xor_f)
}

inline int wg_sum_int(int v, __local int* s, int n) {
    WG_REDUCE(int, v, s, n, OP_ADD, shfl_xor_i)
}

inline int wg_max_int(int v, __local int* s, int n) {
    WG_REDUCE(int, v, s, n, max, shfl_xor_i)
}

// The input side of a BitLinear for one row held in z[0, kPad) (zero past K), by n work-items that
// each own the elements j = l, l + n, ...: z <- RMSNorm_w(z) (eps), then returns the int8 scale
// 127 / max(max|z|, 1e-5). The reference's steps: sum of squares, (z * inv) * w, the max.
inline float norm_and_scale(__local float* z, int K, int kPad, __global const float* w, float eps,
                            __local void* scratch, int n) {
    int l = get_local_id(0);
    acc_t ss = 0;
    for (int j = l; j < K; j += n) {
        ss += (acc_t) (z[j] * z[j]);
    }
    float inv = norm_inv(wg_sum_acc(ss, (__local acc_t*) scratch, n), K, eps);
    float m = 0.0f;
    for (int j = l; j < K; j += n) {
        float y = z[j] * inv * w[j];
        z[j] = y;
        m = fmax(m, fabs(y));
    }
    return 127.0f / fmax(wg_max_f(m, (__local float*) scratch, n), 1e-5f);
}

// NQ_HELD: the most elements of a row a work-item of the row kernels holds in registers (norm_quant_held in
// rms_norm_quant_f32_i8.cl, swiglu_held in swiglu_norm_quant_f32_i8.cl); longer rows take their loops.
#ifndef NQ_HELD
#define NQ_HELD 8
#endif

// norm_and_scale on a row held in registers: work-item l holds v[e] = element l + e * WG (zero past K) and the norm
// weights w[e] alike. Writes RMSNorm_w(v) (eps) to z[0, kPad) (zero past K) and returns the int8 scale; the same
// steps in the same order, so the same bits. Its last reduction's barriers publish z.
inline float held_norm_and_scale(const float* v, const float* w, int K, int kPad, float eps, __local float* z,
                                 __local acc_t* scratch) {
    int l = get_local_id(0);
    acc_t ss = 0;
#pragma unroll
    for (int e = 0; e < NQ_HELD; e++) {
        if (l + e * WG < K) {
            ss += (acc_t) (v[e] * v[e]);
        }
    }
    float inv = norm_inv(wg_sum_acc(ss, scratch, WG), K, eps);
    float m = 0.0f;
#pragma unroll
    for (int e = 0; e < NQ_HELD; e++) {
        int j = l + e * WG;
        if (j < K) {
            float y = v[e] * inv * w[e];
            z[j] = y;
            m = fmax(m, fabs(y));
        }
    }
    for (int j = K + l; j < kPad; j += WG) {
        z[j] = 0.0f;
    }
    return 127.0f / fmax(wg_max_f(m, (__local float*) scratch, WG), 1e-5f);
}

// int8 code of y: clamp(rint(y * scale), -128, 127), half to even as rint rounds. Adding 1.5 * 2^23 to
// a float in [-128, 127] leaves it rounded to an integer (round to nearest even, the default mode) in
// the low bits of the sum: two full-rate float ops, where rint and a float-to-int conversion take
// the conversion pipe, a quarter of the rate on NVIDIA GPUs (a decode phase quantizes 3 x 2560 codes).
inline int quant_code(float y, float scale) {
    return as_int(clamp(y * scale, -128.0f, 127.0f) + 12582912.0f) - 0x4B400000;
}

// Four codes of z[4k .. 4k+3] packed in an int (little-endian bytes); adds their sum to *sum.
inline int quant_word(__local const float* z, int k, float scale, int* sum) {
    int a = quant_code(z[4 * k], scale);
    int b = quant_code(z[4 * k + 1], scale);
    int c = quant_code(z[4 * k + 2], scale);
    int d = quant_code(z[4 * k + 3], scale);
    *sum += a + b + c + d;
    return (a & 0xff) | ((b & 0xff) << 8) | ((c & 0xff) << 16) | ((d & 0xff) << 24);
}

// Codes of z[0, kPad) into global q (kPad / 4 ints); returns the sum of all codes (a reduction).
inline int quantize_global(__local const float* z, int kPad, float scale, __global int* q, __local int* scratch, int n) {
    int sum = 0;
    for (int k = get_local_id(0); k < kPad / 4; k += n) {
        q[k] = quant_word(z, k, scale, &sum);
    }
    return wg_sum_int(sum, scratch, n);
}
