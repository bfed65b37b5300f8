"""Numba kernels for activation-sparse products ``y = W[:, idx] @ v`` (``v = h[idx]``,
the non-zero activations) that read only the active columns of ``W``.

Two layouts, both parallel over fixed blocks of output rows (the result does not
depend on the number of threads):

- ``gemv_cols_f``: ``W`` column-major (F-contiguous). Each active column is a
  contiguous run of ``m`` values; a block of ``ROWS_F`` rows of ``y`` stays in L1
  while the active columns' segments stream through: exactly the ``alpha m n``
  values of the active columns are read.
- ``gemv_cols_c``: ``W`` row-major (C-contiguous). Each row gathers its active
  entries; with a fraction ``alpha`` of the columns active, a row still touches
  about ``min(1, alpha * line / itemsize)`` of its cache lines, so this layout
  gains only at low densities (see ``docs/theory.md``).

Sums run in the output dtype, four partial sums per row in the row-major kernel.
``fastmath`` allows reassociation and contraction only.
"""

import numpy as np
from numba import njit, prange

U = np.uint64
_FM = {"reassoc", "contract"}

#: Output rows per task of the column-major kernel (fits L1 with a column segment).
ROWS_F = 1024
#: Output rows per task of the row-major kernel.
ROWS_C = 64


@njit(parallel=True, cache=True, nogil=True, fastmath=_FM)
def gemv_cols_f(W, idx, v, y):
    """y[:] = sum_j W[:, idx[j]] * v[j] for F-contiguous W (m x n); y has length m."""
    m = y.size
    nb = (m + ROWS_F - 1) // ROWS_F
    na = idx.size
    for b in prange(nb):
        r0 = b * ROWS_F
        r1 = min(m, r0 + ROWS_F)
        for i in range(r0, r1):
            y[U(i)] = 0
        j = 0
        while j + 4 <= na:  # four columns per pass: one load/store of y per 4 FMAs
            c0 = U(idx[j])
            c1 = U(idx[j + 1])
            c2 = U(idx[j + 2])
            c3 = U(idx[j + 3])
            v0 = v[j]
            v1 = v[j + 1]
            v2 = v[j + 2]
            v3 = v[j + 3]
            for i in range(U(r0), U(r1)):
                y[i] += (W[i, c0] * v0 + W[i, c1] * v1) + (W[i, c2] * v2 + W[i, c3] * v3)
            j += 4
        while j < na:
            c = U(idx[j])
            vj = v[j]
            for i in range(U(r0), U(r1)):
                y[i] += W[i, c] * vj
            j += 1


@njit(parallel=True, cache=True, nogil=True, fastmath=_FM)
def gemv_cols_c(W, idx, v, y, zero):
    """y[i] = sum_j W[i, idx[j]] * v[j] for C-contiguous W (m x n); ``zero`` is 0 of
    y's dtype."""
    m = y.size
    na = idx.size
    nb = (m + ROWS_C - 1) // ROWS_C
    for b in prange(nb):
        r0 = b * ROWS_C
        r1 = min(m, r0 + ROWS_C)
        for i in range(U(r0), U(r1)):
            s0 = zero
            s1 = zero
            s2 = zero
            s3 = zero
            j = 0
            while j + 4 <= na:
                s0 += W[i, U(idx[j])] * v[j]
                s1 += W[i, U(idx[j + 1])] * v[j + 1]
                s2 += W[i, U(idx[j + 2])] * v[j + 2]
                s3 += W[i, U(idx[j + 3])] * v[j + 3]
                j += 4
            while j < na:
                s0 += W[i, U(idx[j])] * v[j]
                j += 1
            y[i] = (s0 + s1) + (s2 + s3)
