"""Fused vector passes of spla's ``expm_multiply`` (``spla/linalg/_expm.py``).

Al-Mohy and Higham's truncated Taylor series (SciPy's ``_expm_multiply_simple_core``
and ``_expm_multiply_interval_core_*``) works on the shifted matrix ``A - mu I``.
SciPy builds that matrix (a sparse sum) and then spends, per term, one product
and about six passes over the block: ``coeff * (A @ B)``, ``abs`` and ``max`` for
``|B|_inf``, ``F + B`` (a new array), ``abs`` and ``max`` for ``|F|_inf``. Here
the shift is applied to the product's result and everything after the product is
one pass: ``Y = coeff * (Y - mu B)``, ``F += Y`` and both infinity norms
(``max_i sum_j |Y_ij|``, NumPy's ``norm(., inf)`` of a matrix, which for one
column is ``max_i |y_i|``). Blocks are ``(n, k)`` C-ordered arrays passed flat
with their ``k`` (a vector is one column). Maxima do not depend on the order
of evaluation, so the parallel and serial twins give the same results.
"""

import numpy as np
from numba import njit, prange

#: Rows per parallel chunk.
CHUNK = 8192


def _make(parallel):
    loop = prange if parallel else range

    # Blocks are passed flat (the C-ordered (n, k) block raveled, ``k`` entries per row):
    # one column (k == 1) is then a plain loop that LLVM vectorises.

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def taylor_term(Y, B, F, k, coeff, mu, part):
        """``Y = coeff * (Y - mu B)``; ``F += Y``; returns ``(|Y|_inf, |F|_inf)``.

        ``Y`` holds ``A @ B`` on entry. ``part``: real scratch ``(nchunks, 2)``.
        """
        n = Y.size // k
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            my = 0.0
            mf = 0.0
            if k == 1:
                for i in range(lo, hi):
                    y = coeff * (Y[i] - mu * B[i])
                    Y[i] = y
                    f = F[i] + y
                    F[i] = f
                    my = max(my, abs(y))
                    mf = max(mf, abs(f))
            else:
                for i in range(lo, hi):
                    sy = 0.0
                    sf = 0.0
                    for p in range(i * k, i * k + k):
                        y = coeff * (Y[p] - mu * B[p])
                        Y[p] = y
                        f = F[p] + y
                        F[p] = f
                        sy += abs(y)
                        sf += abs(f)
                    my = max(my, sy)
                    mf = max(mf, sf)
            part[c, 0] = my
            part[c, 1] = mf
        my = 0.0
        mf = 0.0
        for c in range(nchunks):
            my = max(my, part[c, 0])
            mf = max(mf, part[c, 1])
        return my, mf

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def power_term(Y, B, k, h, mu, p, part):
        """``Y = h * (Y - mu B) / p`` (SciPy's ``h * A.dot(K) / p``); returns ``|Y|_inf``."""
        n = Y.size // k
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            my = 0.0
            for i in range(lo, hi):
                sy = 0.0
                for q in range(i * k, i * k + k):
                    y = h * (Y[q] - mu * B[q]) / p
                    Y[q] = y
                    sy += abs(y)
                my = max(my, sy)
            part[c, 0] = my
        my = 0.0
        for c in range(nchunks):
            my = max(my, part[c, 0])
        return my

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def add_scaled(F, coeff, K, k, part):
        """``F = F + coeff * K``; returns ``|F|_inf``."""
        n = F.size // k
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            mf = 0.0
            for i in range(lo, hi):
                sf = 0.0
                for q in range(i * k, i * k + k):
                    f = F[q] + coeff * K[q]
                    F[q] = f
                    sf += abs(f)
                mf = max(mf, sf)
            part[c, 1] = mf
        mf = 0.0
        for c in range(nchunks):
            mf = max(mf, part[c, 1])
        return mf

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def scale_norm(F, k, a, part):
        """``F *= a``; returns ``|F|_inf`` (the next cycle's ``|B|_inf``)."""
        n = F.size // k
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            mf = 0.0
            for i in range(lo, hi):
                sf = 0.0
                for q in range(i * k, i * k + k):
                    f = a * F[q]
                    F[q] = f
                    sf += abs(f)
                mf = max(mf, sf)
            part[c, 0] = mf
        mf = 0.0
        for c in range(nchunks):
            mf = max(mf, part[c, 0])
        return mf

    return taylor_term, power_term, add_scaled, scale_norm


PARALLEL = _make(True)
SERIAL = _make(False)


def nchunks(n):
    """Rows of the ``part`` scratch arrays."""
    return max(1, -(-n // CHUNK))


@njit(cache=True, nogil=True)
def shifted_onenorm(indptr, indices, data, n, mu):
    """``max_j sum_i |(A - mu I)_ij|`` of a canonical CSR ``A`` (``n x n``).

    A row without a stored diagonal entry contributes ``|mu|`` to its column.
    """
    col = np.zeros(n, dtype=np.float64)
    for i in range(n):
        seen = False
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            if j == i:
                col[j] += np.abs(data[p] - mu)
                seen = True
            else:
                col[j] += np.abs(data[p])
        if not seen:
            col[i] += np.abs(mu)
    best = 0.0
    for j in range(n):
        if col[j] > best:
            best = col[j]
    return best
