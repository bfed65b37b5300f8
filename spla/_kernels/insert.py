"""Numba kernels that write a batch of (row, column, value) entries into CSR storage.

A write of ``k`` entries into an ``m``-row CSR matrix runs in at most four
passes, each over raw arrays:

1. ``find_offsets``: the position of every target in the storage (a binary
   search in a row whose columns are sorted, a scan otherwise); ``-1`` when the
   entry is not stored, ``-2`` when the row stores that column more than once
   (the caller then sums duplicates first, as SciPy does).
2. When every target exists, ``scatter_values`` writes the values in batch
   order (the last write to an entry wins) and nothing is reallocated.
3. Otherwise the missing entries are grouped by row with a stable counting
   sort (``group_by_row``), sorted by column within each row with the last write
   of each entry kept (``sort_dedupe_rows``), and counted per row.
4. ``insert_rows`` builds the new storage in one pass over blocks of rows:
   a row without new entries is copied, a row with new entries is merged with
   them in sorted position (storage with sorted rows) or gets them appended at
   its end (storage with unsorted rows, which is where SciPy puts them).

Nothing here validates its input: the callers checked that every row and
column index is in range and that the arrays have matching lengths.
"""

import numpy as np
from numba import njit, prange

from .twins import twin

#: Rows this long or shorter are sorted by insertion (stable) in ``sort_dedupe_rows``.
_INSERTION_MAX = 32


@njit(cache=True, nogil=True)
def _find(indptr, indices, i, j, sorted_rows):
    """Position of column ``j`` in row ``i``: -1 when absent, -2 when stored twice."""
    lo = np.int64(indptr[i])
    hi = np.int64(indptr[i + 1])
    if sorted_rows:
        a = lo
        b = hi
        while a < b:
            mid = (a + b) >> 1
            if indices[mid] < j:
                a = mid + 1
            else:
                b = mid
        if a < hi and indices[a] == j:
            if a + 1 < hi and indices[a + 1] == j:
                return np.int64(-2)
            return a
        return np.int64(-1)
    found = np.int64(-1)
    for t in range(lo, hi):
        if indices[t] == j:
            if found >= 0:
                return np.int64(-2)
            found = np.int64(t)
    return found


@njit(parallel=True, cache=True, nogil=True)
def find_offsets(indptr, indices, rows, cols, sorted_rows, offsets):
    """offsets[k] = position of entry (rows[k], cols[k]); -1 absent, -2 duplicated.

    Returns the number of absent entries, or -1 when some target is duplicated.
    """
    n = rows.size
    for k in prange(n):
        offsets[k] = _find(indptr, indices, rows[k], cols[k], sorted_rows)
    missing = 0
    for k in range(n):
        o = offsets[k]
        if o == -2:
            return -1
        if o == -1:
            missing += 1
    return missing


@njit(cache=True, nogil=True)
def scatter_values(data, offsets, values):
    """data[offsets[k]] = values[k] for every k with offsets[k] >= 0, in order
    (so that the last of several writes to one entry wins)."""
    for k in range(offsets.size):
        o = offsets[k]
        if o >= 0:
            data[o] = values[k]


@njit(cache=True, nogil=True)
def find_one(indptr, indices, i, j, sorted_rows):
    """Position of one entry (the scalar path of ``find_offsets``)."""
    return _find(indptr, indices, i, j, sorted_rows)


@njit(cache=True, nogil=True)
def group_by_row(rows, offsets, m, ptr, order):
    """Stable counting sort of the absent entries (offsets == -1) by row.

    ``ptr`` (m + 1, zeroed) becomes the start of each row's group in ``order``;
    ``order`` receives batch positions. Returns the number of entries grouped.
    """
    n = 0
    for k in range(rows.size):
        if offsets[k] == -1:
            ptr[rows[k] + 1] += 1
            n += 1
    for i in range(m):
        ptr[i + 1] += ptr[i]
    fill = ptr[:-1].copy()
    for k in range(rows.size):
        if offsets[k] == -1:
            r = rows[k]
            order[fill[r]] = k
            fill[r] += 1
    return n


