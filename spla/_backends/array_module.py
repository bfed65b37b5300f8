"""CSR algorithms written over an array module ``xp`` (NumPy or CuPy).

The GPU backend (``spla_cuda.csr``) runs these with ``xp = cupy`` for the value
dtypes cuSPARSE does not take (integers, bool, float16): array operations only
(sorts, binary searches, gathers, scatters of unique positions), so the CPU test
suite checks them with ``xp = numpy``.
"""

import numpy as np


def entry_rows(indptr, nnz, xp):
    """The row of each of the ``nnz`` stored entries (int64)."""
    return xp.searchsorted(indptr, xp.arange(nnz, dtype=indptr.dtype), side="right") - 1


def transpose(indptr, indices, data, shape, xp):
    """``(data, indices, indptr)`` of the transpose (shape ``shape[::-1]``): the
    entries permuted, explicit zeros and duplicates kept, each new row sorted.

    Examples
    --------
    >>> import numpy as np
    >>> from spla._backends.array_module import transpose
    >>> d, i, p = transpose(np.array([0, 2, 3]), np.array([2, 0, 1]),
    ...                     np.array([1, 2, 3]), (2, 3), np)
    >>> d.tolist(), i.tolist(), p.tolist()
    ([2, 3, 1], [0, 1, 0], [0, 1, 2, 3])
    """
    m, n = shape
    nnz = indices.size
    rows = entry_rows(indptr, nnz, xp)
    keys = indices.astype(np.int64) * max(m, 1) + rows
    order = xp.argsort(keys)
    cols_sorted = indices[order].astype(np.int64)
    new_indptr = xp.searchsorted(cols_sorted, xp.arange(n + 1, dtype=np.int64))
    return data[order], rows[order].astype(indices.dtype), new_indptr.astype(indptr.dtype)


def to_dense(indptr, indices, data, shape, order, xp):
    """The dense array of canonical CSR storage (one value per stored position)."""
    out = xp.zeros(shape, dtype=data.dtype, order=order or "C")
    if data.size:
        out[entry_rows(indptr, data.size, xp), indices] = data
    return out


def diagonal(indptr, indices, data, shape, k, xp):
    """The ``k``-th diagonal of canonical CSR storage."""
    m, n = shape
    length = max(0, min(m, n - k)) if k >= 0 else max(0, min(m + k, n))
    out = xp.zeros(length, dtype=data.dtype)
    if length and data.size:
        rows = entry_rows(indptr, data.size, xp)
        on = indices.astype(np.int64) - rows == k
        out[rows[on] if k >= 0 else indices[on].astype(np.int64)] = data[on]
    return out
