// half8.cl: the KV cache's element type (kvtype: half with KV_F16, else float) and eight fp16 values in global
// memory as floats, for the Transformer++ kernels (gemv/dense_common.cl and attention/attention_common.cl, which
// are built after it). NVIDIA's OpenCL has no cl_khr_fp16 and compiles vload_half8 and vloada_half8 into eight
// 2-byte loads. With its inline PTX (MMFREE_PTX) the eight come as one 16-byte load and eight exact cvt.f32.f16:
// the fp16 GEMV went 1.3-1.6x faster on the H200 that way, and the attention's cache reads 2-4x
// (bench/results/nvidia-h200/2026-11-29/dense-gemv, attention-words). Both also take NVIDIA's warp shuffle from here.
#ifndef HALF8_DEFINED
#define HALF8_DEFINED
#ifdef KV_F16
typedef half kvtype;
#else
typedef float kvtype;
#endif

#ifdef MMFREE_PTX
inline float2 half2_ptx(uint u) {
    float a, b;
    asm("{ .reg .b16 lo, hi;\n mov.b32 {lo, hi}, %2;\n cvt.f32.f16 %0, lo;\n cvt.f32.f16 %1, hi;\n }"
        : "=f"(a), "=f"(b) : "r"(u));
    return (float2)(a, b);
}

// Halves 8i .. 8i + 7 of p, which must be 16-byte aligned.
inline float8 load_half8_ptx(int i, __global const half* p) {
    uint4 u = ((__global const uint4*) p)[i];
    return (float8)(half2_ptx(u.x), half2_ptx(u.y), half2_ptx(u.z), half2_ptx(u.w));
}

// v of the lane whose id is this lane's xor mask, in a warp of 32 whose lanes all call it. Through int
// registers, the form measured to build and give exact results on the H200.
inline float dense_shfl_xor(float v, int mask) {
    int r;
    asm volatile("shfl.sync.bfly.b32 %0, %1, %2, 0x1f, 0xffffffff;" : "=r"(r) : "r"(as_int(v)), "r"(mask));
    return as_float(r);
}
#endif
#endif
