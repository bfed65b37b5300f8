// The backward of block-sparse attention on Hopper's warpgroup MMA (wgmma.mma_async,
// sm_90a): attention_tc_bwd.cu's attn_bwd_dq_tc and attn_bwd_dkv_tc with their
// products on wgmma, for float16 and bfloat16 with head dimension 64 or 128. The
// operands, the pattern arrays (the pattern's for dQ, its transpose's for dK and
// dV) and attn_delta's delta and log2-unit lse are those of the tc backward, and
// so are the roundings: P and dS are computed in float32 by the same expressions,
// masked, and rounded to the operand dtype as the A operand of the products.
//
// This file pastes attention_wg.cu (the forward: its wgmma wrappers, descriptors,
// swizzled layout and loaders) rather than moving them into a header, so that
// the forward's text, and the keys of its prebuilt cubins, stay as they are.
//
// A block is one warpgroup (128 threads); warp w owns rows 16w..16w+15 of the
// block's 64 own rows (keys for dK/dV, queries for dQ), as in the tc kernels.
// Every 64-row operand tile in shared memory has attn_fwd_wg's 128-byte-swizzled
// layout (wg_load_q / wg_load_kv, sw_off), 1024-byte aligned.
//
// attn_bwd_dkv_wg, per key block (own K, V in shared memory), per query tile i of
// the transposed pattern (Q_i, dO_i, and the tile's lse2 and delta, into a ring
// of STAGES stages: by TMA where the tile's queries are consecutive, else
// gathered by cp.async, as attn_fwd_wg's loads; wg_bwd_load):
//   S^T  = K Q_i^T    wgmma m64n64k16, D/16 of them, A = K and B = Q_i both from
//                     shared memory (K-major: d-contiguous rows; the A descriptor
//                     is built as the forward's K-major B descriptor);
//   dP^T = V dO_i^T   the same with V and dO_i, a second commit group, so that
//                     P (below) is computed while it runs;
//   P    = exp2(scale_log2 S^T - lse2[q]) (the tc expression), masked;
//   dS   = P (dP^T - delta[q]), masked;
//   P, dS packed to 16 bits as A operands (the accumulator layout is the A layout),
//        only once no product is in flight (writing an operand register while one
//        runs makes ptxas serialise the wgmma pipeline, C7513);
//   dV  += P^T dO_i   wgmma m64nDk16, 4 of them, B = dO_i N-major (transposed,
//                     as the forward's V);
//   dK  += dS^T Q_i   likewise with Q_i; one commit group with the dV products.
// With OVERLAP the dV and dK products of tile i stay in flight across the barrier
// into step i + 1, where they complete ahead of S^T of tile i + 1 (one wait); the
// ring then runs STAGES - 2 tiles ahead (the stage refilled at step i held tile
// i - 2, whose products completed in step i - 1). Without OVERLAP each step waits
// for its products and the ring runs STAGES - 1 ahead.
// A_REGS (variant "wg_rs", d = 64): S^T and dP^T take A (K, V) from registers,
// loaded once by ldmatrix as attn_fwd_wg's Q, instead of from shared memory: the
// product form the forward verified on the device, kept beside the SS form (whose
// A descriptor is built as the forward's K-major B descriptor but has not run).
// attn_bwd_dq_wg is the same per query block (own Q, dO; K_i, V_i in the ring; the
// rows' lse2 and delta in registers): S = Q K_i^T and dP = dO V_i^T (A and B from
// shared memory), P, dS, then dQ += dS K_i (B = K_i N-major).
#include "attention_wg.cu"

