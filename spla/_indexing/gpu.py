"""Indexing reads and writes of CSR storage written over an array module ``xp`` (NumPy or CuPy).

The GPU backend (``spla_cuda.index``) registers the writes (``write_entries``,
``zero_entries``, ``row_order``) with ``xp = cupy``; its reads run kernels of their
own (``spla_cuda/kernels/index.cu``) and use ``select`` here only for column keys
too few for a dense column map of a very wide array. The read functions stay the
array-module reference of those kernels' results: they use only what NumPy and
CuPy share (``cumsum``, ``searchsorted``, ``argsort``, gathers), so the CPU test
suite checks them with ``xp = numpy`` on machines without a GPU. Keys arrive
normalised and checked by ``spla._indexing.keys`` on the host.

Every selection is two passes over arrays: the counts of the output rows, then
one gather of the output entries (each output position finds its source by a
binary search of the counts' running sums), so the output is allocated once.
"""

import numpy as np


def _index_array(sel, xp):
    """A ``range`` or a 1-D host index array as an int64 array on ``xp``'s device."""
    if type(sel) is range:
        return xp.arange(sel.start, sel.stop, sel.step, dtype=np.int64)
    return xp.asarray(np.asarray(sel, dtype=np.int64))


def _is_all(sel, n):
    return type(sel) is range and sel.step == 1 and sel.start == 0 and len(sel) == n


def expand(counts, xp):
    """For ``total = counts.sum()`` output positions: the segment each lies in and
    its offset inside it (segment ``s`` owns ``counts[s]`` consecutive positions).

    Examples
    --------
    >>> import numpy as np
    >>> from spla._indexing.gpu import expand
    >>> seg, off, total = expand(np.array([2, 0, 3]), np)
    >>> seg.tolist(), off.tolist(), total
    ([0, 0, 2, 2, 2], [0, 1, 0, 1, 2], 5)
    """
    counts = counts.astype(np.int64, copy=False)
    if counts.size == 0:
        empty = xp.zeros(0, dtype=np.int64)
        return empty, empty, 0
    ends = xp.cumsum(counts)
    total = int(ends[-1])
    k = xp.arange(total, dtype=np.int64)
    seg = xp.searchsorted(ends, k, side="right")
    return seg, k - (ends - counts)[seg], total


def _with_zero(x, xp):
    return xp.concatenate([xp.zeros(1, dtype=np.int64), x.astype(np.int64, copy=False)])


def select_rows(indptr, indices, data, rows, xp):
    """CSR storage ``(indptr, indices, data)`` of the rows ``rows`` (int64, any
    order, repeats allowed), entries in their stored order."""
    lo = indptr[rows].astype(np.int64)
    counts = indptr[rows + 1].astype(np.int64) - lo
    seg, off, _ = expand(counts, xp)
    src = lo[seg] + off
    return _with_zero(xp.cumsum(counts), xp), indices[src], data[src]


def slice_rows(indptr, indices, data, start, stop, xp):
    """CSR storage of the rows ``start:stop`` (``start < stop``): slices of the arrays,
    copied, and one read of the two bounds from the device (no per-row work)."""
    bounds = indptr[[start, stop]]
    lo, hi = (int(v) for v in (xp.asnumpy(bounds) if hasattr(xp, "asnumpy") else bounds))
    return indptr[start:stop + 1] - indptr[start], indices[lo:hi].copy(), data[lo:hi].copy()


def row_slice(indptr, indices, data, start, stop, n, xp):
    """CSR storage ``(indptr, indices, data)`` of the rows ``start:stop`` (step 1, in
    range; ``stop <= start``: no rows) of storage with ``n`` columns, as new arrays
    (SciPy copies a row slice; the result shares no memory with the source).

    No per-row work: the output row pointer is ``indptr[start:stop + 1] -
    indptr[start]`` (one elementwise operation), the entries one contiguous copy of
    each array, and the host reads only ``indptr[start]`` and ``indptr[stop]`` (one
    2-element read). The index dtype is the row kernels' rule (``spla_cuda.index``):
    int32 when both index arrays are int32 and the result fits, else int64.

    Examples
    --------
    >>> import numpy as np
    >>> from spla._indexing.gpu import row_slice
    >>> indptr, indices = np.array([0, 2, 3, 5], np.int32), np.array([0, 2, 1, 0, 3], np.int32)
    >>> p, i, d = row_slice(indptr, indices, np.arange(5.0), 1, 3, 4, np)
    >>> p.tolist(), i.tolist(), d.tolist(), p.dtype.name
    ([0, 1, 3], [1, 0, 3], [2.0, 3.0, 4.0], 'int32')
    """
    rows = max(stop - start, 0)
    # int32 storage holds fewer than 2**31 entries, so the result's always fit
    small = (indptr.dtype == np.int32 and indices.dtype == np.int32
             and n <= np.iinfo(np.int32).max)
    idx = np.dtype(np.int32) if small else np.dtype(np.int64)
    if not rows:
        return xp.zeros(1, dtype=idx), indices[:0].astype(idx), data[:0].copy()
    # the shift is queued on the device before the host waits for the bounds
    out_indptr = (indptr[start:stop + 1] - indptr[start:start + 1]).astype(idx, copy=False)
    ends = indptr[start:stop + 1:rows]  # indptr[start], indptr[stop]
    lo, hi = (int(v) for v in (xp.asnumpy(ends) if hasattr(xp, "asnumpy") else ends))
    return out_indptr, indices[lo:hi].astype(idx), data[lo:hi].copy()


