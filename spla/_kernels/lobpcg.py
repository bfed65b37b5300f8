"""Fused tall-skinny block passes of spla's ``lobpcg`` (``spla/linalg/_lobpcg.py``).

LOBPCG keeps a few ``(n, k)`` blocks (``X``, ``R``, ``P`` and their images under
``A`` and ``B``) with ``k`` small (a handful of vectors) and ``n`` large. SciPy
works on them with BLAS: every Gram block ``V^H W`` and every ``V @ C`` with a
``k x k`` matrix is one GEMM, and OpenBLAS runs these skinny shapes far below the
memory bandwidth (``benchmarks/RESULTS.md``, "lobpcg: where SciPy's time goes").
Here one pass over the rows does a whole step:

* ``gram``: every Gram block of a Rayleigh-Ritz step, ``S^H AS`` and ``S^H BS``
  for the basis ``S = [X, R, P]`` (three separate blocks, only the wanted
  block pairs);
* ``residual``: ``R = AX - BX diag(lam)`` with the squared column norms;
* ``orth``: ``R -= X G`` with, optionally, the Gram matrix ``R^H R`` of the result;
* ``right_mul``: ``V = V C`` in place (``C`` small and square);
* ``ritz_update``: ``P' = R C_R + P C_P`` and ``X' = X C_X + P'`` in place.

Blocks are C-ordered ``(n, k)`` arrays of one dtype, passed as a tuple of three
(an unused one has no columns).
Rows are cut into fixed chunks of ``CHUNK`` rows whatever the thread count; the
partial sums of the chunks are added in chunk order, so the result does not depend
on the number of threads. Inner products run in ``fastmath`` loops (the order of
additions inside a chunk is the compiler's, as in BLAS).
"""

import numpy as np
from numba import njit, prange

#: Rows per chunk (the chunk's columns of all blocks stay in L2).
CHUNK = 512


