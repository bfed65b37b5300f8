"""2:4 SpMM on the sparse tensor cores (``kernels/sparse24.cu``): ``mma.sp`` m16n8k32
anywhere, Hopper's ``wgmma.mma_async.sp`` (versions 5-6) and, the default on Hopper,
version 7 (``sp24_tma``: bulk tensor copies by a producer warp, mbarrier stages,
a persistent grid; docs/gpu.md) and its clusters of two blocks that share B
(``sp24_tma_mc``), and the split-K forms of both (``sp24_tma_sk``, ``sp24_tma_mc_sk``:
the K loop of each tile over several blocks, partial tiles added in float32).

The hardware wants, for every group of four columns, the two kept values in
column order and a 4-bit field (position of the first, position of the second,
first < second). ``prepare`` builds that once, when a 2:4 float16 or bfloat16
array moves to the GPU: it puts the two slots of every group in position order
(swapping values where needed) and writes the fields as one 32-bit word per row
and 32 columns, stored k-slice-major ``(K/32, M)`` (rows padded to a multiple of
256, k-slices to an even count) so that the words a thread block needs for one
k-slice are one contiguous, aligned load.

The kernels compute ``C = A @ B`` for float16 or bfloat16 ``A`` (M x K, 2:4 along
K) and ``B`` (K x N) of the same dtype, accumulating and returning float32. They
need K % 32 == 0 and N % 8 == 0; ``supports`` tells, and the N:M backend falls
back to the CUDA-core kernel otherwise. ``choose`` picks the tiling per shape.
"""

import ctypes
import functools

import cupy
import numpy as np

from spla._dtypes import BFLOAT16

from ._compile import kernel, multiprocessors
from ._tma import SWIZZLE_64B, SWIZZLE_128B, SWIZZLE_NONE, TMA_UINT16, TMA_UINT32, tensor_map

