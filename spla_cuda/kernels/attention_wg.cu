// Block-sparse attention forward on Hopper's warpgroup MMA (wgmma.mma_async,
// sm_90a): the same operands, pattern arrays and results as attention_tc.cu's
// attn_fwd_tc (out and the natural-log log-sum-exp the backward reads), for
// float16 and bfloat16 with head dimension 64 or 128.
//
// A block is one warpgroup (128 threads) that owns the 64 queries of one
// query block of one (batch x head) slice; warp w of it owns rows 16w..16w+15,
// as for mma.sync. Per key tile of the pattern (64 keys):
//   S = Q K^T   wgmma m64n64k16, D/16 of them; A = Q from registers (loaded
//               once with ldmatrix), B = K from shared memory (K-major: the
//               rows of K are d-contiguous);
//   P           online softmax on S in float32 registers (the accumulator
//               layout of wgmma is that of mma.sync m16n8k16's C, so the mask
//               and softmax steps are attention_tc.cu's), packed to 16 bits;
//   O += P V    wgmma m64nDk16, 4 of them; A = P from registers (the
//               accumulator layout of S is the A fragment layout), B = V from
//               shared memory, N-major (d-contiguous rows: the transpose bit).
// The P V product of tile i - 1 is in flight during the softmax of tile i
// (OVERLAP, the default; FlashAttention-3's intra-warpgroup overlap): step i
// issues S_i = Q K_i and O += P_{i-1} V_{i-1}, waits for S_i only,
// exponentiates S_i in place while the P V product runs, then waits for that
// product (whose A operand is the registers of P), packs P_i into them and
// rescales O to tile i's row maxima. K and V tiles come into a ring of STAGES
// (3 or 4) stages (tile i + STAGES - 2 loads while K of tile i and V of tile
// i - 1 are read), in the 128-byte-swizzled layout the matrix descriptors
// describe: per 64 columns of the head dimension a block of 64 rows x 128
// bytes, 16-byte chunk c of row r at chunk c ^ (r % 8), blocks on 1024-byte
// boundaries (the swizzle follows absolute address bits, as TMA's 128-byte
// swizzle does). A tile of 64 consecutive keys (most of a local window's) is
// one bulk tensor copy (TMA) each of K and V, issued by one thread; other tiles
// (the pattern's keys need not be contiguous) are gathered by cp.async, 16
// bytes per copy (attn_fwd_wg2 and attn_fwd_wg_pp gather every tile). A stage's
// mbarrier tells when it has landed. Before the barrier that publishes a stage
// every thread runs fence.proxy.async (the tensor cores read shared memory
// through the async proxy; the cp.async copies write through the generic one).
//
// Compiled with -arch=sm_90a (spla_cuda/attention.py passes it); built for any
// other target the kernel traps, and the launcher refuses GPUs other than Hopper.
#include "attention_tc_common.cuh"

// Wg<T, N, TRANS_B>::run: one wgmma m64nNk16, D (m64 x nN, N / 2 floats per thread)
// [+]= A (4 registers) B, B from shared memory K-major (TRANS_B = 0) or N-major
// (1, transposed); scale_d == 0: the accumulators' old values are ignored. Its two
// uses: WgQK<T, 64> (S = Q K^T) and WgPV<T, N> (O += P V). The accumulator lists and
// operand numbers of each N are spelled out (WG_N64_*, WG_N128_*): inline PTX takes
// no loops.
template <typename T, int N, int TRANS_B> struct Wg;
template <typename T, int N> using WgQK = Wg<T, N, 0>;
template <typename T, int N> using WgPV = Wg<T, N, 1>;
#define WG_N64_REGS "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31}, {%32,%33,%34,%35}, %36, p, 1, 1, "
#define WG_N64_PRED "%37"
#define WG_N64_OUT "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
#define WG_N128_REGS "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63}, {%64,%65,%66,%67}, %68, p, 1, 1, "
#define WG_N128_PRED "%69"
#define WG_N128_OUT "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
#define WG_MMA(T, N, TRANS_B)                                                                      \
    template <> struct Wg<T, N, TRANS_B> {                                                          \
        static __device__ __forceinline__ void run(float* d, const unsigned* a,                     \
                                                   unsigned long long db, int scale_d) {            \
            asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, " WG_N##N##_PRED ", 0;\n"                  \
                         "wgmma.mma_async.sync.aligned.m64n" #N "k16.f32." #T "." #T " "             \
                         WG_N##N##_REGS #TRANS_B ";\n}\n"                                           \
                         : WG_N##N##_OUT                                                          \
                         : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(scale_d)       \
                         : "memory");                                                             \
        }                                                                                        \
    };
WG_MMA(f16, 64, 0)
WG_MMA(f16, 64, 1)
WG_MMA(f16, 128, 1)
WG_MMA(bf16, 64, 0)
WG_MMA(bf16, 64, 1)
WG_MMA(bf16, 128, 1)
#undef WG_MMA


__device__ __forceinline__ void wg_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wg_wait() { asm volatile("wgmma.wait_group.sync.aligned %0;\n" :: "n"(N) : "memory"); }

// Register pins: an empty asm that "modifies" each register, so that the
// compiler keeps ordinary instructions on them on their side of the wgmma
// fences and waits (asm volatile statements keep their order; registers are
// not memory, so the fences' memory clobbers alone do not hold them).
template <int N>
__device__ __forceinline__ void pin(float* r) {
    #pragma unroll
    for (int i = 0; i < N; ++i) asm volatile("" : "+f"(r[i]) :: "memory");
}
template <int N>
__device__ __forceinline__ void pin(unsigned* r) {
    #pragma unroll
    for (int i = 0; i < N; ++i) asm volatile("" : "+r"(r[i]) :: "memory");
}

// 2^x flushing subnormal results to zero (exp2f is ex2.approx.f32, which keeps
// them at the cost of extra instructions): a probability or rescaling factor
// below 2^-126 of the row's largest is below any 16-bit output's resolution.
__device__ __forceinline__ float exp2_ftz(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

// Matrix descriptor of a 128-byte-swizzled operand at shared address `addr`:
// leading and stride byte offsets (16-byte units), swizzle mode 1 (128 bytes)
// in bits 62-63.
__device__ __forceinline__ unsigned long long wg_desc128(unsigned addr, unsigned leading, unsigned stride) {
    return (unsigned long long)((addr >> 4) & 0x3fff)
         | ((unsigned long long)((leading >> 4) & 0x3fff) << 16)
         | ((unsigned long long)((stride >> 4) & 0x3fff) << 32)
         | (1ull << 62);
}

// Byte offset of the 16-byte chunk `cc` (8 values; cc / 8 = the 64-column
// block) of row `r` of a 64-row swizzled tile.
__device__ __forceinline__ unsigned sw_off(int r, int cc) {
    return (unsigned)((cc >> 3) * 8192 + r * 128 + (((cc & 7) ^ (r & 7)) << 4));
}

// Gather the 64 K and V rows of a key tile (row r = keys[r], -1: zeros) of
// (rows, D) operands into the swizzled layout at shared addresses `dk`, `dv`;
// NTHR threads (tid < NTHR) share the copies.
template <int D, int NTHR = 128>
__device__ __forceinline__ void wg_load_kv(unsigned dk, unsigned dv, const bits16* __restrict__ K,
                                           const bits16* __restrict__ V,
                                           const int* __restrict__ keys, int tid)
{
    constexpr int CH = D / 8;
    #pragma unroll
    for (int k = 0; k < 64 * CH / NTHR; ++k) {
        const int c = tid + k * NTHR;
        const int r = c / CH, cc = c % CH;
        const int key = __ldg(keys + r);
        const int bytes = key >= 0 ? 16 : 0;
        const i64 off = (i64)(key < 0 ? 0 : key) * D + cc * 8;
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n"
                     :: "r"(dk + sw_off(r, cc)), "l"(K + off), "r"(bytes));
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n"
                     :: "r"(dv + sw_off(r, cc)), "l"(V + off), "r"(bytes));
    }
}

