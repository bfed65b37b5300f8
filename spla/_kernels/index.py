"""Indexing reads of CSR storage: row gathers, column selections, point reads.

Every kernel reads CSR storage ``(indptr, indices, data)`` that may hold
duplicates and unsorted rows. ``spla._indexing.keys`` resolves negative indices
and checks every bound before most kernels run; the two that serve the short
paths of the common keys (``row_spans`` for ``A[rows]``, ``gather_points`` for
``A[rows, cols]``) take the caller's indices unchecked, resolve negative ones
and flag out-of-range ones themselves (reading nothing outside the storage),
so that such a key costs one pass.

Rows to read are given as ``(row_start, row_step, rows)``: output row ``i``
reads source row ``rows[i]`` when ``rows`` is not empty, else ``row_start + i *
row_step`` (a slice costs no index array). Outputs are built in two passes
(count, then fill) so that they are allocated once; ``out_indptr`` is the
prefix sum of the counts (the fills of row gathers and row masks write it from
the entries counted per piece of rows). A column gather's first pass also
records where the matching entries are, so that its second reads those only,
not the rows again.
Values are moved, never combined, so the
kernels take ``data`` viewed as unsigned integers of its width (complex128 for
16-byte values): one compilation per width serves every value dtype, float16
and bfloat16 included; an absent entry of a point read is zero bits, the zero
of every dtype. Positions in the hot loops are unsigned (``U``): with signed
ones Numba tests every access for a negative wraparound.

Gathers of random rows and points wait on memory: each row is a chain of
dependent misses (row pointer, then its entries). The kernels prefetch the row
pointer ``2 * AHEAD`` rows ahead and the entries ``AHEAD`` rows ahead
(``intrinsics.prefetch``), so that many misses are in flight at once.

Each parallel kernel has a serial twin in ``SERIAL`` for inputs too small to
repay waking the threads.
"""

import numpy as np
from numba import njit, prange

from .intrinsics import prefetch
from .twins import twin

U = np.uint64
_EMPTY = np.empty(0, dtype=np.intp)
#: Rows (or points) ahead of the one being copied whose storage is prefetched: a
#: random gather waits on memory, and the hardware overlaps only the few misses
#: its reorder window holds; hints this far ahead keep more of them in flight.
AHEAD = 12


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
def _wrap(i, n):
    """``i`` resolved against an axis of ``n`` (negative from the end), or -1 when it
    falls outside ``[-n, n)``."""
    if i < 0:
        i += n
    if i < 0 or i >= n:
        return -1
    return i


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


@njit(cache=True, nogil=True, inline="always")
def _prefetch_span(indices, data, start, n):
    """Prefetch the first and last lines of ``indices[start:start + n]`` and of
    ``data[start:start + n]`` (longer rows: the hardware streams the middle)."""
    prefetch(indices, start)
    prefetch(data, start)
    if n > 1:
        prefetch(indices, start + n - 1)
        prefetch(data, start + n - 1)


@njit(cache=True, nogil=True, inline="always")
def _prefetch_rows_ahead(indptr, indices, data, with_data, rows, t, hi, only):
    """While output row ``t`` of a piece ending at ``hi`` is read, prefetch the row
    pointers of the row ``2 * AHEAD`` on and the storage of the row ``AHEAD`` on,
    when the source rows are a gathered array (random rows; a slice of rows is a
    stream the hardware prefetches itself)."""
    if rows.size == 0:
        return
    if t + 2 * AHEAD < hi:
        prefetch(indptr, rows[_out_row(t + 2 * AHEAD, only)])
    if t + AHEAD < hi:
        s = indptr[rows[_out_row(t + AHEAD, only)]]
        prefetch(indices, s)
        if with_data:
            prefetch(data, s)


