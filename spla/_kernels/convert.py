"""Numba kernels of the conversions between COO, CSR and CSC, of the
canonical form (sorted columns, duplicates summed) and of the structure
filters (``tril``/``triu``, non-zero positions).

Counting sorts run in parallel over contiguous pieces of the input: each piece
counts its keys into a lane of its own, an exclusive scan over (key, lane) in
that order gives every piece its own write position per key, and the pieces
scatter at the same time. Entries keep their input order within a key (a
stable sort), so the result does not depend on the thread count. The number of
lanes is the caller's choice: one lane costs ``n_keys`` counters, so the caller
takes as many as the threads only when the input has several entries per key.

Filters (dropping entries) run in two passes over row blocks: count the kept
entries of each row, scan the counts into the new ``indptr``, copy. Nothing
here validates its input.
"""

import numpy as np
from numba import njit, prange

from .reduce import INSERTION_MAX, strictly_increasing
from .twins import twin

# Indices are cast to unsigned where they index arrays: Numba otherwise tests
# every access for a negative (wrap-around) index, which costs up to 2x on
# these scatters. The callers' validation proved every index in range.
U = np.uint64

# ---------------------------------------------------------------------------
# Counting sort by key, in lanes
# ---------------------------------------------------------------------------


@njit(parallel=True, cache=True, nogil=True)
def count_keys(keys, starts, counts):
    """counts[l, key] = how often ``key`` occurs in ``keys[starts[l]:starts[l + 1]]``
    (``counts`` has one row per lane, zeroed here)."""
    n_lanes, n_keys = counts.shape
    for l in prange(n_lanes):
        c = counts[l]
        for j in range(n_keys):
            c[j] = 0
        for k in range(U(starts[l]), U(starts[l + 1])):
            c[U(keys[k])] += 1


