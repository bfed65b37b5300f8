"""CPU implementations of the banded-array operations.

Registered for ("matvec", "banded", "cpu") and ("matmat", "banded", "cpu"): each
decides the result dtype (NumPy's promotion), allocates the output and launches
one kernel from ``spla._kernels.banded`` inside ``parallel_section()``.
"""

import numpy as np

from ..._dispatch import register
from ..._dtypes import accumulator_dtype, compute_dtype, finish, result_dtype
from ..._kernels import banded as K
from ..._kernels.threads import parallel_section
from . import memory


def _cast(a, dtype):
    return a if a.dtype == dtype else a.astype(dtype)


@register("matvec", "banded", "cpu")
def matvec(A, x):
    out_dt = result_dtype(A.dtype, x.dtype)
    dt = compute_dtype(out_dt)
    m, n = A.shape
    if m == 0 or A.offsets.size == 0 or n == 0:
        return np.zeros(m, dtype=out_dt)
    data = _cast(A.data, dt)
    x = np.ascontiguousarray(x, dtype=dt)
    y = np.empty(m, dtype=dt)
    acc = accumulator_dtype(dt)
    with parallel_section():
        K.spmv(A.offsets, data, x, y, K.BLOCK, acc.type(0))
    return finish(y, out_dt)


@register("matmat", "banded", "cpu")
def matmat(A, X):
    out_dt = result_dtype(A.dtype, X.dtype)
    dt = compute_dtype(out_dt)
    m, n = A.shape
    k = X.shape[1]
    if m == 0 or k == 0 or n == 0 or A.offsets.size == 0:
        return np.zeros((m, k), dtype=out_dt)
    data = _cast(A.data, dt)
    X = np.ascontiguousarray(X, dtype=dt)
    Y = memory.empty_output((m, k), dt)
    # Keep a block of Y (rows x k) within about 256 KiB, so it stays in L2
    # while the diagonals stream past it.
    block = max(1, min(K.BLOCK, max(16, (1 << 15) // max(1, k))))
    with parallel_section():
        K.spmm(A.offsets, data, X, Y, block)
    return finish(Y, out_dt)
