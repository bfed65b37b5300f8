// A variant of attention_tc.cu's attn_fwd_tc (same operands, pattern arrays and
// results) with 2 warps of 32 query rows per 64-query block instead of 4 warps
// of 16: each K or V fragment read by ldmatrix feeds 4 mma.sync instead of 2
// (half the shared-memory reads per multiply), two independent accumulation
// chains per warp, 64 threads per block. Head dimension 64 only (the
// accumulators of d = 128 would not fit in registers). Chosen with
// SPLA_ATTENTION_FORWARD=tc2; the benchmark times it beside the default.
#include "attention_tc_common.cuh"

template <typename T, int D>
__global__ void __launch_bounds__(64)
attn_fwd_tc2(const bits16* __restrict__ Q, const bits16* __restrict__ K,
             const bits16* __restrict__ V, bits16* __restrict__ O, float* __restrict__ lse,
             const int* __restrict__ tile_ptr, const int* __restrict__ tile_keys,
             const int* __restrict__ tile_mask, const unsigned* __restrict__ masks,
             const int* __restrict__ order, int m, i64 q_bh, i64 k_bh, i64 v_bh, float scale_log2)
{
    constexpr int RS = D + 8;
    constexpr int NT = BK / 8;       // 8-key column tiles of S
    constexpr int DT = D / 8;        // 8-column tiles of O
    constexpr int KS = D / 16;       // 16-deep k-steps of Q K^T
    constexpr int MT = 2;            // 16-row tiles per warp
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

    #pragma unroll
    for (int k = 0; k < BQ * (D / 8) / 64; ++k) {
        const int c = tid + k * 64;
        const int r = c / (D / 8), col = (c % (D / 8)) * 8;
        const bool ok = q0 + r < m;
        cp_async16(sQ + r * RS + col, Qb + (i64)(ok ? q0 + r : 0) * D + col, ok);
    }
    if (t0 < t1) {
        load_tile<D, 64>(sK, Kb, tile_keys + (i64)t0 * BK, tid);
        load_tile<D, 64>(sV, Vb, tile_keys + (i64)t0 * BK, tid);
    }
    cp_async_commit();

    float acc[MT][DT][4];
    #pragma unroll
    for (int mt = 0; mt < MT; ++mt)
        #pragma unroll
        for (int i = 0; i < DT; ++i) acc[mt][i][0] = acc[mt][i][1] = acc[mt][i][2] = acc[mt][i][3] = 0.f;
    float row_max[MT][2], row_sum[MT][2];
    #pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
        row_max[mt][0] = row_max[mt][1] = neg_inf_f();
        row_sum[mt][0] = row_sum[mt][1] = 0.f;
    }
    unsigned qf[MT][KS][4];

    for (int it = t0; it < t1; ++it) {
        const int st = (it - t0) & 1;
        if (it + 1 < t1) {
            load_tile<D, 64>(sK + (st ^ 1) * BK * RS, Kb, tile_keys + (i64)(it + 1) * BK, tid);
            load_tile<D, 64>(sV + (st ^ 1) * BK * RS, Vb, tile_keys + (i64)(it + 1) * BK, tid);
            cp_async_commit();
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
        if (it == t0) {
            #pragma unroll
            for (int mt = 0; mt < MT; ++mt)
                #pragma unroll
                for (int ks = 0; ks < KS; ++ks)
                    ldsm_x4(qf[mt][ks], sQ + (warp * 32 + mt * 16 + (lane & 15)) * RS + ks * 16 + (lane >> 4) * 8);
        }
        const bits16* k_s = sK + st * BK * RS;
        const bits16* v_s = sV + st * BK * RS;

        float s[MT][NT][4];
        #pragma unroll
        for (int mt = 0; mt < MT; ++mt)
            #pragma unroll
            for (int i = 0; i < NT; ++i) s[mt][i][0] = s[mt][i][1] = s[mt][i][2] = s[mt][i][3] = 0.f;
        #pragma unroll
        for (int ks = 0; ks < KS; ++ks) {
            #pragma unroll
            for (int np = 0; np < NT / 2; ++np) {
                unsigned b[4];
                const int mi = lane >> 3;
                ldsm_x4(b, k_s + ((2 * np + (mi >> 1)) * 8 + (lane & 7)) * RS + ks * 16 + (mi & 1) * 8);
                #pragma unroll
                for (int mt = 0; mt < MT; ++mt) {
                    Mma<T>::run(s[mt][2 * np], qf[mt][ks], b[0], b[1]);
                    Mma<T>::run(s[mt][2 * np + 1], qf[mt][ks], b[2], b[3]);
                }
            }
        }
        const int mid = tile_mask[it];
        #pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
            #pragma unroll
            for (int i = 0; i < NT; ++i) {
                s[mt][i][0] *= scale_log2; s[mt][i][1] *= scale_log2;
                s[mt][i][2] *= scale_log2; s[mt][i][3] *= scale_log2;
            }
            if (mid >= 0) mask_partial_tile<NT>(s[mt], masks, mid, warp * 32 + mt * 16, g, t4);
            online_softmax_step<NT, DT>(s[mt], row_max[mt], row_sum[mt], acc[mt]);
        }
        #pragma unroll
        for (int kk = 0; kk < BK / 16; ++kk) {
            unsigned a[MT][4];
            #pragma unroll
            for (int mt = 0; mt < MT; ++mt) {
                a[mt][0] = Mma<T>::pack(s[mt][2 * kk][0], s[mt][2 * kk][1]);
                a[mt][1] = Mma<T>::pack(s[mt][2 * kk][2], s[mt][2 * kk][3]);
                a[mt][2] = Mma<T>::pack(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
                a[mt][3] = Mma<T>::pack(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
            }
            #pragma unroll
            for (int dp = 0; dp < DT / 2; ++dp) {
                unsigned b[4];
                const int mi = lane >> 3;
                ldsm_x4_t(b, v_s + (kk * 16 + (mi & 1) * 8 + (lane & 7)) * RS + (2 * dp + (mi >> 1)) * 8);
                #pragma unroll
                for (int mt = 0; mt < MT; ++mt) {
                    Mma<T>::run(acc[mt][2 * dp], a[mt], b[0], b[1]);
                    Mma<T>::run(acc[mt][2 * dp + 1], a[mt], b[2], b[3]);
                }
            }
        }
        __syncthreads();
    }
    cp_async_wait<0>();

    bits16* Ob = O + bh * (i64)m * D;
    #pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
        #pragma unroll
        for (int h = 0; h < 2; ++h) {
            const float tot = quad_sum(row_sum[mt][h]);
            const float inv = tot > 0.f ? 1.f / tot : 0.f;
            const int row = q0 + warp * 32 + mt * 16 + g + 8 * h;
            if (row < m) {
                unsigned* o = reinterpret_cast<unsigned*>(Ob + (i64)row * D);
                #pragma unroll
                for (int i = 0; i < DT; ++i)
                    o[(i * 8 + 2 * t4) >> 1] = Mma<T>::pack(acc[mt][i][2 * h] * inv, acc[mt][i][2 * h + 1] * inv);
                if (t4 == 0)
                    lse[bh * (i64)m + row] = tot > 0.f ? (row_max[mt][h] + __log2f(tot)) * 0.69314718055994530942f
                                                       : neg_inf_f();
            }
        }
    }
}
