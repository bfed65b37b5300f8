"""Numba kernels for compressed sparse row (CSR) arrays.

Every function takes raw arrays (``indptr``, ``indices``, ``data`` and dense
operands) that the caller has validated and allocated; outputs are written into
arrays the caller passes. Products are parallel over merge-path chunks
(``partition.py``), so a few very long rows never leave a thread idle.
"""

import numpy as np
from numba import njit, prange

from .csr_simd import TILE_BYTES, row_tile, row_tile_masked
from .intrinsics import no_fence, prefetch, prefetch_row, store, store_fence, store_streaming
from .twins import twin

# Loop counters and gathered indices are cast to unsigned: Numba must otherwise
# emit a negative-index wraparound test on every access, which costs ~40% of the
# SpMV time. Validation has already proved every index non-negative and in range.
U = np.uint64

#: How many stored entries ahead the products prefetch the gathered operand
#: (0 turns prefetching off). Random gathers are latency-bound: keeping this
#: many misses in flight per thread lifts SpMV and above all SpMM towards the
#: memory bandwidth. On matrices whose column indices stay near the diagonal
#: (stencils, bands) the hardware prefetcher does this already and the extra
#: instructions only cost, so the caller passes 0 there.
PREFETCH_DISTANCE = 32
#: The same for SpMM, where every entry gathers a whole row of X (two or more lines).
SPMM_PREFETCH_DISTANCE = 16

# ---------------------------------------------------------------------------
# Products with dense operands
# ---------------------------------------------------------------------------


#: Rows shorter than this go through two partial sums instead of four.
SHORT_ROW = 8

#: How the SpMV kernels write y and end a chunk: plain stores here; their
#: ``_stream`` twins bind ``store_streaming`` and ``store_fence`` instead.
_store_y = store
_fence = no_fence


@njit(cache=True, nogil=True, inline="always")
def _row_dot(indices, data, x, lo, hi, zero, ahead, last):
    """sum over entries lo..hi-1 of data[k] * x[indices[k]].

    Interleaved partial sums: a single running sum makes every entry wait for
    the previous addition (4 cycles), which bounds SpMV on rows of more than
    a few entries long before memory does. Rows of fewer than SHORT_ROW entries
    take two partial sums (fewer instructions: 18% faster single-threaded on the
    5-point Laplacian), longer rows four. The order of additions is fixed by
    ``lo`` and ``hi`` alone, so results stay bitwise repeatable.
    """
    # One exit only: with an early return, Numba no longer prunes the reference
    # counting of the array arguments of this inlined function, and the serial
    # twin then pays an atomic increment and decrement per row (4x slower).
    k = lo
    a0 = zero
    a1 = zero
    a2 = zero
    a3 = zero
    if hi - lo < U(SHORT_ROW):
        while k + U(2) <= hi:
            if k < last:
                prefetch(x, U(indices[k + ahead]))
                prefetch(x, U(indices[k + ahead + U(1)]))
            a0 += data[k] * x[U(indices[k])]
            a1 += data[k + U(1)] * x[U(indices[k + U(1)])]
            k += U(2)
    else:
        while k + U(4) <= hi:
            if k < last:
                prefetch(x, U(indices[k + ahead]))
                prefetch(x, U(indices[k + ahead + U(1)]))
                prefetch(x, U(indices[k + ahead + U(2)]))
                prefetch(x, U(indices[k + ahead + U(3)]))
            a0 += data[k] * x[U(indices[k])]
            a1 += data[k + U(1)] * x[U(indices[k + U(1)])]
            a2 += data[k + U(2)] * x[U(indices[k + U(2)])]
            a3 += data[k + U(3)] * x[U(indices[k + U(3)])]
            k += U(4)
    while k < hi:
        a0 += data[k] * x[U(indices[k])]
        k += U(1)
    return (a0 + a1) + (a2 + a3)


