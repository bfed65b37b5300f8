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


@njit(inline="always")
def _dots_rows(V, k, r, w, lo, hi):
    """``(V[k] . w, ..., V[k + r - 1] . w)`` over ``[lo, hi)`` for ``r <= 4`` rows, reading
    each entry of ``w`` once for the four rows (four lanes per row); unused results
    are zero."""
    v0 = V[k]
    v1 = V[k + 1 if r > 1 else k]
    v2 = V[k + 2 if r > 2 else k]
    v3 = V[k + 3 if r > 3 else k]
    a0 = 0.0
    a1 = 0.0
    a2 = 0.0
    a3 = 0.0
    b0 = 0.0
    b1 = 0.0
    b2 = 0.0
    b3 = 0.0
    c0 = 0.0
    c1 = 0.0
    c2 = 0.0
    c3 = 0.0
    d0 = 0.0
    d1 = 0.0
    d2 = 0.0
    d3 = 0.0
    i = lo
    while i + 4 <= hi:
        x0 = w[i]
        x1 = w[i + 1]
        x2 = w[i + 2]
        x3 = w[i + 3]
        a0 += v0[i] * x0
        a1 += v0[i + 1] * x1
        a2 += v0[i + 2] * x2
        a3 += v0[i + 3] * x3
        b0 += v1[i] * x0
        b1 += v1[i + 1] * x1
        b2 += v1[i + 2] * x2
        b3 += v1[i + 3] * x3
        c0 += v2[i] * x0
        c1 += v2[i + 1] * x1
        c2 += v2[i + 2] * x2
        c3 += v2[i + 3] * x3
        d0 += v3[i] * x0
        d1 += v3[i + 1] * x1
        d2 += v3[i + 2] * x2
        d3 += v3[i + 3] * x3
        i += 4
    while i < hi:
        x0 = w[i]
        a0 += v0[i] * x0
        b0 += v1[i] * x0
        c0 += v2[i] * x0
        d0 += v3[i] * x0
        i += 1
    ra = (a0 + a1) + (a2 + a3)
    rb = (b0 + b1) + (b2 + b3) if r > 1 else 0.0
    rc = (c0 + c1) + (c2 + c3) if r > 2 else 0.0
    rd = (d0 + d1) + (d2 + d3) if r > 3 else 0.0
    return ra, rb, rc, rd


@njit(inline="always")
def _block_dots(V, m, w, lo, hi, part, c):
    """``part[c, k] = V[k] . w`` over ``[lo, hi)`` for ``k < m``, four rows per sweep."""
    k = 0
    while k < m:
        r = min(4, m - k)
        ra, rb, rc, rd = _dots_rows(V, k, r, w, lo, hi)
        part[c, k] = ra
        if r > 1:
            part[c, k + 1] = rb
        if r > 2:
            part[c, k + 2] = rc
        if r > 3:
            part[c, k + 3] = rd
        k += 4


@njit(inline="always")
def _block_sub(V, m, w, h, lo, hi):
    """``w[lo:hi] -= V[:m, lo:hi]^T h``, in cache blocks, four rows per sweep."""
    for blo in range(lo, hi, BLOCK):
        bhi = min(blo + BLOCK, hi)
        k = 0
        while k + 4 <= m:
            h0 = h[k]
            h1 = h[k + 1]
            h2 = h[k + 2]
            h3 = h[k + 3]
            v0 = V[k]
            v1 = V[k + 1]
            v2 = V[k + 2]
            v3 = V[k + 3]
            for i in range(blo, bhi):
                w[i] = w[i] - (((h0 * v0[i] + h1 * v1[i]) + h2 * v2[i]) + h3 * v3[i])
            k += 4
        while k < m:
            hk = h[k]
            vk = V[k]
            for i in range(blo, bhi):
                w[i] -= hk * vk[i]
            k += 1


