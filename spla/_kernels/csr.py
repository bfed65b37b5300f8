"""Numba kernels for compressed sparse row (CSR) arrays.

Every function takes raw arrays (``indptr``, ``indices``, ``data`` and dense
operands) that the caller has validated and allocated; outputs are written into
arrays the caller passes. Products are parallel over merge-path chunks
(``partition.py``), so a few very long rows never leave a thread idle.
"""

import numpy as np
from numba import njit, prange

from .intrinsics import prefetch

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
PREFETCH_DISTANCE = 24
#: The same for SpMM, where every entry gathers a whole row of X (two or more lines).
SPMM_PREFETCH_DISTANCE = 12

# ---------------------------------------------------------------------------
# Products with dense operands
# ---------------------------------------------------------------------------


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
    last = U(indices.size - distance) if 0 < distance < indices.size else U(0)
    for c in prange(n_chunks):
        r = rows[c]
        r_end = rows[c + 1]
        k = nzs[c]
        while r < r_end:
            acc = zero
            stop = indptr[r + 1]
            for kk in range(U(k), U(stop)):
                if kk < last:
                    prefetch(x, U(indices[kk + ahead]))
                acc += data[kk] * x[U(indices[kk])]
            y[r] = acc
            k = stop
            r += 1
        acc = zero
        for kk in range(U(k), U(nzs[c + 1])):
            acc += data[kk] * x[U(indices[kk])]
        carry[c] = acc
    for c in range(n_chunks):
        r = rows[c + 1]
        if r < m:
            y[r] += carry[c]


@njit(parallel=True, cache=True, nogil=True)
def spmm(indptr, indices, data, X, Y, rows, nzs, carry, distance):
    """Y = A @ X for C-contiguous ``X`` (n, k) and ``Y`` (m, k).

    The inner loop runs over the k dense columns, contiguous in both ``X`` and the
    accumulator, so it compiles to SIMD; the accumulator is one buffer per chunk,
    not one per row. ``carry`` is (n_chunks, k).
    """
    n_chunks = rows.size - 1
    m = Y.shape[0]
    K = Y.shape[1]
    ahead = U(distance)
    last = U(indices.size - distance) if 0 < distance < indices.size else U(0)
    # Offset (in elements) of the last cache line of a row of X, prefetched too.
    tail = U(max(K - 1, 0))
    for c in prange(n_chunks):
        acc = np.empty(K, dtype=Y.dtype)
        r = rows[c]
        r_end = rows[c + 1]
        k = nzs[c]
        while r < r_end:
            acc[:] = 0
            stop = indptr[r + 1]
            for kk in range(U(k), U(stop)):
                if kk < last:
                    future = X[U(indices[kk + ahead])]
                    prefetch(future, U(0))
                    prefetch(future, tail)
                v = data[kk]
                xrow = X[U(indices[kk])]
                for j in range(U(K)):
                    acc[j] += v * xrow[j]
            Y[r, :] = acc
            k = stop
            r += 1
        acc[:] = 0
        for kk in range(U(k), U(nzs[c + 1])):
            v = data[kk]
            xrow = X[U(indices[kk])]
            for j in range(U(K)):
                acc[j] += v * xrow[j]
        carry[c, :] = acc
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
# Sparse-sparse operations: row by row with one dense workspace per block
# (Gustavson). Each runs twice: a symbolic pass counts the entries of every
# output row, the caller turns the counts into indptr, and a numeric pass fills
# the rows, sorted.
# ---------------------------------------------------------------------------


@njit(parallel=True, cache=True, nogil=True)
def spgemm_symbolic(a_indptr, a_indices, b_indptr, b_indices, n_cols, blocks, counts):
    """counts[i + 1] = number of distinct columns of row i of A @ B."""
    for blk in prange(blocks.size - 1):
        marker = np.full(n_cols, -1, dtype=np.int64)
        for i in range(blocks[blk], blocks[blk + 1]):
            cnt = 0
            for ka in range(a_indptr[i], a_indptr[i + 1]):
                j = a_indices[ka]
                for kb in range(b_indptr[j], b_indptr[j + 1]):
                    col = b_indices[kb]
                    if marker[col] != i:
                        marker[col] = i
                        cnt += 1
            counts[i + 1] = cnt


@njit(parallel=True, cache=True, nogil=True)
def spgemm_numeric(a_indptr, a_indices, a_data, b_indptr, b_indices, b_data,
                   n_cols, blocks, c_indptr, c_indices, c_data):
    for blk in prange(blocks.size - 1):
        marker = np.full(n_cols, -1, dtype=np.int64)
        acc = np.zeros(n_cols, dtype=c_data.dtype)
        for i in range(blocks[blk], blocks[blk + 1]):
            start = c_indptr[i]
            pos = start
            for ka in range(a_indptr[i], a_indptr[i + 1]):
                j = a_indices[ka]
                va = a_data[ka]
                for kb in range(b_indptr[j], b_indptr[j + 1]):
                    col = b_indices[kb]
                    if marker[col] != i:
                        marker[col] = i
                        c_indices[pos] = col
                        acc[col] = va * b_data[kb]
                        pos += 1
                    else:
                        acc[col] += va * b_data[kb]
            c_indices[start:pos].sort()
            for p in range(start, pos):
                c_data[p] = acc[c_indices[p]]


