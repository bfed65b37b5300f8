"""GPU implementations of the sparse-attention workloads (``kernels/attention.cu``).

One warp per query row: the lanes split the feature dimension, so every row of
Q, K and V is read with coalesced loads. ``sparse_attention`` is fused: scores,
their running maximum, ``exp`` and the weighted sum of V happen in one pass over
a row's keys (online softmax); the scores never reach memory. Banded patterns
run it through their CSR form (built on the GPU once per pattern).
"""

import cupy
import numpy as np

from spla._dispatch import register
from spla._formats.banded import banded_array

from ._compile import blocks, ctype, kernel

THREADS = 256
#: Widest value dimension of the fused kernel: 32 lanes x 8 columns.
MAX_FUSED_DV = 256


def _real(dt, what):
    if dt.kind == "c":
        raise TypeError(f"{what} on the GPU supports real dtypes (float32, float64), got {dt.name}")
    return dt


def _offsets(P):
    off = getattr(P, "_cuda_offsets", None)
    if off is None:
        off = P._cuda_offsets = cupy.asarray(P.offsets, dtype=np.int64)
    return off


@register("sddmm", "csr", "cuda")
def sddmm_csr(Q, K, P, dt):
    _real(dt, "sddmm")
    m, d = Q.shape
    Q = cupy.ascontiguousarray(Q, dtype=dt)
    K = cupy.ascontiguousarray(K, dtype=dt)
    out = cupy.zeros(P.nnz, dtype=dt)
    if P.nnz and d:
        k = kernel("attention.cu", f"sddmm_csr<{ctype(dt)}, {ctype(P.indptr.dtype)}>")
        k((blocks(m * 32, THREADS),), (THREADS,),
          (P.indptr, P.indices, Q, K, out, np.int64(m), np.int64(d)))
    return P._with_data(out)


@register("sddmm", "banded", "cuda")
def sddmm_banded(Q, K, P, dt):
    _real(dt, "sddmm")
    m, n = P.shape
    d = Q.shape[1]
    Q = cupy.ascontiguousarray(Q, dtype=dt)
    K = cupy.ascontiguousarray(K, dtype=dt)
    out = cupy.zeros((P.offsets.size, m), dtype=dt)
    if out.size and d:
        k = kernel("attention.cu", f"sddmm_banded<{ctype(dt)}>")
        k((blocks(m * 32, THREADS),), (THREADS,),
          (_offsets(P), np.int32(P.offsets.size), Q, K, out, np.int64(m), np.int64(n),
           np.int64(d)))
    return banded_array._from_parts(out, P.offsets.copy(), P.shape)


@register("softmax", "csr", "cuda")
def softmax_csr(P):
    out = cupy.empty_like(P.data)
    m = P.shape[0]
    if out.size:
        k = kernel("attention.cu", f"softmax_csr<{ctype(P.dtype)}, {ctype(P.indptr.dtype)}>")
        k((blocks(m * 32, THREADS),), (THREADS,), (P.indptr, P.data, out, np.int64(m)))
    return P._with_data(out)


@register("softmax", "banded", "cuda")
def softmax_banded(P):
    m, n = P.shape
    out = cupy.empty_like(P.data)
    if out.size:
        k = kernel("attention.cu", f"softmax_banded<{ctype(P.dtype)}>")
        k((blocks(m * 32, THREADS),), (THREADS,),
          (_offsets(P), np.int32(P.offsets.size), P.data, out, np.int64(m), np.int64(n)))
    return banded_array._from_parts(out, P.offsets.copy(), P.shape)


def _attend(Q, K, V, P, scale):
    """Q (B, m, d), K (B, n, d), V (B, n, dv), contiguous, one dtype."""
    B, m, d = Q.shape
    n, dv = V.shape[1], V.shape[2]
    dt = Q.dtype
    out = cupy.zeros((B, m, dv), dtype=dt)
    if out.size == 0 or P.nnz == 0:
        return out
    if dv > MAX_FUSED_DV:
        raise ValueError(
            f"sparse_attention on the GPU supports value dimensions up to {MAX_FUSED_DV}, "
            f"got {dv}; split V into column blocks")
    per_lane = 1
    while 32 * per_lane < dv:
        per_lane *= 2
    k = kernel("attention.cu",
               f"attend_csr<{ctype(dt)}, {ctype(P.indptr.dtype)}, {per_lane}>")
    k((blocks(B * m * 32, THREADS),), (THREADS,),
      (P.indptr, P.indices, Q, K, V, out, np.int64(B), np.int64(m), np.int64(n),
       np.int64(d), np.int64(dv), dt.type(scale)))
    return out


@register("sparse_attention", "csr", "cuda")
def sparse_attention_csr(Q, K, V, P, scale):
    return _attend(Q, K, V, P, scale)


@register("sparse_attention", "banded", "cuda")
def sparse_attention_banded(Q, K, V, P, scale):
    csr = getattr(P, "_cuda_csr", None)
    if csr is None:
        csr = P._cuda_csr = P.tocsr()
    return _attend(Q, K, V, csr, scale)
