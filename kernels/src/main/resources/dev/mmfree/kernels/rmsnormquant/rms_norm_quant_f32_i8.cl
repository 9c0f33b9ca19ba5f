// rms_norm_quant_f32_i8: rows of a BitLinear input, normalized (once or twice) and quantized to int8.
//   h = RMSNorm_norm1(x) (eps1, skipped when hasNorm1 = 0);  v = h * mult (when hasMult)
//   q[p][t], factor[p][t] = quantize(RMSNorm_norm2[p](v) (eps2)),  qsum[p][t] = sum of the codes
// x row t starts at x + t * xStride + xOffset (K floats); mult: [rows][K] f32; norm1: [K]; norm2: [P][K];
// q: [P][rows][kPad] int8 (zero past K); factor: [P][rows] f32 (a / 127); qsum: [P][rows] int.
// With mult = silu(state) and norm1 = g_norm this is the MLGRU output gate then o_proj's norm.
// One work-group per (row, projection), one pass for the sums and the max as in bitlinear_norm2_t2_f32.
// Launch: global = (rows * WG, P), local = (WG, 1). Local: z [kPad] f32, scratch [3 * WG] f32.

__kernel void rms_norm_quant_f32_i8(__global const float* x, const int xStride, const int xOffset,
                                    __global const float* mult, const int hasMult,
                                    __global const float* norm1, const int hasNorm1, const float eps1,
                                    __global const float* norm2, const float eps2, const int K, const int chunks,
                                    __global int* q, __global float* factor, __global int* qsum,
                                    __local float* z, __local float* scratch) {
    int l = get_local_id(0);
    int t = get_group_id(0);
    int p = get_group_id(1);
    int rows = get_num_groups(0);
    int kPad = chunks * 64;
    __global const float* xr = x + (size_t) t * xStride + xOffset;
    __global const float* mr = mult + (size_t) t * K;
    __global const float* n2 = norm2 + (size_t) p * K;
    float s1 = 0.0f;
    float s2 = 0.0f;
    float m = 0.0f;
    for (int j = l; j < kPad; j += WG) {
        float zj = 0.0f;
        if (j < K) {
            float xv = xr[j];
            float a = hasNorm1 ? xv * norm1[j] : xv;
            if (hasMult) {
                a *= mr[j];
            }
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
    size_t row = (size_t) p * rows + t;
    int sum = 0;
    __global int* qr = q + row * (kPad / 4);
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
        factor[row] = 1.0f / scale;
        qsum[row] = sum;
    }
}
