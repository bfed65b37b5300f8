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

from .complex_arith import abs2, conj_multiply, multiply, times_real

#: Entries per chunk of a reduction (fixed: the summation order is the matrix's).
CHUNK = 16384


# Reductions keep eight (four where they also write) independent partial sums per
# chunk: one strict (non-fastmath) accumulator is a chain of dependent additions
# that runs at a fraction of memory bandwidth; eight fixed lanes keep the order of
# summation fixed (results do not depend on threads) and let LLVM pack them.


@njit(inline="always")
def _dot_range(a, b, lo, hi):
    """``sum(conj(a[lo:hi]) * b[lo:hi])`` in eight lanes."""
    s0 = a.dtype.type(0) * b.dtype.type(0)
    s1 = s0
    s2 = s0
    s3 = s0
    s4 = s0
    s5 = s0
    s6 = s0
    s7 = s0
    i = lo
    while i + 8 <= hi:
        s0 += np.conj(a[i]) * b[i]
        s1 += np.conj(a[i + 1]) * b[i + 1]
        s2 += np.conj(a[i + 2]) * b[i + 2]
        s3 += np.conj(a[i + 3]) * b[i + 3]
        s4 += np.conj(a[i + 4]) * b[i + 4]
        s5 += np.conj(a[i + 5]) * b[i + 5]
        s6 += np.conj(a[i + 6]) * b[i + 6]
        s7 += np.conj(a[i + 7]) * b[i + 7]
        i += 8
    while i < hi:
        s0 += np.conj(a[i]) * b[i]
        i += 1
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


@njit(inline="always")
def _sqnorm_range(a, lo, hi):
    """``sum(|a[lo:hi]|^2)`` (real) in eight lanes."""
    s0 = abs2(a.dtype.type(0))
    s1 = s0
    s2 = s0
    s3 = s0
    s4 = s0
    s5 = s0
    s6 = s0
    s7 = s0
    i = lo
    while i + 8 <= hi:
        s0 += abs2(a[i])
        s1 += abs2(a[i + 1])
        s2 += abs2(a[i + 2])
        s3 += abs2(a[i + 3])
        s4 += abs2(a[i + 4])
        s5 += abs2(a[i + 5])
        s6 += abs2(a[i + 6])
        s7 += abs2(a[i + 7])
        i += 8
    while i < hi:
        s0 += abs2(a[i])
        i += 1
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


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
            part[c] = _dot_range(a, b, lo, hi)
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
            for i in range(lo, hi):
                x[i] += alpha * p[i]
                r[i] -= alpha * q[i]
            part[c] = _sqnorm_range(r, lo, hi)  # (r's chunk is in cache)
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
# and ``|w|^2``). Modified Gram-Schmidt (``mgs_column``: one sweep per row,
# ``w -= t v_k`` fused with ``v_{k+1} . w``) needs a reduction per row but keeps
# the sweeps in one Numba call. Partial
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
                part[c, k] = _dot_range(V[k], w, lo, hi)
            part[c, m] = _sqnorm_range(w, lo, hi)

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
                    part[c, k] += _dot_range(V[k], w, blo, bhi)

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
            part[c] = _sqnorm_range(w, lo, hi)

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

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def mgs_column(V, m, w, h, part):
        """Modified Gram-Schmidt of ``w`` against the rows ``V[:m]``, in place.

        ``h[k]`` gets ``v_k . w`` (as it stands after the previous subtractions);
        returns ``(|w|^2 before, |w|^2 after)``. Pass ``k`` subtracts ``h[k] v_k``
        and takes the next dot product (``|w|^2`` after the last) in the same
        sweep over a chunk. ``part``: scratch ``(nchunks(n), 2)`` of w's dtype.
        """
        n = w.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            part[c, 0] = _dot_range(V[0], w, lo, hi) if m > 0 else 0
            part[c, 1] = _sqnorm_range(w, lo, hi)
        t = w.dtype.type(0)
        before = 0.0
        for c in range(nchunks):
            t += part[c, 0]
            before += part[c, 1].real
        after = before
        for k in range(m):
            h[k] = t
            last = k + 1 == m
            for c in loop(nchunks):
                lo = c * CHUNK
                hi = min(lo + CHUNK, n)
                for i in range(lo, hi):
                    w[i] -= t * V[k, i]
                if last:
                    part[c, 0] = _sqnorm_range(w, lo, hi)
                else:
                    part[c, 0] = _dot_range(V[k + 1], w, lo, hi)
            t = w.dtype.type(0)
            for c in range(nchunks):
                t += part[c, 0]
        if m > 0:
            after = t.real
        return before, after

    return gs_dots, gs_sub_dots, gs_sub_norm, scale, combine, mgs_column


GS_PARALLEL = _make_gs(True)
GS_SERIAL = _make_gs(False)


# -- fused vector passes of spla's BiCGSTAB (``spla/linalg/_bicgstab.py``) ----------------
#
# Per iteration, besides the two products ``v = A phat`` and ``t = A shat``:
# ``rtilde . v``; ``s = r - alpha v`` with ``|s|^2``; ``t . s`` with ``t . t``;
# ``x += alpha phat + omega shat``, ``r = s - omega t`` with ``|r|^2`` and
# ``rtilde . r``; ``p = (p - omega v) beta + r`` (SciPy's order of operations).


def _make_bicgstab(parallel):
    loop = prange if parallel else range

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def residual_s(s, r, v, alpha, part):
        """``s = r - alpha v``; returns ``|s|^2`` (``part``: real chunk scratch)."""
        n = s.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            for i in range(lo, hi):
                s[i] = r[i] - alpha * v[i]
            part[c] = _sqnorm_range(s, lo, hi)
        total = part.dtype.type(0)
        for c in range(nchunks):
            total += part[c]
        return total

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def dots_ts(t, s, part):
        """``(t . s, t . t)`` with ``conj(t)``; ``part``: ``(nchunks, 2)`` of t's dtype."""
        n = t.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            part[c, 0] = _dot_range(t, s, lo, hi)
            part[c, 1] = _sqnorm_range(t, lo, hi)
        ts = t.dtype.type(0)
        tt = t.dtype.type(0)
        for c in range(nchunks):
            ts += part[c, 0]
            tt += part[c, 1]
        return ts, tt

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def update(x, r, s, t, phat, shat, rtilde, alpha, omega, part):
        """``x += alpha phat + omega shat``; ``r = s - omega t``; returns
        ``(|r|^2, rtilde . r)``; ``part``: ``(nchunks, 2)`` of x's dtype."""
        n = x.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            for i in range(lo, hi):
                x[i] = (x[i] + alpha * phat[i]) + omega * shat[i]
                r[i] = s[i] - omega * t[i]
            part[c, 0] = _sqnorm_range(r, lo, hi)
            part[c, 1] = _dot_range(rtilde, r, lo, hi)
        rr = 0.0
        rho = x.dtype.type(0)
        for c in range(nchunks):
            rr += part[c, 0].real
            rho += part[c, 1]
        return rr, rho

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def direction(p, r, v, omega, beta):
        """``p = (p - omega v) beta + r``."""
        n = p.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            for i in range(lo, hi):
                p[i] = (p[i] - omega * v[i]) * beta + r[i]

    return residual_s, dots_ts, update, direction


