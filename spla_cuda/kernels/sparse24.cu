// 2:4 SpMM on the sparse tensor cores: C (M, N) = A (M, K) @ B (K, N), A 2:4
// along K, 16-bit values (half or bfloat16), float accumulation and output.
//
// Storage the kernel reads (prepared once when the array moves to the GPU):
//   Av    (M, K/2)   the kept values, two per group of four, in column order;
//   meta  (K/32, ME) one 32-bit word per row and 32 columns: group c of the
//                    word sits in bits 4c+3..4c, low 2 bits = position of the
//                    first kept value, high 2 bits = the second (first < second).
//                    Transposed so that one k-slice of a row tile is contiguous;
//                    rows padded to ME, a multiple of 4, so that every 16-byte
//                    copy of four words is aligned.
// Requirements (checked by the caller): K % 32 == 0, N % 8 == 0; any M.
//
// Tiling (Sp24Config below): a block computes a BM x BN tile of C, each warp a
// WM x WN tile of m16n8k32 mma.sp instructions; K advances BK at a time through
// a STAGES-deep cp.async pipeline (K % BK == 0). Shared tiles are swizzled so
// that every ldmatrix reads 8 rows from distinct banks.
// 16-bit values travel as their bits; the tag picks the instruction.
struct f16 {};
struct bf16 {};
typedef unsigned short bits16;

__device__ __forceinline__ unsigned smem_addr(const void* p) {
    return (unsigned)__cvta_generic_to_shared(p);
}

