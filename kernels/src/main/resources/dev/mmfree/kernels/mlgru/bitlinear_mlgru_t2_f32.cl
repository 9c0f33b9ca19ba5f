// bitlinear_mlgru_t2_f32: one decode step of the MLGRU fused into o_proj (t = 1, one sequence).
//   f = lb + (1 - lb) * sigmoid(fPre);  state' = f * state + silu(i) * (1 - f)
//   o = RMSNorm_gNorm(g) * silu(state') (eps1);  q, a = quantize(RMSNorm_oNorm(o) (eps2))
//   y[r] (+)= (wscale[0] * a / 127) * (T[r] . q)           (accumulate = 1: the residual add into x)
// ifg: [3d] f32 (i | fPre | g); lb, gNorm, oNorm: [d]; stateIn, stateOut: [d] f32, two buffers (every
// work-group recomputes the whole step from stateIn, and group 0 writes stateOut, so no group reads
// a state another has already advanced); w: device layout [out, d]; y: [out] f32.
// Launch: global = outPad / ROWS * WG, local = WG.
// Local: z [kPad] f32, gate [kPad] f32, q [kPad / 4] int, scratch [WG] acc_t.

__kernel void bitlinear_mlgru_t2_f32(__global const float* ifg, __global const float* lb,
                                     __global const float* stateIn, __global float* stateOut,
                                     __global const float* gNorm, const float eps1,
                                     __global const float* oNorm, const float eps2,
                                     __global const uint4* w, __global const float* wscale,
                                     const int d, const int out, const int outPad, const int chunks,
                                     __global float* y, const int accumulate,
                                     __local float* z, __local float* gate, __local int* q, __local void* scratch) {
    int l = get_local_id(0);
    int rowsPad = (int) (get_num_groups(0) * ROWS);
    int kPad = chunks * 64;
    int writer = get_group_id(0) == 0;
    acc_t ss = 0;
    for (int j = l; j < kPad; j += WG) {
        float g = 0.0f;
        float sl = 0.0f;
        if (j < d) {
            float f = lb[j] + (1.0f - lb[j]) * sigmoid_f(ifg[d + j]);
            float s = f * stateIn[j] + silu_f(ifg[j]) * (1.0f - f);
            if (writer) {
                stateOut[j] = s;
            }
            g = ifg[2 * d + j];
            sl = silu_f(s);
        }
        z[j] = g;
        gate[j] = sl;
        ss += (acc_t) (g * g);
    }
    float inv = norm_inv(wg_sum_acc(ss, (__local acc_t*) scratch, WG), d, eps1);
    for (int j = l; j < d; j += WG) {
        z[j] = z[j] * inv * gNorm[j] * gate[j];
    }
    float scale = norm_and_scale(z, d, kPad, oNorm, eps2, scratch, WG);
    int qsum = quantize_local(z, kPad, scale, q, (__local int*) scratch, WG);
    ternary_gemv_rows(w, rowsPad, chunks, out, outPad, (__local const int4*) q, qsum, wscale[0] * (1.0f / scale),
                      (__local int*) scratch, y, accumulate);
}