// The 64 query rows q0.. (rows past m: zeros) of Qb into the swizzled layout at
// `dst`, by the 128 threads of one warpgroup (wt: the thread within it).
template <int D>
__device__ __forceinline__ void wg_load_q(unsigned dst, const bits16* __restrict__ Qb, int q0, int m, int wt)
{
    constexpr int CH = D / 8;
    #pragma unroll
    for (int k = 0; k < 64 * CH / 128; ++k) {
        const int c = wt + k * 128;
        const int r = c / CH, cc = c % CH;
        const bool ok = q0 + r < m;
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n"
                     :: "r"(dst + sw_off(r, cc)), "l"(Qb + (i64)(ok ? q0 + r : 0) * D + cc * 8),
                        "r"(ok ? 16 : 0));
    }
}

// Q's A fragments (the mma.sync m16n8k16 A layout, which is wgmma's) from the
// swizzled tile at `src`; warp: the warp within the warpgroup.
template <int KS>
__device__ __forceinline__ void wg_q_frags(unsigned (*qf)[4], unsigned src, int warp, int lane)
{
    const int r = warp * 16 + (lane & 15);
    #pragma unroll
    for (int ks = 0; ks < KS; ++ks) {
        const unsigned addr = src + sw_off(r, 2 * ks + (lane >> 4));
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                     : "=r"(qf[ks][0]), "=r"(qf[ks][1]), "=r"(qf[ks][2]), "=r"(qf[ks][3]) : "r"(addr));
    }
}

// The element-mask words of rows g and g + 8 of warp `warp`'s 16 rows of mask
// `mid` (all ones for a full tile, mid < 0).
__device__ __forceinline__ void wg_mask_words(const unsigned* __restrict__ masks, int mid, int warp, int g,
                                              unsigned* w0, unsigned* w1)
{
    w0[0] = w0[1] = w1[0] = w1[1] = ~0u;
    if (mid >= 0) fragment_mask_words(masks, mid, warp * 16, g, w0, w1);
}

// Online softmax of one tile's S (complete: the caller waited and pinned it),
// in place: scaled to log2 units, masked (masked: a partial tile), row maxima
// and sums updated, corr = the rescaling of O to the new maxima, S replaced by
// the unnormalised probabilities.
template <int NT>
__device__ __forceinline__ void wg_softmax(float (*s)[4], const unsigned* w0, const unsigned* w1,
                                           bool masked, int t4, float scale_log2,
                                           float* row_max, float* row_sum, float* corr)
{
    #pragma unroll
    for (int j = 0; j < NT; ++j) {
        s[j][0] *= scale_log2; s[j][1] *= scale_log2; s[j][2] *= scale_log2; s[j][3] *= scale_log2;
    }
    if (masked) drop_masked<NT>(s, w0, w1, t4, neg_inf_f());
    #pragma unroll
    for (int h = 0; h < 2; ++h) {
        float mx = row_max[h];
        #pragma unroll
        for (int j = 0; j < NT; ++j) mx = fmaxf(mx, fmaxf(s[j][2 * h], s[j][2 * h + 1]));
        mx = quad_max(mx);
        const float b = mx == neg_inf_f() ? 0.f : mx;
        corr[h] = exp2_ftz(row_max[h] - b);
        row_max[h] = mx;
        float sum = 0.f;
        #pragma unroll
        for (int j = 0; j < NT; ++j) {
            s[j][2 * h] = exp2_ftz(s[j][2 * h] - b);
            s[j][2 * h + 1] = exp2_ftz(s[j][2 * h + 1] - b);
            sum += s[j][2 * h] + s[j][2 * h + 1];
        }
        row_sum[h] = row_sum[h] * corr[h] + sum;
    }
}

// P (16-bit) as the A fragments of the P V product.
template <typename T>
__device__ __forceinline__ void wg_pack_p(unsigned (*p)[4], float (*s)[4])
{
    #pragma unroll
    for (int kk = 0; kk < BK / 16; ++kk) {
        p[kk][0] = Mma<T>::pack(s[2 * kk][0], s[2 * kk][1]);
        p[kk][1] = Mma<T>::pack(s[2 * kk][2], s[2 * kk][3]);
        p[kk][2] = Mma<T>::pack(s[2 * kk + 1][0], s[2 * kk + 1][1]);
        p[kk][3] = Mma<T>::pack(s[2 * kk + 1][2], s[2 * kk + 1][3]);
    }
}

