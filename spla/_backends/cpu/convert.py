"""CPU conversions between raw COO, CSR and CSC storage, the canonical form
and the structure filters, with SciPy 1.17's results.

Every function takes raw arrays and returns raw arrays: CSR and CSC storage
as ``(data, indices, indptr, shape)``, COO as ``(data, (row, col), shape)``
(the argument of ``scipy.sparse.coo_array``). CSC storage of ``A`` is the CSR
storage of ``A.T`` with the shape swapped, so every CSR function serves CSC
through that swap.

The functions check what costs O(1) (shapes, lengths, dtypes); the O(nnz)
structure checks (index ranges, monotone ``indptr``) belong to the format
classes, except for COO triplets, whose ranges ``coo_tocsr`` checks unless
``check=False`` (a scatter with an index out of range would write out of
bounds).
"""

import numba
import numpy as np

from ..._kernels import buckets as KB
from ..._kernels import convert as K
from ..._kernels.partition import row_blocks
from ..._kernels.threads import parallel_section
from .memory import pooled_empty

#: Below this many rows + entries the kernels run serially on the calling thread.
SERIAL_MAX_ITEMS = 1 << 16
#: COO -> CSR of at least this many triplets goes through buckets of rows first
#: (``_coo_tocsr_buckets``: each triplet streamed to its bucket's span of the
#: output arrays, then each span put in row order while it is in the cache).
#: Session 13 turned an earlier bucket path off: it kept copies of the triplets
#: (20 bytes an entry, 400 MB at n = 2e6) whose page faults made it bimodal.
#: The path now writes into the output itself plus 2 bytes an entry. Session 14,
#: shuffled uniform triplets, 10 a row, alternating with the direct scatter
#: (``python -m benchmarks.api_paths_coo_spans``, load 10, CPU time of the
#: process, all threads): 1 M triplets 27.6 against 32.3 ms, 4 M 137 against 204,
#: 20 M 749 against 1293 (SciPy 1082, one thread).
BUCKET_MIN_NNZ = 1 << 20
#: Entries of a bucket (its rows' output, 12 to 16 bytes an entry, stays in the L2 cache).
BUCKET_ENTRIES = 1 << 16
#: CSR -> CSC (``transpose``) of at least ``BUCKET_MIN_NNZ`` entries over at least
#: this many columns goes through buckets of columns the same way
#: (``_transpose_buckets``); with fewer columns the direct scatter's column
#: counters stay in the caches. Session 15, n = 2e6, 10 a row, float64
#: (``python -m benchmarks.api_paths_phases tocsc 7``, load 8.6-9.4, CPU time of
#: the process, all threads): direct scatter 579 ms (its scatter 506), buckets of
#: 2^13 / 2^14 / 2^15 / 2^16 entries 349 / 323 / 300 / 285 ms, SciPy 1389 ms.
TRANSPOSE_BUCKET_MIN_COLS = 1 << 16
#: Entries of a bucket of columns in the transpose (about).
TRANSPOSE_BUCKET_ENTRIES = 1 << 16
_NO_COUNTS = np.zeros(0, dtype=np.int64)
#: A counting sort takes one private lane of counters per thread only when the
#: input has at least this many entries per key (otherwise the lanes cost more
#: than the parallel scatter saves).
LANE_MIN_PER_KEY = 2
_INT32_MAX = np.iinfo(np.int32).max


def _threads():
    return max(1, numba.get_num_threads())


def _kernel(name, serial):
    return K.SERIAL[name] if serial else getattr(K, name)


def _is_serial(n_rows, nnz):
    return n_rows + nnz < SERIAL_MAX_ITEMS or _threads() == 1


def _blocks(indptr, serial):
    """Row blocks of about equal rows + entries: 1 when serial, else 4 per thread."""
    return row_blocks(indptr, 1 if serial else 4 * _threads())


