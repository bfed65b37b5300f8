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
"""

import numpy as np
from numba import njit, prange

from .simd import dot24_f32

U = np.uint64


# ---------------------------------------------------------------------------
# SpMV: one row per iteration. The loop over a row's slots is one reduction
# that LLVM vectorises (gathers of x, SIMD partial sums) because the kernels
# allow it to reassociate the sum (``_FAST``): the result is then the sum in
# a fixed but not left-to-right order, the same run after run.
# ---------------------------------------------------------------------------

#: Floating-point freedoms the products take: reassociation (SIMD partial sums)
#: and fused multiply-add. No assumption about NaN or infinity is made.
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
            acc += v[s] * x[U(base[s]) + pos]
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
            acc += v[s] * x[U(base[s]) + U(p[s])]
        y[r] = acc


@njit(parallel=True, cache=True, nogil=True, fastmath=_FAST)
def spmv24_f32_avx512(values, P, base, x, y):
    """y = A @ x for 2:4, float32, 2-bit positions, with AVX-512F (``simd.dot24_f32``).

    Only call it where ``simd.HAVE_AVX512``. The slots of a row go 16 at a
    time through one ``vpermt2ps`` gather each; the last ``S % 16`` slots are
    added one by one after them. ``values``, ``P`` and ``x`` are C-contiguous.
    """
    R = values.shape[0]
    S = values.shape[1]
    nch = S // 16
    for r in prange(R):
        v = values[r]
        p = P[r]
        acc = dot24_f32(values, P, x, r, nch)
        for s in range(U(16 * nch), U(S)):
            pos = (U(p[s >> U(2)]) >> ((s & U(3)) << U(1))) & U(3)
            acc += v[s] * x[U(base[s]) + pos]
        y[r] = acc


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
                        yrow[j] += (v0 * x0[j] + v1 * x1[j]) + (v2 * x2[j] + v3 * x3[j])
                for s in range(s4, U(sb1)):
                    if bits == 2:
                        c0 = U(base[s]) + _pos_b2(p, s)
                    else:
                        c0 = U(base[s]) + _pos_b8(p, s)
                    v0 = v[s]
                    x0 = X[c0]
                    for j in range(k0, k1):
                        yrow[j] += v0 * x0[j]