@njit(parallel=True, cache=True, nogil=True)
def spmv(indptr, indices, data, x, y, rows, nzs, carry, distance, zero):
    """y = A @ x over merge-path chunks ``(rows, nzs)``.

    ``carry`` (one slot per chunk, of the accumulator dtype ``zero`` is typed in)
    holds the partial sum of the row a chunk leaves unfinished; the sequential
    fix-up at the end adds the carries in chunk order, so the result does not
    depend on thread scheduling.
    """
    n_chunks = rows.size - 1
    m = y.size
    ahead = U(distance)
    # Prefetching reads indices[k + ahead + 3]; stop before that leaves the array.
    last = U(indices.size - distance - 3) if 0 < distance and distance + 3 < indices.size else U(0)
    for c in prange(n_chunks):
        r = rows[c]
        r_end = rows[c + 1]
        k = nzs[c]
        while r < r_end:
            stop = indptr[r + 1]
            _store_y(y, r, _row_dot(indices, data, x, U(k), U(stop), zero, ahead, last))
            k = stop
            r += 1
        carry[c] = _row_dot(indices, data, x, U(k), U(nzs[c + 1]), zero, ahead, last)
        _fence()
    for c in range(n_chunks):
        r = rows[c + 1]
        if r < m:
            y[r] += carry[c]


@njit(parallel=True, cache=True, nogil=True)
def spmv_short_rows(indptr, indices, data, x, y, rows, nzs, carry, zero):
    """``spmv`` for matrices of short rows (fewer than SHORT_ROW entries on
    average) with gathers near the diagonal (stencils): each row in two partial
    sums (even and odd entries, the last odd one into the first), without the
    prefetch tests and the row-length dispatch of ``_row_dot``. On the 5-point
    Laplacian (1M rows) on a Zen 3 it runs in about 0.75x the time of ``spmv``
    (2 threads: 3.5-4.1 ms against 4.8-5.1; one thread, in cache: 11 cycles per
    row against 17).

    The row loop is written out here, not in an inlined helper: with one, the
    serial twin paid reference counting on every row (4x slower), and a single
    loop that also sums the carry was 15% slower in parallel.
    """
    n_chunks = rows.size - 1
    m = y.size
    for c in prange(n_chunks):
        r = rows[c]
        r_end = rows[c + 1]
        k = U(nzs[c])
        while r < r_end:
            stop = U(indptr[r + 1])
            a0 = zero
            a1 = zero
            while k + U(1) < stop:
                a0 += data[k] * x[U(indices[k])]
                a1 += data[k + U(1)] * x[U(indices[k + U(1)])]
                k += U(2)
            if k < stop:
                a0 += data[k] * x[U(indices[k])]
                k += U(1)
            _store_y(y, r, a0 + a1)
            r += 1
        # The start of the row that the next chunk finishes, summed the same way.
        stop = U(nzs[c + 1])
        a0 = zero
        a1 = zero
        while k + U(1) < stop:
            a0 += data[k] * x[U(indices[k])]
            a1 += data[k + U(1)] * x[U(indices[k + U(1)])]
            k += U(2)
        if k < stop:
            a0 += data[k] * x[U(indices[k])]
        carry[c] = a0 + a1
        _fence()
    for c in range(n_chunks):
        r = rows[c + 1]
        if r < m:
            y[r] += carry[c]


#: Entries of a row processed per pass over the column blocks of SpMM: the rows
#: of X they gather (64 x k values) stay in L1/L2 between the passes.
SPMM_SEGMENT = 64


