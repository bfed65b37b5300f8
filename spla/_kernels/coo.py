"""Numba kernels of the COO format: conversion to CSR, scatter-add, products.

Pure functions over raw arrays. They validate nothing: ``coo_array`` checks
that every coordinate lies inside the shape and that the arrays have matching
lengths and dtypes before it calls them. Operands of the products arrive cast
to the result dtype, so each kernel computes in one dtype.

These kernels are serial. COO's natural operations scatter into the output in
input order (the entries are not grouped by row), so threads would need
private output copies or a sort first; the CSR kernels do the heavy lifting
for 2-D arrays once converted.
"""

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def coo_to_csr(n_rows, n_cols, row, col, data, indptr, indices, values):
    """Compress COO triplets into canonical CSR storage; returns the output nnz.

    ``indptr`` (length ``n_rows + 1``), ``indices`` and ``values`` (length
    ``row.size``) are written. Within every row the column indices come out
    sorted and duplicates are summed (in input order); explicit zeros are kept,
    as SciPy keeps them. Two stable counting sorts (by column, then by row) and
    one compaction pass: O(nnz + n_rows + n_cols) work.
    """
    nnz = row.size
    # Pass 1: bucket the entries by column (stable).
    colptr = np.zeros(n_cols + 1, dtype=np.int64)
    for k in range(nnz):
        colptr[col[k] + 1] += 1
    for j in range(n_cols):
        colptr[j + 1] += colptr[j]
    row_t = np.empty(nnz, dtype=row.dtype)
    data_t = np.empty(nnz, dtype=data.dtype)
    for k in range(nnz):
        j = col[k]
        p = colptr[j]
        row_t[p] = row[k]
        data_t[p] = data[k]
        colptr[j] = p + 1
    # colptr[j] is now the end of column j. Pass 2: bucket by row (stable), walking
    # the columns in order, so that every row comes out sorted by column.
    for i in range(n_rows + 1):
        indptr[i] = 0
    for k in range(nnz):
        indptr[row[k] + 1] += 1
    for i in range(n_rows):
        indptr[i + 1] += indptr[i]
    nxt = np.empty(n_rows, dtype=np.int64)
    for i in range(n_rows):
        nxt[i] = indptr[i]
    start = 0
    for j in range(n_cols):
        end = colptr[j]
        for p in range(start, end):
            i = row_t[p]
            q = nxt[i]
            indices[q] = j
            values[q] = data_t[p]
            nxt[i] = q + 1
        start = end
    # Pass 3: sum the duplicates of each row (now adjacent) and compact.
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