@njit(parallel=True, cache=True, nogil=True)
def row_spans(indptr, rows, n_pieces, starts, lens, piece_nnz, bad):
    """``starts[i] = indptr[rows[i]]`` and ``lens[i]`` the length of row ``rows[i]``,
    and ``piece_nnz[p]`` the entries of the rows of piece ``p`` (rows ``n * p //
    n_pieces`` to ``n * (p + 1) // n_pieces``): the count pass of a row gather,
    with the row pointers of rows ahead prefetched. ``copy_spans`` writes the
    output row pointer from these (no prefix sum over all rows in between).

    The rows may be unchecked: negative ones count from the end, and a row outside
    the ``indptr.size - 1`` rows gets an empty span and is counted in ``bad[p]`` of
    its piece ``p`` (the caller raises)."""
    n = rows.size
    m = indptr.size - 1
    for p in prange(n_pieces):
        lo = n * p // n_pieces
        hi = n * (p + 1) // n_pieces
        nbad = 0
        total = 0
        for i in range(lo, hi):
            if i + AHEAD < hi:
                prefetch(indptr, _wrap(rows[i + AHEAD], m))
            r = _wrap(rows[i], m)
            if r < 0:
                nbad += 1
                starts[i] = 0
                lens[i] = 0
                continue
            s = indptr[r]
            k = indptr[r + 1] - s
            starts[i] = s
            lens[i] = k
            total += k
        piece_nnz[p] = total
        bad[p] = nbad


@njit(parallel=True, cache=True, nogil=True)
def copy_spans(starts, lens, indices, data, block_rows, block_nnz, out_indptr, out_indices,
               out_data):
    """Second pass of a row gather: the spans ``starts[i]:starts[i] + lens[i]`` of
    the storage (``row_spans``) copied in order, the rows ``block_rows[b]`` to
    ``block_rows[b + 1]`` of block ``b`` from output entry ``block_nnz[b]`` on,
    their ends written to ``out_indptr[i + 1]`` (whose first element the caller
    sets). The storage of the span ``AHEAD`` rows on is prefetched."""
    for b in prange(block_rows.size - 1):
        b1 = block_rows[b + 1]
        dst = U(block_nnz[b])
        for i in range(block_rows[b], b1):
            if i + AHEAD < b1:
                _prefetch_span(indices, data, starts[i + AHEAD], lens[i + AHEAD])
            src = U(starts[i])
            n = U(lens[i])
            # one loop per array: one loop moving both compiles to slower code (200,000
            # random rows of 10 entries: 9.3 against 8.3 ms; in cache 26 against 23 us)
            for k in range(n):
                out_indices[dst + k] = indices[src + k]
            for k in range(n):
                out_data[dst + k] = data[src + k]
            dst += n
            out_indptr[i + 1] = dst


#: Mask entries a row-mask fill compacts into a list of rows at a time.
MASK_CHUNK = 2048


@njit(parallel=True, cache=True, nogil=True)
def mask_counts(indptr, mask, bounds, piece_rows, piece_nnz):
    """First pass of a row mask ``A[mask]``: for every piece ``p`` of the mask
    (``mask[bounds[p]:bounds[p + 1]]``) the rows it selects, ``piece_rows[p]``, and
    their stored entries, ``piece_nnz[p]``. Branch-free (a branch on a random
    mask is mispredicted on every other selected row); no index array of the
    rows is made: ``mask_fill`` reads the mask again."""
    for p in prange(bounds.size - 1):
        k = 0
        nz = 0
        for r in range(U(bounds[p]), U(bounds[p + 1])):
            t = np.int64(mask[r])
            k += t
            nz += t * np.int64(indptr[r + U(1)] - indptr[r])
        piece_rows[p] = k
        piece_nnz[p] = nz


