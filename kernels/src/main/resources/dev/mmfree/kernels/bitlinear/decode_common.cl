// decode_common.cl: helpers of the batch-1 decode phases (decode_phase.cl), after opencl/common.cl.

// MMFREE_TRACE: a diagnostic build of the layer kernel (BitLinearDecodeOpenCl.layerTrace). Work-item 0 of
// each work-group stamps numbered marks of each phase: trace[((phase * groups + group) * TRACE_MARKS + m) * 2]
// = %globaltimer (ns, one clock for all SMs), [... + 1] = %clock64 (this SM's cycles). Marks (TRACE(m)):
// 0 entry, 1 first norm's sum, 2 second norm's sum, 3 maxima, 4 codes in local memory, 5 code sums,
// 6 first block's dot products (work-item 0's), 7 first block's sums in local memory, 8 all blocks done,
// 9 past the grid barrier that follows the phase. Without MMFREE_TRACE the macros are empty.
#ifdef MMFREE_TRACE
#define TRACE_MARKS 10
#define TRACE_KPARAM , __global ulong* trace
#define TRACE_PARAM , __global ulong* trace, const int tracePhase
#define TRACE_ARG(phase) , trace, phase
#define TRACE(m) trace_mark(trace, tracePhase, m)
inline void trace_mark(__global ulong* trace, int phase, int m) {
    if (get_local_id(0) == 0) {
        size_t at = (((size_t) phase * get_num_groups(0) + get_group_id(0)) * TRACE_MARKS + m) * 2;
        trace[at] = clock_ns();
        trace[at + 1] = clock_cycles();
    }
}
#else
#define TRACE_KPARAM
#define TRACE_PARAM
#define TRACE_ARG(phase)
#define TRACE(m)
#endif

// The projection's quantized input: its own when a phase has as many inputs as rows a work-item.
#define QI(p) (P_NQ == 1 ? 0 : (p))

// Four elements 4u .. 4u+3 of a vector of n, zero past n.
inline float4 load4(__global const float* v, int u, int n) {
    int j = 4 * u;
    if (j + 3 < n) {
        return vload4(u, v);
    }
    return (float4)(j < n ? v[j] : 0.0f, j + 1 < n ? v[j + 1] : 0.0f, j + 2 < n ? v[j + 2] : 0.0f,
                    j + 3 < n ? v[j + 3] : 0.0f);
}

inline acc_t sum_sq4(float4 v) {
    return (acc_t) (v.x * v.x) + (acc_t) (v.y * v.y) + (acc_t) (v.z * v.z) + (acc_t) (v.w * v.w);
}

// The maxima of n values (n <= 3) over the work-group, in place; scratch holds n * WG floats.
inline void wg_max_n(float* m, const int n, __local float* s) {
    int l = get_local_id(0);
#ifdef MMFREE_PTX
#pragma unroll
    for (int k = 0; k < n; k++) {
        for (int o = 16; o > 0; o >>= 1) {
            m[k] = fmax(m[k], shfl_xor_f(m[k], o));
        }
        if ((l & 31) == 0) {
            s[k * (WG / 32) + (l >> 5)] = m[k];
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
#pragma unroll
    for (int k = 0; k < n; k++) {
        float r = s[k * (WG / 32)];
        for (int w = 1; w < WG / 32; w++) {
            r = fmax(r, s[k * (WG / 32) + w]);
        }
        m[k] = r;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
#else
#pragma unroll
    for (int k = 0; k < n; k++) {
        s[k * WG + l] = m[k];
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = WG >> 1; h > 0; h >>= 1) {
        if (l < h) {
#pragma unroll
            for (int k = 0; k < n; k++) {
                s[k * WG + l] = fmax(s[k * WG + l], s[k * WG + l + h]);
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
#pragma unroll
    for (int k = 0; k < n; k++) {
        m[k] = s[k * WG];
    }
    barrier(CLK_LOCAL_MEM_FENCE);
#endif
}

// Four int8 codes of (h * inv2) * nw packed little-endian; adds their sum to *sum.
inline int quant_word4(float4 h, float inv2, float4 nw, float scale, int* sum) {
    int a = quant_code(h.x * inv2 * nw.x, scale);
    int b = quant_code(h.y * inv2 * nw.y, scale);
    int c = quant_code(h.z * inv2 * nw.z, scale);
    int d = quant_code(h.w * inv2 * nw.w, scale);
    *sum += a + b + c + d;
    return (a & 0xff) | ((b & 0xff) << 8) | ((c & 0xff) << 16) | ((d & 0xff) << 24);
}

// A work-group sum in two halves around a barrier the caller has anyway: code_sum_partial before it
// (with warp shuffles, each warp's sum to s[warp]; without, each work-item's to s[l]), code_sum_total
// after it, by every work-item. s: WG ints.
inline void code_sum_partial(int v, __local int* s) {
#ifdef MMFREE_PTX
    for (int o = 16; o > 0; o >>= 1) {
        v += shfl_xor_i(v, o);
    }
    if ((get_local_id(0) & 31) == 0) {
        s[get_local_id(0) >> 5] = v;
    }
#else
    s[get_local_id(0)] = v;
#endif
}

inline int code_sum_total(__local const int* s) {
    int t = 0;
#ifdef MMFREE_PTX
    for (int w = 0; w < WG / 32; w++) {
        t += s[w];
    }
#else
    for (int w = 0; w < WG; w++) {
        t += s[w];
    }
#endif
    return t;
}
