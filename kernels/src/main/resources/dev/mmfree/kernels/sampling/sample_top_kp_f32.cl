// sample_top_kp_f32: temperature / top-k / top-p sampling of rows of logits, as SamplerReference does.
//   order   : i by l[i] descending, ties by lower i: key (hi, i), hi = ~sortable(l[i]) ascending
//   top-k   : keep the first m = min(k, V) of the order (k = 0: all)
//   weights : w[i] = exp((l[i] - lmax) / T) in double; Z = sum over the kept
//   top-p   : if p < 1, keep the shortest prefix of the order whose running sum of w reaches p * Z
//   draw    : S = sum of kept w; the first kept i (ascending) whose running sum in index order is > u * S;
//             if rounding leaves none, the last kept i with w > 0
// logits: [rows][stride] f32 (V scored); u: [rows] double (one uniform per row and step, from the host);
// w: [rows][V] double scratch; ids: [rows] int out, -1 where a row has NaN, +Inf or no finite logit.
// One work-group per row. Cutoffs are found by bisection on hi with work-group counts or masses (32
// rounds each), then ties by index; sums are trees, not the reference's sequential sums, so a token
// may differ only where u * S or p * Z lands within rounding of a running-sum boundary.
// Needs fp64. Launch: global = rows * WG, local = WG. Local: sd [WG] double, si [WG] int.

inline int order_hi(float x) {
    int b = as_int(x + 0.0f);
    return ~(b ^ ((b >> 31) & 0x7fffffff));
}