__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool valid) {
    const int bytes = valid ? 16 : 0;  // 0: fill the 16 bytes with zeros
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n"
                 :: "r"(smem_addr(dst)), "l"(src), "r"(bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" :: "n"(N)); }

__device__ __forceinline__ void ldmatrix_x4(unsigned* r, const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(smem_addr(p)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(unsigned* r, const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(smem_addr(p)));
}

template <typename T> struct MmaSp;
template <> struct MmaSp<f16> {
    static __device__ __forceinline__ void run(float* d, const unsigned* a, const unsigned* b, unsigned e) {
        asm volatile(
            "mma.sp::ordered_metadata.sync.aligned.m16n8k32.row.col.f32.f16.f16.f32 "
            "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9,%10,%11}, {%0,%1,%2,%3}, %12, 0x0;\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]),
              "r"(b[0]), "r"(b[1]), "r"(b[2]), "r"(b[3]), "r"(e));
    }
};
template <> struct MmaSp<bf16> {
    static __device__ __forceinline__ void run(float* d, const unsigned* a, const unsigned* b, unsigned e) {
        asm volatile(
            "mma.sp::ordered_metadata.sync.aligned.m16n8k32.row.col.f32.bf16.bf16.f32 "
            "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9,%10,%11}, {%0,%1,%2,%3}, %12, 0x0;\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]),
              "r"(b[0]), "r"(b[1]), "r"(b[2]), "r"(b[3]), "r"(e));
    }
};

// Tile of C per block BM x BN; warp tile WM x WN (MI = WM/16 m16 tiles by
// NJ = WN/8 n8 tiles); BK logical columns of A per pipeline stage (BK/32 mma
// k-steps between barriers). Shared memory is dynamic:
//   sA[STAGES][BM][BK/2] halves, 16-byte chunk c of row r at c ^ swizzle_a(r);
//   sB[STAGES][BK][BN]   halves, 16-byte chunk c of row k at c ^ (k % 8);
//   sE[STAGES][BK/32][BM] metadata words.
template <int BM, int BN, int BK, int WM, int WN, int STAGES>
struct Sp24Config {
    static constexpr int WARPS_M = BM / WM, WARPS_N = BN / WN;
    static constexpr int THREADS = WARPS_M * WARPS_N * 32;
    static constexpr int MI = WM / 16, NJ = WN / 8, KSTEPS = BK / 32;
    static constexpr int A_CHUNKS = BK / 16;           // 16-byte chunks per row of sA
    static constexpr int A_STAGE = BM * BK / 2;        // halves
    static constexpr int B_STAGE = BK * BN;            // halves
    static constexpr int E_STAGE = KSTEPS * BM;        // words
    static constexpr int SMEM = STAGES * (2 * A_STAGE + 2 * B_STAGE + 4 * E_STAGE);
};

// Chunk swizzle of sA: rows r of one 8-row ldmatrix read land in distinct banks.
template <int A_CHUNKS>
__device__ __forceinline__ int swizzle_a(int r) {
    if (A_CHUNKS >= 4) return (r >> 1) & 3;
    if (A_CHUNKS == 2) return (r >> 2) & 1;
    return 0;
}

template <typename T, int BM, int BN, int BK, int WM, int WN, int STAGES, int PIPE>
__global__ void __launch_bounds__((BM / WM) * (BN / WN) * 32)
sp24_spmm(const bits16* __restrict__ Av, const unsigned* __restrict__ meta,
          const bits16* __restrict__ B, float* __restrict__ C, int M, int N, int K, int ME)
{
    typedef Sp24Config<BM, BN, BK, WM, WN, STAGES> Cfg;
    extern __shared__ __align__(128) unsigned char smem[];
    bits16* sA = reinterpret_cast<bits16*>(smem);
    bits16* sB = sA + STAGES * Cfg::A_STAGE;
    unsigned* sE = reinterpret_cast<unsigned*>(sB + STAGES * Cfg::B_STAGE);

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int wm = warp / Cfg::WARPS_N, wn = warp % Cfg::WARPS_N;
    const int g = lane >> 2, t = lane & 3;
    const int row0 = blockIdx.y * BM, col0 = blockIdx.x * BN;
    const int KH = K / 2, k_tiles = K / BK;

    auto load_stage = [&](int stage, int kt) {
        bits16* a = sA + stage * Cfg::A_STAGE;
        bits16* b = sB + stage * Cfg::B_STAGE;
        unsigned* e = sE + stage * Cfg::E_STAGE;
        for (int chunk = tid; chunk < BM * Cfg::A_CHUNKS; chunk += Cfg::THREADS) {
            const int r = chunk / Cfg::A_CHUNKS, c = chunk % Cfg::A_CHUNKS;
            const int gr = row0 + r;
            const bool ok = gr < M;
            cp_async16(a + r * (BK / 2) + ((c ^ swizzle_a<Cfg::A_CHUNKS>(r)) * 8),
                       Av + (size_t)(ok ? gr : 0) * KH + kt * (BK / 2) + c * 8, ok);
        }
        for (int chunk = tid; chunk < BK * BN / 8; chunk += Cfg::THREADS) {
            const int k = chunk / (BN / 8), c = chunk % (BN / 8);
            const int gc = col0 + c * 8;
            const bool ok = gc < N;
            cp_async16(b + k * BN + ((c ^ (k & 7)) * 8),
                       B + (size_t)(kt * BK + k) * N + (ok ? gc : 0), ok);
        }
        for (int chunk = tid; chunk < Cfg::E_STAGE / 4; chunk += Cfg::THREADS) {
            const int ks = chunk / (BM / 4), r = (chunk % (BM / 4)) * 4;
            const size_t src = (size_t)(kt * Cfg::KSTEPS + ks) * ME + row0 + r;
            if (row0 + r + 3 < ME) {
                cp_async16(e + ks * BM + r, meta + src, true);
            } else {
                for (int q = 0; q < 4; ++q)
                    e[ks * BM + r + q] = (row0 + r + q < ME) ? meta[src + q] : 0x44444444u;
            }
        }
    };

    float acc[Cfg::MI][Cfg::NJ][4];
    #pragma unroll
    for (int i = 0; i < Cfg::MI; ++i)
        #pragma unroll
        for (int j = 0; j < Cfg::NJ; ++j)
            #pragma unroll
            for (int q = 0; q < 4; ++q) acc[i][j][q] = 0.f;

    #pragma unroll
    for (int s = 0; s < STAGES - 1; ++s) {
        if (s < k_tiles) load_stage(s, s);
        cp_async_commit();
    }

    for (int kt = 0; kt < k_tiles; ++kt) {
        cp_async_wait<STAGES - 2>();
        __syncthreads();
        const int nxt = kt + STAGES - 1;
        if (nxt < k_tiles) load_stage(nxt % STAGES, nxt);
        cp_async_commit();

        const int st = kt % STAGES;
        const bits16* a_st = sA + st * Cfg::A_STAGE;
        const bits16* b_st = sB + st * Cfg::B_STAGE;
        const unsigned* e_st = sE + st * Cfg::E_STAGE;
        // Fragments of k-step ks go to buffer ks % 2; with PIPE the loads of step
        // ks + 1 are issued before the mma instructions of step ks.
        unsigned a[2][Cfg::MI][4], b[2][Cfg::NJ][4], e[2][Cfg::MI];
        auto load_fragments = [&](int ks, int buf) {
            #pragma unroll
            for (int i = 0; i < Cfg::MI; ++i) {
                const int r = wm * WM + i * 16 + (lane & 15);
                const int c = ks * 2 + (lane >> 4);    // 16-byte chunk: 8 compressed columns
                ldmatrix_x4(a[buf][i], a_st + r * (BK / 2) + ((c ^ swizzle_a<Cfg::A_CHUNKS>(r)) * 8));
                const int rr = wm * WM + i * 16 + g;
                const unsigned lo = e_st[ks * BM + rr], hi = e_st[ks * BM + rr + 8];
                // lane 4g+0: groups 0..3 of rows g and g+8; lane 4g+1: groups 4..7.
                e[buf][i] = (t & 1) ? __byte_perm(lo, hi, 0x7632) : __byte_perm(lo, hi, 0x5410);
            }
            #pragma unroll
            for (int j = 0; j < Cfg::NJ; ++j) {
                const int k = ks * 32 + lane;                // rows of this k-step
                const int c = (wn * WN + j * 8) >> 3;        // 16-byte chunk of the n8 tile
                ldmatrix_x4_trans(b[buf][j], b_st + k * BN + ((c ^ (k & 7)) * 8));
            }
        };
        if (PIPE) load_fragments(0, 0);
        #pragma unroll
        for (int ks = 0; ks < Cfg::KSTEPS; ++ks) {
            const int buf = PIPE ? (ks & 1) : 0;
            if (!PIPE) load_fragments(ks, 0);
            else if (ks + 1 < Cfg::KSTEPS) load_fragments(ks + 1, (ks + 1) & 1);
            #pragma unroll
            for (int i = 0; i < Cfg::MI; ++i)
                #pragma unroll
                for (int j = 0; j < Cfg::NJ; ++j)
                    MmaSp<T>::run(acc[i][j], a[buf][i], b[buf][j], e[buf][i]);
        }
    }
    cp_async_wait<0>();

    #pragma unroll
    for (int i = 0; i < Cfg::MI; ++i) {
        #pragma unroll
        for (int j = 0; j < Cfg::NJ; ++j) {
            const int r = row0 + wm * WM + i * 16 + g;
            const int c = col0 + wn * WN + j * 8 + 2 * t;
            if (c < N) {
                if (r < M) *reinterpret_cast<float2*>(C + (size_t)r * N + c) = make_float2(acc[i][j][0], acc[i][j][1]);
                if (r + 8 < M) *reinterpret_cast<float2*>(C + (size_t)(r + 8) * N + c) = make_float2(acc[i][j][2], acc[i][j][3]);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Version 5: Hopper's warpgroup sparse MMA (wgmma.mma_async.sp, sm_90a).
//
// A block of 256 threads = 2 warpgroups computes a WG_BM x WG_BN tile of C
// (128 x 256 or 256 x 128); each warpgroup owns WG_BM / 2 rows (MI blocks of
// 64) and issues, per 32 columns of K and block of 64 rows, m64nNIk32 sparse
// products (WG_BN / NI of them) whose A and B operands the
// tensor cores read straight from shared memory through matrix descriptors
// (no fragments in registers), accumulating in 128 float registers per thread.
//
// Shared layouts (the descriptors' canonical forms; tiles start on a
// 1024-byte boundary because swizzles follow absolute address bits):
//   A, K-major, 64-byte swizzle: each stage's 128 rows x 32 compressed columns
//     are rows of 64 bytes in atoms of 8 rows (512 bytes); 16-byte chunk c of
//     row r sits at chunk c ^ ((r >> 1) & 3). Descriptor: stride 512 B between
//     8-row groups; the second k-step starts 32 bytes into the rows.
//   B, N-major (the transposed operand), 128-byte swizzle: see wg_b_atom.
//     Without the swizzle (core matrices of 8 k-rows x 16 bytes) the tensor
//     cores' reads of B conflict in the banks and the kernel ran at 240
//     TFLOP/s instead of 510-540 (docs/gpu.md).
// The metadata of warp w of a warpgroup (rows 16 w .. 16 w + 15 of its 64) is
// laid out per lane exactly as for mma.sp m16n8k32. Loads are cp.async,
// STAGES deep; before the barrier that publishes a stage each thread runs
// fence.proxy.async, since the tensor cores read shared memory through the
// async proxy.
#define WG_BK 64

// WgmmaSp<T, N>::run: one m64nNk32 sparse product, A and B from shared memory
// (descriptors da, db), B transposed (N-major), metadata e, selector 0.
template <typename T, int N> struct WgmmaSp;
template <> struct WgmmaSp<f16, 128> {
    // scale_d == 0: D = A B (the accumulators' old values are ignored).
    static __device__ __forceinline__ void run(float* d, unsigned long long da, unsigned long long db, unsigned e, int scale_d) {
        asm volatile(
            "{\n.reg .pred p;\nsetp.ne.b32 p, %67, 0;\n"
            "wgmma.mma_async.sp.sync.aligned.m64n128k32.f32.f16.f16 "
            "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63}, %64, %65, %66, 0, p, 1, 1, 0, 1;\n}\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
            : "l"(da), "l"(db), "r"(e), "r"(scale_d) : "memory");
    }
};
template <> struct WgmmaSp<f16, 256> {
    // scale_d == 0: D = A B (the accumulators' old values are ignored).
    static __device__ __forceinline__ void run(float* d, unsigned long long da, unsigned long long db, unsigned e, int scale_d) {
        asm volatile(
            "{\n.reg .pred p;\nsetp.ne.b32 p, %131, 0;\n"
            "wgmma.mma_async.sp.sync.aligned.m64n256k32.f32.f16.f16 "
            "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63,%64,%65,%66,%67,%68,%69,%70,%71,%72,%73,%74,%75,%76,%77,%78,%79,%80,%81,%82,%83,%84,%85,%86,%87,%88,%89,%90,%91,%92,%93,%94,%95,%96,%97,%98,%99,%100,%101,%102,%103,%104,%105,%106,%107,%108,%109,%110,%111,%112,%113,%114,%115,%116,%117,%118,%119,%120,%121,%122,%123,%124,%125,%126,%127}, %128, %129, %130, 0, p, 1, 1, 0, 1;\n}\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]), "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]), "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]), "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]), "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]), "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]), "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]), "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])
            : "l"(da), "l"(db), "r"(e), "r"(scale_d) : "memory");
    }
};
template <> struct WgmmaSp<bf16, 128> {
    // scale_d == 0: D = A B (the accumulators' old values are ignored).
    static __device__ __forceinline__ void run(float* d, unsigned long long da, unsigned long long db, unsigned e, int scale_d) {
        asm volatile(
            "{\n.reg .pred p;\nsetp.ne.b32 p, %67, 0;\n"
            "wgmma.mma_async.sp.sync.aligned.m64n128k32.f32.bf16.bf16 "
            "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63}, %64, %65, %66, 0, p, 1, 1, 0, 1;\n}\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
            : "l"(da), "l"(db), "r"(e), "r"(scale_d) : "memory");
    }
};
template <> struct WgmmaSp<bf16, 256> {
    // scale_d == 0: D = A B (the accumulators' old values are ignored).
    static __device__ __forceinline__ void run(float* d, unsigned long long da, unsigned long long db, unsigned e, int scale_d) {
        asm volatile(
            "{\n.reg .pred p;\nsetp.ne.b32 p, %131, 0;\n"
            "wgmma.mma_async.sp.sync.aligned.m64n256k32.f32.bf16.bf16 "
            "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63,%64,%65,%66,%67,%68,%69,%70,%71,%72,%73,%74,%75,%76,%77,%78,%79,%80,%81,%82,%83,%84,%85,%86,%87,%88,%89,%90,%91,%92,%93,%94,%95,%96,%97,%98,%99,%100,%101,%102,%103,%104,%105,%106,%107,%108,%109,%110,%111,%112,%113,%114,%115,%116,%117,%118,%119,%120,%121,%122,%123,%124,%125,%126,%127}, %128, %129, %130, 0, p, 1, 1, 0, 1;\n}\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]), "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]), "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]), "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]), "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]), "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]), "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]), "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])
            : "l"(da), "l"(db), "r"(e), "r"(scale_d) : "memory");
    }
};

