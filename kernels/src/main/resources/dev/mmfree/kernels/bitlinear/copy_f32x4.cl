// copy_f32x4: b = a, float4 a work-item; the memory roofline the BitLinear benchmark compares against.
__kernel void copy_f32x4(__global const float4* a, __global float4* b) {
    size_t i = get_global_id(0);
    b[i] = a[i];
}

// read_f32x4: reads a, float4 a work-item, and writes only where a float4 sums below zero, which the
// benchmark's data (1.0f) never does: the roofline of a kernel that only reads, as a GEMV does.
__kernel void read_f32x4(__global const float4* a, __global float* sink) {
    float4 v = a[get_global_id(0)];
    float s = v.x + v.y + v.z + v.w;
    if (s < 0.0f) {
        sink[0] = s;
    }
}

// empty_launch: does nothing; timing it back to back measures the cost of a launch.
__kernel void empty_launch(__global int* sink) {
    if (get_global_id(0) == (size_t) -1) {
        sink[0] = 1;
    }
}

#ifdef GEMV_TRACE
// read_f32x4_traced: read_f32x4 with opencl/trace.cl's marks 0 (entry) and 3 (every work-item's read done), the
// roofline beside a traced GEMV (host: dev.mmfree.kernels.bitlinear.GemvTrace).
__kernel void read_f32x4_traced(__global const float4* a, __global float* sink, __global ulong* trace) {
    trace_stamp(trace, 0);
    float4 v = a[get_global_id(0)];
    float s = v.x + v.y + v.z + v.w;
    if (s < 0.0f) {
        sink[0] = s;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    trace_stamp(trace, 3);
}
#endif
