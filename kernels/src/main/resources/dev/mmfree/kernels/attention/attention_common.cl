// attention_common.cl (after opencl/half8.cl): causal grouped-query attention of query rows over a KV cache, as functions: the
// kernels of attention.cl (one split or one merge a work-group) and the Transformer++ decode layer
// (gemv/decode_layer_dense.cl, which runs them between its grid barriers) call them.
//   out[r, h] = sum_p softmax_p(scale * q[r, h] . K[seq, p, h / G]) V[seq, p, h / G],  p <= pos0 + r % tps
// q: [rows, H*HD] f32, already rotated; kc, vc: [b, cap, KV*HD]; row r is sequence r / tps at position
// pos0 + r % tps.
//
// Flash-decoding: split s of S takes the G query heads of kv head kvh for row r over the s-th of S equal
// shares of the positions. It walks its share in blocks of CH positions held in local memory with an online
// softmax (running max and sum), so local memory does not grow with the context. One work-item per position
// scores it against all G heads (each key read once for the group). In the value pass a position is read by
// several work-items at once, each for its part of the row.
// Two forms of the loads, chosen at build time:
//   ATTN_VEC 1 (the default when HD % 8 == 0): keys and values as words of 8 elements, 16 bytes in half (on
//     NVIDIA one ld.global.v4 and eight cvt each, opencl/half8.cl: its OpenCL turns vload_half8 into eight
//     2-byte loads). The value pass gives a position HD / 8 work-items, one word each, so AWG / (HD / 8)
//     positions are read at once; the slices' sums are folded through local memory a word element at a time.
//   ATTN_VEC 0 (HD % 8 != 0, or -DATTN_VEC=0 for A/B): one element a load; work-item l takes dimension l % HD
//     of positions l / HD, + AWG / HD, ... in the value pass.
// S == 1 writes out [rows, H*HD]; otherwise part [rows, H, S, HD + 2] (sum, max, denominator), which
// attention_merge folds into out.
//
// Defines: HD head dim, G query heads per kv head, AWG work-group size (>= HD, a power of two),
//   CH positions per block, KV_F16 cache in half (else float), MMFREE_PTX NVIDIA's inline PTX, ATTN_FRESH the
//   one-launch layer's fresh position. A/B switches, each 1 by default where it applies: ATTN_VEC, FRESH_CG,
//   ATTN_SHFL, ATTN_FRESH_STEP (each described where it is used).

#define NSL (AWG / HD)

#ifndef ATTN_VEC
#if HD % 8 == 0
#define ATTN_VEC 1
#else
#define ATTN_VEC 0
#endif
#endif
#if ATTN_VEC && HD % 8 != 0
#error "ATTN_VEC needs a head dim that is a multiple of 8"
#endif

// Loads of what another work-group of the same launch wrote before a grid barrier (the one-launch layer's key
// and value at the fresh position, its query, the splits' partial sums): from L2, past the L1 that is not
// coherent across compute units. With PTX (and FRESH_CG, the default) each is an ld.global.cg, as opencl/grid.cl
// reads the layer's inputs; the "memory" clobber keeps it after the barrier. Through a volatile pointer,
// NVIDIA's compiler issued them one after the other, each waiting for the last: the fresh key alone, 128 halves
// and a branch on each, kept a work-group ~30 us on the H200 whatever the context
// (bench/results/nvidia-h200/2026-11-29/fresh-loads). -DFRESH_CG=0: the volatile loads, for A/B.
#ifndef FRESH_CG
#define FRESH_CG 1
#endif
#if defined(MMFREE_PTX) && FRESH_CG
#define ATTN_CG 1
#endif

inline float coherent_f32(volatile __global const float* p, size_t i) {
#ifdef ATTN_CG
    float r;
    asm volatile("ld.global.cg.f32 %0, [%1];" : "=f"(r) : "l"(p + i) : "memory");
    return r;
#else
    return p[i];
#endif
}