@njit(cache=True, nogil=True, inline="always")
def _row_times_dense(indices, data, X, lo, hi, out, out_row, zero, ahead, last):
    """out[out_row, :] = sum over entries lo..hi-1 of data[k] * X[indices[k], :].

    Columns go in blocks of eight held in scalar accumulators (registers), so
    each entry costs eight multiply-adds on values already in registers rather
    than loads and stores of an accumulator array; leftover columns go one by
    one. Long rows are cut into segments of SPMM_SEGMENT entries so that the
    gathered rows of X are still in cache for the second and later column
    blocks. The first block prefetches the rows of X needed ``ahead`` entries later.
    """
    K = X.shape[1]
    tail = U(K - 1)
    seg_lo = lo
    first = True
    while first or seg_lo < hi:
        seg_hi = min(seg_lo + U(SPMM_SEGMENT), hi)
        jb = 0
        while jb + 8 <= K:
            j = U(jb)
            if first:
                a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = zero
            else:
                a0 = out[out_row, j]
                a1 = out[out_row, j + U(1)]
                a2 = out[out_row, j + U(2)]
                a3 = out[out_row, j + U(3)]
                a4 = out[out_row, j + U(4)]
                a5 = out[out_row, j + U(5)]
                a6 = out[out_row, j + U(6)]
                a7 = out[out_row, j + U(7)]
            for k in range(seg_lo, seg_hi):
                if jb == 0 and k < last:
                    future = U(indices[k + ahead])
                    prefetch_row(X, future, U(0))
                    prefetch_row(X, future, tail)
                v = data[k]
                c = U(indices[k])
                a0 += v * X[c, j]
                a1 += v * X[c, j + U(1)]
                a2 += v * X[c, j + U(2)]
                a3 += v * X[c, j + U(3)]
                a4 += v * X[c, j + U(4)]
                a5 += v * X[c, j + U(5)]
                a6 += v * X[c, j + U(6)]
                a7 += v * X[c, j + U(7)]
            out[out_row, j] = a0
            out[out_row, j + U(1)] = a1
            out[out_row, j + U(2)] = a2
            out[out_row, j + U(3)] = a3
            out[out_row, j + U(4)] = a4
            out[out_row, j + U(5)] = a5
            out[out_row, j + U(6)] = a6
            out[out_row, j + U(7)] = a7
            jb += 8
        for j in range(U(jb), U(K)):
            a = zero if first else out[out_row, j]
            for k in range(seg_lo, seg_hi):
                if jb == 0 and k < last:
                    prefetch_row(X, U(indices[k + ahead]), U(0))
                a += data[k] * X[U(indices[k]), j]
            out[out_row, j] = a
        first = False
        seg_lo = seg_hi


@njit(parallel=True, cache=True, nogil=True)
def spmm(indptr, indices, data, X, Y, rows, nzs, carry, distance, zero):
    """Y = A @ X for C-contiguous ``X`` (n, k) and ``Y`` (m, k), over merge-path chunks.

    ``carry`` is (n_chunks, k): the partial row each chunk leaves unfinished,
    added in chunk order after the parallel loop. ``zero`` is 0 in Y's dtype.
    """
    n_chunks = rows.size - 1
    m = Y.shape[0]
    K = Y.shape[1]
    ahead = U(distance)
    last = U(indices.size - distance) if 0 < distance < indices.size else U(0)
    for c in prange(n_chunks):
        r = rows[c]
        r_end = rows[c + 1]
        k = nzs[c]
        while r < r_end:
            stop = indptr[r + 1]
            _row_times_dense(indices, data, X, U(k), U(stop), Y, r, zero, ahead, last)
            k = stop
            r += 1
        _row_times_dense(indices, data, X, U(k), U(nzs[c + 1]), carry, c, zero, ahead, last)
    for c in range(n_chunks):
        r = rows[c + 1]
        if r < m:
            for j in range(K):
                Y[r, j] += carry[c, j]


@njit(cache=True, nogil=True)
def _row_times_dense_wide(indices, data, X, lo, hi, out, out_row, ahead, last):
    """``_row_times_dense`` for float32/float64 rows of Y wider than one SIMD row
    tile (``csr_simd``): tile by tile, segment by segment (SPMM_SEGMENT
    entries), as above. The product has ``out.shape[1]`` columns; the rows of
    ``X`` may be padded wider."""
    K = out.shape[1]
    tile = TILE_BYTES // X.itemsize
    seg_lo = lo
    first = True
    while first or seg_lo < hi:
        seg_hi = min(seg_lo + U(SPMM_SEGMENT), hi)
        j0 = 0
        while j0 + tile <= K:
            row_tile(indices, data, X, out, out_row, seg_lo, seg_hi, j0, tile, first, ahead,
                     last)
            j0 += tile
        if j0 < K:
            row_tile_masked(indices, data, X, out, out_row, seg_lo, seg_hi, j0, K - j0, first,
                            ahead, last)
        first = False
        seg_lo = seg_hi


