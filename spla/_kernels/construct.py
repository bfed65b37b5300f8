"""Numba kernels of the sparse constructors (``spla.hstack``, ``kron``, ``tril``, ...).

Every kernel builds CSR storage in two passes over raw arrays: a count pass
writes the length of each output row into ``indptr[1:]``, the caller turns the
counts into row pointers (a prefix sum) and allocates the output once, and a
fill pass writes every row independently. Rows are the unit of parallel work
(``prange``); each kernel has a serial twin (``*_serial``) for inputs too small
to repay waking the threads. The caller validates shapes, dtypes and index
ranges first, so the kernels index without bounds checks.

Blocks of ``block_count``/``block_fill`` arrive as ``numba.typed.List`` of arrays
of one dtype each (the caller casts), so one compilation serves any number of
blocks; small grids go through ``block_stack_flat`` over the blocks concatenated
(building typed lists costs more than the work there).
"""

import numpy as np
from numba import njit, prange

from .twins import twin

# ---------------------------------------------------------------------------
# Blocks: hstack, vstack, block_array, block_diag
# ---------------------------------------------------------------------------


#: Rows per task of the block kernels. A task reads each block's arrays out of
#: the typed lists once (reading an array out of a list takes a reference: an
#: atomic on a counter the other threads touch too, far too slow per row), and
#: its output rows (about 1,024 x 20 entries x 12 bytes) stay in L2 while the
#: blocks of a block row are written into them one after the other.
BLOCK_TASK_ROWS = 1024


@njit(cache=True, nogil=True, inline="always")
def _block_row(row_off, r):
    """The block row that output row ``r`` falls in (``row_off`` is non-decreasing,
    ``row_off[0] == 0``; empty block rows are skipped)."""
    lo = 0
    hi = row_off.size - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if row_off[mid] <= r:
            lo = mid
        else:
            hi = mid
    return lo


@njit(parallel=True, cache=True, nogil=True)
def block_count(row_off, brow_start, indptrs, out_indptr):
    """Row lengths of a grid of CSR blocks into ``out_indptr[1:]``.

    Block row ``i`` covers output rows ``row_off[i]:row_off[i+1]`` and holds the
    blocks ``brow_start[i]:brow_start[i+1]`` of the flat lists (left to right).
    """
    m = out_indptr.size - 1
    out_indptr[0] = 0
    ntasks = (m + BLOCK_TASK_ROWS - 1) // BLOCK_TASK_ROWS
    for t in prange(ntasks):
        r0 = t * BLOCK_TASK_ROWS
        r1 = min(m, r0 + BLOCK_TASK_ROWS)
        for r in range(r0, r1):
            out_indptr[r + 1] = 0
        i = _block_row(row_off, r0)
        r = r0
        while r < r1:
            while row_off[i + 1] <= r:
                i += 1
            seg_end = min(r1, row_off[i + 1])
            base = row_off[i]
            for b in range(brow_start[i], brow_start[i + 1]):
                p = indptrs[b]
                for rr in range(r, seg_end):
                    out_indptr[rr + 1] += p[rr - base + 1] - p[rr - base]
            r = seg_end


@njit(parallel=True, cache=True, nogil=True)
def block_fill(row_off, brow_start, col_off, indptrs, indicess, datas,
               out_indptr, out_indices, out_data):
    """Copy every block's rows into their place in the output, shifting column
    indices by the block's ``col_off``."""
    m = out_indptr.size - 1
    ntasks = (m + BLOCK_TASK_ROWS - 1) // BLOCK_TASK_ROWS
    for t in prange(ntasks):
        r0 = t * BLOCK_TASK_ROWS
        r1 = min(m, r0 + BLOCK_TASK_ROWS)
        cursor = out_indptr[r0:r1].copy()
        i = _block_row(row_off, r0)
        r = r0
        while r < r1:
            while row_off[i + 1] <= r:
                i += 1
            seg_end = min(r1, row_off[i + 1])
            base = row_off[i]
            if brow_start[i + 1] - brow_start[i] == 1:
                # One block across: its rows land contiguously, copy them in one run.
                b = brow_start[i]
                p = indptrs[b]
                ind = indicess[b]
                dat = datas[b]
                shift = col_off[b]
                lo = p[r - base]
                hi = p[seg_end - base]
                pos = cursor[r - r0]
                for k in range(hi - lo):
                    out_indices[pos + k] = ind[lo + k] + shift
                    out_data[pos + k] = dat[lo + k]
                r = seg_end
                continue
            for b in range(brow_start[i], brow_start[i + 1]):
                p = indptrs[b]
                ind = indicess[b]
                dat = datas[b]
                shift = col_off[b]
                for rr in range(r, seg_end):
                    pos = cursor[rr - r0]
                    for k in range(p[rr - base], p[rr - base + 1]):
                        out_indices[pos] = ind[k] + shift
                        out_data[pos] = dat[k]
                        pos += 1
                    cursor[rr - r0] = pos
            r = seg_end