#ifdef KV_F16
#define LOAD_KV(i, p) vload_half((i), (p))
// A half that another work-group of the same launch stored. Without PTX its bits come through a volatile load
// and are widened by hand (vload_half takes no volatile pointer).
inline float load_kv_fresh(int i, __global const kvtype* p) {
#ifdef ATTN_CG
    float r;
    asm volatile("{ .reg .b16 h;\n ld.global.cg.b16 h, [%1];\n cvt.f32.f16 %0, h;\n }" : "=f"(r) : "l"(p + i) : "memory");
    return r;
#else
    uint h = ((volatile __global const ushort*) p)[i];
    uint sign = (h & 0x8000u) << 16;
    uint e = (h >> 10) & 0x1fu;
    uint m = h & 0x3ffu;
    if (e == 0) {
        return as_float(as_uint((float) m * 5.9604644775390625e-8f) | sign);   // zero or subnormal: m * 2^-24
    }
    if (e == 31) {
        return as_float(sign | 0x7f800000u | (m << 13));
    }
    return as_float(sign | ((e + 112u) << 23) | (m << 13));
#endif
}
#else
#define LOAD_KV(i, p) ((p)[i])
inline float load_kv_fresh(int i, __global const kvtype* p) {
    return coherent_f32((volatile __global const float*) p, i);
}
#endif

#if ATTN_VEC
#define DV (HD / 8)      // words of 8 elements a row
#define NSV (AWG / DV)   // value-pass slices: positions read at once
#ifndef ATTN_VU
#define ATTN_VU 8        // positions a value-pass work-item loads before it adds them up (4: 2.5% slower at 370M)
#endif
typedef float8 accv;

#if defined(KV_F16) && defined(MMFREE_PTX)
inline float8 kv_load8(int i, __global const kvtype* p) {
    return load_half8_ptx(i, p);
}
#elif defined(KV_F16)
inline float8 kv_load8(int i, __global const kvtype* p) {
    return vload_half8(i, p);
}
#else
inline float8 kv_load8(int i, __global const kvtype* p) {
    __global const float4* v = (__global const float4*) p;
    return (float8)(v[2 * i], v[2 * i + 1]);
}
#endif

// Word i of a row that another work-group of this launch wrote: one 16-byte ld.global.cg with PTX, else
// load_kv_fresh element by element.
inline float8 kv_word_fresh(int i, __global const kvtype* p) {
#if defined(ATTN_CG) && defined(KV_F16)
    uint a, b, c, d;
    asm volatile("ld.global.cg.v4.u32 {%0,%1,%2,%3}, [%4];" : "=r"(a), "=r"(b), "=r"(c), "=r"(d) : "l"(p + 8 * i) : "memory");
    return (float8)(half2_ptx(a), half2_ptx(b), half2_ptx(c), half2_ptx(d));
#elif defined(ATTN_CG)
    float a0, a1, a2, a3, b0, b1, b2, b3;
    asm volatile("ld.global.cg.v4.f32 {%0,%1,%2,%3}, [%4];" : "=f"(a0), "=f"(a1), "=f"(a2), "=f"(a3) : "l"(p + 8 * i) : "memory");
    asm volatile("ld.global.cg.v4.f32 {%0,%1,%2,%3}, [%4];" : "=f"(b0), "=f"(b1), "=f"(b2), "=f"(b3) : "l"(p + 8 * i + 4) : "memory");
    return (float8)(a0, a1, a2, a3, b0, b1, b2, b3);
#else
    int e = 8 * i;
    return (float8)(load_kv_fresh(e, p), load_kv_fresh(e + 1, p), load_kv_fresh(e + 2, p), load_kv_fresh(e + 3, p),
                    load_kv_fresh(e + 4, p), load_kv_fresh(e + 5, p), load_kv_fresh(e + 6, p), load_kv_fresh(e + 7, p));
#endif
}

// Word i of a row: coherent (written by another work-group of this launch) through kv_word_fresh, else kv_load8.
// coherent is a constant at every call, so each call compiles to one of the two.
inline float8 kv_word(const int coherent, int i, __global const kvtype* p) {
    if (coherent) {
        return kv_word_fresh(i, p);
    }
    return kv_load8(i, p);
}

inline float f8_at(float8 v, int c) {
    switch (c) {
        case 0: return v.s0;
        case 1: return v.s1;
        case 2: return v.s2;
        case 3: return v.s3;
        case 4: return v.s4;
        case 5: return v.s5;
        case 6: return v.s6;
        default: return v.s7;
    }
}
#else
typedef float accv;
#endif