def nchunks(n):
    """Number of row chunks of an ``n``-row block."""
    return max(1, (n + CHUNK - 1) // CHUNK)


@njit(parallel=True, cache=True, nogil=True, fastmath=True)
def gram(V, W1, W2, want1, want2, part1, part2):
    """``G1 = S^H T1`` and ``G2 = S^H T2`` in one pass over the rows.

    ``S = [V[0], V[1], V[2]]``, ``T1 = [W1[0], W1[1], W1[2]]``, ``T2`` likewise
    (tuples of three C-ordered ``(n, k_b)`` blocks of one dtype, ``k_b`` may be 0).
    Only the block pairs ``(a, b)`` with ``want1[a, b]`` (``want2[a, b]``) are
    computed; the others stay zero. ``part1`` / ``part2``: scratch
    ``(nchunks, m, q1)`` / ``(nchunks, m, q2)``. Returns ``(G1, G2)``.
    """
    n = V[0].shape[0]
    nch = part1.shape[0]
    dt = part1.dtype
    ov = np.zeros(4, np.int64)
    o1 = np.zeros(4, np.int64)
    o2 = np.zeros(4, np.int64)
    for a in range(3):
        ov[a + 1] = ov[a] + V[a].shape[1]
        o1[a + 1] = o1[a] + W1[a].shape[1]
        o2[a + 1] = o2[a] + W2[a].shape[1]
    for ch in prange(nch):
        lo = ch * CHUNK
        hi = min(lo + CHUNK, n)
        acc1 = np.zeros((ov[3], o1[3]), dt)
        acc2 = np.zeros((ov[3], o2[3]), dt)
        for a in range(3):
            Va = V[a]
            pa = Va.shape[1]
            for b in range(3):
                if want1[a, b]:
                    Wb = W1[b]
                    pb = Wb.shape[1]
                    for r in range(lo, hi):
                        for i in range(pa):
                            s = np.conj(Va[r, i])
                            for j in range(pb):
                                acc1[ov[a] + i, o1[b] + j] += s * Wb[r, j]
                if want2[a, b]:
                    Wb = W2[b]
                    pb = Wb.shape[1]
                    for r in range(lo, hi):
                        for i in range(pa):
                            s = np.conj(Va[r, i])
                            for j in range(pb):
                                acc2[ov[a] + i, o2[b] + j] += s * Wb[r, j]
        part1[ch] = acc1
        part2[ch] = acc2
    G1 = np.zeros((ov[3], o1[3]), dt)
    G2 = np.zeros((ov[3], o2[3]), dt)
    for ch in range(nch):
        G1 += part1[ch]
        G2 += part2[ch]
    return G1, G2


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


@njit(parallel=True, cache=True, nogil=True, fastmath=True)
def orth(R, X, G, want_gram, part):
    """``R -= X G`` in place; returns ``R^H R`` of the result if ``want_gram``.

    ``X``: ``(n, p)``, ``G``: ``(p, q)``, ``R``: ``(n, q)``; ``part``: scratch
    ``(nchunks, q, q)`` (unused when ``want_gram`` is False).
    """
    n, q = R.shape
    p = X.shape[1]
    nch = part.shape[0]
    dt = R.dtype
    for ch in prange(nch):
        lo = ch * CHUNK
        hi = min(lo + CHUNK, n)
        row = np.empty(q, dt)
        acc = np.zeros((q, q), dt)
        for r in range(lo, hi):
            for j in range(q):
                s = R[r, j]
                for i in range(p):
                    s -= X[r, i] * G[i, j]
                row[j] = s
                R[r, j] = s
            if want_gram:
                for i in range(q):
                    ci = np.conj(row[i])
                    for j in range(q):
                        acc[i, j] += ci * row[j]
        if want_gram:
            part[ch] = acc
    out = np.zeros((q, q), dt)
    if want_gram:
        for ch in range(nch):
            out += part[ch]
    return out


@njit(parallel=True, cache=True, nogil=True, fastmath=True)
def right_mul(V, C):
    """``V = V C`` in place (``C``: ``(q, q)``, ``V``: ``(n, q)``)."""
    n, q = V.shape
    nch = (n + CHUNK - 1) // CHUNK
    for ch in prange(nch):
        lo = ch * CHUNK
        hi = min(lo + CHUNK, n)
        row = np.empty(q, V.dtype)
        for r in range(lo, hi):
            for j in range(q):
                row[j] = V[r, j]
            for j in range(q):
                s = row[0] * C[0, j]
                for i in range(1, q):
                    s += row[i] * C[i, j]
                V[r, j] = s


@njit(parallel=True, cache=True, nogil=True, fastmath=True)
def ritz_update(X, R, P, Pa, C):
    """``P' = R C_R + Pa C_P`` and ``X' = X C_X + P'``, written to ``P`` and ``X``.

    ``C``: ``(k + nr + np, k)`` coefficients stacked as ``[C_X; C_R; C_P]`` with
    ``R``: ``(n, nr)``, ``Pa``: ``(n, np)`` (the active columns of the previous ``P``;
    ``np == 0`` on a restart). ``X``, ``P``: ``(n, k)``. ``Pa`` may be ``P`` itself:
    each row is read before it is written.
    """
    n, k = X.shape
    nr = R.shape[1]
    npc = Pa.shape[1]
    nch = (n + CHUNK - 1) // CHUNK
    for ch in prange(nch):
        lo = ch * CHUNK
        hi = min(lo + CHUNK, n)
        xr = np.empty(k, X.dtype)
        pr = np.empty(max(npc, 1), X.dtype)
        rr = np.empty(max(nr, 1), X.dtype)
        for r in range(lo, hi):
            for i in range(k):
                xr[i] = X[r, i]
            for i in range(nr):
                rr[i] = R[r, i]
            for i in range(npc):
                pr[i] = Pa[r, i]
            for j in range(k):
                s = rr[0] * C[k, j]
                for i in range(1, nr):
                    s += rr[i] * C[k + i, j]
                for i in range(npc):
                    s += pr[i] * C[k + nr + i, j]
                t = xr[0] * C[0, j]
                for i in range(1, k):
                    t += xr[i] * C[i, j]
                P[r, j] = s
                X[r, j] = t + s
