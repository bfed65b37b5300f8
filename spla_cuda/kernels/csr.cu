// CSR SpMV and SpMM balanced by stored entries (the plan: spla/_kernels/cuda_csr.py).
//
// A "task" is a run of consecutive rows [task_rows[t], task_rows[t+1]) that one
// warp handles. The plan (built once per matrix) cuts rows so that a task holds
// at most 2*H stored entries and at most 32 rows, and gives every row longer
// than H a task of its own. Those long rows are not summed by the task kernels:
// they are cut into segments of SEG entries, each summed by one warp into
// `partial`, and a fix-up kernel adds a row's segments in order. Every sum
// therefore runs in a fixed order: results are the same bits from run to run.
#include "common.cuh"

// y = A @ x for the short-row tasks. Each warp stages the products of its task
// in shared memory with coalesced loads, then one lane per row adds them up.
template <typename T, typename I, int H, int WARPS, int GATHER_L2>
__global__ void __launch_bounds__(WARPS * 32)
csr_spmv_tasks(const I* __restrict__ indptr, const I* __restrict__ indices,
               const T* __restrict__ data, const T* __restrict__ x, T* __restrict__ y,
               const I* __restrict__ task_rows, i64 n_tasks)
{
    __shared__ T staged[WARPS][2 * H];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const i64 t = (i64)blockIdx.x * WARPS + warp;
    if (t >= n_tasks) return;
    const I r0 = task_rows[t], r1 = task_rows[t + 1];
    const I nz0 = indptr[r0];
    const I count = indptr[r1] - nz0;
    if (r1 - r0 == 1 && count > H) return;  // a long row: the segment kernels do it
    T* p = staged[warp];
    const unsigned long long keep = GATHER_L2 == 2 ? l2_evict_last_policy() : 0;
    #pragma unroll
    for (int k = 0; k < (2 * H + 31) / 32; ++k) {
        const int e = k * 32 + lane;
        if (e < count) {
            const T* xe = x + ld_stream(indices + nz0 + e);
            const T xv = GATHER_L2 == 2 ? ld_gather_keep(xe, keep)
                       : GATHER_L2 == 1 ? ld_gather_l2(xe) : ld_gather(xe);
            p[e] = ld_stream(data + nz0 + e) * xv;
        }
    }
    __syncwarp();
    for (I r = r0 + lane; r < r1; r += 32) {
        const I a = indptr[r] - nz0, b = indptr[r + 1] - nz0;
        T s = T(0);
        for (I e = a; e < b; ++e) s += p[e];
        y[r] = s;
    }
}

