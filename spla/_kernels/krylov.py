"""Fused vector kernels of spla's conjugate gradients (``spla.linalg.cg``).

One CG iteration without a preconditioner is one SpMV ``q = A p`` and three
passes over the vectors: ``p . q``; ``x += alpha p`` with ``r -= alpha q`` and
``r . r`` in the same pass; ``p = r + beta p``. NumPy would take nine passes
(temporaries included) and call BLAS between the products (whose spinning
threads then compete with Numba's). Reductions sum fixed chunks of ``CHUNK``
entries in parallel and then the chunk sums in order, so results do not depend
on the number of threads. Each kernel has a serial twin (suffix ``_serial``)
for vectors too short for threads to pay.
"""

import numpy as np
from numba import njit, prange

#: Entries per chunk of a reduction (fixed: the summation order is the matrix's).
CHUNK = 16384


def _make(parallel):
    loop = prange if parallel else range

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def dot(a, b, part):
        """``sum(conj(a) * b)``; ``part`` is scratch of ``nchunks(n)`` entries of a's dtype."""
        n = a.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            s = a.dtype.type(0)
            for i in range(lo, hi):
                s += np.conj(a[i]) * b[i]
            part[c] = s
        total = a.dtype.type(0)
        for c in range(nchunks):
            total += part[c]
        return total

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def update(x, r, p, q, alpha, part):
        """``x += alpha p``; ``r -= alpha q``; returns ``sum(|r|^2)``.

        ``part``: scratch of ``nchunks(n)`` entries of the real dtype of ``x``.
        """
        n = x.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            s = part.dtype.type(0)
            for i in range(lo, hi):
                x[i] += alpha * p[i]
                ri = r[i] - alpha * q[i]
                r[i] = ri
                s += (ri.real * ri.real + ri.imag * ri.imag)
            part[c] = s
        total = part.dtype.type(0)
        for c in range(nchunks):
            total += part[c]
        return total

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def direction(p, r, beta):
        """``p = r + beta p``."""
        n = p.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            for i in range(lo, hi):
                p[i] = r[i] + beta * p[i]

    return dot, update, direction


def nchunks(n):
    """Number of reduction chunks (the length of the ``part`` scratch arrays)."""
    return max(1, -(-n // CHUNK))


dot, update, direction = _make(True)
dot_serial, update_serial, direction_serial = _make(False)


# -- Gram-Schmidt kernels of spla's GMRES (``spla/linalg/_gmres.py``) ---------------------
#
# The Arnoldi basis is the rows of ``V`` (C order, ``(restart + 1, n)``); a call
# works on its first ``m`` rows. Classical Gram-Schmidt with one
# reorthogonalisation (CGS2) reads those rows as a block three times per column:
# ``gs_dots`` (``h = V^H w`` and ``|w|^2``), ``gs_sub_dots`` (``w -= V^T h``, then
# ``V^H w`` again while the block is in cache), ``gs_sub_norm`` (``w -= V^T h``
# and ``|w|^2``). Modified Gram-Schmidt (``axpy_dot``: ``w -= t v_k`` fused with
# ``v_{k+1} . w``) reads each row twice but needs a reduction per row. Partial
# sums go to ``part[chunk, ...]`` and are added in chunk order by the caller, so
# results do not depend on the number of threads.

#: Entries of a cache block inside a chunk (the rows' slices of one block stay in L2).
BLOCK = 1024


def _make_gs(parallel):
    loop = prange if parallel else range

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def gs_dots(V, m, w, part):
        """``part[c, k] = sum_{i in c} conj(V[k, i]) w[i]`` (k < m), ``part[c, m] = |w_c|^2``."""
        n = w.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            for k in range(m):
                s = w.dtype.type(0)
                for i in range(lo, hi):
                    s += np.conj(V[k, i]) * w[i]
                part[c, k] = s
            s = w.dtype.type(0)
            for i in range(lo, hi):
                s += w[i].real * w[i].real + w[i].imag * w[i].imag
            part[c, m] = s

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def gs_sub_dots(V, m, w, h, part):
        """``w -= V[:m].T @ h``; then ``part[c, k] = sum_{i in c} conj(V[k, i]) w[i]``."""
        n = w.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            for k in range(m):
                part[c, k] = 0
            for blo in range(lo, hi, BLOCK):
                bhi = min(blo + BLOCK, hi)
                for k in range(m):
                    hk = h[k]
                    for i in range(blo, bhi):
                        w[i] -= hk * V[k, i]
                for k in range(m):
                    s = w.dtype.type(0)
                    for i in range(blo, bhi):
                        s += np.conj(V[k, i]) * w[i]
                    part[c, k] += s

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def gs_sub_norm(V, m, w, h, part):
        """``w -= V[:m].T @ h``; ``part[c] = |w_c|^2`` (``part`` real)."""
        n = w.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            for blo in range(lo, hi, BLOCK):
                bhi = min(blo + BLOCK, hi)
                for k in range(m):
                    hk = h[k]
                    for i in range(blo, bhi):
                        w[i] -= hk * V[k, i]
            s = part.dtype.type(0)
            for i in range(lo, hi):
                s += w[i].real * w[i].real + w[i].imag * w[i].imag
            part[c] = s

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def axpy_dot(w, v, t, u, part):
        """``w -= t v``; returns ``sum(conj(u) * w)`` (``part``: chunk scratch of w's dtype).

        ``u`` must not be ``w`` (Numba may load ``u[i]`` before storing ``w[i]``).
        """
        n = w.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            s = w.dtype.type(0)
            for i in range(lo, hi):
                wi = w[i] - t * v[i]
                w[i] = wi
                s += np.conj(u[i]) * wi
            part[c] = s
        total = w.dtype.type(0)
        for c in range(nchunks):
            total += part[c]
        return total

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def scale(w, a):
        """``w *= a``."""
        n = w.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            for i in range(lo, hi):
                w[i] *= a

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def combine(V, m, y, x):
        """``x += V[:m].T @ y``."""
        n = x.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            for blo in range(lo, hi, BLOCK):
                bhi = min(blo + BLOCK, hi)
                for k in range(m):
                    yk = y[k]
                    for i in range(blo, bhi):
                        x[i] += yk * V[k, i]

    return gs_dots, gs_sub_dots, gs_sub_norm, axpy_dot, scale, combine


GS_PARALLEL = _make_gs(True)
GS_SERIAL = _make_gs(False)
