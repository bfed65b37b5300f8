"""CPU entry points of the indexing reads of CSR storage (CSC reads its transpose).

Registered in the dispatch table for ``"csr"`` on ``"cpu"``:

``("getitem_select", "csr", "cpu")(A, rows, cols)``
    The CSR array of rows ``rows`` and columns ``cols`` of CSR array ``A``; each
    is a ``range`` (a slice, resolved) or a 1-D ``numpy.intp`` array of in-range
    indices (repeats and any order allowed). Stored entries keep their values
    (explicit zeros and duplicates included, as SciPy keeps them).
``("getitem_points", "csr", "cpu")(A, rows, cols)``
    The dense values ``A[rows[t], cols[t]]`` (1-D ``intp`` arrays of one length,
    in range), duplicates summed.
``("getitem_scalar", "csr", "cpu")(A, i, j)``
    ``A[i, j]`` as a NumPy scalar of ``A.dtype`` (``0 <= i < m``, ``0 <= j < n``).

Indices must be in range: ``spla._indexing.keys`` checks them first.
"""

import numpy as np

from ..._dispatch import register
from ..._dtypes import index_dtype_for
from ..._kernels import index as K
from ..._kernels.partition import row_blocks
from ..._kernels.threads import parallel_section
from ..._indexing.views import row_view
from . import convert

_EMPTY_ROWS = np.empty(0, dtype=np.intp)
_UINT = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}
#: A column map (one shared array of n_cols + 1 offsets) is used when it costs at
#: most this many times the entries read plus the columns requested; beyond, a
#: binary search in the sorted request (no workspace proportional to n_cols).
_MAP_FACTOR = 8


def _is_serial(n_rows, nnz):
    return convert._is_serial(n_rows, nnz)


def _kernel(name, serial):
    return K.SERIAL[name] if serial else getattr(K, name)


