// argmax_f32: greedy sampling, ids[t] = the index of the largest logits[t][.] (the lowest index on ties;
// NaNs are never chosen). logits: [rows][V] f32 with row stride `stride`; ids: [rows] int.
// Launch: global = rows * WG, local = WG. Local: value [WG] f32, index [WG] int.

__kernel void argmax_f32(__global const float* logits, const int V, const int stride, __global int* ids,
                         __local float* value, __local int* index) {
    int l = get_local_id(0);
    int t = get_group_id(0);
    __global const float* row = logits + (size_t) t * stride;
    float best = -INFINITY;
    int at = V;
    for (int j = l; j < V; j += WG) {
        float v = row[j];
        if (v > best) {
            best = v;
            at = j;
        }
    }
    value[l] = best;
    index[l] = at;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int k = WG >> 1; k > 0; k >>= 1) {
        if (l < k) {
            float v = value[l + k];
            int i = index[l + k];
            if (v > value[l] || (v == value[l] && i < index[l])) {
                value[l] = v;
                index[l] = i;
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (l == 0) {
        ids[t] = index[0] < V ? index[0] : 0;
    }
}
