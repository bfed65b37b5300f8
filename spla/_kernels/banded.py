"""Numba kernels for banded arrays (row-aligned diagonals, see ``_formats/banded.py``).

``data[d, i] == A[i, i + offsets[d]]``: a block of rows ``[i0, i1)`` reads the slice
``data[d, i0:i1]`` of every diagonal and the slice ``x[i0 + k : i1 + k]`` of the
operand. The products walk one block at a time; SpMV adds four diagonals per
pass (SpMM one), so sequential streams (diagonals and slices of ``x``) feed an
accumulator that stays in L1/L2: no index is loaded, and every load is a stream
the hardware prefetcher follows. Blocks are independent (no carries), and the
sum of each row runs in an order fixed by the matrix, so results do not depend
on the number of threads.

The caller validates everything (offsets in ``(-rows, cols)``, ``data`` of shape
``(len(offsets), rows)``, dtypes equal) and clips nothing: kernels clip every
diagonal to the rows whose column lies inside the matrix.
"""

import numpy as np
from numba import njit, prange

# Loop counters and positions are cast to unsigned once clipped (see csr.py):
# with signed indices Numba tests every access for negative wraparound.
U = np.uint64

#: Rows per block: the accumulator (BLOCK values) stays in L1/L2 while the
#: diagonals stream past it, and each diagonal's slice is long enough
#: (32 KiB in float64) for the hardware prefetcher to lock on.
BLOCK = 4096


@njit(inline="always")
def _add_diagonal(acc, i0, data, d, k, x, lo, hi):
    """acc[i - i0] += data[d, i] * x[i + k] for rows lo <= i < hi."""
    if hi <= lo:
        return
    dd = U(d)
    a0 = U(lo - i0)
    r0 = U(lo)
    x0 = U(lo + k)
    for t in range(U(hi - lo)):
        acc[a0 + t] += data[dd, r0 + t] * x[x0 + t]


@njit(parallel=True, cache=True, nogil=True)
def spmv(offsets, data, x, y, block, zero):
    """y = A @ x. ``zero`` is typed in the accumulator dtype (float64 for float32
    data, complex128 for complex64).

    Diagonals go four at a time over the rows where all four lie inside the
    matrix: one load and store of the accumulator per four multiply-adds
    instead of per one (the loop is bound by L1 traffic otherwise). The rows
    at the ends of the band, where some of the four leave the matrix, take
    the diagonals one by one. The order of the additions depends only on the
    matrix, not on the number of threads.
    """
    m = y.size
    n = x.size
    nd = offsets.size
    n_blocks = (m + block - 1) // block
    for b in prange(n_blocks):
        i0 = b * block
        i1 = min(m, i0 + block)
        acc = np.full(i1 - i0, zero)
        d = 0
        while d + 4 <= nd:
            k0 = offsets[d]
            k1 = offsets[d + 1]
            k2 = offsets[d + 2]
            k3 = offsets[d + 3]
            # offsets are sorted: the common rows are those of the first
            # diagonal's lower end and the last one's upper end
            lo = max(i0, -k0, -k1, -k2, -k3)
            hi = min(i1, n - k0, n - k1, n - k2, n - k3)
            if hi > lo:
                a0 = U(lo - i0)
                r0 = U(lo)
                d0 = U(d)
                for t in range(U(hi - lo)):
                    r = r0 + t
                    acc[a0 + t] += (data[d0, r] * x[U(r + k0)] + data[d0 + U(1), r] * x[U(r + k1)]
                                    + data[d0 + U(2), r] * x[U(r + k2)]
                                    + data[d0 + U(3), r] * x[U(r + k3)])
                for j in range(4):
                    k = offsets[d + j]
                    lo_j = max(i0, -k)
                    hi_j = min(i1, n - k)
                    _add_diagonal(acc, i0, data, d + j, k, x, lo_j, min(hi_j, lo))
                    _add_diagonal(acc, i0, data, d + j, k, x, max(lo_j, hi), hi_j)
            else:
                for j in range(4):
                    k = offsets[d + j]
                    _add_diagonal(acc, i0, data, d + j, k, x, max(i0, -k), min(i1, n - k))
            d += 4
        while d < nd:
            k = offsets[d]
            _add_diagonal(acc, i0, data, d, k, x, max(i0, -k), min(i1, n - k))
            d += 1
        for t in range(U(i1 - i0)):
            y[U(i0) + t] = acc[t]


@njit(parallel=True, cache=True, nogil=True)
def spmm(offsets, data, X, Y, block):
    """Y = A @ X for C-contiguous ``X`` (n, k) and ``Y`` (m, k); ``Y`` need not be zeroed.

    Each row's sum runs over the diagonals in order; the inner loop over the k
    columns is contiguous and compiles to SIMD.
    """
    m = Y.shape[0]
    n = X.shape[0]
    K = Y.shape[1]
    nd = offsets.size
    n_blocks = (m + block - 1) // block
    for b in prange(n_blocks):
        i0 = b * block
        i1 = min(m, i0 + block)
        for i in range(U(i0), U(i1)):
            for j in range(U(K)):
                Y[i, j] = 0
        for d in range(nd):
            k = offsets[d]
            lo = max(i0, -k)
            hi = min(i1, n - k)
            if hi <= lo:
                continue
            dd = U(d)
            x0 = U(lo + k)
            for t in range(U(hi - lo)):
                i = U(lo) + t
                v = data[dd, i]
                xi = x0 + t
                for j in range(U(K)):
                    Y[i, j] += v * X[xi, j]
