// decode_layer_t2_f32: a whole HGRNBit layer of one batch-1 decode step in one launch, the four
// phases of decode_phase.cl (stamped out by the host as phase_ifg, phase_o, phase_gu, phase_down,
// their inputs VOL = volatile) separated by grid-wide barriers:
//   x, stateIn -> [ifg + MLGRU] -> g, gate, stateOut | [o_proj, x +=] | [gate_up + SwiGLU] -> v | [down_proj, x +=]
// Every work-group computes a phase's input side once, then takes row blocks group, group + G, ...
// OpenCL 1.2 does not promise that all G work-groups run at once, which a grid barrier needs; the
// host launches at most one work-group per compute unit of a GPU with nothing else running, and a
// barrier that waits longer than SPIN_LIMIT polls gives up and sets *error (read by the host after
// the step), so a device that does not co-schedule them fails loudly instead of hanging.
// sync: [2] int, arrival count and generation (or, with ticket barriers, one ulong count), zero at first,
// left ready for the next launch.
// Launch: global = G * WG, local = WG, G <= compute units.
// Local: q [3][kPad of max(d, I / 3)] int8, part [3][WG] int, scratch [3 * WG] acc_t.

#define SPIN_LIMIT (1 << 26)

#ifdef MMFREE_TRACE
#define TRACE_SYNC(phase) trace_mark(trace, phase, 9)
#else
#define TRACE_SYNC(phase)
#endif

// With 64-bit atomics the barrier is a ticket count that never resets: sync, read as one ulong, counts
// every arrival of every launch, the k-th barrier's arrivals draw tickets [k G, (k + 1) G), and a work-group
// waits until the count reaches the end of its ticket's range. After the last arrival nothing more is
// written: one atomic round trip and the waiters' next poll, where the generation barrier below needs the
// last arrival's reset, a fence and a second atomic. No work-group draws a ticket of barrier k + 1 before
// all have drawn theirs of k, so the ranges never mix; 2^64 arrivals do not wrap. -DGRID_SYNC_TICKET=0: the other.
#ifndef GRID_SYNC_TICKET
#define GRID_SYNC_TICKET 1
#endif
#if GRID_SYNC_TICKET && (defined(MMFREE_PTX) || defined(cl_khr_int64_base_atomics))
#define TICKET_SYNC 1
#ifndef MMFREE_PTX
#pragma OPENCL EXTENSION cl_khr_int64_base_atomics : enable
#endif
#endif

// All work-groups of the launch meet here; their global writes before it are visible after it.
inline void grid_sync(volatile __global int* sync, volatile __global int* error) {
    barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
    if (get_local_id(0) == 0) {
        int groups = (int) get_num_groups(0);
        mem_fence(CLK_GLOBAL_MEM_FENCE);
#ifdef TICKET_SYNC
        volatile __global ulong* count = (volatile __global ulong*) sync;
        ulong ticket;
#ifdef MMFREE_PTX
        asm volatile("atom.global.add.u64 %0, [%1], %2;" : "=l"(ticket) : "l"(count), "l"(1UL) : "memory");
#else
        ticket = (ulong) atom_inc((volatile __global long*) count);
#endif
        ulong target = (ticket / (ulong) groups + 1) * (ulong) groups;
        int spins = 0;
        while (ticket + 1 < target && *count < target) {   // volatile loads, as below
            if (++spins > SPIN_LIMIT) {
                atomic_xchg(error, 1);
                break;
            }
        }
#else
        int gen = sync[1];
        if (atomic_inc(&sync[0]) == groups - 1) {
            atomic_xchg(&sync[0], 0);
            mem_fence(CLK_GLOBAL_MEM_FENCE);
            atomic_inc(&sync[1]);
        } else {
            int spins = 0;
            while (sync[1] == gen) {   // a plain volatile load: polling by atomics would queue behind the arrivals
                if (++spins > SPIN_LIMIT) {
                    atomic_xchg(error, 1);
                    break;
                }
            }
        }
#endif
        mem_fence(CLK_GLOBAL_MEM_FENCE);
    }
    barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
}

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
