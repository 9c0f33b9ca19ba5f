// bitlinear_mlgru_t2_f32: one decode step of the MLGRU fused into o_proj (t = 1, one sequence).
//   f = lb + (1 - lb) * sigmoid(fPre);  state' = f * state + silu(i) * (1 - f)
//   o = RMSNorm_gNorm(g) * silu(state') (eps1);  q, a = quantize(RMSNorm_oNorm(o) (eps2))
//   y[r] (+)= (wscale[0] * a / 127) * (T[r] . q)           (accumulate = 1: the residual add into x)
// ifg: [3d] f32 (i | fPre | g); lb, gNorm, oNorm: [d]; stateIn, stateOut: [d] f32, two buffers (every
// work-group recomputes the whole step from stateIn, and group 0 writes stateOut, so no group reads
// a state another has already advanced); w: device layout [out, d]; y: [out] f32.
// Launch: global = outPad / ROWS * WG, local = WG. Local: z [kPad] f32, q [kPad / 4] int, scratch [3 * WG] f32.

__kernel void bitlinear_mlgru_t2_f32(__global const float* ifg, __global const float* lb,
                                     __global const float* stateIn, __global float* stateOut,
                                     __global const float* gNorm, const float eps1,
                                     __global const float* oNorm, const float eps2,
                                     __global const uint4* w, __global const float* wscale,
                                     const int d, const int out, const int outPad, const int chunks,
                                     __global float* y, const int accumulate,
                                     __local float* z, __local int* q, __local float* scratch) {
    int l = get_local_id(0);
    int rowsPad = (int) (get_num_groups(0) * ROWS);
    int kPad = chunks * 64;
    int writer = get_group_id(0) == 0;
    float s1 = 0.0f;
    float s2 = 0.0f;
    float m = 0.0f;
    for (int j = l; j < kPad; j += WG) {
        float zj = 0.0f;
        if (j < d) {
            float f = lb[j] + (1.0f - lb[j]) * sigmoid_f(ifg[d + j]);
            float s = f * stateIn[j] + silu_f(ifg[j]) * (1.0f - f);
            if (writer) {
                stateOut[j] = s;
            }
            float g = ifg[2 * d + j];
            float a = g * gNorm[j] * silu_f(s);
            s1 += g * g;
            s2 += a * a;
            zj = a * oNorm[j];
            m = fmax(m, fabs(zj));
        }
        z[j] = zj;
    }
    float3 r = wg_sum_sum_max(s1, s2, m, scratch, WG);
    float inv1 = 1.0f / sqrt(r.x / d + eps1);
    float inv2 = 1.0f / sqrt(r.y * inv1 * inv1 / d + eps2);
    float c = inv1 * inv2;
    float scale = quant_scale(r.z, c);
    int qsum = wg_sum_int(quantize_words(z, kPad / 4, c, scale, q, WG), (__local int*) scratch, WG);
    ternary_gemv_rows(w, rowsPad, chunks, out, outPad, (__local const int4*) q, qsum, wscale[0] * (1.0f / scale),
                      (__local int*) scratch, y, accumulate);
}
