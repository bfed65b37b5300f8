"""Numba kernels of the COO format: conversion to CSR, scatter-add, products.

Pure functions over raw arrays. They validate nothing: ``coo_array`` checks
that every coordinate lies inside the shape and that the arrays have matching
lengths and dtypes before it calls them. Operands of the products arrive cast
to the result dtype, so each kernel computes in one dtype.

COO's operations scatter into the output in input order (the entries are not
grouped by row), and the scatters are serial, as SciPy's: splitting the entries
into lanes with private outputs measured 2x slower on the shared 2-core test
machine (2026-12-06), so it is not used. ``expand_rows`` (CSR -> COO) is
parallel. ``coo_to_csr`` is serial: a parallel COO -> CSR kernel can replace it
behind ``spla._formats.coo._coo_to_csr``.
"""

import numpy as np
from numba import njit, prange


@njit(cache=True, nogil=True)
def coo_to_csr(n_rows, row, col, data, indptr, indices, values):
    """Compress COO triplets into canonical CSR storage; returns the output nnz.

    ``indptr`` (length ``n_rows + 1``), ``indices`` and ``values`` (length
    ``row.size``) are written. Within every row the column indices come out
    sorted and duplicates are summed (in input order); explicit zeros are kept,
    as SciPy keeps them. One stable counting sort by row, then a stable sort of
    each row by column (insertion sort for short rows, merge sort for long
    ones) and one compaction pass: O(nnz + n_rows) memory, no O(n_cols) array.
    """
    nnz = row.size
    for i in range(n_rows + 1):
        indptr[i] = 0
    for k in range(nnz):
        indptr[row[k] + 1] += 1
    for i in range(n_rows):
        indptr[i + 1] += indptr[i]
    nxt = indptr[:-1].copy()
    for k in range(nnz):
        i = row[k]
        q = nxt[i]
        indices[q] = col[k]
        values[q] = data[k]
        nxt[i] = q + 1
    for i in range(n_rows):
        _sort_row(indices, values, indptr[i], indptr[i + 1])
    out = 0
    for i in range(n_rows):
        s = indptr[i]
        e = indptr[i + 1]
        indptr[i] = out
        first = out
        for p in range(s, e):
            j = indices[p]
            if out > first and indices[out - 1] == j:
                values[out - 1] += values[p]
            else:
                indices[out] = j
                values[out] = values[p]
                out += 1
    indptr[n_rows] = out
    return out


@njit(cache=True, nogil=True, inline="always")
def _sort_row(indices, values, s, e):
    """Stable sort of ``indices[s:e]`` (and ``values`` alike) by index."""
    if e - s <= 32:
        for p in range(s + 1, e):
            j = indices[p]
            v = values[p]
            q = p - 1
            while q >= s and indices[q] > j:
                indices[q + 1] = indices[q]
                values[q + 1] = values[q]
                q -= 1
            indices[q + 1] = j
            values[q + 1] = v
        return
    order = np.argsort(indices[s:e], kind="mergesort")
    sorted_idx = indices[s:e][order]
    sorted_val = values[s:e][order]
    indices[s:e] = sorted_idx
    values[s:e] = sorted_val


@njit(cache=True, nogil=True)
def scatter_add(flat, data, out):
    """``out[flat[k]] += data[k]`` for every entry (duplicates accumulate)."""
    for k in range(flat.size):
        out[flat[k]] += data[k]


@njit(cache=True, nogil=True)
def matvec(row, col, data, x, y):
    """``y[row[k]] += data[k] * x[col[k]]`` for every entry (``y`` pre-zeroed)."""
    for k in range(data.size):
        y[row[k]] += data[k] * x[col[k]]


@njit(cache=True, nogil=True)
def matmat(row, col, data, X, Y):
    """``Y[row[k], :] += data[k] * X[col[k], :]`` for every entry (``Y`` pre-zeroed)."""
    width = X.shape[1]
    for k in range(data.size):
        i = row[k]
        j = col[k]
        a = data[k]
        for c in range(width):
            Y[i, c] += a * X[j, c]


#: Stored entries from which CSR -> COO expands the rows in parallel.
PARALLEL_NNZ = 1 << 17


@njit(parallel=True, cache=True, nogil=True)
def expand_rows(indptr, row):
    """``row[indptr[i]:indptr[i + 1]] = i`` for every row (CSR to COO)."""
    for i in prange(indptr.size - 1):
        for p in range(indptr[i], indptr[i + 1]):
            row[p] = i