BICGSTAB_PARALLEL = _make_bicgstab(True)
BICGSTAB_SERIAL = _make_bicgstab(False)


# -- two-step modified Gram-Schmidt of spla's GMRES ----------------------------------------
#
# ``mgs_column`` sweeps ``w`` once per basis vector: per row it reads ``w``, ``v_k``
# and ``v_{k+1}`` and writes ``w`` (four vector passes). ``mgs2_column`` subtracts
# two rows per sweep and takes, in the same sweep, the dot products of the next two
# rows with ``w`` and with each other: ``t_{k+1} = v_{k+1} . (w - t_k v_k)`` is
# ``v_{k+1} . w - t_k (v_{k+1} . v_k)``, so the pair's second coefficient needs no
# sweep of its own. Per row that is three vector passes (``w`` read and written
# once per pair, two rows subtracted, two rows dotted), a quarter less traffic,
# and half as many parallel regions. The subtraction is MGS's, row after row;
# only the pair's second coefficient is taken through the correction term.


@njit(inline="always")
def _dots3_range(a, b, w, lo, hi):
    """``(a . w, b . w, b . a)`` (conjugating the left operand) in four lanes each."""
    z = a.dtype.type(0) * w.dtype.type(0)
    p0 = z
    p1 = z
    p2 = z
    p3 = z
    q0 = z
    q1 = z
    q2 = z
    q3 = z
    g0 = z
    g1 = z
    g2 = z
    g3 = z
    i = lo
    while i + 4 <= hi:
        a0 = a[i]
        a1 = a[i + 1]
        a2 = a[i + 2]
        a3 = a[i + 3]
        b0 = np.conj(b[i])
        b1 = np.conj(b[i + 1])
        b2 = np.conj(b[i + 2])
        b3 = np.conj(b[i + 3])
        w0 = w[i]
        w1 = w[i + 1]
        w2 = w[i + 2]
        w3 = w[i + 3]
        p0 += np.conj(a0) * w0
        p1 += np.conj(a1) * w1
        p2 += np.conj(a2) * w2
        p3 += np.conj(a3) * w3
        q0 += b0 * w0
        q1 += b1 * w1
        q2 += b2 * w2
        q3 += b3 * w3
        g0 += b0 * a0
        g1 += b1 * a1
        g2 += b2 * a2
        g3 += b3 * a3
        i += 4
    while i < hi:
        p0 += np.conj(a[i]) * w[i]
        q0 += np.conj(b[i]) * w[i]
        g0 += np.conj(b[i]) * a[i]
        i += 1
    return (p0 + p1) + (p2 + p3), (q0 + q1) + (q2 + q3), (g0 + g1) + (g2 + g3)


def _make_mgs2(parallel):
    loop = prange if parallel else range

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def mgs2_column(V, m, w, h, part):
        """Two-step modified Gram-Schmidt of ``w`` against the rows ``V[:m]``, in place.

        Same contract as ``mgs_column``: ``h[k]`` gets the MGS coefficient of row
        ``k``; returns ``(|w|^2 before, |w|^2 after)``. ``part``: scratch
        ``(nchunks(n), 4)`` of w's dtype.
        """
        n = w.size
        nchunks = (n + CHUNK - 1) // CHUNK
        zero = w.dtype.type(0)
        # first sweep: v_0 . w, v_1 . w, v_1 . v_0 and |w|^2
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            if m >= 2:
                d0, d1, g = _dots3_range(V[0], V[1], w, lo, hi)
            elif m == 1:
                d0 = _dot_range(V[0], w, lo, hi)
                d1 = zero
                g = zero
            else:
                d0 = zero
                d1 = zero
                g = zero
            part[c, 0] = d0
            part[c, 1] = d1
            part[c, 2] = g
            part[c, 3] = _sqnorm_range(w, lo, hi)
        da = zero
        db = zero
        gab = zero
        before = 0.0
        for c in range(nchunks):
            da += part[c, 0]
            db += part[c, 1]
            gab += part[c, 2]
            before += part[c, 3].real
        after = before
        k = 0
        while k < m:
            two = k + 1 < m
            ta = da
            tb = db - ta * gab if two else zero
            h[k] = ta
            if two:
                h[k + 1] = tb
            nxt = k + 2 if two else k + 1  # first row not yet subtracted
            ndots = min(m - nxt, 2)
            for c in loop(nchunks):
                lo = c * CHUNK
                hi = min(lo + CHUNK, n)
                if two:
                    for i in range(lo, hi):
                        w[i] = (w[i] - ta * V[k, i]) - tb * V[k + 1, i]
                else:
                    for i in range(lo, hi):
                        w[i] -= ta * V[k, i]
                if ndots == 2:
                    d0, d1, g = _dots3_range(V[nxt], V[nxt + 1], w, lo, hi)
                    part[c, 0] = d0
                    part[c, 1] = d1
                    part[c, 2] = g
                elif ndots == 1:
                    part[c, 0] = _dot_range(V[nxt], w, lo, hi)
                else:
                    part[c, 3] = _sqnorm_range(w, lo, hi)
            da = zero
            db = zero
            gab = zero
            if ndots == 0:
                after = 0.0
                for c in range(nchunks):
                    after += part[c, 3].real
            else:
                for c in range(nchunks):
                    da += part[c, 0]
                if ndots == 2:
                    for c in range(nchunks):
                        db += part[c, 1]
                        gab += part[c, 2]
            k = nxt
        return before, after

    return mgs2_column


MGS2_PARALLEL = _make_mgs2(True)
MGS2_SERIAL = _make_mgs2(False)


# -- fused vector passes of spla's CGS and TFQMR (``spla/linalg/_cgs.py``) ------------------
#
# CGS, per iteration besides its two products (``A phat`` and SciPy's recomputed
# residual ``b - A x``): ``r = b - A x`` with ``|r|^2`` and ``rtilde . r``;
# ``u = r + beta q``, ``p = (p beta + q) beta + u``; ``rtilde . vhat``;
# ``q = u - alpha vhat`` with ``x += alpha (u + q)`` (or ``u + q`` written for M).
# TFQMR, per (half) iteration besides its product: ``w -= alpha uhat``,
# ``d = u + coef d`` (and ``u_next = u - alpha v`` on even steps, the previous
# ``x += eta d`` folded in, ``rstar . w`` on odd steps) with ``|w|^2``; on odd steps
# ``u = w + beta u``, ``v = beta uhat + beta^2 v``, then ``v += uhat`` fused with the
# next ``rstar . v``. The order of operations of each update is SciPy's.