@njit(cache=True, nogil=True)
def block_stack_flat(row_off, brow_start, col_off, ptr_off, nz_off, indptr_cat, indices_cat,
                     data_cat, out_indptr, out_indices, out_data):
    """``block_count`` and ``block_fill`` in one serial pass, for small grids whose
    blocks come concatenated (block ``b``'s ``indptr`` starts at ``ptr_off[b]`` of
    ``indptr_cat``, its entries at ``nz_off[b]``): building typed lists costs more
    than the whole work there. ``out_indptr`` must hold the row pointers already
    when ``out_indices`` is not empty; with empty outputs only the counts are
    written (into ``out_indptr[1:]``)."""
    m = out_indptr.size - 1
    count_only = out_indices.size == 0
    if count_only:
        out_indptr[:] = 0
    for i in range(row_off.size - 1):
        for r in range(row_off[i], row_off[i + 1]):
            lr = r - row_off[i]
            pos = out_indptr[r]
            for b in range(brow_start[i], brow_start[i + 1]):
                q = ptr_off[b] + lr
                lo = indptr_cat[q]
                hi = indptr_cat[q + 1]
                if count_only:
                    out_indptr[r + 1] += hi - lo
                    continue
                base = nz_off[b]
                shift = col_off[b]
                for k in range(lo, hi):
                    out_indices[pos] = indices_cat[base + k] + shift
                    out_data[pos] = data_cat[base + k]
                    pos += 1
    return m


# ---------------------------------------------------------------------------
# Triangles: tril, triu
# ---------------------------------------------------------------------------


@njit(cache=True, nogil=True, inline="always")
def _keep(row, col, k, lower):
    if lower:
        return col - row <= k
    return col - row >= k


@njit(parallel=True, cache=True, nogil=True)
def triangle_count(indptr, indices, k, lower, out_indptr):
    """Entries of each row on or below (``lower``) / on or above diagonal ``k``."""
    m = indptr.size - 1
    out_indptr[0] = 0
    for r in prange(m):
        c = 0
        for p in range(indptr[r], indptr[r + 1]):
            if _keep(r, np.int64(indices[p]), k, lower):
                c += 1
        out_indptr[r + 1] = c


@njit(parallel=True, cache=True, nogil=True)
def triangle_fill(indptr, indices, data, k, lower, out_indptr, out_indices, out_data):
    m = indptr.size - 1
    for r in prange(m):
        pos = out_indptr[r]
        for p in range(indptr[r], indptr[r + 1]):
            col = indices[p]
            if _keep(r, np.int64(col), k, lower):
                out_indices[pos] = col
                out_data[pos] = data[p]
                pos += 1


# ---------------------------------------------------------------------------
# Kronecker product
# ---------------------------------------------------------------------------


@njit(parallel=True, cache=True, nogil=True)
def kron_count(a_indptr, b_indptr, out_indptr):
    """Row ``i * mb + j`` of ``kron(A, B)`` holds ``len(A[i]) * len(B[j])`` entries."""
    mb = b_indptr.size - 1
    m = out_indptr.size - 1
    out_indptr[0] = 0
    for r in prange(m):
        i = r // mb
        j = r - i * mb
        out_indptr[r + 1] = (a_indptr[i + 1] - a_indptr[i]) * (b_indptr[j + 1] - b_indptr[j])


@njit(parallel=True, cache=True, nogil=True)
def kron_fill(a_indptr, a_indices, a_data, b_indptr, b_indices, b_data, nb,
              out_indptr, out_indices, out_data):
    """Entry (p, q) of rows i of A and j of B lands in column ``a_col * nb + b_col``
    with value ``a * b``; sorted rows of A and B give sorted output rows."""
    mb = b_indptr.size - 1
    m = out_indptr.size - 1
    for r in prange(m):
        i = r // mb
        j = r - i * mb
        pos = out_indptr[r]
        blo = b_indptr[j]
        bhi = b_indptr[j + 1]
        for p in range(a_indptr[i], a_indptr[i + 1]):
            base = np.int64(a_indices[p]) * nb
            av = a_data[p]
            for q in range(blo, bhi):
                out_indices[pos] = base + b_indices[q]
                out_data[pos] = av * b_data[q]
                pos += 1


@njit(cache=True, nogil=True, inline="always")
def _kronsum_row(a_indptr, a_indices, a_data, b_indptr, b_indices, b_data, m, r,
                 out_indices, out_data, pos, write):
    """Row ``r = i * m + a`` of ``kron(I_n, A) + kron(B, I_m)``: A's row ``a``
    shifted by ``i * m`` merged with B's row ``i`` spread as ``j * m + a``
    (canonical rows in, canonical row out; a column in both is summed)."""
    i = r // m
    a = r - i * m
    p = a_indptr[a]
    p_end = a_indptr[a + 1]
    q = b_indptr[i]
    q_end = b_indptr[i + 1]
    base = np.int64(i) * m
    while p < p_end or q < q_end:
        ca = base + a_indices[p] if p < p_end else np.int64(-1)
        cb = np.int64(b_indices[q]) * m + a if q < q_end else np.int64(-1)
        if q >= q_end or (p < p_end and ca < cb):
            if write:
                out_indices[pos] = ca
                out_data[pos] = a_data[p]
            p += 1
        elif p >= p_end or cb < ca:
            if write:
                out_indices[pos] = cb
                out_data[pos] = b_data[q]
            q += 1
        else:
            if write:
                out_indices[pos] = ca
                out_data[pos] = a_data[p] + b_data[q]
            p += 1
            q += 1
        pos += 1
    return pos


