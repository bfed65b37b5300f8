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
