"""GPU implementations of the N:M operations.

Products of 2:4 float16 (bfloat16) arrays with float16 (bfloat16) operands run on
the sparse tensor cores (``sparse24``); every other N:M product runs ``kernels/nm.cu`` on the CUDA
cores, reading float16 values directly and accumulating them in float32.
Results follow the CPU backend: NumPy's promotion, with float16 and bfloat16
computed and returned as float32.
"""

import cupy
import numpy as np

from spla._dispatch import register
from spla._dtypes import BFLOAT16, HALF_DTYPES, result_dtype
from spla._formats.compressed import csr_array

from . import sparse24
from ._compile import blocks, ctype, kernel, lanes_per_row, vector_width

THREADS = 256


def as_dtype(a, dt):
    """``a`` (a CuPy array) as a contiguous array of ``dt``; bfloat16 goes through its
    bits (the top half of a float32), so no CuPy bfloat16 kernel is needed."""
    if BFLOAT16 is not None and a.dtype == BFLOAT16:
        wide = (cupy.ascontiguousarray(a).view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        return wide if dt == np.float32 else wide.astype(dt)
    return cupy.ascontiguousarray(a, dtype=dt)


def _values_for(A, dt):
    """Values as the kernel reads them: float16 stays float16 for a float32 product."""
    if A.dtype == np.float16 and dt == np.float32:
        return A.values, "half_bits"
    values = A.values if A.dtype == dt else as_dtype(A.values, dt)
    return values, ctype(dt)


@register("matvec", "nm", "cuda")
def matvec(A, x):
    dt = result_dtype(A.dtype, x.dtype)
    R, C = A.shape
    S = A.values.shape[1]
    if R == 0 or S == 0:
        return cupy.zeros(R, dtype=dt)
    values, T = _values_for(A, dt)
    x = as_dtype(x, dt)
    y = cupy.empty(R, dtype=dt)
    packed = A.packed_positions
    k = kernel("nm.cu", f"nm_spmv<{T}, {ctype(dt)}, {A.n}, {A.m}>")
    k((blocks(R * 32, THREADS),), (THREADS,),
      (values, packed, np.int64(packed.shape[1]), x, y, np.int64(R), np.int64(S), np.int64(C)))
    return y


@register("matmat", "nm", "cuda")
def matmat(A, X):
    if sparse24.supports(A, X):
        return sparse24.spmm(A, X)
    dt = result_dtype(A.dtype, X.dtype)
    R, C = A.shape
    K = X.shape[1]
    S = A.values.shape[1]
    if R == 0 or K == 0 or S == 0:
        return cupy.zeros((R, K), dtype=dt)
    values, T = _values_for(A, dt)
    X = as_dtype(X, dt)
    Y = cupy.empty((R, K), dtype=dt)
    V = vector_width(dt, K)
    G = lanes_per_row(K, V)
    slices = -(-K // (G * V))
    packed = A.packed_positions
    k = kernel("nm.cu", f"nm_spmm<{T}, {ctype(dt)}, {A.n}, {A.m}, {G}, {V}>")
    k((blocks(R * slices * G, THREADS),), (THREADS,),
      (values, packed, np.int64(packed.shape[1]), X, Y, np.int64(R), np.int64(S), np.int64(C),
       np.int64(K)))
    return Y


def _columns(A):
    R = A.shape[0]
    S = A.values.shape[1]
    base = (cupy.arange(S, dtype=np.int64) // A.n) * A.m
    return base[None, :] + A.positions.astype(np.int64), R, S


@register("toarray", "nm", "cuda")
def toarray(A, order, out):
    R, C = A.shape
    cols, _, S = _columns(A)
    G = S // A.n if A.n else 0
    dense = cupy.zeros((R, max(G * A.m, C)), dtype=A.dtype)
    rows = cupy.broadcast_to(cupy.arange(R)[:, None], cols.shape)
    dense[rows, cols] = A.values
    dense = dense[:, :C]
    if out is None:
        return cupy.array(dense, order=order or "C")
    if not isinstance(out, cupy.ndarray) or out.shape != A.shape or out.dtype != A.dtype:
        raise ValueError(f"out must be a CuPy array of shape {A.shape} and dtype {A.dtype}")
    out[...] = dense
    return out


@register("tocsr", "nm", "cuda")
def tocsr(A):
    R, C = A.shape
    cols, _, S = _columns(A)
    dt = np.dtype(np.float32) if A.dtype in HALF_DTYPES else A.dtype
    G = S // A.n if A.n else 0
    order = cupy.argsort(cols.reshape(R, G, A.n), axis=-1)  # canonical: sorted columns
    cols = cupy.take_along_axis(cols.reshape(R, G, A.n), order, axis=-1).reshape(R, S)
    vals = cupy.take_along_axis(A.values.reshape(R, G, A.n), order, axis=-1).reshape(R, S)
    keep = (vals != 0) & (cols < C)
    counts = keep.sum(axis=1)
    idx = np.int32 if max(C, R, int(counts.sum())) <= np.iinfo(np.int32).max else np.int64
    indptr = cupy.concatenate([cupy.zeros(1, idx), cupy.cumsum(counts).astype(idx)])
    return csr_array._from_parts(as_dtype(vals[keep], dt), cols[keep].astype(idx), indptr,
                                 (R, C), True)


@register("prepare", "nm", "cuda")
def prepare(A):
    """Lay out a 2:4 float16 or bfloat16 array for the sparse tensor cores, once, on arrival."""
    if sparse24.eligible(A):
        sparse24.prepare(A)
