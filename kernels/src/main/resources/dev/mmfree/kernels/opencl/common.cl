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
// row's codes: T.q = sum(u*q) - qsum, so the inner loop is one shift, one mask and one dp4a per 4 weights.

#pragma OPENCL FP_CONTRACT OFF

#define WG (ROWS * SLICES)
#define ROW_TILE 64

inline float sigmoid_f(float x) {
    return 1.0f / (1.0f + exp(-x));
}

inline float silu_f(float x) {
    return x * sigmoid_f(x);
}

// acc + sum over 4 bytes of u (unsigned 0..2) times a (signed int8).
inline int dot4(uint u, int a, int acc) {
#ifdef MMFREE_PTX
    int r;
    asm volatile("dp4a.s32.s32 %0, %1, %2, %3;" : "=r"(r) : "r"(u), "r"(a), "r"(acc));
    return r;
#else
    char4 x = as_char4(u);
    char4 y = as_char4(a);
    return acc + x.s0 * y.s0 + x.s1 * y.s1 + x.s2 * y.s2 + x.s3 * y.s3;
#endif
}

// 16 weights (one word of the device layout) against 16 int8 activations.
inline int word_dot(uint w, int4 a, int acc) {
    acc = dot4(w & 0x03030303u, a.x, acc);
    acc = dot4((w >> 2) & 0x03030303u, a.y, acc);
    acc = dot4((w >> 4) & 0x03030303u, a.z, acc);
    return dot4((w >> 6) & 0x03030303u, a.w, acc);
}

inline int chunk_dot_local(uint4 w, __local const int4* q, int acc) {
    acc = word_dot(w.x, q[0], acc);
    acc = word_dot(w.y, q[1], acc);
    acc = word_dot(w.z, q[2], acc);
    return word_dot(w.w, q[3], acc);
}

inline int chunk_dot_global(uint4 w, __global const int4* q, int acc) {
    acc = word_dot(w.x, q[0], acc);
    acc = word_dot(w.y, q[1], acc);
    acc = word_dot(w.z, q[2], acc);
    return word_dot(w.w, q[3], acc);
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
#endif

// (sum a, sum b, max m) over the work-group (n work-items, a power of two); scratch: [3 * n] floats.
// Every work-item must call it; it ends with a barrier, so scratch is free again afterwards.
inline float3 wg_sum_sum_max(float a, float b, float m, __local float* s, int n) {
    int l = get_local_id(0);
#ifdef MMFREE_PTX
    for (int k = 16; k > 0; k >>= 1) {
        a += shfl_xor_f(a, k);
        b += shfl_xor_f(b, k);
        m = fmax(m, shfl_xor_f(m, k));
    }
    if ((l & 31) == 0) {
        s[l >> 5] = a;
        s[32 + (l >> 5)] = b;
        s[64 + (l >> 5)] = m;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    float3 r = (float3)(0.0f, 0.0f, 0.0f);
    for (int w = 0; w < (n >> 5); w++) {
        r.x += s[w];
        r.y += s[32 + w];
        r.z = fmax(r.z, s[64 + w]);
    }
#else
    s[l] = a;
    s[n + l] = b;
    s[2 * n + l] = m;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int k = n >> 1; k > 0; k >>= 1) {
        if (l < k) {
            s[l] += s[l + k];
            s[n + l] += s[n + l + k];
            s[2 * n + l] = fmax(s[2 * n + l], s[2 * n + l + k]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float3 r = (float3)(s[0], s[n], s[2 * n]);
#endif
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

// Sum of v over the work-group (n work-items, a power of two); scratch: [n] ints (viewed as floats' space).
inline int wg_sum_int(int v, __local int* s, int n) {
    int l = get_local_id(0);
#ifdef MMFREE_PTX
    for (int k = 16; k > 0; k >>= 1) {
        v += shfl_xor_i(v, k);
    }
    if ((l & 31) == 0) {
        s[l >> 5] = v;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    int r = 0;
    for (int w = 0; w < (n >> 5); w++) {
        r += s[w];
    }
#else
    s[l] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int k = n >> 1; k > 0; k >>= 1) {
        if (l < k) {
            s[l] += s[l + k];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    int r = s[0];
#endif
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

// The quantizer's step for y = z * c: returns the int8 scale 127 / max(|y|max, 1e-5) where zmax = max|z|.
inline float quant_scale(float zmax, float c) {
    return 127.0f / fmax(zmax * c, 1e-5f);
}

// int8 code of y: clamp(rint(y * scale), -128, 127).
inline int quant_code(float y, float scale) {
    return (int) clamp(rint(y * scale), -128.0f, 127.0f);
}

// Codes of y = z * c for z[0, kPad) (zero past the real length), four per int, by n work-items;
// returns this work-item's share of the codes' sum.
inline int quantize_words(__local const float* z, int words, float c, float scale, __local int* q, int n) {
    int sum = 0;
    for (int k = get_local_id(0); k < words; k += n) {
        int a = quant_code(z[4 * k] * c, scale);
        int b = quant_code(z[4 * k + 1] * c, scale);
        int e = quant_code(z[4 * k + 2] * c, scale);
        int f = quant_code(z[4 * k + 3] * c, scale);
        q[k] = (a & 0xff) | ((b & 0xff) << 8) | ((e & 0xff) << 16) | ((f & 0xff) << 24);
        sum += a + b + e + f;
    }
    return sum;
}

// The GEMV part of a fused kernel: the work-group's ROWS rows of the stacked matrix against the
// quantized row in local memory; y[p * out + r] (+)= ws * (T.q) with ws = weight scale * a/127.
// part: [WG] ints of scratch.
inline void ternary_gemv_rows(__global const uint4* w, int rowsPad, int chunks, int out, int outPad,
                              __local const int4* q, int qsum, float ws, __local int* part,
                              __global float* y, int accumulate) {
    int l = get_local_id(0);
    int lane = l % ROWS;
    int slice = l / ROWS;
    int row0 = get_group_id(0) * ROWS;
    int p = row0 / outPad;
    int rowStacked = row0 + lane;
    int acc = 0;
    for (int c = slice; c < chunks; c += SLICES) {
        acc = chunk_dot_local(w[(size_t) c * rowsPad + rowStacked], q + 4 * c, acc);
    }
    part[l] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (l < ROWS) {
        int r = rowStacked - p * outPad;
        if (r < out) {
            int dot = -qsum;
            for (int s = 0; s < SLICES; s++) {
                dot += part[s * ROWS + l];
            }
            float v = (float) dot * ws;
            size_t at = (size_t) p * out + r;
            y[at] = accumulate ? y[at] + v : v;
        }
    }
}
