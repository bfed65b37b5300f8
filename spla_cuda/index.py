"""GPU entries of the indexing reads and writes of CSR storage (CSC: its transpose).

Reads run spla's kernels (``kernels/index.cu``) and take their index arrays on the
device, NumPy or CuPy, *unchecked*: the kernels resolve negative indices and check
bounds on the way, and the host reads one small array per read (the output size
with the largest key out of range of each axis) to raise SciPy's ``IndexError``.
No key array is copied to the host. Each read is a few launches:

- row slices of step 1: no kernel of spla's (``gpu.row_slice``: the row
  pointer shifted, one copy of each entry array);
- ``A[rows]``, ``A[mask]`` (``cupy.flatnonzero``), other row slices: the lengths
  of the selected rows, their running sum (``cupy.cumsum``), the copy (L lanes a row, or
  a warp per 1,024 output entries when one row is far longer than the mean);
- ``A[rows, cols]`` (points) and ``A[i, j]``: one thread a point, a binary search
  of its row (a scan where rows are not known sorted; duplicates summed);
- selections of columns (``A[:, cols]``, ``A[ix_(r, c)]``, ``A[rows, a:b]``): a
  dense column map of the columns asked for (how often, and the first position;
  every position, through a stable sort, only when a column is asked for
  twice), then count, running sum and fill over the selected rows.

Values move as bytes (a type of their size) except where duplicates of
non-canonical storage are summed. Writes are CuPy array operations
(``spla._indexing.gpu``).
"""

import cupy
import numpy as np

from spla._dispatch import register
from spla._formats.compressed import csr_array
from spla._indexing import gpu
from spla._kernels.cuda_index import ARITH_CTYPES, INDEX_CTYPES, carrier as _carrier

from ._compile import blocks, kernel

_SRC = "index.cu"
_THREADS = 256
_INT32_MAX = np.iinfo(np.int32).max
_INDEX = INDEX_CTYPES
_ARITH = ARITH_CTYPES
_NULL = np.uint64(0)  # a null pointer argument
#: A dense column map (8 bytes a column) is used up to this many columns beyond
#: 8 times the entries and keys read; past it, the sort-based CuPy path.
_MAP_SLACK = 1 << 24
#: Rows longer than this many times the lanes of a row (``_lanes`` of the mean
#: length) switch ``take_rows`` to the fill balanced by output entries.
_BALANCE = 256


def _storage(A):
    """``(indptr, indices, C index type)`` of CSR ``A``, of one index dtype (the
    kernels take one; storage of two is read as int64)."""
    indptr, indices = A.indptr, A.indices
    if indptr.dtype != indices.dtype:
        indptr, indices = indptr.astype(np.int64), indices.astype(np.int64)
    return indptr, indices, _INDEX[np.dtype(indices.dtype)]


def _keys(x):
    """An index array (NumPy or CuPy, any integer dtype) as a contiguous int64 CuPy
    array (one instantiation of each kernel for every key dtype)."""
    return cupy.ascontiguousarray(cupy.asarray(x, dtype=np.int64).ravel())


def _rows_spec(rows):
    """``(keys, r0, rstep, n_rows)`` of a ``range`` or an index array."""
    if type(rows) is range:
        return _NULL, rows.start, rows.step, len(rows)
    keys = _keys(rows)
    return keys, 0, 0, keys.size


def _raise_out_of_range(stat, axes):
    """SciPy's ``IndexError`` for the first axis of ``axes`` (0: major, 1: minor)
    whose slots of ``stat`` note a key out of range (see ``kernels/index.cu``)."""
    for a in axes:
        hi, lo = int(stat[2 * a]), int(stat[2 * a + 1])
        if hi:
            raise IndexError(f"index ({hi - 1}) out of range")
        if lo:
            raise IndexError(f"index ({-lo}) out of range")


def _lanes(mean):
    """Lanes per row for rows of ``mean`` entries: a power of two near mean / 2, <= 32."""
    lanes = 1
    while lanes < 32 and 2 * lanes < mean:
        lanes *= 2
    return lanes


def _index_dtype(indices, n_cols, nnz):
    """The result's index dtype, the CPU path's rule: the source's when the result
    fits in it, else int64."""
    small = indices.dtype == np.int32 and max(n_cols, nnz) <= _INT32_MAX
    return np.dtype(np.int32) if small else np.dtype(np.int64)