template <> struct WgmmaSp<f16, 64> {
    // scale_d == 0: D = A B (the accumulators' old values are ignored).
    static __device__ __forceinline__ void run(float* d, unsigned long long da, unsigned long long db, unsigned e, int scale_d) {
        asm volatile(
            "{\n.reg .pred p;\nsetp.ne.b32 p, %35, 0;\n"
            "wgmma.mma_async.sp.sync.aligned.m64n64k32.f32.f16.f16 "
            "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31}, %32, %33, %34, 0, p, 1, 1, 0, 1;\n}\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
            : "l"(da), "l"(db), "r"(e), "r"(scale_d) : "memory");
    }
};
template <> struct WgmmaSp<bf16, 64> {
    // scale_d == 0: D = A B (the accumulators' old values are ignored).
    static __device__ __forceinline__ void run(float* d, unsigned long long da, unsigned long long db, unsigned e, int scale_d) {
        asm volatile(
            "{\n.reg .pred p;\nsetp.ne.b32 p, %35, 0;\n"
            "wgmma.mma_async.sp.sync.aligned.m64n64k32.f32.bf16.bf16 "
            "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31}, %32, %33, %34, 0, p, 1, 1, 0, 1;\n}\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
            : "l"(da), "l"(db), "r"(e), "r"(scale_d) : "memory");
    }
};

