// mlgru_scan_f32: the MLGRU recurrence over t tokens, one work-item per (sequence, channel).
//   f = lb + (1 - lb) * sigmoid(fPre);  state = f * state + silu(i) * (1 - f);  gate[t] = silu(state)
// ifg: [b][t][3d] f32 (i | fPre | g, the BitLinear outputs); lb: [d]; stateIn, stateOut: [b][d] f32
// (may not alias: the model double-buffers); gate: [b][t][d] f32, the multiplier of the output gate
// o = RMSNorm_g_norm(g) * gate that rms_norm_quant_f32_i8 applies next.
// Launch: global = (roundUp(d, 64), b), local = (64, 1).

__kernel void mlgru_scan_f32(__global const float* ifg, __global const float* lb, __global const float* stateIn,
                             __global float* stateOut, __global float* gate, const int d, const int T) {
    int j = get_global_id(0);
    int b = get_global_id(1);
    if (j >= d) {
        return;
    }
    float s = stateIn[(size_t) b * d + j];
    float lbj = lb[j];
    for (int t = 0; t < T; t++) {
        size_t row = (size_t) b * T + t;
        __global const float* r = ifg + row * 3 * d;
        float f = lbj + (1.0f - lbj) * sigmoid_f(r[d + j]);
        s = f * s + silu_f(r[j]) * (1.0f - f);
        gate[row * d + j] = silu_f(s);
    }
    stateOut[(size_t) b * d + j] = s;
}