def _make_cgs(parallel):
    loop = prange if parallel else range

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def norm_dot(r, rtilde, part):
        """``(|r|^2, rtilde . r)``; ``part``: ``(nchunks, 2)`` of r's dtype."""
        n = r.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            part[c, 0] = _sqnorm_range(r, lo, hi)
            part[c, 1] = _dot_range(rtilde, r, lo, hi)
        rr = 0.0
        rho = r.dtype.type(0)
        for c in range(nchunks):
            rr += part[c, 0].real
            rho += part[c, 1]
        return rr, rho

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def residual_norm_dot(r, b, y, rtilde, part):
        """``r = b - y``; returns ``(|r|^2, rtilde . r)``."""
        n = r.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            for i in range(lo, hi):
                r[i] = b[i] - y[i]
            part[c, 0] = _sqnorm_range(r, lo, hi)
            part[c, 1] = _dot_range(rtilde, r, lo, hi)
        rr = 0.0
        rho = r.dtype.type(0)
        for c in range(nchunks):
            rr += part[c, 0].real
            rho += part[c, 1]
        return rr, rho

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def cgs_directions(u, p, r, q, beta):
        """``u = r + beta q``; ``p = (p beta + q) beta + u``."""
        n = u.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            for i in range(lo, hi):
                ui = r[i] + beta * q[i]
                u[i] = ui
                p[i] = (p[i] * beta + q[i]) * beta + ui

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def cgs_update(q, u, vhat, x, uq, alpha, with_x):
        """``q = u - alpha vhat``; then ``x += alpha (u + q)`` if ``with_x`` else
        ``uq = u + q`` (for the preconditioner)."""
        n = q.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            if with_x:
                for i in range(lo, hi):
                    qi = u[i] - alpha * vhat[i]
                    q[i] = qi
                    x[i] += alpha * (u[i] + qi)
            else:
                for i in range(lo, hi):
                    qi = u[i] - alpha * vhat[i]
                    q[i] = qi
                    uq[i] = u[i] + qi

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def axpy(x, a, z):
        """``x += a z``."""
        n = x.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            for i in range(lo, hi):
                x[i] += a * z[i]

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def tfqmr_step(unext, u, v, w, uhat, d, x, rstar, alpha, coef, eta_prev, even, fold_x,
                   part):
        """One TFQMR half step: ``u_next = u - alpha v`` (``even``), ``w -= alpha uhat``,
        ``x += eta_prev d`` (``fold_x``), ``d = u + coef d``; returns
        ``(|w|^2, rstar . w)`` (the dot only when not ``even``)."""
        n = w.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            if even:
                for i in range(lo, hi):
                    unext[i] = u[i] - alpha * v[i]
            for i in range(lo, hi):
                w[i] = w[i] - alpha * uhat[i]
            if fold_x:
                for i in range(lo, hi):
                    x[i] += eta_prev * d[i]
            for i in range(lo, hi):
                d[i] = u[i] + coef * d[i]
            part[c, 0] = _sqnorm_range(w, lo, hi)
            if not even:
                part[c, 1] = _dot_range(rstar, w, lo, hi)
        ww = 0.0
        rho = w.dtype.type(0)
        for c in range(nchunks):
            ww += part[c, 0].real
            if not even:
                rho += part[c, 1]
        return ww, rho

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def tfqmr_directions(u, v, w, uhat, beta):
        """``u = w + beta u``; ``v = beta uhat + beta^2 v``."""
        n = u.size
        nchunks = (n + CHUNK - 1) // CHUNK
        beta2 = beta * beta
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            for i in range(lo, hi):
                u[i] = w[i] + beta * u[i]
                v[i] = beta * uhat[i] + beta2 * v[i]

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def add_dot(v, uhat, rstar, part):
        """``v += uhat``; returns ``rstar . v``; ``part``: ``nchunks`` of v's dtype."""
        n = v.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            for i in range(lo, hi):
                v[i] += uhat[i]
            part[c] = _dot_range(rstar, v, lo, hi)
        total = v.dtype.type(0)
        for c in range(nchunks):
            total += part[c]
        return total

    return (norm_dot, residual_norm_dot, cgs_directions, cgs_update, axpy, tfqmr_step,
            tfqmr_directions, add_dot)


CGS_PARALLEL = _make_cgs(True)
CGS_SERIAL = _make_cgs(False)


# -- fused vector passes of spla's MINRES (``spla/linalg/_minres.py``, real dtypes) ---------
#
# Per iteration besides the product ``y = A v``: ``y = (y - shift v) - c r1`` with
# ``alfa = v . y``; ``y -= (alfa / beta) r2`` with ``|y|^2`` (the next ``beta``
# without a preconditioner); ``w = (v - oldeps w1 - delta w2) / gamma`` written over
# ``w1`` with ``x += phi w`` and ``|x|^2``; ``v = y / beta``. SciPy's order of
# operations in each update; dot products unconjugated as SciPy's ``inner``.


def _make_minres(parallel):
    loop = prange if parallel else range

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def minres_lanczos(y, v, r1, shift, c, use_r1, part):
        """``y = y - shift v`` then ``y = y - c r1`` (``use_r1``); returns ``v . y``."""
        n = y.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c_ in loop(nchunks):
            lo = c_ * CHUNK
            hi = min(lo + CHUNK, n)
            if use_r1:
                for i in range(lo, hi):
                    y[i] = (y[i] - shift * v[i]) - c * r1[i]
            else:
                for i in range(lo, hi):
                    y[i] = y[i] - shift * v[i]
            part[c_] = _dot_range(v, y, lo, hi)
        total = y.dtype.type(0)
        for c_ in range(nchunks):
            total += part[c_]
        return total

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def minres_orth(y, r2, a, part):
        """``y = y - a r2``; returns ``|y|^2``."""
        n = y.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            for i in range(lo, hi):
                y[i] = y[i] - a * r2[i]
            part[c] = _sqnorm_range(y, lo, hi)
        total = y.dtype.type(0)
        for c in range(nchunks):
            total += part[c]
        return total

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def minres_solution(w1, w2, v, x, oldeps, delta, denom, phi, part):
        """``w1 = ((v - oldeps w1) - delta w2) denom`` (the new ``w``, over ``w1``);
        ``x = x + phi w1``; returns ``|x|^2``."""
        n = x.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            for i in range(lo, hi):
                wi = ((v[i] - oldeps * w1[i]) - delta * w2[i]) * denom
                w1[i] = wi
                x[i] = x[i] + phi * wi
            part[c] = _sqnorm_range(x, lo, hi)
        total = x.dtype.type(0)
        for c in range(nchunks):
            total += part[c]
        return total

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def scaled(v, s, y):
        """``v = s y``."""
        n = v.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            for i in range(lo, hi):
                v[i] = s * y[i]

    return minres_lanczos, minres_orth, minres_solution, scaled


MINRES_PARALLEL = _make_minres(True)
MINRES_SERIAL = _make_minres(False)


# -- fused vector passes of spla's LSQR and LSMR (``spla/linalg/_lsq.py``, real dtypes) ----
#
# Per iteration besides the two products ``y = A v`` and ``z = A^T u``:
# ``u = y - alfa u`` with ``|u|^2`` (``bidiag``), ``u *= 1 / beta`` (``scale``),
# ``v = z - beta v`` with ``|v|^2`` (``bidiag``), and one pass that scales ``v``
# by ``1 / alfa`` and updates the solution: LSQR's ``x += t1 w``, ``w = v + t2 w``
# with ``|w / rho|^2`` (and ``var``); LSMR's ``hbar``, ``x``, ``h`` with ``|x|^2``.
# Each update is SciPy's expression element by element (``y - alfa u`` equals
# LSMR's ``u *= -alfa; u += y`` bit for bit); only the sums' order differs.


