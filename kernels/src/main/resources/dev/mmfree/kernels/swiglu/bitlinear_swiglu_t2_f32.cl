// bitlinear_swiglu_t2_f32: SwiGLU and down_proj's norm + quantize fused into down_proj (t = 1).
//   v = silu(gate) * up;  q, a = quantize(RMSNorm_norm(v) (eps));  y[r] (+)= (wscale[0] * a / 127) * (T[r] . q)
// gu: [2I] f32 (gate | up); norm: [I]; w: device layout [out, I]; y: [out] f32 (accumulate = 1: residual add).
// Launch: global = outPad / ROWS * WG, local = WG.
// Local: z [kPad] f32, q [kPad / 4] int, scratch [WG] acc_t.

__kernel void bitlinear_swiglu_t2_f32(__global const float* gu, __global const float* norm, const float eps,
                                      __global const uint4* w, __global const float* wscale,
                                      const int I, const int out, const int outPad, const int chunks,
                                      __global float* y, const int accumulate,
                                      __local float* z, __local int* q, __local void* scratch) {
    int l = get_local_id(0);
    int rowsPad = (int) (get_num_groups(0) * ROWS);
    int kPad = chunks * 64;
    for (int j = l; j < kPad; j += WG) {
        z[j] = j < I ? silu_f(gu[j]) * gu[I + j] : 0.0f;
    }
    float scale = norm_and_scale(z, I, kPad, norm, eps, scratch, WG);
    int qsum = quantize_local(z, kPad, scale, q, (__local int*) scratch, WG);
    ternary_gemv_rows(w, rowsPad, chunks, out, outPad, (__local const int4*) q, qsum, wscale[0] * (1.0f / scale),
                      (__local int*) scratch, y, accumulate);
}
