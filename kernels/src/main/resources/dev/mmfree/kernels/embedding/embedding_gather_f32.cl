// embedding_gather_f32: x[t] = E[ids[t]], rows of the embedding table.
// ids: [rows] int (checked on the host); table: [V][d] f32; x: [rows][d] f32.
// Launch: global = (roundUp(d, 64), rows), local = (64, 1).

__kernel void embedding_gather_f32(__global const int* ids, __global const float* table, __global float* x, const int d) {
    int j = get_global_id(0);
    int t = get_global_id(1);
    if (j < d) {
        x[(size_t) t * d + j] = table[(size_t) ids[t] * d + j];
    }
}