// v[g] = its max (useMax) or sum over the work-group, for every g, in every work-item. With PTX (ATTN_SHFL, the
// default there) each warp reduces by shuffles and one barrier passes the AWG / 32 warp results through red;
// else a tree in red [G * AWG] with a barrier a level (9 for 512 items). red is free again only after the
// caller's next barrier.
#if !defined(ATTN_SHFL) && defined(MMFREE_PTX)
#define ATTN_SHFL 1
#endif
#if ATTN_SHFL && AWG < 32
#error "ATTN_SHFL needs work-groups of whole warps"
#endif
inline void heads_reduce(float* v, __local float* red, int l, const int useMax) {
#if ATTN_SHFL
    for (int g = 0; g < G; g++) {
        float x = v[g];
        for (int msk = 16; msk > 0; msk >>= 1) {
            float y = dense_shfl_xor(x, msk);
            x = useMax ? fmax(x, y) : x + y;
        }
        if ((l & 31) == 0) {
            red[g * (AWG / 32) + (l >> 5)] = x;
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int g = 0; g < G; g++) {
        float t = red[g * (AWG / 32)];
        for (int w = 1; w < AWG / 32; w++) {
            float y = red[g * (AWG / 32) + w];
            t = useMax ? fmax(t, y) : t + y;
        }
        v[g] = t;
    }
#else
    for (int g = 0; g < G; g++) {
        red[g * AWG + l] = v[g];
    }
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
    for (int g = 0; g < G; g++) {
        v[g] = red[g * AWG];
    }
#endif
}

// One block of len positions from b0 (len <= 0: none, the same barriers) into the running max m, denominator
// sum and weighted values acc (dimension l % HD) of the G heads. coherent: the keys and values through
// load_kv_fresh (written by another work-group of this launch), else LOAD_KV. Ends with a barrier.
inline void attention_block(const int coherent, int b0, int len, __global const kvtype* kb, __global const kvtype* vb,
                            size_t stride, float scale, __local const float* qs, __local float* sc, __local float* red,
                            float* m, float* sum, accv* acc) {
    int l = get_local_id(0);
    float bm[G];
    for (int g = 0; g < G; g++) {
        bm[g] = -INFINITY;
    }
    for (int p = l; p < len; p += AWG) {
        __global const kvtype* kr = kb + (size_t) (b0 + p) * stride;
        float score[G];
        for (int g = 0; g < G; g++) {
            score[g] = 0.0f;
        }
#if ATTN_VEC
        for (int i = 0; i < DV; i++) {
            float8 k = kv_word(coherent, i, kr);
            for (int g = 0; g < G; g++) {
                float8 qv = vload8(i, qs + g * HD);
                score[g] += dot(qv.lo, k.lo) + dot(qv.hi, k.hi);
            }
        }
#else
        for (int i = 0; i < HD; i++) {
            float kv = coherent ? load_kv_fresh(i, kr) : LOAD_KV(i, kr);
            for (int g = 0; g < G; g++) {
                score[g] = fma(qs[g * HD + i], kv, score[g]);
            }
        }
#endif
        for (int g = 0; g < G; g++) {
            float v = score[g] * scale;
            sc[g * CH + p] = v;
            bm[g] = fmax(bm[g], v);
        }
    }
    heads_reduce(bm, red, l, 1);
    float mNew[G];
    float corr[G];
    for (int g = 0; g < G; g++) {
        mNew[g] = fmax(m[g], bm[g]);
        corr[g] = m[g] == mNew[g] ? 1.0f : exp(m[g] - mNew[g]);   // both -inf while nothing was seen
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
    heads_reduce(bs, red, l, 0);
    for (int g = 0; g < G; g++) {
        sum[g] = sum[g] * corr[g] + bs[g];
        m[g] = mNew[g];
        acc[g] *= corr[g];
    }
#if ATTN_VEC
    int dv = l % DV;
    int vs = l / DV;
    if (vs < NSV) {
        int p = vs;
        for (; p + (ATTN_VU - 1) * NSV < len; p += ATTN_VU * NSV) {   // ATTN_VU words in flight
            float8 v[ATTN_VU];
#pragma unroll
            for (int u = 0; u < ATTN_VU; u++) {
                v[u] = kv_word(coherent, dv, vb + (size_t) (b0 + p + u * NSV) * stride);
            }
#pragma unroll
            for (int u = 0; u < ATTN_VU; u++) {
                for (int g = 0; g < G; g++) {
                    acc[g] = fma((float8)(sc[g * CH + p + u * NSV]), v[u], acc[g]);
                }
            }
        }
        if (p < len) {
            // the rest, fewer than ATTN_VU positions, also loaded all at once (those past the end load nothing and
            // weigh 0): one memory round trip, where one a position made a Transformer++ token 1.4% slower at 370M
            // and 4.4% at 2.7B (a block of 128 positions is 4 a slice). Guarding every round instead slowed the
            // long contexts (370M, b 64, ctx 8192: 56% of the copy against 72-80%).
            float8 v[ATTN_VU];
#pragma unroll
            for (int u = 0; u < ATTN_VU; u++) {
                int pu = p + u * NSV;
                v[u] = pu < len ? kv_word(coherent, dv, vb + (size_t) (b0 + pu) * stride) : (float8) 0.0f;
            }
#pragma unroll
            for (int u = 0; u < ATTN_VU; u++) {
                int pu = p + u * NSV;
                for (int g = 0; g < G; g++) {
                    acc[g] = fma((float8)(pu < len ? sc[g * CH + pu] : 0.0f), v[u], acc[g]);
                }
            }
        }
    }
#else
    int d = l % HD;
    int slice = l / HD;
    if (slice < NSL) {
        for (int p = slice; p < len; p += NSL) {
            __global const kvtype* vr = vb + (size_t) (b0 + p) * stride;
            float v = coherent ? load_kv_fresh(d, vr) : LOAD_KV(d, vr);
            for (int g = 0; g < G; g++) {
                acc[g] = fma(sc[g * CH + p], v, acc[g]);
            }
        }
    }
#endif
    barrier(CLK_LOCAL_MEM_FENCE);
}

#if ATTN_VEC && !defined(ATTN_FRESH_STEP)
#define ATTN_FRESH_STEP 1
#endif
#if ATTN_VEC && ATTN_FRESH_STEP
// The one position `fresh` (here: this split holds it) into m, sum and acc, as attention_block would fold a
// block of it, in the same float steps, but with two barriers where a block takes a dozen, and one memory round
// trip where a block takes three: work-items 0 .. DV - 1 (value slice 0) load its key and value words together,
// each scores its word against the G heads into red, and after a barrier every work-item sums the DV parts in
// order (the block's order) and updates its running max, sum and acc. -DATTN_FRESH_STEP=0: a block of one
// position instead, 4% slower a Transformer++ token at 370M and 2.7% at 2.7B on the H200. Ends with a barrier.
inline void attention_fresh(int here, __global const kvtype* kr, __global const kvtype* vr, float scale,
                            __local const float* qs, __local float* red, float* m, float* sum, accv* acc) {
    int l = get_local_id(0);
    float8 v = (float8) 0.0f;
    if (here && l < DV) {
        float8 k = kv_word_fresh(l, kr);
        v = kv_word_fresh(l, vr);
        for (int g = 0; g < G; g++) {
            float8 qv = vload8(l, qs + g * HD);
            red[g * DV + l] = dot(qv.lo, k.lo) + dot(qv.hi, k.hi);
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (here) {
        for (int g = 0; g < G; g++) {
            float score = 0.0f;
            for (int j = 0; j < DV; j++) {
                score += red[g * DV + j];
            }
            score *= scale;
            float mNew = fmax(m[g], score);
            float corr = m[g] == mNew ? 1.0f : exp(m[g] - mNew);
            float e = exp(score - mNew);
            sum[g] = sum[g] * corr + e;
            m[g] = mNew;
            acc[g] = fma((float8)(e), v, acc[g] * corr);   // v is 0 past slice 0
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
}
#endif

// Split s of S for kv head kvh and row r, by the AWG work-items of one work-group (l = get_local_id(0)); with
// active 0 the same barriers and nothing read or written (a work-group without a task in that round).
// q is read by coherent_f32. With ATTN_FRESH (the one-launch layer, whose qkv phase wrote q and the cache at
// position `fresh`, the last of the context) that position comes apart, read by kv_word_fresh in attention_fresh
// (or by load_kv_fresh as a block of its own where HD % 8 != 0); the other blocks, and every block without ATTN_FRESH, read the cache by plain loads (a branch
// between the two in the key loop made the standalone kernel 1.4x slower a token on the H200: it no longer
// unrolled that loop). The block loop runs at least once (an empty share: once with no positions), so that no
// barrier sits behind a condition (see gemv/decode_layer_dense.cl on PoCL).
// Local: qs [G * HD], sc [G * CH], red [G * AWG] floats. Ends with a barrier.
inline void attention_split(volatile __global const float* q, __global const kvtype* kc, __global const kvtype* vc,
                            int pos0, int tps, int kvHeads, int cap, float scale, __global float* out,
                            __global float* part, int s, int S, int kvh, int r, int fresh, int active,
                            __local float* qs, __local float* sc, __local float* red) {
    int l = get_local_id(0);
    int seq = r / tps;
    int n = pos0 + (r - seq * tps) + 1;
    int share = (pos0 + tps + S - 1) / S;
    int start = s * share;
    int end = active ? min(start + share, n) : start;
    int heads = kvHeads * G;
    size_t stride = (size_t) kvHeads * HD;
    __global const kvtype* kb = kc + (size_t) seq * cap * stride + kvh * HD;
    __global const kvtype* vb = vc + (size_t) seq * cap * stride + kvh * HD;

    for (int e = l; active && e < G * HD; e += AWG) {
        qs[e] = coherent_f32(q, (size_t) r * heads * HD + kvh * G * HD + e);
    }
    barrier(CLK_LOCAL_MEM_FENCE);

    float m[G];
    float sum[G];
    accv acc[G];
    for (int g = 0; g < G; g++) {
        m[g] = -INFINITY;
        sum[g] = 0.0f;
        acc[g] = (accv) 0.0f;
    }
#ifdef ATTN_FRESH
    int mainEnd = min(end, max(start, fresh));   // the fresh position, the last of the context, comes apart
#else
    int mainEnd = end;
#endif
    int b0 = start;
    do {   // len <= 0 for an empty share
        attention_block(0, b0, min(CH, mainEnd - b0), kb, vb, stride, scale, qs, sc, red, m, sum, acc);
        b0 += CH;
    } while (b0 < mainEnd);
#if defined(ATTN_FRESH) && ATTN_VEC && ATTN_FRESH_STEP
    attention_fresh(fresh >= start && fresh < end, kb + (size_t) fresh * stride, vb + (size_t) fresh * stride, scale,
                    qs, red, m, sum, acc);
#elif defined(ATTN_FRESH)
    attention_block(1, fresh, fresh >= start && fresh < end ? 1 : 0, kb, vb, stride, scale, qs, sc, red, m, sum, acc);
#endif

    if (l == 0) {
        for (int g = 0; g < G; g++) {
            sc[g] = m[g];
            sc[G + g] = sum[g];
        }
    }
#if ATTN_VEC
    // qs[g HD + e] = the sum over the slices of element e of head g, one element of the words at a time
    int dv = l % DV;
    int vs = l / DV;
    for (int c = 0; c < 8; c++) {
        if (vs < NSV) {
            for (int g = 0; g < G; g++) {
                red[(g * NSV + vs) * DV + dv] = f8_at(acc[g], c);
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int e = l; e < G * DV; e += AWG) {
            int g = e / DV;
            int w = e - g * DV;
            float a = 0.0f;
            for (int j = 0; j < NSV; j++) {
                a += red[(g * NSV + j) * DV + w];
            }
            qs[g * HD + 8 * w + c] = a;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
#else
    int d = l % HD;
    int slice = l / HD;
    if (slice < NSL) {
        for (int g = 0; g < G; g++) {
            red[(slice * G + g) * HD + d] = acc[g];
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
#endif
    for (int e = l; active && e < G * HD; e += AWG) {
        int g = e / HD;
        int dd = e - g * HD;
#if ATTN_VEC
        float a = qs[e];
#else
        float a = 0.0f;
        for (int j = 0; j < NSL; j++) {
            a += red[(j * G + g) * HD + dd];
        }
#endif
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
    barrier(CLK_LOCAL_MEM_FENCE);
}

// Element d of head h of row r from the S splits of part [rows, H, S, HD + 2]: sum_s w_s acc_s[d] / sum_s w_s den_s,
// w_s = exp(max_s - max). part is read by coherent_f32 (other work-groups of a launch may have written it).
inline float attention_merge(volatile __global const float* part, int S, int heads, int r, int h, int d) {
    size_t at = ((size_t) r * heads + h) * S * (HD + 2);
    float mx = -INFINITY;
    for (int s = 0; s < S; s++) {
        mx = fmax(mx, coherent_f32(part, at + s * (HD + 2) + HD));
    }
    float den = 0.0f;
    float a = 0.0f;
    for (int s = 0; s < S; s++) {
        size_t ps = at + s * (HD + 2);
        float w = exp(coherent_f32(part, ps + HD) - mx);
        den = fma(w, coherent_f32(part, ps + HD + 1), den);
        a = fma(w, coherent_f32(part, ps + d), a);
    }
    return a / den;
}