@njit(inline="always")
def _block_combine(V, m, Y, q, lo, hi, out, off):
    """``out[r, off + i - lo] = sum_k Y[k, r] V[k, i]`` for ``i`` in ``[lo, hi)``, ``r < q``
    (four rows of ``V`` per sweep)."""
    nb = hi - lo
    for r in range(q):
        o = out[r]
        for i in range(nb):
            o[off + i] = 0.0
        k = 0
        while k + 4 <= m:
            y0 = Y[k, r]
            y1 = Y[k + 1, r]
            y2 = Y[k + 2, r]
            y3 = Y[k + 3, r]
            v0 = V[k]
            v1 = V[k + 1]
            v2 = V[k + 2]
            v3 = V[k + 3]
            for i in range(nb):
                j = lo + i
                o[off + i] += ((y0 * v0[j] + y1 * v1[j]) + y2 * v2[j]) + y3 * v3[j]
            k += 4
        while k < m:
            yk = Y[k, r]
            vk = V[k]
            for i in range(nb):
                o[off + i] += yk * vk[lo + i]
            k += 1


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
            _block_dots(V, m, w, lo, hi, part, c)
            part[c, m] = _sqnorm_range(w, lo, hi)

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def dots(V, m, w, part):
        """``part[c, k] = V[k] . w`` (k < m) and ``part[c, m] = |w|^2`` over chunk ``c``."""
        n = w.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            _block_dots(V, m, w, lo, hi, part, c)
            part[c, m] = _sqnorm_range(w, lo, hi)

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def sub_norm(V, m, w, h, part):
        """``w -= V[:m]^T h``; ``part[c] = |w|^2`` over chunk ``c``."""
        n = w.size
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            _block_sub(V, m, w, h, lo, hi)
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
                _block_combine(V, m, Y, q, blo, bhi, tmp, 0)
                for r in range(q):
                    for i in range(bhi - blo):
                        V[r, blo + i] = tmp[r, i]

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=False)
    def ritz_vectors(V, m, Y, X):
        """``X[r] = sum_k Y[k, r] V[k]`` for ``k < m``; ``X`` is ``(q, n)``, C order."""
        n = V.shape[1]
        q = X.shape[0]
        nchunks = (n + CHUNK - 1) // CHUNK
        for c in loop(nchunks):
            lo = c * CHUNK
            hi = min(lo + CHUNK, n)
            for blo in range(lo, hi, BLOCK):
                bhi = min(blo + BLOCK, hi)
                _block_combine(V, m, Y, q, blo, bhi, X, blo)

    return local_step, sub_dots, dots, sub_norm, scale, rotate, ritz_vectors


LANCZOS_PARALLEL = _make(True)
LANCZOS_SERIAL = _make(False)


# -- One fused Lanczos step (session 15) ----------------------------------------------------
#
# ``step`` runs a whole step after the product ``y = A v_j`` in one call (one dispatch from
# Python instead of five to eight, which is most of a step's cost at n = 2,000): the local
# recurrence, the classical Gram-Schmidt pass against ``V[:j+1]`` (coefficients, then the
# subtraction with ``|w|^2``), the DGKS repeat when the pass cancelled most of ``w``, and the
# normalisation. The basis passes read each basis row once per pass and go over row blocks
# in parallel (``prange`` over the chunks of ``STEP_CHUNK`` entries, one chunk per task; the chunk
# sums are added in chunk order, so the results do not depend on the number of threads).
#
# The passes are compiled with the ``reassoc`` and ``contract`` fast-math flags: with
# them LLVM packs the eight row sums of the coefficient pass into SIMD registers
# and fuses the multiply-adds (a strict in-order sum is one dependent chain per row). The
# order of summation is then the compiler's, fixed for a given build and chunk, and the
# chunk sums are still added in chunk order. No ``nnan``/``ninf``: NaN and Inf propagate.

FASTMATH = {"reassoc", "contract"}
#: Entries per chunk of the step's passes: smaller than ``CHUNK`` so that two threads get
#: balanced shares from n = 20,000 on (a chunk's rows still stream in long runs).
STEP_CHUNK = 4096


