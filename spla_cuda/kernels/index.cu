// Indexing reads of CSR storage (spla_cuda/index.py): A[rows], A[mask], A[rows, cols]
// (points), A[i, j], and selections of rows and columns (A[ix_(r, c)], A[:, cols]).
//
// Keys stay on the device. Every kernel that reads a key resolves negative
// indices and checks bounds on the way: a key out of range reads nothing and
// is noted in `stat` (zeroed by the caller), which the host reads once, with the
// output size, to raise SciPy's IndexError:
//   stat[2 * a]     = max(v + 1) over the keys v >= n of axis a (0: none),
//   stat[2 * a + 1] = max(-v)    over the keys v < -n of axis a (0: none).
// Only a key out of range touches `stat`, so the atomics cost nothing otherwise.
//
// A row selection is an int64 key array `keys` (nullptr: the rows r0 + t * rstep).
// Values are moved as bytes (V: a type of the value's size), except by the
// point reads, which may sum duplicates of non-canonical storage (V: the value type).
#include "common.cuh"

// 16 bytes (complex128) moved as two 8-byte words (complex128 is 8-byte aligned).
struct idx_b16 {
    unsigned long long lo, hi;
};

// The row of selection entry t, or -1 when its key is out of range (noted in stat).
__device__ __forceinline__ i64 selected_row(const i64* keys, i64 r0, i64 rstep, i64 t, i64 m,
                                            i64* stat)
{
    if (keys == nullptr) return r0 + t * rstep;
    const i64 v = keys[t];
    if (v >= m) {
        atomicMax(stat, v + 1);
        return -1;
    }
    if (v < -m) {
        atomicMax(stat + 1, -v);
        return -1;
    }
    return v < 0 ? v + m : v;
}

// A row selection's key without the check (the count kernel checked it).
__device__ __forceinline__ i64 row_of(const i64* keys, i64 r0, i64 rstep, i64 t, i64 m)
{
    if (keys == nullptr) return r0 + t * rstep;
    const i64 v = keys[t];
    return v < 0 ? v + m : v;
}

// lens[t + 1] = the length of selected row t (0 for a key out of range), and
// stat[2] = the longest selected row (clamped to 2^31 - 1): the host picks the fill.
template <typename I>
__global__ void idx_rows_count(const I* __restrict__ indptr, const i64* __restrict__ keys, i64 r0,
                               i64 rstep, i64 n_rows, i64 m, i64* __restrict__ lens,
                               i64* __restrict__ stat)
{
    __shared__ unsigned longest;
    if (threadIdx.x == 0) longest = 0;
    __syncthreads();
    const i64 t = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    i64 len = 0;
    if (t < n_rows) {
        const i64 r = selected_row(keys, r0, rstep, t, m, stat);
        len = r < 0 ? 0 : (i64)(indptr[r + 1] - indptr[r]);
        lens[t + 1] = len;
    }
    const unsigned w = __reduce_max_sync(0xffffffffu, (unsigned)min(len, (i64)0x7fffffff));
    if ((threadIdx.x & 31) == 0 && w) atomicMax(&longest, w);
    __syncthreads();
    if (threadIdx.x == 0 && longest) atomicMax(stat + 2, (i64)longest);
}

// Copy the selected rows: L lanes (a power of two <= 32) per row, offs the running
// sum of the lengths (offs[0] = 0). Thread group t = n_rows only writes the last
// entry of the output row pointer.
template <typename I, typename O, typename V>
__global__ void idx_rows_fill(const I* __restrict__ indptr, const I* __restrict__ indices,
                              const V* __restrict__ data, const i64* __restrict__ keys, i64 r0,
                              i64 rstep, i64 n_rows, i64 m, int L, const i64* __restrict__ offs,
                              O* __restrict__ out_indptr, O* __restrict__ out_indices,
                              V* __restrict__ out_data)
{
    const i64 g = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    const i64 t = g / L;
    const int sub = (int)(g % L);
    if (t > n_rows) return;
    if (sub == 0) out_indptr[t] = (O)offs[t];
    if (t == n_rows) return;
    const i64 r = row_of(keys, r0, rstep, t, m);
    const i64 a = indptr[r], b = indptr[r + 1];
    const i64 d = offs[t] - a;
    for (i64 e = a + sub; e < b; e += L) {
        out_indices[d + e] = (O)indices[e];
        out_data[d + e] = data[e];
    }
}

