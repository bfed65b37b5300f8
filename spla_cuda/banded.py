"""GPU implementations of the banded-array products (``kernels/banded.cu``).

Row-aligned diagonals make both products pure streams: thread ``i`` reads
column ``i`` of every diagonal and ``x[i + offset]``, so a warp's loads are
contiguous and no index array exists to be loaded.
"""

import cupy
import numpy as np

from spla._dispatch import register
from spla._dtypes import result_dtype

from ._compile import blocks, ctype, kernel, vector_width

#: Rows per thread of the SpMV kernel (independent loads in flight per thread).
ROWS_PER_THREAD = 4
THREADS = 256


def _offsets(A):
    """The offsets on the GPU, copied once per array."""
    off = A._derived.get("cuda_offsets")
    if off is None:
        off = A._derived["cuda_offsets"] = cupy.asarray(A.offsets, dtype=np.int64)
    return off


def spmv_method(A, dt):
    """``"vec<R>"`` (R rows per thread, one vector load per diagonal) when the
    diagonals are R-aligned (m % R == 0), else ``"rows4"``."""
    R = vector_width(dt, A.shape[0])
    return f"vec{R}" if R > 1 else f"rows{ROWS_PER_THREAD}"


@register("matvec", "banded", "cuda")
def matvec(A, x):
    return spmv(A, x)


def spmv(A, x, method=None):
    """y = A @ x; ``method`` (``"rows<R>"`` or ``"vec<R>"``, for benchmarks)
    forces the kernel, else ``spmv_method`` picks it."""
    dt = result_dtype(A.dtype, x.dtype)
    m, n = A.shape
    if m == 0 or n == 0 or A.offsets.size == 0:
        return cupy.zeros(m, dtype=dt)
    data = A.data if A.dtype == dt else A.data.astype(dt)
    x = cupy.ascontiguousarray(x, dtype=dt)
    y = cupy.empty(m, dtype=dt)
    method = method or spmv_method(A, dt)
    R = int(method[-1])
    if method.startswith("vec"):
        if m % R:
            raise ValueError(f"banded kernel {method} needs m % {R} == 0")
        k = kernel("banded.cu", f"banded_spmv_vec<{ctype(dt)}, {R}>")
    else:
        k = kernel("banded.cu", f"banded_spmv<{ctype(dt)}, {R}>")
    k((blocks(m, THREADS * R),), (THREADS,),
      (_offsets(A), np.int32(A.offsets.size), data, x, y, np.int64(m), np.int64(n)))
    return y


@register("matmat", "banded", "cuda")
def matmat(A, X):
    dt = result_dtype(A.dtype, X.dtype)
    m, n = A.shape
    K = X.shape[1]
    if m == 0 or K == 0 or n == 0 or A.offsets.size == 0:
        return cupy.zeros((m, K), dtype=dt)
    data = A.data if A.dtype == dt else A.data.astype(dt)
    X = cupy.ascontiguousarray(X, dtype=dt)
    Y = cupy.empty((m, K), dtype=dt)
    V = vector_width(dt, K)
    k = kernel("banded.cu", f"banded_spmm<{ctype(dt)}, {V}>")
    k((blocks(m * (K // V), THREADS),), (THREADS,),
      (_offsets(A), np.int32(A.offsets.size), data, X, Y, np.int64(m), np.int64(n), np.int64(K)))
    return Y
