// mlgru_scan_norm_quant_f32_i8: mlgru_scan_f32 and o_proj's input (rms_norm_quant_f32_i8 with g_norm
// and the gate multiplier) in one launch, one work-group a sequence walking its t tokens:
//   f = lb + (1 - lb) * sigmoid(fPre);  state = f * state + silu(i) * (1 - f)
//   q[row], factor[row] = quantize(RMSNorm_norm2(RMSNorm_norm1(g) * silu(state))),  qsum[row] = sum of the codes
// the same float steps in the same order as the two kernels, so the codes are theirs. A batched decode
// step (t = 1) saves a launch and the gate's round trip through global memory; a long scan of few
// sequences keeps the two kernels, which spread the channels over many work-groups.
// ifg: [b][t][3d] f32 (i | fPre | g); lb, norm1 (g_norm), norm2 (o_proj's norm): [d]; stateIn, stateOut:
// [b][d] f32 (distinct; a work-item carries its channels' state through stateOut between tokens);
// q: [b * t][kPad] int8 (zero past d); factor: [b * t] f32 (a / 127); qsum: [b * t] int.
// Launch: global = b * WG, local = WG. Local: z [kPad] f32, gate [d] f32, scratch [WG] acc_t.

__kernel void mlgru_scan_norm_quant_f32_i8(__global const float* ifg, __global const float* lb,
                                           __global const float* stateIn, __global float* stateOut,
                                           const int d, const int T,
                                           __global const float* norm1, const float eps1,
                                           __global const float* norm2, const float eps2, const int chunks,
                                           __global int* q, __global float* factor, __global int* qsum,
                                           __local float* z, __local float* gate, __local acc_t* scratch) {
    int l = get_local_id(0);
    int b = get_group_id(0);
    int kPad = chunks * 64;
    __global float* st = stateOut + (size_t) b * d;
    for (int t = 0; t < T; t++) {
        size_t row = (size_t) b * T + t;
        __global const float* r = ifg + row * 3 * d;
        __global const float* s0 = t == 0 ? stateIn + (size_t) b * d : st;
        acc_t ss = 0;
        for (int j = l; j < kPad; j += WG) {
            float v = 0.0f;
            if (j < d) {
                float lbj = lb[j];
                float f = lbj + (1.0f - lbj) * sigmoid_f(r[d + j]);
                float s = f * s0[j] + silu_f(r[j]) * (1.0f - f);
                st[j] = s;
                gate[j] = silu_f(s);
                v = r[2 * d + j];
            }
            z[j] = v;
            ss += (acc_t) (v * v);
        }
        float inv = norm_inv(wg_sum_acc(ss, scratch, WG), d, eps1);
        for (int j = l; j < d; j += WG) {
            z[j] = z[j] * inv * norm1[j];
            z[j] = z[j] * gate[j];
        }
        float scale = norm_and_scale(z, d, kPad, norm2, eps2, scratch, WG);
        int sum = quantize_global(z, kPad, scale, q + row * (kPad / 4), (__local int*) scratch, WG);
        if (l == 0) {
            factor[row] = 1.0f / scale;
            qsum[row] = sum;
        }
    }
}