@njit(parallel=True, cache=True, nogil=True)
def lane_offsets(counts, indptr):
    """Turn ``counts`` into write positions: indptr[j + 1] - indptr[j] = total
    count of key j, and counts[l, j] = indptr[j] + counts of key j in lanes
    before l (``indptr`` has ``n_keys + 1`` entries)."""
    n_lanes, n_keys = counts.shape
    n_pieces = max(1, min(64, n_keys // 65536))
    sums = np.zeros(n_pieces + 1, dtype=np.int64)
    for p in prange(n_pieces):
        s = 0
        for j in range(n_keys * p // n_pieces, n_keys * (p + 1) // n_pieces):
            for l in range(n_lanes):
                s += counts[l, j]
        sums[p + 1] = s
    for p in range(n_pieces):
        sums[p + 1] += sums[p]
    indptr[0] = 0
    for p in prange(n_pieces):
        run = sums[p]
        for j in range(n_keys * p // n_pieces, n_keys * (p + 1) // n_pieces):
            for l in range(n_lanes):
                c = counts[l, j]
                counts[l, j] = run
                run += c
            indptr[j + 1] = run


# ---------------------------------------------------------------------------
# CSR -> CSC (transpose)
# ---------------------------------------------------------------------------


@njit(parallel=True, cache=True, nogil=True)
def count_columns(indptr, indices, row_starts, counts):
    """counts[l, j] = number of entries of column j in rows row_starts[l]:row_starts[l + 1]."""
    n_lanes, n_cols = counts.shape
    for l in prange(n_lanes):
        c = counts[l]
        for j in range(n_cols):
            c[j] = 0
        for k in range(U(indptr[row_starts[l]]), U(indptr[row_starts[l + 1]])):
            c[U(indices[k])] += 1


@njit(parallel=True, cache=True, nogil=True)
def scatter_transpose(indptr, indices, data, row_starts, offsets, t_indices, t_data):
    """Scatter the entries of each lane of rows into the transposed arrays, at the
    positions of ``offsets`` (from ``lane_offsets``, advanced here)."""
    n_lanes = offsets.shape[0]
    for l in prange(n_lanes):
        pos = offsets[l]
        for i in range(row_starts[l], row_starts[l + 1]):
            for k in range(U(indptr[i]), U(indptr[i + 1])):
                j = U(indices[k])
                p = pos[j]
                t_indices[U(p)] = i
                t_data[U(p)] = data[k]
                pos[j] = p + 1


# A transpose of many entries over many columns goes through buckets of columns
# (``buckets.py``'s two levels, with the columns as the keys): the direct scatter
# above sends every entry to a random column of the whole output, two cache-line
# misses an entry once the output outgrows the caches.


@njit(parallel=True, cache=True, nogil=True)
def count_column_buckets(indptr, indices, shift, row_starts, counts):
    """counts[l, b] = number of entries of rows row_starts[l]:row_starts[l + 1]
    in the bucket of columns b = column >> shift (``counts`` zeroed here)."""
    n_lanes, n_buckets = counts.shape
    for l in prange(n_lanes):
        c = counts[l]
        for b in range(n_buckets):
            c[b] = 0
        for k in range(U(indptr[row_starts[l]]), U(indptr[row_starts[l + 1]])):
            c[U(indices[k]) >> U(shift)] += 1


@njit(parallel=True, cache=True, nogil=True)
def scatter_transpose_to_spans(indptr, indices, data, shift, row_starts, offsets, local,
                               t_indices, t_data):
    """First level of the bucketed transpose: stream the entries of each lane of
    rows, in row order, into their column bucket's span of the transposed arrays
    (row into ``t_indices``, value into ``t_data``) at ``offsets[l, b]`` (from
    ``lane_offsets`` over ``count_column_buckets``; advanced here), and the
    column within the bucket (``column & (2**shift - 1)``) into ``local``.
    ``buckets.sort_spans`` then puts each span in column order (stable: rows
    stay increasing within a column)."""
    n_lanes = offsets.shape[0]
    mask = (U(1) << U(shift)) - U(1)
    for l in prange(n_lanes):
        pos = offsets[l]
        for i in range(row_starts[l], row_starts[l + 1]):
            for k in range(U(indptr[i]), U(indptr[i + 1])):
                j = U(indices[k])
                b = j >> U(shift)
                p = U(pos[b])
                local[p] = j & mask
                t_indices[p] = i
                t_data[p] = data[k]
                pos[b] = p + U(1)


# ---------------------------------------------------------------------------
# COO -> CSR
# ---------------------------------------------------------------------------


@njit(parallel=True, cache=True, nogil=True)
def scatter_by_row(row, col, data, starts, offsets, out_cols, out_data):
    """Stable scatter of the triplets of each lane to their row's positions."""
    n_lanes = offsets.shape[0]
    for l in prange(n_lanes):
        pos = offsets[l]
        for k in range(U(starts[l]), U(starts[l + 1])):
            i = U(row[k])
            p = pos[i]
            out_cols[U(p)] = col[k]
            out_data[U(p)] = data[k]
            pos[i] = p + 1


# COO -> CSR of many triplets in two levels: the bucket counts here, the rest in
# ``buckets.py`` (triplets streamed to their bucket's span of the output, then
# each span put in row order while it is in the cache).


@njit(parallel=True, cache=True, nogil=True)
def count_buckets(keys, shift, starts, counts):
    """counts[l, b] = number of keys of lane l (``keys[starts[l]:starts[l + 1]]``)
    in bucket b = key >> shift (``counts`` zeroed here)."""
    n_lanes, n_buckets = counts.shape
    for l in prange(n_lanes):
        c = counts[l]
        for b in range(n_buckets):
            c[b] = 0
        for k in range(U(starts[l]), U(starts[l + 1])):
            c[U(keys[k]) >> U(shift)] += 1


@njit(cache=True, nogil=True, inline="always")
def _sort_merge_in_place(cols, vals, lo, hi):
    """Sort cols[lo:hi] (stable, values along) and sum runs of equal columns in
    stored order; the merged row goes to lo:lo + count. Returns the count."""
    n = hi - lo
    if n <= INSERTION_MAX:
        for t in range(lo + 1, hi):
            c = cols[t]
            v = vals[t]
            s = t
            while s > lo and cols[s - 1] > c:
                cols[s] = cols[s - 1]
                vals[s] = vals[s - 1]
                s -= 1
            cols[s] = c
            vals[s] = v
    else:
        order = np.argsort(cols[lo:hi], kind="mergesort")
        c_sorted = cols[lo:hi][order]
        v_sorted = vals[lo:hi][order]
        cols[lo:hi] = c_sorted
        vals[lo:hi] = v_sorted
    out = lo
    t = lo
    while t < hi:
        c = cols[t]
        v = vals[t]
        t += 1
        while t < hi and cols[t] == c:
            v += vals[t]
            t += 1
        cols[out] = c
        vals[out] = v
        out += 1
    return out - lo


@njit(parallel=True, cache=True, nogil=True)
def rows_canonical(indptr, indices, blocks):
    """Whether every row's column indices are strictly increasing."""
    bad = 0
    for b in prange(blocks.size - 1):
        for i in range(blocks[b], blocks[b + 1]):
            if not strictly_increasing(indices, indptr[i], indptr[i + 1]):
                bad += 1
                break
    return bad == 0


@njit(parallel=True, cache=True, nogil=True)
def canonicalize_rows_in_place(indptr, indices, data, blocks, counts):
    """Sort each row of (indptr, indices, data) and sum its duplicates in place;
    the merged row occupies the start of its old span and counts[i + 1] holds
    its length. Rows already canonical are only checked."""
    for b in prange(blocks.size - 1):
        for i in range(blocks[b], blocks[b + 1]):
            lo = indptr[i]
            hi = indptr[i + 1]
            if strictly_increasing(indices, lo, hi):
                counts[i + 1] = hi - lo
            else:
                counts[i + 1] = _sort_merge_in_place(indices, data, lo, hi)


@njit(parallel=True, cache=True, nogil=True)
def canonicalize_rows_into(indptr, indices, data, blocks, out_indices, out_data, counts):
    """The same, reading the input and writing the rows (at their old offsets)
    into ``out_indices``/``out_data``."""
    for b in prange(blocks.size - 1):
        for i in range(blocks[b], blocks[b + 1]):
            lo = indptr[i]
            hi = indptr[i + 1]
            for k in range(lo, hi):
                out_indices[k] = indices[k]
                out_data[k] = data[k]
            if strictly_increasing(indices, lo, hi):
                counts[i + 1] = hi - lo
            else:
                counts[i + 1] = _sort_merge_in_place(out_indices, out_data, lo, hi)


@njit(parallel=True, cache=True, nogil=True)
def compact_rows(indptr, indices, data, new_indptr, blocks, out_indices, out_data):
    """Copy the first new_indptr[i + 1] - new_indptr[i] entries of each row."""
    for b in prange(blocks.size - 1):
        for i in range(blocks[b], blocks[b + 1]):
            src = indptr[i]
            dst = new_indptr[i]
            for t in range(new_indptr[i + 1] - dst):
                out_indices[dst + t] = indices[src + t]
                out_data[dst + t] = data[src + t]


@njit(parallel=True, cache=True, nogil=True)
def scan_counts(counts, n_pieces):
    """In-place inclusive scan of ``counts`` (counts[0] must be 0) in
    ``n_pieces`` pieces."""
    n = counts.size
    sums = np.zeros(n_pieces + 1, dtype=np.int64)
    for p in prange(n_pieces):
        s = 0
        for j in range(n * p // n_pieces, n * (p + 1) // n_pieces):
            s += counts[j]
        sums[p + 1] = s
    for p in range(n_pieces):
        sums[p + 1] += sums[p]
    for p in prange(n_pieces):
        run = sums[p]
        for j in range(n * p // n_pieces, n * (p + 1) // n_pieces):
            run += counts[j]
            counts[j] = run


# ---------------------------------------------------------------------------
# CSR -> COO, non-zero positions, triangles
# ---------------------------------------------------------------------------


@njit(parallel=True, cache=True, nogil=True)
def expand_rows(indptr, blocks, rows):
    """rows[k] = the row of entry k."""
    for b in prange(blocks.size - 1):
        for i in range(blocks[b], blocks[b + 1]):
            for k in range(U(indptr[i]), U(indptr[i + 1])):
                rows[k] = i


@njit(parallel=True, cache=True, nogil=True)
def copy_array(src, dst, n_pieces):
    """dst[:] = src[:] in ``n_pieces`` pieces."""
    n = src.size
    for p in prange(n_pieces):
        for k in range(U(n * p // n_pieces), U(n * (p + 1) // n_pieces)):
            dst[k] = src[k]


@njit(parallel=True, cache=True, nogil=True)
def count_nonzero_in_blocks(indptr, data, blocks, counts):
    """counts[b + 1] = number of non-zero values in the rows of block b."""
    for b in prange(blocks.size - 1):
        c = 0
        for k in range(indptr[blocks[b]], indptr[blocks[b + 1]]):
            if data[k] != 0:
                c += 1
        counts[b + 1] = c


@njit(parallel=True, cache=True, nogil=True)
def nonzero_positions(indptr, indices, data, blocks, starts, rows, cols):
    """Row and column of every non-zero value, in stored order; block b writes
    from starts[b]."""
    for b in prange(blocks.size - 1):
        p = starts[b]
        for i in range(blocks[b], blocks[b + 1]):
            for k in range(indptr[i], indptr[i + 1]):
                if data[k] != 0:
                    rows[p] = i
                    cols[p] = indices[k]
                    p += 1


@njit(cache=True, nogil=True, inline="always")
def _keep(i, j, k, lower):
    return j - i <= k if lower else j - i >= k


@njit(parallel=True, cache=True, nogil=True)
def count_triangle(indptr, indices, k, lower, blocks, counts):
    """counts[i + 1] = entries of row i on or below (``lower``) or on or above
    the k-th diagonal."""
    for b in prange(blocks.size - 1):
        for i in range(blocks[b], blocks[b + 1]):
            c = 0
            for t in range(indptr[i], indptr[i + 1]):
                if _keep(np.int64(i), np.int64(indices[t]), k, lower):
                    c += 1
            counts[i + 1] = c


@njit(parallel=True, cache=True, nogil=True)
def fill_triangle(indptr, indices, data, k, lower, blocks, new_indptr, out_indices, out_data):
    for b in prange(blocks.size - 1):
        for i in range(blocks[b], blocks[b + 1]):
            p = new_indptr[i]
            for t in range(indptr[i], indptr[i + 1]):
                j = indices[t]
                if _keep(np.int64(i), np.int64(j), k, lower):
                    out_indices[p] = j
                    out_data[p] = data[t]
                    p += 1


# ---------------------------------------------------------------------------
# Serial twins
# ---------------------------------------------------------------------------


def _serial_twin(dispatcher):
    name = dispatcher.py_func.__name__
    return twin(dispatcher, name + "_serial", dict(cache=True, nogil=True),
                doc=f"Serial version of ``{name}``.")


SERIAL = {f.py_func.__name__: _serial_twin(f) for f in (
    rows_canonical, count_keys, lane_offsets, count_columns, scatter_transpose, scatter_by_row,
    count_column_buckets, scatter_transpose_to_spans,
    canonicalize_rows_in_place, canonicalize_rows_into, compact_rows, scan_counts,
    count_buckets,
    expand_rows, copy_array, count_nonzero_in_blocks, nonzero_positions,
    count_triangle, fill_triangle)}
