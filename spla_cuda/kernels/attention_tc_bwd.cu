// The backward of block-sparse attention on the tensor cores (mma.sync
// m16n8k16, float32 accumulation), for float16/bfloat16 operands and head
// dimensions 64 and 128. (A separate file from attention_tc.cu, so that each
// file's prebuilt cubins stay valid when the other changes; the helpers both use
// are in attention_tc_common.cuh, whose edits invalidate the cubins of both.)
//
// With P = exp(scale Q K^T - lse) on the pattern, delta = rowsum(dO * O):
//   dS = P * (dO V^T - delta),  dQ = scale dS K,  dK = scale dS^T Q,  dV = P^T dO.
// Two kernels, neither with atomics:
//   attn_bwd_dq_tc: a block per (slice, query block) walks the pattern's key
//     tiles (as the forward does): S and dP on the tensor cores, dS in registers,
//     dQ += dS K.
//   attn_bwd_dkv_tc: a block per (slice, key block) walks the TRANSPOSED
//     pattern's query tiles (block_pattern of the pattern's transpose: for 64
//     keys, the packed queries that attend to them, with the transposed masks):
//     S^T = K Q^T and dP^T = V dO^T, then dV += P^T dO and dK += dS^T Q.
// attn_delta computes delta and the log2-unit lse (+inf for a query with no
// keys, so that its P is 0).
#include "attention_tc_common.cuh"

// delta[r] = sum_c dO[r, c] O[r, c]; l2[r] = lse[r] * log2(e) (+inf where lse = -inf).
// G = D / 8 threads per row of `rows` (all slices), each reading its 8 columns of O
// and dO as one 16-byte load (rows are 16-byte aligned: D * 2 bytes, base aligned),
// the G partial sums added by shuffles within the group (a warp holds 32 / G rows).
template <typename T, int D>
__global__ void attn_delta(const bits16* __restrict__ O, const bits16* __restrict__ dO,
                           const float* __restrict__ lse, float* __restrict__ delta,
                           float* __restrict__ l2, i64 rows)
{
    constexpr int G = D / 8;
    static_assert(G >= 1 && G <= 32 && (G & (G - 1)) == 0, "D / 8 lanes a row, a power of two");
    const i64 t = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    const i64 r = t / G;
    const int sub = (int)(t % G);
    // The whole warp stays for the shuffles; lanes past the last row add zeros.
    float s = 0.f;
    if (r < rows) {
        const uint4 a = __ldg(reinterpret_cast<const uint4*>(O + r * D) + sub);
        const uint4 b = __ldg(reinterpret_cast<const uint4*>(dO + r * D) + sub);
        const unsigned av[4] = {a.x, a.y, a.z, a.w}, bv[4] = {b.x, b.y, b.z, b.w};
        #pragma unroll
        for (int i = 0; i < 4; ++i) {
            s += Mma<T>::to_float((bits16)(av[i] & 0xffffu)) * Mma<T>::to_float((bits16)(bv[i] & 0xffffu));
            s += Mma<T>::to_float((bits16)(av[i] >> 16)) * Mma<T>::to_float((bits16)(bv[i] >> 16));
        }
    }
    #pragma unroll
    for (int k = G / 2; k > 0; k >>= 1) s += __shfl_xor_sync(0xffffffffu, s, k, G);
    if (r < rows && sub == 0) {
        delta[r] = s;
        const float l = lse[r];
        l2[r] = l == neg_inf_f() ? __int_as_float(0x7f800000) : l * 1.4426950408889634f;
    }
}

// 16 x 64 scores of this warp: acc[NT][4] = A (16 rows x D, from shared rows
// a_s of stride RS, or registers) times the 64 shared rows b_s (stride RS)
// transposed.
template <typename T, int D>
__device__ __forceinline__ void warp_scores(float (*acc)[4], const bits16* a_s, const bits16* b_s,
                                            int warp, int lane)
{
    constexpr int RS = D + 8, NT = BK / 8, KS = D / 16;
    #pragma unroll
    for (int i = 0; i < NT; ++i) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.f;
    #pragma unroll
    for (int ks = 0; ks < KS; ++ks) {
        unsigned a[4];
        ldsm_x4(a, a_s + (warp * 16 + (lane & 15)) * RS + ks * 16 + (lane >> 4) * 8);
        #pragma unroll
        for (int np = 0; np < NT / 2; ++np) {
            unsigned b[4];
            const int mi = lane >> 3;
            ldsm_x4(b, b_s + ((2 * np + (mi >> 1)) * 8 + (lane & 7)) * RS + ks * 16 + (mi & 1) * 8);
            Mma<T>::run(acc[2 * np], a, b[0], b[1]);
            Mma<T>::run(acc[2 * np + 1], a, b[2], b[3]);
        }
    }
}

