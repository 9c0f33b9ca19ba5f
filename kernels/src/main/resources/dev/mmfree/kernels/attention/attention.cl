// attention_*: causal grouped-query attention of the query rows over the KV cache (decode: one row per
// sequence; prefill: t rows per sequence), float32 math over an fp16 (or fp32) cache:
//   out[r, h] = sum_p softmax_p(scale * q[r, h] . K[seq, p, h / G]) V[seq, p, h / G],  p <= pos0 + r % tps
// q: [rows, H*HD] f32, already rotated; kc, vc: [b, cap, KV*HD]; meta: [pos0, tps, rows, S] (see gemv
// dense_common.cl); row r is sequence r / tps at position pos0 + r % tps.
//
// Flash-decoding: group (s, kvh, r) takes the G query heads of kv head kvh for row r, over split s of
// S = get_num_groups(0) equal shares of the positions, so a long context spreads over many groups even
// at batch 1. It walks its share in blocks of CH positions held in local memory with an online softmax
// (running max and sum), so local memory does not grow with the context. One work-item per position
// scores it against all G heads (each key read once for the group); in the value pass work-item l takes
// dimension l % HD of positions l / HD, + AWG / HD, ...
// S == 1 writes out [rows, H*HD]; otherwise part [rows, H, S, HD + 2] (sum, max, denominator) and
// attention_combine_f32 merges the splits. Launch: global = (S * AWG, KV, rows), local = (AWG, 1, 1).
//
// Defines: HD head dim, G query heads per kv head, AWG work-group size (>= HD, a power of two),
//   CH positions per block, KV_F16 cache in half (else float), KSUF f16 | f32 (kernel-name suffix).

#define CAT_(a, b) a##_##b##_f32
#define CAT(a, b) CAT_(a, b)
#define KNAME(base) CAT(base, KSUF)
#define NSL (AWG / HD)

#ifdef KV_F16
typedef half kvtype;
#define LOAD_KV(i, p) vload_half((i), (p))
#else
typedef float kvtype;
#define LOAD_KV(i, p) ((p)[i])
#endif

