"""CPU entry points of the batched writes into CSR storage (``spla._kernels.insert``).

``write_entries`` writes ``values`` at (``rows``, ``cols``) of raw CSR storage
with SciPy's semantics: stored entries are overwritten (explicit zeros stay
stored), absent ones are inserted (zeros too, as SciPy's compressed arrays do
for dense values), the last of several writes to one entry wins, and storage
whose targets are stored twice is canonicalised first (SciPy sums duplicates
before such a write). When every target is stored, nothing is reallocated: the
values are written into ``data`` itself, or into one copy of it when the
caller does not own it (``writable=False``).

``zero_entries`` sets the stored entries among the targets to zero and inserts
nothing (SciPy's first step of an assignment of sparse values).

The callers (the format classes) resolved negative indices and checked every
index against the shape, and cast the values to the array's dtype.
"""

import numba
import numpy as np

from ..._dispatch import register
from ..._dtypes import index_dtype_for
from ..._kernels import insert as K
from ..._kernels.partition import row_blocks
from ..._kernels.threads import parallel_section
from . import convert as convert_ops
from . import memory

#: Batches shorter than this are looked up on the calling thread.
SERIAL_MAX_BATCH = 1 << 13
#: Below this many rows + entries the new storage is built on the calling thread.
SERIAL_MAX_ITEMS = 1 << 16


def _threads():
    return max(1, numba.get_num_threads())


def _kernel(name, serial):
    return K.SERIAL[name] if serial else getattr(K, name)


def _lookup(indptr, indices, rows, cols, sorted_rows):
    offsets = np.empty(rows.size, dtype=np.int64)
    serial = rows.size < SERIAL_MAX_BATCH or _threads() == 1
    with parallel_section():
        missing = _kernel("find_offsets", serial)(indptr, indices, rows, cols, sorted_rows,
                                                  offsets)
    return offsets, int(missing)


def _canonical(data, indices, indptr, shape):
    d, j, p, _ = convert_ops.canonicalize(data, indices, indptr, shape)
    return d, j, p


@register("write_entries", "csr", "cpu")
def write_entries(data, indices, indptr, shape, rows, cols, values, sorted_rows, writable):
    """Write ``values[k]`` at (``rows[k]``, ``cols[k]``) of CSR storage.

    Parameters
    ----------
    data, indices, indptr : ndarray
        The CSR storage (not changed unless ``writable`` and every target exists).
    shape : (int, int)
    rows, cols : ndarray of int64
        Targets, in range (checked by the caller), of equal length.
    values : ndarray
        Of ``data``'s dtype and the targets' length.
    sorted_rows : bool
        Whether every row's column indices are sorted (duplicates allowed).
    writable : bool
        Whether ``data`` may be written in place.

    Returns
    -------
    (data, indices, indptr, status)
        The storage after the write; ``status`` is ``"values"`` when only values
        changed (``indices`` and ``indptr`` are the inputs), ``"canonical"`` when
        the storage was canonicalised first, ``"inserted"`` when entries were
        inserted (sorted rows stay sorted).
    """
    status = "values"
    if rows.size == 0:
        return data, indices, indptr, status
    offsets, missing = _lookup(indptr, indices, rows, cols, sorted_rows)
    if missing < 0:  # a target stored twice: SciPy sums duplicates first
        data, indices, indptr = _canonical(data, indices, indptr, shape)
        writable, sorted_rows, status = True, True, "canonical"
        offsets, missing = _lookup(indptr, indices, rows, cols, True)
    if missing == 0:
        if not writable:
            data = data.copy()
        K.scatter_values(data, offsets, values)
        return data, indices, indptr, status
    data, indices, indptr = _insert(data, indices, indptr, shape, rows, cols, values, offsets,
                                    missing, sorted_rows)
    if missing < rows.size:  # the stored targets: written after the insertion
        keep = offsets >= 0
        r, c, v = rows[keep], cols[keep], values[keep]
        offsets, _ = _lookup(indptr, indices, r, c, sorted_rows)
        K.scatter_values(data, offsets, v)
    return data, indices, indptr, "inserted" if status == "values" else status


