// Block-sparse attention (spla.attention.block_pattern) on the tensor cores:
// a FlashAttention-style fused forward for float16/bfloat16 (mma.sync m16n8k16,
// float32 accumulation, online softmax in float32), its backward, and exact
// float32 versions of both on the CUDA cores.
//
// Operands (one slice per batch x head, `bh`): Q (m, D), K (n, D), V (n, D),
// rows contiguous, D the padded head dimension (64 or 128); slice strides in
// elements are arguments. The pattern: tile_ptr (nqb + 1), tile_keys
// (ntiles, 64; -1 = no key), tile_mask (ntiles; -1 = full tile, else the index
// of its 64 x 2-word bit mask in masks), order (nqb; the query blocks by
// decreasing tile count, the launch order).
//
// A block (4 warps) owns 64 queries of one slice; warp w owns rows 16w..16w+15.
// Each key tile's 64 K and V rows are gathered by cp.async into a two-stage
// shared-memory ring (the next tile loads while this one computes). Full tiles
// skip the mask arithmetic; a partial tile's keys outside the mask score -inf.
// Rows are padded by 8 values (16 bytes) so that ldmatrix reads 8 rows from
// distinct banks.
// The helpers are in attention_tc_common.cuh (CUDA built-ins only, so that nvcc
// builds need no CuPy header, unlike common.cuh's).
#include "attention_tc_common.cuh"

