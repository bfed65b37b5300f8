// Block-sparse attention forward for float32 operands on the tensor cores in
// TF32 (precision="tf32"; the default float32 path, attention_f32.cu, stays
// exact): mma.sync m16n8k8 .tf32 with float32 accumulation, online softmax in
// float32, the same tiling as attn_fwd_tc (attention_tc.cu).
//
// A block (4 warps) owns 64 queries of one batch x head slice; warp w owns rows
// 16w..16w+15. Q is loaded once into shared memory and rounded to TF32
// (cvt.rna); its fragments stay in registers for D = 64 and are read from shared
// memory per k-step for D = 128 (in registers they spill: 255 registers and
// 180 bytes of spills under ptxas 13.0). Each key tile's 64 K and V rows are
// gathered by cp.async into a two-stage ring (the next tile loads while this one
// computes) and rounded to TF32 as the fragments are read. Rows are padded by 4
// floats so that the fragment reads of a warp hit 32 distinct banks.
//
// P V without shuffles: the C fragment of S (rows g, g + 8; keys 2 t4, 2 t4 + 1
// of an 8-key tile) is used as the A fragment of the next product with the
// k index permuted (A column t4 = key 2 t4, column t4 + 4 = key 2 t4 + 1), and
// V's B fragment is read with the same permutation (rows 2 t4 and 2 t4 + 1).
//
// Operands and pattern arrays as in attention_tc.cu (D = 64 or 128, the padded
// head dimension; tile_mask -1 = full tile).
#include "attention_tc_common.cuh"

__device__ __forceinline__ unsigned to_tf32(float x) {
    unsigned r;
    asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(x));
    return r;
}

