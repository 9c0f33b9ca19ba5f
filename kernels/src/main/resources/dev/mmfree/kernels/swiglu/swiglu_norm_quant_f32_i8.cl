// swiglu_norm_quant_f32_i8: the gated MLP activation and down_proj's input norm, rows of t.
//   v = silu(gate) * up;  q[t], factor[t] = quantize(RMSNorm_norm(v) (eps)),  qsum[t] = sum of the codes
// gu: [rows][2I] f32 (gate = first I, up = last I); norm: [I]; q: [rows][kPad] int8 (zero past I);
// factor: [rows] f32 (a / 127); qsum: [rows] int.
// Launch: global = rows * WG, local = WG. Local: z [kPad] f32, scratch [3 * WG] f32.

__kernel void swiglu_norm_quant_f32_i8(__global const float* gu, __global const float* norm, const float eps,
                                       const int I, const int chunks,
                                       __global int* q, __global float* factor, __global int* qsum,
                                       __local float* z, __local float* scratch) {
    int l = get_local_id(0);
    int t = get_group_id(0);
    int kPad = chunks * 64;
    __global const float* g = gu + (size_t) t * 2 * I;
    float s1 = 0.0f;
    float m = 0.0f;
    for (int j = l; j < kPad; j += WG) {
        float zj = 0.0f;
        if (j < I) {
            float v = silu_f(g[j]) * g[I + j];
            s1 += v * v;
            zj = v * norm[j];
            m = fmax(m, fabs(zj));
        }
        z[j] = zj;
    }
    float3 r = wg_sum_sum_max(s1, 0.0f, m, scratch, WG);
    float c = 1.0f / sqrt(r.x / I + eps);
    float scale = quant_scale(r.z, c);
    __global int* qr = q + (size_t) t * (kPad / 4);
    int sum = 0;
    for (int k = l; k < kPad / 4; k += WG) {
        int a = quant_code(z[4 * k] * c, scale);
        int b = quant_code(z[4 * k + 1] * c, scale);
        int e = quant_code(z[4 * k + 2] * c, scale);
        int f = quant_code(z[4 * k + 3] * c, scale);
        qr[k] = (a & 0xff) | ((b & 0xff) << 8) | ((e & 0xff) << 16) | ((f & 0xff) << 24);
        sum += a + b + e + f;
    }
    sum = wg_sum_int(sum, (__local int*) scratch, WG);
    if (l == 0) {
        factor[t] = 1.0f / scale;
        qsum[t] = sum;
    }
}
