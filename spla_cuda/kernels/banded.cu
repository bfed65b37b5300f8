// Banded SpMV and SpMM: data is (nd, m), row-aligned (data[d, i] = A[i, i + off[d]]).
// Thread i reads column i of every diagonal (coalesced across the warp) and
// x[i + off[d]] (coalesced, and shared with the neighbouring rows through L1):
// no index is loaded.
#include "common.cuh"

template <typename T, int R>
__global__ void banded_spmv(const i64* __restrict__ offsets, int nd, const T* __restrict__ data,
                            const T* __restrict__ x, T* __restrict__ y, i64 m, i64 n)
{
    // R rows per thread, R * blockDim apart, for independent loads in flight.
    const i64 base = (i64)blockIdx.x * blockDim.x * R + threadIdx.x;
    T acc[R];
    #pragma unroll
    for (int r = 0; r < R; ++r) acc[r] = T(0);
    for (int d = 0; d < nd; ++d) {
        const i64 k = offsets[d];
        const T* diag = data + (i64)d * m;
        #pragma unroll
        for (int r = 0; r < R; ++r) {
            const i64 i = base + (i64)r * blockDim.x;
            const i64 j = i + k;
            if (i < m && j >= 0 && j < n) acc[r] += diag[i] * x[j];
        }
    }
    #pragma unroll
    for (int r = 0; r < R; ++r) {
        const i64 i = base + (i64)r * blockDim.x;
        if (i < m) y[i] = acc[r];
    }
}

// The same with R consecutive rows per thread, so that each diagonal is read
// with one R-wide vector load per thread (needs m % R == 0: every diagonal then
// starts on an R-aligned element).
template <typename T, int R>
__global__ void banded_spmv_vec(const i64* __restrict__ offsets, int nd, const T* __restrict__ data,
                                const T* __restrict__ x, T* __restrict__ y, i64 m, i64 n)
{
    const i64 i0 = ((i64)blockIdx.x * blockDim.x + threadIdx.x) * R;
    if (i0 >= m) return;
    T acc[R];
    #pragma unroll
    for (int r = 0; r < R; ++r) acc[r] = T(0);
    for (int d = 0; d < nd; ++d) {
        const i64 k = offsets[d];
        const Vec<T, R> w = *reinterpret_cast<const Vec<T, R>*>(data + (i64)d * m + i0);
        #pragma unroll
        for (int r = 0; r < R; ++r) {
            const i64 j = i0 + r + k;
            if (j >= 0 && j < n) acc[r] += w.v[r] * x[j];
        }
    }
    Vec<T, R> out;
    #pragma unroll
    for (int r = 0; r < R; ++r) out.v[r] = acc[r];
    *reinterpret_cast<Vec<T, R>*>(y + i0) = out;
}

// Y = A @ X, X (n, K) and Y (m, K) row-major. Thread (i, c0) owns V columns of row i.
template <typename T, int V>
__global__ void banded_spmm(const i64* __restrict__ offsets, int nd, const T* __restrict__ data,
                            const T* __restrict__ X, T* __restrict__ Y, i64 m, i64 n, i64 K)
{
    const i64 slices = (K + V - 1) / V;
    const i64 id = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (id >= m * slices) return;
    const i64 i = id / slices, c0 = (id % slices) * V;
    Vec<T, V> acc;
    #pragma unroll
    for (int v = 0; v < V; ++v) acc.v[v] = T(0);
    for (int d = 0; d < nd; ++d) {
        const i64 j = i + offsets[d];
        if (j < 0 || j >= n) continue;
        const T w = data[(i64)d * m + i];
        const Vec<T, V> xv = *reinterpret_cast<const Vec<T, V>*>(X + j * K + c0);
        #pragma unroll
        for (int v = 0; v < V; ++v) acc.v[v] += w * xv.v[v];
    }
    *reinterpret_cast<Vec<T, V>*>(Y + i * K + c0) = acc;
}