@njit(parallel=True, cache=True, nogil=True)
def union_symbolic(a_indptr, a_indices, b_indptr, b_indices, n_cols, blocks, counts):
    """counts[i + 1] = number of distinct columns in row i of A or B."""
    for blk in prange(blocks.size - 1):
        marker = np.full(n_cols, -1, dtype=np.int64)
        for i in range(blocks[blk], blocks[blk + 1]):
            cnt = 0
            for k in range(a_indptr[i], a_indptr[i + 1]):
                col = a_indices[k]
                if marker[col] != i:
                    marker[col] = i
                    cnt += 1
            for k in range(b_indptr[i], b_indptr[i + 1]):
                col = b_indices[k]
                if marker[col] != i:
                    marker[col] = i
                    cnt += 1
            counts[i + 1] = cnt


@njit(parallel=True, cache=True, nogil=True)
def union_numeric(a_indptr, a_indices, a_data, alpha, b_indptr, b_indices, b_data, beta,
                  n_cols, blocks, c_indptr, c_indices, c_data):
    """C = alpha * A + beta * B on the union of the patterns (duplicates summed)."""
    for blk in prange(blocks.size - 1):
        marker = np.full(n_cols, -1, dtype=np.int64)
        acc = np.zeros(n_cols, dtype=c_data.dtype)
        for i in range(blocks[blk], blocks[blk + 1]):
            start = c_indptr[i]
            pos = start
            for k in range(a_indptr[i], a_indptr[i + 1]):
                col = a_indices[k]
                if marker[col] != i:
                    marker[col] = i
                    c_indices[pos] = col
                    acc[col] = alpha * a_data[k]
                    pos += 1
                else:
                    acc[col] += alpha * a_data[k]
            for k in range(b_indptr[i], b_indptr[i + 1]):
                col = b_indices[k]
                if marker[col] != i:
                    marker[col] = i
                    c_indices[pos] = col
                    acc[col] = beta * b_data[k]
                    pos += 1
                else:
                    acc[col] += beta * b_data[k]
            c_indices[start:pos].sort()
            for p in range(start, pos):
                c_data[p] = acc[c_indices[p]]


@njit(parallel=True, cache=True, nogil=True)
def intersection_symbolic(a_indptr, a_indices, b_indptr, b_indices, n_cols, blocks, counts):
    """counts[i + 1] = number of distinct columns present in row i of both A and B."""
    for blk in prange(blocks.size - 1):
        marker = np.full(n_cols, -1, dtype=np.int64)
        for i in range(blocks[blk], blocks[blk + 1]):
            for k in range(a_indptr[i], a_indptr[i + 1]):
                marker[a_indices[k]] = 2 * i
            cnt = 0
            for k in range(b_indptr[i], b_indptr[i + 1]):
                col = b_indices[k]
                if marker[col] == 2 * i:
                    marker[col] = 2 * i + 1
                    cnt += 1
            counts[i + 1] = cnt


@njit(parallel=True, cache=True, nogil=True)
def intersection_numeric(a_indptr, a_indices, a_data, b_indptr, b_indices, b_data,
                         n_cols, blocks, c_indptr, c_indices, c_data):
    """C = A * B elementwise (duplicates in either operand summed first)."""
    for blk in prange(blocks.size - 1):
        marker = np.full(n_cols, -1, dtype=np.int64)
        acc_a = np.zeros(n_cols, dtype=c_data.dtype)
        acc_b = np.zeros(n_cols, dtype=c_data.dtype)
        for i in range(blocks[blk], blocks[blk + 1]):
            for k in range(a_indptr[i], a_indptr[i + 1]):
                col = a_indices[k]
                if marker[col] != 3 * i:
                    marker[col] = 3 * i
                    acc_a[col] = a_data[k]
                else:
                    acc_a[col] += a_data[k]
            start = c_indptr[i]
            pos = start
            for k in range(b_indptr[i], b_indptr[i + 1]):
                col = b_indices[k]
                if marker[col] == 3 * i:
                    marker[col] = 3 * i + 1
                    c_indices[pos] = col
                    acc_b[col] = b_data[k]
                    pos += 1
                elif marker[col] == 3 * i + 1:
                    acc_b[col] += b_data[k]
            c_indices[start:pos].sort()
            for p in range(start, pos):
                col = c_indices[p]
                c_data[p] = acc_a[col] * acc_b[col]