def take_rows(A, rows):
    """Rows ``rows`` (a ``range`` or an unchecked index array) of CSR ``A`` with all
    their entries, as a CSR array: count, running sum, one read, copy; a step-1
    ``range`` (a row slice) needs no per-row kernel (``gpu.row_slice``)."""
    m, n = A.shape
    if type(rows) is range and rows.step == 1:
        out_indptr, out_indices, out_data = gpu.row_slice(
            A.indptr, A.indices, A.data, rows.start, rows.stop, n, cupy)
        return csr_array._from_parts(out_data, out_indices, out_indptr, (len(rows), n),
                                     True if A._derived.get("canonical") else None)
    keys, r0, rstep, n_rows = _rows_spec(rows)
    spec = (keys, np.int64(r0), np.int64(rstep), np.int64(n_rows), np.int64(m))
    indptr, indices, I = _storage(A)
    # 0, the lengths, then 3 slots: the bounds of the keys, the longest row
    buf = cupy.zeros(n_rows + 4, dtype=np.int64)
    if n_rows:
        kernel(_SRC, f"idx_rows_count<{I}>")(
            (blocks(n_rows, _THREADS),), (_THREADS,), (indptr, *spec, buf, buf[n_rows + 1:]))
        cupy.cumsum(buf[:n_rows + 1], out=buf[:n_rows + 1])
    tail = buf[n_rows:].get()
    _raise_out_of_range(tail[1:3], (0,))
    nnz, longest = int(tail[0]), int(tail[3])
    idx = _index_dtype(indices, n, nnz)
    out_indptr = cupy.empty(n_rows + 1, dtype=idx)
    out_indices = cupy.empty(nnz, dtype=idx)
    out_data = cupy.empty(nnz, dtype=A.dtype)
    L = _lanes(nnz / max(n_rows, 1))
    names = f"{I}, {_INDEX[idx]}, {_carrier(A.dtype)}"
    if longest > _BALANCE * L:  # a row would hold its lanes far longer than the rest
        kernel(_SRC, f"idx_rows_fill_balanced<{names}>")(
            (blocks(max(n_rows + 1, -(-nnz // 1024) * 32), _THREADS),), (_THREADS,),
            (indptr, indices, A.data, *spec, np.int64(nnz), buf, out_indptr, out_indices,
             out_data))
    else:
        kernel(_SRC, f"idx_rows_fill<{names}>")(
            (blocks((n_rows + 1) * L, _THREADS),), (_THREADS,),
            (indptr, indices, A.data, *spec, np.int32(L), buf, out_indptr, out_indices,
             out_data))
    return csr_array._from_parts(out_data, out_indices, out_indptr, (n_rows, n),
                                 True if A._derived.get("canonical") else None)


def _column_map(cols, n, stat):
    """The dense column map of the key array ``cols``: ``(keys, cnt, first)`` (see
    ``idx_column_map``); ``stat`` (5 slots) gets the columns' bounds in slots 2
    and 3 and the repeat flag in slot 4."""
    keys = _keys(cols)
    cnt = cupy.zeros(n, dtype=np.int32)
    first = cupy.empty(n, dtype=np.uint32)
    if n:
        cupy.cuda.runtime.memsetAsync(first.data.ptr, 0xFF, first.nbytes,
                                      cupy.cuda.get_current_stream().ptr)
    if keys.size:
        kernel(_SRC, "idx_column_map<long long>")(
            (blocks(keys.size, _THREADS),), (_THREADS,),
            (keys, np.int64(keys.size), np.int64(n), cnt, first, stat))
    return keys, cnt, first


def _column_lists(keys, n, cnt, cursor, short):
    """``(start, order)`` of a column map with repeats: column c's positions, in
    increasing order, are ``order[start[c]:start[c] + cnt[c]]``. ``short``: no column
    is asked for more than ``SHORT_LIST`` (index.cu: 32) times, so a counting pass
    and an insertion sort of each list replace a (stable) sort of all the keys.
    ``cursor`` (n 32-bit words) is overwritten."""
    start = cupy.cumsum(cnt, dtype=np.int64) - cnt
    if not short:
        wrapped = cupy.where(keys < 0, keys + n, keys)
        if n <= np.iinfo(np.int32).max:  # a radix sort of half the key bits
            wrapped = wrapped.astype(np.int32)
        return start, cupy.argsort(wrapped).astype(np.int64, copy=False)
    order = cupy.empty(keys.size, dtype=np.int64)
    cupy.cuda.runtime.memsetAsync(cursor.data.ptr, 0, cursor.nbytes, cupy.cuda.get_current_stream().ptr)
    kernel(_SRC, "idx_column_lists_scatter<long long>")(
        (blocks(keys.size, _THREADS),), (_THREADS,), (keys, np.int64(keys.size), np.int64(n), start,
                                                      cursor, order))
    kernel(_SRC, "idx_column_lists_sort<long long>")(
        (blocks(n, _THREADS),), (_THREADS,), (cnt, start, np.int64(n), order))
    return start, order


def select(A, rows, cols, minor_first=False):
    """Rows ``rows`` and columns ``cols`` of CSR ``A`` (each a ``range`` or an
    unchecked 1-D index array) as a CSR array; ``minor_first``: the columns' bounds
    are reported before the rows' (CSC reads through the transpose)."""
    m, n = A.shape
    full_cols = type(cols) is range and cols.step == 1 and cols.start == 0 and len(cols) == n
    if full_cols:
        return take_rows(A, rows)
    n_cols = len(cols) if type(cols) is range else int(cols.size)
    keys, r0, rstep, n_rows = _rows_spec(rows)
    spec = (keys, np.int64(r0), np.int64(rstep), np.int64(n_rows), np.int64(m))
    visited = A.indices.size * max(n_rows, 1) // max(m, 1)
    if type(cols) is not range and (n > 8 * (visited + n_cols) + _MAP_SLACK
                                    or n_cols >= 0xFFFFFFFF):
        return _select_sorted(A, rows, cols, minor_first)
    indptr, indices, I = _storage(A)
    buf = cupy.zeros(n_rows + 1 + 5, dtype=np.int64)  # 0, counts; 5 stat slots
    stat = buf[n_rows + 1:]
    null = (_NULL, _NULL, _NULL, _NULL)
    if type(cols) is range:
        cm, cmap, crange = 2, null, (cols.start, cols.step, n_cols)
        col_keys = None
    else:
        col_keys, cnt, first = _column_map(cols, n, stat)
        cm, cmap, crange = 0, (cnt, first, _NULL, _NULL), (0, 1, 0)
    crange = tuple(np.int64(v) for v in crange)
    L = _lanes(A.indices.size / max(m, 1))
    if n_rows:
        count_map = (cmap[0], _NULL, _NULL, _NULL) if cm == 0 else cmap
        kernel(_SRC, f"idx_select_count<{I}>")(
            (blocks(n_rows * L, _THREADS),), (_THREADS,),
            (indptr, indices, np.int32(1 if cm == 0 else cm), *spec, np.int32(L), *count_map,
             *crange, buf, stat))
        cupy.cumsum(buf[:n_rows + 1], out=buf[:n_rows + 1])
    tail = buf[n_rows:].get()
    _raise_out_of_range(tail[1:5], (1, 0) if minor_first else (0, 1))
    nnz = int(tail[0])
    if cm == 0 and tail[5]:  # a column asked for twice: every position, in order
        cm = 1
        cmap = (cmap[0], _NULL, *_column_lists(col_keys, n, cmap[0], cmap[1], short=tail[5] == 1))
    idx = _index_dtype(indices, n_cols, nnz)
    out_indptr = cupy.empty(n_rows + 1, dtype=idx)
    out_indices = cupy.empty(nnz, dtype=idx)
    out_data = cupy.empty(nnz, dtype=A.dtype)
    kernel(_SRC, f"idx_select_fill<{I}, {_INDEX[idx]}, {_carrier(A.dtype)}>")(
        (blocks((n_rows + 1) * L, _THREADS),), (_THREADS,),
        (indptr, indices, A.data, np.int32(cm), *spec, np.int32(L), *cmap, *crange, buf,
         out_indptr, out_indices, out_data))
    return csr_array._from_parts(out_data, out_indices, out_indptr, (n_rows, n_cols))


def _select_sorted(A, rows, cols, minor_first):
    """``select`` through CuPy's sort-based path (``spla._indexing.gpu``), for an
    index array of columns too short for a dense map of all the columns: the keys
    are checked on the host here (a copy of the columns only)."""
    from spla._indexing.keys import as_index_array

    m, n = A.shape
    host_cols = cupy.asnumpy(cols) if isinstance(cols, cupy.ndarray) else np.asarray(cols)
    if type(rows) is not range:
        if minor_first:
            host_cols = as_index_array(host_cols, n)
        B = take_rows(A, rows)  # checks the rows
        rows = range(B.shape[0])
    else:
        B = A
    host_cols = as_index_array(host_cols, n)
    data, indices, indptr, shape, canonical = gpu.select(B, rows, host_cols, cupy)
    return csr_array._from_parts(data, indices, indptr, shape, canonical)


def _value_mode(A):
    """``(mode, storage, value C type)`` of the point reads of ``A``: 0 (canonical,
    values copied), 1 (sorted rows, duplicates summed) or 2 (rows in any order)."""
    canonical = A._derived.get("canonical")
    if canonical is None:
        canonical = A.has_canonical_format
    name = _ARITH.get(np.dtype(A.dtype))
    if canonical:
        return 0, A, name or _carrier(A.dtype)
    if name is not None:
        return (1 if A._derived.get("sorted") else 2), A, name
    B = A._deduped()
    return 0, B, _carrier(B.dtype)


def _read_points(B, V, args, grid, threads):
    indptr, indices, I = _storage(B)
    kernel(_SRC, f"idx_points<{I}, {V}>")((grid,), (threads,), (indptr, indices, B.data, *args))


def points(A, rows, cols, minor_first=False):
    """``A[rows[t], cols[t]]`` (1-D index arrays of one length, NumPy or CuPy,
    unchecked) as a CuPy array of ``A.dtype``, duplicates summed."""
    m, n = A.shape
    mode, B, V = _value_mode(A)
    rk, ck = _keys(rows), _keys(cols)
    k = rk.size
    out = cupy.empty(k, dtype=A.dtype)
    stat = cupy.zeros(4, dtype=np.int64)
    if k:
        _read_points(B, V, (rk, ck, np.int64(0), np.int64(0), np.int64(k), np.int64(m),
                            np.int64(n), np.int32(mode), out, stat), blocks(k, _THREADS), _THREADS)
        _raise_out_of_range(stat.get(), (1, 0) if minor_first else (0, 1))
    return out


@register("getitem_select", "csr", "cuda")
def _select_entry(A, rows, cols, minor_first=False):
    return select(A, rows, cols, minor_first)


@register("getitem_points", "csr", "cuda")
def _points_entry(A, rows, cols, minor_first=False):
    return points(A, rows, cols, minor_first)


@register("getitem_row_mask", "csr", "cuda")
def row_mask(A, mask):
    """``A[mask]`` for a 1-D boolean ``mask`` (CuPy or NumPy) of A's rows (its length
    checked by the caller)."""
    return take_rows(A, cupy.flatnonzero(cupy.asarray(mask)))


@register("getitem_scalar", "csr", "cuda")
def scalar(A, i, j):
    """``A[i, j]`` (in range) as a 0-d CuPy array of ``A.dtype``: one launch, no
    synchronisation."""
    mode, B, V = _value_mode(A)
    out = cupy.empty((), dtype=A.dtype)
    m, n = A.shape
    _read_points(B, V, (_NULL, _NULL, np.int64(i), np.int64(j), np.int64(1), np.int64(m),
                        np.int64(n), np.int32(mode), out, _NULL), 1, 32)
    return out


@register("row_order", "csr", "cuda")
def row_order(indptr, indices):
    return gpu.row_order(indptr, indices, cupy)


@register("write_entries", "csr", "cuda")
def write_entries(data, indices, indptr, shape, rows, cols, values, sorted_rows, writable):
    return gpu.write_entries(data, indices, indptr, shape, rows, cols, values, cupy, writable)


@register("zero_entries", "csr", "cuda")
def zero_entries(data, indices, indptr, shape, rows, cols, sorted_rows, writable):
    return gpu.zero_entries(data, indices, indptr, shape, rows, cols, cupy)