// Exclusive prefix sums over the work-group (Hillis-Steele in s).
inline int wg_scan_excl_int(int v, __local int* s) {
    int l = get_local_id(0);
    s[l] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int off = 1; off < WG; off <<= 1) {
        int a = l >= off ? s[l - off] : 0;
        barrier(CLK_LOCAL_MEM_FENCE);
        s[l] += a;
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    int r = l > 0 ? s[l - 1] : 0;
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

inline double wg_scan_excl_d(double v, __local double* s) {
    int l = get_local_id(0);
    s[l] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int off = 1; off < WG; off <<= 1) {
        double a = l >= off ? s[l - off] : 0.0;
        barrier(CLK_LOCAL_MEM_FENCE);
        s[l] += a;
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    double r = l > 0 ? s[l - 1] : 0.0;
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

// The index of the n-th (1-based) i in ascending order with order_hi(row[i]) == h (and w[i] > 0 when
// positive); V when there are fewer. Each work-item scans a contiguous block.
inline int nth_tie(__global const float* row, __global const double* w, int V, int h, int n, int positive,
                   __local int* si, __local int* res) {
    int l = get_local_id(0);
    int block = (V + WG - 1) / WG;
    int from = min(V, l * block);
    int to = min(V, from + block);
    int c = 0;
    for (int i = from; i < to; i++) {
        c += order_hi(row[i]) == h && (!positive || w[i] > 0.0);
    }
    if (l == 0) {
        res[0] = V;
    }
    int before = wg_scan_excl_int(c, si);
    if (before < n && n <= before + c) {
        int seen = before;
        for (int i = from; i < to; i++) {
            if (order_hi(row[i]) == h && (!positive || w[i] > 0.0) && ++seen == n) {
                res[0] = i;
            }
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    int r = res[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

__kernel void sample_top_kp_f32(__global const float* logits, const int V, const int stride,
                                const double temperature, const int topK, const double topP,
                                __global const double* u, __global double* w, __global int* ids,
                                __local double* sd, __local int* si) {
    __local int res[1];
    int l = get_local_id(0);
    int t = get_group_id(0);
    __global const float* row = logits + (size_t) t * stride;
    __global double* wr = w + (size_t) t * V;

    int bad = 0;
    float m = -INFINITY;
    for (int i = l; i < V; i += WG) {
        float x = row[i];
        bad |= isnan(x) || x == INFINITY;
        m = fmax(m, x);
    }
    bad = wg_sum_int(bad, si, WG);
    float lmax = wg_max_f(m, (__local float*) si, WG);
    bad |= lmax == -INFINITY;

    // top-k: the smallest hk with count(hi <= hk) >= kept, then the index cutoff ik among ties at hk
    int kept = topK > 0 && topK < V ? topK : V;
    long lo = INT_MIN;
    long hi = INT_MAX;
    for (int round = 0; round < (kept < V ? 32 : 0); round++) {
        long mid = lo + (hi - lo) / 2;
        int c = 0;
        for (int i = l; i < V; i += WG) {
            c += order_hi(row[i]) <= mid;
        }
        if (wg_sum_int(c, si, WG) >= kept) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    int hk = kept < V ? (int) lo : INT_MAX;   // INT_MAX: no real key (only a NaN maps there)
    int less = 0;
    for (int i = l; i < V; i += WG) {
        less += order_hi(row[i]) < hk;
    }
    less = wg_sum_int(less, si, WG);
    int ik = nth_tie(row, wr, V, hk, max(1, kept - less), 0, si, res);

    double z = 0.0;
    for (int i = l; i < V; i += WG) {
        int h = order_hi(row[i]);
        double wi = h < hk || (h == hk && i <= ik) ? exp(((double) row[i] - lmax) / temperature) : 0.0;
        wr[i] = wi;
        z += wi;
    }
    z = wg_sum_acc(z, sd, WG);
    barrier(CLK_GLOBAL_MEM_FENCE);

    // top-p: the smallest hp with mass(hi <= hp) >= p * Z, then the ties at hp (one weight) in index
    // order until the running mass reaches p * Z
    int nucleus = topP < 1.0;
    double target = topP * z;
    lo = INT_MIN;
    hi = INT_MAX;
    for (int round = 0; round < (nucleus ? 32 : 0); round++) {
        long mid = lo + (hi - lo) / 2;
        double s = 0.0;
        for (int i = l; i < V; i += WG) {
            s += order_hi(row[i]) <= mid ? wr[i] : 0.0;
        }
        if (wg_sum_acc(s, sd, WG) >= target) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    int hp = nucleus ? (int) lo : INT_MAX;
    double massLess = 0.0;
    int ties = 0;
    for (int i = l; i < V; i += WG) {
        int h = order_hi(row[i]);
        massLess += h < hp ? wr[i] : 0.0;
        ties += h == hp && wr[i] > 0.0;
    }
    massLess = wg_sum_acc(massLess, sd, WG);
    ties = wg_sum_int(ties, si, WG);
    int firstTie = nth_tie(row, wr, V, hp, 1, 1, si, res);
    double wTie = firstTie < V ? wr[firstTie] : 0.0;
    int need = 0;
    double run = massLess;
    while (need < ties) {
        run += wTie;
        need++;
        if (run >= target) {
            break;
        }
    }
    int ip = nth_tie(row, wr, V, hp, max(1, need), 1, si, res);
    if (hp != INT_MAX) {
        for (int i = l; i < V; i += WG) {
            int h = order_hi(row[i]);
            if (h > hp || (h == hp && i > ip)) {
                wr[i] = 0.0;
            }
        }
    }
    barrier(CLK_GLOBAL_MEM_FENCE);

    // draw: blocks in index order, their sums scanned; the block holding the crossing walks it
    int block = (V + WG - 1) / WG;
    int from = min(V, l * block);
    int to = min(V, from + block);
    double bs = 0.0;
    int last = -1;
    for (int i = from; i < to; i++) {
        if (wr[i] > 0.0) {
            bs += wr[i];
            last = i;
        }
    }
    double before = wg_scan_excl_d(bs, sd);
    double goal = u[t] * wg_sum_acc(bs, sd, WG);
    int lastPositive = wg_max_int(last, si, WG);
    if (l == 0) {
        res[0] = V;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (before <= goal && goal < before + bs) {
        double acc = before;
        for (int i = from; i < to; i++) {
            if (wr[i] > 0.0) {
                acc += wr[i];
                if (acc > goal) {
                    atomic_min(&res[0], i);
                    break;
                }
            }
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (l == 0) {
        ids[t] = bad ? -1 : (res[0] < V ? res[0] : lastPositive);
    }
}
