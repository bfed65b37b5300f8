// Sparse attention on the GPU: SDDMM, row softmax, and the fused
// softmax(Q K^T * scale on the pattern) V. One warp per query row; the lanes
// split the feature dimension, so every load of a row of Q, K or V is coalesced.
#include "common.cuh"

template <typename T>
__device__ __forceinline__ T warp_dot(const T* __restrict__ a, const T* __restrict__ b, i64 d, int lane) {
    T s = T(0);
    for (i64 c = lane; c < d; c += 32) s += a[c] * b[c];
    return warp_sum(s);
}

__device__ __forceinline__ float warp_max(float v) {
    #pragma unroll
    for (int s = 16; s > 0; s >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, s));
    return v;
}
__device__ __forceinline__ double warp_max(double v) {
    #pragma unroll
    for (int s = 16; s > 0; s >>= 1) v = fmax(v, __shfl_xor_sync(0xffffffffu, v, s));
    return v;
}
template <typename T> __device__ __forceinline__ T neg_inf();
template <> __device__ __forceinline__ float neg_inf<float>() { return -__int_as_float(0x7f800000); }
template <> __device__ __forceinline__ double neg_inf<double>() { return -__longlong_as_double(0x7ff0000000000000LL); }
__device__ __forceinline__ float exp_(float v) { return expf(v); }
__device__ __forceinline__ double exp_(double v) { return exp(v); }

// out[e] = Q[i] . K[indices[e]] for every stored entry e of row i.
template <typename T, typename I>
__global__ void sddmm_csr(const I* __restrict__ indptr, const I* __restrict__ indices,
                          const T* __restrict__ Q, const T* __restrict__ K, T* __restrict__ out,
                          i64 m, i64 d)
{
    const i64 i = ((i64)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const int lane = threadIdx.x & 31;
    if (i >= m) return;
    for (I e = indptr[i]; e < indptr[i + 1]; ++e) {
        const T s = warp_dot(Q + i * d, K + (i64)indices[e] * d, d, lane);
        if (lane == 0) out[e] = s;
    }
}

// out[k, i] = Q[i] . K[i + offsets[k]] where that column exists, else 0.
template <typename T>
__global__ void sddmm_banded(const i64* __restrict__ offsets, int nd, const T* __restrict__ Q,
                             const T* __restrict__ K, T* __restrict__ out, i64 m, i64 n, i64 d)
{
    const i64 i = ((i64)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const int lane = threadIdx.x & 31;
    if (i >= m) return;
    for (int k = 0; k < nd; ++k) {
        const i64 j = i + offsets[k];
        T s = T(0);
        if (j >= 0 && j < n) s = warp_dot(Q + i * d, K + j * d, d, lane);
        if (lane == 0) out[(i64)k * m + i] = s;
    }
}

// Row softmax over the entries [begin, end) of a row, read with stride `step`.
// A row with no entries, or only -inf, gives zeros.
template <typename T>
__device__ void row_softmax(const T* __restrict__ s, T* __restrict__ out, i64 count, i64 step, int lane)
{
    T mx = neg_inf<T>();
    for (i64 e = lane; e < count; e += 32) mx = s[e * step] > mx ? s[e * step] : mx;
    mx = warp_max(mx);
    T total = T(0);
    if (mx != neg_inf<T>())
        for (i64 e = lane; e < count; e += 32) total += exp_(s[e * step] - mx);
    total = warp_sum(total);
    for (i64 e = lane; e < count; e += 32)
        out[e * step] = (mx == neg_inf<T>()) ? T(0) : exp_(s[e * step] - mx) / total;
}

template <typename T, typename I>
__global__ void softmax_csr(const I* __restrict__ indptr, const T* __restrict__ data,
                            T* __restrict__ out, i64 m)
{
    const i64 i = ((i64)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const int lane = threadIdx.x & 31;
    if (i >= m) return;
    const I a = indptr[i];
    row_softmax(data + a, out + a, (i64)(indptr[i + 1] - a), 1, lane);
}

// Banded rows: the stored diagonals whose column lies inside the matrix take
// part; padding positions are written as 0.
template <typename T>
__global__ void softmax_banded(const i64* __restrict__ offsets, int nd, const T* __restrict__ data,
                               T* __restrict__ out, i64 m, i64 n)
{
    const i64 i = ((i64)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const int lane = threadIdx.x & 31;
    if (i >= m) return;
    T mx = neg_inf<T>();
    for (int k = lane; k < nd; k += 32) {
        const i64 j = i + offsets[k];
        if (j >= 0 && j < n) { const T v = data[(i64)k * m + i]; mx = v > mx ? v : mx; }
    }
    mx = warp_max(mx);
    T total = T(0);
    for (int k = lane; k < nd; k += 32) {
        const i64 j = i + offsets[k];
        if (j >= 0 && j < n && mx != neg_inf<T>()) total += exp_(data[(i64)k * m + i] - mx);
    }
    total = warp_sum(total);
    for (int k = lane; k < nd; k += 32) {
        const i64 j = i + offsets[k];
        const bool inside = j >= 0 && j < n;
        out[(i64)k * m + i] = (inside && mx != neg_inf<T>()) ? exp_(data[(i64)k * m + i] - mx) / total : T(0);
    }
}

// out[b, i, :] = sum_e softmax_e(scale * Q[b, i] . K[b, j_e]) V[b, j_e, :], one pass
// over the row's keys with a running maximum (online softmax). Each lane holds
// DV_PER_LANE columns of the output row (dv <= 32 * DV_PER_LANE).
template <typename T, typename I, int DV_PER_LANE>
__global__ void attend_csr(const I* __restrict__ indptr, const I* __restrict__ indices,
                           const T* __restrict__ Q, const T* __restrict__ K, const T* __restrict__ V,
                           T* __restrict__ out, i64 batch, i64 m, i64 n, i64 d, i64 dv, T scale)
{
    const i64 w = ((i64)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const int lane = threadIdx.x & 31;
    if (w >= batch * m) return;
    const i64 b = w / m, i = w % m;
    const T* q = Q + (b * m + i) * d;
    const T* Kb = K + b * n * d;
    const T* Vb = V + b * n * dv;
    T acc[DV_PER_LANE];
    #pragma unroll
    for (int c = 0; c < DV_PER_LANE; ++c) acc[c] = T(0);
    T run_max = neg_inf<T>(), run_sum = T(0);
    for (I e = indptr[i]; e < indptr[i + 1]; ++e) {
        const i64 j = indices[e];
        const T s = warp_dot(q, Kb + j * d, d, lane) * scale;
        const T new_max = s > run_max ? s : run_max;
        if (new_max == neg_inf<T>()) continue;
        const T shrink = exp_(run_max - new_max), p = exp_(s - new_max);
        run_sum = run_sum * shrink + p;
        #pragma unroll
        for (int c = 0; c < DV_PER_LANE; ++c) {
            const i64 col = lane + 32 * c;
            const T v = col < dv ? Vb[j * dv + col] : T(0);
            acc[c] = acc[c] * shrink + p * v;
        }
        run_max = new_max;
    }
    T* o = out + (b * m + i) * dv;
    #pragma unroll
    for (int c = 0; c < DV_PER_LANE; ++c) {
        const i64 col = lane + 32 * c;
        if (col < dv) o[col] = run_sum > T(0) ? acc[c] / run_sum : T(0);
    }
}
