// bitlinear_norm2_t2_f32: one token through P BitLinears that share an input, with both norms fused.
//   h = RMSNorm_norm1(x) (eps1);  per projection p: q_p, a_p = quantize(RMSNorm_norm2[p](h) (eps2))
//   y[p * out + r] (+)= (wscale[p] * a_p / 127) * (T_p[r] . q_p)
// x: [K] f32; norm1: [K]; norm2: [P][K]; w: device layout of P stacked [out, K]; wscale: [P]; y: [P * out] f32.
// Each work-group normalizes and quantizes x itself, in local memory (one pass for both norms and
// the max: sum x^2, sum (x*norm1)^2 and max |x*norm1*norm2[p]|), then does its ROWS rows. With
// hasNorm1 = 0 the first norm is skipped (a single RMSNorm_norm2[p]).
// Launch: global = P * outPad / ROWS * WG, local = WG.
// Local: z [kPad] f32, q [kPad / 4] int, scratch [3 * WG] f32.

__kernel void bitlinear_norm2_t2_f32(__global const float* x, __global const float* norm1, const int hasNorm1,
                                     const float eps1, __global const float* norm2, const float eps2,
                                     __global const uint4* w, __global const float* wscale,
                                     const int K, const int out, const int outPad, const int chunks,
                                     __global float* y, const int accumulate,
                                     __local float* z, __local int* q, __local float* scratch) {
    int l = get_local_id(0);
    int p = get_group_id(0) * ROWS / outPad;
    int rowsPad = (int) (get_num_groups(0) * ROWS);
    int kPad = chunks * 64;
    __global const float* n2 = norm2 + (size_t) p * K;
    float s1 = 0.0f;
    float s2 = 0.0f;
    float m = 0.0f;
    for (int j = l; j < kPad; j += WG) {
        float zj = 0.0f;
        if (j < K) {
            float xv = x[j];
            float a = hasNorm1 ? xv * norm1[j] : xv;
            s1 += xv * xv;
            s2 += a * a;
            zj = a * n2[j];
            m = fmax(m, fabs(zj));
        }
        z[j] = zj;
    }
    float3 r = wg_sum_sum_max(s1, s2, m, scratch, WG);
    float inv1 = hasNorm1 ? 1.0f / sqrt(r.x / K + eps1) : 1.0f;
    float inv2 = 1.0f / sqrt(r.y * inv1 * inv1 / K + eps2);
    float c = inv1 * inv2;
    float scale = quant_scale(r.z, c);
    int qsum = wg_sum_int(quantize_words(z, kPad / 4, c, scale, q, WG), (__local int*) scratch, WG);
    ternary_gemv_rows(w, rowsPad, chunks, out, outPad, (__local const int4*) q, qsum, wscale[p] * (1.0f / scale),
                      (__local int*) scratch, y, accumulate);
}