// acc[DT][4] += A (16 x 64, given as the accumulator layout x[NT][4], rounded to
// 16 bits) times the 64 shared rows b_s (64 x D, stride RS).
template <typename T, int D>
__device__ __forceinline__ void warp_times_rows(float (*acc)[4], const float (*x)[4], const bits16* b_s,
                                                int lane)
{
    constexpr int RS = D + 8, DT = D / 8;
    #pragma unroll
    for (int kk = 0; kk < BK / 16; ++kk) {
        unsigned a[4];
        a[0] = Mma<T>::pack(x[2 * kk][0], x[2 * kk][1]);
        a[1] = Mma<T>::pack(x[2 * kk][2], x[2 * kk][3]);
        a[2] = Mma<T>::pack(x[2 * kk + 1][0], x[2 * kk + 1][1]);
        a[3] = Mma<T>::pack(x[2 * kk + 1][2], x[2 * kk + 1][3]);
        #pragma unroll
        for (int dp = 0; dp < DT / 2; ++dp) {
            unsigned b[4];
            const int mi = lane >> 3;
            ldsm_x4_t(b, b_s + (kk * 16 + (mi & 1) * 8 + (lane & 7)) * RS + (2 * dp + (mi >> 1)) * 8);
            Mma<T>::run(acc[2 * dp], a, b[0], b[1]);
            Mma<T>::run(acc[2 * dp + 1], a, b[2], b[3]);
        }
    }
}

// Zero the positions a partial tile's mask drops (rows g and g + 8 of this warp).
__device__ __forceinline__ void apply_mask(float (*x)[4], const unsigned* __restrict__ masks, int mid,
                                           int warp, int g, int t4)
{
    unsigned w0[2], w1[2];
    fragment_mask_words(masks, mid, warp * 16, g, w0, w1);
    drop_masked<BK / 8>(x, w0, w1, t4, 0.f);
}

// Load 64 own rows (row0 + r, zeros past `limit`) of a (rows, D) operand.
template <int D>
__device__ __forceinline__ void load_own(bits16* dst, const bits16* __restrict__ src, int row0,
                                         int limit, int tid)
{
    constexpr int RS = D + 8, CH = D / 8;
    #pragma unroll
    for (int k = 0; k < 64 * CH / 128; ++k) {
        const int c = tid + k * 128;
        const int r = c / CH, col = (c % CH) * 8;
        const bool ok = row0 + r < limit;
        cp_async16(dst + r * RS + col, src + (i64)(ok ? row0 + r : 0) * D + col, ok);
    }
}