def _pieces(n, serial):
    return 1 if serial else int(max(1, min(256, n // 4096)))


def _raw(values):
    """``values`` viewed as plain numbers of its width (what the copy kernels move)."""
    values = np.ascontiguousarray(values)
    size = values.dtype.itemsize
    if size == 16:
        return values.view(np.complex128)
    return values.view(_UINT[size])


def _known_sorted(A):
    """Whether A's rows are known to be sorted (computed only when rows are long)."""
    derived = A._derived
    if derived.get("canonical") or derived.get("sorted"):
        return True
    if A.nnz > 32 * max(1, A.shape[0]):
        return bool(A.has_sorted_indices)
    return False


def _out_index_dtype(indices, n_cols, nnz):
    """The source's index dtype when the output fits in it (fewer compilations), else int64."""
    if indices.dtype == np.int32 and index_dtype_for(n_cols, nnz) == np.int32:
        return np.dtype(np.int32)
    return np.dtype(np.int64)


def _rows_spec(rows):
    if type(rows) is range:
        return rows.start, rows.step, _EMPTY_ROWS, len(rows)
    return 0, 1, rows, rows.size


def _finish(A, data, indices, indptr, shape, canonical):
    from ..._formats.compressed import csr_array

    out = csr_array._from_parts(data, indices, indptr, shape)
    if canonical:
        out._derived["canonical"] = True
    return out


def _indptr_of(counts, idx):
    """Prefix sum of ``counts`` (``counts[0] == 0``) in the index dtype ``idx``."""
    np.cumsum(counts, out=counts)
    return counts.astype(idx, copy=False)


def _fill_blocks(out_indptr, serial):
    return row_blocks(out_indptr, 1 if serial else 4 * convert._threads())


def _fill_plan(out_indptr, nnz, serial):
    """(rows to fill, block boundaries) of a fill pass: when few output rows have
    entries (one column of a tall array), only those are visited again."""
    n_rows = out_indptr.size - 1
    if nnz * 8 < n_rows:
        only = np.flatnonzero(out_indptr[1:] != out_indptr[:-1])
        pieces = 1 if serial or only.size < 4096 else 4 * convert._threads()
        blocks = (np.arange(pieces + 1, dtype=np.int64) * only.size) // pieces
        return only, blocks
    return _EMPTY_ROWS, _fill_blocks(out_indptr, serial)


@register("getitem_select", "csr", "cpu")
def select(A, rows, cols):
    m, n = A.shape
    indptr, indices, data = A.indptr, A.indices, A.data
    row_start, row_step, row_arr, n_rows = _rows_spec(rows)
    canonical = bool(A._derived.get("canonical"))
    full_cols = type(cols) is range and cols.step == 1 and cols.start == 0 and len(cols) == n
    n_out_cols = len(cols)
    if full_cols:
        return _whole_rows(A, rows, row_start, row_step, row_arr, n_rows, canonical)
    serial = _is_serial(n_rows, indices.size * max(1, n_rows) // max(1, m))
    counts = np.zeros(n_rows + 1, dtype=np.int64)
    if type(cols) is range:
        c_start, c_step, c_len = cols.start, cols.step, len(cols)
        sorted_rows = _known_sorted(A)
        with parallel_section():
            _kernel("count_column_range", serial)(
                indptr, indices, row_start, row_step, row_arr, n_rows, c_start, c_step, c_len,
                sorted_rows, _pieces(n_rows, serial), counts)
        nnz = int(counts.sum())
        idx = _out_index_dtype(indices, n_out_cols, nnz)
        out_indptr = _indptr_of(counts, idx)
        out_indices = np.empty(nnz, dtype=idx)
        out_data = np.empty(nnz, dtype=data.dtype)
        if nnz:
            with parallel_section():
                _kernel("fill_column_range", serial)(
                    indptr, indices, _raw(data), row_start, row_step, row_arr, c_start, c_step,
                    c_len, sorted_rows, out_indptr, *_fill_plan(out_indptr, nnz, serial),
                    out_indices, _raw(out_data))
        return _finish(A, out_data, out_indices, out_indptr, (n_rows, n_out_cols), canonical)
    # an index array: the request sorted once (a column map, or a sorted copy)
    cols = np.asarray(cols, dtype=np.intp)
    # entries the kernels will read: the column map (O(n) to build) must pay for itself
    if row_arr.size:
        visited = int((indptr[row_arr + 1] - indptr[row_arr]).sum())
    elif n_rows:
        visited = int(indptr[row_start + (n_rows - 1) * row_step + 1] - indptr[row_start]) \
            if row_step == 1 else indices.size * n_rows // max(1, m)
    else:
        visited = 0
    use_map = n <= _MAP_FACTOR * (visited + cols.size) + 1024
    if use_map:
        col_ptr = np.zeros(n + 1, dtype=np.int64)
        hits = np.empty(n, dtype=np.uint8)
        order = np.empty(cols.size, dtype=np.intp)
        exact_hits = K.column_map(cols, col_ptr, hits, order) < 255
        sorted_cols = cols  # unused with the map
    else:
        order = np.argsort(cols, kind="stable")
        sorted_cols = cols[order]
        col_ptr = np.zeros(1, dtype=np.int64)
        hits = np.zeros(1, dtype=np.uint8)
        exact_hits = False
    with parallel_section():
        _kernel("count_column_gather", serial)(
            indptr, indices, row_start, row_step, row_arr, n_rows, use_map, hits, exact_hits,
            col_ptr, sorted_cols, _pieces(n_rows, serial), counts)
    nnz = int(counts.sum())
    idx = _out_index_dtype(indices, n_out_cols, nnz)
    out_indptr = _indptr_of(counts, idx)
    out_indices = np.empty(nnz, dtype=idx)
    out_data = np.empty(nnz, dtype=data.dtype)
    if nnz:
        with parallel_section():
            _kernel("fill_column_gather", serial)(
                indptr, indices, _raw(data), row_start, row_step, row_arr, use_map, hits,
                col_ptr, sorted_cols, order, out_indptr, *_fill_plan(out_indptr, nnz, serial),
                out_indices, _raw(out_data))
    increasing = cols.size < 2 or bool(np.all(cols[1:] >= cols[:-1]))
    return _finish(A, out_data, out_indices, out_indptr, (n_rows, n_out_cols),
                   canonical and increasing)


def _whole_rows(A, rows, row_start, row_step, row_arr, n_rows, canonical):
    m, n = A.shape
    indptr, indices, data = A.indptr, A.indices, A.data
    if type(rows) is range and row_step == 1:
        # a contiguous block of storage: the arrays' row view, copied (SciPy's slices
        # are copies; spla.dask uses the view itself)
        return _copy_view(row_view(A, row_start, row_start + n_rows), A, canonical)
    if row_arr.size == 0 and n_rows:
        row_arr = np.arange(row_start, row_start + n_rows * row_step, row_step, dtype=np.intp)
    counts = np.zeros(n_rows + 1, dtype=np.int64)
    # the start of every row read, gathered first: the copies of different rows then
    # overlap their cache misses instead of waiting on the row pointer
    starts = indptr[row_arr]
    if n_rows:
        np.subtract(indptr[row_arr + 1], starts, out=counts[1:])
    nnz = int(counts.sum())
    idx = _out_index_dtype(indices, n, nnz)
    out_indptr = _indptr_of(counts, idx)
    out_indices = np.empty(nnz, dtype=idx)
    out_data = np.empty(nnz, dtype=data.dtype)
    if nnz:
        serial = _is_serial(n_rows, nnz)
        with parallel_section():
            _kernel("copy_rows", serial)(starts, indices, _raw(data), 0, 1, _EMPTY_ROWS,
                                         out_indptr,
                                         _fill_blocks(out_indptr, serial), out_indices,
                                         _raw(out_data))
    return _finish(A, out_data, out_indices, out_indptr, (n_rows, n), canonical)


def _copy_view(V, A, canonical):
    """A CSR array owning copies of the storage of the row view ``V`` of ``A``."""
    indptr, indices, data = V.indptr, V.indices, V.data
    if np.may_share_memory(indptr, A.indptr):
        indptr = indptr.copy()
    nnz = indices.size
    if _is_serial(V.shape[0], nnz):
        out_indices = indices.copy()
        out_data = data.copy()
    else:
        out_indices = np.empty(nnz, dtype=indices.dtype)
        out_data = np.empty(nnz, dtype=data.dtype)
        pieces = 4 * convert._threads()
        with parallel_section():
            K.copy_block(indices, out_indices, pieces)
            K.copy_block(_raw(data), _raw(out_data), pieces)
    return _finish(A, out_data, out_indices, indptr, V.shape, canonical)


@register("getitem_points", "csr", "cpu")
def points(A, rows, cols):
    indptr, indices, data = A.indptr, A.indices, A.data
    n = rows.size
    pos = np.empty(n, dtype=np.int64)
    count = np.empty(n, dtype=np.int64)
    serial = _is_serial(n, 0) or n < 4096
    sorted_rows = _known_sorted(A)
    with parallel_section():
        _kernel("find_points", serial)(indices, indptr[rows], indptr[rows + 1], cols,
                                       sorted_rows, _pieces(n, serial), pos, count)
    if data.size == 0:
        return np.zeros(n, dtype=data.dtype)
    out = data.take(pos)  # absent entries (position -1) are zeroed next
    out[count == 0] = 0
    if n and count.max() > 1:
        for t in np.flatnonzero(count > 1):  # duplicates: summed as SciPy sums them
            out[t] = _sum_at(A, int(rows[t]), int(cols[t]))
    return out


def _sum_at(A, i, j):
    lo, hi = int(A.indptr[i]), int(A.indptr[i + 1])
    values = A.data[lo:hi][A.indices[lo:hi] == j]
    return values.sum(dtype=A.dtype)


@register("getitem_scalar", "csr", "cpu")
def scalar(A, i, j):
    derived = A._derived
    pos, count = K.find_one(A._indptr, A._indices, i, j,
                            bool(derived.get("canonical") or derived.get("sorted")))
    if count == 1:
        return A._data[pos]
    if count == 0:
        return A._data.dtype.type(0)
    return _sum_at(A, i, j)
