// decode_batch_layer_t2_f32: one HGRNBit layer of a batched decode step (one token of each of `rows` sequences)
// in one launch: the GEMM path's eight launches as eight phases, grid-wide barriers between them.
//   1 x -> q_ifg                  norm_quant_row: RMSNorm_attn, then the i, f, g projections' norms   rows x 3 items
//   2 q_ifg -> ifg                mma_tile: [rows][3d]                                                    tiles
//   3 ifg, stateIn -> q_d         norm_quant_row with the MLGRU step (stateOut), g_norm * silu(s), o's norm   rows
//   4 q_d -> x +=                 mma_tile, o_proj                                                         tiles
//   5 x -> q_d                    norm_quant_row: RMSNorm_mlp, then gate|up's norm                         rows
//   6 q_d -> gu                   mma_tile, gate|up (one matrix of 2I rows): [rows][2I]                     tiles
//   7 gu -> q_i                   swiglu_norm_quant_row: silu(gate) * up, down_proj's norm                  rows
//   8 q_i -> x +=                 mma_tile, down_proj                                                      tiles
// The same functions as the standalone kernels (rms_norm_quant_f32_i8.cl, swiglu_norm_quant_f32_i8.cl,
// bitlinear_mma_t2_i8_f32.cl, built before this file with NQ_VOL and MMA_VOL volatile, since the phases read what
// other work-groups wrote), so with the same work-group size it computes the same bits as those eight launches.
// On NVIDIA a launch costs the device about 6 us however small it is; a batch-64 2.7B layer was eight launches
// of 8-21 us each, most of it that floor.
// Work-group g of G takes items (rows or GEMM tiles) g, g + G, ... of each phase. The grid barriers need all G
// work-groups running at once (opencl/grid.cl): the host launches no more than run together.
// Launch: global = G * WG, local = WG (= 32 * MMA_WARPS * MMA_KSPLIT, the mma shape's work-group).
// Local: lmem16, the largest of a row phase's z [kPad] f32 + scratch [WG] acc_t and the mma's sums. It is typed int4
// so that NVIDIA aligns it for the double scratch: declared int*, it was placed 4-byte aligned and the
// first 8-byte store faulted (CL_OUT_OF_RESOURCES).

#if WG != 32 * MMA_WARPS * MMA_KSPLIT
#error "decode_batch_layer_t2_f32: WG must be the mma shape's work-group"
#endif
#define MMA_KPART_INTS ((MMA_KSPLIT - 1) * MMA_WARPS * MMA_ACC * 32)
// A diagnostic: -DBATCH_LAYER_STOP=k (1..7, through MMFREE_OPENCL_BUILD_OPTIONS) ends the launch after phase k, so
// that the differences of tokens/s between k and k - 1 give each phase's time (the results are then wrong).
#ifndef BATCH_LAYER_STOP
#define BATCH_LAYER_STOP 8
#endif
#define STOP_AFTER(k)              \
    if (BATCH_LAYER_STOP == (k)) { \
        return;                    \
    }

#ifndef MMFREE_PTX
// Without inline PTX (PoCL in the tests) a tile's dot products are plain integer sums, one (row, token) of the tile
// a work-item at a time: the same integers as the mma steps (an integer sum does not depend on its order) and the
// same epilogue, so the same bits. The emulated mma's barriers inside loops would take PoCL's work-group compiler
// far longer than a test may (it never finished in 10 minutes); the mma tile itself runs on NVIDIA.
inline void portable_tile(volatile __global const int4* q, volatile __global const float* factor,
                          volatile __global const int* qsum, __global const uint4* w, __global const float* wscale,
                          const int rows, const int out, const int outPad, const int chunks,
                          volatile __global float* y, const int accumulate, const int gx, const int rowsPad, const int gy) {
    int tileRows = MMA_ROWS * MMA_WARPS;
    int row0 = gx * tileRows;
    int p = row0 / outPad;
    int projections = rowsPad / outPad;
    float ws = wscale[p];
    for (int o = get_local_id(0); o < tileRows * MMA_TOKENS; o += WG) {
        int r = row0 + o % tileRows - p * outPad;
        int tok = gy * MMA_TOKENS + o / tileRows;
        if (r < out && tok < rows) {
            volatile __global const int4* qp = q + ((size_t) p * rows + tok) * chunks * 4;
            int dot = 0;
            for (int c = 0; c < chunks; c++) {
                uint4 wv = w[W_AT(c, row0 + o % tileRows)];
                dot = word_dot(wv.x, qp[4 * c], dot);
                dot = word_dot(wv.y, qp[4 * c + 1], dot);
                dot = word_dot(wv.z, qp[4 * c + 2], dot);
                dot = word_dot(wv.w, qp[4 * c + 3], dot);
            }
            dot -= qsum[p * rows + tok];
            float v = (float) dot * (ws * factor[p * rows + tok]);
            size_t at = (size_t) tok * projections * out + (size_t) p * out + r;
            y[at] = accumulate ? y[at] + v : v;
        }
    }
}
#endif

