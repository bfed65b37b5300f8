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