// y = A @ x with L lanes per row (L = 1, 2, ..., 32), for matrices whose rows
// are short and alike: the plan picks L from the mean row length. The warps
// stride over the rows (grid-stride loop), each handling 32 / L consecutive rows
// at a time; rows longer than H are left to the segment kernels.
template <typename T, typename I, int L>
__global__ void csr_spmv_vector(const I* __restrict__ indptr, const I* __restrict__ indices,
                                const T* __restrict__ data, const T* __restrict__ x,
                                T* __restrict__ y, i64 m, i64 H)
{
    const int lane = threadIdx.x & 31, sub = lane % L;
    const i64 warp = ((i64)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const i64 n_warps = ((i64)gridDim.x * blockDim.x) >> 5;
    for (i64 base = warp * (32 / L); base < m; base += n_warps * (32 / L)) {
        const i64 r = base + lane / L;
        T acc0 = T(0), acc1 = T(0);
        bool own = false;
        if (r < m) {
            const I a = indptr[r], b = indptr[r + 1];
            own = (i64)(b - a) <= H;
            if (own) {
                I e = a + sub;
                // Plain loads: neighbouring rows share cache lines, which L1 must keep.
                for (; e + L < b; e += 2 * L) {
                    acc0 += data[e] * x[indices[e]];
                    acc1 += data[e + L] * x[indices[e + L]];
                }
                if (e < b) acc0 += data[e] * x[indices[e]];
            }
        }
        T acc = acc0 + acc1;
        #pragma unroll
        for (int s = L / 2; s > 0; s >>= 1) acc += shfl_xor(acc, s);
        if (own && sub == 0) y[r] = acc;
    }
}

// One warp sums the entries [seg_lo[s], seg_hi[s]) of a long row into partial[s].
template <typename T, typename I>
__global__ void csr_spmv_segments(const I* __restrict__ indices, const T* __restrict__ data,
                                  const T* __restrict__ x, const i64* __restrict__ seg_lo,
                                  const i64* __restrict__ seg_hi, i64 n_seg, T* __restrict__ partial)
{
    const i64 s = ((i64)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const int lane = threadIdx.x & 31;
    if (s >= n_seg) return;
    const i64 a = seg_lo[s], b = seg_hi[s];
    T acc0 = T(0), acc1 = T(0);
    i64 e = a + lane;
    for (; e + 32 < b; e += 64) {
        acc0 += ld_stream(data + e) * ld_gather(x + ld_stream(indices + e));
        acc1 += ld_stream(data + e + 32) * ld_gather(x + ld_stream(indices + e + 32));
    }
    if (e < b) acc0 += ld_stream(data + e) * ld_gather(x + ld_stream(indices + e));
    const T total = warp_sum(acc0 + acc1);
    if (lane == 0) partial[s] = total;
}

// y[long_rows[k]] = sum of the segments seg_ptr[k] .. seg_ptr[k+1] of partial, in order.
template <typename T, typename I>
__global__ void csr_spmv_fixup(const I* __restrict__ long_rows, const i64* __restrict__ seg_ptr,
                               const T* __restrict__ partial, i64 n_long, T* __restrict__ y)
{
    const i64 k = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= n_long) return;
    T s = T(0);
    for (i64 j = seg_ptr[k]; j < seg_ptr[k + 1]; ++j) s += partial[j];
    y[long_rows[k]] = s;
}

// Y = A @ X for the short-row tasks, X and Y row-major (n, K) and (m, K).
// A warp splits into 32/G groups of G lanes; each group takes every (32/G)-th
// row of the task, and each lane of a group owns V consecutive columns of a
// slice of G*V columns (the loop over slices covers K > G*V). Every lane of a
// group reads the same (column, value) pair: one broadcast load.
template <typename T, typename I, int G, int V, int WARPS>
__global__ void __launch_bounds__(WARPS * 32)
csr_spmm_tasks(const I* __restrict__ indptr, const I* __restrict__ indices,
               const T* __restrict__ data, const T* __restrict__ X, T* __restrict__ Y,
               const I* __restrict__ task_rows, i64 n_tasks, i64 K, int H)
{
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const i64 t = (i64)blockIdx.x * WARPS + warp;
    if (t >= n_tasks) return;
    const I r0 = task_rows[t], r1 = task_rows[t + 1];
    if (r1 - r0 == 1 && indptr[r1] - indptr[r0] > H) return;  // long row
    const int group = lane / G, member = lane % G;
    for (I r = r0 + group; r < r1; r += 32 / G) {
        const I a = indptr[r], b = indptr[r + 1];
        for (i64 c0 = (i64)member * V; c0 < K; c0 += G * V) {
            Vec<T, V> acc;
            #pragma unroll
            for (int v = 0; v < V; ++v) acc.v[v] = T(0);
            #pragma unroll 4
            for (I e = a; e < b; ++e) {
                const T w = data[e];
                const Vec<T, V> xv = *reinterpret_cast<const Vec<T, V>*>(X + (i64)indices[e] * K + c0);
                #pragma unroll
                for (int v = 0; v < V; ++v) acc.v[v] += w * xv.v[v];
            }
            *reinterpret_cast<Vec<T, V>*>(Y + (i64)r * K + c0) = acc;
        }
    }
}

// partial[s, :] = sum over the entries of segment s of data[e] * X[indices[e], :].
template <typename T, typename I, int V>
__global__ void csr_spmm_segments(const I* __restrict__ indices, const T* __restrict__ data,
                                  const T* __restrict__ X, const i64* __restrict__ seg_lo,
                                  const i64* __restrict__ seg_hi, i64 n_seg, i64 K,
                                  T* __restrict__ partial)
{
    const i64 s = blockIdx.x;
    if (s >= n_seg) return;
    const i64 a = seg_lo[s], b = seg_hi[s];
    for (i64 c0 = (i64)threadIdx.x * V; c0 < K; c0 += (i64)blockDim.x * V) {
        Vec<T, V> acc;
        #pragma unroll
        for (int v = 0; v < V; ++v) acc.v[v] = T(0);
        for (i64 e = a; e < b; ++e) {
            const T w = data[e];
            const Vec<T, V> xv = *reinterpret_cast<const Vec<T, V>*>(X + (i64)indices[e] * K + c0);
            #pragma unroll
            for (int v = 0; v < V; ++v) acc.v[v] += w * xv.v[v];
        }
        *reinterpret_cast<Vec<T, V>*>(partial + s * K + c0) = acc;
    }
}

// Y[long_rows[k], :] = sum of the partial rows of row k's segments, in order.
template <typename T, typename I>
__global__ void csr_spmm_fixup(const I* __restrict__ long_rows, const i64* __restrict__ seg_ptr,
                               const T* __restrict__ partial, i64 n_long, i64 K, T* __restrict__ Y)
{
    const i64 k = blockIdx.x;
    if (k >= n_long) return;
    const i64 row = long_rows[k];
    for (i64 c = threadIdx.x; c < K; c += blockDim.x) {
        T s = T(0);
        for (i64 j = seg_ptr[k]; j < seg_ptr[k + 1]; ++j) s += partial[j * K + c];
        Y[row * K + c] = s;
    }
}

// out[k] = indices[pos[k]]: the column indices the plan samples (spla/_kernels/cuda_csr.py),
// gathered here so that building a plan needs no runtime-compiled CuPy kernel.
template <typename I>
__global__ void csr_sample(const I* __restrict__ indices, const i64* __restrict__ pos, i64 count,
                           I* __restrict__ out)
{
    const i64 k = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (k < count) out[k] = indices[pos[k]];
}
