// rows_gather_*: the embedding lookup x[r] = W[ids[r]] on a stored weight matrix (dense_common.cl layout),
// converted to float32. ids: ids[idsOff + r] (ids checked on the host); W: [V, kPad]; x: [rows, d] f32.
// Launch: global = (roundUp(d, 64), rows), local = (64, 1).

__kernel void KNAME(rows_gather)(__global const wtype* w, const int kPad, __global const int* ids, const int idsOff,
                                 __global float* x, const int d) {
    int j = get_global_id(0);
    int r = get_global_id(1);
    if (j < d) {
        x[(size_t) r * d + j] = LOAD_W1((size_t) ids[idsOff + r] * kPad + j, w);
    }
}