def _insert(data, indices, indptr, shape, rows, cols, values, offsets, missing, sorted_rows):
    m = shape[0]
    ptr = np.zeros(m + 1, dtype=np.int64)
    order = np.empty(missing, dtype=np.int64)
    K.group_by_row(rows, offsets, m, ptr, order)
    touched = np.flatnonzero(ptr[1:] != ptr[:-1])
    counts = np.zeros(m, dtype=np.int64)
    serial_batch = missing < SERIAL_MAX_BATCH or _threads() == 1
    with parallel_section():
        _kernel("sort_dedupe_rows", serial_batch)(ptr, order, cols, touched, counts)
    new_nnz = int(indptr[m]) + int(counts.sum()) if m else 0
    idx = indices.dtype
    if index_dtype_for(new_nnz, shape[1]) == np.int64:
        idx = np.dtype(np.int64)
    new_indptr = np.empty(m + 1, dtype=idx)
    new_indptr[0] = 0
    np.cumsum(counts, out=new_indptr[1:])
    new_indptr[1:] += indptr[1:]
    out_indices = memory.empty_output(new_nnz, idx)
    out_data = memory.empty_output(new_nnz, data.dtype)
    serial = m + new_nnz < SERIAL_MAX_ITEMS or _threads() == 1
    blocks = row_blocks(new_indptr, 1 if serial else 4 * _threads())
    with parallel_section():
        _kernel("insert_rows", serial)(indptr, indices, data, new_indptr, ptr, order, counts,
                                       cols, values, sorted_rows, blocks, out_indices, out_data)
    return out_data, out_indices, new_indptr


@register("zero_entries", "csr", "cpu")
def zero_entries(data, indices, indptr, shape, rows, cols, sorted_rows, writable):
    """Set the stored entries among the targets to zero (nothing is inserted).

    Returns ``(data, indices, indptr, status)`` as ``write_entries``.
    """
    status = "values"
    if rows.size == 0:
        return data, indices, indptr, status
    offsets, missing = _lookup(indptr, indices, rows, cols, sorted_rows)
    if missing < 0:
        data, indices, indptr = _canonical(data, indices, indptr, shape)
        writable, status = True, "canonical"
        offsets, missing = _lookup(indptr, indices, rows, cols, True)
    if missing == rows.size:
        return data, indices, indptr, status
    if not writable:
        data = data.copy()
    K.scatter_values(data, offsets, np.zeros(rows.size, dtype=data.dtype))
    return data, indices, indptr, status


@register("find_entry", "csr", "cpu")
def find_entry(indptr, indices, i, j, sorted_rows):
    """Position of entry (i, j) in the storage, or -1 (absent) / -2 (stored twice):
    the scalar write's lookup (the caller writes ``data`` itself)."""
    return K.find_one(indptr, indices, i, j, sorted_rows)


@register("find_offsets", "csr", "cpu")
def find_offsets(indptr, indices, rows, cols):
    """Positions of the targets in sorted CSR storage (-1 absent, -2 stored twice)."""
    offsets, _ = _lookup(indptr, indices, rows, cols, True)
    return offsets


@register("row_order", "csr", "cpu")
def row_order(indptr, indices):
    """(sorted, canonical) of CSR storage: every row's indices non-decreasing, and
    strictly increasing (serial below ``SERIAL_MAX_ITEMS`` rows + entries)."""
    m = indptr.size - 1
    serial = m + indices.size < SERIAL_MAX_ITEMS or _threads() == 1
    blocks = row_blocks(indptr, 1 if serial else 4 * _threads())
    flags = np.zeros((blocks.size - 1, 2), dtype=np.int8)
    with parallel_section():
        _kernel("row_order", serial)(indptr, indices, blocks, flags)
    rows_sorted = not flags[:, 0].any()
    return rows_sorted, rows_sorted and not flags[:, 1].any()
