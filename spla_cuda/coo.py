"""GPU implementations of the COO operations (CuPy storage).

A ``coo_array`` whose ``data`` and ``coords`` are CuPy arrays asks the dispatch
table (``"coo"`` on ``"cuda"``) for what needs more than its values: the
canonical form (entries sorted in C order, duplicates summed), the conversion to
CSR and back, ``toarray``, ``sum``, ``diagonal`` and the products. Sorting and
summing are CuPy array operations (``spla_cuda.csr._coo_to_canonical``: a sort
of the entries' keys and segment sums); sums, diagonals and products run on the
GPU CSR array (``spla_cuda.csr``), as SciPy's COO runs them through CSR.
1-D and 2-D arrays are handled; n-D COO stays on the CPU.
"""

import cupy

from spla._dispatch import register
from spla._dtypes import index_dtype_for
from spla._formats.coo import _index_dtype, coo_array

from .csr import _coo_to_canonical, _rows_of, entry_rows


def _check_2d(A, what):
    if A.ndim > 2:
        raise NotImplementedError(
            f"{what} of an n-D coo_array on the GPU; use .to_device('cpu') first")


@register("summed", "coo", "cuda")
def summed(A, coords, data):
    """``(coords, data)`` sorted in C order with duplicates summed (explicit zeros kept)."""
    _check_2d(A, "sum_duplicates")
    if A.ndim == 1:
        (col,) = coords
        shape = (1, A.shape[0])
        row = cupy.zeros(col.size, dtype=col.dtype)
    else:
        row, col = coords
        shape = A.shape
    values, indices, indptr = _coo_to_canonical(row, col, data, shape, col.dtype)
    if A.ndim == 1:
        return (indices,), values
    return (_rows_of(indptr, values.size).astype(row.dtype), indices), values


@register("coo_to_csr", "coo", "cuda")
def coo_to_csr(data, row, col, shape, check=True):
    """Canonical CSR storage ``(data, indices, indptr)`` of COO triplets on the GPU."""
    idx = index_dtype_for(shape[1], data.size)
    if data.size == 0:
        return (data.copy(), cupy.zeros(0, dtype=idx), cupy.zeros(shape[0] + 1, dtype=idx))
    return _coo_to_canonical(row, col, data, shape, idx)


@register("csr_to_coo", "csr", "cuda")
def csr_to_coo(csr, copy):
    idx = _index_dtype(csr.shape, (csr.indices,))
    row = entry_rows(csr).astype(idx)
    col = csr.indices.astype(idx, copy=bool(copy))
    data = csr.data.copy() if copy else csr.data
    return coo_array._from_parts(data, (row, col), csr.shape, csr.has_canonical_format)


@register("toarray", "coo", "cuda")
def toarray(A, order, out):
    if out is not None:
        if order is not None:
            raise ValueError("order cannot be specified if out is not None")
        if not isinstance(out, cupy.ndarray) or out.shape != A.shape or out.dtype != A.dtype:
            raise ValueError(f"out must be a CuPy array of shape {A.shape} and dtype {A.dtype}")
        out[...] = 0
        result = out
    else:
        if order not in (None, "C", "F"):
            raise ValueError(f"order must be 'C' or 'F', got {order!r}")
        result = cupy.zeros(A.shape, dtype=A.dtype, order=order or "C")
    if A.nnz:
        _check_2d(A, "toarray")
        coords, data = A._summed(A.coords, A.data) if not A.has_canonical_format else (
            A.coords, A.data)
        result[tuple(coords)] = data  # one value per position once summed
    return result


@register("sum", "coo", "cuda")
def sum_(A, axis, dtype, out):
    _check_2d(A, "sum")
    return A.tocsr().sum(axis=axis, dtype=dtype, out=out)


@register("diagonal", "coo", "cuda")
def diagonal(A, k):
    return A.tocsr().diagonal(k)


@register("matvec", "coo", "cuda")
def matvec(A, x):
    return A.tocsr() @ x


@register("matmat", "coo", "cuda")
def matmat(A, X):
    return A.tocsr() @ X
