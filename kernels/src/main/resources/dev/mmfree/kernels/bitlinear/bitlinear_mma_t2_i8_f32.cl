// bitlinear_mma_t2_i8_f32: the ternary GEMM of bitlinear_t2_i8_f32 (same arguments, same result, bit
// for bit) on NVIDIA's int8 tensor cores: mma.sync m16n8k32 s8 x s8 -> s32 through inline PTX, so it
// builds only with MMFREE_PTX (host: dev.mmfree.kernels.bitlinear.MmaShape).
//   y[t][p * out + r] (+)= (wscale[p] * factor[p][t]) * (T_p[r] . q[p][t])
//
// Defines: MMA_WARPS warps a work-group along the rows, MMA_MT 16-row tiles a warp, MMA_NT 8-token
// tiles a warp, MMA_KSPLIT warps along the input (the work-group is MMA_WARPS * MMA_KSPLIT warps).
// A work-group takes 16 * MMA_MT * MMA_WARPS stacked weight rows (a divisor of the layout's 64-row
// tile, so one projection) and 8 * MMA_NT tokens; each warp its own rows and all of the tokens, so the
// warps share activations through L1 and each weight word is read once per 8 * MMA_NT tokens. With
// MMA_KSPLIT > 1 the input's chunks are cut into MMA_KSPLIT runs (multiples of 4 chunks), one a warp,
// whose integer sums meet in local memory: more warps in flight for the same rows, which is what a
// narrow GEMM with a long input (down_proj) lacks. Every warp runs the same number of steps (the last
// run's extra ones load nothing), as the emulated path's barriers need. Optional build defines tune
// the pipeline (measured on the H200, bench/results/nvidia-h200/2026-11-28/pipeline/): MMA_AHEAD,
// how many steps ahead the weight words are loaded (2; 1 was 1.4-2.3% slower end to end), and
// MMA_B_WORDS, how many activation words load together (no measurable effect).
//
// Fragments (PTX ISA, mma.m16n8k32 .s8): lane = 4g + t. A register 0 holds row g, k 4t..4t+3 (one
// byte each), register 1 row g + 8 of the same k, registers 2 and 3 the same rows at k 16+4t..16+4t+3.
// B register 0 holds token g at k 4t..4t+3, register 1 at k 16+4t... C: c0, c1 row g, tokens 2t, 2t+1;
// c2, c3 row g + 8. The sum runs over k, so any assignment of real columns to k works as long as A
// and B agree. Here, per 4 chunks (256 columns), lane t takes chunk c + t whole: one uint4 of the
// device layout a row, and the token's 16 activation ints. Step i = 2m + h (m = word, h = 0, 1):
//   A reg 0 = (word m >> 4h) & 0x03030303      columns 16m + 4(2h) + 0..3     = activation int 4m + 2h
//   A reg 2 = (word m >> 4h + 2) & 0x03030303  columns 16m + 4(2h + 1) + 0..3 = activation int 4m + 2h + 1
// so B takes ints 4m + 2h and 4m + 2h + 1: the .xy, then .zw of the m-th int4. A lane past the last
// chunk contributes zeros. The codes are u = T + 1 in {0, 1, 2}: T.q = (u . q) - qsum, as in the
// dp4a kernels.
// Without MMFREE_PTX (PoCL in the tests), each mma step is emulated from the fragment layout above
// through local memory, so the indexing of this kernel is tested everywhere; only NVIDIA runs it fast.
// Launch: global = (rowsPad / (16 MMA_MT MMA_WARPS) * 32 MMA_WARPS MMA_KSPLIT, ceil(rows / (8 MMA_NT))),
// local = (32 MMA_WARPS MMA_KSPLIT, 1).

#ifndef MMA_AHEAD
#define MMA_AHEAD 2     // steps the weight words are loaded ahead: 1 or 2
#endif
#ifndef MMA_B_WORDS     // activation words (of 4 a chunk) loaded together: 1, 2 or 4 (4 x MMA_NT int4 registers)
#if MMA_NT > 4
#define MMA_B_WORDS 1
#else
#define MMA_B_WORDS 4
#endif
#endif
#define MMA_ROWS (16 * MMA_MT)
#define MMA_TOKENS (8 * MMA_NT)

