// bitlinear_norm2_t2_f32: one token through P BitLinears that share an input, with both norms fused.
//   h = RMSNorm_norm1(x) (eps1);  per projection p: q_p, a_p = quantize(RMSNorm_norm2[p](h) (eps2))
//   y[p * out + r] (+)= (wscale[p] * a_p / 127) * (T_p[r] . q_p)
// x: [K] f32; norm1: [K]; norm2: [P][K]; w: device layout of P stacked [out, K]; wscale: [P]; y: [P * out] f32.
// Each work-group normalizes and quantizes x itself in local memory (a 10 KB row at d = 2560), so
// no separate launch is needed, then does its ROWS rows. hasNorm1 = 0 skips the first norm.
// Launch: global = P * outPad / ROWS * WG, local = WG.
// Local: z [kPad] f32, q [kPad / 4] int, scratch [WG] acc_t (8 * WG bytes).

__kernel void bitlinear_norm2_t2_f32(__global const float* x, __global const float* norm1, const int hasNorm1,
                                     const float eps1, __global const float* norm2, const float eps2,
                                     __global const uint4* w, __global const float* wscale,
                                     const int K, const int out, const int outPad, const int chunks,
                                     __global float* y, const int accumulate,
                                     __local float* z, __local int* q, __local void* scratch) {
    int l = get_local_id(0);
    int p = get_group_id(0) * ROWS / outPad;
    int rowsPad = (int) (get_num_groups(0) * ROWS);
    int kPad = chunks * 64;
    acc_t ss = 0;
    for (int j = l; j < kPad; j += WG) {
        float v = j < K ? x[j] : 0.0f;
        z[j] = v;
        ss += (acc_t) (v * v);
    }
    float inv = norm_inv(wg_sum_acc(ss, (__local acc_t*) scratch, WG), K, eps1);
    if (hasNorm1) {
        for (int j = l; j < K; j += WG) {
            z[j] = z[j] * inv * norm1[j];
        }
    }
    float scale = norm_and_scale(z, K, kPad, norm2 + (size_t) p * K, eps2, scratch, WG);
    int qsum = quantize_local(z, kPad, scale, q, (__local int*) scratch, WG);
    ternary_gemv_rows(w, rowsPad, chunks, out, outPad, (__local const int4*) q, qsum, wscale[p] * (1.0f / scale),
                      (__local int*) scratch, y, accumulate);
}