@njit(parallel=True, cache=True, nogil=True)
def kronsum_count(a_indptr, a_indices, a_data, b_indptr, b_indices, b_data, m,
                  out_indices, out_data, out_indptr):
    """Row lengths of the Kronecker sum into ``out_indptr[1:]``."""
    rows = out_indptr.size - 1
    out_indptr[0] = 0
    for r in prange(rows):
        out_indptr[r + 1] = _kronsum_row(a_indptr, a_indices, a_data, b_indptr, b_indices,
                                         b_data, m, r, out_indices, out_data, 0, False)


@njit(parallel=True, cache=True, nogil=True)
def kronsum_fill(a_indptr, a_indices, a_data, b_indptr, b_indices, b_data, m,
                 out_indptr, out_indices, out_data):
    rows = out_indptr.size - 1
    for r in prange(rows):
        _kronsum_row(a_indptr, a_indices, a_data, b_indptr, b_indices, b_data, m, r,
                     out_indices, out_data, out_indptr[r], True)


# ---------------------------------------------------------------------------
# Random arrays: the columns of each row, drawn row after row, are sorted; a
# column drawn twice in a row is a repeat, dropped and drawn again elsewhere.
# ---------------------------------------------------------------------------


#: Rows longer than this are sorted with the library sort instead of insertion.
_INSERTION_MAX = 32


@njit(parallel=True, cache=True, nogil=True)
def sort_rows_count_repeats(indptr, cols, repeats):
    """Sort every row's columns; ``repeats[r]``: entries of row ``r`` equal to the
    one before them (left in place: the rows stay sorted for ``contains``)."""
    m = indptr.size - 1
    for r in prange(m):
        lo = indptr[r]
        hi = indptr[r + 1]
        if hi - lo <= _INSERTION_MAX:
            for p in range(lo + 1, hi):
                c = cols[p]
                q = p - 1
                while q >= lo and cols[q] > c:
                    cols[q + 1] = cols[q]
                    q -= 1
                cols[q + 1] = c
        else:
            cols[lo:hi].sort()
        rep = 0
        for p in range(lo + 1, hi):
            if cols[p] == cols[p - 1]:
                rep += 1
        repeats[r] = rep


@njit(parallel=True, cache=True, nogil=True)
def contains(indptr, cols, rows_q, cols_q, out):
    """``out[t]``: whether (rows_q[t], cols_q[t]) is stored (rows sorted, binary search)."""
    for t in prange(rows_q.size):
        r = rows_q[t]
        c = cols_q[t]
        lo = indptr[r]
        hi = indptr[r + 1]
        while lo < hi:
            mid = (lo + hi) // 2
            if cols[mid] < c:
                lo = mid + 1
            else:
                hi = mid
        out[t] = lo < indptr[r + 1] and cols[lo] == c


@njit(parallel=True, cache=True, nogil=True)
def merge_rows(indptr, cols, x_indptr, x_cols, new_indptr, new_cols):
    """Merge sorted rows (repeats in ``cols`` dropped) with sorted rows of
    positions they do not hold."""
    m = indptr.size - 1
    for r in prange(m):
        pos = new_indptr[r]
        p = indptr[r]
        p_end = indptr[r + 1]
        q = x_indptr[r]
        q_end = x_indptr[r + 1]
        while p < p_end or q < q_end:
            if p > indptr[r] and p < p_end and cols[p] == cols[p - 1]:
                p += 1
                continue
            if q >= q_end or (p < p_end and cols[p] < x_cols[q]):
                new_cols[pos] = cols[p]
                p += 1
            else:
                new_cols[pos] = x_cols[q]
                q += 1
            pos += 1


@njit(parallel=True, cache=True, nogil=True)
def gather(values, order, out):
    """``out[p] = values[order[p]]``."""
    for p in prange(order.size):
        out[p] = values[order[p]]


# ---------------------------------------------------------------------------
# Serial twins, for inputs too small to repay a parallel launch.
# ---------------------------------------------------------------------------


def _serial(dispatcher):
    name = dispatcher.py_func.__name__
    return twin(dispatcher, name + "_serial", dict(cache=True, nogil=True),
                doc=f"Serial version of ``{name}``.")


triangle_count_serial = _serial(triangle_count)
triangle_fill_serial = _serial(triangle_fill)
kron_count_serial = _serial(kron_count)
kron_fill_serial = _serial(kron_fill)
kronsum_count_serial = _serial(kronsum_count)
kronsum_fill_serial = _serial(kronsum_fill)
sort_rows_count_repeats_serial = _serial(sort_rows_count_repeats)
contains_serial = _serial(contains)
merge_rows_serial = _serial(merge_rows)
gather_serial = _serial(gather)