__device__ __forceinline__ void mma_tf32(float* d, const unsigned* a, unsigned b0, unsigned b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 "
        "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Gather one 64-row tile (rows = keys[r], -1: zeros) of a (rows, D) float
// operand into shared memory rows of stride D + 4, 16 bytes per cp.async.
template <int D>
__device__ __forceinline__ void load_tile_f32(float* dst, const float* __restrict__ src,
                                              const int* __restrict__ keys, int tid)
{
    constexpr int RS = D + 4, CH = D / 4;
    #pragma unroll
    for (int k = 0; k < BK * CH / 128; ++k) {
        const int c = tid + k * 128;
        const int r = c / CH, col = (c % CH) * 4;
        const int key = __ldg(keys + r);
        cp_async16(dst + r * RS + col, src + (i64)(key < 0 ? 0 : key) * D + col, key >= 0);
    }
}

// out (bh, m, D) = softmax(scale Q K^T on the pattern) V in float32 (products
// in TF32); lse (bh, m) in natural log (-inf for a query with no keys, whose
// output row is 0).
template <int D>
__global__ void __launch_bounds__(128)
attn_fwd_tf32(const float* __restrict__ Q, const float* __restrict__ K,
              const float* __restrict__ V, float* __restrict__ O, float* __restrict__ lse,
              const int* __restrict__ tile_ptr, const int* __restrict__ tile_keys,
              const int* __restrict__ tile_mask, const unsigned* __restrict__ masks,
              const int* __restrict__ order, int m, i64 q_bh, i64 k_bh, i64 v_bh, float scale_log2)
{
    constexpr int RS = D + 4;
    constexpr int NT = BK / 8;       // 8-key column tiles of S
    constexpr int DT = D / 8;        // 8-column tiles of O
    constexpr int KS = D / 8;        // 8-deep k-steps of Q K^T
    constexpr bool QREG = D <= 64;   // Q fragments in registers (else read from sQ)
    extern __shared__ __align__(16) float fsm[];
    float* sQ = fsm;                 // [BQ][RS]
    float* sK = sQ + BQ * RS;        // [2][BK][RS]
    float* sV = sK + 2 * BK * RS;    // [2][BK][RS]

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int g = lane >> 2, t4 = lane & 3;
    const i64 bh = blockIdx.x;
    const int qb = order[blockIdx.y];
    const int q0 = qb * BQ;
    const float* Qb = Q + bh * q_bh;
    const float* Kb = K + bh * k_bh;
    const float* Vb = V + bh * v_bh;
    const int t0 = tile_ptr[qb], t1 = tile_ptr[qb + 1];

    // Q tile (rows past m are zeros)
    #pragma unroll
    for (int k = 0; k < BQ * (D / 4) / 128; ++k) {
        const int c = tid + k * 128;
        const int r = c / (D / 4), col = (c % (D / 4)) * 4;
        const bool ok = q0 + r < m;
        cp_async16(sQ + r * RS + col, Qb + (i64)(ok ? q0 + r : 0) * D + col, ok);
    }
    if (t0 < t1) {
        load_tile_f32<D>(sK, Kb, tile_keys + (i64)t0 * BK, tid);
        load_tile_f32<D>(sV, Vb, tile_keys + (i64)t0 * BK, tid);
    }
    cp_async_commit();

    float acc[DT][4];
    #pragma unroll
    for (int i = 0; i < DT; ++i) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.f;
    float row_max[2] = {neg_inf_f(), neg_inf_f()};
    float row_sum[2] = {0.f, 0.f};
    unsigned qf[QREG ? KS : 1][4];

    for (int it = t0; it < t1; ++it) {
        const int st = (it - t0) & 1;
        if (it + 1 < t1) {
            load_tile_f32<D>(sK + (st ^ 1) * BK * RS, Kb, tile_keys + (i64)(it + 1) * BK, tid);
            load_tile_f32<D>(sV + (st ^ 1) * BK * RS, Vb, tile_keys + (i64)(it + 1) * BK, tid);
            cp_async_commit();
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
        const unsigned* qs = reinterpret_cast<const unsigned*>(sQ) + (warp * 16 + g) * RS + t4;
        if (it == t0) {
            if constexpr (QREG) {
                const float* q = sQ + (warp * 16 + g) * RS + t4;
                #pragma unroll
                for (int ks = 0; ks < KS; ++ks) {
                    qf[ks][0] = to_tf32(q[ks * 8]);
                    qf[ks][1] = to_tf32(q[8 * RS + ks * 8]);
                    qf[ks][2] = to_tf32(q[ks * 8 + 4]);
                    qf[ks][3] = to_tf32(q[8 * RS + ks * 8 + 4]);
                }
            } else {  // round this warp's 16 rows of sQ to TF32 in place (only it reads them)
                unsigned* q = reinterpret_cast<unsigned*>(sQ) + warp * 16 * RS;
                for (int e = lane; e < 16 * D; e += 32) {
                    const int r = e / D, c = e % D;
                    q[r * RS + c] = to_tf32(sQ[warp * 16 * RS + r * RS + c]);
                }
                __syncwarp();
            }
        }
        const float* k_s = sK + st * BK * RS;
        const float* v_s = sV + st * BK * RS;

        // S = Q K^T for this warp's 16 rows x 64 keys
        float s[NT][4];
        #pragma unroll
        for (int i = 0; i < NT; ++i) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.f;
        #pragma unroll
        for (int ks = 0; ks < KS; ++ks) {
            unsigned qr[4];
            if constexpr (!QREG) {
                qr[0] = qs[ks * 8];
                qr[1] = qs[8 * RS + ks * 8];
                qr[2] = qs[ks * 8 + 4];
                qr[3] = qs[8 * RS + ks * 8 + 4];
            }
            const unsigned* a = QREG ? qf[QREG ? ks : 0] : qr;
            #pragma unroll
            for (int nt = 0; nt < NT; ++nt) {
                const float* kr = k_s + (nt * 8 + g) * RS + ks * 8 + t4;
                mma_tf32(s[nt], a, to_tf32(kr[0]), to_tf32(kr[4]));
            }
        }
        #pragma unroll
        for (int i = 0; i < NT; ++i) {
            s[i][0] *= scale_log2; s[i][1] *= scale_log2; s[i][2] *= scale_log2; s[i][3] *= scale_log2;
        }
        const int mid = tile_mask[it];
        if (mid >= 0) mask_partial_tile<NT>(s, masks, mid, warp * 16, g, t4);
        online_softmax_step<NT, DT>(s, row_max, row_sum, acc);
        // O += P V, one 8-key k-step per column tile of S (k permuted, see the top)
        #pragma unroll
        for (int kk = 0; kk < NT; ++kk) {
            unsigned a[4];
            a[0] = to_tf32(s[kk][0]);
            a[1] = to_tf32(s[kk][2]);
            a[2] = to_tf32(s[kk][1]);
            a[3] = to_tf32(s[kk][3]);
            const float* vr = v_s + (kk * 8 + 2 * t4) * RS + g;
            #pragma unroll
            for (int dt = 0; dt < DT; ++dt)
                mma_tf32(acc[dt], a, to_tf32(vr[dt * 8]), to_tf32(vr[RS + dt * 8]));
        }
        __syncthreads();  // this stage is refilled by the next iteration's load
    }
    cp_async_wait<0>();

    float* Ob = O + bh * (i64)m * D;
    #pragma unroll
    for (int h = 0; h < 2; ++h) {
        const float tot = quad_sum(row_sum[h]);
        const float inv = tot > 0.f ? 1.f / tot : 0.f;
        const int row = q0 + warp * 16 + g + 8 * h;
        if (row < m) {
            float2* o = reinterpret_cast<float2*>(Ob + (i64)row * D);
            #pragma unroll
            for (int i = 0; i < DT; ++i) {
                float2 w;
                w.x = acc[i][2 * h] * inv;
                w.y = acc[i][2 * h + 1] * inv;
                o[(i * 8 + 2 * t4) >> 1] = w;
            }
            if (t4 == 0)
                lse[bh * (i64)m + row] = tot > 0.f ? (row_max[h] + __log2f(tot)) * 0.69314718055994530942f
                                                   : neg_inf_f();
        }
    }
}
