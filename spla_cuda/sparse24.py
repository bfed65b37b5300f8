"""2:4 SpMM on the sparse tensor cores (``kernels/sparse24.cu``, ``mma.sp`` m16n8k32).

The hardware wants, for every group of four columns, the two kept values in
column order and a 4-bit field (position of the first, position of the second,
first < second). ``prepare`` builds that once, when a 2:4 float16 array moves to
the GPU: it puts the two slots of every group in position order (swapping values
where needed) and writes the fields as one 32-bit word per row and 32 columns,
stored k-slice-major ``(K/32, M)`` (rows padded to a multiple of 4) so that the
words a thread block needs for one k-slice are one contiguous, aligned load.

The kernel computes ``C = A @ B`` for float16 ``A`` (M x K, 2:4 along K) and
float16 ``B`` (K x N), accumulating and returning float32. It needs K % 32 == 0
and N % 8 == 0; ``supports`` tells, and the N:M backend falls back to the
CUDA-core kernel otherwise.
"""

import cupy
import numpy as np

from ._compile import kernel

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
}
#: The wgmma tilings' kernel parameters: instruction width N (m64n128k32 or
#: m64n256k32 products), stages, block tile BM x BN (sp24_wgmma in
#: kernels/sparse24.cu).
WGMMA = {name: (256 if name.endswith("_n256") else 128, CONFIGS[name][5], CONFIGS[name][0],
                CONFIGS[name][1])
         for name in CONFIGS if name.startswith("wgmma_")}
#: Tilings that need Hopper (compute capability 9.0, the sm_90a target).
HOPPER_ONLY = tuple(WGMMA)
#: Default tilings, in order of preference (speed at 8192^3; the first on the H200, session 8,
#: docs/gpu.md): the first that this GPU runs and whose BK divides K is used.
DEFAULTS = ("wgmma_256x128x64_s4_keep1", "256x128x128_w64x64_s3_pipe", "256x128x64_w64x64_s3",
            "128x128x32_w64x32_s3")
#: The 16-bit dtypes with a tensor-core path, and the kernel's tag for each.
TAGS = {np.dtype(np.float16): "f16"}
_CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8
_RAISED = set()


def eligible(A):
    """Whether A's storage can take the tensor-core path (2:4, float16, K % 32 == 0)."""
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
    cached = getattr(A, "_sp24", None)
    if cached is not None:
        return cached
    M, K = A.shape
    G = K // 4
    pos = A.positions.reshape(M, G, 2).astype(np.uint32)
    vals = A.values.reshape(M, G, 2)
    swap = pos[..., 0] > pos[..., 1]
    first = cupy.where(swap, pos[..., 1], pos[..., 0])
    second = cupy.where(swap, pos[..., 0], pos[..., 1])
    if bool(swap.any()):
        # Slots out of position order (raw input): a reordered copy of the values.
        v0 = cupy.where(swap, vals[..., 1], vals[..., 0])
        v1 = cupy.where(swap, vals[..., 0], vals[..., 1])
        values = cupy.ascontiguousarray(cupy.stack([v0, v1], axis=-1).reshape(M, K // 2))
    else:
        # Canonical storage (what spla builds) is read as it is, so the kernel
        # always sees the array's current values.
        values = A.values
    nibbles = (first | (second << 2)).reshape(M, K // 32, 8)
    shifts = (cupy.arange(8, dtype=np.uint32) * 4)[None, None, :]
    words = (nibbles << shifts).sum(axis=-1, dtype=np.uint32)  # disjoint bits: sum == or
    ME = -(-M // 4) * 4  # rows padded to a multiple of 4: aligned 16-byte copies
    meta = cupy.full((K // 32, ME), 0x44444444, dtype=np.uint32)
    meta[:, :M] = words.T
    A._sp24 = (values, meta)
    return A._sp24


def _smem_bytes(cfg, name=""):
    BM, BN, BK, WM, WN, STAGES, _ = cfg
    tiles = STAGES * (BM * BK + 2 * BK * BN + 4 * (BK // 32) * BM)
    return tiles + (1024 if name in HOPPER_ONLY else 0)  # room to align to 1024 bytes


def available(name):
    """Whether tiling ``name`` runs on the current GPU."""
    return name not in HOPPER_ONLY or cupy.cuda.Device().compute_capability == "90"


def _kernel(tag, name):
    cfg = CONFIGS[name]
    if name in HOPPER_ONLY:
        if not available(name):
            raise ValueError(f"tiling {name} needs a Hopper GPU (compute capability 9.0)")
        params = WGMMA[name] + (cfg[6],)
        k = kernel("sparse24.cu", f"sp24_wgmma<{tag}, {', '.join(map(str, params))}>",
                   options=("-arch=sm_90a",))
    else:
        k = kernel("sparse24.cu", f"sp24_spmm<{tag}, {', '.join(map(str, cfg))}>")
    smem = _smem_bytes(cfg, name)
    if (tag, name) not in _RAISED:
        # Blocks may use more than the default 48 KiB of shared memory only
        # after the kernel's limit is raised.
        try:
            k.max_dynamic_shared_size_bytes = smem
        except AttributeError:
            cupy.cuda.driver.funcSetAttribute(
                k.kernel.ptr, _CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, smem)
        _RAISED.add((tag, name))
    return k, cfg, smem


def spmm(A, X, config=None):
    """``A @ X`` on the sparse tensor cores (float32 result); see ``supports``.

    ``config`` names one of ``CONFIGS`` (for benchmarks); by default the first
    of ``DEFAULTS`` whose BK divides K.
    """
    values, meta = prepare(A)
    M, K = A.shape
    N = X.shape[1]
    X = cupy.ascontiguousarray(X)
    C = cupy.empty((M, N), dtype=np.float32)
    if M == 0 or N == 0:
        return C
    if K == 0:
        C[...] = 0
        return C
    name = config or next(c for c in DEFAULTS if K % CONFIGS[c][2] == 0 and available(c))
    k, cfg, smem = _kernel(TAGS[A.dtype], name)
    if K % cfg[2]:
        raise ValueError(f"tiling {name} needs K % {cfg[2]} == 0, got K = {K}")
    BM, BN, _, WM, WN, _, _ = cfg
    grid = (-(-N // BN), -(-M // BM))
    threads = (BM // WM) * (BN // WN) * 32 * (4 if name in HOPPER_ONLY else 1)
    k(grid, (threads,), (values, meta, X, C, np.int32(M), np.int32(N), np.int32(K),
                         np.int32(meta.shape[1])), shared_mem=smem)
    return C