// y (+)= the ternary GEMM of one BitLinear (projections x outPad stacked rows) for the rows tokens of q.
inline void gemm_phase(volatile __global const int* q, volatile __global const float* factor,
                       volatile __global const int* qsum, __global const uint4* w, __global const float* wscale,
                       const int rows, const int out, const int outPad, const int projections, const int chunks,
                       volatile __global float* y, const int accumulate, __local int* lmem, const int group,
                       const int groups) {
    int rowsPad = projections * outPad;
    int gxs = rowsPad / (MMA_ROWS * MMA_WARPS);
    int tiles = gxs * ((rows + MMA_TOKENS - 1) / MMA_TOKENS);
    for (int tile = group; tile < tiles; tile += groups) {
#ifdef MMFREE_PTX
        mma_tile((volatile __global const int4*) q, factor, qsum, w, wscale, rows, out, outPad, chunks, y, accumulate,
                 tile % gxs, rowsPad, tile / gxs, lmem, lmem + MMA_KPART_INTS);
#else
        portable_tile((volatile __global const int4*) q, factor, qsum, w, wscale, rows, out, outPad, chunks, y, accumulate,
                      tile % gxs, rowsPad, tile / gxs);
#endif
    }
}

__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void decode_batch_layer_t2_f32(volatile __global float* x, const int rows, const int d, const int I,
                               const float eps, const float eps2,
                               __global const float* attnNorm, __global const float* ifgNorms, __global const float* lb,
                               __global const float* stateIn, __global float* stateOut,
                               __global const float* gNorm, __global const float* oNorm,
                               __global const float* mlpNorm, __global const float* gateNorm, __global const float* downNorm,
                               __global const uint4* wIfg, __global const float* sIfg, const int ifgOutPad,
                               __global const uint4* wO, __global const float* sO, const int oOutPad,
                               __global const uint4* wGu, __global const float* sGu, const int guOutPad,
                               __global const uint4* wDown, __global const float* sDown, const int downOutPad,
                               volatile __global int* qIfg, volatile __global float* fIfg, volatile __global int* sumIfg,
                               volatile __global int* qD, volatile __global float* fD, volatile __global int* sumD,
                               volatile __global int* qI, volatile __global float* fI, volatile __global int* sumI,
                               volatile __global float* ifg, volatile __global float* gu,
                               volatile __global int* sync, volatile __global int* error, __local int4* lmem16) {
    __local int* lmem = (__local int*) lmem16;
    int group = get_group_id(0);
    int groups = get_num_groups(0);
    int chunksD = (d + 63) / 64;
    int chunksI = (I + 63) / 64;
    __local float* z = (__local float*) lmem;
    __local acc_t* scratchD = (__local acc_t*) (lmem + 64 * chunksD);
    __local acc_t* scratchI = (__local acc_t*) (lmem + 64 * chunksI);

    for (int item = group; item < 3 * rows; item += groups) {
        norm_quant_row(0, x, d, 0, x, 0, 0, 0, 0, attnNorm, 1, eps, ifgNorms, eps2, d, chunksD,
                       (__global int*) qIfg, (__global float*) fIfg, (__global int*) sumIfg, z, scratchD,
                       item % rows, item / rows, rows);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    STOP_AFTER(1)
    grid_sync(sync, error);
    gemm_phase(qIfg, fIfg, sumIfg, wIfg, sIfg, rows, d, ifgOutPad, 3, chunksD, ifg, 0, lmem, group, groups);
    STOP_AFTER(2)
    grid_sync(sync, error);
    for (int t = group; t < rows; t += groups) {
        norm_quant_row(1, ifg, 3 * d, 2 * d, ifg, 0, lb, stateIn, stateOut, gNorm, 1, eps, oNorm, eps2, d, chunksD,
                       (__global int*) qD, (__global float*) fD, (__global int*) sumD, z, scratchD, t, 0, rows);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    STOP_AFTER(3)
    grid_sync(sync, error);
    gemm_phase(qD, fD, sumD, wO, sO, rows, d, oOutPad, 1, chunksD, x, 1, lmem, group, groups);
    STOP_AFTER(4)
    grid_sync(sync, error);
    for (int t = group; t < rows; t += groups) {
        norm_quant_row(0, x, d, 0, x, 0, 0, 0, 0, mlpNorm, 1, eps, gateNorm, eps2, d, chunksD,
                       (__global int*) qD, (__global float*) fD, (__global int*) sumD, z, scratchD, t, 0, rows);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    STOP_AFTER(5)
    grid_sync(sync, error);
    gemm_phase(qD, fD, sumD, wGu, sGu, rows, 2 * I, guOutPad, 1, chunksD, gu, 0, lmem, group, groups);
    STOP_AFTER(6)
    grid_sync(sync, error);
    for (int t = group; t < rows; t += groups) {
        swiglu_norm_quant_row(gu, downNorm, eps2, I, chunksI, (__global int*) qI, (__global float*) fI,
                              (__global int*) sumI, z, scratchI, t);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    STOP_AFTER(7)
    grid_sync(sync, error);
    gemm_phase(qI, fI, sumI, wDown, sDown, rows, d, downOutPad, 1, chunksI, x, 1, lmem, group, groups);
}