// dQ of the query block order[blockIdx.y] of slice blockIdx.x.
template <typename T, int D>
__global__ void __launch_bounds__(128)
attn_bwd_dq_tc(const bits16* __restrict__ Q, const bits16* __restrict__ K,
               const bits16* __restrict__ V, const bits16* __restrict__ dO,
               const float* __restrict__ l2, const float* __restrict__ delta,
               bits16* __restrict__ dQ,
               const int* __restrict__ tile_ptr, const int* __restrict__ tile_keys,
               const int* __restrict__ tile_mask, const unsigned* __restrict__ masks,
               const int* __restrict__ order, int m, int n, float scale)
{
    constexpr int RS = D + 8, NT = BK / 8, DT = D / 8;
    extern __shared__ __align__(16) bits16 smem[];
    bits16* sQ = smem;               // [64][RS]
    bits16* sdO = sQ + BQ * RS;      // [64][RS]
    bits16* sK = sdO + BQ * RS;      // [2][64][RS]
    bits16* sV = sK + 2 * BK * RS;   // [2][64][RS]
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int g = lane >> 2, t4 = lane & 3;
    const i64 bh = blockIdx.x;
    const int qb = order[blockIdx.y], q0 = qb * BQ;
    const bits16* Kb = K + bh * (i64)n * D;
    const bits16* Vb = V + bh * (i64)n * D;
    const int t0 = tile_ptr[qb], t1 = tile_ptr[qb + 1];
    load_own<D>(sQ, Q + bh * (i64)m * D, q0, m, tid);
    load_own<D>(sdO, dO + bh * (i64)m * D, q0, m, tid);
    if (t0 < t1) {
        load_tile<D, 128>(sK, Kb, tile_keys + (i64)t0 * BK, tid);
        load_tile<D, 128>(sV, Vb, tile_keys + (i64)t0 * BK, tid);
    }
    cp_async_commit();
    float lrow[2], drow[2];
    #pragma unroll
    for (int h = 0; h < 2; ++h) {
        const int row = q0 + warp * 16 + g + 8 * h;
        lrow[h] = row < m ? l2[bh * (i64)m + row] : __int_as_float(0x7f800000);
        drow[h] = row < m ? delta[bh * (i64)m + row] : 0.f;
    }
    const float scale_log2 = scale * 1.4426950408889634f;
    float acc[DT][4];
    #pragma unroll
    for (int i = 0; i < DT; ++i) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.f;
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
        const bits16* k_s = sK + st * BK * RS;
        const bits16* v_s = sV + st * BK * RS;
        float p[NT][4], dp[NT][4];
        warp_scores<T, D>(p, sQ, k_s, warp, lane);
        warp_scores<T, D>(dp, sdO, v_s, warp, lane);
        #pragma unroll
        for (int i = 0; i < NT; ++i) {
            #pragma unroll
            for (int e = 0; e < 4; ++e) {
                const int h = e >> 1;
                const float pe = exp2f(p[i][e] * scale_log2 - lrow[h]);
                p[i][e] = pe * (dp[i][e] - drow[h]);   // dS (unscaled)
            }
        }
        const int mid = tile_mask[it];
        if (mid >= 0) apply_mask(p, masks, mid, warp, g, t4);
        warp_times_rows<T, D>(acc, p, k_s, lane);
        __syncthreads();
    }
    cp_async_wait<0>();
    bits16* dQb = dQ + bh * (i64)m * D;
    #pragma unroll
    for (int h = 0; h < 2; ++h) {
        const int row = q0 + warp * 16 + g + 8 * h;
        if (row < m) {
            unsigned* o = reinterpret_cast<unsigned*>(dQb + (i64)row * D);
            #pragma unroll
            for (int i = 0; i < DT; ++i)
                o[(i * 8 + 2 * t4) >> 1] = Mma<T>::pack(acc[i][2 * h] * scale, acc[i][2 * h + 1] * scale);
        }
    }
}