// out (bh, m, D) = softmax(scale Q K^T on the pattern) V; lse (bh, m) in natural log
// of the scaled scores (-inf for a query with no keys, whose output row is 0).
template <typename T, int D>
__global__ void __launch_bounds__(128)
attn_fwd_tc(const bits16* __restrict__ Q, const bits16* __restrict__ K,
            const bits16* __restrict__ V, bits16* __restrict__ O, float* __restrict__ lse,
            const int* __restrict__ tile_ptr, const int* __restrict__ tile_keys,
            const int* __restrict__ tile_mask, const unsigned* __restrict__ masks,
            const int* __restrict__ order, int m, i64 q_bh, i64 k_bh, i64 v_bh, float scale_log2)
{
    constexpr int RS = D + 8;
    constexpr int NT = BK / 8;       // 8-key column tiles of S
    constexpr int DT = D / 8;        // 8-column tiles of O
    constexpr int KS = D / 16;       // 16-deep k-steps of Q K^T
    extern __shared__ __align__(16) bits16 smem[];
    bits16* sQ = smem;
    bits16* sK = sQ + BQ * RS;       // [2][BK][RS]
    bits16* sV = sK + 2 * BK * RS;   // [2][BK][RS]

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int g = lane >> 2, t4 = lane & 3;
    const i64 bh = blockIdx.x;
    const int qb = order[blockIdx.y];
    const int q0 = qb * BQ;
    const bits16* Qb = Q + bh * q_bh;
    const bits16* Kb = K + bh * k_bh;
    const bits16* Vb = V + bh * v_bh;
    const int t0 = tile_ptr[qb], t1 = tile_ptr[qb + 1];

    // Q tile (rows past m are zeros)
    #pragma unroll
    for (int k = 0; k < BQ * (D / 8) / 128; ++k) {
        const int c = tid + k * 128;
        const int r = c / (D / 8), col = (c % (D / 8)) * 8;
        const bool ok = q0 + r < m;
        cp_async16(sQ + r * RS + col, Qb + (i64)(ok ? q0 + r : 0) * D + col, ok);
    }
    if (t0 < t1) {
        load_tile<D, 128>(sK, Kb, tile_keys + (i64)t0 * BK, tid);
        load_tile<D, 128>(sV, Vb, tile_keys + (i64)t0 * BK, tid);
    }
    cp_async_commit();

    float acc[DT][4];
    #pragma unroll
    for (int i = 0; i < DT; ++i) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.f;
    float row_max[2] = {neg_inf_f(), neg_inf_f()};
    float row_sum[2] = {0.f, 0.f};
    unsigned qf[KS][4];

    for (int it = t0; it < t1; ++it) {
        const int st = (it - t0) & 1;
        if (it + 1 < t1) {
            load_tile<D, 128>(sK + (st ^ 1) * BK * RS, Kb, tile_keys + (i64)(it + 1) * BK, tid);
            load_tile<D, 128>(sV + (st ^ 1) * BK * RS, Vb, tile_keys + (i64)(it + 1) * BK, tid);
            cp_async_commit();
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
        if (it == t0) {
            #pragma unroll
            for (int ks = 0; ks < KS; ++ks)
                ldsm_x4(qf[ks], sQ + (warp * 16 + (lane & 15)) * RS + ks * 16 + (lane >> 4) * 8);
        }
        const bits16* k_s = sK + st * BK * RS;
        const bits16* v_s = sV + st * BK * RS;

        // S = Q K^T for this warp's 16 rows x 64 keys
        float s[NT][4];
        #pragma unroll
        for (int i = 0; i < NT; ++i) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.f;
        #pragma unroll
        for (int ks = 0; ks < KS; ++ks) {
            #pragma unroll
            for (int np = 0; np < NT / 2; ++np) {
                unsigned b[4];
                const int mi = lane >> 3;
                ldsm_x4(b, k_s + ((2 * np + (mi >> 1)) * 8 + (lane & 7)) * RS + ks * 16 + (mi & 1) * 8);
                Mma<T>::run(s[2 * np], qf[ks], b[0], b[1]);
                Mma<T>::run(s[2 * np + 1], qf[ks], b[2], b[3]);
            }
        }
        #pragma unroll
        for (int i = 0; i < NT; ++i) {
            s[i][0] *= scale_log2; s[i][1] *= scale_log2; s[i][2] *= scale_log2; s[i][3] *= scale_log2;
        }
        const int mid = tile_mask[it];
        if (mid >= 0) mask_partial_tile<NT>(s, masks, mid, warp * 16, g, t4);
        online_softmax_step<NT, DT>(s, row_max, row_sum, acc);
        // O += P V: P's accumulator layout is the A operand's (two 8-key tiles per k-step)
        #pragma unroll
        for (int kk = 0; kk < BK / 16; ++kk) {
            unsigned a[4];
            a[0] = Mma<T>::pack(s[2 * kk][0], s[2 * kk][1]);
            a[1] = Mma<T>::pack(s[2 * kk][2], s[2 * kk][3]);
            a[2] = Mma<T>::pack(s[2 * kk + 1][0], s[2 * kk + 1][1]);
            a[3] = Mma<T>::pack(s[2 * kk + 1][2], s[2 * kk + 1][3]);
            #pragma unroll
            for (int dp = 0; dp < DT / 2; ++dp) {
                unsigned b[4];
                const int mi = lane >> 3;
                ldsm_x4_t(b, v_s + (kk * 16 + (mi & 1) * 8 + (lane & 7)) * RS + (2 * dp + (mi >> 1)) * 8);
                Mma<T>::run(acc[2 * dp], a, b[0], b[1]);
                Mma<T>::run(acc[2 * dp + 1], a, b[2], b[3]);
            }
        }
        __syncthreads();  // this stage is refilled by the next iteration's load
    }
    cp_async_wait<0>();

    bits16* Ob = O + bh * (i64)m * D;
    #pragma unroll
    for (int h = 0; h < 2; ++h) {
        const float tot = quad_sum(row_sum[h]);
        const float inv = tot > 0.f ? 1.f / tot : 0.f;
        const int row = q0 + warp * 16 + g + 8 * h;
        if (row < m) {
            unsigned* o = reinterpret_cast<unsigned*>(Ob + (i64)row * D);
            #pragma unroll
            for (int i = 0; i < DT; ++i)
                o[(i * 8 + 2 * t4) >> 1] = Mma<T>::pack(acc[i][2 * h] * inv, acc[i][2 * h + 1] * inv);
            if (t4 == 0)
                lse[bh * (i64)m + row] = tot > 0.f ? (row_max[h] + __log2f(tot)) * 0.69314718055994530942f
                                                   : neg_inf_f();
        }
    }
}

// ---- scalar (CUDA-core) kernels shared by the backward and the float32 forward ----

template <typename T> struct Val;
template <> struct Val<f16> {
    static __device__ __forceinline__ float load(const bits16* p) { return Mma<f16>::to_float(*p); }
    static __device__ __forceinline__ void store(bits16* p, float v) { *p = Mma<f16>::from_float(v); }
    typedef bits16 type;
};
template <> struct Val<bf16> {
    static __device__ __forceinline__ float load(const bits16* p) { return Mma<bf16>::to_float(*p); }
    static __device__ __forceinline__ void store(bits16* p, float v) { *p = Mma<bf16>::from_float(v); }
    typedef bits16 type;
};
template <> struct Val<float> {
    static __device__ __forceinline__ float load(const float* p) { return *p; }
    static __device__ __forceinline__ void store(float* p, float v) { *p = v; }
    typedef float type;
};

// Rows r of a 64-row tile into float shared memory (stride D + 1): src row keys[r]
// (or q0 + r when keys is null), zeros where the row does not exist.
template <typename T, int D>
__device__ __forceinline__ void load_rows_f32(float* dst, const typename Val<T>::type* __restrict__ src,
                                              const int* __restrict__ keys, int q0, int limit, int tid,
                                              int threads)
{
    for (int c = tid; c < 64 * D; c += threads) {
        const int r = c / D, col = c % D;
        const int row = keys ? __ldg(keys + r) : q0 + r;
        dst[r * (D + 1) + col] = (row >= 0 && row < limit) ? Val<T>::load(src + (i64)row * D + col) : 0.f;
    }
}

__device__ __forceinline__ bool kept(const unsigned* __restrict__ masks, int mid, int r, int j) {
    if (mid < 0) return true;
    return (__ldg(masks + ((i64)mid * BQ + r) * MASK_WORDS + (j >> 5)) >> (j & 31)) & 1u;
}

// Forward on the CUDA cores in float32 (exact for float32 operands; the
// reference path for 16-bit ones): 256 threads per 64 queries; scores of a tile
// in shared memory, online softmax per row (4 threads per row).
template <typename T, int D>
__global__ void __launch_bounds__(256)
attn_fwd_f32(const typename Val<T>::type* __restrict__ Q, const typename Val<T>::type* __restrict__ K,
             const typename Val<T>::type* __restrict__ V, typename Val<T>::type* __restrict__ O,
             float* __restrict__ lse,
             const int* __restrict__ tile_ptr, const int* __restrict__ tile_keys,
             const int* __restrict__ tile_mask, const unsigned* __restrict__ masks,
             const int* __restrict__ order, int m, int n, i64 q_bh, i64 k_bh, i64 v_bh,
             float scale_log2)
{
    constexpr int RS = D + 1;
    extern __shared__ float fsm[];
    float* sQ = fsm;                  // [64][RS]
    float* sK = sQ + 64 * RS;         // [64][RS]
    float* sV = sK + 64 * RS;         // [64][RS]
    float* sS = sV + 64 * RS;         // [64][65]
    float* sCorr = sS + 64 * 65;      // [64]
    const int tid = threadIdx.x;
    const i64 bh = blockIdx.x;
    const int qb = order[blockIdx.y], q0 = qb * BQ;
    const typename Val<T>::type* Kb = K + bh * k_bh;
    const typename Val<T>::type* Vb = V + bh * v_bh;
    load_rows_f32<T, D>(sQ, Q + bh * q_bh, nullptr, q0, m, tid, 256);
    // output: thread owns column c = tid % D of rows r0 + k * (256 / D)
    constexpr int RPT = 64 * D / 256;          // rows per thread
    const int c = tid % D, r0 = tid / D;
    float acc[RPT];
    #pragma unroll
    for (int k = 0; k < RPT; ++k) acc[k] = 0.f;
    // softmax state: row tid / 4, quarter tid % 4 of the tile's keys
    const int sr = tid >> 2, sq = tid & 3;
    float rmax = neg_inf_f(), rsum = 0.f;
    for (int it = tile_ptr[qb]; it < tile_ptr[qb + 1]; ++it) {
        __syncthreads();
        load_rows_f32<T, D>(sK, Kb, tile_keys + (i64)it * BK, 0, n, tid, 256);
        load_rows_f32<T, D>(sV, Vb, tile_keys + (i64)it * BK, 0, n, tid, 256);
        __syncthreads();
        const int mid = tile_mask[it];
        for (int e = tid; e < 64 * 64; e += 256) {
            const int i = e >> 6, j = e & 63;
            float s = 0.f;
            #pragma unroll 16
            for (int k = 0; k < D; ++k) s = fmaf(sQ[i * RS + k], sK[j * RS + k], s);
            const bool ok = __ldg(tile_keys + (i64)it * BK + j) >= 0 && kept(masks, mid, i, j);
            sS[i * 65 + j] = ok ? s * scale_log2 : neg_inf_f();
        }
        __syncthreads();
        float mx = rmax;
        for (int j = sq * 16; j < sq * 16 + 16; ++j) mx = fmaxf(mx, sS[sr * 65 + j]);
        mx = quad_max(mx);
        const float base = mx == neg_inf_f() ? 0.f : mx;
        const float corr = exp2f(rmax - base);
        float sum = 0.f;
        for (int j = sq * 16; j < sq * 16 + 16; ++j) {
            const float p = exp2f(sS[sr * 65 + j] - base);
            sS[sr * 65 + j] = p;
            sum += p;
        }
        rsum = rsum * corr + quad_sum(sum);
        rmax = mx;
        if (sq == 0) sCorr[sr] = corr;
        __syncthreads();
        #pragma unroll
        for (int k = 0; k < RPT; ++k) {
            const int r = r0 + k * (256 / D);
            float a = acc[k] * sCorr[r];
            for (int j = 0; j < 64; ++j) a = fmaf(sS[r * 65 + j], sV[j * RS + c], a);
            acc[k] = a;
        }
    }
    __syncthreads();
    if (sq == 0) { sCorr[sr] = rsum; sS[sr * 65] = rmax; }
    __syncthreads();
    typename Val<T>::type* Ob = O + bh * (i64)m * D;
    #pragma unroll
    for (int k = 0; k < RPT; ++k) {
        const int r = r0 + k * (256 / D);
        const float tot = sCorr[r];
        if (q0 + r < m) Val<T>::store(Ob + (i64)(q0 + r) * D + c, tot > 0.f ? acc[k] / tot : 0.f);
    }
    if (tid < 64 && q0 + tid < m) {
        const float tot = sCorr[tid];
        lse[bh * (i64)m + q0 + tid] = tot > 0.f ? (sS[tid * 65] + __log2f(tot)) * 0.69314718055994530942f
                                                : neg_inf_f();
    }
}

// Backward (first version, CUDA cores, float32 throughout): 256 threads per 64
// queries. Per tile: P = exp(scale S - lse) on the mask, dP = dO V^T,
// dS = P (dP - delta) with delta = rowsum(dO * O); dQ += scale dS K stays in
// registers; dK += scale dS^T Q and dV += P^T dO go to float32 buffers by atomicAdd.
template <typename T, int D>
__global__ void __launch_bounds__(256)
attn_bwd(const typename Val<T>::type* __restrict__ Q, const typename Val<T>::type* __restrict__ K,
         const typename Val<T>::type* __restrict__ V, const typename Val<T>::type* __restrict__ O,
         const typename Val<T>::type* __restrict__ dO, const float* __restrict__ lse,
         typename Val<T>::type* __restrict__ dQ, float* __restrict__ dK, float* __restrict__ dV,
         const int* __restrict__ tile_ptr, const int* __restrict__ tile_keys,
         const int* __restrict__ tile_mask, const unsigned* __restrict__ masks,
         const int* __restrict__ order, int m, int n, i64 q_bh, i64 k_bh, i64 v_bh, i64 o_bh,
         float scale)
{
    constexpr int RS = D + 1;
    extern __shared__ float fsm[];
    float* sQ = fsm;                  // [64][RS]
    float* sdO = sQ + 64 * RS;
    float* sK = sdO + 64 * RS;
    float* sV = sK + 64 * RS;
    float* sP = sV + 64 * RS;         // [64][65]
    float* sdS = sP + 64 * 65;        // [64][65]
    float* sL = sdS + 64 * 65;        // [64] lse in log2 units
    float* sD = sL + 64;              // [64] delta
    const int tid = threadIdx.x;
    const i64 bh = blockIdx.x;
    const int qb = order[blockIdx.y], q0 = qb * BQ;
    const float LOG2E = 1.4426950408889634f;
    load_rows_f32<T, D>(sQ, Q + bh * q_bh, nullptr, q0, m, tid, 256);
    load_rows_f32<T, D>(sdO, dO + bh * o_bh, nullptr, q0, m, tid, 256);
    __syncthreads();
    if (tid < 64) {
        const int row = q0 + tid;
        float dl = 0.f, l = 0.f;
        if (row < m) {
            const typename Val<T>::type* o = O + bh * o_bh + (i64)row * D;
            for (int k = 0; k < D; ++k) dl = fmaf(sdO[tid * RS + k], Val<T>::load(o + k), dl);
            l = lse[bh * (i64)m + row];
        }
        // a query with no keys (lse = -inf) gets P = 0 everywhere
        sL[tid] = (row < m && l != neg_inf_f()) ? l * LOG2E : __int_as_float(0x7f800000);
        sD[tid] = dl;
    }
    constexpr int RPT = 64 * D / 256;
    const int c = tid % D, r0 = tid / D;
    float dq[RPT];
    #pragma unroll
    for (int k = 0; k < RPT; ++k) dq[k] = 0.f;
    const float scale_log2 = scale * LOG2E;
    float* dKb = dK + bh * (i64)n * D;
    float* dVb = dV + bh * (i64)n * D;
    for (int it = tile_ptr[qb]; it < tile_ptr[qb + 1]; ++it) {
        __syncthreads();
        const int* keys = tile_keys + (i64)it * BK;
        load_rows_f32<T, D>(sK, K + bh * k_bh, keys, 0, n, tid, 256);
        load_rows_f32<T, D>(sV, V + bh * v_bh, keys, 0, n, tid, 256);
        __syncthreads();
        const int mid = tile_mask[it];
        for (int e = tid; e < 64 * 64; e += 256) {
            const int i = e >> 6, j = e & 63;
            float s = 0.f, dp = 0.f;
            #pragma unroll 16
            for (int k = 0; k < D; ++k) {
                s = fmaf(sQ[i * RS + k], sK[j * RS + k], s);
                dp = fmaf(sdO[i * RS + k], sV[j * RS + k], dp);
            }
            const bool ok = __ldg(keys + j) >= 0 && kept(masks, mid, i, j);
            const float p = ok ? exp2f(s * scale_log2 - sL[i]) : 0.f;
            sP[i * 65 + j] = p;
            sdS[i * 65 + j] = p * (dp - sD[i]) * scale;
        }
        __syncthreads();
        #pragma unroll
        for (int k = 0; k < RPT; ++k) {
            const int r = r0 + k * (256 / D);
            float a = dq[k];
            for (int j = 0; j < 64; ++j) a = fmaf(sdS[r * 65 + j], sK[j * RS + c], a);
            dq[k] = a;
        }
        #pragma unroll 1
        for (int k = 0; k < RPT; ++k) {
            const int j = r0 + k * (256 / D);
            const int key = __ldg(keys + j);
            if (key < 0) continue;
            float a = 0.f, b = 0.f;
            for (int i = 0; i < 64; ++i) {
                a = fmaf(sdS[i * 65 + j], sQ[i * RS + c], a);
                b = fmaf(sP[i * 65 + j], sdO[i * RS + c], b);
            }
            if (a != 0.f) atomicAdd(dKb + (i64)key * D + c, a);
            if (b != 0.f) atomicAdd(dVb + (i64)key * D + c, b);
        }
    }
    typename Val<T>::type* dQb = dQ + bh * (i64)m * D;
    #pragma unroll
    for (int k = 0; k < RPT; ++k) {
        const int r = r0 + k * (256 / D);
        if (q0 + r < m) Val<T>::store(dQb + (i64)(q0 + r) * D + c, dq[k]);
    }
}

// float32 -> the operands' dtype (the dK and dV buffers of the backward).
template <typename T>
__global__ void to_dtype(const float* __restrict__ src, typename Val<T>::type* __restrict__ dst, i64 size)
{
    for (i64 e = (i64)blockIdx.x * blockDim.x + threadIdx.x; e < size; e += (i64)gridDim.x * blockDim.x)
        Val<T>::store(dst + e, src[e]);
}