@njit(parallel=True, cache=True, nogil=True)
def spmm_simd(indptr, indices, data, X, Y, rows, nzs, carry, distance):
    """``spmm`` for float32/float64 ``data``, ``X`` and ``Y`` of one dtype, with the
    SIMD row tiles of ``csr_simd``: a row of Y of up to one tile (16 float64 or
    32 float32 columns) in one pass, wider rows by ``_row_times_dense_wide``.
    The same chunks and fix-up. ``X`` (n, ld) is C-contiguous with ``ld >= k``:
    its first k columns are the operand.

    The tile calls are written out here rather than in an inlined helper: Numba
    does not prune the reference counting of arrays passed through an inlined
    function with branches, and an atomic increment and decrement per row
    cost the serial twin three times its time.
    """
    n_chunks = rows.size - 1
    m = Y.shape[0]
    K = Y.shape[1]
    tile = TILE_BYTES // X.itemsize
    ahead = U(distance)
    # The prefetch of a pair of entries reads indices[k + ahead + 1].
    last = U(indices.size - distance - 1) if 0 < distance and distance + 1 < indices.size \
        else U(0)
    for c in prange(n_chunks):
        r = rows[c]
        r_end = rows[c + 1]
        k = nzs[c]
        k_end = nzs[c + 1]
        # Rows r .. r_end - 1 complete in this chunk, then the partial row into
        # carry[c] (out = carry, row c): one loop over both.
        while r <= r_end:
            stop = indptr[r + 1] if r < r_end else k_end
            out = Y if r < r_end else carry
            i = np.int64(r) if r < r_end else np.int64(c)
            if K == tile:
                row_tile(indices, data, X, out, i, U(k), U(stop), 0, K, True, ahead, last)
            elif K < tile:
                row_tile_masked(indices, data, X, out, i, U(k), U(stop), 0, K, True, ahead,
                                last)
            else:
                _row_times_dense_wide(indices, data, X, U(k), U(stop), out, i, ahead, last)
            k = stop
            r += 1
    for c in range(n_chunks):
        r = rows[c + 1]
        if r < m:
            for j in range(K):
                Y[r, j] += carry[c, j]


@njit(parallel=True, cache=True, nogil=True)
def rmatvec(indptr, indices, data, x, lanes, rows, nzs):
    """lanes[l] = the part of A.T @ x from merge-path chunk ``l`` (scatter).

    One lane per chunk, so no two threads write the same output; the caller sums
    the lanes in order. ``lanes`` must be zeroed.
    """
    n_chunks = rows.size - 1
    for c in prange(n_chunks):
        out = lanes[c]
        r = rows[c]
        k = nzs[c]
        k_end = nzs[c + 1]
        while k < k_end:
            stop = min(indptr[r + 1], k_end)
            xr = x[r]
            for kk in range(U(k), U(stop)):
                out[U(indices[kk])] += data[kk] * xr
            k = max(stop, k)
            r += 1


@njit(parallel=True, cache=True, nogil=True)
def lane_windows(indptr, indices, rows, nzs, lo, hi):
    """lo[c], hi[c] = the smallest and one past the largest column that chunk ``c``
    of a transposed product writes (``lo = hi = 0`` for a chunk with no entries)."""
    n_chunks = rows.size - 1
    for c in prange(n_chunks):
        a = nzs[c]
        b = nzs[c + 1]
        if b <= a:
            lo[c] = 0
            hi[c] = 0
            continue
        first = indices[a]
        last = indices[a]
        for kk in range(U(a), U(b)):
            j = indices[kk]
            if j < first:
                first = j
            if j > last:
                last = j
        lo[c] = first
        hi[c] = last + 1