// Reduces red[g * AWG + l] over l for every g (max or sum); the result is red[g * AWG]. Ends with a barrier.
inline void reduce_heads(__local float* red, int l, int useMax) {
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int st = AWG / 2; st > 0; st >>= 1) {
        if (l < st) {
            for (int g = 0; g < G; g++) {
                float a = red[g * AWG + l];
                float b = red[g * AWG + l + st];
                red[g * AWG + l] = useMax ? fmax(a, b) : a + b;
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

__kernel void KNAME(attention)(__global const float* q, __global const kvtype* kc, __global const kvtype* vc,
                               __global const int* meta, const int kvHeads, const int cap, const float scale,
                               __global float* out, __global float* part) {
    __local float qs[G * HD];
    __local float sc[G * CH];
    __local float red[G * AWG];
    int l = get_local_id(0);
    int S = get_num_groups(0);
    int s = get_group_id(0);
    int kvh = get_group_id(1);
    int r = get_group_id(2);
    int pos0 = meta[0];
    int tps = meta[1];
    int seq = r / tps;
    int n = pos0 + (r - seq * tps) + 1;
    int share = (pos0 + tps + S - 1) / S;
    int start = s * share;
    int end = min(start + share, n);
    int heads = kvHeads * G;
    size_t stride = (size_t) kvHeads * HD;
    __global const kvtype* kb = kc + (size_t) seq * cap * stride + kvh * HD;
    __global const kvtype* vb = vc + (size_t) seq * cap * stride + kvh * HD;

    for (int e = l; e < G * HD; e += AWG) {
        qs[e] = q[(size_t) r * heads * HD + kvh * G * HD + e];
    }
    barrier(CLK_LOCAL_MEM_FENCE);

    int d = l % HD;
    int slice = l / HD;
    float m[G];
    float sum[G];
    float acc[G];
    for (int g = 0; g < G; g++) {
        m[g] = -INFINITY;
        sum[g] = 0.0f;
        acc[g] = 0.0f;
    }
    for (int b0 = start; b0 < end; b0 += CH) {
        int len = min(CH, end - b0);
        float bm[G];
        for (int g = 0; g < G; g++) {
            bm[g] = -INFINITY;
        }
        for (int p = l; p < len; p += AWG) {
            __global const kvtype* kr = kb + (size_t) (b0 + p) * stride;
            float dot[G];
            for (int g = 0; g < G; g++) {
                dot[g] = 0.0f;
            }
            for (int i = 0; i < HD; i++) {
                float kv = LOAD_KV(i, kr);
                for (int g = 0; g < G; g++) {
                    dot[g] = fma(qs[g * HD + i], kv, dot[g]);
                }
            }
            for (int g = 0; g < G; g++) {
                float v = dot[g] * scale;
                sc[g * CH + p] = v;
                bm[g] = fmax(bm[g], v);
            }
        }
        for (int g = 0; g < G; g++) {
            red[g * AWG + l] = bm[g];
        }
        reduce_heads(red, l, 1);
        float mNew[G];
        float corr[G];
        for (int g = 0; g < G; g++) {
            mNew[g] = fmax(m[g], red[g * AWG]);
            corr[g] = exp(m[g] - mNew[g]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        float bs[G];
        for (int g = 0; g < G; g++) {
            bs[g] = 0.0f;
        }
        for (int p = l; p < len; p += AWG) {
            for (int g = 0; g < G; g++) {
                float e = exp(sc[g * CH + p] - mNew[g]);
                sc[g * CH + p] = e;
                bs[g] += e;
            }
        }
        for (int g = 0; g < G; g++) {
            red[g * AWG + l] = bs[g];
        }
        reduce_heads(red, l, 0);
        for (int g = 0; g < G; g++) {
            sum[g] = sum[g] * corr[g] + red[g * AWG];
            m[g] = mNew[g];
            acc[g] *= corr[g];
        }
        if (slice < NSL) {
            for (int p = slice; p < len; p += NSL) {
                float v = LOAD_KV(d, vb + (size_t) (b0 + p) * stride);
                for (int g = 0; g < G; g++) {
                    acc[g] = fma(sc[g * CH + p], v, acc[g]);
                }
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }

    if (slice < NSL) {
        for (int g = 0; g < G; g++) {
            red[(slice * G + g) * HD + d] = acc[g];
        }
    }
    if (l == 0) {
        for (int g = 0; g < G; g++) {
            sc[g] = m[g];
            sc[G + g] = sum[g];
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int e = l; e < G * HD; e += AWG) {
        int g = e / HD;
        int dd = e - g * HD;
        float a = 0.0f;
        for (int j = 0; j < NSL; j++) {
            a += red[(j * G + g) * HD + dd];
        }
        int h = kvh * G + g;
        if (S == 1) {
            out[(size_t) r * heads * HD + h * HD + dd] = a / sc[G + g];
        } else {
            size_t base = (((size_t) r * heads + h) * S + s) * (HD + 2);
            part[base + dd] = a;
            if (dd == 0) {
                part[base + HD] = sc[g];
                part[base + HD + 1] = sc[G + g];
            }
        }
    }
}

// attention_combine_f32: out[r, h, d] = sum_s w_s acc_s[d] / sum_s w_s den_s, w_s = exp(max_s - max), over
// the S = meta[3] splits of part [rows, H, S, HD + 2]. Launch: global = (roundUp(HD, 32), H, rows), local = (32, 1, 1).
__kernel void attention_combine_f32(__global const float* part, __global const int* meta, const int heads,
                                    __global float* out) {
    int d = get_global_id(0);
    int h = get_global_id(1);
    int r = get_global_id(2);
    if (d >= HD) {
        return;
    }
    int S = meta[3];
    __global const float* p = part + ((size_t) r * heads + h) * S * (HD + 2);
    float mx = -INFINITY;
    for (int s = 0; s < S; s++) {
        mx = fmax(mx, p[s * (HD + 2) + HD]);
    }
    float den = 0.0f;
    float a = 0.0f;
    for (int s = 0; s < S; s++) {
        float w = exp(p[s * (HD + 2) + HD] - mx);
        den = fma(w, p[s * (HD + 2) + HD + 1], den);
        a = fma(w, p[s * (HD + 2) + d], a);
    }
    out[(size_t) r * heads * HD + h * HD + d] = a / den;
}

// kv_cache_copy_u32: moves a cache [b, srcCap, W] into a larger one [b, dstCap, W], W = words per
// position (32-bit words, so fp16 and fp32 caches alike); the first `positions` positions of each sequence.
// Launch: global = (roundUp(positions * W, 256), b), local = (256, 1).
__kernel void kv_cache_copy_u32(__global const uint* src, __global uint* dst, const int words, const int srcCap,
                                const int dstCap, const int positions) {
    int i = get_global_id(0);
    int seq = get_global_id(1);
    if (i < positions * words) {
        dst[(size_t) seq * dstCap * words + i] = src[(size_t) seq * srcCap * words + i];
    }
}