// The output rows row0 + g, row0 + g + 8 (those below m) normalised, and their lse.
template <typename T, int DT>
__device__ __forceinline__ void wg_store(bits16* __restrict__ Ob, float* __restrict__ lse_b, int m,
                                         int row0, int g, int t4, float (*acc)[4],
                                         const float* row_max, const float* row_sum)
{
    constexpr int D = DT * 8;
    #pragma unroll
    for (int h = 0; h < 2; ++h) {
        const float tot = quad_sum(row_sum[h]);
        const float inv = tot > 0.f ? 1.f / tot : 0.f;
        const int row = row0 + g + 8 * h;
        if (row < m) {
            unsigned* o = reinterpret_cast<unsigned*>(Ob + (i64)row * D);
            #pragma unroll
            for (int j = 0; j < DT; ++j)
                o[(j * 8 + 2 * t4) >> 1] = Mma<T>::pack(acc[j][2 * h] * inv, acc[j][2 * h + 1] * inv);
            if (t4 == 0)
                lse_b[row] = tot > 0.f ? (row_max[h] + __log2f(tot)) * 0.69314718055994530942f
                                       : neg_inf_f();
        }
    }
}

// mbarriers (shared addresses) and the bulk tensor copy (TMA) of attn_fwd_wg's
// contiguous key tiles and attn_fwd_wg_pp's ring.
__device__ __forceinline__ void mbar_init(unsigned bar, unsigned count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" :: "r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_wait(unsigned bar, unsigned parity) {
    asm volatile("{\n.reg .pred done;\n"
                 "WAIT_%=:\n"
                 "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
                 "@!done bra WAIT_%=;\n}\n" :: "r"(bar), "r"(parity) : "memory");
}
__device__ __forceinline__ void mbar_arrive(unsigned bar) {
    asm volatile("{\n.reg .b64 st;\nmbarrier.arrive.shared::cta.b64 st, [%0];\n}\n" :: "r"(bar) : "memory");
}
// Arrives on `bar` once all of this thread's earlier cp.async copies are complete.
__device__ __forceinline__ void mbar_arrive_cp_async(unsigned bar) {
    asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" :: "r"(bar) : "memory");
}
// Arrives on `bar` and adds `bytes` to the transfer it waits for (the bulk copies
// that complete on it).
__device__ __forceinline__ void mbar_arrive_expect_tx(unsigned bar, unsigned bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" :: "r"(bar), "r"(bytes) : "memory");
}
// Adds `bytes` to the transfer the mbarrier at `bar` waits for, without arriving.
__device__ __forceinline__ void mbar_expect_tx(unsigned bar, unsigned bytes) {
    asm volatile("mbarrier.expect_tx.relaxed.cta.shared::cta.b64 [%0], %1;\n" :: "r"(bar), "r"(bytes) : "memory");
}
// The box at columns x.., rows y.. of the 2-D tensor map at `map` (the generic
// address of a __grid_constant__ kernel parameter) into shared memory at `dst`,
// completing `bytes` on the mbarrier at `bar`.
__device__ __forceinline__ void tma_load_2d(unsigned dst, const void* map, int x, int y, unsigned bar) {
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes"
                 " [%0], [%1, {%2, %3}], [%4];\n"
                 :: "r"(dst), "l"(map), "r"(x), "r"(y), "r"(bar) : "memory");
}
// The CUtensorMaps of two operands (K and V; Q and dO for the backward's dK/dV
// blocks), passed by value as a __grid_constant__ kernel parameter: the launch
// carries them, so an operand at a new address costs an encode on the host, not a
// copy into global memory (which the copy engine would have to acquire first).
struct __align__(64) TmaPair {
    unsigned char a[128], b[128];
};

// A 64-row tile of two operands by TMA (issued by one thread): rows row_a.. of the
// map at map_a into da and rows row_b.. of map_b into db, D / 64 boxes of 64 columns
// each (8 KiB apart in shared memory), completing on the mbarrier at bar.
template <int D>
__device__ __forceinline__ void tma_tile_pair(unsigned da, unsigned db, const void* map_a, const void* map_b,
                                              int row_a, int row_b, unsigned bar) {
    #pragma unroll
    for (int c = 0; c < D / 64; ++c) {
        tma_load_2d(da + c * 8192, map_a, c * 64, row_a, bar);
        tma_load_2d(db + c * 8192, map_b, c * 64, row_b, bar);
    }
}

// STAGES stages of a K and a V tile; tile i + AHEAD loads during step i, while
// K of tile i and V of tile i - 1 are read: AHEAD = STAGES - 2.
template <int D, int STAGES_> struct WgConfig {
    static constexpr int STAGES = STAGES_;
    static constexpr int AHEAD = STAGES - 2;
    static constexpr int TILE = 64 * D * 2;               // bytes of one K (or V) tile
    // + alignment slack, + attn_fwd_wg's mbarriers (one a stage) behind the ring
    static constexpr int SMEM = STAGES * 2 * TILE + 1024 + 64;
    static_assert(AHEAD >= 1, "at least 3 stages");
    static_assert(STAGES <= 8, "the mbarriers take 64 bytes");
};

