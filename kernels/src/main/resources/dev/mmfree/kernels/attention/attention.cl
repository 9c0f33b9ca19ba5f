// attention.cl: the attention kernels over a KV cache (decode: one row per sequence; prefill: t rows per
// sequence), after attention_common.cl (the math, its layouts and defines), and the cache's growth copy.
// meta: [pos0, tps, rows, S] (see gemv dense_common.cl).
//
// attention_*: group (s, kvh, r) computes split s of S = get_num_groups(0) for kv head kvh and row r, so a long
// context spreads over many groups even at batch 1. Launch: global = (S * AWG, KV, rows), local = (AWG, 1, 1).
// Defines besides attention_common.cl's: KSUF f16 | f32 (kernel-name suffix).

#define CAT_(a, b) a##_##b##_f32
#define CAT(a, b) CAT_(a, b)
#define KNAME(base) CAT(base, KSUF)

__kernel void KNAME(attention)(__global const float* q, __global const kvtype* kc, __global const kvtype* vc,
                               __global const int* meta, const int kvHeads, const int cap, const float scale,
                               __global float* out, __global float* part) {
    __local float qs[G * HD];
    __local float sc[G * CH];
    __local float red[G * AWG];
    attention_split(q, kc, vc, meta[0], meta[1], kvHeads, cap, scale, out, part, get_group_id(0), get_num_groups(0),
                    get_group_id(1), get_group_id(2), -1, 1, qs, sc, red);
}

// attention_combine_f32: out[r, h, d] = sum_s w_s acc_s[d] / sum_s w_s den_s, w_s = exp(max_s - max), over
// the S = meta[3] splits of part [rows, H, S, HD + 2]. Launch: global = (roundUp(HD, 32), H, rows), local = (32, 1, 1).
__kernel void attention_combine_f32(__global const float* part, __global const int* meta, const int heads,
                                    __global float* out) {
    int d = get_global_id(0);
    int h = get_global_id(1);
    int r = get_global_id(2);
    if (d < HD) {
        out[(size_t) r * heads * HD + h * HD + d] = attention_merge(part, meta[3], heads, r, h, d);
    }
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