@njit(inline="always")
def _scaled_sqnorm_range(a, s, lo, hi):
    """``sum((s a[lo:hi])^2)`` for real ``a`` in eight lanes."""
    s0 = a.dtype.type(0) * s
    s1 = s0
    s2 = s0
    s3 = s0
    s4 = s0
    s5 = s0
    s6 = s0
    s7 = s0
    i = lo
    while i + 8 <= hi:
        d0 = s * a[i]
        d1 = s * a[i + 1]
        d2 = s * a[i + 2]
        d3 = s * a[i + 3]
        d4 = s * a[i + 4]
        d5 = s * a[i + 5]
        d6 = s * a[i + 6]
        d7 = s * a[i + 7]
        s0 += d0 * d0
        s1 += d1 * d1
        s2 += d2 * d2
        s3 += d3 * d3
        s4 += d4 * d4
        s5 += d5 * d5
        s6 += d6 * d6
        s7 += d7 * d7
        i += 8
    while i < hi:
        d0 = s * a[i]
        s0 += d0 * d0
        i += 1
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


def _make_lsq(parallel):
    loop = prange if parallel else range

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def bidiag(u, y, a, part):
        """``u = y - a u``; returns ``|u|^2``."""
        n = u.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            for i in range(lo, hi):
                u[i] = y[i] - a * u[i]
            part[c] = _sqnorm_range(u, lo, hi)
        total = part.dtype.type(0)
        for c in range(nchunks):
            total += part[c]
        return total

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def scale(u, s):
        """``u = s u``."""
        n = u.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            for i in range(lo, hi):
                u[i] = s * u[i]

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def lsqr_step(v, sv, x, w, t1, t2, inv_rho, var, with_var, part):
        """``v = sv v``; ``dk = inv_rho w``; ``x = x + t1 w``; ``w = v + t2 w``;
        ``var += dk^2`` (``with_var``); returns ``|dk|^2``."""
        n = v.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            part[c] = _scaled_sqnorm_range(w, inv_rho, lo, hi)
            if with_var:
                for i in range(lo, hi):
                    dk = inv_rho * w[i]
                    var[i] = var[i] + dk * dk
            for i in range(lo, hi):
                vi = sv * v[i]
                v[i] = vi
                wi = w[i]
                x[i] = x[i] + t1 * wi
                w[i] = vi + t2 * wi
        total = part.dtype.type(0)
        for c in range(nchunks):
            total += part[c]
        return total

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def lsmr_step(v, sv, hbar, h, x, c_hbar, c_x, c_h, part):
        """``v = v sv``; ``hbar = hbar c_hbar + h``; ``x += c_x hbar``;
        ``h = h c_h + v``; returns ``|x|^2``."""
        n = v.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            for i in range(lo, hi):
                vi = v[i] * sv
                v[i] = vi
                hb = hbar[i] * c_hbar + h[i]
                hbar[i] = hb
                x[i] += c_x * hb
                h[i] = h[i] * c_h + vi
            part[c] = _sqnorm_range(x, lo, hi)
        total = part.dtype.type(0)
        for c in range(nchunks):
            total += part[c]
        return total

    return bidiag, scale, lsqr_step, lsmr_step


LSQ_PARALLEL = _make_lsq(True)
LSQ_SERIAL = _make_lsq(False)


# -- fused vector passes of spla's BiCG and QMR (``spla/linalg/_bicg.py``) ------------------
#
# BiCG, per iteration besides ``q = A p`` and ``qtilde = A^H ptilde``: the two
# directions in one pass, ``ptilde . q``, and ``x``, ``r``, ``rtilde`` updated in one
# pass with ``|r|^2`` (and, without a preconditioner, the next ``rtilde . r``).
# QMR (SciPy's loop with identity preconditioners), besides ``ptilde = A p`` and
# ``A^H q``: the directions ``p``, ``q`` in one pass; ``q . ptilde``; the two Lanczos
# vectors with their norms in one pass; ``d``, ``s``, ``x``, ``r`` with ``|r|^2``,
# then the scaled ``v``, ``w`` of the next iteration with ``w . v`` in the same pass.
# SciPy's order of operations in every update.


def _make_bicg(parallel):
    loop = prange if parallel else range

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def bicg_directions(p, ptilde, z, ztilde, beta, beta_conj):
        """``p = p beta + z``; ``ptilde = ptilde conj(beta) + ztilde``."""
        n = p.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            for i in range(lo, hi):
                p[i] = p[i] * beta + z[i]
                ptilde[i] = ptilde[i] * beta_conj + ztilde[i]

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def bicg_update(x, r, rtilde, p, q, qtilde, alpha, alpha_conj, with_rho, part):
        """``x += alpha p``; ``r -= alpha q``; ``rtilde -= conj(alpha) qtilde``; returns
        ``(|r|^2, rtilde . r)`` (the dot only ``with_rho``); ``part``: ``(nchunks, 2)``."""
        n = x.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            for i in range(lo, hi):
                x[i] += alpha * p[i]
                r[i] -= alpha * q[i]
                rtilde[i] -= alpha_conj * qtilde[i]
            part[c, 0] = _sqnorm_range(r, lo, hi)
            if with_rho:
                part[c, 1] = _dot_range(rtilde, r, lo, hi)
        rr = 0.0
        rho = r.dtype.type(0)
        for c in range(nchunks):
            rr += part[c, 0].real
            if with_rho:
                rho += part[c, 1]
        return rr, rho

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def qmr_scale(v, vtilde, inv_rho, w, wtilde, inv_xi, part):
        """``v = vtilde inv_rho``; ``w = wtilde inv_xi``; returns ``w . v``."""
        n = v.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            for i in range(lo, hi):
                v[i] = vtilde[i] * inv_rho
                w[i] = wtilde[i] * inv_xi
            part[c] = _dot_range(w, v, lo, hi)
        total = v.dtype.type(0)
        for c in range(nchunks):
            total += part[c]
        return total

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def qmr_directions(p, q, v, w, cp, cq, first):
        """``p = v - cp p``; ``q = w - cq q`` (``first``: ``p = v``, ``q = w``)."""
        n = p.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            if first:
                for i in range(lo, hi):
                    p[i] = v[i]
                    q[i] = w[i]
            else:
                for i in range(lo, hi):
                    p[i] = v[i] - cp * p[i]
                    q[i] = w[i] - cq * q[i]

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def qmr_lanczos(vtilde, ptilde, v, beta, wtilde, w, aq, minus_beta_conj, part):
        """``vtilde = ptilde - beta v``; ``wtilde = w (-conj(beta)) + aq``; returns
        ``(|vtilde|^2, |wtilde|^2)``; ``part``: ``(nchunks, 2)`` of the real dtype."""
        n = v.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            for i in range(lo, hi):
                vtilde[i] = ptilde[i] - beta * v[i]
                wtilde[i] = w[i] * minus_beta_conj + aq[i]
            part[c, 0] = _sqnorm_range(vtilde, lo, hi)
            part[c, 1] = _sqnorm_range(wtilde, lo, hi)
        vv = 0.0
        ww = 0.0
        for c in range(nchunks):
            vv += part[c, 0]
            ww += part[c, 1]
        return vv, ww

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def qmr_update(d, s, p, ptilde, x, r, k, eta, first, scale, v, vtilde, inv_rho, w,
                   wtilde, inv_xi, part):
        """``d = d k + eta p``, ``s = s k + eta ptilde`` (``first``: ``p eta``,
        ``ptilde eta``); ``x += d``; ``r -= s``; then (``scale``) ``v = vtilde inv_rho``,
        ``w = wtilde inv_xi``. Returns ``(|r|^2, w . v)`` (the dot only with
        ``scale``); ``part``: ``(nchunks, 2)`` of r's dtype."""
        n = x.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            if first:
                for i in range(lo, hi):
                    di = p[i] * eta
                    si = ptilde[i] * eta
                    d[i] = di
                    s[i] = si
                    x[i] += di
                    r[i] -= si
            else:
                for i in range(lo, hi):
                    di = d[i] * k + eta * p[i]
                    si = s[i] * k + eta * ptilde[i]
                    d[i] = di
                    s[i] = si
                    x[i] += di
                    r[i] -= si
            part[c, 0] = _sqnorm_range(r, lo, hi)
            if scale:
                for i in range(lo, hi):
                    v[i] = vtilde[i] * inv_rho
                    w[i] = wtilde[i] * inv_xi
                part[c, 1] = _dot_range(w, v, lo, hi)
        rr = 0.0
        delta = r.dtype.type(0)
        for c in range(nchunks):
            rr += part[c, 0].real
            if scale:
                delta += part[c, 1]
        return rr, delta

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def qmr_scale_preconditioned(v, vtilde, y, inv_rho, w, wtilde, z, inv_xi, part):
        """``v = vtilde inv_rho``; ``y *= inv_rho``; ``w = wtilde inv_xi``;
        ``z *= inv_xi``; returns ``z . y`` (QMR with ``M1``, ``M2``)."""
        n = v.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            for i in range(lo, hi):
                v[i] = vtilde[i] * inv_rho
                y[i] = y[i] * inv_rho
                w[i] = wtilde[i] * inv_xi
                z[i] = z[i] * inv_xi
            part[c] = _dot_range(z, y, lo, hi)
        total = v.dtype.type(0)
        for c in range(nchunks):
            total += part[c]
        return total

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def sqnorms(y, z, part):
        """``(|y|^2, |z|^2)``; ``part``: ``(nchunks, 2)`` of the real dtype."""
        n = y.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            part[c, 0] = _sqnorm_range(y, lo, hi)
            part[c, 1] = _sqnorm_range(z, lo, hi)
        yy = 0.0
        zz = 0.0
        for c in range(nchunks):
            yy += part[c, 0]
            zz += part[c, 1]
        return yy, zz

    return (bicg_directions, bicg_update, qmr_scale, qmr_directions, qmr_lanczos, qmr_update,
            qmr_scale_preconditioned, sqnorms)


