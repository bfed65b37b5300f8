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
