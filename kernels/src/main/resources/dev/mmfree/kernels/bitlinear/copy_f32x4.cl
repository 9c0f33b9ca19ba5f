// copy_f32x4: b = a, float4 a work-item; the memory roofline the BitLinear benchmark compares against.
__kernel void copy_f32x4(__global const float4* a, __global float4* b) {
    size_t i = get_global_id(0);
    b[i] = a[i];
}

// empty_launch: does nothing; timing it back to back measures the cost of a launch.
__kernel void empty_launch(__global int* sink) {
    if (get_global_id(0) == (size_t) -1) {
        sink[0] = 1;
    }
}