def step_chunks(n):
    """Number of chunks of the step's passes (rows of the ``part`` scratch arrays)."""
    return max(1, -(-n // STEP_CHUNK))


@njit(inline="always")
def _dots8(V, k, r, w, lo, hi):
    """``V[k + t, lo:hi] . w[lo:hi]`` for ``t < r <= 8`` (rows past ``r`` repeat row ``k``
    and their sums are dropped by the caller): one read of ``w`` for eight rows, eight
    independent sums."""
    v0 = V[k]
    v1 = V[k + 1 if r > 1 else k]
    v2 = V[k + 2 if r > 2 else k]
    v3 = V[k + 3 if r > 3 else k]
    v4 = V[k + 4 if r > 4 else k]
    v5 = V[k + 5 if r > 5 else k]
    v6 = V[k + 6 if r > 6 else k]
    v7 = V[k + 7 if r > 7 else k]
    a0 = 0.0
    a1 = 0.0
    a2 = 0.0
    a3 = 0.0
    a4 = 0.0
    a5 = 0.0
    a6 = 0.0
    a7 = 0.0
    for i in range(lo, hi):
        x = w[i]
        a0 += v0[i] * x
        a1 += v1[i] * x
        a2 += v2[i] * x
        a3 += v3[i] * x
        a4 += v4[i] * x
        a5 += v5[i] * x
        a6 += v6[i] * x
        a7 += v7[i] * x
    return a0, a1, a2, a3, a4, a5, a6, a7


@njit(inline="always")
def _chunk_dots(V, m, w, lo, hi, part, c):
    """``part[c, k] = V[k, lo:hi] . w[lo:hi]`` for ``k < m``; ``part[c, m] = |w[lo:hi]|^2``."""
    for k in range(0, m, 8):
        r = min(8, m - k)
        sums = _dots8(V, k, r, w, lo, hi)
        for t in range(r):
            part[c, k + t] = sums[t]
    s = 0.0
    for i in range(lo, hi):
        s += w[i] * w[i]
    part[c, m] = s


@njit(inline="always")
def _chunk_sub_norm(V, m, w, h, lo, hi):
    """``w[lo:hi] -= V[:m, lo:hi]^T h`` in cache blocks of ``BLOCK`` entries copied to a
    local buffer (four rows per sweep of a block); returns ``|w[lo:hi]|^2``. The buffer
    lets LLVM vectorise the sweeps: updating ``w`` in place, which may alias ``V`` (it is
    a row of it), took 1.3-1.8x longer (one thread, 20 rows, n = 22,500-90,000)."""
    s = 0.0
    buf = np.empty(BLOCK)
    for blo in range(lo, hi, BLOCK):
        bhi = min(blo + BLOCK, hi)
        nb = bhi - blo
        for i in range(nb):
            buf[i] = w[blo + i]
        k = 0
        while k + 4 <= m:
            h0 = h[k]
            h1 = h[k + 1]
            h2 = h[k + 2]
            h3 = h[k + 3]
            v0 = V[k, blo:bhi]
            v1 = V[k + 1, blo:bhi]
            v2 = V[k + 2, blo:bhi]
            v3 = V[k + 3, blo:bhi]
            for i in range(nb):
                buf[i] = buf[i] - (((h0 * v0[i] + h1 * v1[i]) + h2 * v2[i]) + h3 * v3[i])
            k += 4
        while k < m:
            hk = h[k]
            vk = V[k, blo:bhi]
            for i in range(nb):
                buf[i] -= hk * vk[i]
            k += 1
        for i in range(nb):
            x = buf[i]
            w[blo + i] = x
            s += x * x
    return s


def _make_step(parallel):
    loop = prange if parallel else range

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=FASTMATH)
    def cgs_dots(V, m, w, part):
        """``part[c, k] = V[k] . w`` (k < m) and ``part[c, m] = |w|^2`` over chunk ``c``."""
        n = w.size
        nch = (n + STEP_CHUNK - 1) // STEP_CHUNK
        for c in loop(nch):
            lo = c * STEP_CHUNK
            hi = min(lo + STEP_CHUNK, n)
            _chunk_dots(V, m, w, lo, hi, part, c)

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=FASTMATH)
    def cgs_sub_norm(V, m, w, h, part):
        """``w -= V[:m]^T h``; ``part[c] = |w|^2`` over chunk ``c``."""
        n = w.size
        nch = (n + STEP_CHUNK - 1) // STEP_CHUNK
        for c in loop(nch):
            lo = c * STEP_CHUNK
            hi = min(lo + STEP_CHUNK, n)
            part[c] = _chunk_sub_norm(V, m, w, h, lo, hi)

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=FASTMATH)
    def gs_subtract(V, m, w, h, part, rpart):
        """The second half of a classical Gram-Schmidt pass, after ``_chunk_dots`` filled
        ``part``: ``h[:m+1]`` = the chunk sums of ``part`` (``h[m] = |w|^2``), then
        ``w -= V[:m]^T h``; returns ``(|w|^2 before, after)``."""
        n = w.size
        nch = (n + STEP_CHUNK - 1) // STEP_CHUNK
        for k in range(m + 1):
            s = 0.0
            for c in range(nch):
                s += part[c, k]
            h[k] = s
        before = h[m]
        for c in loop(nch):
            lo = c * STEP_CHUNK
            hi = min(lo + STEP_CHUNK, n)
            rpart[c] = _chunk_sub_norm(V, m, w, h, lo, hi)
        after = 0.0
        for c in range(nch):
            after += rpart[c]
        return before, after

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=FASTMATH)
    def cgs_pass(V, m, w, h, part, rpart, v, alpha):
        """``w -= alpha v`` (skipped for ``alpha = 0``), then one classical Gram-Schmidt
        pass of ``w`` against ``V[:m]``: ``h = V[:m] w`` (into ``h[:m]``),
        ``w -= V[:m]^T h``; returns ``(|w|^2 before the pass, after)``."""
        n = w.size
        nch = (n + STEP_CHUNK - 1) // STEP_CHUNK
        for c in loop(nch):
            lo = c * STEP_CHUNK
            hi = min(lo + STEP_CHUNK, n)
            if alpha != 0.0:
                for i in range(lo, hi):
                    w[i] -= alpha * v[i]
            _chunk_dots(V, m, w, lo, hi, part, c)
        return gs_subtract(V, m, w, h, part, rpart)

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=FASTMATH)
    def step(V, j, y, beta, first, dgks2, h, part, rpart):
        """Lanczos step ``j`` after the product ``y = A v_j``, into ``w = V[j + 1]``.

        ``first`` (the first step after a restart, which couples to every kept vector):
        ``w = y``; otherwise ``w = y - beta v_{j-1} - alpha v_j`` with ``alpha = v_j . w``.
        Then one classical Gram-Schmidt pass against ``V[:j+1]``, repeated once when
        ``|w|^2`` fell below ``dgks2`` times its value before the pass. When the last pass
        leaves ``|w|^2 > dgks2 * before > 0``, ``w`` is normalised. Returns
        ``(alpha, before, after)``: the diagonal entry ``T[j, j]`` and ``|w|^2`` before and
        after the last pass (``w`` was normalised iff ``after > dgks2 * before`` and
        ``after > 0``). ``h`` (length ``>= j + 2``) and ``part`` (``(nchunks, >= j + 2)``),
        ``rpart`` (``nchunks``) are scratch."""
        n = y.size
        nch = (n + STEP_CHUNK - 1) // STEP_CHUNK
        m = j + 1
        w = V[j + 1]
        vj = V[j]
        vp = V[j - 1 if j > 0 else j]
        alpha = 0.0
        if first:
            for c in loop(nch):
                lo = c * STEP_CHUNK
                hi = min(lo + STEP_CHUNK, n)
                for i in range(lo, hi):
                    w[i] = y[i]
        else:
            b = beta if j > 0 else 0.0
            for c in loop(nch):
                lo = c * STEP_CHUNK
                hi = min(lo + STEP_CHUNK, n)
                s = 0.0
                for i in range(lo, hi):
                    x = y[i] - b * vp[i]
                    w[i] = x
                    s += vj[i] * x
                rpart[c] = s
            for c in range(nch):
                alpha += rpart[c]
        # w -= alpha v_j fused into the coefficient pass (alpha = 0 after a restart)
        before, after = cgs_pass(V, m, w, h, part, rpart, vj, alpha)
        alpha += h[j]
        if after < dgks2 * before:
            before, after = cgs_pass(V, m, w, h, part, rpart, vj, 0.0)
            alpha += h[j]
        if after > dgks2 * before and after > 0.0:
            a = 1.0 / np.sqrt(after)
            for c in loop(nch):
                lo = c * STEP_CHUNK
                hi = min(lo + STEP_CHUNK, n)
                for i in range(lo, hi):
                    w[i] *= a
        return alpha, before, after

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=FASTMATH)
    def arnoldi_pass(V, m, w, g, part, rpart, y, u, a, v, b):
        """``w = y - (a u + b v)`` (``y`` may be ``w``), then one classical Gram-Schmidt
        pass of ``w`` against ``V[:m]``: ``g[:m] = V[:m] w``, ``w -= V[:m]^T g``; returns
        ``(|w|^2 before the pass, after)``."""
        n = w.size
        nch = (n + STEP_CHUNK - 1) // STEP_CHUNK
        for c in loop(nch):
            lo = c * STEP_CHUNK
            hi = min(lo + STEP_CHUNK, n)
            for i in range(lo, hi):
                w[i] = y[i] - (a * u[i] + b * v[i])
            _chunk_dots(V, m, w, lo, hi, part, c)
        return gs_subtract(V, m, w, g, part, rpart)

    @njit(parallel=parallel, cache=True, nogil=True, fastmath=FASTMATH)
    def arnoldi_step(V, j, y, dgks2, h, g, part, rpart):
        """Arnoldi step ``j`` after the product ``y = A v_j``, into ``w = V[j + 1]``.

        ``w = y`` less its components along ``v_j`` and ``v_{j-1}`` (classical Gram-Schmidt
        against those rows only: for a near-normal operator nearly all of ``y``), then one
        classical Gram-Schmidt pass against ``V[:j+1]`` (the local subtraction fused into
        its coefficient pass), repeated once when ``|w|^2`` fell below ``dgks2`` times its
        value before the pass (DGKS), and a third time never: when the repeat cancels as
        much again, ``w`` is left unnormalised and reported as an invariant subspace.
        Otherwise ``w`` is normalised. ``h[:j+1]`` receives the Hessenberg column (all
        coefficients added up). Returns ``(after, ok, passes)``: ``|w|^2`` after the last
        pass, whether ``w`` was normalised, and the number of whole-basis passes (1 or 2).
        ``g`` (length ``>= j + 2``), ``part`` (``(nchunks, >= j + 2)``) and ``rpart``
        (``nchunks``) are scratch."""
        n = y.size
        nch = (n + STEP_CHUNK - 1) // STEP_CHUNK
        m = j + 1
        w = V[m]
        vj = V[j]
        vp = V[j - 1 if j > 0 else j]
        for c in loop(nch):
            lo = c * STEP_CHUNK
            hi = min(lo + STEP_CHUNK, n)
            s0 = 0.0
            s1 = 0.0
            for i in range(lo, hi):
                x = y[i]
                s0 += vp[i] * x
                s1 += vj[i] * x
            part[c, 0] = s0
            part[c, 1] = s1
        cp = 0.0
        cj = 0.0
        for c in range(nch):
            cp += part[c, 0]
            cj += part[c, 1]
        if j == 0:
            cp = 0.0
        # w = y - cp v_{j-1} - cj v_j written in the coefficient pass (y is read once more
        # instead of w being written and read back)
        before, after = arnoldi_pass(V, m, w, g, part, rpart, y, vp, cp, vj, cj)
        for k in range(m):
            h[k] = g[k]
        h[j] += cj
        if j > 0:
            h[j - 1] += cp
        passes = 1
        if after < dgks2 * before:
            passes = 2
            before, after = arnoldi_pass(V, m, w, g, part, rpart, w, vj, 0.0, vj, 0.0)
            for k in range(m):
                h[k] += g[k]
            if after < dgks2 * before:
                return after, False, passes
        ok = after > 0.0
        if ok:
            a = 1.0 / np.sqrt(after)
            for c in loop(nch):
                lo = c * STEP_CHUNK
                hi = min(lo + STEP_CHUNK, n)
                for i in range(lo, hi):
                    w[i] *= a
        return after, ok, passes

    return cgs_dots, cgs_sub_norm, cgs_pass, step, arnoldi_pass, arnoldi_step


STEP_PARALLEL = _make_step(True)
STEP_SERIAL = _make_step(False)