// Matrix descriptor: start address, leading and stride byte offsets (16-byte
// units), swizzle mode in bits 62-63 (0 none, 1 128-byte, 2 64-byte).
__device__ __forceinline__ unsigned long long wg_desc(const void* p, unsigned leading, unsigned stride,
                                                      unsigned swizzle = 0) {
    return (unsigned long long)((smem_addr(p) >> 4) & 0x3fff)
         | ((unsigned long long)(leading >> 4) << 16)
         | ((unsigned long long)(stride >> 4) << 32)
         | ((unsigned long long)swizzle << 62);
}

// B's shared layout: atoms of 8 k-rows x 64 columns (1024 bytes), 16-byte
// chunk c of k-row r of an atom at chunk c ^ r (the 128-byte swizzle); atom
// (kb, nb) at (nb * WG_BK / 8 + kb) atoms, so a column block's atoms follow each
// other along K. In the descriptor of the N-major swizzled operand the leading
// offset steps along N (between 64-column blocks) and the stride offset along K
// (between 8-row groups): the reverse of the unswizzled form.
__device__ __forceinline__ int wg_b_atom(int kb, int nb) { return (nb * (WG_BK / 8) + kb) * 512; }

template <typename T, int NI, int STAGES, int WG_BM, int WG_BN, int KEEP>
__global__ void __launch_bounds__(256, 1)
sp24_wgmma(const bits16* __restrict__ Av, const unsigned* __restrict__ meta,
           const bits16* __restrict__ B, float* __restrict__ C, int M, int N, int K, int ME)
{
#if defined(__CUDA_ARCH__) && (__CUDA_ARCH__ >= 900) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
    constexpr int A_STAGE = WG_BM * WG_BK / 2;          // halves
    constexpr int B_STAGE = WG_BK * WG_BN;              // halves
    constexpr int E_STAGE = (WG_BK / 32) * WG_BM;       // words
    constexpr int MI = WG_BM / 128;                     // m64 blocks per warpgroup
    static_assert(MI * WG_BN == 256, "128 accumulators per thread: 128 x 256 or 256 x 128");
    extern __shared__ __align__(128) unsigned char smem_raw[];
    // Swizzle patterns follow absolute shared-memory address bits: start the
    // tiles on a 1024-byte boundary (the launch asks for 1 KiB extra).
    unsigned char* smem = smem_raw + ((1024u - (smem_addr(smem_raw) & 1023u)) & 1023u);
    bits16* sA = reinterpret_cast<bits16*>(smem);
    bits16* sB = sA + STAGES * A_STAGE;
    unsigned* sE = reinterpret_cast<unsigned*>(sB + STAGES * B_STAGE);

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wg = warp >> 2, wq = warp & 3;            // warpgroup, warp inside it
    const int g = lane >> 2, t = lane & 3;
    const int row0 = blockIdx.y * WG_BM, col0 = blockIdx.x * WG_BN;
    const int KH = K / 2, k_tiles = K / WG_BK;

    auto load_stage = [&](int stage, int kt) {
        bits16* a = sA + stage * A_STAGE;
        bits16* b = sB + stage * B_STAGE;
        unsigned* e = sE + stage * E_STAGE;
        // Consecutive lanes fill consecutive 16-byte rows of core matrices, so a
        // warp's 32 chunks land in 512 contiguous bytes (no bank conflicts).
        #pragma unroll
        for (int i = 0; i < WG_BM * (WG_BK / 16) / 256; ++i) {   // A: 4 chunks per row
            // Four lanes per row: a warp fills one 512-byte atom (no bank conflicts).
            const int chunk = tid + i * 256;
            const int r = chunk >> 2, c = chunk & 3;
            const int gr = row0 + r;
            const bool ok = gr < M;
            cp_async16(a + (r >> 3) * 256 + (r & 7) * 32 + ((c ^ ((r >> 1) & 3)) * 8),
                       Av + (size_t)(ok ? gr : 0) * KH + kt * (WG_BK / 2) + c * 8, ok);
        }
        #pragma unroll
        for (int i = 0; i < WG_BK * (WG_BN / 8) / 256; ++i) {    // B: BN / 8 chunks per k-row
            // A warp reads 512 contiguous bytes of B; 8 lanes fill one 128-byte
            // swizzled row of an atom (all banks).
            const int chunk = tid + i * 256;
            const int kk = chunk / (WG_BN / 8), cc = chunk % (WG_BN / 8), c = cc & 7;
            const int gc = col0 + cc * 8;
            const bool ok = gc < N;
            cp_async16(b + wg_b_atom(kk >> 3, cc >> 3) + (kk & 7) * 64 + ((c ^ (kk & 7)) * 8),
                       B + (size_t)(kt * WG_BK + kk) * N + (ok ? gc : 0), ok);
        }
        if (tid < E_STAGE / 4) {                                 // metadata: 2 x BM words
            const int ks = tid / (WG_BM / 4), r = (tid % (WG_BM / 4)) * 4;
            const size_t src = (size_t)(kt * (WG_BK / 32) + ks) * ME + row0 + r;
            if (row0 + r + 3 < ME) {
                cp_async16(e + ks * WG_BM + r, meta + src, true);
            } else {
                for (int q = 0; q < 4; ++q)
                    e[ks * WG_BM + r + q] = (row0 + r + q < ME) ? meta[src + q] : 0x44444444u;
            }
        }
    };

    // Written only by the wgmma instructions (the first uses scale-d = 0), so
    // that nothing outside them defines the accumulators while products are in
    // flight (the compiler would serialise them otherwise).
    float acc[128];

    // Iteration kt publishes stage kt, issues its products, waits for them,
    // and after a second barrier (the other warpgroup reads the same B)
    // refills the stage that tile kt - KEEP read with tile kt + STAGES - 1.
    // KEEP = 1 leaves the products of tile kt in flight across that barrier
    // (wait_group 1); that gave wrong products on some runs until the
    // metadata registers alternated between tiles (docs/gpu.md).
    constexpr int AHEAD = STAGES - 1;
    #pragma unroll
    for (int s = 0; s < AHEAD; ++s) {
        if (s < k_tiles) load_stage(s, s);
        cp_async_commit();
    }

    // The metadata of a tile lives in registers that its products read while
    // they run (a product still in flight reads them): tiles alternate between
    // e0 and e1, and the registers of the tile before stay in use (the empty
    // asm) until its products are complete, so the next tile's metadata never
    // lands in them.
    unsigned e0[WG_BK / 32][MI] = {}, e1[WG_BK / 32][MI] = {};
    auto tile = [&](int kt, unsigned (&e)[WG_BK / 32][MI], const unsigned (&e_old)[WG_BK / 32][MI]) {
        cp_async_wait<AHEAD - 1>();
        asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
        __syncthreads();

            const int st = kt % STAGES;
            const bits16* a_st = sA + st * A_STAGE + wg * MI * 8 * 256;  // this warpgroup's rows
            const bits16* b_st = sB + st * B_STAGE;
            const unsigned* e_st = sE + st * E_STAGE;
            #pragma unroll
            for (int ks = 0; ks < WG_BK / 32; ++ks) {
                #pragma unroll
                for (int i = 0; i < MI; ++i) {
                    const int rr = (wg * MI + i) * 64 + wq * 16 + g;
                    const unsigned lo = e_st[ks * WG_BM + rr], hi = e_st[ks * WG_BM + rr + 8];
                    e[ks][i] = (t & 1) ? __byte_perm(lo, hi, 0x7632) : __byte_perm(lo, hi, 0x5410);
                }
            }
            asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
            #pragma unroll
            for (int ks = 0; ks < WG_BK / 32; ++ks) {
                #pragma unroll
                for (int i = 0; i < MI; ++i) {
                    const unsigned long long da = wg_desc(a_st + i * 8 * 256 + ks * 16, 16, 512, 2);
                    #pragma unroll
                    for (int h = 0; h < WG_BN / NI; ++h) {
                        const unsigned long long db =
                            wg_desc(b_st + wg_b_atom(ks * 4, h * (NI / 64)), (WG_BK / 8) * 1024, 1024, 1);
                        WgmmaSp<T, NI>::run(acc + (i * (WG_BN / NI) + h) * (NI / 2), da, db, e[ks][i],
                                            kt > 0 || ks > 0);
                    }
                }
            }
        asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
        asm volatile("wgmma.wait_group.sync.aligned %0;\n" :: "n"(KEEP) : "memory");
        #pragma unroll
        for (int ks = 0; ks < WG_BK / 32; ++ks)
            #pragma unroll
            for (int i = 0; i < MI; ++i) asm volatile("" :: "r"(e_old[ks][i]));
        __syncthreads();
        const int nxt = kt + AHEAD;
        if (nxt < k_tiles) load_stage(nxt % STAGES, nxt);
        cp_async_commit();
    };
    for (int kt = 0; kt < k_tiles; kt += 2) {
        tile(kt, e0, e1);
        if (kt + 1 < k_tiles) tile(kt + 1, e1, e0);
    }
    asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
    cp_async_wait<0>();

    // Accumulator i WG_BN / 2 + 4 j + q holds row r + 8 (q >> 1) of m64 block i,
    // column 8 j + 2 t + (q & 1).
    #pragma unroll
    for (int i = 0; i < MI; ++i) {
        const int r = row0 + (wg * MI + i) * 64 + wq * 16 + g;
        const float* a = acc + i * (WG_BN / 2);
        #pragma unroll
        for (int j = 0; j < WG_BN / 8; ++j) {
            const int c = col0 + j * 8 + 2 * t;
            if (c < N) {
                if (r < M) *reinterpret_cast<float2*>(C + (size_t)r * N + c) = make_float2(a[4 * j], a[4 * j + 1]);
                if (r + 8 < M) *reinterpret_cast<float2*>(C + (size_t)(r + 8) * N + c) = make_float2(a[4 * j + 2], a[4 * j + 3]);
            }
        }
    }
#endif
}

