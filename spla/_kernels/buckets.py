"""COO -> CSR in two levels, inside the output arrays.

The direct scatter (``convert.scatter_by_row``) sends every triplet to a random
row of the whole output: two cache misses a triplet once the output outgrows
the caches. Here the rows are grouped in buckets of ``2**shift`` consecutive
rows, and a bucket's entries occupy, in the CSR result, one contiguous span
(``bucket_ptr[b]:bucket_ptr[b + 1]``, the bucket counts scanned). So:

1. ``scatter_to_spans`` streams every triplet into its bucket's span of the
   output arrays themselves (column and value), and its row within the bucket
   (``row & (2**shift - 1)``, 16 bits) into a small side array: a few hundred
   sequential write streams per lane, no random line misses.
2. ``sort_spans`` takes each bucket in turn: copies its span (column, value)
   to a buffer of its thread, scatters it back by row (a counting sort inside
   a span that fits in the L2 cache), writes its rows' ``indptr``, then sorts
   each row by column and sums its duplicates while the span is still cached.

Fresh memory is the output itself plus two bytes an entry (the rows within a
bucket), where the earlier two-level version kept whole copies of the
triplets (20 bytes an entry) and paid their page faults on every call.

Entries keep their input order within a row (both passes are stable, lanes in
input order), so duplicates are summed in the same order as by the direct
scatter and the results are bit for bit the same. Nothing here validates its
input: the caller checked every coordinate.
"""

import numpy as np
from numba import njit, prange

from .reduce import strictly_increasing
from .convert import _sort_merge_in_place
from .twins import twin

U = np.uint64

#: Largest ``shift``: the row within a bucket is stored in 16 bits.
MAX_SHIFT = 16


@njit(parallel=True, cache=True, nogil=True)
def scatter_to_spans(row, col, data, shift, starts, offsets, local, out_cols, out_data):
    """Stable scatter of each lane's triplets (``starts[l]:starts[l + 1]``) to
    their bucket's span: ``offsets[l, b]`` is lane l's next position in bucket b
    (``convert.lane_offsets`` over the bucket counts; advanced here).
    ``local[p]`` gets the row within the bucket."""
    n_lanes = offsets.shape[0]
    mask = (U(1) << U(shift)) - U(1)
    for l in prange(n_lanes):
        pos = offsets[l]
        for k in range(U(starts[l]), U(starts[l + 1])):
            i = U(row[k])
            b = i >> U(shift)
            p = U(pos[b])
            local[p] = i & mask
            out_cols[p] = col[k]
            out_data[p] = data[k]
            pos[b] = p + U(1)


@njit(cache=True, nogil=True)
def _sort_chunk(local, shift, bucket_ptr, b0, b1, n_rows, indptr, out_cols, out_data, counts,
                merge):
    """``sort_spans`` for buckets b0 to b1 (one buffer); returns the entries merged away."""
    rows_per = 1 << shift
    big = 0
    for b in range(b0, b1):
        big = max(big, bucket_ptr[b + 1] - bucket_ptr[b])
    buf_cols = np.empty(big, dtype=out_cols.dtype)
    buf_data = np.empty(big, dtype=out_data.dtype)
    pos = np.empty(rows_per, dtype=np.int64)
    lost = 0
    for b in range(b0, b1):
        r0 = b * rows_per
        nr = min(n_rows, r0 + rows_per) - r0
        lo = bucket_ptr[b]
        size = U(bucket_ptr[b + 1] - lo)
        for r in range(nr):
            pos[r] = 0
        for t in range(size):
            buf_cols[t] = out_cols[U(lo) + t]
            buf_data[t] = out_data[U(lo) + t]
            pos[U(local[U(lo) + t])] += 1
        run = np.int64(lo)
        for r in range(nr):
            n = pos[r]
            pos[r] = run
            indptr[r0 + r] = run
            run += n
        for t in range(size):
            r = U(local[U(lo) + t])
            p = U(pos[r])
            out_cols[p] = buf_cols[t]
            out_data[p] = buf_data[t]
            pos[r] = p + U(1)
        if merge:
            start = np.int64(lo)
            for r in range(nr):
                end = pos[r]  # advanced by the scatter to the row's end
                if strictly_increasing(out_cols, start, end):
                    kept = end - start
                else:
                    kept = _sort_merge_in_place(out_cols, out_data, start, end)
                counts[r0 + r + 1] = kept
                lost += end - start - kept
                start = end
    return lost


@njit(parallel=True, cache=True, nogil=True)
def sort_spans(local, shift, bucket_ptr, chunks, n_rows, indptr, out_cols, out_data, counts,
               merge):
    """Put every bucket's span in row order (stable), buckets ``chunks[c]`` to
    ``chunks[c + 1]`` on one thread with one buffer; write ``indptr[i]`` for every
    row i < n_rows (the caller writes ``indptr[n_rows]``). With ``merge`` each
    row is then sorted by column and its duplicates summed in place, its new
    length in ``counts[i + 1]``. Returns the number of entries merged away."""
    merged = 0
    for c in prange(chunks.size - 1):
        merged += _sort_chunk(local, shift, bucket_ptr, chunks[c], chunks[c + 1], n_rows,
                              indptr, out_cols, out_data, counts, merge)
    return merged


def _serial_twin(dispatcher):
    name = dispatcher.py_func.__name__
    return twin(dispatcher, name + "_serial", dict(cache=True, nogil=True),
                doc=f"Serial version of ``{name}``.")


SERIAL = {f.py_func.__name__: _serial_twin(f) for f in (scatter_to_spans, sort_spans)}
