"""Numba kernels for sparse attention: SDDMM, row softmax and the fused
``softmax(Q K^T * scale on the pattern) V``, for CSR and banded patterns.

Every kernel is parallel over (batch, block of rows); a row's work (its scores,
its softmax, its weighted sum of V) never leaves one thread, so results do not
depend on the number of threads. Scores, maxima, sums and the weighted sum are
accumulated in float64 (complex128 for complex SDDMM). The caller validates shapes
and dtypes and makes ``Q``, ``K``, ``V`` C-contiguous 3-D arrays (batch, rows, d).

Banded patterns use the row-aligned layout of ``_formats/banded.py``: row ``i``
connects to ``i + offsets[d]`` for every ``d`` with ``0 <= i + offsets[d] < n``.

``fastmath`` allows only reassociation and contraction (so that the length-d dot
products vectorise); no-NaN / no-Inf assumptions stay off, since the softmax
handles ``-inf`` logits.
"""

import numpy as np
from numba import njit, prange

U = np.uint64
_FM = {"reassoc", "contract"}

#: Query rows per parallel task.
ROWS = 64


@njit(parallel=True, cache=True, nogil=True, fastmath=_FM)
def sddmm_csr(indptr, indices, Q, K, out, zero):
    """out[k] = Q[i] . K[indices[k]] for every stored entry k of row i."""
    m = indptr.size - 1
    d = Q.shape[1]
    for i in prange(m):
        for p in range(U(indptr[i]), U(indptr[i + 1])):
            j = U(indices[p])
            s = zero
            for t in range(U(d)):
                s += Q[U(i), t] * K[j, t]
            out[p] = s


@njit(parallel=True, cache=True, nogil=True, fastmath=_FM)
def sddmm_banded(offsets, Q, K, out, zero):
    """out[dd, i] = Q[i] . K[i + offsets[dd]] where that column exists; 0 elsewhere."""
    m = Q.shape[0]
    n = K.shape[0]
    d = Q.shape[1]
    nd = offsets.size
    for i in prange(m):
        for dd in range(nd):
            j = i + offsets[dd]
            if j < 0 or j >= n:
                out[U(dd), U(i)] = 0
                continue
            s = zero
            for t in range(U(d)):
                s += Q[U(i), t] * K[U(j), t]
            out[U(dd), U(i)] = s


@njit(parallel=True, cache=True, nogil=True)
def softmax_csr(indptr, data, out):
    """Row-wise softmax of the stored entries (max subtracted). A row with no entries
    has nothing to write; a row whose entries are all -inf gives zeros."""
    m = indptr.size - 1
    for i in prange(m):
        a = indptr[i]
        b = indptr[i + 1]
        if b <= a:
            continue
        mx = -np.inf
        for p in range(U(a), U(b)):
            v = np.float64(data[p])
            if v > mx:
                mx = v
        if mx == -np.inf:
            for p in range(U(a), U(b)):
                out[p] = 0
            continue
        tot = 0.0
        for p in range(U(a), U(b)):
            e = np.exp(np.float64(data[p]) - mx)
            out[p] = e
            tot += e
        for p in range(U(a), U(b)):
            out[p] = out[p] / tot


@njit(parallel=True, cache=True, nogil=True)
def softmax_banded(offsets, data, n, out):
    """Row-wise softmax over the in-matrix positions of a banded array; padding
    gets 0. ``out`` has ``data``'s shape."""
    m = data.shape[1]
    nd = offsets.size
    for i in prange(m):
        mx = -np.inf
        cnt = 0
        for dd in range(nd):
            j = i + offsets[dd]
            if j >= 0 and j < n:
                cnt += 1
                v = np.float64(data[U(dd), U(i)])
                if v > mx:
                    mx = v
        tot = 0.0
        for dd in range(nd):
            j = i + offsets[dd]
            if j >= 0 and j < n and mx != -np.inf:
                e = np.exp(np.float64(data[U(dd), U(i)]) - mx)
                out[U(dd), U(i)] = e
                tot += e
            else:
                out[U(dd), U(i)] = 0
        if cnt and mx != -np.inf:
            for dd in range(nd):
                out[U(dd), U(i)] = out[U(dd), U(i)] / tot


