// decode_layer_t2_f32: whole HGRNBit layers of one batch-1 decode step in one launch, the four
// phases of decode_phase.cl (stamped out by the host as phase_ifg, phase_o, phase_gu, phase_down,
// their inputs VOL = volatile) separated by grid-wide barriers:
//   x, stateIn -> [ifg + MLGRU] -> g, gate, stateOut | [o_proj, x +=] | [gate_up + SwiGLU] -> v | [down_proj, x +=]
// `layers` layers run in turn, a grid barrier between them. Layer l's tensors sit at l times their stride
// (in elements: floats, or uint4 words for codes) past the pointers given, as the host stacks them in one
// buffer a kind; with layers = 1 the strides are unused. One launch for all layers is one enqueue a step
// instead of one a layer, and an enqueue costs the host 5-40 us in NVIDIA's driver. The host builds the
// one-layer launches with LAYER_LOOP 0, which leaves the loop out: PoCL takes minutes to compile grid
// barriers inside a loop.
#ifndef LAYER_LOOP
#define LAYER_LOOP 1
#endif
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
                                  volatile __global int* sync, volatile __global int* error,
                                  const int layers, const int sVec, const int sIfgNorms, const int sDownNorm,
                                  const int sScales, const int sWIfg, const int sWO, const int sWGu, const int sWDown TRACE_KPARAM,
                                  __local int4* q4, __local int* part, __local acc_t* scratch) {
    int group = get_group_id(0);
    int groups = get_num_groups(0);
    int chunksD = (d + 63) / 64;
    int chunksI = (I + 63) / 64;
#if LAYER_LOOP
    for (int l = 0; l < layers; l++) {
        if (l > 0) {
            grid_sync(sync, error);   // layer l - 1's x before layer l reads it
        }
#else
    {
        const int l = 0;
#endif
        size_t at = (size_t) l * sVec;   // this layer's [d] vectors: norms, lower bound, state
        __global const float* sIfgL = sIfg + (size_t) l * sScales;
        __global const float* sOL = sO + (size_t) l * sScales;
        __global const float* sGuL = sGu + (size_t) l * sScales;
        __global const float* sDownL = sDown + (size_t) l * sScales;
        phase_ifg(x, attnNorm + at, eps, x, ifgNorms + (size_t) l * sIfgNorms, eps2, wIfg + (size_t) l * sWIfg, sIfgL, d, d,
                  ifgOutPad, 3 * ifgOutPad, chunksD, g, gate, 0, lb + at, stateIn + at, stateOut + at, q4, part, scratch,
                  group, groups TRACE_ARG(0));
        grid_sync(sync, error);
        TRACE_SYNC(0);
        phase_o(g, gNorm + at, eps, gate, oNorm + at, eps2, wO + (size_t) l * sWO, sOL, d, d, 0, oRowsPad, chunksD,
                x, x, 1, lb + at, stateIn + at, stateOut + at, q4, part, scratch, group, groups TRACE_ARG(1));
        grid_sync(sync, error);
        TRACE_SYNC(1);
        phase_gu(x, mlpNorm + at, eps, x, gateNorm + at, eps2, wGu + (size_t) l * sWGu, sGuL, d, I, I, guRowsPad, chunksD,
                 v, v, 0, lb + at, stateIn + at, stateOut + at, q4, part, scratch, group, groups TRACE_ARG(2));
        grid_sync(sync, error);
        TRACE_SYNC(2);
        __global const float* downNormL = downNorm + (size_t) l * sDownNorm;
        phase_down(v, downNormL, 0.0f, v, downNormL, eps2, wDown + (size_t) l * sWDown, sDownL, I, d, 0, downRowsPad, chunksI,
                   x, x, 1, lb + at, stateIn + at, stateOut + at, q4, part, scratch, group, groups TRACE_ARG(3));
    }
}
