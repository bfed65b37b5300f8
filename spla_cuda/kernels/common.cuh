// Shared helpers of the spla_cuda kernels: value types, vector loads, warp sums.
#pragma once
#include <cupy/complex.cuh>

typedef long long i64;

// Warp sum of one value per lane (every lane of the warp must take part).
__device__ __forceinline__ float warp_sum(float v) {
    #pragma unroll
    for (int s = 16; s > 0; s >>= 1) v += __shfl_xor_sync(0xffffffffu, v, s);
    return v;
}
__device__ __forceinline__ double warp_sum(double v) {
    #pragma unroll
    for (int s = 16; s > 0; s >>= 1) v += __shfl_xor_sync(0xffffffffu, v, s);
    return v;
}
template <typename R>
__device__ __forceinline__ complex<R> warp_sum(complex<R> v) {
    return complex<R>(warp_sum(v.real()), warp_sum(v.imag()));
}

__device__ __forceinline__ float shfl_xor(float v, int s) { return __shfl_xor_sync(0xffffffffu, v, s); }
__device__ __forceinline__ double shfl_xor(double v, int s) { return __shfl_xor_sync(0xffffffffu, v, s); }
template <typename R>
__device__ __forceinline__ complex<R> shfl_xor(complex<R> v, int s) {
    return complex<R>(shfl_xor(v.real(), s), shfl_xor(v.imag(), s));
}

// Loads of the matrix (values and indices, each read once): cache-streaming,
// evicted first, so that they do not push the gathered operand out of L2.
__device__ __forceinline__ float ld_stream(const float* p) { return __ldcs(p); }
__device__ __forceinline__ double ld_stream(const double* p) { return __ldcs(p); }
__device__ __forceinline__ int ld_stream(const int* p) { return __ldcs(p); }
__device__ __forceinline__ long long ld_stream(const long long* p) { return __ldcs(p); }
__device__ __forceinline__ complex<float> ld_stream(const complex<float>* p) {
    const float2 v = __ldcs(reinterpret_cast<const float2*>(p));
    return complex<float>(v.x, v.y);
}
__device__ __forceinline__ complex<double> ld_stream(const complex<double>* p) {
    const double2 v = __ldcs(reinterpret_cast<const double2*>(p));
    return complex<double>(v.x, v.y);
}
// Gathers of the dense operand: the read-only data path.
__device__ __forceinline__ float ld_gather(const float* p) { return __ldg(p); }
__device__ __forceinline__ double ld_gather(const double* p) { return __ldg(p); }
__device__ __forceinline__ complex<float> ld_gather(const complex<float>* p) {
    const float2 v = __ldg(reinterpret_cast<const float2*>(p));
    return complex<float>(v.x, v.y);
}
__device__ __forceinline__ complex<double> ld_gather(const complex<double>* p) {
    const double2 v = __ldg(reinterpret_cast<const double2*>(p));
    return complex<double>(v.x, v.y);
}

// The same gathers, asking L2 to evict these lines last (an L2 cache-policy
// hint, sm_80 and later): the operand then survives the matrix streaming past
// it. Complex operands take the plain gather.
__device__ __forceinline__ unsigned long long l2_evict_last_policy() {
    unsigned long long policy;
    asm("createpolicy.fractional.L2::evict_last.b64 %0, 1.0;" : "=l"(policy));
    return policy;
}
__device__ __forceinline__ float ld_gather_keep(const float* p, unsigned long long policy) {
    float v;
    asm("ld.global.nc.L2::cache_hint.f32 %0, [%1], %2;" : "=f"(v) : "l"(p), "l"(policy));
    return v;
}
__device__ __forceinline__ double ld_gather_keep(const double* p, unsigned long long policy) {
    double v;
    asm("ld.global.nc.L2::cache_hint.f64 %0, [%1], %2;" : "=d"(v) : "l"(p), "l"(policy));
    return v;
}
template <typename R>
__device__ __forceinline__ complex<R> ld_gather_keep(const complex<R>* p, unsigned long long) {
    return ld_gather(p);
}

// The same gathers cached in L2 only (no L1 allocation for data never reused).
__device__ __forceinline__ float ld_gather_l2(const float* p) { return __ldcg(p); }
__device__ __forceinline__ double ld_gather_l2(const double* p) { return __ldcg(p); }
__device__ __forceinline__ complex<float> ld_gather_l2(const complex<float>* p) {
    const float2 v = __ldcg(reinterpret_cast<const float2*>(p));
    return complex<float>(v.x, v.y);
}
__device__ __forceinline__ complex<double> ld_gather_l2(const complex<double>* p) {
    const double2 v = __ldcg(reinterpret_cast<const double2*>(p));
    return complex<double>(v.x, v.y);
}

// V consecutive values, aligned so that one load instruction moves them all.
template <typename T, int V>
struct alignas(sizeof(T) * V) Vec {
    T v[V];
};

// float16 values travel as their 16 bits (no header needed under NVRTC) and
// accumulate in float.
typedef unsigned short half_bits;
template <typename T> struct Acc { typedef T type; };
template <> struct Acc<half_bits> { typedef float type; };

__device__ __forceinline__ float to_acc(half_bits v) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(v));
    return f;
}
__device__ __forceinline__ float to_acc(float v) { return v; }
__device__ __forceinline__ double to_acc(double v) { return v; }
template <typename R>
__device__ __forceinline__ complex<R> to_acc(complex<R> v) { return v; }