// The same copy balanced by output entries, for selections with rows far longer
// than the others: each warp copies CHUNK consecutive output entries at a time,
// finding the row of the first by a binary search of offs and walking on (one
// dimension of the grid strides over the chunks; the threads also write the
// output row pointer).
template <typename I, typename O, typename V>
__global__ void idx_rows_fill_balanced(const I* __restrict__ indptr, const I* __restrict__ indices,
                                       const V* __restrict__ data, const i64* __restrict__ keys,
                                       i64 r0, i64 rstep, i64 n_rows, i64 m, i64 nnz,
                                       const i64* __restrict__ offs, O* __restrict__ out_indptr,
                                       O* __restrict__ out_indices, V* __restrict__ out_data)
{
    constexpr i64 CHUNK = 1024;
    const i64 g = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    const i64 n_threads = (i64)gridDim.x * blockDim.x;
    for (i64 t = g; t <= n_rows; t += n_threads) out_indptr[t] = (O)offs[t];
    const int lane = threadIdx.x & 31;
    const i64 n_warps = n_threads >> 5;
    for (i64 e0 = (g >> 5) * CHUNK; e0 < nnz; e0 += n_warps * CHUNK) {
        const i64 e1 = min(e0 + CHUNK, nnz);
        i64 lo = 0, hi = n_rows;  // offs[lo] <= e0 < offs[hi] (offs[n_rows] = nnz)
        while (hi - lo > 1) {
            const i64 mid = lo + ((hi - lo) >> 1);
            if (offs[mid] <= e0) lo = mid;
            else hi = mid;
        }
        for (i64 t = lo;; ++t) {
            const i64 s = offs[t], f = offs[t + 1];
            const i64 a = max(s, e0), b = min(f, e1);
            if (a < b) {
                const i64 src = (i64)indptr[row_of(keys, r0, rstep, t, m)] - s;
                for (i64 e = a + lane; e < b; e += 32) {
                    out_indices[e] = (O)indices[src + e];
                    out_data[e] = data[src + e];
                }
            }
            if (f >= e1) break;
        }
    }
}

// ---- points and scalars ----------------------------------------------------------------

// The value at (r, c) (in range) of CSR storage. mode 0: rows sorted without
// duplicates (the value copied); 1: rows sorted, duplicates summed; 2: rows in
// any order, duplicates summed. V: the value type (float16: its bits, mode 0).
template <typename I, typename V>
__device__ __forceinline__ V value_at(const I* __restrict__ indptr, const I* __restrict__ indices,
                                      const V* __restrict__ data, i64 r, i64 c, int mode)
{
    i64 a = indptr[r];
    const i64 b = indptr[r + 1];
    V v = V();
    if (mode == 2) {
        for (i64 e = a; e < b; ++e)
            if ((i64)indices[e] == c) v = v + data[e];
        return v;
    }
    i64 hi = b;
    while (a < hi) {  // the first entry with a column >= c
        const i64 mid = a + ((hi - a) >> 1);
        if ((i64)indices[mid] < c) a = mid + 1;
        else hi = mid;
    }
    if (mode == 0) {
        if (a < b && (i64)indices[a] == c) v = data[a];
    } else {
        for (; a < b && (i64)indices[a] == c; ++a) v = v + data[a];
    }
    return v;
}

