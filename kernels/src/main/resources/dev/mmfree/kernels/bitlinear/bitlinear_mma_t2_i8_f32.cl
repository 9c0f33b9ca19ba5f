// bitlinear_mma_t2_i8_f32: the ternary GEMM of bitlinear_t2_i8_f32 (same arguments, same result, bit
// for bit) on NVIDIA's int8 tensor cores: mma.sync m16n8k32 s8 x s8 -> s32 through inline PTX, so it
// builds only with MMFREE_PTX (host: dev.mmfree.kernels.bitlinear.MmaShape).
//   y[t][p * out + r] (+)= (wscale[p] * factor[p][t]) * (T_p[r] . q[p][t])
//
// Defines: MMA_WARPS warps a work-group, MMA_MT 16-row tiles a warp, MMA_NT 8-token tiles a warp.
// A work-group takes 16 * MMA_MT * MMA_WARPS stacked weight rows (a divisor of the layout's 64-row
// tile, so one projection) and 8 * MMA_NT tokens; each warp its own rows and all of the tokens, so the
// warps share activations through L1 and each weight word is read once per 8 * MMA_NT tokens.
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
// Launch: global = (rowsPad / (16 MMA_MT MMA_WARPS) * 32 MMA_WARPS, ceil(rows / (8 MMA_NT))),
// local = (32 MMA_WARPS, 1).

#define MMA_ROWS (16 * MMA_MT)
#define MMA_TOKENS (8 * MMA_NT)

// d = a . b + c for one m16n8k32 tile (s8 x s8 -> s32).
#define MMA_S8(c, a0, a1, a2, a3, b0, b1)                                                              \
    asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, " \
                 "{%10,%11,%12,%13};"                                                                  \
                 : "=r"(c[0]), "=r"(c[1]), "=r"(c[2]), "=r"(c[3])                                      \
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1),                               \
                   "r"(c[0]), "r"(c[1]), "r"(c[2]), "r"(c[3]))

inline uint mma_word(uint4 v, int m) {
    return m == 0 ? v.x : m == 1 ? v.y : m == 2 ? v.z : v.w;
}

inline int2 mma_half(int4 v, int h) {
    return h == 0 ? v.xy : v.zw;
}

__kernel __attribute__((reqd_work_group_size(32 * MMA_WARPS, 1, 1)))
void bitlinear_mma_t2_i8_f32(__global const int4* q, __global const float* factor, __global const int* qsum,
                             __global const uint4* w, __global const float* wscale,
                             const int rows, const int out, const int outPad, const int chunks,
                             __global float* y, const int accumulate) {
    int lane = get_local_id(0) & 31;
    int warp = get_local_id(0) >> 5;
    int g = lane >> 2;
    int t = lane & 3;
    int rowsPad = (int) (get_num_groups(0) * MMA_ROWS * MMA_WARPS);
    int groupRow0 = get_group_id(0) * MMA_ROWS * MMA_WARPS;
    int p = groupRow0 / outPad;
    int projections = rowsPad / outPad;
    int row0 = groupRow0 + warp * MMA_ROWS;
    int t0 = get_group_id(1) * MMA_TOKENS;
    size_t qRow = (size_t) chunks * 4;
    // this lane's token of each n-tile (a clamped duplicate past the last row; its results are dropped)
    __global const int4* qt[MMA_NT];
#pragma unroll
    for (int j = 0; j < MMA_NT; j++) {
        int tok = min(t0 + 8 * j + g, rows - 1);
        qt[j] = q + ((size_t) p * rows + tok) * qRow;
    }
    int acc[MMA_MT][MMA_NT][4];
#pragma unroll
    for (int mt = 0; mt < MMA_MT; mt++) {
#pragma unroll
        for (int j = 0; j < MMA_NT; j++) {
            acc[mt][j][0] = acc[mt][j][1] = acc[mt][j][2] = acc[mt][j][3] = 0;
        }
    }
    for (int c0 = 0; c0 < chunks; c0 += 4) {
        int c = c0 + t;
        bool live = c < chunks;
        uint4 lo[MMA_MT], hi[MMA_MT];
#pragma unroll
        for (int mt = 0; mt < MMA_MT; mt++) {
            size_t at = (size_t) min(c, chunks - 1) * rowsPad + row0 + 16 * mt + g;
            lo[mt] = live ? w[at] : (uint4) (0);
            hi[mt] = live ? w[at + 8] : (uint4) (0);
        }
#pragma unroll
        for (int m = 0; m < 4; m++) {
            int4 b[MMA_NT];
#pragma unroll
            for (int j = 0; j < MMA_NT; j++) {
                b[j] = live ? qt[j][4 * c + m] : (int4) (0);
            }
#pragma unroll
            for (int h = 0; h < 2; h++) {
#pragma unroll
                for (int mt = 0; mt < MMA_MT; mt++) {
                    uint wl = mma_word(lo[mt], m) >> (4 * h);
                    uint wh = mma_word(hi[mt], m) >> (4 * h);
                    uint a0 = wl & 0x03030303u;
                    uint a1 = wh & 0x03030303u;
                    uint a2 = (wl >> 2) & 0x03030303u;
                    uint a3 = (wh >> 2) & 0x03030303u;
#pragma unroll
                    for (int j = 0; j < MMA_NT; j++) {
                        int2 bj = mma_half(b[j], h);
                        MMA_S8(acc[mt][j], a0, a1, a2, a3, bj.x, bj.y);
                    }
                }
            }
        }
    }
    float ws = wscale[p];
#pragma unroll
    for (int mt = 0; mt < MMA_MT; mt++) {
#pragma unroll
        for (int half = 0; half < 2; half++) {
            int r = row0 + 16 * mt + g + 8 * half - p * outPad;
            if (r >= out) {
                continue;
            }
#pragma unroll
            for (int j = 0; j < MMA_NT; j++) {
#pragma unroll
                for (int e = 0; e < 2; e++) {
                    int tok = t0 + 8 * j + 2 * t + e;
                    if (tok < rows) {
                        int dot = acc[mt][j][2 * half + e] - qsum[p * rows + tok];
                        float v = (float) dot * (ws * factor[p * rows + tok]);
                        size_t at = (size_t) tok * projections * out + (size_t) p * out + r;
                        y[at] = accumulate ? y[at] + v : v;
                    }
                }
            }
        }
    }
}