// out (bh, m, D) = softmax(scale Q K^T on the pattern) V; lse (bh, m) in natural log
// of the scaled scores (-inf for a query with no keys, whose output row is 0).
// OVERLAP: the P V product of a tile runs beside the next tile's softmax (the
// default); false: each product is waited on at once (a simpler schedule, kept
// to tell a pipelining fault from a layout fault on the device). STAGES: the
// depth of the ring (3: one tile ahead; 4: two).
// Loads: a tile whose 64 keys are consecutive (tile_start[t] = its first key;
// -1 otherwise: gathered keys, or some -1) comes in by the bulk tensor copy
// (TMA) of maps (two CUtensorMaps, a kernel parameter: K's and V's rows of every
// (batch x head) slice as one 2-D array of D columns, boxes of 64 rows x 64
// columns, 128-byte swizzle: the layout sw_off describes), issued by thread 0:
// most tiles of local windows are such. Others are gathered by wg_load_kv's
// cp.async copies (per-thread address arithmetic and a read of each row's key
// first: in an H100 profile, session 21, a quarter of the loop's stall samples).
// Either way the stage's mbarrier (count 128) completes when the tile has landed:
// every thread arrives (thread 0 with the TMA's byte count), or each thread's
// cp.async.mbarrier.arrive fires once its copies have.
template <typename T, int D, bool OVERLAP, int STAGES>
__global__ void __launch_bounds__(128, D == 64 ? 3 : 2)
attn_fwd_wg(const bits16* __restrict__ Q, const bits16* __restrict__ K,
            const bits16* __restrict__ V, bits16* __restrict__ O, float* __restrict__ lse,
            const int* __restrict__ tile_ptr, const int* __restrict__ tile_keys,
            const int* __restrict__ tile_mask, const unsigned* __restrict__ masks,
            const int* __restrict__ order, const int* __restrict__ tile_start,
            const __grid_constant__ TmaPair maps, int m, i64 q_bh, i64 k_bh, i64 v_bh,
            float scale_log2)
{
#if defined(__CUDA_ARCH__) && (__CUDA_ARCH__ >= 900) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
    typedef WgConfig<D, STAGES> Cfg;
    constexpr int NT = BK / 8;       // 8-key column tiles of S
    constexpr int DT = D / 8;        // 8-column tiles of O
    constexpr int KS = D / 16;       // 16-deep k-steps of Q K^T
    constexpr int ST = Cfg::STAGES, AHEAD = Cfg::AHEAD;
    extern __shared__ __align__(128) unsigned char smem_raw[];
    const unsigned base = (smem_u32(smem_raw) + 1023u) & ~1023u;
    // stage s: K tile at base + 2 s TILE, V tile at base + (2 s + 1) TILE
    auto k_at = [&](int s) { return base + (unsigned)(2 * s) * Cfg::TILE; };
    auto v_at = [&](int s) { return base + (unsigned)(2 * s + 1) * Cfg::TILE; };
    auto full_at = [&](int s) { return base + (unsigned)(2 * ST) * Cfg::TILE + 8u * s; };

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int g = lane >> 2, t4 = lane & 3;
    const i64 bh = blockIdx.x;
    const int qb = order[blockIdx.y];
    const int q0 = qb * BQ;
    const bits16* Qb = Q + bh * q_bh;
    const bits16* Kb = K + bh * k_bh;
    const bits16* Vb = V + bh * v_bh;
    const int t0 = tile_ptr[qb], nt = tile_ptr[qb + 1] - t0;
    // the slice's first row in the maps' 2-D arrays (int: the copy's coordinate)
    const int k_row0 = (int)(bh * (k_bh / D)), v_row0 = (int)(bh * (v_bh / D));

    if (tid == 0) {
        #pragma unroll 1
        for (int s = 0; s < ST; ++s) mbar_init(full_at(s), 128);
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();
    // Tile j into stage j % ST (ks: tile_start of it), completing that stage's mbarrier.
    auto load_tile = [&](int j, int ks) {
        const int s = j % ST;
        if (ks >= 0) {
            if (tid == 0) {
                mbar_arrive_expect_tx(full_at(s), 2 * Cfg::TILE);
                tma_tile_pair<D>(k_at(s), v_at(s), maps.a, maps.b, k_row0 + ks, v_row0 + ks, full_at(s));
            } else {
                mbar_arrive(full_at(s));
            }
        } else {
            wg_load_kv<D>(k_at(s), v_at(s), Kb, Vb, tile_keys + (i64)(t0 + j) * BK, tid);
            mbar_arrive_cp_async(full_at(s));
        }
    };

    // Q (rows past m are zeros) into the K slot of the last stage (first refilled
    // by step 1; one cp.async group, waited for here), tiles 0 .. AHEAD - 1 into
    // stages 0 .. AHEAD - 1
    wg_load_q<D>(k_at(ST - 1), Qb, q0, m, tid);
    cp_async_commit();
    #pragma unroll
    for (int j = 0; j < AHEAD; ++j)
        if (j < nt) load_tile(j, __ldg(tile_start + t0 + j));
    // tile_start of tile AHEAD (read a step before its load)
    int ks_next = AHEAD < nt ? __ldg(tile_start + t0 + AHEAD) : -1;
    cp_async_wait<0>();
    __syncthreads();
    unsigned qf[KS][4];
    wg_q_frags<KS>(qf, k_at(ST - 1), warp, lane);

    float acc[DT][4];
    #pragma unroll
    for (int i = 0; i < DT; ++i) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.f;
    float row_max[2] = {neg_inf_f(), neg_inf_f()};
    float row_sum[2] = {0.f, 0.f};
    float s[NT][4];
    unsigned p[BK / 16][4];          // P of the last tile, the A operand of its P V product
    float corr[2];                   // rescaling of O to the last tile's row maxima

    auto pv = [&](int st) {
        #pragma unroll
        for (int kk = 0; kk < BK / 16; ++kk)
            WgPV<T, D>::run(&acc[0][0], p[kk], wg_desc128(v_at(st) + kk * 2048, 8192, 1024), 1);
    };
    auto rescale = [&]() {
        #pragma unroll
        for (int j = 0; j < DT; ++j) {
            acc[j][0] *= corr[0]; acc[j][1] *= corr[0];
            acc[j][2] *= corr[1]; acc[j][3] *= corr[1];
        }
    };

    // Step i: S of tile i and its softmax; with OVERLAP, the P V product of
    // tile i - 1 runs meanwhile, and once it is complete P of tile i is packed
    // into its A registers (p) and O rescaled to tile i's row maxima. Without
    // OVERLAP tile i's P V follows within the step.
    // `first` (a constant at each call): step 0, with no product before it.
    auto step = [&](int i, const bool first) {
        const int st = i % ST;
        const int it = t0 + i;
        mbar_wait(full_at(st), (i / ST) & 1);   // tile i has landed
        // (the cp.async copies are generic-proxy writes; the products read
        // through the async proxy)
        asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
        // Publishes tile i; every warp is past step i - 1, so the products that
        // read stage (i + AHEAD) % ST (tile i + AHEAD - ST <= i - 2) are complete.
        __syncthreads();
        const int mid = __ldg(tile_mask + it);
        const bool pv_now = OVERLAP && !first;
        wg_fence();
        #pragma unroll
        for (int ks = 0; ks < KS; ++ks)
            WgQK<T, 64>::run(&s[0][0], qf[ks],
                             wg_desc128(k_at(st) + (ks >> 2) * 8192 + (ks & 3) * 32, 16, 1024), ks > 0);
        wg_commit();
        if (pv_now) {
            pv((i - 1) % ST);
            wg_commit();
        }
        // the next load, issued behind the products
        if (i + AHEAD < nt) {
            const int ks = ks_next;
            if (i + AHEAD + 1 < nt) ks_next = __ldg(tile_start + it + AHEAD + 1);
            load_tile(i + AHEAD, ks);
        }
        unsigned w0[2], w1[2];
        wg_mask_words(masks, mid, warp, g, w0, w1);
        if (pv_now) wg_wait<1>(); else wg_wait<0>();   // S of tile i is complete
        pin<NT * 4>(&s[0][0]);
        wg_softmax<NT>(s, w0, w1, mid >= 0, t4, scale_log2, row_max, row_sum, corr);
        if (pv_now) wg_wait<0>();                        // P V of tile i - 1: p is free
        pin<DT * 4>(&acc[0][0]);
        wg_pack_p<T>(p, s);
        pin<BK / 4>(&p[0][0]);
        rescale();  // O to tile i's row maxima, before tile i's P V is added
        pin<DT * 4>(&acc[0][0]);
        if (!OVERLAP) {
            wg_fence();
            pv(st);
            wg_commit();
            wg_wait<0>();
            pin<DT * 4>(&acc[0][0]);
        }
    };

    if (nt > 0) step(0, true);
    for (int i = 1; i < nt; ++i) step(i, false);
    if (OVERLAP && nt > 0) {
        wg_fence();
        pv((nt - 1) % ST);
        wg_commit();
        wg_wait<0>();
        pin<DT * 4>(&acc[0][0]);
    }

    wg_store<T, DT>(O + bh * (i64)m * D, lse + bh * (i64)m, m, q0 + warp * 16, g, t4, acc, row_max, row_sum);
#elif defined(__CUDA_ARCH__)
    __trap();  // built without sm_90a: fail loudly rather than return nothing
#endif
}

// attn_fwd_wg2: attn_fwd_wg's products and softmax for two adjacent query blocks
// 2p and 2p + 1 of one (batch x head) slice per block of 256 threads, warpgroup
// w (threads 128w..128w+127) owning query block 2p + w, so that a key tile both
// blocks visit is loaded once. The blocks' tile lists are merged on the host
// (spla.ml.attention.pair_tiles): entry e of pair p (pair_ptr[p] <= e <
// pair_ptr[p + 1]) is (ta, tb) = pair_tiles[2e], pair_tiles[2e + 1], the index
// (into tile_keys, tile_mask) of block 2p's tile and of block 2p + 1's tile at
// that step, -1 where the block has none; the two tiles of an entry with both
// have the same keys, and each block's tiles come in its own order, so each
// warpgroup computes exactly what attn_fwd_wg computes for its block (the same
// bits). Per entry all 256 threads load the K and V tile (of ta, else tb) into
// the ring of attn_fwd_wg (STAGES stages, AHEAD = STAGES - 2 entries ahead) and
// meet at one barrier; a warpgroup whose block has a tile at the entry then
// runs attn_fwd_wg's overlapped step on it, the other skips it. A skipped
// entry first completes the warpgroup's pending P V product (that of its last
// tile, at the entry before): the stage that product reads is refilled at the
// entry after, so it may not stay in flight across a skip. The two warpgroups
// run in lockstep at the barrier, not in FA3's ping-pong, and every thread
// both loads and computes (no producer warp).
template <typename T, int D, int STAGES>
__global__ void __launch_bounds__(256, 1)
attn_fwd_wg2(const bits16* __restrict__ Q, const bits16* __restrict__ K,
             const bits16* __restrict__ V, bits16* __restrict__ O, float* __restrict__ lse,
             const int* __restrict__ pair_ptr, const int* __restrict__ pair_tiles,
             const int* __restrict__ tile_keys, const int* __restrict__ tile_mask,
             const unsigned* __restrict__ masks, const int* __restrict__ pair_order, int m,
             i64 q_bh, i64 k_bh, i64 v_bh, float scale_log2)
{
#if defined(__CUDA_ARCH__) && (__CUDA_ARCH__ >= 900) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
    typedef WgConfig<D, STAGES> Cfg;
    constexpr int NT = BK / 8;
    constexpr int DT = D / 8;
    constexpr int KS = D / 16;
    constexpr int ST = Cfg::STAGES, AHEAD = Cfg::AHEAD;
    extern __shared__ __align__(128) unsigned char smem_raw[];
    const unsigned base = (smem_u32(smem_raw) + 1023u) & ~1023u;
    auto k_at = [&](int s) { return base + (unsigned)(2 * s) * Cfg::TILE; };
    auto v_at = [&](int s) { return base + (unsigned)(2 * s + 1) * Cfg::TILE; };

    const int tid = threadIdx.x, wt = tid & 127;
    // the warpgroup through a shuffle, so that ptxas sees it warp-uniform (a
    // branch on it around wgmma is then not divergent)
    const int wgi = __shfl_sync(0xffffffffu, tid >> 7, 0);
    const int warp = wt >> 5, lane = tid & 31;
    const int g = lane >> 2, t4 = lane & 3;
    const i64 bh = blockIdx.x;
    const int pr = pair_order[blockIdx.y];
    const int q0 = (2 * pr + wgi) * BQ;
    const bits16* Qb = Q + bh * q_bh;
    const bits16* Kb = K + bh * k_bh;
    const bits16* Vb = V + bh * v_bh;
    const int e0 = pair_ptr[pr], ne = pair_ptr[pr + 1] - e0;
    // the keys of entry e: those of its first block's tile, else the second's
    auto keys_of = [&](int e) {
        const int ta = __ldg(pair_tiles + 2 * (i64)e);
        return tile_keys + (i64)(ta >= 0 ? ta : __ldg(pair_tiles + 2 * (i64)e + 1)) * BK;
    };

    // Q of warpgroup 0 into the K slot, of warpgroup 1 into the V slot of the
    // last stage (first refilled at entry 1); entries 0 .. AHEAD - 1 into
    // stages 0 .. AHEAD - 1, one cp.async group each
    wg_load_q<D>(wgi ? v_at(ST - 1) : k_at(ST - 1), Qb, q0, m, wt);
    #pragma unroll
    for (int j = 0; j < AHEAD; ++j) {
        if (j < ne) wg_load_kv<D, 256>(k_at(j), v_at(j), Kb, Vb, keys_of(e0 + j), tid);
        cp_async_commit();
    }
    cp_async_wait<AHEAD - 1>();
    __syncthreads();
    unsigned qf[KS][4];
    wg_q_frags<KS>(qf, wgi ? v_at(ST - 1) : k_at(ST - 1), warp, lane);

    float acc[DT][4];
    #pragma unroll
    for (int i = 0; i < DT; ++i) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.f;
    float row_max[2] = {neg_inf_f(), neg_inf_f()};
    float row_sum[2] = {0.f, 0.f};
    float s[NT][4];
    unsigned p[BK / 16][4];
    float corr[2];
    bool pending = false;            // P of the last entry's tile waits for its P V product

    auto pv = [&](int st) {
        #pragma unroll
        for (int kk = 0; kk < BK / 16; ++kk)
            WgPV<T, D>::run(&acc[0][0], p[kk], wg_desc128(v_at(st) + kk * 2048, 8192, 1024), 1);
    };
    auto load_next = [&](int i) {
        if (i + AHEAD < ne) {
            const int sn = (i + AHEAD) % ST;
            wg_load_kv<D, 256>(k_at(sn), v_at(sn), Kb, Vb, keys_of(e0 + i + AHEAD), tid);
        }
        cp_async_commit();
    };

    // Entry i, a tile (it) of this warpgroup's block: attn_fwd_wg's overlapped
    // step (pv_now: the P V product of the previous entry's tile is pending)
    auto own_step = [&](int i, int it, const bool pv_now) {
        const int st = i % ST;
        const int mid = __ldg(tile_mask + it);
        wg_fence();
        #pragma unroll
        for (int ks = 0; ks < KS; ++ks)
            WgQK<T, 64>::run(&s[0][0], qf[ks],
                             wg_desc128(k_at(st) + (ks >> 2) * 8192 + (ks & 3) * 32, 16, 1024), ks > 0);
        wg_commit();
        if (pv_now) {
            pv((i - 1) % ST);
            wg_commit();
        }
        load_next(i);
        unsigned w0[2], w1[2];
        wg_mask_words(masks, mid, warp, g, w0, w1);
        if (pv_now) wg_wait<1>(); else wg_wait<0>();
        pin<NT * 4>(&s[0][0]);
        wg_softmax<NT>(s, w0, w1, mid >= 0, t4, scale_log2, row_max, row_sum, corr);
        if (pv_now) wg_wait<0>();
        pin<DT * 4>(&acc[0][0]);
        wg_pack_p<T>(p, s);
        pin<BK / 4>(&p[0][0]);
        #pragma unroll
        for (int j = 0; j < DT; ++j) {
            acc[j][0] *= corr[0]; acc[j][1] *= corr[0];
            acc[j][2] *= corr[1]; acc[j][3] *= corr[1];
        }
        pin<DT * 4>(&acc[0][0]);
    };

    for (int i = 0; i < ne; ++i) {
        cp_async_wait<AHEAD - 1>();
        asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
        // Publishes entry i; both warpgroups are past entry i - 1, so the
        // products that read stage (i + AHEAD) % ST (entry <= i - 2) are complete
        // (a warpgroup's product of entry i - 2 completes within entry i - 1).
        __syncthreads();
        const int it = __shfl_sync(0xffffffffu, __ldg(pair_tiles + 2 * (i64)(e0 + i) + wgi), 0);
        if (it >= 0) {
            // pv_now a constant in each copy, as attn_fwd_wg's `first`: ptxas
            // then sees which product groups each wait leaves in flight
            if (pending) own_step(i, it, true); else own_step(i, it, false);
            pending = true;
        } else if (pending) {
            wg_fence();
            pv((i - 1) % ST);
            wg_commit();
            load_next(i);
            wg_wait<0>();
            pin<DT * 4>(&acc[0][0]);
            pending = false;
        } else {
            load_next(i);
        }
    }
    if (pending) {
        wg_fence();
        pv((ne - 1) % ST);
        wg_commit();
        wg_wait<0>();
        pin<DT * 4>(&acc[0][0]);
    }

    wg_store<T, DT>(O + bh * (i64)m * D, lse + bh * (i64)m, m, q0 + warp * 16, g, t4, acc, row_max, row_sum);
#elif defined(__CUDA_ARCH__)
    __trap();
#endif
}


// attn_fwd_wg_pp: attn_fwd_wg2's pairs of query blocks (the same host arrays:
// pair_ptr, pair_tiles, pair_order) in FlashAttention-3's warp-specialised
// schedule. A block is three warpgroups (384 threads): warpgroup 0 the producer,
// warpgroups 1 and 2 the consumers, consumer c (= warpgroup - 1) owning query
// block 2p + c.
//   Producer: per entry e of the pair's list, gathers the K and V tile (keys of
//     ta, else tb) into stage e % STAGES of a ring, by the cp.async copies of
//     wg_load_kv (16 bytes each, into the swizzled layout), after waiting on the
//     stage's `empty` mbarrier; each of its 128 threads then signals the stage's
//     `full` mbarrier with cp.async.mbarrier.arrive.noinc, which fires once that
//     thread's copies have landed (count 128). Bulk copies do not fit here: the
//     rows are gathered (one 1-D cp.async.bulk per row would write it
//     contiguously, but the 128-byte swizzle, and even the unswizzled core-matrix
//     layout, scatters a row's 16-byte chunks), the tensor copies' row gather
//     (tile::gather4) is sm_100's, and a per-row 2-D tensor map would need the
//     driver's cuTensorMapEncode on the host and 64-128 copies per tile from one
//     thread. Its loop loads the pair entry two entries ahead and the key rows
//     one ahead, so that it waits on memory only for a free stage. It keeps 56
//     registers (setmaxnreg.dec; 48 spills its d = 128 loop), the consumers take
//     224 (56 + 2 x 224 = 504 of the 512 a thread per warpgroup the SM has).
//   Consumers: per entry, wait on `full` (then fence.proxy.async: the copies are
//     generic-proxy writes, the products read through the async proxy), and if
//     their block has a tile there run attn_fwd_wg's overlapped step on it (S_e
//     and the pending P V of their previous tile issued together, softmax of S_e
//     while that product runs); a consumer without a tile there completes its
//     pending product. A stage is released (one arrival per consumer warp on
//     `empty`, count 8) once the consumer no longer reads it: at once for an
//     entry it skips, else when the P V product that reads its V completes
//     (within the consumer's next entry).
//   Ping-pong: consumer c issues its products of an entry between bar.sync on
//     its named barrier (1 + c, 256 threads) and bar.arrive on the other's, so
//     that the two consumers' products alternate on the tensor cores and one's
//     softmax runs during the other's products. Consumer 1 arrives once on
//     consumer 0's barrier before the loop (consumer 0 goes first) and not after
//     its last entry, so that every barrier phase started is completed.
// Each consumer does attn_fwd_wg's arithmetic on its block's tiles in their
// order, so the output is wg's (and wg2's) bit for bit.
__device__ __forceinline__ void named_sync(int id, int n) {
    asm volatile("bar.sync %0, %1;\n" :: "r"(id), "r"(n) : "memory");
}
__device__ __forceinline__ void named_arrive(int id, int n) {
    asm volatile("bar.arrive %0, %1;\n" :: "r"(id), "r"(n) : "memory");
}

template <int D, int STAGES_> struct WgPpConfig {
    static constexpr int STAGES = STAGES_;
    static constexpr int TILE = 64 * D * 2;                // bytes of one K (or V, or Q) tile
    // the ring, the consumers' two Q tiles, 2 STAGES mbarriers, alignment slack
    static constexpr int SMEM = (2 * STAGES + 2) * TILE + 2 * STAGES * 8 + 1024;
};
#define WG_PP_PRODUCER_REGS 56
#define WG_PP_CONSUMER_REGS 224

template <typename T, int D, int STAGES>
__global__ void __launch_bounds__(384, 1)
attn_fwd_wg_pp(const bits16* __restrict__ Q, const bits16* __restrict__ K,
               const bits16* __restrict__ V, bits16* __restrict__ O, float* __restrict__ lse,
               const int* __restrict__ pair_ptr, const int* __restrict__ pair_tiles,
               const int* __restrict__ tile_keys, const int* __restrict__ tile_mask,
               const unsigned* __restrict__ masks, const int* __restrict__ pair_order,
               const int* __restrict__ tile_start, const __grid_constant__ TmaPair maps, int m,
               i64 q_bh, i64 k_bh, i64 v_bh, float scale_log2)
{
#if defined(__CUDA_ARCH__) && (__CUDA_ARCH__ >= 900) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
    typedef WgPpConfig<D, STAGES> Cfg;
    constexpr int NT = BK / 8;
    constexpr int DT = D / 8;
    constexpr int KS = D / 16;
    constexpr int ST = Cfg::STAGES;
    extern __shared__ __align__(128) unsigned char smem_raw[];
    const unsigned base = (smem_u32(smem_raw) + 1023u) & ~1023u;
    auto k_at = [&](int s) { return base + (unsigned)(2 * s) * Cfg::TILE; };
    auto v_at = [&](int s) { return base + (unsigned)(2 * s + 1) * Cfg::TILE; };
    auto q_at = [&](int c) { return base + (unsigned)(2 * ST + c) * Cfg::TILE; };
    const unsigned bars = base + (unsigned)(2 * ST + 2) * Cfg::TILE;
    auto full_at = [&](int s) { return bars + 8u * s; };
    auto empty_at = [&](int s) { return bars + 8u * (ST + s); };

    const int tid = threadIdx.x, wt = tid & 127;
    // the warpgroup through a shuffle, so that ptxas sees it warp-uniform
    const int wgi = __shfl_sync(0xffffffffu, tid >> 7, 0);
    const i64 bh = blockIdx.x;
    const int pr = pair_order[blockIdx.y];
    const int e0 = pair_ptr[pr], ne = pair_ptr[pr + 1] - e0;
    if (tid == 0) {
        #pragma unroll 1
        for (int s = 0; s < ST; ++s) {
            mbar_init(full_at(s), 128);     // the producer's threads
            mbar_init(empty_at(s), 8);      // one lane per consumer warp
        }
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();

    if (wgi == 0) {
        // producer
        asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" :: "n"(WG_PP_PRODUCER_REGS));
        const bits16* Kb = K + bh * k_bh;
        const bits16* Vb = V + bh * v_bh;
        constexpr int CH = D / 8, IT = 64 * CH / 128;   // this thread's chunk k: row (wt + 128 k) / CH
        const int k_row0 = (int)(bh * (k_bh / D)), v_row0 = (int)(bh * (v_bh / D));
        // The key rows of entry e + 1 load during entry e, from its pair entry loaded
        // during entry e - 1, so that no step of this loop waits on memory (a key
        // tile's index, then its keys, then the copies: two dependent loads per entry).
        // An entry whose tile has consecutive keys (tile_start >= 0) needs no key rows:
        // its K and V come by TMA, as attn_fwd_wg's.
        int ta = -1, tb = -1;            // the pair entry e + 1
        int kn[IT];                      // the keys of this thread's rows of entry e + 1
        int sn = -1;                     // tile_start of entry e + 1
        auto keys_of = [&](int a, int b, int* kr, int& start) {
            const int t = a >= 0 ? a : b;
            start = __ldg(tile_start + t);
            if (start < 0) {
                const int* keys = tile_keys + (i64)t * BK;
                #pragma unroll
                for (int k = 0; k < IT; ++k) kr[k] = __ldg(keys + (wt + k * 128) / CH);
            }
        };
        if (ne > 0) keys_of(__ldg(pair_tiles + 2 * (i64)e0), __ldg(pair_tiles + 2 * (i64)e0 + 1), kn, sn);
        if (ne > 1) { ta = __ldg(pair_tiles + 2 * (i64)(e0 + 1)); tb = __ldg(pair_tiles + 2 * (i64)(e0 + 1) + 1); }
        #pragma unroll 1
        for (int e = 0; e < ne; ++e) {
            const int s = e % ST;
            int kc[IT];
            #pragma unroll
            for (int k = 0; k < IT; ++k) kc[k] = kn[k];
            const int sc = sn;
            if (e + 1 < ne) keys_of(ta, tb, kn, sn);
            if (e + 2 < ne) {
                ta = __ldg(pair_tiles + 2 * (i64)(e0 + e + 2));
                tb = __ldg(pair_tiles + 2 * (i64)(e0 + e + 2) + 1);
            }
            mbar_wait(empty_at(s), ((e / ST) & 1) ^ 1);   // fill e / ST: its previous fill released
            if (sc >= 0) {
                if (wt == 0) {
                    mbar_arrive_expect_tx(full_at(s), 2 * Cfg::TILE);
                    tma_tile_pair<D>(k_at(s), v_at(s), maps.a, maps.b, k_row0 + sc, v_row0 + sc, full_at(s));
                } else {
                    mbar_arrive(full_at(s));
                }
                continue;
            }
            #pragma unroll
            for (int k = 0; k < IT; ++k) {
                const int cc = (wt + k * 128) % CH, r = (wt + k * 128) / CH;
                const int bytes = kc[k] >= 0 ? 16 : 0;
                const i64 off = (i64)(kc[k] < 0 ? 0 : kc[k]) * D + cc * 8;
                asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n"
                             :: "r"(k_at(s) + sw_off(r, cc)), "l"(Kb + off), "r"(bytes));
                asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n"
                             :: "r"(v_at(s) + sw_off(r, cc)), "l"(Vb + off), "r"(bytes));
            }
            mbar_arrive_cp_async(full_at(s));
        }
        asm volatile("cp.async.wait_all;\n" ::: "memory");   // no copy outlives its thread
        return;
    }

    // consumers
    asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" :: "n"(WG_PP_CONSUMER_REGS));
    const int c = wgi - 1;
    const int warp = wt >> 5, lane = tid & 31;
    const int g = lane >> 2, t4 = lane & 3;
    const int q0 = (2 * pr + c) * BQ;
    const int own_bar = 1 + c, other_bar = 2 - c;

    wg_load_q<D>(q_at(c), Q + bh * q_bh, q0, m, wt);
    cp_async_commit();
    cp_async_wait<0>();
    named_sync(3 + c, 128);          // this warpgroup's Q copies are visible to its ldmatrix
    unsigned qf[KS][4];
    wg_q_frags<KS>(qf, q_at(c), warp, lane);
    if (c == 1 && ne > 0) named_arrive(1, 256);   // consumer 0 issues first

    float acc[DT][4];
    #pragma unroll
    for (int i = 0; i < DT; ++i) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.f;
    float row_max[2] = {neg_inf_f(), neg_inf_f()};
    float row_sum[2] = {0.f, 0.f};
    float s[NT][4];
    unsigned p[BK / 16][4];
    float corr[2];
    bool pending = false;            // P of the last own tile waits for its P V product

    auto pv = [&](int st) {
        #pragma unroll
        for (int kk = 0; kk < BK / 16; ++kk)
            WgPV<T, D>::run(&acc[0][0], p[kk], wg_desc128(v_at(st) + kk * 2048, 8192, 1024), 1);
    };
    auto release = [&](int st) {
        __syncwarp();
        if (lane == 0) mbar_arrive(empty_at(st));
    };
    // hands the tensor cores to the other consumer (consumer 1 not after its last entry)
    auto pass = [&](int i) {
        if (c == 0 || i + 1 < ne) named_arrive(other_bar, 256);
    };

    // Entry i, tile it of this consumer's block: attn_fwd_wg's overlapped step;
    // pv_now: the P V product of the previous own tile (entry pe) is pending
    auto own_step = [&](int i, int mid, int pe, const bool pv_now) {
        const int st = i % ST;
        named_sync(own_bar, 256);
        wg_fence();
        #pragma unroll
        for (int ks = 0; ks < KS; ++ks)
            WgQK<T, 64>::run(&s[0][0], qf[ks],
                             wg_desc128(k_at(st) + (ks >> 2) * 8192 + (ks & 3) * 32, 16, 1024), ks > 0);
        wg_commit();
        if (pv_now) {
            pv(pe % ST);
            wg_commit();
        }
        pass(i);
        unsigned w0[2], w1[2];
        wg_mask_words(masks, mid, warp, g, w0, w1);
        if (pv_now) wg_wait<1>(); else wg_wait<0>();
        pin<NT * 4>(&s[0][0]);
        wg_softmax<NT>(s, w0, w1, mid >= 0, t4, scale_log2, row_max, row_sum, corr);
        if (pv_now) wg_wait<0>();
        pin<DT * 4>(&acc[0][0]);
        if (pv_now) release(pe % ST);                    // V of entry pe is read
        wg_pack_p<T>(p, s);
        pin<BK / 4>(&p[0][0]);
        #pragma unroll
        for (int j = 0; j < DT; ++j) {
            acc[j][0] *= corr[0]; acc[j][1] *= corr[0];
            acc[j][2] *= corr[1]; acc[j][3] *= corr[1];
        }
        pin<DT * 4>(&acc[0][0]);
    };

    int pe = 0;                      // the entry of the pending product
    // this block's tile at entry i + 1, loaded during entry i (shuffled from lane 0
    // at entry i + 1, so that ptxas sees the branch on it warp-uniform)
    int it_next = ne > 0 ? __ldg(pair_tiles + 2 * (i64)e0 + c) : -1;
    #pragma unroll 1
    for (int i = 0; i < ne; ++i) {
        const int st = i % ST;
        const int it = __shfl_sync(0xffffffffu, it_next, 0);
        if (i + 1 < ne) it_next = __ldg(pair_tiles + 2 * (i64)(e0 + i + 1) + c);
        const int mid = it >= 0 ? __ldg(tile_mask + it) : -1;   // used after the products issue
        mbar_wait(full_at(st), (i / ST) & 1);
        asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
        if (it >= 0) {
            if (pending) own_step(i, mid, pe, true); else own_step(i, mid, pe, false);
            pending = true;
            pe = i;
        } else if (pending) {
            // one branch from the product to its wait, so that ptxas sees both
            named_sync(own_bar, 256);
            wg_fence();
            pv(pe % ST);
            wg_commit();
            pass(i);
            wg_wait<0>();
            pin<DT * 4>(&acc[0][0]);
            release(pe % ST);
            release(st);
            pending = false;
        } else {
            named_sync(own_bar, 256);
            pass(i);
            release(st);
        }
    }
    if (pending) {
        wg_fence();
        pv(pe % ST);
        wg_commit();
        wg_wait<0>();
        pin<DT * 4>(&acc[0][0]);
    }

    wg_store<T, DT>(O + bh * (i64)m * D, lse + bh * (i64)m, m, q0 + warp * 16, g, t4, acc, row_max, row_sum);
#elif defined(__CUDA_ARCH__)
    __trap();
#endif
}