@njit(parallel=True, cache=True, nogil=True)
def mask_fill(indptr, indices, data, mask, bounds, blocks, rows_before, nnz_before,
              out_indptr, out_indices, out_data):
    """Second pass of a row mask: the rows selected by the pieces
    ``blocks[b]:blocks[b + 1]`` of the mask (``bounds`` as in ``mask_counts``),
    copied from the output row ``rows_before[blocks[b]]`` and the output entry
    ``nnz_before[blocks[b]]`` on, their ends written to ``out_indptr`` (whose
    first element the caller sets). ``blocks`` groups the pieces into blocks of
    about equal work. Each ``MASK_CHUNK`` entries of the mask are compacted into
    a list of rows first (branch-free), which is then copied with the storage of
    the rows ``AHEAD`` on prefetched."""
    for b in prange(blocks.size - 1):
        p0 = blocks[b]
        row = rows_before[p0]
        dst = U(nnz_before[p0])
        sel = np.empty(MASK_CHUNK, dtype=np.int64)
        end = bounds[blocks[b + 1]]
        for c0 in range(bounds[p0], end, MASK_CHUNK):
            c1 = min(c0 + MASK_CHUNK, end)
            n_sel = 0
            for r in range(U(c0), U(c1)):
                sel[n_sel] = r
                n_sel += np.int64(mask[r])
            for j in range(n_sel):
                if j + AHEAD < n_sel:
                    a = sel[j + AHEAD]
                    _prefetch_span(indices, data, indptr[a], indptr[a + 1] - indptr[a])
                r = sel[j]
                src = U(indptr[r])
                n = U(indptr[r + 1]) - src
                for k in range(n):  # one loop per array, as in copy_spans
                    out_indices[dst + k] = indices[src + k]
                for k in range(n):
                    out_data[dst + k] = data[src + k]
                dst += n
                row += 1
                out_indptr[row] = dst


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
        p1 = n_rows * (p + 1) // n_pieces
        for i in range(n_rows * p // n_pieces, p1):
            _prefetch_rows_ahead(indptr, indices, indices, False, rows, i, p1, _EMPTY)
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
        b1 = blocks[b + 1]
        for t in range(blocks[b], b1):
            _prefetch_rows_ahead(indptr, indices, data, True, rows, t, b1, only)
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


@njit(parallel=True, cache=True, nogil=True)
def column_entries(indptr, indices, c, sorted_rows, piece_rows, pos_ptr, out_rows, out_pos,
                   n_found):
    """The stored entries of column ``c``, in one pass: piece ``p`` (rows
    ``piece_rows[p]:piece_rows[p + 1]``) writes the row and the position of each,
    in storage order, to ``out_rows`` and ``out_pos`` from ``pos_ptr[p]`` (at least
    the entries before the piece: an exact bound) and their number to
    ``n_found[p]``. No per-row counts: one column of a tall array has few entries."""
    for p in prange(piece_rows.size - 1):
        base = U(pos_ptr[p])
        w = base
        for i in range(piece_rows[p], piece_rows[p + 1]):
            lo = indptr[i]
            hi = indptr[i + 1]
            if sorted_rows and hi - lo > 16:
                k = _lower_bound(indices, lo, hi, c)
                while k < hi and indices[k] == c:
                    out_rows[w] = i
                    out_pos[w] = k
                    w += U(1)
                    k += 1
            else:
                for k in range(U(lo), U(hi)):
                    if indices[k] == c:
                        out_rows[w] = i
                        out_pos[w] = k
                        w += U(1)
        n_found[p] = w - base


# ---------------------------------------------------------------------------
# columns from an index array (repeats, any order)
# ---------------------------------------------------------------------------
#
# The requested columns are grouped once (``order``: positions in the request,
# stably sorted by column). A source entry of column c matches the request
# positions order[lo:hi], the run of c, read from ``col_ptr[s]:col_ptr[s + 1]``
# where ``s`` is c's slot: c itself in a column map (one shared array of n_cols +
# 2, never one per thread: O(n_cols) to build, affordable when the entries read
# are many), else c's slot in an open-addressing hash table of the requested
# columns (O(k) to build, for a request and a row selection much smaller than
# the width). With the map comes ``hits``, one byte a column: how often it is
# requested (saturating at 255). It screens the entries (only hits read the map)
# and, when no column is requested more than 254 times (``exact_hits``), it is
# the count itself: the first pass is branch-free. That pass records the
# positions of the matching entries; the second reads only those.


@njit(cache=True, nogil=True)
def column_map(cols, col_ptr, hits, order):
    """Build the column map of the request ``cols`` (a counting sort, O(n_cols + k)):
    ``col_ptr`` (zeros, n_cols + 2; int32 serves up to 2**31 - 1 requests) ends with
    the offsets, ``col_ptr[c]:col_ptr[c + 1]`` the run of column ``c`` in ``order``;
    ``hits`` (n_cols bytes) the requests per column saturated at 255; ``order`` the
    request positions stably sorted by column. Returns the largest number of
    requests of one column. (The counts go two places up, so that the cursors of
    the fill, one place up, end as the offsets: no copy of the map.)"""
    n = hits.size
    for t in range(cols.size):
        col_ptr[cols[t] + 2] += 1
    most = 0
    for c in range(n):
        k = col_ptr[c + 2]
        if k > most:
            most = k
        hits[c] = min(k, 255)
        col_ptr[c + 2] += col_ptr[c + 1]
    for t in range(cols.size):
        c = cols[t] + 1
        order[col_ptr[c]] = t
        col_ptr[c] += 1
    return most


@njit(cache=True, nogil=True, inline="always")
def _slot_of(table, c):
    """First slot to probe for column ``c`` in the hash ``table`` (a power of 2 long)."""
    x = U(c) * U(0x9E3779B97F4A7C15)
    return (x ^ (x >> U(29))) & U(table.size - 1)


@njit(cache=True, nogil=True, inline="always")
def _find_slot(table, c):
    """The slot of column ``c`` in the hash ``table``, or the empty slot (-1) where it
    would go, as ``(slot, found)``."""
    h = _slot_of(table, c)
    last = U(table.size - 1)
    while True:
        key = table[h]
        if key == c:
            return h, True
        if key < 0:
            return h, False
        h = (h + U(1)) & last


@njit(cache=True, nogil=True, inline="always")
def _marked(bits, c):
    """Whether bit ``c`` of the bit set ``bits`` (bytes, 8 columns a byte) is set."""
    u = U(c)
    return (bits[u >> U(3)] >> (u & U(7))) & U(1) != U(0)


@njit(cache=True, nogil=True, inline="always")
def _mark(bits, c):
    """Set bit ``c`` of the bit set ``bits``; whether it was clear."""
    u = U(c)
    w = u >> U(3)
    b = np.uint8(1 << (u & U(7)))
    old = bits[w]
    bits[w] = old | b
    return old & b == 0


@njit(cache=True, nogil=True, inline="always")
def _filter_bit(c, last):
    """Bit of column ``c`` in a hashed filter of ``last + 1`` bits (a power of 2):
    the hash of ``_slot_of`` reduced to more bits than a table slot."""
    x = U(c) * U(0x9E3779B97F4A7C15)
    return (x ^ (x >> U(29))) & last


@njit(cache=True, nogil=True)
def mark_filter(cols, bits):
    """Set the hashed filter bit (``_filter_bit``) of every requested column in ``bits``
    (zeros; a power of 2 bytes)."""
    last = U(bits.size * 8 - 1)
    for t in range(cols.size):
        _mark(bits, _filter_bit(cols[t], last))


@njit(cache=True, nogil=True)
def mark_columns(indptr, indices, row_start, row_step, rows, n_rows, bits):
    """Set bit ``c`` of ``bits`` (zeros, a byte per 8 columns) for every column ``c``
    stored in the rows read. The bit set of a 2,000,000-column array is 250 KB: it
    stays in cache, where a table of a large request (several MB for 200,000
    columns) would not."""
    for i in range(n_rows):
        _prefetch_rows_ahead(indptr, indices, indices, False, rows, i, n_rows, _EMPTY)
        r = _source_row(i, row_start, row_step, rows)
        for k in range(U(indptr[r]), U(indptr[r + 1])):
            _mark(bits, indices[k])


@njit(cache=True, nogil=True)
def count_marked(cols, bits):
    """How many of the requested columns ``cols`` are marked in ``bits``."""
    k = 0
    for t in range(cols.size):
        if _marked(bits, cols[t]):
            k += 1
    return k


@njit(cache=True, nogil=True)
def column_hash(cols, bits, wanted, table, col_ptr, order):
    """``column_map`` keyed by hash slots: ``table`` (-1 filled, a power of 2 of at
    least twice the distinct columns) gets every requested column in a slot, and
    ``col_ptr`` (zeros, table.size + 2) the runs in ``order`` by slot. Returns the
    largest number of requests of one column.

    With a non-empty bit set ``bits`` (``mark_columns``), only the requests of
    marked columns (those stored in the rows read) enter the table, and ``order``
    holds their positions only: the table is sized by the columns that can
    match, not by the request. Those columns are then marked in ``wanted``
    (zeros, of the size of ``bits``), the screen of the gather passes."""
    filtered = bits.size > 0
    for t in range(cols.size):
        c = cols[t]
        if filtered:
            if not _marked(bits, c):
                continue
            _mark(wanted, c)
        h, _ = _find_slot(table, c)
        table[h] = c
        col_ptr[h + U(2)] += 1
    most = 0
    for s in range(table.size):
        k = col_ptr[s + 2]
        if k > most:
            most = k
        col_ptr[s + 2] += col_ptr[s + 1]
    for t in range(cols.size):
        c = cols[t]
        if filtered and not _marked(bits, c):
            continue
        g, _ = _find_slot(table, c)
        order[col_ptr[g + U(1)]] = t
        col_ptr[g + U(1)] += 1
    return most


@njit(cache=True, nogil=True, inline="always")
def _run_of(c, use_map, hits, col_ptr, table):
    if use_map:
        u = U(c)
        # hits (one byte a column) stays in cache; the map is read only on a hit
        if hits[u] == 0:
            return U(0), U(0)
        return U(col_ptr[u]), U(col_ptr[u + U(1)])
    h, found = _find_slot(table, c)
    if not found:
        return U(0), U(0)
    return U(col_ptr[h]), U(col_ptr[h + U(1)])


@njit(parallel=True, cache=True, nogil=True)
def find_column_hits(indptr, indices, row_start, row_step, rows, piece_rows, use_map, hits,
                     exact_hits, hashed, col_ptr, table, pos_ptr, counts, pos, n_pos):
    """First pass of a column gather: ``counts[i + 1]`` the output entries of output
    row ``i`` (one per matching request), and the positions of the matching stored
    entries, in order, in ``pos[pos_ptr[p]:pos_ptr[p] + n_pos[p]]`` for the piece
    ``p`` of output rows ``piece_rows[p]:piece_rows[p + 1]``. ``pos_ptr[p + 1] -
    pos_ptr[p]`` must be at least the entries the piece reads (an exact bound: no
    overflow); only what is written is touched.

    With the column map and exact ``hits`` the loop has no branch: every entry's
    position is written, and kept (the cursor moves) when its column is requested.
    A branch per entry on a ~10% hit rate costs more than the scan.

    With the hash table, ``hits`` may be the bit set of the columns in the table
    (more than one byte: ``column_hash`` with a filter), or with ``hashed`` a
    filter of their hashes (``mark_filter``): entries whose bit is clear are
    passed over without a probe of the table. Most entries of a gather miss the
    request, and a probe ends after a random number of slots (a mispredicted
    branch each); the filter's one load and well-predicted test costs less."""
    screened = not use_map and hits.size > 1
    last = U(hits.size * 8 - 1)
    for p in prange(piece_rows.size - 1):
        base = U(pos_ptr[p])
        w = base
        hi_row = piece_rows[p + 1]
        for i in range(piece_rows[p], hi_row):
            _prefetch_rows_ahead(indptr, indices, indices, False, rows, i, hi_row, _EMPTY)
            r = _source_row(i, row_start, row_step, rows)
            cnt = U(0)
            if use_map and exact_hits:
                for k in range(U(indptr[r]), U(indptr[r + 1])):
                    h = U(hits[U(indices[k])])
                    pos[w] = k
                    w += U(h != U(0))
                    cnt += h
            else:
                for k in range(U(indptr[r]), U(indptr[r + 1])):
                    c = indices[k]
                    if screened and not _marked(hits, _filter_bit(c, last) if hashed else c):
                        continue
                    lo, hi = _run_of(c, use_map, hits, col_ptr, table)
                    if hi > lo:
                        pos[w] = k
                        w += U(1)
                        cnt += hi - lo
            counts[i + 1] = cnt
        n_pos[p] = w - base


@njit(parallel=True, cache=True, nogil=True)
def expand_column_hits(indices, data, pos, pos_ptr, n_pos, piece_rows, out_indptr, use_map,
                       hits, col_ptr, table, order, out_indices, out_data):
    """Second pass of a column gather: every matching entry found by
    ``find_column_hits``, followed by its request positions in increasing order,
    written from the start of its piece's output rows. Reads only the matching
    entries (in storage order) and the map of their columns."""
    for p in prange(piece_rows.size - 1):
        dst = U(out_indptr[piece_rows[p]])
        t0 = U(pos_ptr[p])
        for t in range(t0, t0 + U(n_pos[p])):
            k = U(pos[t])
            lo, hi = _run_of(indices[k], use_map, hits, col_ptr, table)
            v = data[k]
            for q in range(lo, hi):
                out_indices[dst] = order[q]
                out_data[dst] = v
                dst += U(1)


@njit(cache=True, nogil=True)
def select_columns_small(indptr, indices, data, row_start, row_step, rows, n_rows, cols,
                         n_cols, idx_like):
    """The whole column gather of a small input in one serial call (one dispatch
    instead of five, no NumPy calls between): the column map of the ``n_cols``
    columns, the counts, the output (``idx_like.dtype`` indices, ``data``'s raw
    values), the fill. Returns ``(indptr, indices, data, increasing)``, the last
    telling whether ``cols`` is non-decreasing."""
    col_ptr = np.zeros(n_cols + 2, dtype=np.int64)
    hits = np.empty(n_cols, dtype=np.uint8)
    order = np.empty(cols.size, dtype=np.intp)
    column_map(cols, col_ptr, hits, order)
    increasing = True
    for t in range(1, cols.size):
        if cols[t] < cols[t - 1]:
            increasing = False
            break
    out_indptr = np.empty(n_rows + 1, dtype=idx_like.dtype)
    out_indptr[0] = 0
    total = 0
    for i in range(n_rows):
        r = _source_row(i, row_start, row_step, rows)
        for k in range(indptr[r], indptr[r + 1]):
            c = indices[k]
            total += col_ptr[c + 1] - col_ptr[c]
        out_indptr[i + 1] = total
    out_indices = np.empty(total, dtype=idx_like.dtype)
    out_data = np.empty(total, dtype=data.dtype)
    dst = 0
    for i in range(n_rows):
        r = _source_row(i, row_start, row_step, rows)
        for k in range(indptr[r], indptr[r + 1]):
            c = indices[k]
            if hits[c] != 0:
                for q in range(col_ptr[c], col_ptr[c + 1]):
                    out_indices[dst] = order[q]
                    out_data[dst] = data[k]
                    dst += 1
    return out_indptr, out_indices, out_data, increasing


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


#: ``gather_points`` prefetches the values of the points ahead while at least one
#: point in this many has been found stored.
POINT_HIT_SHARE = 8


@njit(parallel=True, cache=True, nogil=True)
def gather_points(indptr, indices, data, rows, cols, n_rows, n_cols, sorted_rows, n_pieces,
                  out, flags):
    """``out[t] = A[rows[t], cols[t]]`` for every point, in one pass: the row found
    through ``indptr``, the column by ``_find_in``, the value moved (``data`` and
    ``out`` raw, as the copy kernels take them; an absent entry gives zero bits,
    the zero of every value dtype).

    The points may be unchecked: negative ones count from the end, and a point
    outside ``n_rows x n_cols`` reads nothing and is counted in ``flags[2 * p + 1]``
    of its piece ``p`` (the caller raises). A point whose column is stored more
    than once gets its first value and is counted in ``flags[2 * p]`` (the caller
    sums those, as SciPy does). The row pointers ``2 * AHEAD`` points on and the
    row storage ``AHEAD`` points on are prefetched (the first and the last line of
    the row's indices): every point is a chain of three dependent misses (row
    pointer, column indices, value). The value's line
    is prefetched only while at least one point in ``POINT_HIT_SHARE`` of the
    piece's points so far was stored: points of a sparse matrix drawn at random are
    nearly all absent, and a prefetch of their values' lines would take a third of
    the memory's random reads for nothing."""
    n = cols.size
    for p in prange(n_pieces):
        lo = n * p // n_pieces
        hi = n * (p + 1) // n_pieces
        nd = 0
        bad = 0
        hits = 0
        for t in range(lo, hi):
            if t + 2 * AHEAD < hi:
                prefetch(indptr, _wrap(rows[t + 2 * AHEAD], n_rows))
            if t + AHEAD < hi:
                ra = _wrap(rows[t + AHEAD], n_rows)
                if ra >= 0:
                    start = indptr[ra]
                    stop = indptr[ra + 1]
                    prefetch(indices, start)
                    if stop - 1 > start:
                        # the row's last index too: a short row often spans two lines,
                        # and the scan would meet the second as a miss of its own
                        prefetch(indices, stop - 1)
                    if hits * POINT_HIT_SHARE >= t - lo:
                        prefetch(data, start)
            r = _wrap(rows[t], n_rows)
            c = _wrap(cols[t], n_cols)
            out[t] = 0
            if r < 0 or c < 0:
                bad += 1
                continue
            pos, m = _find_in(indices, indptr[r], indptr[r + 1], c, sorted_rows)
            if m:
                hits += 1
                out[t] = data[pos]
                if m > 1:
                    nd += 1
        flags[2 * p] = nd
        flags[2 * p + 1] = bad


# ---------------------------------------------------------------------------
# serial twins
# ---------------------------------------------------------------------------


def _serial_twin(dispatcher):
    name = dispatcher.py_func.__name__
    return twin(dispatcher, name + "_serial", dict(cache=True, nogil=True),
                doc=f"Serial version of ``{name}``.")


#: Serial twins by the name of the parallel kernel.
SERIAL = {f.py_func.__name__: _serial_twin(f) for f in (
    copy_spans, copy_block, mask_counts, mask_fill, count_column_range, fill_column_range,
    find_column_hits, expand_column_hits, find_points, row_spans, gather_points,
    column_entries)}
