"""Indexing reads of CSR storage: row gathers, column selections, point reads.

Every kernel reads CSR storage ``(indptr, indices, data)`` that may hold
duplicates and unsorted rows, and validates nothing: ``spla._indexing.keys``
resolved negative indices and checked every bound before a kernel runs.

Rows to read are given as ``(row_start, row_step, rows)``: output row ``i``
reads source row ``rows[i]`` when ``rows`` is not empty, else ``row_start + i *
row_step`` (a slice costs no index array). Outputs are built in two passes
(count, then fill) so that they are allocated once; ``out_indptr`` is the
prefix sum of the counts. Values are moved, never combined, so the fill
kernels take ``data`` viewed as unsigned integers of its width (complex128 for
16-byte values): one compilation per width serves every value dtype, float16
and bfloat16 included. Point reads return positions and match counts; the
caller gathers (and, for duplicates, sums) the values. Positions in the hot
loops are unsigned (``U``): with signed ones Numba tests every access for a
negative wraparound.

Each parallel kernel has a serial twin in ``SERIAL`` for inputs too small to
repay waking the threads.
"""

import numpy as np
from numba import njit, prange

from .twins import twin

U = np.uint64


@njit(cache=True, nogil=True, inline="always")
def _source_row(i, row_start, row_step, rows):
    if rows.size:
        return rows[i]
    return row_start + i * row_step


@njit(cache=True, nogil=True, inline="always")
def _out_row(t, only):
    """Output row number ``t`` of the rows to fill: all rows, or those in ``only``."""
    if only.size:
        return only[t]
    return t