def select_columns(indptr, indices, data, cols, xp):
    """CSR storage of the columns ``cols`` (int64, any order, repeats allowed) of
    every row: each stored entry appears once for every position of its column
    in ``cols``, with that position as its new column."""
    order = xp.argsort(cols)
    wanted = cols[order]
    c = indices.astype(np.int64)
    lo = xp.searchsorted(wanted, c, side="left")
    counts = xp.searchsorted(wanted, c, side="right") - lo
    seg, off, _ = expand(counts, xp)
    new_indices = order[lo[seg] + off]
    new_indptr = _with_zero(xp.cumsum(counts), xp)[indptr.astype(np.int64)]
    return new_indptr, new_indices, data[seg]


def select(A, rows, cols, xp):
    """``(data, indices, indptr, shape)`` of rows ``rows`` and columns ``cols`` of the
    CSR array ``A``; each a ``range`` or a 1-D array of in-range indices."""
    m, n = A.shape
    indptr, indices, data = A.indptr, A.indices, A.data
    all_rows, all_cols = _is_all(rows, m), _is_all(cols, n)
    if all_rows:
        indptr, indices, data = indptr.copy(), indices.copy(), data.copy()
    elif type(rows) is range and rows.step == 1 and len(rows):
        indptr, indices, data = slice_rows(indptr, indices, data, rows.start, rows.stop, xp)
    else:
        indptr, indices, data = select_rows(indptr, indices, data, _index_array(rows, xp), xp)
    if not all_cols:
        indptr, indices, data = select_columns(indptr, indices, data,
                                               _index_array(cols, xp), xp)
    shape = (len(rows), len(cols))
    nnz = int(data.size)
    idx = np.int32 if max(shape + (nnz,)) <= np.iinfo(np.int32).max else np.int64
    canonical = True if (all_cols and A._derived.get("canonical")) else None
    return data, indices.astype(idx, copy=False), indptr.astype(idx, copy=False), shape, \
        canonical


def points(A, rows, cols, xp):
    """The values ``A[rows[t], cols[t]]`` (1-D in-range index arrays of one length)
    as a dense array of ``A.dtype`` on ``xp``'s device, duplicates summed."""
    B = A._deduped()  # one value per stored position
    m, n = B.shape
    rows = xp.asarray(np.asarray(rows, dtype=np.int64))
    cols = xp.asarray(np.asarray(cols, dtype=np.int64))
    out = xp.zeros(rows.size, dtype=B.dtype)
    if B.nnz == 0 or rows.size == 0:
        return out
    entry_rows = xp.searchsorted(B.indptr, xp.arange(B.nnz, dtype=B.indptr.dtype),
                                 side="right") - 1
    keys = entry_rows.astype(np.int64) * n + B.indices.astype(np.int64)  # sorted
    wanted = rows * n + cols
    pos = xp.minimum(xp.searchsorted(keys, wanted), keys.size - 1)
    hit = keys[pos] == wanted
    out[hit] = B.data[pos[hit]]
    return out


def scalar(A, i, j, xp):
    """``A[i, j]`` (in range) as a 0-d array of ``A.dtype`` on ``xp``'s device
    (duplicates summed; reading the two row bounds is the one device sync)."""
    lo, hi = (int(v) for v in xp.asnumpy(A.indptr[i:i + 2])) if hasattr(xp, "asnumpy") \
        else (int(v) for v in A.indptr[i:i + 2])
    values = A.data[lo:hi][A.indices[lo:hi] == j]
    if A.dtype == np.bool_:
        return xp.asarray(values.any())
    return xp.asarray(values.sum(dtype=A.dtype))


# -- writes ---------------------------------------------------------------------------


def _entry_keys(indptr, indices, n, xp):
    nnz = indices.size
    rows = xp.searchsorted(indptr, xp.arange(nnz, dtype=indptr.dtype), side="right") - 1
    return rows.astype(np.int64) * n + indices.astype(np.int64)