// out[t] = A[rows[t], cols[t]], one thread per point; stat holds 4 slots (axis 0:
// rows, axis 1: columns). rows == nullptr: out[0] = A[i, j] (in range), one thread.
template <typename I, typename V>
__global__ void idx_points(const I* __restrict__ indptr, const I* __restrict__ indices,
                           const V* __restrict__ data, const i64* __restrict__ rows,
                           const i64* __restrict__ cols, i64 i, i64 j, i64 k, i64 m, i64 n,
                           int mode, V* __restrict__ out, i64* __restrict__ stat)
{
    const i64 t = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= k) return;
    if (rows == nullptr) {
        out[0] = value_at(indptr, indices, data, i, j, mode);
        return;
    }
    const i64 r = selected_row(rows, 0, 0, t, m, stat);
    const i64 c = selected_row(cols, 0, 0, t, n, stat + 2);
    out[t] = (r < 0 || c < 0) ? V() : value_at(indptr, indices, data, r, c, mode);
}

// ---- selections of columns ---------------------------------------------------------------

// The column map of a key array cols (k keys, K = long long) of an axis of n columns:
// cnt[c] = how often c is asked for, first[c] = its first position (cnt, first
// set to 0 and 0xffffffff by the caller); stat[4] = 1 when a column is asked for
// twice, 2 when one is asked for more than SHORT_LIST times (stat[2], stat[3]: the
// columns' bounds, as above).
constexpr int SHORT_LIST = 32;

template <typename K>
__global__ void idx_column_map(const K* __restrict__ cols, i64 k, i64 n, int* __restrict__ cnt,
                               unsigned* __restrict__ first, i64* __restrict__ stat)
{
    const i64 t = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= k) return;
    const i64 c = selected_row(cols, 0, 0, t, n, stat + 2);
    if (c < 0) return;
    const int before = atomicAdd(cnt + c, 1);
    if (before == 1) atomicMax(stat + 4, (i64)1);
    if (before == SHORT_LIST) atomicMax(stat + 4, (i64)2);
    atomicMin(first + c, (unsigned)t);
}

// The position lists of a column map with repeats, by counting: each position t of
// the (checked) keys goes to a free slot of its column's list, order[start[c] ..
// start[c] + cnt[c]) (cursor: n zeros), in any order; idx_column_lists_sort then
// puts each list in increasing order, as a stable sort of the keys would.
template <typename K>
__global__ void idx_column_lists_scatter(const K* __restrict__ cols, i64 k, i64 n,
                                         const i64* __restrict__ start, unsigned* __restrict__ cursor,
                                         i64* __restrict__ order)
{
    const i64 t = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= k) return;
    const i64 v = cols[t];
    const i64 c = v < 0 ? v + n : v;
    order[start[c] + atomicAdd(cursor + c, 1u)] = t;
}

// Insertion sort of each column's list of positions (P: their type). The caller
// sorts the keys instead when a column is asked for more than SHORT_LIST times.
template <typename P>
__global__ void idx_column_lists_sort(const int* __restrict__ cnt, const i64* __restrict__ start,
                                      i64 n, P* __restrict__ order)
{
    const i64 c = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= n) return;
    const int len = cnt[c];
    if (len < 2) return;
    P* list = order + start[c];
    for (int i = 1; i < len; ++i) {
        const P t = list[i];
        int j = i - 1;
        while (j >= 0 && list[j] > t) {
            list[j + 1] = list[j];
            --j;
        }
        list[j + 1] = t;
    }
}

// The columns asked for (the kernels take the fields as arguments). CM 0: a
// column map without repeats (first[c]: the position, or 0xffffffff); CM 1: a
// column map with repeats (cnt[c] positions from order[start[c]]); CM 2: the
// range c0, c0 + cstep, ... (clen columns).
struct ColSpec {
    const int* cnt;
    const unsigned* first;
    const i64* start;
    const i64* order;
    i64 c0, cstep, clen;
};

__device__ __forceinline__ i64 hits_of(const ColSpec& s, int CM, i64 c)
{
    if (CM == 0) return s.first[c] != 0xffffffffu;
    if (CM == 1) return s.cnt[c];
    const i64 off = c - s.c0;
    if (s.cstep > 0) {
        if (off < 0 || off % s.cstep) return 0;
        return off / s.cstep < s.clen;
    }
    if (off > 0 || (-off) % (-s.cstep)) return 0;
    return off / s.cstep < s.clen;
}