// ---------------------------------------------------------------------------
// Version 7: bulk tensor copies (TMA), a producer warp, mbarrier stages and a
// persistent grid (sm_90a).
//
// A block of 384 threads: warpgroup 0 loads (one thread issues every copy),
// warpgroups 1 and 2 multiply, each owning 64 MI rows of the block's
// BM x BN tile (BM = 128 MI), all BN columns: one m64nBNk32 sparse product per
// m64 block and k-step, MI BN / 2 float accumulators per thread. The grid is at
// most one block per multiprocessor; block b computes tiles b, b + gridDim.x,
// ... in an order that keeps GROUP_M row tiles together (the tiles running at
// one time share their A and B tiles in L2).
//
// Every K tile of 64 columns is one pipeline stage, filled by bulk tensor
// copies that complete on the stage's `full` mbarrier (transaction bytes):
//   B    BN / 64 boxes of 64 k-rows x 64 columns, 128-byte swizzle: exactly the
//        N-major swizzled layout of version 5 (atoms of 8 k-rows x 128 bytes,
//        a 64-column block's atoms one after the other along K);
//   A    one box of BM rows x 32 compressed columns, 64-byte swizzle: the
//        K-major layout of version 5 (rows of 64 bytes, chunk c of row r at
//        c ^ ((r >> 1) & 3));
//   meta one box of BM rows x 2 k-slices of the (K/32, ME) metadata words.
// Rows, columns and k-rows outside the operands arrive as zeros (the copy
// engine fills them), so M, N and K need not be multiples of the tile.
// A consumer warp arrives on the stage's `empty` mbarrier once the products
// that read the stage are complete (wait_group 1 after the next tile's
// products are issued); the producer waits on it before refilling.
// The tensor maps (CUtensorMap, 128 bytes each: A, B, metadata) are built on
// the host and read from global memory.
__device__ __forceinline__ void mbar_init(unsigned long long* bar, unsigned count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" :: "r"(smem_addr(bar)), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_expect_tx(unsigned long long* bar, unsigned bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n"
                 :: "r"(smem_addr(bar)), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_arrive(unsigned long long* bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" :: "r"(smem_addr(bar)) : "memory");
}
__device__ __forceinline__ void mbar_wait(unsigned long long* bar, unsigned parity) {
    unsigned done = 0;
    do {
        asm volatile("{\n.reg .pred p;\n"
                     "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
                     "selp.u32 %0, 1, 0, p;\n}\n"
                     : "=r"(done) : "r"(smem_addr(bar)), "r"(parity) : "memory");
    } while (!done);
}
__device__ __forceinline__ void tma_load_2d(void* dst, const void* map, int x, int y, unsigned long long* bar) {
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes"
                 " [%0], [%1, {%2, %3}], [%4];\n"
                 :: "r"(smem_addr(dst)), "l"(map), "r"(x), "r"(y), "r"(smem_addr(bar)) : "memory");
}