@njit(parallel=True, cache=True, nogil=True)
def rmatvec_windows(indptr, indices, data, x, buf, offsets, lo, rows, nzs):
    """The part of A.T @ x of chunk ``c`` into ``buf[offsets[c]:offsets[c + 1]]``,
    which holds columns ``lo[c]:`` of it (its window); ``buf`` zeroed."""
    n_chunks = rows.size - 1
    for c in prange(n_chunks):
        base = offsets[c] - lo[c]
        r = rows[c]
        k = nzs[c]
        k_end = nzs[c + 1]
        while k < k_end:
            stop = min(indptr[r + 1], k_end)
            xr = x[r]
            for kk in range(U(k), U(stop)):
                buf[base + indices[kk]] += data[kk] * xr
            k = max(stop, k)
            r += 1


@njit(parallel=True, cache=True, nogil=True)
def sum_lane_windows(buf, offsets, lo, hi, out, zero):
    """out = the windows added in chunk order (zero where none writes): window by
    window, each one's columns in parallel. Bit for bit what ``sum_lanes`` gives
    on full-width lanes: a lane outside its window holds +0.0, and a sum started
    at +0.0 is never -0.0, so the skipped additions change nothing."""
    n = out.shape[0]
    for i in prange(n):
        out[i] = zero
    for l in range(lo.shape[0]):
        base = offsets[l] - lo[l]
        for i in prange(lo[l], hi[l]):
            out[i] += buf[base + i]


@njit(parallel=True, cache=True, nogil=True)
def rmatmat(indptr, indices, data, X, lanes, rows, nzs):
    """lanes[l] = the part of A.T @ X from chunk ``l``; ``X`` (m, k) C-contiguous,
    ``lanes`` (n_chunks, n, k) zeroed."""
    n_chunks = rows.size - 1
    K = X.shape[1]
    for c in prange(n_chunks):
        out = lanes[c]
        r = rows[c]
        k = nzs[c]
        k_end = nzs[c + 1]
        while k < k_end:
            stop = min(indptr[r + 1], k_end)
            xrow = X[r]
            for kk in range(U(k), U(stop)):
                v = data[kk]
                orow = out[U(indices[kk])]
                for j in range(U(K)):
                    orow[j] += v * xrow[j]
            k = max(stop, k)
            r += 1


@njit(parallel=True, cache=True, nogil=True)
def sum_lanes(lanes, out):
    """out = lanes[0] + lanes[1] + ... in lane order (parallel over the output)."""
    n = out.shape[0]
    L = lanes.shape[0]
    for i in prange(n):
        s = lanes[0, i]
        for l in range(1, L):
            s += lanes[l, i]
        out[i] = s


@njit(parallel=True, cache=True, nogil=True)
def scatter_add_dense(indptr, indices, data, out):
    """out[i, indices[k]] += data[k]: densify (into zeros) or add to a dense array."""
    m = indptr.size - 1
    for i in prange(m):
        for k in range(U(indptr[i]), U(indptr[i + 1])):
            out[i, U(indices[k])] += data[k]


@njit(parallel=True, cache=True, nogil=True)
def scale_by_dense(indptr, indices, data, D, out):
    """out[k] = data[k] * D[i, indices[k]] for every stored entry (i, indices[k])."""
    m = indptr.size - 1
    for i in prange(m):
        for k in range(U(indptr[i]), U(indptr[i + 1])):
            out[k] = data[k] * D[i, U(indices[k])]


# ---------------------------------------------------------------------------
# Reductions and structure
# ---------------------------------------------------------------------------


@njit(parallel=True, cache=True, nogil=True)
def row_sums(indptr, data, out, zero):
    m = indptr.size - 1
    for i in prange(m):
        s = zero
        for k in range(U(indptr[i]), U(indptr[i + 1])):
            s += data[k]
        out[i] = s


