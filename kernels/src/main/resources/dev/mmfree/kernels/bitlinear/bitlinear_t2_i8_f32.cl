// bitlinear_t2_i8_f32: the ternary GEMM on activations quantized by an earlier kernel (t >= 1 rows).
//   y[t][p * out + r] (+)= (wscale[p] * factor[p][t]) * (T_p[r] . q[p][t])
// q: [P][rows][kPad] int8 (as int4s, zero past K); factor: [P][rows] (a / 127); qsum: [P][rows] (sum of
// the row's codes); w: device layout of P stacked [out, K]; wscale: [P]; y: [rows][P * out] f32.
// A work-group takes ROWS stacked rows and TOKENS activation rows: each weight word is loaded once
// and used TOKENS times; activation words are broadcast to the ROWS lanes of a slice.
// Host defines: WBLOCK (the weights' layout, common.cl's W_AT).
// Launch: global = (P * outPad / ROWS * WG, ceil(rows / TOKENS)), local = (WG, 1). Local: part [TOKENS * WG] int.

__kernel void bitlinear_t2_i8_f32(__global const int4* q, __global const float* factor, __global const int* qsum,
                                  __global const uint4* w, __global const float* wscale,
                                  const int rows, const int out, const int outPad, const int chunks,
                                  __global float* y, const int accumulate, __local int* part) {
    int l = get_local_id(0);
    int lane = l % ROWS;
    int slice = l / ROWS;
    int row0 = get_group_id(0) * ROWS;
    int p = row0 / outPad;
    int rowsPad = (int) (get_num_groups(0) * ROWS);
    int projections = rowsPad / outPad;
    int rowStacked = row0 + lane;
    int t0 = get_group_id(1) * TOKENS;
    int nt = min(TOKENS, rows - t0);
    size_t qRow = (size_t) chunks * 4;
    __global const int4* qp = q + ((size_t) p * rows + t0) * qRow;
    int acc[TOKENS];
    for (int tt = 0; tt < TOKENS; tt++) {
        acc[tt] = 0;
    }
    for (int c = slice; c < chunks; c += SLICES) {
        uint4 wv = w[W_AT(c, rowStacked)];
#pragma unroll
        for (int tt = 0; tt < TOKENS; tt++) {
            if (tt < nt) {
                acc[tt] = chunk_dot_global(wv, qp + tt * qRow + 4 * c, acc[tt]);
            }
        }
    }
    for (int tt = 0; tt < TOKENS; tt++) {
        part[tt * WG + l] = acc[tt];
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int o = l; o < ROWS * TOKENS; o += WG) {
        int ln = o % ROWS;
        int tt = o / ROWS;
        int r = row0 + ln - p * outPad;
        if (tt < nt && r < out) {
            int t = t0 + tt;
            int dot = -qsum[p * rows + t];
            for (int s = 0; s < SLICES; s++) {
                dot += part[tt * WG + s * ROWS + ln];
            }
            float v = (float) dot * (wscale[p] * factor[p * rows + t]);
            size_t at = (size_t) t * projections * out + (size_t) p * out + r;
            y[at] = accumulate ? y[at] + v : v;
        }
    }
}