BICG_PARALLEL = _make_bicg(True)
BICG_SERIAL = _make_bicg(False)


# -- two-step MGS in one vectorised loop per sweep (``lgmres``, ``gcrotmk``; ``gmres``) -----
#
# ``mgs2f_column`` is ``mgs2_column``'s arithmetic (two basis rows subtracted per
# sweep, ``w = (w - t_k v_k) - t_{k+1} v_{k+1}``, the pair's second coefficient
# through the rows' inner product, the next pair's three dot products taken in the
# same sweep), written so that LLVM vectorises it: each sweep over a chunk is ONE
# loop over contiguous 1-D rows (unsigned indices: no wraparound test) that
# subtracts and accumulates together, and the kernel is compiled with only the
# ``reassoc`` and ``contract`` flags of fast math, so that the reductions run in
# SIMD accumulators and ``w - t v`` becomes an FMA. ``mgs2_column``'s strict scalar
# lanes ran at about half BLAS's bytes per second (benchmarks/RESULTS.md, session
# 14). The order of summation inside a chunk is fixed by the compiled code and the
# chunks are added in order, so results still do not depend on the number of
# threads; they differ from ``mgs2_column``'s (and SciPy's BLAS MGS) by rounding
# only. No ``nnan``/``ninf`` flags: NaN and infinity propagate as without fast math.
# Complex products are ``complex_arith``'s (these kernels' flags must not reach Numba's
# shared complex product, which later kernels reuse), in this and every kernel below.

_FASTMATH_SUMS = {"reassoc", "contract"}
#: Unsigned loop indices: Numba then skips the negative-index (wraparound) test.
U = np.uint64


def _make_mgs2f(parallel):
    loop = prange if parallel else range

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=_FASTMATH_SUMS)
    def mgs2f_column(V, m, w, h, part):
        """Two-step modified Gram-Schmidt of ``w`` against the rows ``V[:m]``, in place.

        The contract of ``mgs2_column``: ``h[k]`` gets the MGS coefficient of row
        ``k``; returns ``(|w|^2 before, |w|^2 after)``; ``part``: scratch
        ``(nchunks(n), 4)`` of w's dtype. ``w`` must not overlap ``V[:m]``.
        """
        n = w.size
        nchunks = (n + CHUNK - 1) // CHUNK
        zero = w.dtype.type(0)
        rzero = abs2(zero)
        # first sweep: v_0 . w, v_1 . w, v_1 . v_0 and |w|^2
        for c in loop(nchunks):
            lo = U(c * CHUNK)
            hi = U(min(c * CHUNK + CHUNK, n))
            d0 = zero
            d1 = zero
            g = zero
            s = rzero
            if m >= 2:
                a = V[0]
                b = V[1]
                for i in range(lo, hi):
                    wi = w[i]
                    ai = a[i]
                    bi = b[i]
                    d0 += conj_multiply(ai, wi)
                    d1 += conj_multiply(bi, wi)
                    g += conj_multiply(bi, ai)
                    s += abs2(wi)
            elif m == 1:
                a = V[0]
                for i in range(lo, hi):
                    wi = w[i]
                    d0 += conj_multiply(a[i], wi)
                    s += abs2(wi)
            else:
                for i in range(lo, hi):
                    s += abs2(w[i])
            part[c, 0] = d0
            part[c, 1] = d1
            part[c, 2] = g
            part[c, 3] = s
        da = zero
        db = zero
        gab = zero
        before = 0.0
        for c in range(nchunks):
            da += part[c, 0]
            db += part[c, 1]
            gab += part[c, 2]
            before += part[c, 3].real
        after = before
        k = 0
        while k < m:
            two = k + 1 < m
            ta = da
            tb = db - multiply(ta, gab) if two else zero
            h[k] = ta
            if two:
                h[k + 1] = tb
            nxt = k + 2 if two else k + 1  # first row not yet subtracted
            ndots = min(m - nxt, 2)
            for c in loop(nchunks):
                lo = U(c * CHUNK)
                hi = U(min(c * CHUNK + CHUNK, n))
                p = zero
                q = zero
                g = zero
                s = rzero
                a = V[k]
                if not two:  # the last row alone, then |w|^2
                    for i in range(lo, hi):
                        wi = w[i] - multiply(ta, a[i])
                        w[i] = wi
                        s += abs2(wi)
                else:
                    b = V[k + 1]
                    if ndots == 2:
                        e = V[nxt]
                        f = V[nxt + 1]
                        for i in range(lo, hi):
                            wi = (w[i] - multiply(ta, a[i])) - multiply(tb, b[i])
                            w[i] = wi
                            ei = e[i]
                            fi = f[i]
                            p += conj_multiply(ei, wi)
                            q += conj_multiply(fi, wi)
                            g += conj_multiply(fi, ei)
                    elif ndots == 1:
                        e = V[nxt]
                        for i in range(lo, hi):
                            wi = (w[i] - multiply(ta, a[i])) - multiply(tb, b[i])
                            w[i] = wi
                            p += conj_multiply(e[i], wi)
                    else:
                        for i in range(lo, hi):
                            wi = (w[i] - multiply(ta, a[i])) - multiply(tb, b[i])
                            w[i] = wi
                            s += abs2(wi)
                part[c, 0] = p
                part[c, 1] = q
                part[c, 2] = g
                part[c, 3] = s
            da = zero
            db = zero
            gab = zero
            if ndots == 0:
                after = 0.0
                for c in range(nchunks):
                    after += part[c, 3].real
            else:
                for c in range(nchunks):
                    da += part[c, 0]
                    db += part[c, 1]
                    gab += part[c, 2]
            k = nxt
        return before, after

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=_FASTMATH_SUMS)
    def combine_rows(V, m, y, x):
        """``x += V[:m].T @ y`` (in order of the rows per entry), in cache blocks."""
        n = x.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            clo = c * CHUNK
            chi = min(clo + CHUNK, n)
            for blo in range(clo, chi, BLOCK):
                lo = U(blo)
                hi = U(min(blo + BLOCK, chi))
                for k in range(m):
                    yk = y[k]
                    v = V[k]
                    for i in range(lo, hi):
                        x[i] += multiply(yk, v[i])

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=_FASTMATH_SUMS)
    def scale_vec(w, a):
        """``w *= a``."""
        n = w.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = U(c * CHUNK)
            hi = U(min(c * CHUNK + CHUNK, n))
            for i in range(lo, hi):
                w[i] = multiply(w[i], a)

    return mgs2f_column, combine_rows, scale_vec