// WgSS<T>::run: one wgmma m64n64k16, D (32 floats per thread) [+]= A B^T, A (m64 x k16)
// and B (n64 x k16) both from shared memory through their descriptors, both K-major.
template <typename T> struct WgSS;
#define WG_SS_REGS "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31}, %32, %33, p, 1, 1, 0, 0"
#define WG_SS(T)                                                                                   \
    template <> struct WgSS<T> {                                                                   \
        static __device__ __forceinline__ void run(float* d, unsigned long long da,                \
                                                   unsigned long long db, int scale_d) {           \
            asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"                               \
                         "wgmma.mma_async.sync.aligned.m64n64k16.f32." #T "." #T " "               \
                         WG_SS_REGS ";\n}\n"                                                       \
                         : WG_N64_OUT                                                              \
                         : "l"(da), "l"(db), "r"(scale_d)                                          \
                         : "memory");                                                              \
        }                                                                                          \
    };
WG_SS(f16)
WG_SS(bf16)
#undef WG_SS

// The configuration of both backward kernels: two own tiles (64 x D each), STAGES
// stages of two gathered tiles and of the gathered rows' lse and delta (64 + 64
// floats, dK/dV only).
template <int D, bool OVERLAP, int STAGES_> struct WgBwdConfig {
    static constexpr int STAGES = STAGES_;
    static constexpr int AHEAD = OVERLAP ? STAGES - 2 : STAGES - 1;
    static constexpr int TILE = 64 * D * 2;
    // + one mbarrier a stage behind the lse and delta slots, + alignment slack
    static constexpr int SMEM = (2 + 2 * STAGES) * TILE + STAGES * 512 + 64 + 1024;
    static_assert(AHEAD >= 1, "a ring of at least one tile ahead");
    static_assert(STAGES <= 8, "the mbarriers take 64 bytes");
};

// The ring's loads, as attn_fwd_wg's: a gathered tile of 64 consecutive rows
// (start >= 0: its first row) comes by two bulk tensor copies (TMA; the maps of
// the two operands, maps.a and maps.b, rows row0 + start..) issued by thread
// 0, which adds their bytes to the stage's mbarrier; other tiles (start < 0) are
// gathered by cp.async from rows `rows`. Every thread then arrives on the
// mbarrier (count 128) once its cp.async copies (the gather, and the dK/dV
// kernel's lse and delta) have landed.
template <int D, int TILE>
__device__ __forceinline__ void wg_bwd_load(unsigned da, unsigned db, const bits16* __restrict__ A,
                                            const bits16* __restrict__ B, const int* __restrict__ rows,
                                            int start, const TmaPair& maps,
                                            int row0, unsigned bar, int tid)
{
    if (start >= 0) {
        if (tid == 0) {
            mbar_expect_tx(bar, 2 * TILE);
            tma_tile_pair<D>(da, db, maps.a, maps.b, row0 + start, row0 + start, bar);
        }
    } else {
        wg_load_kv<D>(da, db, A, B, rows, tid);
    }
}

// Thread 0: the mbarriers of the ring (count 128) at bars, bars + 8, ...; then
// every thread meets at the barrier.
template <int ST>
__device__ __forceinline__ void wg_bwd_ring_init(unsigned bars, int tid)
{
    if (tid == 0) {
        #pragma unroll 1
        for (int s = 0; s < ST; ++s) mbar_init(bars + 8u * s, 128);
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();
}

// S (m64 x n64) = A B^T over D columns, A and B 64-row swizzled tiles at a, b;
// scale_d of the first k-step 0 (the accumulators' old values are ignored).
template <typename T, int D>
__device__ __forceinline__ void wg_scores(float (*s)[4], unsigned a, unsigned b)
{
    #pragma unroll
    for (int ks = 0; ks < D / 16; ++ks) {
        const unsigned off = (ks >> 2) * 8192 + (ks & 3) * 32;
        WgSS<T>::run(&s[0][0], wg_desc128(a + off, 16, 1024), wg_desc128(b + off, 16, 1024), ks > 0);
    }
}

// The same with A from registers (af[ks]: the A fragments of columns 16 ks..16 ks+15,
// as attn_fwd_wg's Q), B from shared memory: the forward's S = Q K^T product.
template <typename T, int D>
__device__ __forceinline__ void wg_scores_rs(float (*s)[4], const unsigned (*af)[4], unsigned b)
{
    #pragma unroll
    for (int ks = 0; ks < D / 16; ++ks)
        WgQK<T, 64>::run(&s[0][0], af[ks], wg_desc128(b + (ks >> 2) * 8192 + (ks & 3) * 32, 16, 1024),
                         ks > 0);
}

// acc (m64 x nD) += X B, X the 16-bit A fragments of a 64 x 64 matrix (x[kk]: its
// columns 16 kk..16 kk+15), B the 64-row swizzled tile at b (64 x D, N-major).
template <typename T, int D>
__device__ __forceinline__ void wg_times_tile(float* acc, unsigned (*x)[4], unsigned b)
{
    #pragma unroll
    for (int kk = 0; kk < BK / 16; ++kk)
        WgPV<T, D>::run(acc, x[kk], wg_desc128(b + kk * 2048, 8192, 1024), 1);
}

// 4 bytes global -> shared by cp.async (zeros where !ok).
__device__ __forceinline__ void cp_async4(unsigned dst, const float* src, bool ok)
{
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n"
                 :: "r"(dst), "l"(src), "r"(ok ? 4 : 0));
}

// The 64 x D own rows of the block, acc[DT][4] (the accumulator layout), times
// `mul`, rounded, to rows row0 + g, row0 + g + 8 of Xb (those below `limit`).
template <typename T, int DT>
__device__ __forceinline__ void wg_store_rows(bits16* __restrict__ Xb, int limit, int row0, int g, int t4,
                                              const float (*acc)[4], float mul)
{
    constexpr int D = DT * 8;
    #pragma unroll
    for (int h = 0; h < 2; ++h) {
        const int row = row0 + g + 8 * h;
        if (row < limit) {
            unsigned* o = reinterpret_cast<unsigned*>(Xb + (i64)row * D);
            #pragma unroll
            for (int i = 0; i < DT; ++i)
                o[(i * 8 + 2 * t4) >> 1] = Mma<T>::pack(acc[i][2 * h] * mul, acc[i][2 * h + 1] * mul);
        }
    }
}

// dK and dV of the key block order[by] of slice blockIdx.x, from the
// transposed pattern (tile_* describe, per key block, the packed queries), as
// attn_bwd_dkv_tc.
template <typename T, int D, bool OVERLAP, int STAGES, bool A_REGS>
__device__ __forceinline__ void
bwd_dkv_block(const bits16* __restrict__ Q, const bits16* __restrict__ K,
              const bits16* __restrict__ V, const bits16* __restrict__ dO,
              const float* __restrict__ l2, const float* __restrict__ delta,
              bits16* __restrict__ dK, bits16* __restrict__ dV,
              const int* __restrict__ tile_ptr, const int* __restrict__ tile_queries,
              const int* __restrict__ tile_mask, const unsigned* __restrict__ masks,
              const int* __restrict__ order, const int* __restrict__ tile_start,
              const TmaPair& maps, int m, int n, float scale, int by)
{
#if defined(__CUDA_ARCH__) && (__CUDA_ARCH__ >= 900) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
    typedef WgBwdConfig<D, OVERLAP, STAGES> Cfg;
    constexpr int NT = BK / 8, DT = D / 8;
    constexpr int ST = Cfg::STAGES, AHEAD = Cfg::AHEAD;
    extern __shared__ __align__(128) unsigned char smem_raw[];
    const unsigned base = (smem_u32(smem_raw) + 1023u) & ~1023u;
    // own K at base, own V at base + TILE; stage s: Q at base + (2 + 2 s) TILE, dO
    // at base + (3 + 2 s) TILE, lse2 (64 floats) and delta (64) after all tiles
    const unsigned k_own = base, v_own = base + Cfg::TILE;
    auto q_at = [&](int s) { return base + (unsigned)(2 + 2 * s) * Cfg::TILE; };
    auto do_at = [&](int s) { return base + (unsigned)(3 + 2 * s) * Cfg::TILE; };
    const unsigned ld_base = base + (unsigned)(2 + 2 * ST) * Cfg::TILE;
    const unsigned bars = ld_base + ST * 512;     // stage s's mbarrier at bars + 8 s
    unsigned char* smem_al = smem_raw + (base - smem_u32(smem_raw));
    const float* lds = reinterpret_cast<const float*>(smem_al + (2 + 2 * ST) * Cfg::TILE);

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int g = lane >> 2, t4 = lane & 3;
    const i64 bh = blockIdx.x;
    const int kb = order[by], k0 = kb * BK;
    const bits16* Qb = Q + bh * (i64)m * D;
    const bits16* dOb = dO + bh * (i64)m * D;
    const float* l2b = l2 + bh * (i64)m;
    const float* db = delta + bh * (i64)m;
    const int t0 = tile_ptr[kb], nt = tile_ptr[kb + 1] - t0;
    // RING: the ring's stages complete on mbarriers and tiles of consecutive queries
    // come by TMA (wg_bwd_load). At d = 128 the kernel's 255 registers leave none for
    // that bookkeeping (it spills 28 bytes): there every tile is gathered into
    // cp.async groups, one a tile, as before session 21.
    constexpr bool RING = D == 64;
    if constexpr (RING) wg_bwd_ring_init<ST>(bars, tid);

    // tile j's gathered rows (Q, dO) and their lse2 and delta (threads 0..63: lse2,
    // 64..127: delta; a padded slot gets zeros, and so zero Q and dO rows: its P is
    // 1 but its dP and dS are 0, so it adds nothing to dV or dK)
    auto load = [&](int j) {
        const int s = j % ST;
        const int* qi = tile_queries + (i64)(t0 + j) * BQ;
        if constexpr (RING)
            wg_bwd_load<D, Cfg::TILE>(q_at(s), do_at(s), Qb, dOb, qi, __ldg(tile_start + t0 + j), maps,
                                      (int)blockIdx.x * m, bars + 8u * s, tid);
        else
            wg_load_kv<D>(q_at(s), do_at(s), Qb, dOb, qi, tid);
        const int q = __ldg(qi + (tid & 63));
        cp_async4(ld_base + s * 512 + tid * 4, (tid < 64 ? l2b : db) + (q < 0 ? 0 : q), q >= 0);
        if constexpr (RING) mbar_arrive_cp_async(bars + 8u * s); else cp_async_commit();
    };
    // the own tiles: one cp.async group (with RING, waited for here; else the first
    // of the groups, completed with tile 0's)
    wg_load_q<D>(k_own, K + bh * (i64)n * D, k0, n, tid);
    wg_load_q<D>(v_own, V + bh * (i64)n * D, k0, n, tid);
    if constexpr (RING) cp_async_commit();
    #pragma unroll
    for (int j = 0; j < AHEAD; ++j) {
        if (j < nt) load(j);
        else if constexpr (!RING) cp_async_commit();   // an empty group: the count stays one a tile
    }
    if constexpr (RING) cp_async_wait<0>();
    const float scale_log2 = scale * 1.4426950408889634f;
    float dk[DT][4], dv[DT][4];
    #pragma unroll
    for (int i = 0; i < DT; ++i) {
        dk[i][0] = dk[i][1] = dk[i][2] = dk[i][3] = 0.f;
        dv[i][0] = dv[i][1] = dv[i][2] = dv[i][3] = 0.f;
    }
    // the zeros in registers of their own before any product (else the compiler
    // materialises them between a warpgroup fence and the first product, C7519)
    pin<DT * 4>(&dk[0][0]);
    pin<DT * 4>(&dv[0][0]);
    float s[NT][4], dp[NT][4];
    unsigned pa[BK / 16][4], da[BK / 16][4];   // P^T and dS^T, the A operands of the dV and dK products
    // A_REGS: K and V as A fragments in registers (ldmatrix, as attn_fwd_wg's Q),
    // for S^T and dP^T with A from registers instead of shared memory
    unsigned kf[A_REGS ? D / 16 : 1][4], vf[A_REGS ? D / 16 : 1][4];
    if constexpr (A_REGS) {
        if constexpr (!RING) cp_async_wait<AHEAD - 1>();   // group 0: the own tiles (with tile 0)
        __syncthreads();
        wg_q_frags<D / 16>(kf, k_own, warp, lane);
        wg_q_frags<D / 16>(vf, v_own, warp, lane);
    }

    // pending: the dV and dK products of the previous tile are in flight (OVERLAP)
    auto step = [&](int i, const bool pending) {
        const int st = i % ST;
        // tile i, its lse2 and delta have landed
        if constexpr (RING) mbar_wait(bars + 8u * st, (i / ST) & 1); else cp_async_wait<AHEAD - 1>();
        asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
        // Publishes tile i; every thread is past step i - 1, so the products that
        // read the stage refilled below (tile i + AHEAD - ST <= i - 2, or i - 1
        // without OVERLAP) are complete.
        __syncthreads();
        const int mid = __ldg(tile_mask + t0 + i);
        wg_fence();
        if constexpr (A_REGS) wg_scores_rs<T, D>(s, kf, q_at(st)); else wg_scores<T, D>(s, k_own, q_at(st));
        wg_commit();
        if constexpr (A_REGS) wg_scores_rs<T, D>(dp, vf, do_at(st)); else wg_scores<T, D>(dp, v_own, do_at(st));
        wg_commit();
        if (i + AHEAD < nt) load(i + AHEAD);
        else if constexpr (!RING) cp_async_commit();   // an empty group: one a step
        unsigned w0[2], w1[2];
        wg_mask_words(masks, mid, warp, g, w0, w1);
        const float* lq = lds + st * 128;
        const float* dq = lq + 64;
        wg_wait<1>();            // S^T (and the previous tile's products: pa, da free)
        pin<NT * 4>(&s[0][0]);
        if (pending) { pin<DT * 4>(&dk[0][0]); pin<DT * 4>(&dv[0][0]); }
        #pragma unroll
        for (int j = 0; j < NT; ++j) {
            #pragma unroll
            for (int e = 0; e < 4; ++e)
                s[j][e] = exp2f(s[j][e] * scale_log2 - lq[j * 8 + 2 * t4 + (e & 1)]);
        }
        if (mid >= 0) drop_masked<BK / 8>(s, w0, w1, t4, 0.f);
        wg_wait<0>();            // dP^T
        pin<NT * 4>(&dp[0][0]);
        #pragma unroll
        for (int j = 0; j < NT; ++j) {
            #pragma unroll
            for (int e = 0; e < 4; ++e)
                dp[j][e] = s[j][e] * (dp[j][e] - dq[j * 8 + 2 * t4 + (e & 1)]);
        }
        if (mid >= 0) drop_masked<BK / 8>(dp, w0, w1, t4, 0.f);   // as the tc kernel: dS of a dropped position is 0
        // The A operands are packed only with no product in flight: ptxas serialises
        // the wgmma pipeline (C7513) when a register of a later product's operand
        // is written while one runs.
        wg_pack_p<T>(pa, s);
        wg_pack_p<T>(da, dp);
        pin<BK / 4>(&pa[0][0]);
        pin<BK / 4>(&da[0][0]);
        pin<DT * 4>(&dk[0][0]);
        pin<DT * 4>(&dv[0][0]);
        wg_fence();
        wg_times_tile<T, D>(&dv[0][0], pa, do_at(st));    // dV += P^T dO
        wg_times_tile<T, D>(&dk[0][0], da, q_at(st));     // dK += dS^T Q
        wg_commit();
        if (!OVERLAP) {
            wg_wait<0>();
            pin<DT * 4>(&dk[0][0]);
            pin<DT * 4>(&dv[0][0]);
        }
    };

    if (nt > 0) step(0, false);
    for (int i = 1; i < nt; ++i) step(i, OVERLAP);
    wg_wait<0>();
    pin<DT * 4>(&dk[0][0]);
    pin<DT * 4>(&dv[0][0]);
    asm volatile("cp.async.wait_all;\n" ::: "memory");   // no copy outlives its thread

    const int row0 = k0 + warp * 16;
    wg_store_rows<T, DT>(dK + bh * (i64)n * D, n, row0, g, t4, dk, scale);
    wg_store_rows<T, DT>(dV + bh * (i64)n * D, n, row0, g, t4, dv, 1.f);
#elif defined(__CUDA_ARCH__)
    __trap();  // built without sm_90a: fail loudly rather than return nothing
#endif
}

// dQ of the query block order[by] of slice blockIdx.x, as attn_bwd_dq_tc.
template <typename T, int D, bool OVERLAP, int STAGES, bool A_REGS>
__device__ __forceinline__ void
bwd_dq_block(const bits16* __restrict__ Q, const bits16* __restrict__ K,
             const bits16* __restrict__ V, const bits16* __restrict__ dO,
             const float* __restrict__ l2, const float* __restrict__ delta,
             bits16* __restrict__ dQ,
             const int* __restrict__ tile_ptr, const int* __restrict__ tile_keys,
             const int* __restrict__ tile_mask, const unsigned* __restrict__ masks,
             const int* __restrict__ order, const int* __restrict__ tile_start,
             const TmaPair& maps, int m, int n, float scale, int by)
{
#if defined(__CUDA_ARCH__) && (__CUDA_ARCH__ >= 900) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
    typedef WgBwdConfig<D, OVERLAP, STAGES> Cfg;
    constexpr int NT = BK / 8, DT = D / 8;
    constexpr int ST = Cfg::STAGES, AHEAD = Cfg::AHEAD;
    extern __shared__ __align__(128) unsigned char smem_raw[];
    const unsigned base = (smem_u32(smem_raw) + 1023u) & ~1023u;
    // own Q at base, own dO at base + TILE; stage s: K at base + (2 + 2 s) TILE,
    // V at base + (3 + 2 s) TILE
    const unsigned q_own = base, do_own = base + Cfg::TILE;
    auto k_at = [&](int s) { return base + (unsigned)(2 + 2 * s) * Cfg::TILE; };
    auto v_at = [&](int s) { return base + (unsigned)(3 + 2 * s) * Cfg::TILE; };
    const unsigned bars = base + (unsigned)(2 + 2 * ST) * Cfg::TILE + ST * 512;

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int g = lane >> 2, t4 = lane & 3;
    const i64 bh = blockIdx.x;
    const int qb = order[by], q0 = qb * BQ;
    const bits16* Kb = K + bh * (i64)n * D;
    const bits16* Vb = V + bh * (i64)n * D;
    const int t0 = tile_ptr[qb], nt = tile_ptr[qb + 1] - t0;
    wg_bwd_ring_init<ST>(bars, tid);

    auto load = [&](int j) {
        const int s = j % ST;
        wg_bwd_load<D, Cfg::TILE>(k_at(s), v_at(s), Kb, Vb, tile_keys + (i64)(t0 + j) * BK,
                                  __ldg(tile_start + t0 + j), maps, (int)blockIdx.x * n, bars + 8u * s, tid);
        mbar_arrive_cp_async(bars + 8u * s);
    };
    // the own tiles: one cp.async group, waited for before the first step
    wg_load_q<D>(q_own, Q + bh * (i64)m * D, q0, m, tid);
    wg_load_q<D>(do_own, dO + bh * (i64)m * D, q0, m, tid);
    cp_async_commit();
    #pragma unroll
    for (int j = 0; j < AHEAD; ++j)
        if (j < nt) load(j);
    cp_async_wait<0>();
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
    pin<DT * 4>(&acc[0][0]);
    float s[NT][4], dp[NT][4];
    unsigned da[BK / 16][4];         // dS, the A operand of the dQ product
    unsigned qf[A_REGS ? D / 16 : 1][4], of[A_REGS ? D / 16 : 1][4];   // A_REGS: Q and dO fragments
    if constexpr (A_REGS) {
        __syncthreads();              // the own tiles, waited for above by each thread
        wg_q_frags<D / 16>(qf, q_own, warp, lane);
        wg_q_frags<D / 16>(of, do_own, warp, lane);
    }

    auto step = [&](int i, const bool pending) {
        const int st = i % ST;
        mbar_wait(bars + 8u * st, (i / ST) & 1);   // tile i has landed
        asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
        __syncthreads();
        const int mid = __ldg(tile_mask + t0 + i);
        wg_fence();
        if constexpr (A_REGS) wg_scores_rs<T, D>(s, qf, k_at(st)); else wg_scores<T, D>(s, q_own, k_at(st));
        wg_commit();
        if constexpr (A_REGS) wg_scores_rs<T, D>(dp, of, v_at(st)); else wg_scores<T, D>(dp, do_own, v_at(st));
        wg_commit();
        if (i + AHEAD < nt) load(i + AHEAD);
        unsigned w0[2], w1[2];
        wg_mask_words(masks, mid, warp, g, w0, w1);
        wg_wait<1>();            // S (and the previous tile's product: da free)
        pin<NT * 4>(&s[0][0]);
        if (pending) pin<DT * 4>(&acc[0][0]);
        #pragma unroll
        for (int j = 0; j < NT; ++j) {
            #pragma unroll
            for (int e = 0; e < 4; ++e)
                s[j][e] = exp2f(s[j][e] * scale_log2 - lrow[e >> 1]);
        }
        wg_wait<0>();            // dP
        pin<NT * 4>(&dp[0][0]);
        #pragma unroll
        for (int j = 0; j < NT; ++j) {
            #pragma unroll
            for (int e = 0; e < 4; ++e)
                dp[j][e] = s[j][e] * (dp[j][e] - drow[e >> 1]);
        }
        if (mid >= 0) drop_masked<BK / 8>(dp, w0, w1, t4, 0.f);
        wg_pack_p<T>(da, dp);
        pin<BK / 4>(&da[0][0]);
        pin<DT * 4>(&acc[0][0]);
        wg_fence();
        wg_times_tile<T, D>(&acc[0][0], da, k_at(st));    // dQ += dS K
        wg_commit();
        if (!OVERLAP) {
            wg_wait<0>();
            pin<DT * 4>(&acc[0][0]);
        }
    };

    if (nt > 0) step(0, false);
    for (int i = 1; i < nt; ++i) step(i, OVERLAP);
    wg_wait<0>();
    pin<DT * 4>(&acc[0][0]);
    asm volatile("cp.async.wait_all;\n" ::: "memory");   // no copy outlives its thread

    wg_store_rows<T, DT>(dQ + bh * (i64)m * D, m, q0 + warp * 16, g, t4, acc, scale);
#elif defined(__CUDA_ARCH__)
    __trap();
#endif
}

// The kernels: one warpgroup a block, its own rows order[blockIdx.y] of slice
// blockIdx.x.
template <typename T, int D, bool OVERLAP, int STAGES, bool A_REGS>
__global__ void __launch_bounds__(128, D == 64 ? 2 : 1)
attn_bwd_dkv_wg(const bits16* __restrict__ Q, const bits16* __restrict__ K,
                const bits16* __restrict__ V, const bits16* __restrict__ dO,
                const float* __restrict__ l2, const float* __restrict__ delta,
                bits16* __restrict__ dK, bits16* __restrict__ dV,
                const int* __restrict__ tile_ptr, const int* __restrict__ tile_queries,
                const int* __restrict__ tile_mask, const unsigned* __restrict__ masks,
                const int* __restrict__ order, const int* __restrict__ tile_start,
                const __grid_constant__ TmaPair maps, int m, int n, float scale)
{
    bwd_dkv_block<T, D, OVERLAP, STAGES, A_REGS>(Q, K, V, dO, l2, delta, dK, dV, tile_ptr, tile_queries,
                                                 tile_mask, masks, order, tile_start, maps, m, n, scale,
                                                 blockIdx.y);
}

template <typename T, int D, bool OVERLAP, int STAGES, bool A_REGS>
__global__ void __launch_bounds__(128, D == 64 ? 2 : 1)
attn_bwd_dq_wg(const bits16* __restrict__ Q, const bits16* __restrict__ K,
               const bits16* __restrict__ V, const bits16* __restrict__ dO,
               const float* __restrict__ l2, const float* __restrict__ delta,
               bits16* __restrict__ dQ,
               const int* __restrict__ tile_ptr, const int* __restrict__ tile_keys,
               const int* __restrict__ tile_mask, const unsigned* __restrict__ masks,
               const int* __restrict__ order, const int* __restrict__ tile_start,
               const __grid_constant__ TmaPair maps, int m, int n, float scale)
{
    bwd_dq_block<T, D, OVERLAP, STAGES, A_REGS>(Q, K, V, dO, l2, delta, dQ, tile_ptr, tile_keys, tile_mask,
                                                masks, order, tile_start, maps, m, n, scale, blockIdx.y);
}

// Both in one launch (the launcher's default at d = 64): blocks y < nkb are dK/dV
// blocks (the transposed pattern's arrays, kt_*), the others dQ blocks (the
// pattern's, qt_*). The dK/dV blocks, the longer ones (four products a tile against
// three), are dispatched first and the dQ blocks fill the SMs as they drain: one
// tail for the pass instead of two (on global + local, the dK/dV kernel's few long
// rows, the global keys, left most SMs idle at its end), and no gap between launches.
template <typename T, int D, bool OVERLAP, int STAGES, bool A_REGS>
__global__ void __launch_bounds__(128, D == 64 ? 2 : 1)
attn_bwd_wg(const bits16* __restrict__ Q, const bits16* __restrict__ K,
            const bits16* __restrict__ V, const bits16* __restrict__ dO,
            const float* __restrict__ l2, const float* __restrict__ delta,
            bits16* __restrict__ dQ, bits16* __restrict__ dK, bits16* __restrict__ dV,
            const int* __restrict__ qt_ptr, const int* __restrict__ qt_keys,
            const int* __restrict__ qt_mask, const unsigned* __restrict__ qt_masks,
            const int* __restrict__ qt_order, const int* __restrict__ qt_start,
            const __grid_constant__ TmaPair qt_maps,
            const int* __restrict__ kt_ptr, const int* __restrict__ kt_queries,
            const int* __restrict__ kt_mask, const unsigned* __restrict__ kt_masks,
            const int* __restrict__ kt_order, const int* __restrict__ kt_start,
            const __grid_constant__ TmaPair kt_maps, int nkb, int m, int n, float scale)
{
    const int by = blockIdx.y;
    if (by < nkb)
        bwd_dkv_block<T, D, OVERLAP, STAGES, A_REGS>(Q, K, V, dO, l2, delta, dK, dV, kt_ptr, kt_queries,
                                                     kt_mask, kt_masks, kt_order, kt_start, kt_maps, m, n,
                                                     scale, by);
    else
        bwd_dq_block<T, D, OVERLAP, STAGES, A_REGS>(Q, K, V, dO, l2, delta, dQ, qt_ptr, qt_keys, qt_mask,
                                                    qt_masks, qt_order, qt_start, qt_maps, m, n, scale,
                                                    by - nkb);
}