@njit(cache=True, nogil=True, inline="always")
def _lower_bound(a, lo, hi, x):
    """First position in sorted ``a[lo:hi]`` whose value is not below ``x``."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if a[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


# ---------------------------------------------------------------------------
# whole rows
# ---------------------------------------------------------------------------


@njit(parallel=True, cache=True, nogil=True)
def copy_rows(indptr, indices, data, row_start, row_step, rows, out_indptr, blocks,
              out_indices, out_data):
    """Copy whole source rows into the output rows (``out_indptr`` already known).

    Only the starts of the source rows are read from ``indptr`` (the lengths come
    from ``out_indptr``): a caller may pass the starts of the rows it reads,
    gathered beforehand, as ``indptr`` with ``rows`` empty. ``blocks`` holds the
    boundaries of blocks of output rows of about equal work.
    """
    for b in prange(blocks.size - 1):
        for i in range(blocks[b], blocks[b + 1]):
            r = _source_row(i, row_start, row_step, rows)
            src = U(indptr[r])
            dst = U(out_indptr[i])
            n = U(out_indptr[i + 1]) - dst
            for k in range(n):
                out_indices[dst + k] = indices[src + k]
                out_data[dst + k] = data[src + k]


@njit(parallel=True, cache=True, nogil=True)
def copy_block(src, dst, n_pieces):
    """``dst[:] = src`` in ``n_pieces`` parallel pieces (the storage of a row slice)."""
    n = dst.size
    for p in prange(n_pieces):
        lo = n * p // n_pieces
        hi = n * (p + 1) // n_pieces
        for k in range(lo, hi):
            dst[k] = src[k]


# ---------------------------------------------------------------------------
# columns in a range (a slice with any step; one column is range(j, j + 1))
# ---------------------------------------------------------------------------


@njit(cache=True, nogil=True, inline="always")
def _range_pos(c, c_start, c_step, c_len):
    """Output column of source column ``c`` in range(c_start, ., c_step) of c_len, or -1."""
    if c_step == 1:
        d = c - c_start
        if d < 0 or d >= c_len:
            return -1
        return d
    if c_step > 0:
        d = c - c_start
        if d < 0:
            return -1
        q = d // c_step
        if q >= c_len or q * c_step != d:
            return -1
        return q
    d = c_start - c
    if d < 0:
        return -1
    q = d // (-c_step)
    if q >= c_len or q * (-c_step) != d:
        return -1
    return q


@njit(parallel=True, cache=True, nogil=True)
def count_column_range(indptr, indices, row_start, row_step, rows, n_rows, c_start, c_step,
                       c_len, sorted_rows, n_pieces, counts):
    """``counts[i + 1]`` = entries of output row ``i`` whose column lies in the range.

    With ``sorted_rows`` and a unit step, a binary search finds the range's first
    entry in each row (long rows cost their answer, not their length).
    """
    for p in prange(n_pieces):
        for i in range(n_rows * p // n_pieces, n_rows * (p + 1) // n_pieces):
            r = _source_row(i, row_start, row_step, rows)
            lo = indptr[r]
            hi = indptr[r + 1]
            cnt = 0
            if sorted_rows and c_step == 1:
                k = _lower_bound(indices, lo, hi, c_start)
                stop = c_start + c_len
                while k < hi and indices[k] < stop:
                    cnt += 1
                    k += 1
            else:
                for k in range(U(lo), U(hi)):
                    if _range_pos(indices[k], c_start, c_step, c_len) >= 0:
                        cnt += 1
            counts[i + 1] = cnt


@njit(parallel=True, cache=True, nogil=True)
def fill_column_range(indptr, indices, data, row_start, row_step, rows, c_start, c_step,
                      c_len, sorted_rows, out_indptr, only, blocks,
                      out_indices, out_data):
    """Fill the output rows counted by ``count_column_range`` (all, or those in
    ``only`` when few have entries; ``blocks`` splits them). A negative step reads
    each row backwards, so that sorted rows give sorted output."""
    for b in prange(blocks.size - 1):
        for t in range(blocks[b], blocks[b + 1]):
            i = _out_row(t, only)
            r = _source_row(i, row_start, row_step, rows)
            lo = indptr[r]
            hi = indptr[r + 1]
            dst = out_indptr[i]
            if sorted_rows and c_step == 1:
                k = _lower_bound(indices, lo, hi, c_start)
                stop = c_start + c_len
                while k < hi and indices[k] < stop:
                    out_indices[dst] = indices[k] - c_start
                    out_data[dst] = data[k]
                    dst += 1
                    k += 1
            elif c_step > 0:
                for k in range(U(lo), U(hi)):
                    q = _range_pos(indices[k], c_start, c_step, c_len)
                    if q >= 0:
                        out_indices[dst] = q
                        out_data[dst] = data[k]
                        dst += 1
            else:
                for k in range(hi - 1, lo - 1, -1):
                    q = _range_pos(indices[k], c_start, c_step, c_len)
                    if q >= 0:
                        out_indices[dst] = q
                        out_data[dst] = data[k]
                        dst += 1


# ---------------------------------------------------------------------------
# columns from an index array (repeats, any order)
# ---------------------------------------------------------------------------
#
# The requested columns are sorted once (``order``: positions in the request,
# stably sorted by column; ``sorted_cols = cols[order]``). A source entry of
# column c matches the request positions order[lo:hi], where [lo, hi) is the run
# of c in sorted_cols: read from ``col_ptr[c]:col_ptr[c + 1]`` when a column map
# is affordable (one shared array of n_cols + 1, never one per thread), else found
# by binary search in sorted_cols. With the map comes ``hits``, one byte a column:
# how often it is requested (saturating at 255). It screens the entries (only hits
# read the map) and, when no column is requested more than 254 times
# (``exact_hits``), it is the count itself: the count pass is a branch-free sum.


@njit(cache=True, nogil=True)
def column_map(cols, col_ptr, hits, order):
    """Build the column map of the request ``cols`` (a counting sort, O(n_cols + k)):
    ``col_ptr`` (zeros, n_cols + 1) the offsets, ``hits`` (n_cols bytes) the requests
    per column saturated at 255, ``order`` the request positions stably sorted by
    column. Returns the largest number of requests of one column."""
    n = hits.size
    for t in range(cols.size):
        col_ptr[cols[t] + 1] += 1
    most = 0
    for c in range(n):
        k = col_ptr[c + 1]
        if k > most:
            most = k
        hits[c] = min(k, 255)
        col_ptr[c + 1] += col_ptr[c]
    fill = col_ptr[:-1].copy()
    for t in range(cols.size):
        c = cols[t]
        order[fill[c]] = t
        fill[c] += 1
    return most


@njit(cache=True, nogil=True, inline="always")
def _run_of(c, use_map, hits, col_ptr, sorted_cols):
    if use_map:
        u = U(c)
        # hits (one byte a column) stays in cache; the map is read only on a hit
        if hits[u] == 0:
            return U(0), U(0)
        return U(col_ptr[u]), U(col_ptr[u + U(1)])
    lo = _lower_bound(sorted_cols, 0, sorted_cols.size, c)
    hi = lo
    while hi < sorted_cols.size and sorted_cols[hi] == c:
        hi += 1
    return U(lo), U(hi)


@njit(parallel=True, cache=True, nogil=True)
def count_column_gather(indptr, indices, row_start, row_step, rows, n_rows, use_map, hits,
                        exact_hits, col_ptr, sorted_cols, n_pieces, counts):
    """``counts[i + 1]`` = output entries of output row ``i`` (one per matching request)."""
    for p in prange(n_pieces):
        for i in range(n_rows * p // n_pieces, n_rows * (p + 1) // n_pieces):
            r = _source_row(i, row_start, row_step, rows)
            cnt = U(0)
            if use_map and exact_hits:
                for k in range(U(indptr[r]), U(indptr[r + 1])):
                    cnt += U(hits[U(indices[k])])
            else:
                for k in range(U(indptr[r]), U(indptr[r + 1])):
                    lo, hi = _run_of(indices[k], use_map, hits, col_ptr, sorted_cols)
                    cnt += hi - lo
            counts[i + 1] = cnt


@njit(parallel=True, cache=True, nogil=True)
def fill_column_gather(indptr, indices, data, row_start, row_step, rows, use_map, hits,
                       col_ptr, sorted_cols, order, out_indptr, only, blocks,
                       out_indices, out_data):
    """Fill the rows counted by ``count_column_gather``: entries in source order,
    each followed by its request positions in increasing order."""
    for b in prange(blocks.size - 1):
        for t in range(blocks[b], blocks[b + 1]):
            i = _out_row(t, only)
            r = _source_row(i, row_start, row_step, rows)
            dst = U(out_indptr[i])
            if dst == U(out_indptr[i + 1]):
                continue
            for k in range(U(indptr[r]), U(indptr[r + 1])):
                lo, hi = _run_of(indices[k], use_map, hits, col_ptr, sorted_cols)
                for q in range(lo, hi):
                    out_indices[dst] = order[q]
                    out_data[dst] = data[k]
                    dst += U(1)


# ---------------------------------------------------------------------------
# point reads
# ---------------------------------------------------------------------------


@njit(cache=True, nogil=True, inline="always")
def _find_in(indices, lo, hi, c, sorted_rows):
    if sorted_rows and hi - lo > 16:
        k = _lower_bound(indices, lo, hi, c)
        if k < hi and indices[k] == c:
            m = 1
            while k + m < hi and indices[k + m] == c:
                m += 1
            return k, m
        return -1, 0
    pos = -1
    m = 0
    for k in range(lo, hi):
        if indices[k] == c:
            if m == 0:
                pos = k
            m += 1
    return pos, m


@njit(cache=True, nogil=True)
def find_one(indptr, indices, r, c, sorted_rows):
    """``(position, matches)`` of column ``c`` in row ``r`` (position -1 when absent):
    a scan of short or unsorted rows, a binary search of long sorted ones."""
    return _find_in(indices, indptr[r], indptr[r + 1], c, sorted_rows)


@njit(parallel=True, cache=True, nogil=True)
def find_points(indices, starts, ends, cols, sorted_rows, n_pieces, out_pos, out_count):
    """``find_one`` for every pair (row t, ``cols[t]``), the rows given by their spans
    ``starts[t]:ends[t]`` (gathered beforehand: the searches of different points
    then overlap their cache misses instead of waiting on the row pointer first)."""
    n = cols.size
    for p in prange(n_pieces):
        for t in range(n * p // n_pieces, n * (p + 1) // n_pieces):
            pos, m = _find_in(indices, starts[t], ends[t], cols[t], sorted_rows)
            out_pos[t] = pos
            out_count[t] = m


# ---------------------------------------------------------------------------
# serial twins
# ---------------------------------------------------------------------------


def _serial_twin(dispatcher):
    name = dispatcher.py_func.__name__
    return twin(dispatcher, name + "_serial", dict(cache=True, nogil=True),
                doc=f"Serial version of ``{name}``.")


#: Serial twins by the name of the parallel kernel.
SERIAL = {f.py_func.__name__: _serial_twin(f) for f in (
    copy_rows, copy_block, count_column_range, fill_column_range, count_column_gather,
    fill_column_gather, find_points)}
