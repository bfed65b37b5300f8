"""Fused tall-skinny block pass of spla's ``lobpcg`` (``spla/linalg/_lobpcg.py``).

``residual``: ``R = AX - BX diag(lam)`` with the squared column norms of ``R`` in
the same pass (SciPy makes three passes and two new blocks: ``BX * lam``,
``AX - aux``, ``sum(R.conj() * R, 0)``). Blocks are C-ordered ``(n, k)`` arrays of
one dtype. Rows are cut into fixed chunks of ``CHUNK`` rows whatever the thread
count and the chunks' partial sums are added in chunk order, so the result does
not depend on the number of threads.

Fused Gram, ``V C`` and Ritz-update kernels were tried (session 19) and were
slower than one-thread BLAS on views at n = 250,000, k = 6 (see
``benchmarks/RESULTS.md``); they are not kept.
"""

import numpy as np
from numba import njit, prange

#: Rows per chunk (the chunk's columns of all blocks stay in L2).
CHUNK = 512


def nchunks(n):
    """Number of row chunks of an ``n``-row block."""
    return max(1, (n + CHUNK - 1) // CHUNK)


@njit(parallel=True, cache=True, nogil=True, fastmath=True)
def residual(AX, BX, lam, R, part):
    """``R = AX - BX diag(lam)``; returns ``sum_i |R_ij|^2`` per column (real).

    ``part``: real scratch ``(nchunks, k)``.
    """
    n, k = AX.shape
    nch = part.shape[0]
    for ch in prange(nch):
        lo = ch * CHUNK
        hi = min(lo + CHUNK, n)
        acc = np.zeros(k, part.dtype)
        for r in range(lo, hi):
            for j in range(k):
                v = AX[r, j] - BX[r, j] * lam[j]
                R[r, j] = v
                acc[j] += (np.conj(v) * v).real
        part[ch, :] = acc
    out = np.zeros(k, part.dtype)
    for ch in range(nch):
        out += part[ch]
    return out
