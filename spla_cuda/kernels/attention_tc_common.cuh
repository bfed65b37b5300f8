// Helpers shared by the tensor-core attention kernels (attention_tc.cu,
// attention_tc2.cu, attention_tc_bwd.cu): the value tags, the 64 x 64 tile
// sizes, cp.async, ldmatrix and mma.sync m16n8k16 wrappers, float <-> 16-bit
// conversions and the packing of two floats into an A fragment, quad
// reductions, and the gather of a key tile into shared memory.
//
// _compile._source pastes this text in place of each source's
// `#include "attention_tc_common.cuh"`, so the hash of every prebuilt cubin and
// CuPy's cache key change when it does. It uses only CUDA built-ins (no
// header), so it compiles both under NVRTC (CuPy) and under plain nvcc (the
// prebuilt build step); common.cuh cannot serve here, as it needs CuPy's headers.
#pragma once

typedef long long i64;

struct f16 {};
struct bf16 {};
typedef unsigned short bits16;

#define BQ 64
#define BK 64
#define MASK_WORDS 2

__device__ __forceinline__ unsigned smem_u32(const void* p) {
    return (unsigned)__cvta_generic_to_shared(p);
}
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool valid) {
    const int bytes = valid ? 16 : 0;  // 0: fill the 16 bytes with zeros
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n"
                 :: "r"(smem_u32(dst)), "l"(src), "r"(bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" :: "n"(N)); }

__device__ __forceinline__ void ldsm_x4(unsigned* r, const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(smem_u32(p)));
}
__device__ __forceinline__ void ldsm_x4_t(unsigned* r, const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(smem_u32(p)));
}

