// grid.cl: what a one-launch kernel needs across its grid barriers (the HGRNBit layer, decode_layer_t2_f32.cl,
// and the Transformer++ layer, gemv/decode_layer_dense.cl): the barrier itself and loads of data that other
// work-groups of the same launch wrote before it.
//
// OpenCL 1.2 does not promise that all work-groups of a launch run at once, which a grid barrier needs: the
// hosts launch at most one work-group per compute unit of a GPU with nothing else running, and a barrier
// that waits longer than SPIN_LIMIT polls gives up and sets *error (read by the host after the step), so a
// device that does not co-schedule them fails loudly instead of hanging. GridBarriers.source defines SPIN_LIMIT
// for the device: a poll is an L2 round trip on a GPU and 0.5-1.1 ns on a CPU (PoCL), where the limit must
// also outlast the time slices a busy host takes from the thread of a work-group that has not arrived yet.
// sync: 8 bytes, zero at first ([2] int arrivals and generation, or one ulong ticket count), left ready for
// the next launch of the same work-group count.
#ifndef SPIN_LIMIT
#error "SPIN_LIMIT undefined: build grid.cl from GridBarriers.source"
#endif
// Once one barrier has given up, the launch's results are invalid: a waiter that sees the flag (every 1024 polls,
// off the path of a barrier that completes) stops too, so the launch ends after one SPIN_LIMIT instead of one a
// barrier and work-group wave (minutes on a GPU, where a poll is an L2 round trip).
#define GAVE_UP(spins, error) (((spins) & 1023) == 0 && *(error) != 0)

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
        long spins = 0;
        while (ticket + 1 < target && *count < target) {   // volatile loads, as below
            if (++spins > SPIN_LIMIT || GAVE_UP(spins, error)) {
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
            long spins = 0;
            while (sync[1] == gen) {   // a plain volatile load: polling by atomics would queue behind the arrivals
                if (++spins > SPIN_LIMIT || GAVE_UP(spins, error)) {
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

// Four elements 4u .. 4u+3 of a vector that other work-groups of the launch wrote before a grid barrier
// (the one-launch layer's inputs), zero past n: read from L2, past the L1 that is not coherent across
// compute units. With PTX one ld.global.cg.v4 where all four exist (the "memory" clobber keeps it after
// the barrier); else element by element through the volatile pointer. -DINPUT_V4=0: always the latter.
#ifndef INPUT_V4
#define INPUT_V4 1
#endif
inline float4 load4_coherent(volatile __global const float* v, int u, int n) {
    int j = 4 * u;
#if defined(MMFREE_PTX) && INPUT_V4
    if (j + 3 < n) {
        float4 r;
        asm volatile("ld.global.cg.v4.f32 {%0,%1,%2,%3}, [%4];"
                     : "=f"(r.x), "=f"(r.y), "=f"(r.z), "=f"(r.w) : "l"(v + j) : "memory");
        return r;
    }
#endif
    return (float4)(j < n ? v[j] : 0.0f, j + 1 < n ? v[j + 1] : 0.0f, j + 2 < n ? v[j + 2] : 0.0f,
                    j + 3 < n ? v[j + 3] : 0.0f);
}