#: ``(mgs2f_column, combine_rows, scale_vec)``, parallel and serial.
MGS2F_PARALLEL = _make_mgs2f(True)
MGS2F_SERIAL = _make_mgs2f(False)


def _make_combine2(parallel):
    loop = prange if parallel else range

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=_FASTMATH_SUMS)
    def combine2_rows(V, m1, y1, x1, m2, y2, x2):
        """``x1 += V[:m1].T @ y1`` and ``x2 += V[:m2].T @ y2`` in one pass over the rows:
        each output entry summed as ``combine_rows`` sums it (in order of the rows)."""
        n = x1.size
        nchunks = (n + CHUNK - 1) // CHUNK
        m = max(m1, m2)
        for c in loop(nchunks):
            clo = c * CHUNK
            chi = min(clo + CHUNK, n)
            for blo in range(clo, chi, BLOCK):
                lo = U(blo)
                hi = U(min(blo + BLOCK, chi))
                for k in range(m):
                    v = V[k]
                    if k < m1:
                        a = y1[k]
                        for i in range(lo, hi):
                            x1[i] += multiply(a, v[i])
                    if k < m2:
                        b = y2[k]
                        for i in range(lo, hi):
                            x2[i] += multiply(b, v[i])

    return combine2_rows


#: ``combine2_rows``, parallel and serial.
COMBINE2_PARALLEL = _make_combine2(True)
COMBINE2_SERIAL = _make_combine2(False)


# -- MGS through the Gram matrix of the rows (``lgmres``) -----------------------------------
#
# Modified Gram-Schmidt's coefficients satisfy h_k = v_k . w - sum_{i<k} (v_k . v_i) h_i
# (v_k . v_i = sum conj(v_k) v_i): with the rows' Gram entries known, all of a column's
# MGS coefficients follow from the plain dots v_k . w by a forward substitution, and
# the column needs two sweeps over the rows (the dots; then w -= sum_k h_k v_k), not
# ``mgs2f_column``'s one sweep per two rows (each row read there twice: once for its
# dot, once for its subtraction, plus w read and written each sweep). The Gram
# entries of the new row come in the second sweep: per cache block, w's block is
# finished first (all rows subtracted, in MGS's order per entry), then its dots with
# the rows' blocks (still in L2) are taken. This is the one-reduce "MGS through the
# strictly lower Gram matrix" of the low-synchronisation Gram-Schmidt literature
# (Swirydowicz et al., 2020), whose loss of orthogonality is MGS's; the coefficients
# equal MGS's up to rounding. Reductions: per chunk, added in chunk order (results do
# not depend on the number of threads).


@njit(inline="always")
def _dots4_range(V, k, nrows, w, lo, hi):
    """``(V[k + r] . w)[lo:hi]`` for ``r < nrows <= 4`` (the others zero), one pass over w."""
    zero = w.dtype.type(0)
    d0 = zero
    d1 = zero
    d2 = zero
    d3 = zero
    if nrows >= 4:
        a = V[k]
        b = V[k + 1]
        e = V[k + 2]
        f = V[k + 3]
        for i in range(lo, hi):
            wi = w[i]
            d0 += conj_multiply(a[i], wi)
            d1 += conj_multiply(b[i], wi)
            d2 += conj_multiply(e[i], wi)
            d3 += conj_multiply(f[i], wi)
    elif nrows == 3:
        a = V[k]
        b = V[k + 1]
        e = V[k + 2]
        for i in range(lo, hi):
            wi = w[i]
            d0 += conj_multiply(a[i], wi)
            d1 += conj_multiply(b[i], wi)
            d2 += conj_multiply(e[i], wi)
    elif nrows == 2:
        a = V[k]
        b = V[k + 1]
        for i in range(lo, hi):
            wi = w[i]
            d0 += conj_multiply(a[i], wi)
            d1 += conj_multiply(b[i], wi)
    elif nrows == 1:
        a = V[k]
        for i in range(lo, hi):
            d0 += conj_multiply(a[i], w[i])
    return d0, d1, d2, d3