@njit(parallel=True, cache=True, nogil=True)
def sort_dedupe_rows(ptr, order, cols, touched, counts):
    """Sort each touched row's group of ``order`` by column (stable) and keep the
    last write of each column, compacted at the group's start; counts[i] is the
    number kept for row i (rows not in ``touched`` keep counts[i] = 0)."""
    for t in prange(touched.size):
        i = touched[t]
        s = ptr[i]
        e = ptr[i + 1]
        n = e - s
        if n > _INSERTION_MAX:
            seg = order[s:e].copy()
            keys = np.empty(n, dtype=np.int64)
            for q in range(n):
                keys[q] = cols[seg[q]]
            perm = np.argsort(keys, kind="mergesort")
            for q in range(n):
                order[s + q] = seg[perm[q]]
        else:
            for q in range(s + 1, e):
                v = order[q]
                c = cols[v]
                p = q - 1
                while p >= s and cols[order[p]] > c:
                    order[p + 1] = order[p]
                    p -= 1
                order[p + 1] = v
        # keep the last of each run of equal columns (the latest write)
        w = s
        for q in range(s, e):
            if q + 1 < e and cols[order[q + 1]] == cols[order[q]]:
                continue
            order[w] = order[q]
            w += 1
        counts[i] = w - s


@njit(parallel=True, cache=True, nogil=True)
def insert_rows(indptr, indices, data, new_indptr, ptr, order, counts, cols, values,
                sorted_rows, blocks, out_indices, out_data):
    """New storage: every row of the old one with its new entries merged in.

    Row i's new entries are ``cols[order[ptr[i]:ptr[i] + counts[i]]]`` (sorted,
    unique) with values from ``values``; they go in sorted position when
    ``sorted_rows``, at the row's end otherwise.
    """
    for b in prange(blocks.size - 1):
        for i in range(blocks[b], blocks[b + 1]):
            p = new_indptr[i]
            s = indptr[i]
            e = indptr[i + 1]
            g = ptr[i]
            ge = g + counts[i]
            if g == ge or not sorted_rows:
                for t in range(s, e):
                    out_indices[p] = indices[t]
                    out_data[p] = data[t]
                    p += 1
                for q in range(g, ge):
                    k = order[q]
                    out_indices[p] = cols[k]
                    out_data[p] = values[k]
                    p += 1
                continue
            t = s
            q = g
            while t < e or q < ge:
                if q >= ge or (t < e and indices[t] < cols[order[q]]):
                    out_indices[p] = indices[t]
                    out_data[p] = data[t]
                    t += 1
                else:
                    k = order[q]
                    out_indices[p] = cols[k]
                    out_data[p] = values[k]
                    q += 1
                p += 1


@njit(parallel=True, cache=True, nogil=True)
def row_order(indptr, indices, blocks, flags):
    """flags[b] = (1 if a row of block b is unsorted, 1 if one stores a column twice
    next to itself); the sorted and canonical tests in one pass over the rows."""
    for b in prange(blocks.size - 1):
        unsorted = 0
        twice = 0
        for i in range(blocks[b], blocks[b + 1]):
            for k in range(indptr[i] + 1, indptr[i + 1]):
                if indices[k] < indices[k - 1]:
                    unsorted = 1
                    break
                if indices[k] == indices[k - 1]:
                    twice = 1
            if unsorted:
                break
        flags[b, 0] = unsorted
        flags[b, 1] = twice


# ---------------------------------------------------------------------------
# Serial twins (for batches and matrices too small to repay the threads)
# ---------------------------------------------------------------------------


def _serial_twin(dispatcher):
    name = dispatcher.py_func.__name__
    return twin(dispatcher, name + "_serial", dict(cache=True, nogil=True),
                doc=f"Serial version of ``{name}``.")


SERIAL = {f.py_func.__name__: _serial_twin(f) for f in (
    find_offsets, sort_dedupe_rows, insert_rows, row_order)}