@njit(parallel=True, cache=True, nogil=True)
def diagonal(indptr, indices, data, offset, out, zero):
    """out[t] = A[i, i + offset] (duplicates summed) for the t-th element of the diagonal."""
    first_row = max(0, -offset)
    for t in prange(out.size):
        i = first_row + t
        j = i + offset
        s = zero
        for k in range(indptr[i], indptr[i + 1]):
            if indices[k] == j:
                s += data[k]
        out[t] = s


@njit(cache=True, nogil=True)
def transpose(n_cols, indptr, indices, data, t_indptr, t_indices, t_data):
    """CSR of A.T (counting sort by column). Rows of the result come out sorted."""
    m = indptr.size - 1
    nnz = indptr[m]
    t_indptr[:] = 0
    for k in range(nnz):
        t_indptr[indices[k] + 1] += 1
    for j in range(n_cols):
        t_indptr[j + 1] += t_indptr[j]
    nxt = t_indptr[:-1].copy()
    for i in range(m):
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            p = nxt[j]
            t_indices[p] = i
            t_data[p] = data[k]
            nxt[j] = p + 1


@njit(parallel=True, cache=True, nogil=True)
def is_canonical(indptr, indices):
    """True when every row's column indices are strictly increasing (sorted, no duplicates)."""
    m = indptr.size - 1
    bad = 0
    for i in prange(m):
        for k in range(indptr[i] + 1, indptr[i + 1]):
            if indices[k] <= indices[k - 1]:
                bad += 1
                break
    return bad == 0


@njit(parallel=True, cache=True, nogil=True)
def count_nonzero_rows(indptr, data, counts):
    """counts[i + 1] = number of entries of row i whose value is not zero."""
    m = indptr.size - 1
    for i in prange(m):
        c = 0
        for k in range(indptr[i], indptr[i + 1]):
            if data[k] != 0:
                c += 1
        counts[i + 1] = c


@njit(parallel=True, cache=True, nogil=True)
def drop_zeros(indptr, indices, data, new_indptr, new_indices, new_data):
    """Copy the entries whose value is not zero into the arrays of ``new_indptr``."""
    m = indptr.size - 1
    for i in prange(m):
        p = new_indptr[i]
        for k in range(indptr[i], indptr[i + 1]):
            if data[k] != 0:
                new_indices[p] = indices[k]
                new_data[p] = data[k]
                p += 1


# ---------------------------------------------------------------------------
# Serial twins of the products, for work too small to repay a parallel launch
# (tens of microseconds of thread wake-up). Same code; a prange compiled without
# parallel=True is a plain range. The twin gets its own name so that Numba's
# on-disk cache keeps the two compilations apart.
# ---------------------------------------------------------------------------


def _serial_twin(dispatcher):
    name = dispatcher.py_func.__name__
    return twin(dispatcher, name + "_serial", dict(cache=True, nogil=True),
                doc=f"Serial version of ``{name}``.")


spmv_serial = _serial_twin(spmv)
spmv_short_rows_serial = _serial_twin(spmv_short_rows)


# ---------------------------------------------------------------------------
# Streaming twins of the SpMV kernels, for outputs far larger than the caches:
# y is written with non-temporal stores (no read of each line before it is
# written, nothing evicted for it), and each chunk ends with a store fence so
# that the fix-up on the calling thread sees every value.
# ---------------------------------------------------------------------------


def _stream_twin(dispatcher):
    name = dispatcher.py_func.__name__
    return twin(dispatcher, name + "_stream", dict(parallel=True, cache=True, nogil=True),
                doc=f"``{name}`` writing y with non-temporal stores.",
                _store_y=store_streaming, _fence=store_fence)


spmv_stream = _stream_twin(spmv)
spmv_short_rows_stream = _stream_twin(spmv_short_rows)
spmm_serial = _serial_twin(spmm)
spmm_simd_serial = _serial_twin(spmm_simd)
rmatvec_serial = _serial_twin(rmatvec)
scatter_add_dense_serial = _serial_twin(scatter_add_dense)