// dK and dV of the key block order_t[blockIdx.y] of slice blockIdx.x, from the
// transposed pattern (tile_* describe, per key block, the packed queries).
template <typename T, int D>
__global__ void __launch_bounds__(128)
attn_bwd_dkv_tc(const bits16* __restrict__ Q, const bits16* __restrict__ K,
                const bits16* __restrict__ V, const bits16* __restrict__ dO,
                const float* __restrict__ l2, const float* __restrict__ delta,
                bits16* __restrict__ dK, bits16* __restrict__ dV,
                const int* __restrict__ tile_ptr, const int* __restrict__ tile_queries,
                const int* __restrict__ tile_mask, const unsigned* __restrict__ masks,
                const int* __restrict__ order, int m, int n, float scale)
{
    constexpr int RS = D + 8, NT = BK / 8, DT = D / 8;
    extern __shared__ __align__(16) bits16 smem[];
    bits16* sK = smem;               // [64][RS] own keys
    bits16* sV = sK + BK * RS;       // [64][RS]
    bits16* sQ = sV + BK * RS;       // [2][64][RS] gathered queries
    bits16* sdO = sQ + 2 * BQ * RS;  // [2][64][RS]
    float* sL = reinterpret_cast<float*>(sdO + 2 * BQ * RS);  // [2][64] log2 lse of the tile's queries
    float* sD = sL + 2 * 64;                                    // [2][64] delta
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int g = lane >> 2, t4 = lane & 3;
    const i64 bh = blockIdx.x;
    const int kb = order[blockIdx.y], k0 = kb * BK;
    const bits16* Qb = Q + bh * (i64)m * D;
    const bits16* dOb = dO + bh * (i64)m * D;
    const float* l2b = l2 + bh * (i64)m;
    const float* db = delta + bh * (i64)m;
    const int t0 = tile_ptr[kb], t1 = tile_ptr[kb + 1];
    load_own<D>(sK, K + bh * (i64)n * D, k0, n, tid);
    load_own<D>(sV, V + bh * (i64)n * D, k0, n, tid);
    if (t0 < t1) {
        load_tile<D, 128>(sQ, Qb, tile_queries + (i64)t0 * BQ, tid);
        load_tile<D, 128>(sdO, dOb, tile_queries + (i64)t0 * BQ, tid);
        if (tid < 64) {
            const int q = tile_queries[(i64)t0 * BQ + tid];
            sL[tid] = q >= 0 ? l2b[q] : __int_as_float(0x7f800000);
            sD[tid] = q >= 0 ? db[q] : 0.f;
        }
    }
    cp_async_commit();
    const float scale_log2 = scale * 1.4426950408889634f;
    float dk[DT][4], dv[DT][4];
    #pragma unroll
    for (int i = 0; i < DT; ++i) {
        dk[i][0] = dk[i][1] = dk[i][2] = dk[i][3] = 0.f;
        dv[i][0] = dv[i][1] = dv[i][2] = dv[i][3] = 0.f;
    }
    for (int it = t0; it < t1; ++it) {
        const int st = (it - t0) & 1;
        if (it + 1 < t1) {
            const int* nq = tile_queries + (i64)(it + 1) * BQ;
            load_tile<D, 128>(sQ + (st ^ 1) * BQ * RS, Qb, nq, tid);
            load_tile<D, 128>(sdO + (st ^ 1) * BQ * RS, dOb, nq, tid);
            if (tid < 64) {
                const int q = nq[tid];
                sL[(st ^ 1) * 64 + tid] = q >= 0 ? l2b[q] : __int_as_float(0x7f800000);
                sD[(st ^ 1) * 64 + tid] = q >= 0 ? db[q] : 0.f;
            }
            cp_async_commit();
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
        const bits16* q_s = sQ + st * BQ * RS;
        const bits16* do_s = sdO + st * BQ * RS;
        const float* lq = sL + st * 64;
        const float* dq = sD + st * 64;
        float p[NT][4], ds[NT][4];
        warp_scores<T, D>(p, sK, q_s, warp, lane);     // S^T: this warp's 16 keys x 64 queries
        warp_scores<T, D>(ds, sV, do_s, warp, lane);   // dP^T
        #pragma unroll
        for (int i = 0; i < NT; ++i) {
            #pragma unroll
            for (int e = 0; e < 4; ++e) {
                const int j = i * 8 + 2 * t4 + (e & 1);   // the query's slot in the tile
                p[i][e] = exp2f(p[i][e] * scale_log2 - lq[j]);
                ds[i][e] = p[i][e] * (ds[i][e] - dq[j]);
            }
        }
        const int mid = tile_mask[it];
        if (mid >= 0) {
            apply_mask(p, masks, mid, warp, g, t4);
            apply_mask(ds, masks, mid, warp, g, t4);
        }
        warp_times_rows<T, D>(dv, p, do_s, lane);     // dV += P^T dO
        warp_times_rows<T, D>(dk, ds, q_s, lane);     // dK += dS^T Q
        __syncthreads();
    }
    cp_async_wait<0>();
    bits16* dKb = dK + bh * (i64)n * D;
    bits16* dVb = dV + bh * (i64)n * D;
    #pragma unroll
    for (int h = 0; h < 2; ++h) {
        const int row = k0 + warp * 16 + g + 8 * h;
        if (row < n) {
            unsigned* ok = reinterpret_cast<unsigned*>(dKb + (i64)row * D);
            unsigned* ov = reinterpret_cast<unsigned*>(dVb + (i64)row * D);
            #pragma unroll
            for (int i = 0; i < DT; ++i) {
                ok[(i * 8 + 2 * t4) >> 1] = Mma<T>::pack(dk[i][2 * h] * scale, dk[i][2 * h + 1] * scale);
                ov[(i * 8 + 2 * t4) >> 1] = Mma<T>::pack(dv[i][2 * h], dv[i][2 * h + 1]);
            }
        }
    }
}