template <typename T> struct Mma;
template <> struct Mma<f16> {
    static __device__ __forceinline__ void run(float* d, const unsigned* a, unsigned b0, unsigned b1) {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
            "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
    // Two floats as a packed pair (low half = lo), rounded to nearest.
    static __device__ __forceinline__ unsigned pack(float lo, float hi) {
        unsigned r;
        asm("cvt.rn.f16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));
        return r;
    }
    static __device__ __forceinline__ float to_float(bits16 v) {
        float f;
        asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(v));
        return f;
    }
    static __device__ __forceinline__ bits16 from_float(float f) {
        bits16 v;
        asm("cvt.rn.f16.f32 %0, %1;" : "=h"(v) : "f"(f));
        return v;
    }
};
template <> struct Mma<bf16> {
    static __device__ __forceinline__ void run(float* d, const unsigned* a, unsigned b0, unsigned b1) {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
            "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
    static __device__ __forceinline__ unsigned pack(float lo, float hi) {
        unsigned r;
        asm("cvt.rn.bf16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));
        return r;
    }
    static __device__ __forceinline__ float to_float(bits16 v) {
        return __uint_as_float(((unsigned)v) << 16);
    }
    static __device__ __forceinline__ bits16 from_float(float f) {
        bits16 v;
        asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(v) : "f"(f));
        return v;
    }
};

__device__ __forceinline__ float neg_inf_f() { return -__int_as_float(0x7f800000); }
__device__ __forceinline__ float quad_max(float v) {
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
    return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
__device__ __forceinline__ float quad_sum(float v) {
    v += __shfl_xor_sync(0xffffffffu, v, 1);
    return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

// The score fragment of one mma.sync m16n8k* row block (16 query rows x 64 keys):
// s[i] holds rows g (elements 0, 1) and g + 8 (2, 3), keys 8 i + 2 t4 and 8 i + 2 t4 + 1,
// with g = lane / 4 and t4 = lane % 4. The forward kernels (attention_tc.cu,
// attention_tc2.cu, attention_tf32.cu) share the two steps below on it.

// The element-mask words of the fragment's rows g (w0) and g + 8 (w1) in pattern
// tile ``mid`` (two 32-key words a row); ``row0`` is the fragment's first query row
// inside the 64-query tile.
__device__ __forceinline__ void fragment_mask_words(const unsigned* __restrict__ masks, int mid,
                                                    int row0, int g, unsigned* w0, unsigned* w1)
{
    const unsigned* mw = masks + ((i64)mid * BQ + row0 + g) * MASK_WORDS;
    w0[0] = __ldg(mw); w0[1] = __ldg(mw + 1);
    w1[0] = __ldg(mw + 8 * MASK_WORDS); w1[1] = __ldg(mw + 8 * MASK_WORDS + 1);
}

// Set to ``fill`` the positions of the fragment's NT 8-key tiles whose bit in the
// mask words w0 (row g) and w1 (row g + 8) is clear: -inf for scores (the forward),
// 0 for P and dS (the backward).
template <int NT>
__device__ __forceinline__ void drop_masked(float (*x)[4], const unsigned* w0, const unsigned* w1,
                                            int t4, float fill)
{
    #pragma unroll
    for (int i = 0; i < NT; ++i) {
        const int sh = (i & 3) * 8 + 2 * t4;
        if (!((w0[i >> 2] >> sh) & 1u)) x[i][0] = fill;
        if (!((w0[i >> 2] >> (sh + 1)) & 1u)) x[i][1] = fill;
        if (!((w1[i >> 2] >> sh) & 1u)) x[i][2] = fill;
        if (!((w1[i >> 2] >> (sh + 1)) & 1u)) x[i][3] = fill;
    }
}

// A partial tile: keys outside the element mask of pattern tile ``mid`` score -inf.
// ``row0`` is the fragment's first query row inside the 64-query tile.
template <int NT>
__device__ __forceinline__ void mask_partial_tile(float (*s)[4], const unsigned* __restrict__ masks,
                                                  int mid, int row0, int g, int t4)
{
    unsigned w0[2], w1[2];
    fragment_mask_words(masks, mid, row0, g, w0, w1);
    drop_masked<NT>(s, w0, w1, t4, neg_inf_f());
}

// One online-softmax step in log2 units for the fragment's rows g (h = 0) and
// g + 8 (h = 1): the scores become exp2(s - new running max), the running sums
// take the tile's sum, and the output accumulator (DT 8-column tiles) is
// rescaled by exp2(old max - new max). A row whose keys so far are all masked
// keeps max -inf and contributes zeros.
template <int NT, int DT>
__device__ __forceinline__ void online_softmax_step(float (*s)[4], float* row_max, float* row_sum,
                                                    float (*acc)[4])
{
    #pragma unroll
    for (int h = 0; h < 2; ++h) {
        float mx = row_max[h];
        #pragma unroll
        for (int i = 0; i < NT; ++i) mx = fmaxf(mx, fmaxf(s[i][2 * h], s[i][2 * h + 1]));
        mx = quad_max(mx);
        const float base = mx == neg_inf_f() ? 0.f : mx;
        const float corr = exp2f(row_max[h] - base);
        row_max[h] = mx;
        float sum = 0.f;
        #pragma unroll
        for (int i = 0; i < NT; ++i) {
            s[i][2 * h] = exp2f(s[i][2 * h] - base);
            s[i][2 * h + 1] = exp2f(s[i][2 * h + 1] - base);
            sum += s[i][2 * h] + s[i][2 * h + 1];
        }
        row_sum[h] = row_sum[h] * corr + sum;
        #pragma unroll
        for (int i = 0; i < DT; ++i) { acc[i][2 * h] *= corr; acc[i][2 * h + 1] *= corr; }
    }
}

// Gather one 64-row tile (rows = keys[r], -1: zeros) of a (rows, D) operand into
// shared memory rows of stride RS, 16 bytes per cp.async.
template <int D, int THREADS>
__device__ __forceinline__ void load_tile(bits16* dst, const bits16* __restrict__ src,
                                          const int* __restrict__ keys, int tid)
{
    constexpr int RS = D + 8, CH = D / 8;
    #pragma unroll
    for (int k = 0; k < BK * CH / THREADS; ++k) {
        const int c = tid + k * THREADS;
        const int r = c / CH, col = (c % CH) * 8;
        const int key = __ldg(keys + r);
        cp_async16(dst + r * RS + col, src + (i64)(key < 0 ? 0 : key) * D + col, key >= 0);
    }
}
