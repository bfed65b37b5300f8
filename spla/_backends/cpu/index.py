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

Indices must be in range: ``spla._indexing.keys`` checks them first. Two entries
take unchecked keys instead, for the short paths of the common key forms (one
kernel pass resolves negative indices and checks bounds on the way):

``("getitem_column", "csr", "cpu")(A, j)``
    ``A[:, j]`` (``0 <= j < n``) as a 1-D ``coo_array``, in one pass.
``("getitem_rows_unchecked", "csr", "cpu")(A, rows)``
    ``A[rows]`` for a 1-D ``intp`` array ``rows``, or None when one is out of range.
``("getitem_row_mask", "csr", "cpu")(A, mask)``
    ``A[mask]`` for a 1-D boolean ``mask`` of A's rows (its length checked by the
    caller), without making the rows an index array.
``("getitem_points_unchecked", "csr", "cpu")(A, rows, cols)``
    ``A[rows, cols]`` for two 1-D ``intp`` arrays of one length, or None when a
    point is out of range.
"""

import mmap

import numpy as np

from ..._dispatch import register
from ..._dtypes import index_dtype_for
from ..._kernels import index as K
from ..._kernels.partition import row_blocks
from ..._kernels.threads import parallel_section
from ..._indexing.views import row_view
from .memory import empty_output
from . import convert

_EMPTY_ROWS = np.empty(0, dtype=np.intp)
_UINT = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}
#: A column map (one shared array of n_cols + 2 offsets, O(n_cols) to build) is
#: used when n_cols is at most this many times the entries read; beyond, a hash
#: table of the request (no workspace proportional to n_cols). Measured (2 cores,
#: n_cols = 2e6, 200k columns requested): the map wins from about n_cols / 4
#: entries read on, the filtered hash below.
_MAP_FACTOR = 4
_NO_TABLE = np.full(1, -1, dtype=np.int32)
#: Requests of at least this many columns through the hash table are first
#: filtered by a bit set of the columns stored in the rows read (``mark_columns``)
#: when the bit set (n_cols / 8 bytes) costs at most ``_BITS_FACTOR`` bytes per
#: entry read and column requested: the table of a large request outgrows the
#: caches, while the columns that can match are often a small part of it.
_FILTER_MIN = 8192
_BITS_FACTOR = 4
_NO_BITS = np.zeros(0, dtype=np.uint8)
#: Requests of at most this many columns through the hash table, unfiltered, are
#: screened by a hashed filter of ``_HASHED_FILTER_BITS`` bits per column (1 in 32
#: other columns passes it; 32 KB at most, an L1 cache). ``A[np.ix_(r, c)]``, 2,000
#: rows and columns of n = 2,000,000 (10 entries a row), one thread: 0.67 -> 0.22 ms.
_HASHED_FILTER_MAX_KEYS = 8192
_HASHED_FILTER_BITS = 32
#: Serial column gathers of arrays this narrow run in one call (their column map is
#: cheap to build).
_SMALL_COLS = 1 << 16
_IDX_LIKE = {np.dtype(np.int32): np.empty(0, np.int32), np.dtype(np.int64): np.empty(0, np.int64)}
_NO_HITS = np.zeros(1, dtype=np.uint8)


def _is_serial(n_rows, nnz):
    return convert._is_serial(n_rows, nnz)


def _kernel(name, serial):
    return K.SERIAL[name] if serial else getattr(K, name)


#: A row read from an index array weighs this many entries in the choice between a
#: serial and a parallel kernel: each is a wait on memory (a cache miss or more).
_RANDOM_ROW = 8
#: Items (rows, points) per parallel piece of the count and point kernels.
PIECE_ITEMS = 4096
#: Point reads below this many points run serially.
POINTS_SERIAL = 4096


def _pieces(n, serial):
    return 1 if serial else int(max(2 * convert._threads(), min(256, n // PIECE_ITEMS)))


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
    """Prefix sum of ``counts`` (``counts[0] == 0``) in the index dtype ``idx`` (int64
    counts in place when ``idx`` is None)."""
    np.cumsum(counts, out=counts)
    return counts if idx is None else counts.astype(idx, copy=False)


def _output(size, dtype):
    """A fresh output array whose pages a parallel fill will write (see ``memory``)."""
    return empty_output(size, dtype)


def _counts(n_rows):
    """The counts of a count pass (``counts[i + 1]`` for output row ``i``; the pass
    writes every one)."""
    counts = _output(n_rows + 1, np.int64)
    counts[0] = 0
    return counts


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
    serial = _is_serial(n_rows * (_RANDOM_ROW if row_arr.size else 1),
                        indices.size * max(1, n_rows) // max(1, m))
    if type(cols) is range:
        counts = _counts(n_rows)
        c_start, c_step, c_len = cols.start, cols.step, len(cols)
        sorted_rows = _known_sorted(A)
        with parallel_section():
            _kernel("count_column_range", serial)(
                indptr, indices, row_start, row_step, row_arr, n_rows, c_start, c_step, c_len,
                sorted_rows, _pieces(n_rows, serial), counts)
        out_indptr = _indptr_of(counts, None)
        nnz = int(out_indptr[-1])
        idx = _out_index_dtype(indices, n_out_cols, nnz)
        out_indptr = out_indptr.astype(idx, copy=False)
        out_indices = _output(nnz, idx)
        out_data = _output(nnz, data.dtype)
        if nnz:
            with parallel_section():
                _kernel("fill_column_range", serial)(
                    indptr, indices, _raw(data), row_start, row_step, row_arr, c_start, c_step,
                    c_len, sorted_rows, out_indptr, *_fill_plan(out_indptr, nnz, serial),
                    out_indices, _raw(out_data))
        return _finish(A, out_data, out_indices, out_indptr, (n_rows, n_out_cols), canonical)
    # an index array: the request grouped once (a column map, or a hash table)
    cols = np.asarray(cols, dtype=np.intp)
    if serial and n <= _SMALL_COLS:  # one call does it all
        idx = _out_index_dtype(indices, max(n_out_cols, m), indices.size * max(1, cols.size))
        out_indptr, out_indices, out_data, increasing = K.select_columns_small(
            indptr, indices, _raw(data), row_start, row_step, row_arr, n_rows, cols, n,
            _IDX_LIKE[idx])
        return _finish(A, out_data.view(data.dtype), out_indices, out_indptr,
                       (n_rows, n_out_cols), canonical and increasing)
    # pieces of output rows of about equal entries, and the entries each reads (the
    # bound of its hit positions; the column map, O(n) to build, must pay for itself)
    if row_arr.size:
        ends = np.cumsum(indptr[row_arr + 1] - indptr[row_arr])
    elif n_rows and row_step == 1:
        ends = indptr[row_start + 1:row_start + n_rows + 1] - indptr[row_start]
    else:
        ends = np.cumsum(np.diff(indptr)[row_start::row_step][:n_rows]) if n_rows else \
            np.zeros(0, dtype=np.int64)
    visited = int(ends[-1]) if n_rows else 0
    if serial:
        pieces = 1
        piece_rows = np.array([0, n_rows], dtype=np.intp)
        pos_ptr = np.array([0, visited], dtype=np.int64)
    else:
        pieces = 4 * convert._threads()
        piece_rows = np.searchsorted(ends, (np.arange(pieces + 1) * visited) // pieces, "right")
        piece_rows[0], piece_rows[-1] = 0, n_rows
        pos_ptr = np.zeros(pieces + 1, dtype=np.int64)
        if n_rows:
            last = ends[np.maximum(piece_rows[1:] - 1, 0)]
            pos_ptr[1:] = np.where(piece_rows[1:] > 0, last, 0)
    use_map = n <= _MAP_FACTOR * visited + 4096
    hashed = False
    slot_dtype = np.int32 if cols.size < 2**31 - 1 else np.int64
    order = np.empty(cols.size, dtype=np.intp)
    if use_map:
        col_ptr = np.zeros(n + 2, dtype=slot_dtype)
        hits = np.empty(n, dtype=np.uint8)
        exact_hits = K.column_map(cols, col_ptr, hits, order) < 255
        table = _NO_TABLE
    else:
        keys = cols.size
        bits = wanted = _NO_BITS
        if cols.size >= _FILTER_MIN and n // 8 <= _BITS_FACTOR * (visited + cols.size):
            # a large request: only the requests of columns stored in the rows read
            # enter the table, which then stays in cache
            bits = np.zeros((n + 7) // 8, dtype=np.uint8)
            K.mark_columns(indptr, indices, row_start, row_step, row_arr, n_rows, bits)
            keys = K.count_marked(cols, bits)
            wanted = np.zeros_like(bits)
        table = np.full(max(16, 1 << (2 * max(keys, 1) - 1).bit_length()), -1,
                        dtype=np.int32 if n < 2**31 - 1 else np.int64)
        col_ptr = np.zeros(table.size + 2, dtype=slot_dtype)
        K.column_hash(cols, bits, wanted, table, col_ptr, order)
        hits = wanted if wanted.size > 1 else _NO_HITS
        if hits.size == 1 and cols.size <= _HASHED_FILTER_MAX_KEYS:
            # a small request: its hashed filter screens the entries (see
            # find_column_hits), _HASHED_FILTER_BITS bits per requested column
            nbits = 1 << max(6, (_HASHED_FILTER_BITS * cols.size - 1).bit_length())
            hits = np.zeros(nbits // 8, dtype=np.uint8)
            K.mark_filter(cols, hits)
            hashed = True
        exact_hits = False
    increasing = cols.size < 2 or bool(np.all(cols[1:] >= cols[:-1]))
    counts = _counts(n_rows)
    pos = _lazy_empty(visited, np.int32 if indices.size < 2**31 else np.int64)
    n_pos = np.zeros(pieces, dtype=np.int64)
    with parallel_section():
        _kernel("find_column_hits", serial)(
            indptr, indices, row_start, row_step, row_arr, piece_rows, use_map, hits,
            exact_hits, hashed, col_ptr, table, pos_ptr, counts, pos, n_pos)
    out_indptr = _indptr_of(counts, None)
    nnz = int(out_indptr[-1])
    idx = _out_index_dtype(indices, n_out_cols, nnz)
    out_indptr = out_indptr.astype(idx, copy=False)
    out_indices = _output(nnz, idx)
    out_data = _output(nnz, data.dtype)
    if nnz:
        with parallel_section():
            _kernel("expand_column_hits", serial)(
                indices, _raw(data), pos, pos_ptr, n_pos, piece_rows, out_indptr, use_map,
                hits, col_ptr, table, order, out_indices, _raw(out_data))
    return _finish(A, out_data, out_indices, out_indptr, (n_rows, n_out_cols),
                   canonical and increasing)


def _lazy_empty(size, dtype):
    """An uninitialised array whose pages are mapped only where it is written (an
    anonymous mapping, without NumPy's huge-page advice): for buffers sized by a
    bound that is mostly not reached."""
    dtype = np.dtype(dtype)
    nbytes = int(size) * dtype.itemsize
    if nbytes < (1 << 20):
        return np.empty(size, dtype=dtype)
    return np.frombuffer(mmap.mmap(-1, nbytes), dtype=dtype)


def _whole_rows(A, rows, row_start, row_step, row_arr, n_rows, canonical):
    if type(rows) is range and row_step == 1:
        # a contiguous block of storage: the arrays' row view, copied (SciPy's slices
        # are copies; spla.dask uses the view itself)
        return _copy_view(row_view(A, row_start, row_start + n_rows), A, canonical)
    if row_arr.size == 0 and n_rows:
        row_arr = np.arange(row_start, row_start + n_rows * row_step, row_step, dtype=np.intp)
    out = gather_rows(A, row_arr, canonical)
    if out is None:
        raise IndexError("index out of range")  # the key normaliser checked them
    return out


def _balanced_blocks(work, pieces):
    """Bounds of blocks of consecutive pieces of about equal work, four blocks per
    thread: ``work`` is the running work (entries + rows) before each of the
    ``pieces`` pieces and after the last (``pieces + 1`` values from 0)."""
    n_blocks = 4 * convert._threads()
    blocks = np.searchsorted(work, (np.arange(n_blocks + 1) * work[-1]) // n_blocks)
    blocks[0], blocks[-1] = 0, pieces
    return np.unique(blocks)


@register("getitem_rows_unchecked", "csr", "cpu")
def gather_rows(A, rows, canonical=None):
    """Rows ``rows`` of CSR ``A`` (a 1-D ``intp`` array, any order, repeats; negative
    rows count from the end) as a CSR array, or None when a row falls outside ``A``
    (the caller raises SciPy's error). Two passes, both parallel when large: the
    spans of the rows, gathered first (the copies of different rows then overlap
    their cache misses instead of waiting on the row pointer), with the entries of
    each piece of rows; then the copy, which writes the output row pointer as it
    goes (no prefix sum over the rows, no conversion of it, on one thread)."""
    n = A.shape[1]
    indptr, indices, data = A.indptr, A.indices, A.data
    if canonical is None:
        canonical = bool(A._derived.get("canonical"))
    n_rows = rows.size
    starts = _output(n_rows, indptr.dtype)
    lens = _output(n_rows, indptr.dtype)
    serial = _is_serial(n_rows * _RANDOM_ROW, 0)
    if _is_serial(n_rows * _RANDOM_ROW, indices.size * n_rows // max(1, A.shape[0])):
        pieces = 1  # rows of about the average length: the copy runs serially too
    else:  # pieces of rows even when the count runs serially: the copy may not
        pieces = int(max(4 * convert._threads(), min(256, n_rows // PIECE_ITEMS)))
    piece_nnz = np.empty(pieces, dtype=np.int64)
    bad = np.empty(pieces, dtype=np.int64)
    with parallel_section():
        _kernel("row_spans", serial)(indptr, rows, pieces, starts, lens, piece_nnz, bad)
    if bad.any():
        return None
    nnz_before = np.empty(pieces + 1, dtype=np.int64)
    nnz_before[0] = 0
    np.cumsum(piece_nnz, out=nnz_before[1:])
    nnz = int(nnz_before[-1])
    idx = _out_index_dtype(indices, n, nnz)
    out_indptr = _output(n_rows + 1, idx)
    out_indptr[0] = 0
    out_indices = _output(nnz, idx)
    out_data = _output(nnz, data.dtype)
    serial = _is_serial(n_rows * _RANDOM_ROW, nnz)
    if pieces == 1:
        block_rows, block_nnz = np.array([0, n_rows], dtype=np.int64), nnz_before
    else:
        bounds = (np.arange(pieces + 1, dtype=np.int64) * n_rows) // pieces
        if serial:
            blocks = np.array([0, pieces], dtype=np.int64)
        else:
            blocks = _balanced_blocks(nnz_before + bounds, pieces)
        block_rows, block_nnz = bounds[blocks], nnz_before[blocks]
    with parallel_section():
        _kernel("copy_spans", serial)(starts, lens, indices, _raw(data), block_rows, block_nnz,
                                      out_indptr, out_indices, _raw(out_data))
    return _finish(A, out_data, out_indices, out_indptr, (n_rows, n), canonical)


#: Mask entries per piece of the first pass of a row mask (at most ``MASK_PIECES``).
MASK_PIECE_ITEMS = 16384
MASK_PIECES = 256


@register("getitem_row_mask", "csr", "cpu")
def gather_mask_rows(A, mask):
    """``A[mask]`` for CSR ``A`` and a 1-D boolean ``mask`` of A's rows (the caller
    checks its length), as a CSR array: two passes over the mask, the first
    counting the rows and entries of each piece, the second copying them, both
    parallel when large; the selected rows never become an index array."""
    m, n = A.shape
    indptr, indices, data = A.indptr, A.indices, A.data
    mask = np.ascontiguousarray(mask)
    serial = _is_serial(m // 4, 0)
    pieces = 1 if serial else int(max(4 * convert._threads(),
                                      min(MASK_PIECES, m // MASK_PIECE_ITEMS)))
    bounds = (np.arange(pieces + 1, dtype=np.int64) * m) // pieces
    piece_rows = np.empty(pieces, dtype=np.int64)
    piece_nnz = np.empty(pieces, dtype=np.int64)
    with parallel_section():
        _kernel("mask_counts", serial)(indptr, mask, bounds, piece_rows, piece_nnz)
    rows_before = np.zeros(pieces + 1, dtype=np.int64)
    np.cumsum(piece_rows, out=rows_before[1:])
    nnz_before = np.zeros(pieces + 1, dtype=np.int64)
    np.cumsum(piece_nnz, out=nnz_before[1:])
    n_rows, nnz = int(rows_before[-1]), int(nnz_before[-1])
    idx = _out_index_dtype(indices, n, nnz)
    out_indptr = _output(n_rows + 1, idx)
    out_indptr[0] = 0
    out_indices = _output(nnz, idx)
    out_data = _output(nnz, data.dtype)
    if n_rows:
        serial = _is_serial(n_rows, nnz)
        if serial or pieces == 1:
            blocks = np.array([0, pieces], dtype=np.int64)
        else:
            blocks = _balanced_blocks(nnz_before + rows_before, pieces)
        with parallel_section():
            _kernel("mask_fill", serial)(indptr, indices, _raw(data), mask, bounds, blocks,
                                         rows_before, nnz_before, out_indptr, out_indices,
                                         _raw(out_data))
    return _finish(A, out_data, out_indices, out_indptr, (n_rows, n),
                   bool(A._derived.get("canonical")))


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


@register("getitem_column", "csr", "cpu")
def column(A, j):
    """``A[:, j]`` of CSR ``A`` (``0 <= j < n``) as SciPy's 1-D ``coo_array``, in one
    pass over the storage (``column_entries``) and no per-row work beyond reading
    the row pointer."""
    from ..._formats.coo import coo_array

    m = A.shape[0]
    indptr, indices, data = A.indptr, A.indices, A.data
    nnz = int(indptr[m])
    serial = _is_serial(m, nnz)
    if serial:
        piece_rows = np.array([0, m], dtype=np.intp)
        pos_ptr = np.array([0, nnz], dtype=np.int64)
    else:
        pieces = 4 * convert._threads()
        piece_rows = np.searchsorted(indptr, (np.arange(pieces + 1) * nnz) // pieces)
        piece_rows[0], piece_rows[-1] = 0, m
        pos_ptr = indptr[piece_rows].astype(np.int64)
    n_found = np.zeros(piece_rows.size - 1, dtype=np.int64)
    coord = indices.dtype if index_dtype_for(m) == np.int32 else np.dtype(np.int64)
    out_rows = _lazy_empty(nnz, coord)
    out_pos = _lazy_empty(nnz, np.int32 if nnz < 2**31 else np.int64)
    with parallel_section():
        _kernel("column_entries", serial)(indptr, indices, j, _known_sorted(A), piece_rows,
                                          pos_ptr, out_rows, out_pos, n_found)
    if serial:
        k = int(n_found[0])
        rows, pos = out_rows[:k].copy(), out_pos[:k]
    else:
        spans = [slice(int(a), int(a) + int(b)) for a, b in zip(pos_ptr[:-1], n_found)]
        rows = np.concatenate([out_rows[s] for s in spans])
        pos = np.concatenate([out_pos[s] for s in spans])
    return coo_array._from_parts(data.take(pos), (rows,), (m,),
                                 bool(A._derived.get("canonical")))


@register("getitem_points", "csr", "cpu")
def points(A, rows, cols):
    out = gather_points(A, rows, cols)
    if out is None:
        raise IndexError("index out of range")  # the key normaliser checked them
    return out


@register("getitem_points_unchecked", "csr", "cpu")
def gather_points(A, rows, cols):
    """``A[rows[t], cols[t]]`` (CSR ``A``; 1-D ``intp`` arrays of one length, negative
    ones counting from the end) as a dense array of ``A.dtype``, or None when a
    point falls outside the array (the caller raises SciPy's error)."""
    indptr, indices, data = A.indptr, A.indices, A.data
    n = rows.size
    out = np.empty(n, dtype=data.dtype)
    serial = n < POINTS_SERIAL or _is_serial(n, 0)
    pieces = _pieces(n, serial)
    flags = np.zeros(2 * pieces, dtype=np.int64)
    sorted_rows = _known_sorted(A)
    m, n_cols = A.shape
    with parallel_section():
        _kernel("gather_points", serial)(indptr, indices, _raw(data), rows, cols, m, n_cols,
                                         sorted_rows, pieces, _raw(out), flags)
    if flags[1::2].any():
        return None
    if flags[::2].any():  # columns stored more than once: summed as SciPy sums them
        rows = np.where(rows < 0, rows + m, rows)
        cols = np.where(cols < 0, cols + n_cols, cols)
        pos = np.empty(n, dtype=np.int64)
        count = np.empty(n, dtype=np.int64)
        with parallel_section():
            _kernel("find_points", serial)(indices, indptr[rows], indptr[rows + 1], cols,
                                           sorted_rows, pieces, pos, count)
        for t in np.flatnonzero(count > 1):
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
