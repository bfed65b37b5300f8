"""Fused tall-skinny block pass of spla's ``lobpcg`` (``spla/linalg/_lobpcg.py``).

``residual``: ``R = AX - BX diag(lam)`` with the squared column norms of ``R`` in
the same pass (SciPy makes three passes and two new blocks: ``BX * lam``,
``AX - aux``, ``sum(R.conj() * R, 0)``). Blocks are C-ordered ``(n, k)`` arrays of
one dtype. Rows are cut into at most ``PARTS`` chunks of at least ``CHUNK`` rows,
a cut that depends on ``n`` alone, and the chunks' partial sums are added in chunk
order, so the result does not depend on the number of threads. Few large chunks
matter here: spla's OpenMP pool sleeps between launches (GOMP_SPINCOUNT=0, see
``spla/_kernels/threads.py``), and a ``prange`` over 489 chunks of 512 rows took
33 ms at n = 250,000, k = 6 against 1.7 ms over 8 chunks (and 2.2-3.3 ms on one
thread), measured on an idle machine.

Fused Gram, ``V C`` and Ritz-update kernels were tried (session 19) and were
slower than one-thread BLAS on views at n = 250,000, k = 6 (see
``benchmarks/RESULTS.md``); they are not kept.
"""

import numpy as np
from numba import njit, prange

from .complex_arith import abs2, times_real

#: Fewest rows per chunk.
CHUNK = 32768
#: Most chunks.
PARTS = 8


def chunk_rows(n):
    """Rows per chunk of an ``n``-row block."""
    return max(CHUNK, -(-n // PARTS))


def nchunks(n):
    """Number of row chunks of an ``n``-row block."""
    return max(1, -(-n // chunk_rows(n)))


#: Reassociation (SIMD partial sums) and fused multiply-adds only: no assumption
#: about NaN or infinity, which ``fastmath=True`` would also make (and would hand on to
#: Numba's per-process complex product, which later strict kernels reuse).
_FAST = {"reassoc", "contract"}


@njit(parallel=True, cache=True, nogil=True, fastmath=_FAST)
def residual(AX, BX, lam, R, part):
    """``R = AX - BX diag(lam)``; returns ``sum_i |R_ij|^2`` per column (float64).

    ``part``: float64 scratch ``(nchunks, k)``. The sums are kept in float64 for every
    dtype (a float32 running sum over 32,768 rows is off by ~1e-4 relative; NumPy's
    pairwise sum is not).
    """
    n, k = AX.shape
    nch = part.shape[0]
    step = max(CHUNK, -(-n // PARTS))
    for ch in prange(nch):
        lo = ch * step
        hi = min(lo + step, n)
        acc = np.zeros(k, np.float64)
        for r in range(lo, hi):
            for j in range(k):
                v = AX[r, j] - times_real(BX[r, j], lam[j])
                R[r, j] = v
                acc[j] += abs2(v)
        part[ch, :] = acc
    out = np.zeros(k, np.float64)
    for ch in range(nch):
        out += part[ch]
    return out
