// decode_layer_dense_<w>_f32: a whole Transformer++ layer of one batch-1 decode step in one launch, after
// dense_common.cl, attention/attention_common.cl and opencl/grid.cl. Its phases are those of the five
// launches a layer (gemv.cl, attention.cl), separated by grid barriers:
//   x -> [RMSNorm, qkv, RoPE] -> q; k, v -> cache at pos0 | [attention, S splits] -> attn (S = 1) or part
//     | [merge of the splits when S > 1, o_proj, x +=] | [RMSNorm, gate|up, SwiGLU] -> act | [down_proj, x +=]
// A GEMV phase stages its input in local memory in every work-group (normalized there when the phase
// norms it), then each work-group takes a contiguous range of about n / G rows (an even count, so the
// paired epilogues keep their pairs) in passes of WG / lanes rows. The attention phase hands its S * KV
// (split, kv head) tasks to work-groups in turn; every work-group merges the splits as it stages o_proj's input.
// The work-groups left without a task could fetch the next phases' weights into L2 meanwhile: measured on the
// H200 and not kept (prefetch.global.L2 of 16-48 MiB made the attention slower than the GEMVs gained, 4% a token
// at 370M, bench/results/nvidia-h200/2026-11-29/fresh-loads).
// Every loop that holds a barrier is a do-while that runs at least once, and no barrier sits under a condition:
// PoCL replicates the rest of the kernel behind each loop that may not run, and built this kernel in 79 s
// with for loops against 4.5 s with do-whiles (2 cores).
// Everything a phase reads that another work-group wrote in this launch is read coherently: inputs by
// load4_coherent, the residual stream by volatile loads, q and the splits through volatile pointers, the key
// and value at pos0 by load_kv_fresh.
//
// meta: [pos0, tps = 1, rows = 1, S]. Weights as dense_common.cl lays them out: qkv [(H + 2 KV) hd, kPad(d)]
// with the rotary pair order, o [d, kPad(H hd)], gate|up [2I, kPad(d)] interleaved, down [d, kPad(I)].
// Defines besides those of the sources above: GEMV_WG the work-group (= AWG); LPR_QKV, LPR_O, LPR_GU,
// LPR_DOWN the lanes per row of each GEMV (powers of two <= 32); DEEP_QKV, DEEP_O, DEEP_GU, DEEP_DOWN 1 where that
// GEMV loads eight words a lane at once (see LAYER_DEEP).
// Launch: global = G * GEMV_WG, local = GEMV_WG, G <= compute units (one work-group each, see grid.cl).
// Local: lm, max(kPad(max(d, H hd, I)) + GEMV_WG, G * (HD + CH + AWG)) floats.

// MMFREE_TRACE: a diagnostic build (DenseLayerOpenCl.Op#trace). Work-item 0 of each work-group stamps the marks
// of DTRACE(m): trace[(group * DENSE_MARKS + m) * 2] = %globaltimer (ns, one clock for all SMs), [+ 1] =
// %clock64 (cycles of its SM); zeros without inline PTX. Marks: 0 entry, 1 input normed, 2 qkv done, 3 past the
// barrier, 4 attention done, 5 past the barrier, 6 o_proj's input staged (the splits merged), 7 o_proj done,
// 8 past the barrier, 9 post-attention norm, 10 gate|up done, 11 past the barrier, 12 act staged, 13 down_proj done.
#ifdef MMFREE_TRACE
#define DENSE_MARKS 14
#define DTRACE_KPARAM , __global ulong* trace
#define DTRACE(m) dense_trace(trace, m)
inline void dense_trace(__global ulong* trace, int m) {
    if (get_local_id(0) == 0) {
        size_t at = ((size_t) get_group_id(0) * DENSE_MARKS + m) * 2;
        trace[at] = clock_ns();
        trace[at + 1] = clock_cycles();
    }
}
#else
#define DTRACE_KPARAM
#define DTRACE(m)
#endif