// The q-th position of column c among the columns asked for.
__device__ __forceinline__ i64 position_of(const ColSpec& s, int CM, i64 c, i64 q)
{
    if (CM == 0) return s.first[c];
    if (CM == 1) return s.order[s.start[c] + q];
    return (c - s.c0) / s.cstep;
}

// Inclusive running sum over the L lanes of a group (mask: the group's lanes).
__device__ __forceinline__ i64 group_scan(i64 x, int sub, int L, unsigned mask)
{
    for (int s = 1; s < L; s <<= 1) {
        const i64 y = __shfl_up_sync(mask, x, s, L);
        if (sub >= s) x += y;
    }
    return x;
}

__device__ __forceinline__ unsigned group_mask(int L)
{
    if (L == 32) return 0xffffffffu;
    const int lane = threadIdx.x & 31;
    return ((1u << L) - 1) << (lane & ~(L - 1));
}

// lens[t + 1] = the output entries of selected row t (0 for a key out of range):
// L lanes per row (a power of two <= 32; blockDim a multiple of 32).
template <typename I>
__global__ void idx_select_count(const I* __restrict__ indptr, const I* __restrict__ indices,
                                 int CM, const i64* __restrict__ keys, i64 r0, i64 rstep,
                                 i64 n_rows, i64 m,
                                 int L, const int* cnt, const unsigned* first, const i64* start,
                                 const i64* order, i64 c0, i64 cstep, i64 clen,
                                 i64* __restrict__ lens, i64* __restrict__ stat)
{
    const ColSpec s{cnt, first, start, order, c0, cstep, clen};
    const i64 g = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    const i64 t = g / L;
    const int sub = (int)(g % L);
    if (t >= n_rows) return;  // the whole group leaves
    const unsigned mask = group_mask(L);
    i64 r = 0;
    if (sub == 0) r = selected_row(keys, r0, rstep, t, m, stat);
    r = __shfl_sync(mask, r, 0, L);
    i64 count = 0;
    if (r >= 0) {
        const i64 a = indptr[r], b = indptr[r + 1];
        for (i64 e = a + sub; e < b; e += L) count += hits_of(s, CM, (i64)indices[e]);
    }
    for (int o = L >> 1; o > 0; o >>= 1) count += __shfl_xor_sync(mask, count, o);
    if (sub == 0) lens[t + 1] = count;
}

// Write the selected rows' entries whose columns are asked for, in stored order,
// each once per position of its column (positions increasing), with that
// position as its column.
template <typename I, typename O, typename V>
__global__ void idx_select_fill(const I* __restrict__ indptr, const I* __restrict__ indices,
                                const V* __restrict__ data, int CM,
                                const i64* __restrict__ keys, i64 r0, i64 rstep, i64 n_rows,
                                i64 m, int L, const int* cnt,
                                const unsigned* first, const i64* start, const i64* order,
                                i64 c0, i64 cstep, i64 clen, const i64* __restrict__ offs,
                                O* __restrict__ out_indptr, O* __restrict__ out_indices,
                                V* __restrict__ out_data)
{
    const ColSpec s{cnt, first, start, order, c0, cstep, clen};
    const i64 g = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    const i64 t = g / L;
    const int sub = (int)(g % L);
    if (t > n_rows) return;
    if (sub == 0) out_indptr[t] = (O)offs[t];
    if (t == n_rows) return;
    const unsigned mask = group_mask(L);
    const i64 r = row_of(keys, r0, rstep, t, m);
    const i64 a = indptr[r], b = indptr[r + 1];
    i64 d = offs[t];
    for (i64 base = a; base < b; base += L) {  // the same trip count for the group
        const i64 e = base + sub;
        i64 c = 0, q = 0;
        if (e < b) {
            c = (i64)indices[e];
            q = hits_of(s, CM, c);
        }
        const i64 incl = group_scan(q, sub, L, mask);
        i64 w = d + incl - q;
        for (i64 h = 0; h < q; ++h, ++w) {
            out_indices[w] = (O)position_of(s, CM, c, h);
            out_data[w] = data[e];
        }
        d += __shfl_sync(mask, incl, L - 1, L);
    }
}