// The same copy into the shared memory of every block of the cluster named in
// `mask` (same offset in each), completing on each block's mbarrier at `bar`'s offset.
__device__ __forceinline__ void tma_load_2d_multicast(void* dst, const void* map, int x, int y,
                                                      unsigned long long* bar, unsigned short mask) {
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes"
                 ".multicast::cluster [%0], [%1, {%2, %3}], [%4], %5;\n"
                 :: "r"(smem_addr(dst)), "l"(map), "r"(x), "r"(y), "r"(smem_addr(bar)), "h"(mask)
                 : "memory");
}
// Arrive on the mbarrier at `bar`'s offset in block `rank` of the cluster. The
// default (.release.cta) semantics: what the arrival publishes is that this warp's
// products, complete after wgmma.wait_group, no longer read the stage. A
// .release.cluster arrival fences every memory operation of the thread at cluster
// scope, once per K tile per warp, and halved the kernel's rate (H200, session 17).
__device__ __forceinline__ void mbar_arrive_cluster(unsigned long long* bar, unsigned rank) {
    unsigned remote;
    asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n" : "=r"(remote) : "r"(smem_addr(bar)), "r"(rank));
    asm volatile("mbarrier.arrive.shared::cluster.b64 _, [%0];\n" :: "r"(remote) : "memory");
}
__device__ __forceinline__ void cluster_sync() {
    asm volatile("barrier.cluster.arrive.release.aligned;\n"
                 "barrier.cluster.wait.acquire.aligned;\n" ::: "memory");
}
__device__ __forceinline__ unsigned cluster_rank() {
    unsigned r;
    asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(r));
    return r;
}

// Two float additions into global memory, done in L2 (no value returned):
// the split-K epilogue.
__device__ __forceinline__ void red_add2(float* p, float x, float y) {
    asm volatile("red.global.add.v2.f32 [%0], {%1, %2};\n" :: "l"(p), "f"(x), "f"(y) : "memory");
}

template <int BM, int BN, int GROUP_M>
struct TileOrder {
    int tiles_m, tiles_n;
    __device__ __forceinline__ void at(int t, int& tm, int& tn) const {
        const int per_group = GROUP_M * tiles_n;
        const int first = (t / per_group) * GROUP_M;
        const int rows = min(tiles_m - first, GROUP_M);
        const int r = t % per_group;
        tm = first + r % rows;
        tn = r / rows;
    }
};