// c += a . b for one m16n8k32 tile (s8 x s8 -> s32).
#ifdef MMFREE_PTX
#define MMA_S8(c, a0, a1, a2, a3, b0, b1)                                                              \
    asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, " \
                 "{%10,%11,%12,%13};"                                                                  \
                 : "=r"(c[0]), "=r"(c[1]), "=r"(c[2]), "=r"(c[3])                                      \
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1),                               \
                   "r"(c[0]), "r"(c[1]), "r"(c[2]), "r"(c[3]))
#define MMA_SCRATCH
#define MMA_UNROLL _Pragma("unroll")
#else
// The warp's fragments go through local memory (6 ints a lane); every work-item of the group calls it
// the same number of times, so the barriers are uniform.
inline void mma_s8_emulated(__local int* frag, int lane, int* c, uint a0, uint a1, uint a2, uint a3, int b0, int b1) {
    __local int* mine = frag + 6 * lane;
    mine[0] = (int) a0;
    mine[1] = (int) a1;
    mine[2] = (int) a2;
    mine[3] = (int) a3;
    mine[4] = b0;
    mine[5] = b1;
    barrier(CLK_LOCAL_MEM_FENCE);
    int g = lane >> 2;
    int t = lane & 3;
    for (int i = 0; i < 4; i++) {
        int row = g + 8 * (i >> 1);
        int col = 2 * t + (i & 1);
        int sum = 0;
        for (int k = 0; k < 32; k++) {
            int owner = (k & 15) >> 2;
            int aReg = (row >> 3) + 2 * (k >> 4);
            int bReg = 4 + (k >> 4);
            char a = as_char4(frag[6 * (4 * (row & 7) + owner) + aReg])[k & 3];
            char b = as_char4(frag[6 * (4 * col + owner) + bReg])[k & 3];
            sum += a * b;
        }
        c[i] += sum;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
}
#define MMA_S8(c, a0, a1, a2, a3, b0, b1) mma_s8_emulated(mmaFrag + 192 * (get_local_id(0) >> 5), lane, c, a0, a1, a2, a3, b0, b1)
#define MMA_SCRATCH __local int mmaFrag[192 * MMA_WARPS * MMA_KSPLIT];
// rolled loops: unrolled, the many barriers crashed PoCL's work-group compiler
#define MMA_UNROLL _Pragma("unroll 1")
#endif

inline uint mma_word(uint4 v, int m) {
    return m == 0 ? v.x : m == 1 ? v.y : m == 2 ? v.z : v.w;
}

inline int2 mma_half(int4 v, int h) {
    return h == 0 ? v.xy : v.zw;
}

// Rows row, row + 8 of each m-tile at chunk c (zeros from chunk end on; chunks: the matrix's, for W_AT).
inline void mma_load_weights(__global const uint4* w, int chunks, int end, int rowsPad, int row, int c, uint4* lo, uint4* hi) {
    bool live = c < end;
    int cc = min(c, end - 1);
MMA_UNROLL
    for (int mt = 0; mt < MMA_MT; mt++) {
        lo[mt] = live ? w[W_AT(cc, row + 16 * mt)] : (uint4) (0);
        hi[mt] = live ? w[W_AT(cc, row + 16 * mt + 8)] : (uint4) (0);
    }
}

#define MMA_ACC (MMA_MT * MMA_NT * 4)
// where accumulator e of tile (mt, j) of this lane of run kp (>= 1) meets the first run's
#define K_PART_AT(kp) (((((kp) - 1) * MMA_WARPS + warp) * MMA_ACC + (mt * MMA_NT + j) * 4 + e) * 32 + lane)

#ifndef MMA_VOL
#define MMA_VOL   // volatile where another work-group of the same launch wrote the inputs (decode_batch_layer_t2_f32.cl)
#endif

// One work-group's tile: weight rows from (gx * MMA_ROWS * MMA_WARPS) of rowsPad, tokens from gy * MMA_TOKENS
// (the kernel: gx, gy = its group ids). kParts: the input split's sums ((MMA_KSPLIT - 1) * MMA_WARPS * MMA_ACC * 32
// ints); mmaFrag: the emulated mma's fragments (without MMFREE_PTX: 192 * MMA_WARPS * MMA_KSPLIT ints). Ends with
// a barrier when MMA_KSPLIT > 1, so that a work-group can take its next tile at once.
inline void mma_tile(MMA_VOL __global const int4* q, MMA_VOL __global const float* factor, MMA_VOL __global const int* qsum,
                     __global const uint4* w, __global const float* wscale,
                     const int rows, const int out, const int outPad, const int chunks,
                     MMA_VOL __global float* y, const int accumulate, const int gx, const int rowsPad, const int gy,
                     __local int* kParts, __local int* mmaFrag) {
    int lane = get_local_id(0) & 31;
    int warp = (get_local_id(0) >> 5) % MMA_WARPS;
    int kPart = (get_local_id(0) >> 5) / MMA_WARPS;
    int g = lane >> 2;
    int t = lane & 3;
    int groupRow0 = gx * MMA_ROWS * MMA_WARPS;
    int p = groupRow0 / outPad;
    int projections = rowsPad / outPad;
    int row0 = groupRow0 + warp * MMA_ROWS;
    int t0 = gy * MMA_TOKENS;
    size_t qRow = (size_t) chunks * 4;
    // this lane's token of each n-tile (a clamped duplicate past the last row; its results are dropped)
    MMA_VOL __global const int4* qt[MMA_NT];
MMA_UNROLL
    for (int j = 0; j < MMA_NT; j++) {
        int tok = min(t0 + 8 * j + g, rows - 1);
        qt[j] = q + ((size_t) p * rows + tok) * qRow;
    }
    int acc[MMA_MT][MMA_NT][4];
MMA_UNROLL
    for (int mt = 0; mt < MMA_MT; mt++) {
MMA_UNROLL
        for (int j = 0; j < MMA_NT; j++) {
            acc[mt][j][0] = acc[mt][j][1] = acc[mt][j][2] = acc[mt][j][3] = 0;
        }
    }
    // weight words MMA_AHEAD steps ahead: the next steps' loads are in flight while this step's mma run
    // this warp's run of chunks [cBegin, cEnd), in steps of 4
    int run = (chunks + 4 * MMA_KSPLIT - 1) / (4 * MMA_KSPLIT) * 4;
    int cBegin = kPart * run;
    int cEnd = min(chunks, cBegin + run);
    uint4 lo[MMA_MT], hi[MMA_MT], nlo[MMA_MT], nhi[MMA_MT];
    mma_load_weights(w, chunks, cEnd, rowsPad, row0 + g, cBegin + t, nlo, nhi);
#if MMA_AHEAD == 2
    uint4 n2lo[MMA_MT], n2hi[MMA_MT];
    mma_load_weights(w, chunks, cEnd, rowsPad, row0 + g, cBegin + t + 4, n2lo, n2hi);
#endif
    for (int step = 0; step < run; step += 4) {
        int c = cBegin + step + t;
        bool live = c < cEnd;
MMA_UNROLL
        for (int mt = 0; mt < MMA_MT; mt++) {
            lo[mt] = nlo[mt];
            hi[mt] = nhi[mt];
#if MMA_AHEAD == 2
            nlo[mt] = n2lo[mt];
            nhi[mt] = n2hi[mt];
#endif
        }
#if MMA_AHEAD == 2
        mma_load_weights(w, chunks, cEnd, rowsPad, row0 + g, c + 8, n2lo, n2hi);
#else
        mma_load_weights(w, chunks, cEnd, rowsPad, row0 + g, c + 4, nlo, nhi);
#endif
        // activations MMA_B_WORDS words at a time, their loads all issued before the mma that use them
        // (the volatile mma keep the order of the source): 4 / MMA_B_WORDS L2 round trips a step
MMA_UNROLL
        for (int m0 = 0; m0 < 4; m0 += MMA_B_WORDS) {
            int4 b[MMA_B_WORDS][MMA_NT];
MMA_UNROLL
            for (int mb = 0; mb < MMA_B_WORDS; mb++) {
MMA_UNROLL
                for (int j = 0; j < MMA_NT; j++) {
                    b[mb][j] = live ? qt[j][4 * c + m0 + mb] : (int4) (0);
                }
            }
MMA_UNROLL
            for (int mb = 0; mb < MMA_B_WORDS; mb++) {
                int m = m0 + mb;
MMA_UNROLL
                for (int h = 0; h < 2; h++) {
MMA_UNROLL
                    for (int mt = 0; mt < MMA_MT; mt++) {
                        uint wl = mma_word(lo[mt], m) >> (4 * h);
                        uint wh = mma_word(hi[mt], m) >> (4 * h);
                        uint a0 = wl & 0x03030303u;
                        uint a1 = wh & 0x03030303u;
                        uint a2 = (wl >> 2) & 0x03030303u;
                        uint a3 = (wh >> 2) & 0x03030303u;
MMA_UNROLL
                        for (int j = 0; j < MMA_NT; j++) {
                            int2 bj = mma_half(b[mb][j], h);
                            MMA_S8(acc[mt][j], a0, a1, a2, a3, bj.x, bj.y);
                        }
                    }
                }
            }
        }
    }
#if MMA_KSPLIT > 1
    // the other runs' sums go to local memory ([run - 1][warp][mt][j][e][lane], lane fastest); the
    // first run's warp adds them and writes
    if (kPart > 0) {
MMA_UNROLL
        for (int mt = 0; mt < MMA_MT; mt++) {
MMA_UNROLL
            for (int j = 0; j < MMA_NT; j++) {
MMA_UNROLL
                for (int e = 0; e < 4; e++) {
                    kParts[K_PART_AT(kPart)] = acc[mt][j][e];
                }
            }
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (kPart == 0) {
        for (int kp = 1; kp < MMA_KSPLIT; kp++) {
MMA_UNROLL
            for (int mt = 0; mt < MMA_MT; mt++) {
MMA_UNROLL
                for (int j = 0; j < MMA_NT; j++) {
MMA_UNROLL
                    for (int e = 0; e < 4; e++) {
                        acc[mt][j][e] += kParts[K_PART_AT(kp)];
                    }
                }
            }
        }
    }
#endif
    if (kPart == 0) {   // the first run's warps hold the sums and write
        float ws = wscale[p];
MMA_UNROLL
        for (int mt = 0; mt < MMA_MT; mt++) {
MMA_UNROLL
            for (int hi8 = 0; hi8 < 2; hi8++) {
                int r = row0 + 16 * mt + g + 8 * hi8 - p * outPad;
                if (r >= out) {
                    continue;
                }
MMA_UNROLL
                for (int j = 0; j < MMA_NT; j++) {
MMA_UNROLL
                    for (int e = 0; e < 2; e++) {
                        int tok = t0 + 8 * j + 2 * t + e;
                        if (tok < rows) {
                            int dot = acc[mt][j][2 * hi8 + e] - qsum[p * rows + tok];
                            float v = (float) dot * (ws * factor[p * rows + tok]);
                            size_t at = (size_t) tok * projections * out + (size_t) p * out + r;
                            y[at] = accumulate ? y[at] + v : v;
                        }
                    }
                }
            }
        }
    }
#if MMA_KSPLIT > 1
    barrier(CLK_LOCAL_MEM_FENCE);   // kParts free for the work-group's next tile
#endif
}

__kernel __attribute__((reqd_work_group_size(32 * MMA_WARPS * MMA_KSPLIT, 1, 1)))
void bitlinear_mma_t2_i8_f32(__global const int4* q, __global const float* factor, __global const int* qsum,
                             __global const uint4* w, __global const float* wscale,
                             const int rows, const int out, const int outPad, const int chunks,
                             __global float* y, const int accumulate) {
    MMA_SCRATCH
#if MMA_KSPLIT > 1
    __local int kParts[(MMA_KSPLIT - 1) * MMA_WARPS * MMA_ACC * 32];
#else
    __local int* kParts = 0;
#endif
#ifndef MMFREE_PTX
    __local int* frag = mmaFrag;
#else
    __local int* frag = 0;
#endif
    mma_tile(q, factor, qsum, w, wscale, rows, out, outPad, chunks, y, accumulate, get_group_id(0),
             (int) (get_num_groups(0) * MMA_ROWS * MMA_WARPS), get_group_id(1), kParts, frag);
}
