// trace.cl: a diagnostic build's clock marks (GEMV_TRACE; host: dev.mmfree.kernels.bitlinear.GemvTrace), after clocks.cl.
// Work-item 0 of each work-group writes trace[group * TRACE_SLOTS + m] = %globaltimer (ns, one clock for all
// SMs) at mark m, and at mark 0 also the SM it runs on into the last slot. Without MMFREE_PTX (PoCL) the
// clocks read 0, so a traced kernel still runs everywhere and computes the same results.
#define TRACE_SLOTS 5

inline void trace_stamp(__global ulong* trace, int m) {
    if (get_local_id(0) == 0) {
        size_t at = (size_t) get_group_id(0) * TRACE_SLOTS;
        trace[at + m] = clock_ns();
        if (m == 0) {
            trace[at + TRACE_SLOTS - 1] = sm_id();
        }
    }
}