#: Kernel tilings (BM, BN, BK, WM, WN, STAGES, PIPE): block tile BM x BN of C,
#: warp tile WM x WN, BK columns of A per pipeline stage, STAGES stages in
#: flight, PIPE = 1 to load the fragments of the next k-step before the mma
#: instructions of this one. ``docs/gpu.md`` records what each reached on the H100.
CONFIGS = {
    "128x128x32_w64x32_s3": (128, 128, 32, 64, 32, 3, 0),
    "256x128x64_w64x64_s3": (256, 128, 64, 64, 64, 3, 0),
    "256x128x64_w64x64_s3_pipe": (256, 128, 64, 64, 64, 3, 1),
    "256x128x64_w64x64_s4_pipe": (256, 128, 64, 64, 64, 4, 1),
    "256x128x128_w64x64_s3_pipe": (256, 128, 128, 64, 64, 3, 1),
    "128x256x64_w64x64_s3_pipe": (128, 256, 64, 64, 64, 3, 1),
    "128x128x64_w64x32_s4_pipe": (128, 128, 64, 64, 32, 4, 1),
    # Hopper's warpgroup MMA (wgmma.mma_async.sp), sm_90a only: two warpgroups,
    # 128 x 256 block tile, operands read from shared memory by descriptors
    # (sp24_wgmma, kernels/sparse24.cu; docs/gpu.md).
    "wgmma_128x256x64_s4": (128, 256, 64, 64, 256, 4, 0),
    "wgmma_128x256x64_s4_n256": (128, 256, 64, 64, 256, 4, 0),
    "wgmma_256x128x64_s4": (256, 128, 64, 128, 128, 4, 0),
    # The last field of the wgmma tilings: groups of products kept in flight
    # across the refill (0: each tile's complete before the next is issued).
    "wgmma_256x128x64_s4_keep1": (256, 128, 64, 128, 128, 4, 1),
    "wgmma_256x128x64_s5_keep1": (256, 128, 64, 128, 128, 5, 1),
    # Version 7 (sp24_tma): bulk tensor copies by a producer warp into STAGES
    # mbarrier stages of 64 columns of K, two consumer warpgroups, a persistent
    # grid. K only needs K % 32 == 0 (the copy engine fills the rest with zeros).
    "tma_256x128_s6": (256, 128, 32, 128, 128, 6, 1),
    "tma_128x256_s5": (128, 256, 32, 64, 256, 5, 1),
    "tma_128x128_s8": (128, 128, 32, 64, 128, 8, 1),
    # The same in clusters of two blocks on adjacent row tiles that share every B
    # tile: each loads half of it into both blocks' shared memory (sp24_tma_mc).
    # The first version was exact but half as fast (H200, session 17); the present
    # one (default-semantics arrivals, a grid of resident clusters) is the default
    # for N > 512 (H100, session 18).
    "tma_256x128_s6_mc2": (256, 128, 32, 128, 128, 6, 1),
    "tma_128x256_s5_mc2": (128, 256, 32, 64, 256, 5, 1),
    "tma_128x128_s8_mc2": (128, 128, 32, 64, 128, 8, 1),
    # Split K (sp24_tma_sk, sp24_tma_mc_sk; session 19, not measured yet): the K loop
    # of each tile in `_sk<n>` ranges (`_skauto`: ``auto_splits`` picks n on this
    # GPU), partial tiles added into a zeroed float32 C in L2 (red.global.add). For
    # small N with large K: at 8192 x 8192 x 256 the 128 x 256 and 256 x 128 tiles,
    # which read less of B from L2 per product than 128 x 128, are 64, half a wave,
    # unless K is split.
    "tma_128x256_s5_sk2": (128, 256, 32, 64, 256, 5, 1),
    "tma_256x128_s6_sk2": (256, 128, 32, 128, 128, 6, 1),
    "tma_128x128_s8_sk3": (128, 128, 32, 64, 128, 8, 1),
    "tma_256x128_s6_skauto": (256, 128, 32, 128, 128, 6, 1),
    "tma_128x256_s5_mc2_sk2": (128, 256, 32, 64, 256, 5, 1),
    "tma_256x128_s6_mc2_sk2": (256, 128, 32, 128, 128, 6, 1),
    # 64-column tiles (m64n64k32 products; not measured yet): twice the tiles of
    # 128 x 128 at small N, 12 stages.
    "tma_128x64_s12": (128, 64, 32, 64, 64, 12, 1),
}
#: The bulk-tensor-copy tilings' kernel parameters: m64 blocks per consumer
#: warpgroup (MI), block columns BN (the wgmma instruction's N), stages.
TMA = {name: (CONFIGS[name][0] // 128, CONFIGS[name][1], CONFIGS[name][5])
       for name in CONFIGS if name.startswith("tma_")}
#: Blocks per cluster of the bulk-tensor-copy tilings that multicast B (else 1).
TMA_CLUSTER = {name: 2 for name in TMA if "_mc2" in name}
#: Split-K tilings: the number of K ranges per tile, or "auto" (``auto_splits``).
TMA_SPLIT = {name: name.rpartition("_sk")[2] for name in TMA if "_sk" in name}
TMA_SPLIT = {name: (v if v == "auto" else int(v)) for name, v in TMA_SPLIT.items()}
#: The wgmma tilings' kernel parameters: instruction width N (m64n128k32 or
#: m64n256k32 products), stages, block tile BM x BN (sp24_wgmma in
#: kernels/sparse24.cu).
WGMMA = {name: (256 if name.endswith("_n256") else 128, CONFIGS[name][5], CONFIGS[name][0],
                CONFIGS[name][1])
         for name in CONFIGS if name.startswith("wgmma_")}
#: Tilings that need Hopper (compute capability 9.0, the sm_90a target).
HOPPER_ONLY = tuple(WGMMA) + tuple(TMA)
#: Default tilings, in order of preference (speed at 8192^3; the first on the H200, session 8,
#: docs/gpu.md): the first that this GPU runs and whose BK divides K is used.
DEFAULTS = ("wgmma_256x128x64_s4_keep1", "256x128x128_w64x64_s3_pipe", "256x128x64_w64x64_s3",
            "128x128x32_w64x32_s3")
#: Version 7 on Hopper: for N up to ``TMA_SMALL_N``, 128 x 256 single-block tiles
#: where they make about a full wave (at least ``TMA_FULL_WAVE`` of the
#: multiprocessors: 16384 x 8192 x 256, 128 tiles on 132, 857 / 876 TFLOP/s float16 /
#: bfloat16 against 686-692 / 704-723 with 128 x 128 tiles, H100, session 20) and
#: 128 x 128 tiles where they would not (8192 x 8192 x 256: 128 tiles instead of 64;
#: 674 / 643 TFLOP/s against 545 / 551, H100, session 18; 667 / 672 against 540 / 554,
#: session 20); beyond, 128 x 256 tiles in clusters of two that multicast B: 955-1112
#: TFLOP/s on the four large shapes of issue 22 against 715-987 for the best
#: single-block tiling (H100, session 18, docs/gpu.md).
TMA_SMALL_N = 512
TMA_FULL_WAVE = 0.9
#: Whether ``choose`` picks version 7 on Hopper (else ``DEFAULTS``).
TMA_DEFAULT = True
#: The 16-bit dtypes with a tensor-core path, and the kernel's tag for each.
TAGS = {np.dtype(np.float16): "f16"}
if BFLOAT16 is not None:
    TAGS[BFLOAT16] = "bf16"
_CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8


def eligible(A):
    """Whether A's storage can take the tensor-core path (2:4, float16 or bfloat16, K % 32 == 0)."""
    return A.n == 2 and A.m == 4 and A.dtype in TAGS and A.shape[1] % 32 == 0


def supports(A, X):
    """Whether ``A @ X`` runs on the sparse tensor cores."""
    return eligible(A) and X.dtype == A.dtype and X.ndim == 2 and X.shape[1] % 8 == 0


def prepare(A):
    """The (values, metadata) pair the kernel reads, built once and kept on A.

    Canonical arrays (slots in position order, as spla builds them) share their
    values with the kernel. Raw storage with slots out of order gets a reordered
    copy, so in-place writes to its ``values`` afterwards are not seen: build a
    new array instead (as for any change of the positions)."""
    cached = A._derived.get("sp24")  # kept with the storage it was built from
    if cached is not None:
        return cached
    M, K = A.shape
    G = K // 4
    pos = A.positions.reshape(M, G, 2).astype(np.uint32)
    vals = A.values.view(np.uint16).reshape(M, G, 2)  # the kernels read bits
    swap = pos[..., 0] > pos[..., 1]
    first = cupy.where(swap, pos[..., 1], pos[..., 0])
    second = cupy.where(swap, pos[..., 0], pos[..., 1])
    if bool(swap.any()):
        # Slots out of position order (raw input): a reordered copy of the values.
        v0 = cupy.where(swap, vals[..., 1], vals[..., 0])
        v1 = cupy.where(swap, vals[..., 0], vals[..., 1])
        values = cupy.ascontiguousarray(cupy.stack([v0, v1], axis=-1).reshape(M, K // 2))  # uint16
    else:
        # Canonical storage (what spla builds) is read as it is, so the kernel
        # always sees the array's current values.
        values = A.values
    if not values.flags.c_contiguous or values.data.ptr % 16:
        values = cupy.ascontiguousarray(values).copy()
    nibbles = (first | (second << 2)).reshape(M, K // 32, 8)
    shifts = (cupy.arange(8, dtype=np.uint32) * 4)[None, None, :]
    words = (nibbles << shifts).sum(axis=-1, dtype=np.uint32)  # disjoint bits: sum == or
    # Rows padded to a multiple of 256 (whole row tiles of every tiling, and
    # aligned 16-byte copies), k-slices to an even count (whole 64-column K
    # tiles): the bulk tensor copies never leave the array for metadata.
    ME = -(-M // 256) * 256
    meta = cupy.full((-(-K // 64) * 2, ME), 0x44444444, dtype=np.uint32)
    meta[:K // 32, :M] = words.T
    A._derived["sp24"] = (values, meta)
    return values, meta


def _tma_stage_bytes(MI, BN):
    """Bytes of one stage of sp24_tma: B (64 x BN), A (128 MI rows x 64 bytes), metadata."""
    return -(-(64 * BN * 2 + 128 * MI * 64 + 2 * 128 * MI * 4) // 1024) * 1024


def _smem_bytes(cfg, name=""):
    if name in TMA:
        MI, BN, STAGES = TMA[name]
        return STAGES * _tma_stage_bytes(MI, BN) + 1024 + 16 * STAGES  # + alignment, mbarriers
    BM, BN, BK, WM, WN, STAGES, _ = cfg
    tiles = STAGES * (BM * BK + 2 * BK * BN + 4 * (BK // 32) * BM)
    return tiles + (1024 if name in HOPPER_ONLY else 0)  # room to align to 1024 bytes


@functools.lru_cache(maxsize=None)
def _compute_capability(device_id):
    return cupy.cuda.Device(device_id).compute_capability


def available(name):
    """Whether tiling ``name`` runs on the current GPU."""
    return name not in HOPPER_ONLY or _compute_capability(cupy.cuda.runtime.getDevice()) == "90"


#: (device, tag, tiling) -> (kernel, tiling parameters, shared memory bytes): the
#: lookups and the shared-memory limit are done once (the host's time per call
#: matters at small N, where one product takes about 50 us).
_KERNELS = {}


def _kernel(tag, name):
    key = (cupy.cuda.runtime.getDevice(), tag, name)
    found = _KERNELS.get(key)
    if found is None:
        found = _KERNELS[key] = _load_kernel(tag, name)
    return found


def _load_kernel(tag, name):
    cfg = CONFIGS[name]
    if name in HOPPER_ONLY:
        if not available(name):
            raise ValueError(f"tiling {name} needs a Hopper GPU (compute capability 9.0)")
        if name in TMA:
            entry = "sp24_tma_mc" if TMA_CLUSTER.get(name, 1) > 1 else "sp24_tma"
            entry += "_sk" if name in TMA_SPLIT else ""
            k = kernel("sparse24.cu", f"{entry}<{tag}, {', '.join(map(str, TMA[name]))}>",
                       options=("-arch=sm_90a",))
        else:
            params = WGMMA[name] + (cfg[6],)
            k = kernel("sparse24.cu", f"sp24_wgmma<{tag}, {', '.join(map(str, params))}>",
                       options=("-arch=sm_90a",))
    else:
        k = kernel("sparse24.cu", f"sp24_spmm<{tag}, {', '.join(map(str, cfg))}>")
    smem = _smem_bytes(cfg, name)
    # Blocks may use more than the default 48 KiB of shared memory only after
    # the kernel's limit is raised.
    try:
        k.max_dynamic_shared_size_bytes = smem
    except AttributeError:
        cupy.cuda.driver.funcSetAttribute(
            k.kernel.ptr, _CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, smem)
    return k, cfg, smem


@functools.lru_cache(maxsize=None)
def choose(M, K, N, tag=None):
    """The tiling that ``spmm`` uses for an ``M x K`` by ``K x N`` product on this GPU.

    On Hopper (version 7, if ``TMA_DEFAULT`` is on): for ``N <= TMA_SMALL_N``,
    ``tma_128x256_s5`` if its tiles fill at least ``TMA_FULL_WAVE`` of the
    multiprocessors, else ``tma_128x128_s8``; for larger N ``tma_128x256_s5_mc2``.
    Elsewhere the first of ``DEFAULTS`` that runs here and whose BK divides K.
    (``tag`` is part of the signature so that a measured exception per dtype can
    be added without touching the callers.)"""
    device_id = cupy.cuda.runtime.getDevice()
    if TMA_DEFAULT and _compute_capability(device_id) == "90":
        if N > TMA_SMALL_N:
            return "tma_128x256_s5_mc2"
        wide_tiles = -(-M // 128) * -(-N // 256)
        if wide_tiles >= TMA_FULL_WAVE * multiprocessors(device_id):
            return "tma_128x256_s5"
        return "tma_128x128_s8"
    return next(c for c in DEFAULTS if K % CONFIGS[c][2] == 0 and available(c))


def spmm(A, X, config=None):
    """``A @ X`` on the sparse tensor cores (float32 result); see ``supports``.

    ``config`` names one of ``CONFIGS`` (for benchmarks); by default ``choose``'s.
    """
    values, meta = prepare(A)
    return spmm_prepared(values, meta, A.shape, X, TAGS[A.dtype], config, A._derived)


def spmm_prepared(values, meta, shape, X, tag, config=None, cache=None):
    """``spmm`` on prepared storage: ``values`` (M, K/2) 16-bit (``tag`` "f16" or
    "bf16": the kernels read bits, so a ``uint16`` view of bfloat16 values works) and
    ``meta`` from ``prepare``; ``cache`` a dict that keeps tensor maps between calls."""
    M, K = shape
    N = X.shape[1]
    X = cupy.ascontiguousarray(X)
    if X.data.ptr % 16:  # an offset view: the 16-byte copies need an aligned start
        X = X.copy()
    C = cupy.empty((M, N), dtype=np.float32)
    if M == 0 or N == 0:
        return C
    if K == 0:
        C[...] = 0
        return C
    name = config or choose(M, K, N, tag)
    k, cfg, smem = _kernel(tag, name)
    if K % cfg[2]:
        raise ValueError(f"tiling {name} needs K % {cfg[2]} == 0, got K = {K}")
    if name in TMA:
        return _spmm_tma(values, meta, shape, X, C, name, k, smem, {} if cache is None else cache)
    BM, BN, _, WM, WN, _, _ = cfg
    grid = (-(-N // BN), -(-M // BM))
    threads = (BM // WM) * (BN // WN) * 32 * (4 if name in HOPPER_ONLY else 1)
    k(grid, (threads,), (values, meta, X, C, np.int32(M), np.int32(N), np.int32(K),
                         np.int32(meta.shape[1])), shared_mem=smem)
    return C


# -- version 7: tensor maps for the bulk tensor copies -----------------------------------

def _tma_maps(values, meta, shape, X, name, owner):
    """The tensor maps of A's values, X and A's metadata, one device buffer (kept on A
    for the last few X: a map depends only on the address, shape and box)."""
    MI, BN, _ = TMA[name]
    BM = 128 * MI
    M, K = shape
    N = X.shape[1]
    cache = owner.setdefault("_sp24_maps", {})
    key = (BM, BN, X.data.ptr, K, N, values.data.ptr, meta.data.ptr)
    maps = cache.get(key)
    if maps is None:
        host = np.concatenate([
            tensor_map(values.data.ptr, TMA_UINT16, 2, M, K // 2, 32, BM, SWIZZLE_64B),
            tensor_map(X.data.ptr, TMA_UINT16, 2, K, N, 64, 64, SWIZZLE_128B),
            tensor_map(meta.data.ptr, TMA_UINT32, 4, meta.shape[0], meta.shape[1], BM, 2,
                       SWIZZLE_NONE)])
        maps = cupy.asarray(host)
        if len(cache) >= 8:
            cache.clear()
        cache[key] = maps
    return maps


class _LaunchConfig(ctypes.Structure):
    """The driver's ``CUlaunchConfig`` (no launch attributes)."""
    _fields_ = [("grid", ctypes.c_uint * 3), ("block", ctypes.c_uint * 3),
                ("shared_mem", ctypes.c_uint), ("stream", ctypes.c_void_p),
                ("attrs", ctypes.c_void_p), ("num_attrs", ctypes.c_uint)]


_CLUSTERS = {}


def _resident_clusters(k, smem, cluster, device):
    """How many clusters of ``k`` (384 threads, ``smem`` bytes) run at once on this
    GPU (``cuOccupancyMaxActiveClusters``): a persistent grid of more would run the
    extra clusters in a second wave. Falls back to multiprocessors // cluster."""
    key = (device, k.kernel.ptr, smem)
    found = _CLUSTERS.get(key)
    if found is None:
        found = multiprocessors(device) // cluster
        try:
            fn = ctypes.CDLL("libcuda.so.1").cuOccupancyMaxActiveClusters
            fn.restype = ctypes.c_int
            cfg = _LaunchConfig((cluster, 1, 1), (384, 1, 1), smem, None, None, 0)
            n = ctypes.c_int(0)
            if fn(ctypes.byref(n), ctypes.c_void_p(k.kernel.ptr), ctypes.byref(cfg)) == 0 and n.value > 0:
                found = min(found, n.value)
        except (OSError, AttributeError):  # pragma: no cover - a driver without the call
            pass
        _CLUSTERS[key] = found
    return found


#: What one more work unit costs a block, in K tiles of 64 (a guess, not measured: the
#: pipeline's fill and the unit's epilogue), in ``auto_splits``'s model.
SPLIT_UNIT_COST = 4


def auto_splits(tiles, k_tiles, slots, most=8):
    """The number of K ranges per tile for ``tiles`` tiles of ``k_tiles`` K tiles each
    on ``slots`` resident blocks (or clusters): the smallest that minimises the busiest
    slot's work, ``ceil(tiles s / slots) * (ceil(k_tiles / s) + SPLIT_UNIT_COST)``."""
    best, best_cost = 1, None
    for s in range(1, max(1, min(most, k_tiles)) + 1):
        cost = -(-tiles * s // slots) * (-(-k_tiles // s) + SPLIT_UNIT_COST)
        if best_cost is None or cost < best_cost:
            best, best_cost = s, cost
    return best


def _spmm_tma(values, meta, shape, X, C, name, k, smem, owner):
    MI, BN, _ = TMA[name]
    M, K = shape
    N = X.shape[1]
    if X.data.ptr % 16 or values.data.ptr % 16 or not values.flags.c_contiguous:
        raise ValueError("the bulk tensor copies need 16-byte aligned, contiguous operands")
    maps = _tma_maps(values, meta, shape, X, name, owner)
    # A persistent grid of at most one block per multiprocessor; with clusters, a
    # whole number of clusters, each walking tiles of `cluster` row tiles.
    cluster = TMA_CLUSTER.get(name, 1)
    tiles = -(-(-(-M // (128 * MI))) // cluster) * -(-N // BN)
    device = cupy.cuda.Device().id
    slots = (multiprocessors(device) if cluster == 1
             else _resident_clusters(k, smem, cluster, device))
    args = (maps, C, np.int32(M), np.int32(N), np.int32(K))
    split = TMA_SPLIT.get(name)
    if split is not None:
        # Split K: units (split, tile), every split at least one K tile of 64; the
        # kernel adds its partial tiles into C.
        k_tiles = -(-K // 64)
        splits = auto_splits(tiles, k_tiles, slots) if split == "auto" else split
        splits = max(1, min(splits, k_tiles))
        tiles *= splits
        C.fill(0)
        args += (np.int32(splits),)
    grid = cluster * min(tiles, slots)
    k((grid,), (384,), args, shared_mem=smem)
    return C