// The sum of v over the work-group, returned to every work-item. red: GEMV_WG floats. Ends with a barrier.
inline float layer_sum(float v, __local float* red) {
    int l = get_local_id(0);
#ifdef MMFREE_PTX
    for (int m = 16; m > 0; m >>= 1) {
        v += dense_shfl_xor(v, m);
    }
    if ((l & 31) == 0) {
        red[l >> 5] = v;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    float t = 0.0f;
    for (int w = 0; w < GEMV_WG / 32; w++) {
        t += red[w];
    }
#else
    red[l] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = GEMV_WG / 2; s > 0; s >>= 1) {
        if (l < s) {
            red[l] += red[l + s];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float t = red[0];
#endif
    barrier(CLK_LOCAL_MEM_FENCE);
    return t;
}

// xs[0, kPad) = x[0, k) and zeros, times 1 / rms(x) * nw when norm. Ends with a barrier.
inline void layer_stage(const int norm, volatile __global const float* x, int k, int kPad, __global const float* nw,
                        float eps, __local float* xs, __local float* red) {
    int l = get_local_id(0);
    float ss = 0.0f;
    for (int u = l; 4 * u < kPad; u += GEMV_WG) {
        float4 v = load4_coherent(x, u, k);
        vstore4(v, u, xs);
        ss = fma(v.x, v.x, fma(v.y, v.y, fma(v.z, v.z, fma(v.w, v.w, ss))));
    }
    if (norm) {
        float inv = rms_inv(layer_sum(ss, red), k, eps);
        for (int i = l; i < k; i += GEMV_WG) {
            xs[i] = xs[i] * inv * nw[i];
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
}

// xs[0, kPad) = the attention's output [H hd] and zeros: attn itself when S == 1, else the merge of its S
// splits in part (every work-group merges all of them, which saves the grid barrier a merge phase would need).
// The merge takes attention_merge's float steps in its order, but its loads in two rounds for the whole vector,
// where attention_merge, an element at a time, costs two memory round trips an element: first each split's
// maximum and denominator (heads S pairs, into red), from which every pair takes its head's maximum and
// denominator and its own weight; then the splits' sums, two splits of four elements a work-item at once.
// That needs 3 heads S + heads floats of red; where they do not fit (many splits), or with -DMERGE_LOCAL=0
// (for A/B), attention_merge. Ends with a barrier.
#ifndef MERGE_LOCAL
#define MERGE_LOCAL 1
#endif
inline void layer_stage_attention(volatile __global const float* attn, volatile __global const float* part, int S,
                                  int heads, int kPad, __local float* xs, __local float* red) {
    int l = get_local_id(0);
    int qw = heads * HD;
    int pairs = heads * S;
    int inLocal = MERGE_LOCAL && S > 1 && 3 * pairs + heads <= GEMV_WG;
    __local float* wm = red;                 // [pairs] a split's max
    __local float* wd = red + pairs;         // [pairs] its denominator
    __local float* ww = red + 2 * pairs;     // [pairs] its weight, exp(max_s - the head's max)
    __local float* hd = red + 3 * pairs;     // [heads] a head's denominator, sum_s w_s den_s
    for (int t = l; inLocal && t < pairs; t += GEMV_WG) {
        size_t at = (size_t) t * (HD + 2) + HD;   // split t % S of head t / S, row 0
        wm[t] = coherent_f32(part, at);
        wd[t] = coherent_f32(part, at + 1);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int t = l; inLocal && t < pairs; t += GEMV_WG) {
        int h0 = t / S * S;
        float mx = -INFINITY;
        for (int j = 0; j < S; j++) {
            mx = fmax(mx, wm[h0 + j]);
        }
        ww[t] = exp(wm[t] - mx);
        if (t == h0) {
            float den = 0.0f;
            for (int j = 0; j < S; j++) {
                den = fma(exp(wm[h0 + j] - mx), wd[h0 + j], den);
            }
            hd[t / S] = den;
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (S == 1) {
        for (int u = l; 4 * u < kPad; u += GEMV_WG) {
            vstore4(load4_coherent(attn, u, qw), u, xs);
        }
    } else if (inLocal) {
        for (int e0 = l; e0 < kPad; e0 += 4 * GEMV_WG) {
            float a[4] = {0.0f, 0.0f, 0.0f, 0.0f};
            for (int j = 0; j < S; j += 2) {
                float v[2][4];
#pragma unroll
                for (int k = 0; k < 2; k++) {   // eight loads issued before the first is used
#pragma unroll
                    for (int u = 0; u < 4; u++) {
                        int e = e0 + u * GEMV_WG;
                        int h = min(e, qw - 1) / HD;
                        v[k][u] = e < qw && j + k < S
                                ? coherent_f32(part, ((size_t) h * S + j + k) * (HD + 2) + (e - h * HD)) : 0.0f;
                    }
                }
                for (int k = 0; k < 2 && j + k < S; k++) {
                    for (int u = 0; u < 4; u++) {
                        int h = min(e0 + u * GEMV_WG, qw - 1) / HD;
                        a[u] = fma(ww[h * S + j + k], v[k][u], a[u]);
                    }
                }
            }
            for (int u = 0; u < 4; u++) {
                int e = e0 + u * GEMV_WG;
                if (e < kPad) {
                    xs[e] = e < qw ? a[u] / hd[e / HD] : 0.0f;
                }
            }
        }
    } else {
        for (int e = l; e < kPad; e += GEMV_WG) {
            int h = e / HD;
            xs[e] = e < qw ? attention_merge(part, S, heads, 0, h, e - h * HD) : 0.0f;
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
}

// LAYER_DEEP (A/B, MMFREE_OPENCL_BUILD_OPTIONS): 1 (default) eight words in flight a lane in the GEMVs the host
// marks deep (DEEP_QKV, DEEP_O, DEEP_GU, DEEP_DOWN; DenseLayerOpenCl.deep: those whose rows take a work-group two
// passes or more, with two rounds of eight words or more a lane), 0 four words in every GEMV, 2 eight words in every
// GEMV.
#ifndef LAYER_DEEP
#define LAYER_DEEP 1
#endif
#if LAYER_DEEP == 2
#define PHASE_DEEP(host) 1
#elif LAYER_DEEP == 1
#define PHASE_DEEP(host) (host)
#else
#define PHASE_DEEP(host) 0
#endif
// LAYER_LPR_OD (A/B, MMFREE_OPENCL_BUILD_OPTIONS): lanes a row for o_proj and down_proj in place of the host's LPR_O
// and LPR_DOWN, any count up to GEMV_WG / 2 (not a power of two: the row sums go through local memory, and a group's
// last GEMV_WG % lanes work-items load nothing).
#ifdef LAYER_LPR_OD
#define LPR_O_USE LAYER_LPR_OD
#define LPR_DOWN_USE LAYER_LPR_OD
#else
#define LPR_O_USE LPR_O
#define LPR_DOWN_USE LPR_DOWN
#endif

// This work-group's rows of y = epilogue(W xs), W [n, kPad], at lpr lanes a row (the host's: a power of two <= 32;
// LAYER_LPR_OD: any count up to GEMV_WG / 2), with the GEMV's own row loop (dense_common.cl: four 16-byte words in
// flight a lane, or eight when deep). Measured on the H200 and not kept (bench/results/nvidia-h200/2026-11-29/
// dense-layer, deep-words): the first words loaded before the input is staged (before or after the grid barrier:
// 2.7B 420-422 tokens/s against 443-444, 1.3B 609 against 660-670; the input's loads then queue behind them),
// guarded loads in one loop, eight words in every GEMV.
inline void layer_gemv(const int epi, const int lpr, const int deep, __global const wtype* w, int n, int kPad,
                       volatile __global float* y, __global float* q, __global const int* meta,
                       __global const float* invFreq, __global kvtype* kc, __global kvtype* vc, rope_dims dm,
                       __local const float* xs, __local float* red, int group, int groups) {
    int l = get_local_id(0);
    int rpg = GEMV_WG / lpr;
    int per = ((n + groups - 1) / groups + 1) & ~1;
    int r0 = min(n, group * per);
    int r1 = min(n, r0 + per);
    int passes = (per + rpg - 1) / rpg;   // the same in every work-group, at least one
    int pass = 0;
    do {
        int row0 = r0 + pass * rpg;
        int row = row0 + l / lpr;
        float acc = row >= r1 || l >= rpg * lpr ? 0.0f
                : dense_lane_dot(lpr, deep, w + (size_t) row * kPad, kPad / 8, xs, l % lpr);
        dense_row_sums(lpr, acc, red);
        dense_rows_epilogue(epi, rpg, row0, r1, n, y, q, meta, invFreq, kc, vc, dm, red);
        barrier(CLK_LOCAL_MEM_FENCE);
    } while (++pass < passes);
}

__kernel __attribute__((reqd_work_group_size(GEMV_WG, 1, 1)))
void KNAME(decode_layer_dense)(volatile __global float* x, __global const int* meta, __global float* q,
                               volatile __global float* attn, volatile __global float* act,
                               volatile __global float* part, __global kvtype* kc, __global kvtype* vc,
                               const int cap, __global const float* invFreq,
                               __global const float* inNorm, __global const wtype* wQkv, __global const wtype* wO,
                               __global const float* postNorm, __global const wtype* wGu,
                               __global const wtype* wDown, const int d, const int I, const int heads,
                               const int kvHeads, const float eps, const float scale,
                               volatile __global int* sync, volatile __global int* error, __local float* lm
                               DTRACE_KPARAM) {
    int group = get_group_id(0);
    int groups = get_num_groups(0);
    int l = get_local_id(0);
    int qw = heads * HD;
    int dPad = (d + 7) & ~7;
    int qwPad = (qw + 7) & ~7;
    int iPad = (I + 7) & ~7;
    __local float* xs = lm;
    __local float* red = lm + max(max(dPad, qwPad), iPad);
    rope_dims dm = {heads, kvHeads, HD / 2, cap};
    int pos0 = meta[0];
    int S = meta[3];

    int qkvRows = (heads + 2 * kvHeads) * HD;
    DTRACE(0);
    layer_stage(1, x, d, dPad, inNorm, eps, xs, red);
    DTRACE(1);
    layer_gemv(E_ROPE_KV, LPR_QKV, PHASE_DEEP(DEEP_QKV), wQkv, qkvRows, dPad, 0, q, meta,
               invFreq, kc, vc, dm, xs, red, group, groups);
    DTRACE(2);
    grid_sync(sync, error);
    DTRACE(3);

    int tasks = S * kvHeads;
    int rounds = (tasks + groups - 1) / groups;
    int round = 0;
    do {
        int t = group + round * groups;
        int kvh = min(t, tasks - 1) / S;
        attention_split(q, kc, vc, pos0, 1, kvHeads, cap, scale, (__global float*) attn, (__global float*) part,
                        min(t, tasks - 1) - kvh * S, S, kvh, 0, pos0, t < tasks, lm, lm + G * HD, lm + G * (HD + CH));
    } while (++round < rounds);
    DTRACE(4);
    grid_sync(sync, error);
    DTRACE(5);

    layer_stage_attention(attn, part, S, heads, qwPad, xs, red);
    DTRACE(6);
    layer_gemv(E_ADD, LPR_O_USE, PHASE_DEEP(DEEP_O), wO, d, qwPad, x, 0, 0, 0, 0, 0, dm, xs, red,
               group, groups);
    DTRACE(7);
    grid_sync(sync, error);
    DTRACE(8);

    layer_stage(1, x, d, dPad, postNorm, eps, xs, red);
    DTRACE(9);
    layer_gemv(E_SWIGLU, LPR_GU, PHASE_DEEP(DEEP_GU), wGu, 2 * I, dPad, act, 0, 0, 0, 0, 0, dm,
               xs, red, group, groups);
    DTRACE(10);
    grid_sync(sync, error);
    DTRACE(11);

    layer_stage(0, act, I, iPad, 0, 0.0f, xs, red);
    DTRACE(12);
    layer_gemv(E_ADD, LPR_DOWN_USE, PHASE_DEEP(DEEP_DOWN), wDown, d, iPad, x, 0, 0, 0, 0, 0, dm,
               xs, red, group, groups);
    DTRACE(13);
}
