"""Numba kernels for N:M structured sparse arrays (``spla._formats.nm``).

Storage, as the format class validated it:

- ``values``: (rows, S) with S = G n slots per row, G = ceil(cols / m) groups;
  slot ``s`` belongs to group ``s // n``;
- ``P``: the position of each slot inside its group, either one ``uint8`` per
  slot (``bits == 8``, P is (rows, S)) or, for m = 4, four 2-bit fields per
  byte (``bits == 2``, P is (rows, ceil(S / 4)); slot ``s`` is bits
  ``2 (s % 4)`` of byte ``s // 4``);
- ``base``: (S,) the first column of each slot's group, ``(s // n) m``. It is
  the same for every row (a fixed number of non-zeros per row: no row
  pointers), so the caller computes it once and no kernel divides.

The column of slot ``s`` of row ``r`` is ``base[s] + pos``. Dense operands are
padded by the caller to ``G m`` rows, so slots of the last, partial group that
point into the padding read a zero (their values are zero too).

Nothing here validates its input. Loop counters and gathered indices are
unsigned (``U``), as in ``csr.py``, so that Numba emits no wraparound test.

``spmv_n4_f32_avx512`` and ``spmm_f32_avx512`` are the float32 kernels for CPUs
with AVX-512F (``simd.HAVE_AVX512``), built on the intrinsics of ``simd.py``;
``spmm_f32_avx2`` is the SpMM twin for AVX2 CPUs (``simd.HAVE_AVX2``): the same
code with the 8-float intrinsics bound in place of the 16-float ones.
``spmv_n4_f32_avx2`` is an SpMV of its own, four rows at a time. ``spmv_b2``,
``spmv_b8`` and ``spmm`` are the portable kernels.
"""

import numpy as np
from numba import njit, prange

from . import simd
from .complex_arith import multiply
from .intrinsics import prefetch_row, prefetch_row_l2
from .simd import (dot14_f32, dot24_f32, spmm_full4_b2, spmm_full4_b8, spmm_full8_b2,
                   spmm_full8_b8, spmm_row1_b2, spmm_row1_b8, spmm_row2_b2, spmm_row2_b8,
                   spmm_row3_b2, spmm_row3_b8, spmm_row4_b2, spmm_row4_b8)
from .twins import twin

U = np.uint64


# ---------------------------------------------------------------------------
# SpMV: one row per iteration. The loop over a row's slots is one reduction
# that LLVM vectorises (gathers of x, SIMD partial sums) because the kernels
# allow it to reassociate the sum (``_FAST``): the result is then the sum in
# a fixed but not left-to-right order, the same run after run.
# ---------------------------------------------------------------------------

#: Floating-point freedoms the products take: reassociation (SIMD partial sums)
#: and fused multiply-add. No assumption about NaN or infinity is made. Complex
#: products are ``complex_arith.multiply`` (the flags must not reach Numba's shared
#: complex product, which later kernels reuse).
_FAST = {"reassoc", "contract", "nsz"}


@njit(parallel=True, cache=True, nogil=True, fastmath=_FAST)
def spmv_b2(values, P, base, x, y, zero):
    """y = A @ x for 2-bit packed positions (m = 4); sums in the dtype of ``zero``."""
    R = values.shape[0]
    S = values.shape[1]
    for r in prange(R):
        v = values[r]
        p = P[r]
        acc = zero
        for s in range(U(S)):
            pos = (U(p[s >> U(2)]) >> ((s & U(3)) << U(1))) & U(3)
            acc += multiply(v[s], x[U(base[s]) + pos])
        y[r] = acc


@njit(parallel=True, cache=True, nogil=True, fastmath=_FAST)
def spmv_b8(values, P, base, x, y, zero):
    """y = A @ x for one uint8 position per slot."""
    R = values.shape[0]
    S = values.shape[1]
    for r in prange(R):
        v = values[r]
        p = P[r]
        acc = zero
        for s in range(U(S)):
            acc += multiply(v[s], x[U(base[s]) + U(p[s])])
        y[r] = acc


@njit(parallel=True, cache=True, nogil=True, fastmath=_FAST)
def spmv_n4_f32_avx512(values, P, n, base, x, y):
    """y = A @ x for 2:4 or 1:4 (``n``), float32, 2-bit positions, with AVX-512F
    (``simd.dot24_f32``, ``simd.dot14_f32``).

    Only call it where ``simd.HAVE_AVX512``. The slots of a row go 16 at a
    time through one ``vpermt2ps`` gather each (two for 1:4) from ``x``; the
    last ``S % 16`` slots are added one by one after them. ``values``, ``P``
    and ``x`` are C-contiguous.
    """
    R = values.shape[0]
    S = values.shape[1]
    nch = S // 16
    for r in prange(R):
        v = values[r]
        p = P[r]
        if n == 2:
            acc = dot24_f32(values, P, x, r, nch)
        else:
            acc = dot14_f32(values, P, x, r, nch)
        for s in range(U(16 * nch), U(S)):
            pos = (U(p[s >> U(2)]) >> ((s & U(3)) << U(1))) & U(3)
            acc += v[s] * x[U(base[s]) + pos]
        y[r] = acc


