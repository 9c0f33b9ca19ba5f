// bitlinear_gemv_t2_i8_f32: the ternary GEMV, one row of activations quantized by an earlier kernel,
// with the GEMM's arguments at rows = 1 (bitlinear_t2_i8_f32.cl):
//   y[p * out + r] (+)= (wscale[p] * factor[p]) * (T_p[r] . q[p])
// A GEMV of a few MB is bound by latency. A work-item first loads into registers what the work-group's barrier
// waits for (its QR int4s of the codes, and the scales and code sums), then issues its block's first PF weight
// chunks, then stores the codes to local memory: an SM's loads come back about in the order they were issued,
// and behind the weights these small loads held the barrier, and so every dot product, until the last weight
// chunk had arrived (traced on the H200: 1.1-2.7 us where an L2 round trip takes 0.6; GemvTrace). Issued first,
// they let each chunk be summed as it comes in. The host launches a work-group a row block, or G fewer ones that
// take the blocks group, group + G, ... in turn, as the decode kernels do (decode_phase.cl); then each block's
// dot products load the next block's first PF chunks.
// Host defines: PF; QR (at most 8); QR_LATE, 1 where the codes outgrow QR * WG int4s and the rest load after the
// weights (only then is that loop built: present, even run 0 times, it moved NVIDIA's load order and the barrier
// waited behind the weights again, traced); WBLOCK (the weights' layout, common.cl's W_AT).
// Launch: global = G * WG, local = WG, G <= rowsPad / ROWS. Local: ql [P * kPad] int8 (as int4s), part [WG] int,
// coef [P] f32, sums [P] int.
// GEMV_TRACE (a diagnostic build, after opencl/trace.cl) adds a last argument, trace [groups * TRACE_SLOTS]
// ulong, and stamps marks 0 entry, 1 codes in local memory, 2 the first block's dot products (work-item 0's),
// 3 all blocks done.
#ifdef GEMV_TRACE
#define GEMV_TRACE_PARAM , __global ulong* trace
#define GEMV_MARK(m) trace_stamp(trace, m)
#else
#define GEMV_TRACE_PARAM
#define GEMV_MARK(m)
#endif

__kernel void bitlinear_gemv_t2_i8_f32(__global const int4* q, __global const float* factor, __global const int* qsum,
                                       __global const uint4* w, __global const float* wscale,
                                       const int out, const int outPad, const int rowsPad, const int chunks,
                                       __global float* y, const int accumulate,
                                       __local int4* ql, __local int* part, __local float* coef, __local int* sums
                                       GEMV_TRACE_PARAM) {
    GEMV_MARK(0);
    int l = get_local_id(0);
    int lane = l % ROWS;
    int slice = l / ROWS;
    int group = get_group_id(0);
    int groups = get_num_groups(0);
    int blocks = rowsPad / ROWS;
    int projections = rowsPad / outPad;
    int qWords = chunks * 4;   // int4s of one projection's codes
    int4 qr[QR];
#pragma unroll
    for (int i = 0; i < QR; i++) {
        int u = l + i * WG;
        qr[i] = u < projections * qWords ? q[u] : (int4)(0);
    }
    bool scales = l < projections;   // the host checks projections <= WG
    float ws = scales ? wscale[l] : 0.0f;
    float fs = scales ? factor[l] : 0.0f;
    int qs = scales ? qsum[l] : 0;
    uint4 wr[PF];
#pragma unroll
    for (int i = 0; i < PF; i++) {
        int c = slice + i * SLICES;
        wr[i] = c < chunks ? w[W_AT(c, group * ROWS + lane)] : (uint4)(0u);
    }
#pragma unroll
    for (int i = 0; i < QR; i++) {
        int u = l + i * WG;
        if (u < projections * qWords) {
            ql[u] = qr[i];
        }
    }
#if QR_LATE
    for (int u = l + QR * WG; u < projections * qWords; u += WG) {   // past QR int4s a work-item: loaded late
        ql[u] = q[u];
    }
#endif
    if (scales) {
        coef[l] = ws * fs;
        sums[l] = qs;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    GEMV_MARK(1);
    for (int b = group; b < blocks; b += groups) {
        int row = b * ROWS + lane;
        int p = b * ROWS / outPad;   // outPad is a multiple of ROWS: a block lies in one projection
        __local const int4* qp = ql + p * qWords;
        dacc_t acc = 0;
#pragma unroll
        for (int i = 0; i < PF; i++) {
            int c = slice + i * SLICES;
            if (c < chunks) {
                acc = chunk_dacc_local(wr[i], qp + 4 * c, acc);
            }
        }
        for (int c = slice + PF * SLICES; c < chunks; c += SLICES) {
            acc = chunk_dacc_local(w[W_AT(c, row)], qp + 4 * c, acc);
        }
        // the next block's first chunks, in flight while this block's sums are reduced and stored
        int next = b + groups;
#pragma unroll
        for (int i = 0; i < PF; i++) {
            int c = slice + i * SLICES;
            wr[i] = next < blocks && c < chunks ? w[W_AT(c, next * ROWS + lane)] : (uint4)(0u);
        }
        if (b == group) {
            GEMV_MARK(2);
        }
        part[l] = dacc_total(acc);
        barrier(CLK_LOCAL_MEM_FENCE);
        int r = row - p * outPad;
        if (l < ROWS && r < out) {
            int dot = -sums[p];
            for (int s = 0; s < SLICES; s++) {
                dot += part[s * ROWS + l];
            }
            float v = (float) dot * coef[p];
            size_t at = (size_t) p * out + r;
            y[at] = accumulate ? y[at] + v : v;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    GEMV_MARK(3);
}
