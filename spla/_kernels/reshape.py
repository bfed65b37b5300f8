"""Reshape of CSR storage: index arithmetic on the coordinates.

Entry ``k`` of row ``i`` at column ``j`` of an ``(m, n)`` array has the flat
position ``i n + j`` (C order) or ``j m + i`` (Fortran order); in the new shape
``(p, q)`` it lands at ``(f // q, f % q)`` (C) or ``(f % p, f // p)`` (F). The
kernels write the new coordinates of every stored entry; the caller compresses
them (in C order the rows come out sorted, so the new ``indptr`` is a count).
Positions are computed in int64, so ``i n`` never overflows int32 indices.
"""

import numpy as np
from numba import njit, prange


@njit(cache=True, nogil=True)
def _rows_serial(indptr, indices, n, q, p, fortran, m_rows, new_row, new_col):
    for i in range(indptr.size - 1):
        for k in range(indptr[i], indptr[i + 1]):
            j = np.int64(indices[k])
            if fortran:
                f = j * m_rows + i
                new_row[k] = f % p
                new_col[k] = f // p
            else:
                f = np.int64(i) * n + j
                new_row[k] = f // q
                new_col[k] = f % q


@njit(cache=True, nogil=True, parallel=True)
def _rows_parallel(indptr, indices, n, q, p, fortran, m_rows, new_row, new_col):
    for i in prange(indptr.size - 1):
        for k in range(indptr[i], indptr[i + 1]):
            j = np.int64(indices[k])
            if fortran:
                f = j * m_rows + i
                new_row[k] = f % p
                new_col[k] = f // p
            else:
                f = np.int64(i) * n + j
                new_row[k] = f // q
                new_col[k] = f % q


#: Below this many stored entries the serial loop is faster than starting threads.
PARALLEL_NNZ = 200_000


def new_coordinates(indptr, indices, shape, new_shape, order, index_dtype):
    """Row and column of every stored entry of CSR storage ``(indptr, indices)`` of
    ``shape`` in ``new_shape``, read and written in ``order`` ("C" or "F")."""
    m, n = shape
    p, q = new_shape
    nnz = indices.size
    new_row = np.empty(nnz, dtype=index_dtype)
    new_col = np.empty(nnz, dtype=index_dtype)
    if nnz:
        kernel = _rows_parallel if nnz >= PARALLEL_NNZ else _rows_serial
        kernel(indptr, indices, np.int64(n), np.int64(max(q, 1)), np.int64(max(p, 1)),
               order == "F", np.int64(m), new_row, new_col)
    return new_row, new_col