// CLUSTER = 2 (sp24_tma_mc): clusters of two blocks on vertically adjacent row
// tiles (2 t, 2 t + 1) of one column block. Each block copies half of the B
// boxes of a stage into both blocks' shared memory (multicast), so every B tile
// is read from L2 once per pair; a stage is refilled only after the consumers of
// both blocks released it (each consumer warp arrives on its own block's and the
// partner's `empty` barrier). A block whose row tile is past M still loads its
// half of B and multiplies zeros (the copy engine fills its A), and stores nothing.
//
// SPLITK (sp24_tma_sk, sp24_tma_mc_sk): the K loop of every tile is split into
// `splits` ranges of whole K tiles, and the grid walks units (split s, tile t),
// s-major (the units running at one time share their K range of B in L2). Each
// unit adds its partial tile into C with red.global.add.f32 (C zeroed by the
// caller). Float addition is commutative, so with two splits every element is
// 0 + p0 + p1 in either order, bitwise the same each run; with three or more the
// order of the additions, and so the last bits, may change between runs.
// The point is at small N: 128 x 256 or 256 x 128 tiles, which read each B tile
// for more rows (less L2-to-SM traffic than 128 x 128), are too few to fill the
// machine (64 at 8192 x 8192 x 256) unless K is split.
template <typename T, int MI, int BN, int STAGES, int CLUSTER, bool SPLITK>
__device__ __forceinline__ void
sp24_tma_body(const unsigned char* __restrict__ maps, float* __restrict__ C, int M, int N, int K, int splits)
{
#if defined(__CUDA_ARCH__) && (__CUDA_ARCH__ >= 900) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
    constexpr int BM = 128 * MI;
    constexpr int B_BYTES = WG_BK * BN * 2;            // B first: 1024-byte aligned
    constexpr int A_BYTES = BM * WG_BK;                // BM rows of 32 compressed halves
    constexpr int E_BYTES = 2 * BM * 4;
    constexpr int STAGE = ((B_BYTES + A_BYTES + E_BYTES + 1023) / 1024) * 1024;
    constexpr int GROUP_M = 8;
    static_assert(MI * BN <= 256, "at most 128 accumulators per thread");
    extern __shared__ __align__(128) unsigned char smem_raw[];
    unsigned char* smem = smem_raw + ((1024u - (smem_addr(smem_raw) & 1023u)) & 1023u);
    unsigned long long* full = reinterpret_cast<unsigned long long*>(smem + STAGES * STAGE);
    unsigned long long* empty = full + STAGES;

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wg = warp >> 2, wq = warp & 3;
    static_assert(CLUSTER == 1 || (CLUSTER == 2 && BN % 128 == 0), "B boxes split between two blocks");
    const unsigned rank = CLUSTER == 1 ? 0 : cluster_rank();
    const int first_tile = blockIdx.x / CLUSTER, tile_step = gridDim.x / CLUSTER;
    // Tiles of CLUSTER row tiles: a cluster walks them, block `rank` takes row tile
    // CLUSTER tm + rank of each.
    const TileOrder<BM, BN, GROUP_M> order{((M + BM - 1) / BM + CLUSTER - 1) / CLUSTER, (N + BN - 1) / BN};
    const int tiles = order.tiles_m * order.tiles_n;
    const int k_tiles = (K + WG_BK - 1) / WG_BK;
    const int units = SPLITK ? tiles * splits : tiles;
    // Unit u: tile u % tiles, K tiles [k_begin, k_end) of split u / tiles.
    auto unit = [&](int u, int& tm, int& tn, int& k_begin, int& k_end) {
        const int s = SPLITK ? u / tiles : 0;
        order.at(SPLITK ? u - s * tiles : u, tm, tn);
        tm = tm * CLUSTER + rank;
        k_begin = SPLITK ? (int)((long long)s * k_tiles / splits) : 0;
        k_end = SPLITK ? (int)((long long)(s + 1) * k_tiles / splits) : k_tiles;
    };
    const void* map_a = maps;
    const void* map_b = maps + 128;
    const void* map_e = maps + 256;

    if (tid == 0) {
        for (int s = 0; s < STAGES; ++s) {
            mbar_init(&full[s], 1);
            mbar_init(&empty[s], 8 * CLUSTER);          // one arrival per consumer warp of the cluster
        }
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();
    if (CLUSTER > 1) cluster_sync();                    // the partner's barriers are ready

    if (wg == 0) {
        asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n");
        if (tid == 0) {
            // The maps were written through the generic proxy (a host copy into a
            // buffer that may have held other maps): acquire them for the copy engine.
            #pragma unroll
            for (int m = 0; m < 3; ++m)
                asm volatile("fence.proxy.tensormap::generic.acquire.gpu [%0], 128;\n"
                             :: "l"(maps + 128 * m) : "memory");
            int it = 0;
            for (int u = first_tile; u < units; u += tile_step) {
                int tm, tn, k_begin, k_end;
                unit(u, tm, tn, k_begin, k_end);
                if (SPLITK && k_end == k_begin) continue;   // more splits than K tiles
                for (int kt = k_begin; kt < k_end; ++kt, ++it) {
                    const int s = it % STAGES;
                    mbar_wait(&empty[s], ((it / STAGES) & 1) ^ 1);
                    unsigned char* st = smem + s * STAGE;
                    mbar_expect_tx(&full[s], B_BYTES + A_BYTES + E_BYTES);
                    #pragma unroll
                    for (int nb = 0; nb < BN / 64; ++nb) {
                        if (CLUSTER == 1)
                            tma_load_2d(st + nb * 8192, map_b, tn * BN + nb * 64, kt * WG_BK, &full[s]);
                        else if (nb % CLUSTER == (int)rank)
                            tma_load_2d_multicast(st + nb * 8192, map_b, tn * BN + nb * 64, kt * WG_BK,
                                                  &full[s], (unsigned short)((1u << CLUSTER) - 1));
                    }
                    tma_load_2d(st + B_BYTES, map_a, kt * (WG_BK / 2), tm * BM, &full[s]);
                    tma_load_2d(st + B_BYTES + A_BYTES, map_e, tm * BM, kt * 2, &full[s]);
                }
            }
        }
    } else {
        asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n");
        const int cw = wg - 1;                          // consumer warpgroup 0 or 1
        const int g = lane >> 2, t4 = lane & 3;
        float acc[MI * BN / 2];
        unsigned e0[2][MI] = {}, e1[2][MI] = {};
        int it = 0;
        // One K tile: wait for its stage, issue its products, retire the tile
        // before (wait_group 1) and hand that tile's stage back. The metadata
        // registers alternate between tiles (e, e_old): products still in
        // flight read them (docs/gpu.md, session 8).
        // A stage is handed back to the producers of every block that filled it.
        auto release = [&](unsigned long long* bar) {
            mbar_arrive(bar);
            #pragma unroll
            for (int r = 1; r < CLUSTER; ++r) mbar_arrive_cluster(bar, (rank + r) % CLUSTER);
        };
        // kt counts the K tiles of the unit (the products of kt = 0 overwrite the
        // accumulators; the producer addresses K tile k_begin + kt).
        auto step = [&](int kt, unsigned (&e)[2][MI], const unsigned (&e_old)[2][MI]) {
            const int s = it % STAGES;
            mbar_wait(&full[s], (it / STAGES) & 1);
            const unsigned char* st = smem + s * STAGE;
            const unsigned* es = reinterpret_cast<const unsigned*>(st + B_BYTES + A_BYTES);
            #pragma unroll
            for (int ks = 0; ks < 2; ++ks) {
                #pragma unroll
                for (int i = 0; i < MI; ++i) {
                    const int rr = (cw * MI + i) * 64 + wq * 16 + g;
                    const unsigned lo = es[ks * BM + rr], hi = es[ks * BM + rr + 8];
                    e[ks][i] = (t4 & 1) ? __byte_perm(lo, hi, 0x7632) : __byte_perm(lo, hi, 0x5410);
                }
            }
            asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
            #pragma unroll
            for (int ks = 0; ks < 2; ++ks) {
                #pragma unroll
                for (int i = 0; i < MI; ++i) {
                    const unsigned long long da =
                        wg_desc(st + B_BYTES + (cw * MI + i) * 64 * 64 + ks * 32, 16, 512, 2);
                    const unsigned long long db = wg_desc(st + ks * 4 * 1024, 8192, 1024, 1);
                    WgmmaSp<T, BN>::run(acc + i * (BN / 2), da, db, e[ks][i], kt > 0 || ks > 0);
                }
            }
            asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
            asm volatile("wgmma.wait_group.sync.aligned 1;\n" ::: "memory");
            #pragma unroll
            for (int ks = 0; ks < 2; ++ks)
                #pragma unroll
                for (int i = 0; i < MI; ++i) asm volatile("" :: "r"(e_old[ks][i]));
            if (kt > 0) {
                __syncwarp();
                if (lane == 0) release(&empty[(it - 1) % STAGES]);
            }
            ++it;
        };
        for (int u = first_tile; u < units; u += tile_step) {
            int tm, tn, k_begin, k_end;
            unit(u, tm, tn, k_begin, k_end);
            const int nk = k_end - k_begin;
            if (SPLITK && nk == 0) continue;            // (the caller keeps splits <= k_tiles)
            for (int kt = 0; kt < nk; kt += 2) {
                step(kt, e0, e1);
                if (kt + 1 < nk) step(kt + 1, e1, e0);
            }
            asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
            __syncwarp();
            if (lane == 0) release(&empty[(it - 1) % STAGES]);
            // Accumulator i BN / 2 + 4 j + q: row 8 (q >> 1) + g of warp wq's 16
            // rows of m64 block i, column 8 j + 2 t4 + (q & 1).
            #pragma unroll
            for (int i = 0; i < MI; ++i) {
                const int r = tm * BM + (cw * MI + i) * 64 + wq * 16 + g;
                const float* a = acc + i * (BN / 2);
                #pragma unroll
                for (int j = 0; j < BN / 8; ++j) {
                    const int c = tn * BN + j * 8 + 2 * t4;
                    if (c < N) {
                        if (SPLITK) {
                            if (r < M) red_add2(C + (size_t)r * N + c, a[4 * j], a[4 * j + 1]);
                            if (r + 8 < M) red_add2(C + (size_t)(r + 8) * N + c, a[4 * j + 2], a[4 * j + 3]);
                        } else {
                            if (r < M) *reinterpret_cast<float2*>(C + (size_t)r * N + c) = make_float2(a[4 * j], a[4 * j + 1]);
                            if (r + 8 < M) *reinterpret_cast<float2*>(C + (size_t)(r + 8) * N + c) = make_float2(a[4 * j + 2], a[4 * j + 3]);
                        }
                    }
                }
            }
        }
    }
    // No block leaves while its partner may still copy into its shared memory or
    // arrive on its barriers.
    if (CLUSTER > 1) cluster_sync();
#endif
}

template <typename T, int MI, int BN, int STAGES>
__global__ void __launch_bounds__(384, 1)
sp24_tma(const unsigned char* __restrict__ maps, float* __restrict__ C, int M, int N, int K)
{
    sp24_tma_body<T, MI, BN, STAGES, 1, false>(maps, C, M, N, K, 1);
}

template <typename T, int MI, int BN, int STAGES>
__global__ void __cluster_dims__(2, 1, 1) __launch_bounds__(384, 1)
sp24_tma_mc(const unsigned char* __restrict__ maps, float* __restrict__ C, int M, int N, int K)
{
    sp24_tma_body<T, MI, BN, STAGES, 2, false>(maps, C, M, N, K, 1);
}

// Split K (see sp24_tma_body): C must hold zeros; 1 <= splits <= K tiles of 64.
template <typename T, int MI, int BN, int STAGES>
__global__ void __launch_bounds__(384, 1)
sp24_tma_sk(const unsigned char* __restrict__ maps, float* __restrict__ C, int M, int N, int K, int splits)
{
    sp24_tma_body<T, MI, BN, STAGES, 1, true>(maps, C, M, N, K, splits);
}

template <typename T, int MI, int BN, int STAGES>
__global__ void __cluster_dims__(2, 1, 1) __launch_bounds__(384, 1)
sp24_tma_mc_sk(const unsigned char* __restrict__ maps, float* __restrict__ C, int M, int N, int K, int splits)
{
    sp24_tma_body<T, MI, BN, STAGES, 2, true>(maps, C, M, N, K, splits);
}
