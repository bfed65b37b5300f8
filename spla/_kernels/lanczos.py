"""Fused vector passes of spla's thick-restart Lanczos (``spla/linalg/_lanczos.py``).

The Lanczos basis is the rows of ``V`` (C order, ``(ncv + 1, n)``). One step
``j`` after the product ``y = A v_j`` makes three passes over the vectors:

1. ``local_step``: ``w = y - beta v_{j-1}`` (written into the next basis row)
   with ``alpha = v_j . w``;
2. ``sub_dots``: ``w -= alpha v_j``, then, while the chunk of ``w`` is in cache,
   the classical Gram-Schmidt coefficients ``h = V[:j+1] w`` and ``|w|^2``
   (one read of the basis block);
3. ``gs_sub_norm`` of ``spla/_kernels/krylov.py``: ``w -= V[:j+1]^T h`` with
   ``|w|^2`` (a second read of the block).

The three-term recurrence removes nearly all of ``y`` locally, so the full
reorthogonalisation pass works on a remainder that is already orthogonal to
the basis up to rounding: the loss of orthogonality after it is of second order,
and the Daniel-Gragg-Kaufman-Stewart test (a second pass when ``|w|`` drops below
``1/sqrt(2)`` of its value after the local step) rarely fires. ARPACK's
``dsaitr`` instead projects the raw ``A v_j`` and nearly always repeats the pass
(four reads of the block per step). ``rotate`` applies a thick restart (the kept
Ritz vectors ``V[:q] = Y^T V[:m]``) in place in one read of the block, and
``ritz_vectors`` forms the eigenvectors.

Reductions sum fixed chunks of ``krylov.CHUNK`` entries (partial sums per
chunk, added in chunk order by the caller), so results do not depend on the
number of threads. Each kernel has a serial twin for short vectors.
"""

import numpy as np
from numba import njit, prange

from .krylov import BLOCK, CHUNK, _dot_range, _sqnorm_range


def _make(parallel):
    loop = prange if parallel else range

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def local_step(w, y, vprev, beta, vj, part):
        """``w = y - beta vprev``; ``part[c] = vj . w`` over chunk ``c``."""
        n = w.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            for i in range(lo, hi):
                w[i] = y[i] - beta * vprev[i]
            part[c] = _dot_range(vj, w, lo, hi)

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def sub_dots(V, m, w, vj, alpha, part):
        """``w -= alpha vj``; ``part[c, k] = V[k] . w`` (k < m) and ``part[c, m] = |w|^2``
        over chunk ``c``."""
        n = w.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            for i in range(lo, hi):
                w[i] -= alpha * vj[i]
            for k in range(m):
                part[c, k] = _dot_range(V[k], w, lo, hi)
            part[c, m] = _sqnorm_range(w, lo, hi)

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def rotate(V, m, Y, q):
        """``V[:q] = Y[:m, :q]^T V[:m]`` in place (rows of ``V`` are basis vectors)."""
        n = V.shape[1]
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            tmp = np.empty((q, BLOCK), dtype=V.dtype)
            for blo in range(lo, hi, BLOCK):
                bhi = min(blo + BLOCK, hi)
                nb = bhi - blo
                for r in range(q):
                    for i in range(nb):
                        tmp[r, i] = 0.0
                    for k in range(m):
                        ykr = Y[k, r]
                        for i in range(nb):
                            tmp[r, i] += ykr * V[k, blo + i]
                for r in range(q):
                    for i in range(nb):
                        V[r, blo + i] = tmp[r, i]

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def ritz_vectors(V, m, Y, X):
        """``X[i, r] = sum_k V[k, i] Y[k, r]`` for ``k < m``; ``X`` is ``(n, q)``, C order."""
        n = V.shape[1]
        q = X.shape[1]
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            for i in range(lo, hi):
                for r in range(q):
                    X[i, r] = 0.0
                for k in range(m):
                    vki = V[k, i]
                    for r in range(q):
                        X[i, r] += vki * Y[k, r]

    return local_step, sub_dots, rotate, ritz_vectors


LANCZOS_PARALLEL = _make(True)
LANCZOS_SERIAL = _make(False)