def _hits(entry_keys, target_keys, xp):
    """Which stored entries sit at one of the (sorted, unique) target positions, and
    the position of each among the targets."""
    if target_keys.size == 0 or entry_keys.size == 0:
        return xp.zeros(entry_keys.size, dtype=bool), xp.zeros(entry_keys.size, np.int64)
    pos = xp.minimum(xp.searchsorted(target_keys, entry_keys), target_keys.size - 1)
    return target_keys[pos] == entry_keys, pos


def row_order(indptr, indices, xp):
    """``(sorted_rows, canonical)`` of CSR storage: every row's indices sorted, and
    sorted without repeats."""
    if indices.size < 2:
        return True, True
    rows = xp.searchsorted(indptr, xp.arange(indices.size, dtype=indptr.dtype),
                           side="right") - 1
    same = rows[1:] == rows[:-1]
    step = indices[1:].astype(np.int64) - indices[:-1].astype(np.int64)
    return not bool((same & (step < 0)).any()), not bool((same & (step <= 0)).any())


def stored_positions(indptr, indices, rows, cols, xp):
    """The storage position of each host target ``(rows[t], cols[t])`` (int64, in
    range) when every target is stored exactly once, else None. The work is the
    targets' rows, not the whole storage: each target's row is expanded (``expand``)
    and its column compared, so a few writes into a large array stay cheap.

    Examples
    --------
    >>> import numpy as np
    >>> from spla._indexing.gpu import stored_positions
    >>> indptr, indices = np.array([0, 2, 3]), np.array([0, 2, 1])
    >>> stored_positions(indptr, indices, np.array([0, 1]), np.array([2, 1]), np).tolist()
    [1, 2]
    >>> stored_positions(indptr, indices, np.array([1]), np.array([0]), np) is None
    True
    """
    r = xp.asarray(rows)
    lo = indptr[r].astype(np.int64)
    seg, off, total = expand(indptr[r + 1].astype(np.int64) - lo, xp)
    if total == 0:
        return None
    cand = lo[seg] + off
    match = indices[cand].astype(np.int64) == xp.asarray(cols)[seg]
    found = cand[match]
    if int(found.size) != rows.size:  # a target absent, or stored twice
        return None
    if rows.size > 1 and not bool((seg[match][1:] != seg[match][:-1]).all()):
        return None
    return found


def write_entries(data, indices, indptr, shape, rows, cols, values, xp, writable=False):
    """CSR storage after writing ``values`` (host, of ``data``'s dtype) at the host
    targets ``(rows, cols)`` (int64, in range; the last write to an entry wins).

    When every target is stored once (``stored_positions``), the values are
    scattered into the storage (in place when ``writable``, else into a copy):
    ``(data, indices, indptr, "values")``. Otherwise absent targets are inserted
    (zeros too, as on the CPU) and a stored target is replaced, its duplicates
    included (so its value is the written one, as after SciPy's summing of
    duplicates): one merge of the kept entries and the targets, sorted by
    position, returning ``(data, indices, indptr, "inserted")``, rows sorted.
    """
    from .assign import _dedupe_last

    m, n = shape
    if rows.size == 0:
        return data, indices, indptr, "values"
    r, c, v = _dedupe_last(np.asarray(rows, np.int64), np.asarray(cols, np.int64),
                           np.asarray(values, dtype=data.dtype), n)
    pos = stored_positions(indptr, indices, r, c, xp)
    if pos is not None:
        out = data if writable else data.copy()
        out[pos] = xp.asarray(v)
        return out, indices, indptr, "values"
    target_keys = xp.asarray(r * n + c)
    entry_keys = _entry_keys(indptr, indices, n, xp)
    hit, _ = _hits(entry_keys, target_keys, xp)
    keep = ~hit
    keys = xp.concatenate([entry_keys[keep], target_keys])
    vals = xp.concatenate([data[keep], xp.asarray(v)])
    order = xp.argsort(keys)
    keys, vals = keys[order], vals[order]
    new_rows = keys // n
    nnz = int(keys.size)
    idx = indices.dtype
    if max(m, n, nnz) > np.iinfo(idx).max:
        idx = np.dtype(np.int64)
    new_indptr = xp.searchsorted(new_rows, xp.arange(m + 1, dtype=np.int64)).astype(idx)
    return vals, (keys % n).astype(idx), new_indptr, "inserted"


def zero_entries(data, indices, indptr, shape, rows, cols, xp):
    """CSR storage with the stored entries among the host targets set to zero
    (nothing inserted): ``(data, indices, indptr, "values")``, ``data`` a new array."""
    m, n = shape
    if rows.size == 0 or indices.size == 0:
        return data, indices, indptr, "values"
    target_keys = xp.asarray(np.unique(np.asarray(rows, np.int64) * n
                                       + np.asarray(cols, np.int64)))
    hit, _ = _hits(_entry_keys(indptr, indices, n, xp), target_keys, xp)
    data = data.copy()
    data[hit] = 0
    return data, indices, indptr, "values"
