// Exact float32 forward of block-sparse attention on the CUDA cores, register
// tiled. (Beside attention_tc.cu's attn_fwd_f32, which reads two shared values
// per multiply-add: here every thread computes a 4 x 4 block of the scores and
// a 4 x D/16 block of the output, so each pair of loads feeds 4 multiply-adds.)
// Same operands and pattern arrays as attention_tc.cu (BlockPattern with 64 x 64
// tiles); 256 threads per (slice, query block).
typedef long long i64;

#define BQ 64
#define BK 64
#define MASK_WORDS 2

__device__ __forceinline__ float neg_inf_f() { return -__int_as_float(0x7f800000); }

template <int D>
__global__ void __launch_bounds__(256)
attn_fwd_f32_rt(const float* __restrict__ Q, const float* __restrict__ K, const float* __restrict__ V,
                float* __restrict__ O, float* __restrict__ lse,
                const int* __restrict__ tile_ptr, const int* __restrict__ tile_keys,
                const int* __restrict__ tile_mask, const unsigned* __restrict__ masks,
                const int* __restrict__ order, int m, int n, i64 q_bh, i64 k_bh, i64 v_bh,
                float scale_log2)
{
    constexpr int RS = D + 1;          // row stride of the Q, K, V tiles (conflict-free columns)
    constexpr int CB = D / 16;         // output columns per thread
    extern __shared__ float fsm[];
    float* sQ = fsm;                   // [64][RS]
    float* sK = sQ + 64 * RS;          // [64][RS]
    float* sV = sK + 64 * RS;          // [64][RS]
    float* sS = sV + 64 * RS;          // [64][65] scores, then probabilities
    float* sCorr = sS + 64 * 65;       // [64]
    float* sSum = sCorr + 64;          // [64]
    float* sMax = sSum + 64;           // [64]
    const int tid = threadIdx.x, ty = tid >> 4, tx = tid & 15;
    const i64 bh = blockIdx.x;
    const int qb = order[blockIdx.y], q0 = qb * BQ;
    const float* Qb = Q + bh * q_bh;
    const float* Kb = K + bh * k_bh;
    const float* Vb = V + bh * v_bh;
    for (int c = tid; c < 64 * D; c += 256) {
        const int r = c / D, col = c % D;
        sQ[r * RS + col] = q0 + r < m ? Qb[(i64)(q0 + r) * D + col] : 0.f;
    }
    float acc[4][CB];
    #pragma unroll
    for (int a = 0; a < 4; ++a)
        #pragma unroll
        for (int b = 0; b < CB; ++b) acc[a][b] = 0.f;
    const int sr = tid >> 2, sq = tid & 3;   // softmax: row sr, quarter sq of the keys
    float rmax = neg_inf_f(), rsum = 0.f;
    for (int it = tile_ptr[qb]; it < tile_ptr[qb + 1]; ++it) {
        __syncthreads();
        const int* keys = tile_keys + (i64)it * BK;
        for (int c = tid; c < 64 * D; c += 256) {
            const int r = c / D, col = c % D;
            const int key = __ldg(keys + r);
            const bool ok = key >= 0 && key < n;
            sK[r * RS + col] = ok ? Kb[(i64)key * D + col] : 0.f;
            sV[r * RS + col] = ok ? Vb[(i64)key * D + col] : 0.f;
        }
        __syncthreads();
        // scores: rows ty + 16 a, keys tx + 16 b
        float s[4][4];
        #pragma unroll
        for (int a = 0; a < 4; ++a)
            #pragma unroll
            for (int b = 0; b < 4; ++b) s[a][b] = 0.f;
        #pragma unroll 8
        for (int k = 0; k < D; ++k) {
            float qv[4], kv[4];
            #pragma unroll
            for (int a = 0; a < 4; ++a) qv[a] = sQ[(ty + 16 * a) * RS + k];
            #pragma unroll
            for (int b = 0; b < 4; ++b) kv[b] = sK[(tx + 16 * b) * RS + k];
            #pragma unroll
            for (int a = 0; a < 4; ++a)
                #pragma unroll
                for (int b = 0; b < 4; ++b) s[a][b] = fmaf(qv[a], kv[b], s[a][b]);
        }
        const int mid = tile_mask[it];
        #pragma unroll
        for (int a = 0; a < 4; ++a) {
            const int r = ty + 16 * a;
            #pragma unroll
            for (int b = 0; b < 4; ++b) {
                const int j = tx + 16 * b;
                bool ok = true;
                if (mid >= 0)
                    ok = (__ldg(masks + ((i64)mid * BQ + r) * MASK_WORDS + (j >> 5)) >> (j & 31)) & 1u;
                sS[r * 65 + j] = ok ? s[a][b] * scale_log2 : neg_inf_f();
            }
        }
        __syncthreads();
        // online softmax, 4 threads per row
        float mx = rmax;
        #pragma unroll
        for (int j = sq * 16; j < sq * 16 + 16; ++j) mx = fmaxf(mx, sS[sr * 65 + j]);
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        const float base = mx == neg_inf_f() ? 0.f : mx;
        const float corr = exp2f(rmax - base);
        float sum = 0.f;
        #pragma unroll
        for (int j = sq * 16; j < sq * 16 + 16; ++j) {
            const float p = exp2f(sS[sr * 65 + j] - base);
            sS[sr * 65 + j] = p;
            sum += p;
        }
        sum += __shfl_xor_sync(0xffffffffu, sum, 1);
        sum += __shfl_xor_sync(0xffffffffu, sum, 2);
        rsum = rsum * corr + sum;
        rmax = mx;
        if (sq == 0) sCorr[sr] = corr;
        __syncthreads();
        // O: rows ty + 16 a, columns tx + 16 b
        #pragma unroll
        for (int a = 0; a < 4; ++a) {
            const float cf = sCorr[ty + 16 * a];
            #pragma unroll
            for (int b = 0; b < CB; ++b) acc[a][b] *= cf;
        }
        #pragma unroll 4
        for (int j = 0; j < BK; ++j) {
            float pv[4], vv[CB];
            #pragma unroll
            for (int a = 0; a < 4; ++a) pv[a] = sS[(ty + 16 * a) * 65 + j];
            #pragma unroll
            for (int b = 0; b < CB; ++b) vv[b] = sV[j * RS + tx + 16 * b];
            #pragma unroll
            for (int a = 0; a < 4; ++a)
                #pragma unroll
                for (int b = 0; b < CB; ++b) acc[a][b] = fmaf(pv[a], vv[b], acc[a][b]);
        }
    }
    __syncthreads();
    if (sq == 0) { sSum[sr] = rsum; sMax[sr] = rmax; }
    __syncthreads();
    float* Ob = O + bh * (i64)m * D;
    #pragma unroll
    for (int a = 0; a < 4; ++a) {
        const int r = ty + 16 * a;
        const float tot = sSum[r];
        if (q0 + r < m) {
            #pragma unroll
            for (int b = 0; b < CB; ++b)
                Ob[(i64)(q0 + r) * D + tx + 16 * b] = tot > 0.f ? acc[a][b] / tot : 0.f;
        }
    }
    if (tid < 64 && q0 + tid < m) {
        const float tot = sSum[tid];
        lse[bh * (i64)m + q0 + tid] = tot > 0.f ? (sMax[tid] + __log2f(tot)) * 0.69314718055994530942f
                                                : neg_inf_f();
    }
}