#: Most private lanes of a scatter: fixed, not the thread count, so that sums
#: scattered through lanes (column sums) add in the same order, and give the same
#: bits, whatever the number of threads.
MAX_LANES = 4


def _n_lanes(nnz, n_keys, serial):
    """Lanes of a scatter: from the sizes alone (never the thread count)."""
    if nnz + n_keys < SERIAL_MAX_ITEMS:
        return 1
    return int(max(1, min(MAX_LANES, nnz // max(1, LANE_MIN_PER_KEY * n_keys))))


def _pieces(n, serial):
    return 1 if serial else int(max(1, min(64, n // 65536)))


def check_shape(shape):
    """``shape`` as a tuple of two non-negative Python ints, or ValueError/TypeError."""
    try:
        m, n = shape
        m, n = int(m), int(n)
    except (TypeError, ValueError):
        raise TypeError(f"shape must be a tuple of two integers, got {shape!r}") from None
    if m < 0 or n < 0:
        raise ValueError(f"shape must be non-negative, got {shape!r}")
    return m, n


def check_compressed_any(data, indices, indptr, shape):
    """O(1) checks of CSR storage; returns ``(data, indices, indptr, (m, n))``
    with C-contiguous arrays."""
    m, n = check_shape(shape)
    data, indices, indptr = (np.ascontiguousarray(a) for a in (data, indices, indptr))
    if data.ndim != 1 or indices.ndim != 1 or indptr.ndim != 1:
        raise ValueError("data, indices and indptr must be 1-D")
    if indices.dtype.kind not in "iu" or indptr.dtype.kind not in "iu":
        raise TypeError(f"indices and indptr must be integer arrays, got {indices.dtype} "
                        f"and {indptr.dtype}")
    if indptr.size != m + 1:
        raise ValueError(f"indptr has {indptr.size} entries, expected {m + 1} for shape {shape}")
    if data.size != indices.size:
        raise ValueError(f"data has {data.size} entries but indices {indices.size}")
    if indptr[0] != 0 or indptr[-1] > indices.size:
        raise ValueError(f"indptr must start at 0 and end at most at len(indices) = "
                         f"{indices.size}, got {indptr[0]} and {indptr[-1]}")
    nnz = int(indptr[-1])
    return data[:nnz], indices[:nnz], indptr, (m, n)


def check_compressed(data, indices, indptr, shape):
    """``check_compressed_any`` for kernels that add values: refuses float16
    (which Numba does not compile; widen it to float32 first)."""
    if np.asarray(data).dtype == np.float16:
        raise TypeError("float16 values: convert to float32 before the kernel")
    return check_compressed_any(data, indices, indptr, shape)


def as_copyable(data):
    """``data`` itself, or for float16 a uint16 view: kernels that only move
    values (transposes, filters) handle the bits."""
    return data.view(np.uint16) if data.dtype == np.float16 else data


def _index_dtype(arrays, maxval):
    """int32 when every array is at most 32-bit and ``maxval`` fits, else int64
    (SciPy's ``get_index_dtype`` without a content check)."""
    if maxval > _INT32_MAX or any(a.dtype.itemsize > 4 for a in arrays):
        return np.dtype(np.int64)
    return np.dtype(np.int32)


def _scan(counts, serial):
    with parallel_section():
        _kernel("scan_counts", serial)(counts, _pieces(counts.size, serial))
    return counts


# ---------------------------------------------------------------------------
# COO -> CSR
# ---------------------------------------------------------------------------


def coo_tocsr(row, col, data, shape, sum_duplicates=True, check=True):
    """CSR storage of COO triplets, duplicates summed and columns sorted.

    Parameters
    ----------
    row, col : 1-D integer arrays
        Coordinates of the stored entries, in any order, repeats allowed.
    data : 1-D array
        Their values (any dtype Numba compiles; float16 is refused).
    shape : (int, int)
    sum_duplicates : bool
        When False, rows keep their triplets in input order, repeats included
        (SciPy's ``coo_tocsr`` before ``sum_duplicates``).
    check : bool
        Check that every coordinate lies inside ``shape`` (O(nnz), parallel).

    Returns
    -------
    (data, indices, indptr, shape)
        Canonical CSR storage (explicit zeros kept, as in SciPy); int32
        indices when the coordinates are at most 32-bit and the entry count and
        column count fit, int64 otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> from spla._backends.cpu.convert import coo_tocsr
    >>> d, j, p, s = coo_tocsr(np.array([1, 0, 1]), np.array([0, 2, 0]),
    ...                        np.array([1.0, 2.0, 3.0]), (2, 3))
    >>> d, j, p
    (array([2., 4.]), array([2, 0]), array([0, 1, 2]))
    """
    m, n = check_shape(shape)
    row, col, data = (np.ascontiguousarray(a) for a in (row, col, data))
    if row.ndim != 1 or col.ndim != 1 or data.ndim != 1:
        raise ValueError("row, col and data must be 1-D")
    if not (row.size == col.size == data.size):
        raise ValueError(f"row, col and data must have the same length, got {row.size}, "
                         f"{col.size} and {data.size}")
    if row.dtype.kind not in "iu" or col.dtype.kind not in "iu":
        raise TypeError(f"row and col must be integer arrays, got {row.dtype} and {col.dtype}")
    if data.dtype == np.float16:
        raise TypeError("float16 values: convert to float32 before the kernel")
    nnz = row.size
    if check and nnz:
        for name, a, bound in (("row", row, m), ("column", col, n)):
            lo, hi = int(a.min()), int(a.max())
            if lo < 0:
                raise ValueError(f"negative {name} index {lo}")
            if hi >= bound:
                raise ValueError(f"{name} index {hi} out of range for shape {(m, n)}")
    # SciPy: the coordinates' type, or int32 for an empty array that fits
    idx = _index_dtype((row, col) if nnz else (), max(nnz, n) if nnz else max(m, n))
    serial = _is_serial(m, nnz)
    if not serial and nnz >= BUCKET_MIN_NNZ:
        return _coo_tocsr_buckets(row, col, data, (m, n), idx, sum_duplicates, serial)
    n_lanes = _n_lanes(nnz, m, serial)
    starts = (np.arange(n_lanes + 1, dtype=np.int64) * nnz) // n_lanes
    counts = np.empty((n_lanes, m), dtype=idx)  # int32 when it fits: half the cache
    indptr = np.empty(m + 1, dtype=idx)
    indices = np.empty(nnz, dtype=idx)
    values = np.empty(nnz, dtype=data.dtype)
    with parallel_section():
        _kernel("count_keys", serial)(row, starts, counts)
        _kernel("lane_offsets", serial)(counts, indptr)
        _kernel("scatter_by_row", serial)(row, col, data, starts, counts, indices, values)
    del counts
    if not sum_duplicates:
        return values, indices, indptr, (m, n)
    return _canonicalize_in_place(values, indices, indptr, (m, n), serial)


def _bucket_shift(m, nnz, per_bucket):
    """log2 of the rows of a bucket: about ``per_bucket`` entries a bucket."""
    rows = max(1, (m * per_bucket) // max(1, nnz))
    return max(0, int(rows).bit_length() - 1)


def _bucket_layout(n_keys, nnz, per_bucket, n_lanes, idx, dtype, serial):
    """The set-up that COO -> CSR and the transpose share when they go through
    buckets of ``n_keys`` keys (rows, or columns): ``(shift, counts, bucket_ptr,
    local, chunks, ptr, indices, values)``, with ``2**shift`` keys a bucket of about
    ``per_bucket`` entries, the per-lane bucket ``counts`` and the ``bucket_ptr``
    that ``lane_offsets`` fills, the side array ``local`` (each entry's key within
    its bucket), chunks of consecutive buckets (several per thread, so that one
    full bucket, a dense row, does not hold up the others), and the outputs
    (``ptr[n_keys] = nnz`` set). The large arrays come from reused buffers
    (``memory.pooled_empty``)."""
    shift = min(KB.MAX_SHIFT, _bucket_shift(n_keys, nnz, per_bucket))
    n_buckets = max(1, -(-n_keys // (1 << shift)))
    counts = np.empty((n_lanes, n_buckets), dtype=np.int64)
    bucket_ptr = np.empty(n_buckets + 1, dtype=np.int64)
    local = pooled_empty(nnz, np.uint16)
    n_chunks = 1 if serial else min(n_buckets, 8 * _threads())
    chunks = (np.arange(n_chunks + 1, dtype=np.int64) * n_buckets) // n_chunks
    ptr = np.empty(n_keys + 1, dtype=idx)
    ptr[n_keys] = nnz
    return (shift, counts, bucket_ptr, local, chunks, ptr, pooled_empty(nnz, idx),
            pooled_empty(nnz, dtype))


def _coo_tocsr_buckets(row, col, data, shape, idx, sum_duplicates, serial,
                       per_bucket=None):
    """``coo_tocsr`` in two levels inside the output arrays (``spla._kernels.buckets``:
    triplets streamed to their bucket's span of the result, then each span put in
    row order, sorted and merged while in the cache). Same result, bit for bit,
    as the direct scatter."""
    m, n = shape
    nnz = row.size
    n_lanes = 1 if serial else MAX_LANES
    starts = (np.arange(n_lanes + 1, dtype=np.int64) * nnz) // n_lanes
    shift, counts, bucket_ptr, local, chunks, indptr, indices, values = _bucket_layout(
        m, nnz, BUCKET_ENTRIES if per_bucket is None else per_bucket, n_lanes, idx,
        data.dtype, serial)
    row_counts = np.zeros(m + 1 if sum_duplicates else 0, dtype=np.int64)
    with parallel_section():
        _kernel("count_buckets", serial)(row, shift, starts, counts)
        _kernel("lane_offsets", serial)(counts, bucket_ptr)
        scatter = KB.SERIAL["scatter_to_spans"] if serial else KB.scatter_to_spans
        scatter(row, col, data, shift, starts, counts, local, indices, values)
        sort = KB.SERIAL["sort_spans"] if serial else KB.sort_spans
        merged = sort(local, shift, bucket_ptr, chunks, m, indptr, indices, values, row_counts,
                      sum_duplicates)
    del local
    if not sum_duplicates or merged == 0:
        return values, indices, indptr, (m, n)
    return _compact(values, indices, indptr, (m, n), row_counts, _blocks(indptr, serial),
                    serial)


# ---------------------------------------------------------------------------
# Canonical form
# ---------------------------------------------------------------------------


def _canonicalize_in_place(data, indices, indptr, shape, serial):
    m = shape[0]
    blocks = _blocks(indptr, serial)
    counts = np.zeros(m + 1, dtype=np.int64)
    with parallel_section():
        _kernel("canonicalize_rows_in_place", serial)(indptr, indices, data, blocks, counts)
    return _compact(data, indices, indptr, shape, counts, blocks, serial)


def _compact(data, indices, indptr, shape, counts, blocks, serial):
    """Finish a canonicalisation: rows of counts[i + 1] entries at their old offsets."""
    new_indptr = _scan(counts, serial)
    nnz = int(new_indptr[-1])
    if nnz == indices.size:
        return data, indices, indptr, shape
    new_indptr = new_indptr.astype(indptr.dtype)
    out_indices = np.empty(nnz, dtype=indices.dtype)
    out_data = np.empty(nnz, dtype=data.dtype)
    with parallel_section():
        _kernel("compact_rows", serial)(indptr, indices, data, new_indptr, blocks,
                                        out_indices, out_data)
    return out_data, out_indices, new_indptr, shape


def is_canonical(data, indices, indptr, shape):
    """Whether every row's column indices are strictly increasing (sorted, no
    duplicates): SciPy's ``has_canonical_format`` computed afresh."""
    data, indices, indptr, (m, n) = check_compressed_any(data, indices, indptr, shape)
    serial = _is_serial(m, indices.size)
    with parallel_section():
        return bool(_kernel("rows_canonical", serial)(indptr, indices, _blocks(indptr, serial)))


def canonicalize(data, indices, indptr, shape, in_place=False):
    """CSR storage with every row sorted by column and its duplicates summed.

    SciPy's ``sum_duplicates`` (which sorts the indices too); explicit zeros
    stay. With ``in_place`` the rows are sorted and merged inside ``indices``
    and ``data`` (the result may still be new arrays, shorter ones, when
    duplicates were merged); otherwise the input is left untouched.

    Examples
    --------
    >>> import numpy as np
    >>> from spla._backends.cpu.convert import canonicalize
    >>> d, j, p, s = canonicalize(np.array([1.0, 2.0, 3.0]), np.array([2, 0, 2]),
    ...                           np.array([0, 3]), (1, 3))
    >>> d, j, p
    (array([2., 4.]), array([0, 2]), array([0, 2]))
    """
    data, indices, indptr, shape = check_compressed(data, indices, indptr, shape)
    serial = _is_serial(shape[0], indices.size)
    if in_place:
        return _canonicalize_in_place(data, indices, indptr, shape, serial)
    blocks = _blocks(indptr, serial)
    counts = np.zeros(shape[0] + 1, dtype=np.int64)
    out_indices = np.empty_like(indices)
    out_data = np.empty_like(data)
    with parallel_section():
        _kernel("canonicalize_rows_into", serial)(indptr, indices, data, blocks, out_indices,
                                                  out_data, counts)
    return _compact(out_data, out_indices, indptr.copy(), shape, counts, blocks, serial)


# ---------------------------------------------------------------------------
# CSR -> CSC
# ---------------------------------------------------------------------------


def transpose(data, indices, indptr, shape):
    """CSR storage of ``A.T`` from that of ``A`` (equivalently: CSC storage of
    ``A`` from its CSR storage; the shape returned is that of ``A.T``).

    A parallel counting sort by column, stable: the rows of the result come
    out sorted, duplicates of ``A`` side by side in their stored order.

    Examples
    --------
    >>> import numpy as np
    >>> from spla._backends.cpu.convert import transpose
    >>> d, j, p, s = transpose(np.array([1.0, 2.0, 3.0]), np.array([1, 0, 1]),
    ...                        np.array([0, 2, 3]), (2, 2))
    >>> d, j, p, s
    (array([2., 1., 3.]), array([0, 0, 1]), array([0, 1, 3]), (2, 2))
    """
    data, indices, indptr, (m, n) = check_compressed_any(data, indices, indptr, shape)
    dtype = data.dtype
    data = as_copyable(data)
    nnz = indices.size
    idx = _index_dtype((indices, indptr), max(nnz, m))
    serial = _is_serial(m, nnz)
    if not serial and nnz >= BUCKET_MIN_NNZ and n >= TRANSPOSE_BUCKET_MIN_COLS:
        t_data, t_indices, t_indptr = _transpose_buckets(data, indices, indptr, (m, n), idx,
                                                         serial)
        return t_data.view(dtype), t_indices, t_indptr, (n, m)
    n_lanes = _n_lanes(nnz, n, serial)
    row_starts = row_blocks(indptr, n_lanes)
    counts = np.empty((n_lanes, n), dtype=idx)  # int32 when it fits: half the cache
    t_indptr = np.empty(n + 1, dtype=idx)
    t_indices = pooled_empty(nnz, idx)
    t_data = pooled_empty(nnz, data.dtype)
    with parallel_section():
        _kernel("count_columns", serial)(indptr, indices, row_starts, counts)
        _kernel("lane_offsets", serial)(counts, t_indptr)
        _kernel("scatter_transpose", serial)(indptr, indices, data, row_starts, counts,
                                             t_indices, t_data)
    return t_data.view(dtype), t_indices, t_indptr, (n, m)


def _transpose_buckets(data, indices, indptr, shape, idx, serial, per_bucket=None,
                       n_lanes=None):
    """``transpose``'s arrays ``(t_data, t_indices, t_indptr)`` in two levels
    inside the output (``spla._kernels.buckets``, the columns as the keys): each
    entry streamed to its bucket of ``2**shift`` columns' span of the result, then
    each span put in column order while it is in the cache. Same result, bit for
    bit, as the direct scatter (both stable: rows increase within a column)."""
    m, n = shape
    nnz = indices.size
    if n_lanes is None:
        n_lanes = 1 if serial else 4 * _threads()
    row_starts = row_blocks(indptr, n_lanes)
    n_lanes = row_starts.size - 1
    shift, counts, bucket_ptr, local, chunks, t_indptr, t_indices, t_data = _bucket_layout(
        n, nnz, TRANSPOSE_BUCKET_ENTRIES if per_bucket is None else per_bucket, n_lanes, idx,
        data.dtype, serial)
    with parallel_section():
        _kernel("count_column_buckets", serial)(indptr, indices, shift, row_starts, counts)
        _kernel("lane_offsets", serial)(counts, bucket_ptr)
        _kernel("scatter_transpose_to_spans", serial)(indptr, indices, data, shift, row_starts,
                                                      counts, local, t_indices, t_data)
        sort = KB.SERIAL["sort_spans"] if serial else KB.sort_spans
        sort(local, shift, bucket_ptr, chunks, n, t_indptr, t_indices, t_data, _NO_COUNTS,
             False)
    return t_data, t_indices, t_indptr


def csr_tocsc(data, indices, indptr, shape):
    """CSC storage ``(data, indices, indptr, shape)`` of the CSR array given,
    ``shape`` unchanged (SciPy's ``tocsc``: sorted indices, duplicates kept)."""
    t_data, t_indices, t_indptr, _ = transpose(data, indices, indptr, shape)
    return t_data, t_indices, t_indptr, check_shape(shape)


# ---------------------------------------------------------------------------
# CSR -> COO, non-zero positions, triangles
# ---------------------------------------------------------------------------


def expand_rows(indptr, nnz=None, dtype=None):
    """The row of every stored entry: ``np.repeat(arange(m), diff(indptr))``
    in parallel, of ``dtype`` (default: that of ``indptr``)."""
    indptr = np.ascontiguousarray(indptr)
    m = indptr.size - 1
    nnz = int(indptr[-1]) if nnz is None else nnz
    rows = pooled_empty(nnz, indptr.dtype if dtype is None else dtype)
    serial = _is_serial(m, nnz)
    with parallel_section():
        _kernel("expand_rows", serial)(indptr, _blocks(indptr, serial), rows)
    return rows


def parallel_copy(a):
    """A copy of the 1-D array ``a`` made by all threads (serial when small)."""
    a = np.ascontiguousarray(a)
    out = pooled_empty(a.size, a.dtype)  # a reused buffer when large (memory.py)
    serial = a.size < SERIAL_MAX_ITEMS
    with parallel_section():
        _kernel("copy_array", serial)(a, out, _pieces(a.size, serial) if not serial else 1)
    return out


def csr_tocoo(data, indices, indptr, shape, copy=False):
    """COO ``(data, (row, col), shape)`` of CSR storage: SciPy's ``tocoo``
    (``row`` of the indices' dtype; ``col`` and ``data`` are the arrays given
    unless ``copy``).

    Examples
    --------
    >>> import numpy as np
    >>> from spla._backends.cpu.convert import csr_tocoo
    >>> d, (r, c), s = csr_tocoo(np.array([1.0, 2.0]), np.array([1, 0]),
    ...                          np.array([0, 1, 1, 2]), (3, 2))
    >>> r, c
    (array([0, 2]), array([1, 0]))
    """
    data, indices, indptr, shape = check_compressed_any(data, indices, indptr, shape)
    rows = expand_rows(indptr, indices.size, indices.dtype)
    if copy:
        data, indices = parallel_copy(data), parallel_copy(indices)
    return data, (rows, indices), shape


def nonzero(data, indices, indptr, shape):
    """``(row, col)`` of the stored entries whose value is not zero, in stored
    order (SciPy's ``nonzero``: duplicates are not merged).

    Examples
    --------
    >>> import numpy as np
    >>> from spla._backends.cpu.convert import nonzero
    >>> nonzero(np.array([1.0, 0.0, 2.0]), np.array([1, 0, 1]), np.array([0, 2, 3]), (2, 2))
    (array([0, 1]), array([1, 1]))
    """
    data, indices, indptr, (m, n) = check_compressed_any(data, indices, indptr, shape)
    data = np.not_equal(data, 0) if data.dtype == np.float16 else data
    serial = _is_serial(m, indices.size)
    blocks = _blocks(indptr, serial)
    counts = np.zeros(blocks.size, dtype=np.int64)
    with parallel_section():
        _kernel("count_nonzero_in_blocks", serial)(indptr, data, blocks, counts)
    starts = np.cumsum(counts)
    total = int(starts[-1])
    rows = np.empty(total, dtype=indices.dtype)
    cols = np.empty(total, dtype=indices.dtype)
    with parallel_section():
        _kernel("nonzero_positions", serial)(indptr, indices, data, blocks, starts, rows, cols)
    return rows, cols


def _triangle(data, indices, indptr, shape, k, lower):
    data, indices, indptr, (m, n) = check_compressed_any(data, indices, indptr, shape)
    dtype = data.dtype
    data = as_copyable(data)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be an integer, got {k!r}")
    k = int(np.clip(int(k), -m - 1, n + 1))
    serial = _is_serial(m, indices.size)
    blocks = _blocks(indptr, serial)
    counts = np.zeros(m + 1, dtype=np.int64)
    with parallel_section():
        _kernel("count_triangle", serial)(indptr, indices, k, lower, blocks, counts)
    new_indptr = _scan(counts, serial)
    nnz = int(new_indptr[-1])
    new_indptr = new_indptr.astype(indptr.dtype)
    out_indices = np.empty(nnz, dtype=indices.dtype)
    out_data = np.empty(nnz, dtype=data.dtype)
    with parallel_section():
        _kernel("fill_triangle", serial)(indptr, indices, data, k, lower, blocks, new_indptr,
                                         out_indices, out_data)
    return out_data.view(dtype), out_indices, new_indptr, (m, n)


def tril(data, indices, indptr, shape, k=0):
    """CSR storage of the entries on or below the k-th diagonal (``j - i <= k``),
    in stored order, duplicates and explicit zeros kept (SciPy's ``tril``).

    Examples
    --------
    >>> import numpy as np
    >>> from spla._backends.cpu.convert import tril
    >>> d, j, p, s = tril(np.array([1.0, 2.0, 3.0]), np.array([0, 1, 1]),
    ...                   np.array([0, 2, 3]), (2, 2))
    >>> d, j, p
    (array([1., 3.]), array([0, 1]), array([0, 1, 2]))
    """
    return _triangle(data, indices, indptr, shape, k, True)


def triu(data, indices, indptr, shape, k=0):
    """CSR storage of the entries on or above the k-th diagonal (``j - i >= k``),
    in stored order, duplicates and explicit zeros kept (SciPy's ``triu``)."""
    return _triangle(data, indices, indptr, shape, k, False)
