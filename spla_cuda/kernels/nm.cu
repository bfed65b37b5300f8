// N:M SpMV and SpMM on CUDA cores. values (R, S): slot s of a row belongs to
// group s / N and sits at position pos(s) inside it, so its column is
// (s / N) * M + pos(s). Positions are 2-bit fields (4 per byte) when M == 4,
// one byte each otherwise. Slots pointing past the last column (padding) hold
// zero and are skipped. Half-precision values accumulate in float.
#include "common.cuh"

template <int M>
__device__ __forceinline__ int slot_position(const unsigned char* __restrict__ pos_row, i64 s) {
    if (M == 4) return (pos_row[s >> 2] >> (2 * (s & 3))) & 3;
    return pos_row[s];
}

// One warp per row.
template <typename T, typename O, int N, int M>
__global__ void nm_spmv(const T* __restrict__ values, const unsigned char* __restrict__ pos,
                        i64 pos_stride, const O* __restrict__ x, O* __restrict__ y,
                        i64 rows, i64 S, i64 cols)
{
    typedef typename Acc<T>::type A;
    const i64 r = ((i64)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const int lane = threadIdx.x & 31;
    if (r >= rows) return;
    const T* v = values + r * S;
    const unsigned char* p = pos + r * pos_stride;
    A acc = A(0);
    #pragma unroll 4
    for (i64 s = lane; s < S; s += 32) {
        const i64 col = (s / N) * M + slot_position<M>(p, s);
        if (col < cols) acc += to_acc(v[s]) * to_acc(x[col]);
    }
    acc = warp_sum(acc);
    if (lane == 0) y[r] = (O)acc;
}

// Y = A @ X, X (cols, K) and Y (rows, K) row-major; G lanes per row, V columns per lane.
template <typename T, typename O, int N, int M, int G, int V>
__global__ void nm_spmm(const T* __restrict__ values, const unsigned char* __restrict__ pos,
                        i64 pos_stride, const O* __restrict__ X, O* __restrict__ Y,
                        i64 rows, i64 S, i64 cols, i64 K)
{
    typedef typename Acc<T>::type A;
    const i64 gid = ((i64)blockIdx.x * blockDim.x + threadIdx.x) / G;
    const int member = threadIdx.x % G;
    const i64 slices = (K + (i64)G * V - 1) / ((i64)G * V);
    const i64 r = gid / slices;
    if (r >= rows) return;
    const i64 c0 = (gid % slices) * G * V + (i64)member * V;
    if (c0 >= K) return;
    const T* v = values + r * S;
    const unsigned char* p = pos + r * pos_stride;
    A acc[V];
    #pragma unroll
    for (int j = 0; j < V; ++j) acc[j] = A(0);
    #pragma unroll 4
    for (i64 s = 0; s < S; ++s) {
        const i64 col = (s / N) * M + slot_position<M>(p, s);
        if (col >= cols) continue;
        const A w = to_acc(v[s]);
        const Vec<O, V> xv = *reinterpret_cast<const Vec<O, V>*>(X + col * K + c0);
        #pragma unroll
        for (int j = 0; j < V; ++j) acc[j] += w * to_acc(xv.v[j]);
    }
    Vec<O, V> out;
    #pragma unroll
    for (int j = 0; j < V; ++j) out.v[j] = (O)acc[j];
    *reinterpret_cast<Vec<O, V>*>(Y + r * K + c0) = out;
}
