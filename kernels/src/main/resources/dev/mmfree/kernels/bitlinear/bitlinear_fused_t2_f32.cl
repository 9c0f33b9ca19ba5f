// bitlinear_fused_t2_f32: one token through a BitLinear with its whole input side and an epilogue
// fused in, the batch-1 decode kernel: one launch a BitLinear, one row block a work-group. The math,
// shapes and loads are decode_phase.cl's, stamped out by the host as phase_main with its defines.
// Launch: global = ceil(rows / ROWS) * WG, local = WG.

__kernel void bitlinear_fused_t2_f32(__global const float* x, __global const float* norm1, const float eps1,
                                     __global const float* mult, __global const float* norm2, const float eps2,
                                     __global const uint4* w, __global const float* wscale,
                                     const int K, const int rows, const int rowStride, const int rowsPad, const int chunks,
                                     __global float* y, __global float* y2, const int accumulate,
                                     __global const float* lb, __global const float* stateIn, __global float* stateOut,
                                     __local int4* q4, __local int* part, __local acc_t* scratch) {
    phase_main(x, norm1, eps1, mult, norm2, eps2, w, wscale, K, rows, rowStride, rowsPad, chunks, y, y2, accumulate,
               lb, stateIn, stateOut, q4, part, scratch, get_group_id(0), get_num_groups(0) TRACE_ARG(0));
}
