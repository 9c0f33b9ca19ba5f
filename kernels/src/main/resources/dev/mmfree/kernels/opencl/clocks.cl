// clocks.cl: the GPU's clocks for the diagnostic traces, read through inline PTX (zeros without it): %globaltimer
// in ns, one clock for all SMs; %clock64, this SM's cycles; %smid, the SM that runs the work-item.
inline ulong clock_ns(void) {
    ulong t = 0;
#ifdef MMFREE_PTX
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
#endif
    return t;
}

inline ulong clock_cycles(void) {
    ulong c = 0;
#ifdef MMFREE_PTX
    asm volatile("mov.u64 %0, %%clock64;" : "=l"(c));
#endif
    return c;
}

inline uint sm_id(void) {
    uint sm = 0;
#ifdef MMFREE_PTX
    asm volatile("mov.u32 %0, %%smid;" : "=r"(sm));
#endif
    return sm;
}