@njit(parallel=True, cache=True, nogil=True, fastmath=_FM)
def attend_csr(indptr, indices, Q, K, V, scale, out, max_row):
    """out[b, i] = softmax_j(scale * Q[b, i] . K[b, j]) V[b, j] over the stored j of row i.

    ``max_row`` is the longest row (the size of the per-task score buffer).
    Rows with no entries give zeros.
    """
    B = Q.shape[0]
    m = Q.shape[1]
    d = Q.shape[2]
    dv = V.shape[2]
    n_blocks = (m + ROWS - 1) // ROWS
    for task in prange(B * n_blocks):
        b = U(task // n_blocks)
        i0 = (task % n_blocks) * ROWS
        i1 = min(m, i0 + ROWS)
        s = np.empty(max(max_row, 1), dtype=np.float64)
        acc = np.empty(dv, dtype=np.float64)
        for i in range(U(i0), U(i1)):
            a = indptr[i]
            c = indptr[i + 1] - a
            mx = -np.inf
            for p in range(U(c)):
                j = U(indices[U(a) + p])
                dot = 0.0
                for t in range(U(d)):
                    dot += Q[b, i, t] * K[b, j, t]
                dot *= scale
                s[p] = dot
                if dot > mx:
                    mx = dot
            for t in range(U(dv)):
                acc[t] = 0.0
            if c == 0 or mx == -np.inf:
                for t in range(U(dv)):
                    out[b, i, t] = 0
                continue
            tot = 0.0
            for p in range(U(c)):
                e = np.exp(s[p] - mx)
                tot += e
                j = U(indices[U(a) + p])
                for t in range(U(dv)):
                    acc[t] += e * V[b, j, t]
            inv = 1.0 / tot
            for t in range(U(dv)):
                out[b, i, t] = acc[t] * inv


@njit(parallel=True, cache=True, nogil=True, fastmath=_FM)
def attend_banded(offsets, Q, K, V, scale, out):
    """As ``attend_csr`` for a banded pattern: row i attends to i + offsets[dd]
    for every in-range diagonal dd."""
    B = Q.shape[0]
    m = Q.shape[1]
    n = K.shape[1]
    d = Q.shape[2]
    dv = V.shape[2]
    nd = offsets.size
    n_blocks = (m + ROWS - 1) // ROWS
    for task in prange(B * n_blocks):
        b = U(task // n_blocks)
        i0 = (task % n_blocks) * ROWS
        i1 = min(m, i0 + ROWS)
        s = np.empty(max(nd, 1), dtype=np.float64)
        acc = np.empty(dv, dtype=np.float64)
        for i in range(i0, i1):
            # the in-range diagonals of row i are a contiguous run lo <= dd < hi
            lo = 0
            while lo < nd and i + offsets[lo] < 0:
                lo += 1
            hi = lo
            while hi < nd and i + offsets[hi] < n:
                hi += 1
            ui = U(i)
            mx = -np.inf
            for dd in range(lo, hi):
                j = U(i + offsets[dd])
                dot = 0.0
                for t in range(U(d)):
                    dot += Q[b, ui, t] * K[b, j, t]
                dot *= scale
                s[dd] = dot
                if dot > mx:
                    mx = dot
            for t in range(U(dv)):
                acc[t] = 0.0
            if hi <= lo or mx == -np.inf:
                for t in range(U(dv)):
                    out[b, ui, t] = 0
                continue
            tot = 0.0
            for dd in range(lo, hi):
                e = np.exp(s[dd] - mx)
                tot += e
                j = U(i + offsets[dd])
                for t in range(U(dv)):
                    acc[t] += e * V[b, j, t]
            inv = 1.0 / tot
            for t in range(U(dv)):
                out[b, ui, t] = acc[t] * inv


@njit(parallel=True, cache=True, nogil=True, fastmath=_FM)
def attend_band(lo_off, hi_off, Q, K, V, scale, out):
    """As ``attend_banded`` for contiguous offsets ``lo_off .. hi_off`` (a sliding
    window), four queries at a time: queries ``i .. i+3`` share all but three of
    their keys, so each row of ``K`` and ``V`` is loaded once for four queries
    (four dot products, four weighted sums) instead of once per query.
    """
    B = Q.shape[0]
    m = Q.shape[1]
    n = K.shape[1]
    d = Q.shape[2]
    dv = V.shape[2]
    width = hi_off - lo_off + 1
    n_blocks = (m + ROWS - 1) // ROWS
    for task in prange(B * n_blocks):
        b = U(task // n_blocks)
        i0 = (task % n_blocks) * ROWS
        i1 = min(m, i0 + ROWS)
        s = np.empty((4, width + 3), dtype=np.float64)
        acc = np.empty((4, dv), dtype=np.float64)
        for i in range(i0, i1, 4):
            # the keys any of the queries i .. i+3 may see, clipped to [0, n)
            j0 = max(0, i + lo_off)
            j1 = min(n, i + 3 + hi_off + 1)
            q0 = U(i)
            q1 = U(min(i + 1, i1 - 1))
            q2 = U(min(i + 2, i1 - 1))
            q3 = U(min(i + 3, i1 - 1))
            mx0 = -np.inf
            mx1 = -np.inf
            mx2 = -np.inf
            mx3 = -np.inf
            for j in range(j0, j1):
                uj = U(j)
                d0 = 0.0
                d1 = 0.0
                d2 = 0.0
                d3 = 0.0
                for t in range(U(d)):
                    kv = K[b, uj, t]
                    d0 += Q[b, q0, t] * kv
                    d1 += Q[b, q1, t] * kv
                    d2 += Q[b, q2, t] * kv
                    d3 += Q[b, q3, t] * kv
                jj = j - j0
                # query i + r sees key j when lo_off <= j - (i + r) <= hi_off
                rel = j - i
                s[0, jj] = d0 * scale if lo_off <= rel <= hi_off else -np.inf
                s[1, jj] = d1 * scale if lo_off <= rel - 1 <= hi_off else -np.inf
                s[2, jj] = d2 * scale if lo_off <= rel - 2 <= hi_off else -np.inf
                s[3, jj] = d3 * scale if lo_off <= rel - 3 <= hi_off else -np.inf
                mx0 = max(mx0, s[0, jj])
                mx1 = max(mx1, s[1, jj])
                mx2 = max(mx2, s[2, jj])
                mx3 = max(mx3, s[3, jj])
            t0 = 0.0
            t1 = 0.0
            t2 = 0.0
            t3 = 0.0
            for jj in range(j1 - j0):
                e0 = np.exp(s[0, jj] - mx0) if mx0 != -np.inf else 0.0
                e1 = np.exp(s[1, jj] - mx1) if mx1 != -np.inf else 0.0
                e2 = np.exp(s[2, jj] - mx2) if mx2 != -np.inf else 0.0
                e3 = np.exp(s[3, jj] - mx3) if mx3 != -np.inf else 0.0
                s[0, jj] = e0
                s[1, jj] = e1
                s[2, jj] = e2
                s[3, jj] = e3
                t0 += e0
                t1 += e1
                t2 += e2
                t3 += e3
            acc[:, :] = 0.0
            for j in range(j0, j1):
                uj = U(j)
                jj = j - j0
                p0 = s[0, jj]
                p1 = s[1, jj]
                p2 = s[2, jj]
                p3 = s[3, jj]
                for t in range(U(dv)):
                    v = V[b, uj, t]
                    acc[0, t] += p0 * v
                    acc[1, t] += p1 * v
                    acc[2, t] += p2 * v
                    acc[3, t] += p3 * v
            tots = (t0, t1, t2, t3)
            for r in range(min(4, i1 - i)):
                tot = tots[r]
                row = U(i + r)
                if tot > 0:
                    inv = 1.0 / tot
                    for t in range(U(dv)):
                        out[b, row, t] = acc[r, t] * inv
                else:
                    for t in range(U(dv)):
                        out[b, row, t] = 0