@njit(inline="always")
def _tail_b2(values, P, base, x, r, s0, acc):
    """acc plus the products of slots s0 .. S - 1 of row r (2-bit positions)."""
    for s in range(U(s0), U(values.shape[1])):
        pos = (U(P[r, s >> U(2)]) >> ((s & U(3)) << U(1))) & U(3)
        acc += values[r, s] * x[U(base[s]) + pos]
    return acc


#: ``simd.avx2_gather_order`` of 1:4 and 2:4, as constants the kernels read.
_AVX2_ORDER1 = np.array(simd.avx2_gather_order(1), dtype=np.int64)
_AVX2_ORDER2 = np.array(simd.avx2_gather_order(2), dtype=np.int64)


@njit(cache=True, nogil=True)
def avx2_gather(x, n):
    """x with each whole block of ``32 / n`` elements in ``simd.avx2_gather_order(n)``;
    a partial last block, which only the scalar tails read (from x), stays as it is."""
    order = _AVX2_ORDER2 if n == 2 else _AVX2_ORDER1
    block = order.size
    xg = x.copy()
    for b in range(x.size // block):
        o = b * block
        for j in range(block):
            xg[o + j] = x[o + order[j]]
    return xg


@njit(parallel=True, cache=True, nogil=True, fastmath=_FAST)
def spmv_n4_f32_avx2(values, P, n, base, x, y):
    """y = A @ x for 2:4 or 1:4 (``n``), float32, 2-bit positions, with AVX2.

    Only call it where ``simd.HAVE_AVX2``. The rows go in fixed quads
    (4q .. 4q + 3) through ``simd.dot_rows24_f32_avx2`` (``dot_rows14`` for 1:4),
    which loads each vector of x once for the four rows; the last ``R % 4``
    rows through the one-row ``simd.dot24_f32_avx2``. Both read x laid out by
    ``avx2_gather``; the last ``S % 16`` slots of a row are added one by one
    after them, from ``x``. The split depends only on R, so every row's bits do
    not depend on the number of threads. ``values``, ``P`` and ``x`` are
    C-contiguous.
    """
    R = values.shape[0]
    S = values.shape[1]
    nch = S // 16
    s0 = 16 * nch
    xg = avx2_gather(x, n)
    quads = R // 4
    single = R - 4 * quads
    for t in prange(quads + single):
        if t < quads:
            r = 4 * t
            if n == 2:
                a0, a1, a2, a3 = simd.dot_rows24_f32_avx2(values, P, xg, r, nch)
            else:
                a0, a1, a2, a3 = simd.dot_rows14_f32_avx2(values, P, xg, r, nch)
            y[r] = _tail_b2(values, P, base, x, r, s0, a0)
            y[r + 1] = _tail_b2(values, P, base, x, r + 1, s0, a1)
            y[r + 2] = _tail_b2(values, P, base, x, r + 2, s0, a2)
            y[r + 3] = _tail_b2(values, P, base, x, r + 3, s0, a3)
        else:
            r = 4 * quads + (t - quads)
            if n == 2:
                a = simd.dot24_f32_avx2(values, P, xg, r, nch)
            else:
                a = simd.dot14_f32_avx2(values, P, xg, r, nch)
            y[r] = _tail_b2(values, P, base, x, r, s0, a)


# ---------------------------------------------------------------------------
# SpMM: Y (rows, K) = A @ X (G m, K), both C-contiguous, Y zeroed.
#
# Blocked for cache: the work is split into tasks of (a block of rows) x (a
# tile of K columns), run in parallel; inside a task the slots are walked in
# blocks, so that the panel of X they touch (slot block x column tile) stays in
# L2 while every row of the row block uses it. The innermost loop runs over the
# tile's columns, contiguous in X and Y, and adds four slots at once: one load
# and store of Y per four multiply-adds, which is what keeps it off the
# load/store ports.
# ---------------------------------------------------------------------------


@njit(parallel=True, cache=True, nogil=True)
def pack_column_tiles(X, k_tile, out):
    """``out[t, i, j] = X[i, t k_tile + j]`` where that is inside X, else 0, for
    ``out`` of shape (tiles, rows, ld) with ``rows >= X.shape[0]`` and
    ``ld >= k_tile``: the layout of ``_backends.cpu.nm._packed_operand``,
    written by every thread at once."""
    C, Kc = X.shape
    n_kt, rows, ld = out.shape
    # Row by row: each row of X is read once, in order, and written out as
    # whole lines of every tile.
    for i in prange(rows):
        for t in range(n_kt):
            k0 = t * k_tile
            w = min(Kc, k0 + k_tile) - k0 if i < C else 0
            for j in range(U(w)):
                out[t, i, j] = X[i, U(k0) + j]
            for j in range(U(w), U(ld)):
                out[t, i, j] = 0


@njit(inline="always")
def _pos_b2(p, s):
    return (U(p[s >> U(2)]) >> ((s & U(3)) << U(1))) & U(3)


@njit(inline="always")
def _pos_b8(p, s):
    return U(p[s])


@njit(parallel=True, cache=True, nogil=True, fastmath=_FAST)
def spmm(values, P, bits, base, X, Y, row_block, k_tile, slot_block):
    """Y += A @ X. ``slot_block`` is a multiple of 4; ``bits`` is 2 or 8."""
    R = values.shape[0]
    S = values.shape[1]
    K = X.shape[1]
    n_rb = (R + row_block - 1) // row_block
    n_kt = (K + k_tile - 1) // k_tile
    for task in prange(n_rb * n_kt):
        rb = task // n_kt
        kt = task - rb * n_kt
        r0 = rb * row_block
        r1 = min(R, r0 + row_block)
        k0 = U(kt * k_tile)
        k1 = U(min(K, kt * k_tile + k_tile))
        for sb0 in range(0, S, slot_block):
            sb1 = min(S, sb0 + slot_block)
            s4 = U(sb1 - (sb1 - sb0) % 4)
            for r in range(r0, r1):
                v = values[r]
                p = P[r]
                yrow = Y[r]
                for s in range(U(sb0), s4, U(4)):
                    if bits == 2:
                        pb = U(p[s >> U(2)])
                        c0 = U(base[s]) + (pb & U(3))
                        c1 = U(base[s + U(1)]) + ((pb >> U(2)) & U(3))
                        c2 = U(base[s + U(2)]) + ((pb >> U(4)) & U(3))
                        c3 = U(base[s + U(3)]) + (pb >> U(6))
                    else:
                        c0 = U(base[s]) + U(p[s])
                        c1 = U(base[s + U(1)]) + U(p[s + U(1)])
                        c2 = U(base[s + U(2)]) + U(p[s + U(2)])
                        c3 = U(base[s + U(3)]) + U(p[s + U(3)])
                    v0 = v[s]
                    v1 = v[s + U(1)]
                    v2 = v[s + U(2)]
                    v3 = v[s + U(3)]
                    x0 = X[c0]
                    x1 = X[c1]
                    x2 = X[c2]
                    x3 = X[c3]
                    for j in range(k0, k1):
                        yrow[j] += ((multiply(v0, x0[j]) + multiply(v1, x1[j]))
                                    + (multiply(v2, x2[j]) + multiply(v3, x3[j])))
                for s in range(s4, U(sb1)):
                    if bits == 2:
                        c0 = U(base[s]) + _pos_b2(p, s)
                    else:
                        c0 = U(base[s]) + _pos_b8(p, s)
                    v0 = v[s]
                    x0 = X[c0]
                    for j in range(k0, k1):
                        yrow[j] += multiply(v0, x0[j])


#: How many rows ahead the SIMD SpMM prefetches the values of a slot block
#: (rows of A are far apart; the hardware prefetcher does not follow them).
_AHEAD = 2
#: Floats per vector of the SIMD SpMM row functions: 16 (AVX-512); the AVX2
#: twins see 8.
_W = 16


@njit(inline="always")
def _spmm_row(values, P, bits, base, Xt, Y, r, sb0, sb1, k0, w):
    """Y[r, k0:k0+w] += the slots sb0 .. sb1 - 1 of row r times their rows of the
    tile Xt: a whole 8- or 4-vector part without masks (128 or 64 columns of
    16-float vectors), then a masked rest of up to four vectors."""
    if w == 8 * _W:
        if bits == 2:
            spmm_full8_b2(values, P, base, Xt, Y, r, sb0, sb1, k0, 0, w)
        else:
            spmm_full8_b8(values, P, base, Xt, Y, r, sb0, sb1, k0, 0, w)
        return
    j = 0
    if w >= 4 * _W:
        if bits == 2:
            spmm_full4_b2(values, P, base, Xt, Y, r, sb0, sb1, k0, 0, w)
        else:
            spmm_full4_b8(values, P, base, Xt, Y, r, sb0, sb1, k0, 0, w)
        j = 4 * _W
    rest = w - j
    if rest > 3 * _W:
        if bits == 2:
            spmm_row4_b2(values, P, base, Xt, Y, r, sb0, sb1, k0 + j, j, rest)
        else:
            spmm_row4_b8(values, P, base, Xt, Y, r, sb0, sb1, k0 + j, j, rest)
    elif rest > 2 * _W:
        if bits == 2:
            spmm_row3_b2(values, P, base, Xt, Y, r, sb0, sb1, k0 + j, j, rest)
        else:
            spmm_row3_b8(values, P, base, Xt, Y, r, sb0, sb1, k0 + j, j, rest)
    elif rest > _W:
        if bits == 2:
            spmm_row2_b2(values, P, base, Xt, Y, r, sb0, sb1, k0 + j, j, rest)
        else:
            spmm_row2_b8(values, P, base, Xt, Y, r, sb0, sb1, k0 + j, j, rest)
    elif rest > 0:
        if bits == 2:
            spmm_row1_b2(values, P, base, Xt, Y, r, sb0, sb1, k0 + j, j, rest)
        else:
            spmm_row1_b8(values, P, base, Xt, Y, r, sb0, sb1, k0 + j, j, rest)


@njit(parallel=True, cache=True, nogil=True)
def spmm_f32_avx512(values, P, bits, m, base, X, Y, row_block, k_tile, slot_block):
    """Y += A @ X for float32 with AVX-512F (``simd.spmm_*``): the same tasks and
    slot blocks as ``spmm``, but a row's tile of Y (``k_tile <= 128`` columns)
    stays in vector registers while all the slots of a block are added into it.

    Only call it where ``simd.HAVE_AVX512`` (``spmm_f32_avx2``: ``simd.HAVE_AVX2``,
    ``k_tile <= 64``). Every array is C-contiguous; ``base`` is int32;
    ``slot_block`` is a multiple of 16. ``X`` is packed by column tile
    (``_backends.cpu.nm._packed_operand``): ``X[t]`` holds the columns
    ``t k_tile ..`` of the padded operand, its rows possibly wider than the
    tile (zero-padded to whole 64-byte lines).
    """
    R = values.shape[0]
    S = values.shape[1]
    K = Y.shape[1]
    n_rb = (R + row_block - 1) // row_block
    n_kt = (K + k_tile - 1) // k_tile
    for task in prange(n_rb * n_kt):
        rb = task // n_kt
        kt = task - rb * n_kt
        r0 = rb * row_block
        r1 = min(R, r0 + row_block)
        k0 = kt * k_tile
        w = min(K, k0 + k_tile) - k0
        Xt = X[kt]
        lpr = (Xt.shape[1] + 15) // 16  # cache lines per row of the tile
        for sb0 in range(0, S, slot_block):
            sb1 = min(S, sb0 + slot_block)
            # The rows of X the next slot block reads, spread over this block's
            # rows as prefetches into L2: the panel is then there when needed.
            sb2 = min(S, sb1 + slot_block)
            nxt0 = 0
            per_row = 0
            if sb2 > sb1:
                nxt0 = base[sb1]
                nlines = (base[sb2 - 1] + m - nxt0) * lpr
                per_row = (nlines + (r1 - r0) - 1) // (r1 - r0)
            for r in range(r0, r1):
                for q in range(per_row):
                    line = (r - r0) * per_row + q
                    prefetch_row_l2(Xt, nxt0 + line // lpr, (line % lpr) * 16)
                for s in range(sb0, sb1, 16):
                    prefetch_row(values, r + _AHEAD, s)
                _spmm_row(values, P, bits, base, Xt, Y, r, sb0, sb1, k0, w)


_SPMM_ROW_INTRINSICS = [f"spmm_{kind}_b{bits}" for bits in (2, 8)
                        for kind in ("row1", "row2", "row3", "row4", "full4", "full8")]
_spmm_row8 = twin(_spmm_row, "_spmm_row8", dict(inline="always"), _W=8,
                   **{name: getattr(simd, name.replace("spmm_", "spmm8_"))
                      for name in _SPMM_ROW_INTRINSICS})
#: The AVX2 SpMM: a row's tile of Y (up to 64 columns, eight 8-float registers)
#: stays in registers. Only call it where ``simd.HAVE_AVX2``, with ``k_tile <= 64``.
spmm_f32_avx2 = twin(spmm_f32_avx512, "spmm_f32_avx2",
                      dict(parallel=True, cache=True, nogil=True), _spmm_row=_spmm_row8)