def _make_mgsg(parallel):
    loop = prange if parallel else range

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=_FASTMATH_SUMS)
    def mgsg_column(V, m, w, h, G, part, indptr, indices, data, z):
        """Modified Gram-Schmidt of ``w`` (in place) against ``V[:m]`` from their Gram matrix.

        ``G[k, i]`` (``i < k < m``): ``sum conj(V[k]) V[i]``, given. ``h[:m]`` gets
        the MGS coefficients; returns ``(|w|^2 before, |w|^2 after)``. When ``w``
        after is nonzero and its reciprocal norm ``a`` finite, ``G[m, :m]`` gets the
        entries of the normalised ``a w`` (the next row): ``sum conj(a w) V[i]``.
        ``part``: scratch ``(nchunks(n), m + 1)`` of w's dtype. ``w`` must not
        overlap ``V[:m]``.

        With a non-empty ``indptr``, ``w`` is first computed here as ``A @ z``
        (``indptr``, ``indices``, ``data``: a square CSR ``A`` of w's dtype; ``z``
        must not overlap ``w``): each chunk's rows, then at once that chunk's dots
        (one parallel region less per column than a separate product, and w's chunk
        read back from cache). Each row is summed in two partial sums (even and odd
        entries, the last odd one into the first), as ``csr.spmv_short_rows`` does;
        the callers keep this for matrices of short rows whose chunks hold about
        the same number of entries (the chunks are split among the threads as they
        come, not by entries).
        """
        n = w.size
        nch = (n + CHUNK - 1) // CHUNK
        zero = w.dtype.type(0)
        rzero = abs2(zero)
        product = indptr.size > 0
        # first sweep: v_k . w for every row (four rows per pass over w's chunk), |w|^2
        for c in loop(nch):
            lo = U(c * CHUNK)
            hi = U(min(c * CHUNK + CHUNK, n))
            if product:
                q = U(indptr[lo])
                for r in range(lo, hi):
                    stop = U(indptr[r + U(1)])
                    a0 = zero
                    a1 = zero
                    while q + U(1) < stop:
                        a0 += multiply(data[q], z[U(indices[q])])
                        a1 += multiply(data[q + U(1)], z[U(indices[q + U(1)])])
                        q += U(2)
                    if q < stop:
                        a0 += multiply(data[q], z[U(indices[q])])
                        q += U(1)
                    w[r] = a0 + a1
            s = rzero
            for i in range(lo, hi):
                s += abs2(w[i])
            part[c, m] = s
            for k in range(0, m, 4):
                nr = min(m - k, 4)
                d0, d1, d2, d3 = _dots4_range(V, k, nr, w, lo, hi)
                part[c, k] = d0
                if nr > 1:
                    part[c, k + 1] = d1
                if nr > 2:
                    part[c, k + 2] = d2
                if nr > 3:
                    part[c, k + 3] = d3
        before = 0.0
        for c in range(nch):
            before += part[c, m].real
        for k in range(m):  # forward substitution with the strictly lower Gram matrix
            d = zero
            for c in range(nch):
                d += part[c, k]
            for i in range(k):
                d -= multiply(G[k, i], h[i])
            h[k] = d
        # second sweep, per cache block: w -= sum_k h_k v_k (in order of k per entry),
        # then the finished block's dots with the rows (from L2) and |w|^2
        for c in loop(nch):
            clo = c * CHUNK
            chi = min(clo + CHUNK, n)
            for k in range(m + 1):
                part[c, k] = zero
            for blo in range(clo, chi, BLOCK):
                lo = U(blo)
                hi = U(min(blo + BLOCK, chi))
                k = 0
                while k + 3 < m:
                    ta = h[k]
                    tb = h[k + 1]
                    tc = h[k + 2]
                    td = h[k + 3]
                    a = V[k]
                    b = V[k + 1]
                    e = V[k + 2]
                    f = V[k + 3]
                    for i in range(lo, hi):
                        w[i] = ((((w[i] - multiply(ta, a[i])) - multiply(tb, b[i]))
                                 - multiply(tc, e[i])) - multiply(td, f[i]))
                    k += 4
                while k < m:
                    ta = h[k]
                    a = V[k]
                    for i in range(lo, hi):
                        w[i] = w[i] - multiply(ta, a[i])
                    k += 1
                s = rzero
                for i in range(lo, hi):
                    s += abs2(w[i])
                part[c, m] += s
                for k in range(0, m, 4):
                    nr = min(m - k, 4)
                    d0, d1, d2, d3 = _dots4_range(V, k, nr, w, lo, hi)
                    part[c, k] += d0
                    if nr > 1:
                        part[c, k + 1] += d1
                    if nr > 2:
                        part[c, k + 2] += d2
                    if nr > 3:
                        part[c, k + 3] += d3
        after = 0.0
        for c in range(nch):
            after += part[c, m].real
        if after > 0.0:
            a = 1.0 / np.sqrt(after)
            if np.isfinite(a):
                for k in range(m):
                    e = zero
                    for c in range(nch):
                        e += part[c, k]
                    G[m, k] = times_real(np.conj(e), a)
        return before, after

    return mgsg_column


#: ``mgsg_column``, parallel and serial.
MGSG_PARALLEL = _make_mgsg(True)
MGSG_SERIAL = _make_mgsg(False)


# -- one sweep per LGMRES column: MGS through the Gram matrix fused with the next product ---
#
# ``mgsg_column`` reads the basis twice per column (the dots, then the subtraction);
# the next column's dots come after the product of the finished vector. With the
# product (a CSR matrix of short reach) taken block by block behind the sweep that
# finishes the vector, the next column's dots are taken while the rows' blocks are
# still in L2: one read of the basis per column. Each chunk (``fchunks(n)`` of them,
# whole blocks, as even as blocks allow: thread 0 and 1 of two get the same work
# where n / FCHUNK is not a whole number) finishes its blocks of w in order and
# multiplies every block of A's rows whose columns lie inside the part of the chunk
# already finished; the other blocks (the
# rows that reach into a neighbouring chunk, a few per chunk for a banded matrix)
# are multiplied in a second parallel pass. Which blocks go to which pass depends on
# A's pattern alone, so sums (per chunk, in a fixed order, chunks added in order) do
# not depend on the number of threads. The product is taken of the unnormalised
# vector and scaled afterwards (rounding differs from A times the normalised vector),
# and the rows are normalised by the next sweep as it passes.

#: Entries per parallel chunk of ``lgmres_sweep`` (at most; the chunks are balanced).
FCHUNK = 32768


