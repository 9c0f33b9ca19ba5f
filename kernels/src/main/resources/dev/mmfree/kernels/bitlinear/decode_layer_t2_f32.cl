// decode_layer_t2_f32: a whole HGRNBit layer of one batch-1 decode step in one launch, the four
// phases of decode_phase.cl (stamped out by the host as phase_ifg, phase_o, phase_gu, phase_down,
// their inputs VOL = volatile) separated by grid-wide barriers:
//   x, stateIn -> [ifg + MLGRU] -> g, gate, stateOut | [o_proj, x +=] | [gate_up + SwiGLU] -> v | [down_proj, x +=]
// Every work-group computes a phase's input side once, then takes row blocks group, group + G, ...
// The grid barriers (grid_sync), their co-scheduling and their sync state: opencl/grid.cl.
// Launch: global = G * WG, local = WG, G <= compute units.
// Local: q [3][kPad of max(d, I / 3)] int8, part [3][WG] int, scratch [3 * WG] acc_t.

#ifdef MMFREE_TRACE
#define TRACE_SYNC(phase) trace_mark(trace, phase, 9)
#else
#define TRACE_SYNC(phase)
#endif

__kernel void decode_layer_t2_f32(volatile __global float* x, volatile __global const float* stateIn,
                                  volatile __global float* stateOut,
                                  volatile __global float* g, volatile __global float* gate, volatile __global float* v,
                                  const float eps, const float eps2, const int d, const int I,
                                  __global const float* attnNorm, __global const float* ifgNorms, __global const float* lb,
                                  __global const uint4* wIfg, __global const float* sIfg, const int ifgOutPad,
                                  __global const float* gNorm, __global const float* oNorm,
                                  __global const uint4* wO, __global const float* sO, const int oRowsPad,
                                  __global const float* mlpNorm, __global const float* gateNorm,
                                  __global const uint4* wGu, __global const float* sGu, const int guRowsPad,
                                  __global const float* downNorm,
                                  __global const uint4* wDown, __global const float* sDown, const int downRowsPad,
                                  volatile __global int* sync, volatile __global int* error TRACE_KPARAM,
                                  __local int4* q4, __local int* part, __local acc_t* scratch) {
    int group = get_group_id(0);
    int groups = get_num_groups(0);
    int chunksD = (d + 63) / 64;
    int chunksI = (I + 63) / 64;
    phase_ifg(x, attnNorm, eps, x, ifgNorms, eps2, wIfg, sIfg, d, d, ifgOutPad, 3 * ifgOutPad, chunksD,
              g, gate, 0, lb, stateIn, stateOut, q4, part, scratch, group, groups TRACE_ARG(0));
    grid_sync(sync, error);
    TRACE_SYNC(0);
    phase_o(g, gNorm, eps, gate, oNorm, eps2, wO, sO, d, d, 0, oRowsPad, chunksD,
            x, x, 1, lb, stateIn, stateOut, q4, part, scratch, group, groups TRACE_ARG(1));
    grid_sync(sync, error);
    TRACE_SYNC(1);
    phase_gu(x, mlpNorm, eps, x, gateNorm, eps2, wGu, sGu, d, I, I, guRowsPad, chunksD,
             v, v, 0, lb, stateIn, stateOut, q4, part, scratch, group, groups TRACE_ARG(2));
    grid_sync(sync, error);
    TRACE_SYNC(2);
    phase_down(v, downNorm, 0.0f, v, downNorm, eps2, wDown, sDown, I, d, 0, downRowsPad, chunksI,
               x, x, 1, lb, stateIn, stateOut, q4, part, scratch, group, groups TRACE_ARG(3));
}