def fchunks(n):
    """Number of ``lgmres_sweep`` chunks of a vector of length ``n`` (the rows of its
    ``part`` scratch)."""
    return max(1, -(-n // FCHUNK))


@njit(inline="always")
def _fchunk(c, nch, n):
    """Blocks ``[b0, b1)`` and entries ``[lo, hi)`` of chunk ``c`` of ``nch``: the
    ``ceil(n / BLOCK)`` blocks split as evenly as whole blocks allow."""
    nblk = (n + BLOCK - 1) // BLOCK
    b0 = c * nblk // nch
    b1 = (c + 1) * nblk // nch
    return b0, b1, b0 * BLOCK, min(b1 * BLOCK, n)


@njit(cache=True)
def block_reach(indptr, indices, n):
    """Per BLOCK of rows of an ``(n, n)`` CSR matrix: the smallest and largest column
    stored (``n`` and ``-1`` for a block without entries), and how many blocks
    ``lgmres_sweep`` multiplies in its first pass (inside their chunk)."""
    nb = (n + BLOCK - 1) // BLOCK
    lo = np.full(nb, n, dtype=np.int64)
    hi = np.full(nb, -1, dtype=np.int64)
    for b in range(nb):
        for r in range(b * BLOCK, min(b * BLOCK + BLOCK, n)):
            for k in range(indptr[r], indptr[r + 1]):
                c = np.int64(indices[k])
                if c < lo[b]:
                    lo[b] = c
                if c > hi[b]:
                    hi[b] = c
    inside = 0
    nch = max(1, (n + FCHUNK - 1) // FCHUNK)
    for c in range(nch):
        b0, b1, clo, chi = _fchunk(c, nch, n)
        for b in range(b0, b1):
            if lo[b] >= clo and hi[b] < chi:
                inside += 1
    return lo, hi, inside


def _make_fused(parallel):
    loop = prange if parallel else range

    @njit(inline="always")
    def _product_block(V, m, b, n, indptr, indices, data, out_part, c):
        """Rows of block ``b``: ``V[m + 1] = A @ V[m]`` there, and the block's
        ``V[k] . V[m + 1]`` (k <= m) and ``|V[m + 1]|^2`` into ``out_part[c]``."""
        w = V[m]
        u = V[m + 1]
        zero = w.dtype.type(0)
        lo = b * BLOCK
        hi = min(lo + BLOCK, n)
        k = U(indptr[lo])
        for r in range(lo, hi):  # spmv_short_rows's row loop: two partial sums, unsigned
            stop = U(indptr[r + 1])
            s0 = zero
            s1 = zero
            while k + U(1) < stop:
                s0 += multiply(data[k], w[U(indices[k])])
                s1 += multiply(data[k + U(1)], w[U(indices[k + U(1)])])
                k += U(2)
            if k < stop:
                s0 += multiply(data[k], w[U(indices[k])])
                k += U(1)
            u[r] = s0 + s1
        ulo = U(lo)
        uhi = U(hi)
        s2 = abs2(zero)
        for i in range(ulo, uhi):
            s2 += abs2(u[i])
        out_part[c, m + 1] += s2
        for k in range(0, m + 1, 4):
            nr = min(m + 1 - k, 4)
            d0, d1, d2, d3 = _dots4_range(V, k, nr, u, ulo, uhi)
            out_part[c, k] += d0
            if nr > 1:
                out_part[c, k + 1] += d1
            if nr > 2:
                out_part[c, k + 2] += d2
            if nr > 3:
                out_part[c, k + 3] += d3

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=_FASTMATH_SUMS)
    def lgmres_sweep(V, m, h, a_row, a_w, G, indptr, indices, data, reach_lo, reach_hi,
                     given, mode, done, part, part2, hnext):
        """One LGMRES column in one sweep over the basis rows ``V[:m]``.

        On entry ``V[m - 1]`` holds its row divided by ``a_row`` (normalised here),
        ``V[m]`` holds ``w / a_w``, and ``h[:m]`` the MGS coefficients of ``w``.
        ``V[m]`` becomes ``w - sum_k h_k v_k`` (not normalised); ``G[m, :m]`` its
        normalised Gram entries (when its norm is nonzero and finite). ``mode`` 1:
        ``V[m + 1] = A @ V[m]`` (``indptr``, ``indices``, ``data``: A as CSR, of reach
        ``block_reach``), mode 2: ``V[m + 1] = given``, 0: nothing more. With a
        next vector, ``hnext[:m + 1]`` gets its MGS coefficients (of ``a V[m + 1]``
        in mode 1, ``a`` the new row's reciprocal norm, of ``V[m + 1]`` in mode 2).
        Returns ``(|w_new|^2, |next w|^2)``. ``part``, ``part2``: scratch
        ``(fchunks(n), m + 2)`` or wider; ``done``: bool scratch, one per block.
        """
        n = V.shape[1]
        nch = (n + FCHUNK - 1) // FCHUNK
        w = V[m]
        zero = w.dtype.type(0)
        rzero = abs2(zero)
        for c in loop(nch):
            b0, b1, clo, chi = _fchunk(c, nch, n)
            for k in range(m + 2):
                part[c, k] = zero
                part2[c, k] = zero
            nb = b0
            for b in range(b0, b1):
                lo = U(b * BLOCK)
                hi = U(min(b * BLOCK + BLOCK, chi))
                if m >= 1:
                    r = V[m - 1]
                    for i in range(lo, hi):
                        r[i] = times_real(r[i], a_row)
                for i in range(lo, hi):
                    w[i] = times_real(w[i], a_w)
                k = 0
                while k + 3 < m:
                    ta = h[k]
                    tb = h[k + 1]
                    tc = h[k + 2]
                    td = h[k + 3]
                    va = V[k]
                    vb = V[k + 1]
                    vc = V[k + 2]
                    vd = V[k + 3]
                    for i in range(lo, hi):
                        w[i] = ((((w[i] - multiply(ta, va[i])) - multiply(tb, vb[i]))
                                 - multiply(tc, vc[i])) - multiply(td, vd[i]))
                    k += 4
                while k < m:
                    ta = h[k]
                    va = V[k]
                    for i in range(lo, hi):
                        w[i] = w[i] - multiply(ta, va[i])
                    k += 1
                s = rzero
                for i in range(lo, hi):
                    s += abs2(w[i])
                part[c, m] += s
                for k in range(0, m, 4):
                    nr = min(m - k, 4)
                    d0, d1, d2, d3 = _dots4_range(V, k, nr, w, lo, hi)
                    part[c, k] += d0
                    if nr > 1:
                        part[c, k + 1] += d1
                    if nr > 2:
                        part[c, k + 2] += d2
                    if nr > 3:
                        part[c, k + 3] += d3
                if mode == 2:
                    u = V[m + 1]
                    s2 = rzero
                    for i in range(lo, hi):
                        gi = given[i]
                        u[i] = gi
                        s2 += abs2(gi)
                    part2[c, m + 1] += s2
                    for k in range(0, m + 1, 4):
                        nr = min(m + 1 - k, 4)
                        d0, d1, d2, d3 = _dots4_range(V, k, nr, u, lo, hi)
                        part2[c, k] += d0
                        if nr > 1:
                            part2[c, k + 1] += d1
                        if nr > 2:
                            part2[c, k + 2] += d2
                        if nr > 3:
                            part2[c, k + 3] += d3
                elif mode == 1:
                    fin = min(b * BLOCK + BLOCK, chi)  # w is finished in [clo, fin)
                    while nb <= b:
                        if reach_lo[nb] < clo:  # reaches into the previous chunk
                            done[nb] = False
                            nb += 1
                        elif reach_hi[nb] < fin:
                            _product_block(V, m, nb, n, indptr, indices, data, part2, c)
                            done[nb] = True
                            nb += 1
                        else:
                            break
            if mode == 1:
                for b in range(nb, b1):
                    done[b] = False
        if mode == 1:  # the blocks that reach into a neighbouring chunk
            for c in loop(nch):
                b0, b1, clo, chi = _fchunk(c, nch, n)
                for b in range(b0, b1):
                    if not done[b]:
                        _product_block(V, m, b, n, indptr, indices, data, part2, c)
        after = 0.0
        for c in range(nch):
            after += part[c, m].real
        a = np.nan
        if after > 0.0:
            a = 1.0 / np.sqrt(after)
            if np.isfinite(a):
                for k in range(m):
                    e = zero
                    for c in range(nch):
                        e += part[c, k]
                    G[m, k] = times_real(np.conj(e), a)
        nxt = 0.0
        if mode != 0:
            for c in range(nch):
                nxt += part2[c, m + 1].real
            sw = a if mode == 1 else 1.0  # next w = sw * V[m + 1]
            for k in range(m + 1):
                d = zero
                for c in range(nch):
                    d += part2[c, k]
                d = times_real(d, sw)
                if k == m:
                    d = times_real(d, a)  # V[m] normalised
                for i in range(k):
                    d -= multiply(G[k, i], hnext[i])
                hnext[k] = d
            nxt = nxt * sw * sw
        return after, nxt

    return lgmres_sweep


#: ``lgmres_sweep``, parallel and serial.
LGMRES_SWEEP_PARALLEL = _make_fused(True)
LGMRES_SWEEP_SERIAL = _make_fused(False)
