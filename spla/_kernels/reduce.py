"""Numba kernels of the reductions of a CSR matrix along rows (and, through
its transpose, along columns): sums, min/max with and without NaN
propagation, argmin/argmax and count_nonzero.

Every kernel follows SciPy 1.17's semantics on the *canonical* form of the
matrix (duplicates summed, columns sorted) without building it: a row whose
column indices are strictly increasing is read in place; any other row is
sorted (stably) and merged into a per-block scratch first. Comparisons follow
NumPy's ufuncs exactly, complex numbers included (lexicographic order, NaN in
either part counts as NaN):

* ``max``/``min`` reduce with ``np.maximum``/``np.minimum`` (a NaN wins),
  ``nanmax``/``nanmin`` with ``np.fmax``/``np.fmin`` (a NaN loses);
* ``argmax``/``argmin`` pick the first extreme as ``np.argmax`` does (the
  first NaN wins), then compare it with the row's implicit zeros as SciPy's
  ``_argminmax_axis`` does.

Kernels take ``blocks``: row boundaries of blocks of about equal work
(``partition.row_blocks``); the parallel loop runs over blocks, each with its
own scratch. The ``_serial`` twins run the same code on the calling thread,
for work too small to repay waking the threads. Nothing here validates its
input.
"""

import numpy as np
from numba import njit, prange
from numba.core import types
from numba.extending import overload

from .intrinsics import prefetch_row
from .twins import twin

# Indices are cast to unsigned where they index arrays (no wrap-around tests;
# see ``convert.py``).
U = np.uint64

#: Rows of at most this many entries are sorted by insertion, longer ones by a
#: stable merge sort of their column indices.
INSERTION_MAX = 32

# ---------------------------------------------------------------------------
# NumPy's comparisons, for every value type (complex: lexicographic)
# ---------------------------------------------------------------------------


def isnan(x):
    """``np.isnan`` for any scalar type (False for bool and integers)."""
    raise NotImplementedError  # only called from compiled code


def greater(a, b):
    """``np.greater`` (complex: NumPy's lexicographic CGT)."""
    raise NotImplementedError


def less(a, b):
    """``np.less``."""
    raise NotImplementedError


def greater_equal(a, b):
    """``np.greater_equal``."""
    raise NotImplementedError


def less_equal(a, b):
    """``np.less_equal``."""
    raise NotImplementedError


@overload(isnan, jit_options={"cache": True})
def _isnan_impl(x):
    if isinstance(x, types.Float):
        return lambda x: x != x
    if isinstance(x, types.Complex):
        return lambda x: x.real != x.real or x.imag != x.imag
    return lambda x: False


def _cmp_overload(stub, real_op, strict):
    @overload(stub, jit_options={"cache": True})
    def impl(a, b):
        if isinstance(a, types.Complex) or isinstance(b, types.Complex):
            if real_op == "gt":
                if strict:
                    return lambda a, b: ((a.real > b.real and a.imag == a.imag and b.imag == b.imag)
                                         or (a.real == b.real and a.imag > b.imag))
                return lambda a, b: ((a.real > b.real and a.imag == a.imag and b.imag == b.imag)
                                     or (a.real == b.real and a.imag >= b.imag))
            if strict:
                return lambda a, b: ((a.real < b.real and a.imag == a.imag and b.imag == b.imag)
                                     or (a.real == b.real and a.imag < b.imag))
            return lambda a, b: ((a.real < b.real and a.imag == a.imag and b.imag == b.imag)
                                 or (a.real == b.real and a.imag <= b.imag))
        if real_op == "gt":
            if strict:
                return lambda a, b: a > b
            return lambda a, b: a >= b
        if strict:
            return lambda a, b: a < b
        return lambda a, b: a <= b
    return impl


_cmp_overload(greater, "gt", True)
_cmp_overload(greater_equal, "gt", False)
_cmp_overload(less, "lt", True)
_cmp_overload(less_equal, "lt", False)


@njit(cache=True, nogil=True, inline="always")
def minmax_step(acc, x, op):
    """One step of ``np.maximum`` (op 0), ``np.minimum`` (1), ``np.fmax`` (2),
    ``np.fmin`` (3): the result of ``ufunc(acc, x)``."""
    if op == 0:
        return acc if (isnan(acc) or greater_equal(acc, x)) else x
    if op == 1:
        return acc if (isnan(acc) or less_equal(acc, x)) else x
    if op == 2:
        return acc if (isnan(x) or greater_equal(acc, x)) else x
    return acc if (isnan(x) or less_equal(acc, x)) else x


@njit(cache=True, nogil=True, inline="always")
def arg_better(x, best, want_max):
    """Whether ``np.argmax`` (``want_max``) or ``np.argmin`` moves from ``best``
    to ``x``: ``x`` beats it, or ``x`` is the first NaN (``best`` is not NaN)."""
    if isnan(best):
        return False
    if isnan(x):
        return True
    return greater(x, best) if want_max else less(x, best)


# ---------------------------------------------------------------------------
# Rows in canonical form
# ---------------------------------------------------------------------------


@njit(cache=True, nogil=True, inline="always")
def strictly_increasing(indices, lo, hi):
    for k in range(U(lo + 1), U(hi)):
        if indices[k] <= indices[k - U(1)]:
            return False
    return True


@njit(cache=True, nogil=True)
def canonical_row(indices, data, lo, hi, scols, svals):
    """Write row ``lo:hi`` sorted by column (stable) with duplicates summed in
    their stored order into ``scols``/``svals``; return the entry count."""
    n = hi - lo
    if n <= INSERTION_MAX:
        for t in range(n):
            c = indices[lo + t]
            v = data[lo + t]
            s = t
            while s > 0 and scols[s - 1] > c:
                scols[s] = scols[s - 1]
                svals[s] = svals[s - 1]
                s -= 1
            scols[s] = c
            svals[s] = v
    else:
        order = np.argsort(indices[lo:hi], kind="mergesort")
        for t in range(n):
            scols[t] = indices[lo + order[t]]
            svals[t] = data[lo + order[t]]
    out = 0
    t = 0
    while t < n:
        c = scols[t]
        v = svals[t]
        t += 1
        while t < n and scols[t] == c:
            v += svals[t]
            t += 1
        scols[out] = c
        svals[out] = v
        out += 1
    return out


@njit(cache=True, nogil=True, inline="always")
def row_view(indptr, indices, data, i, canonical, scols, svals):
    """Row ``i`` in canonical form: ``(cols, vals, lo, hi, scols, svals)``, either
    the stored arrays (row already canonical) or the scratch arrays, which grow
    as needed and are returned for reuse."""
    lo = indptr[i]
    hi = indptr[i + 1]
    if canonical or strictly_increasing(indices, lo, hi):
        return indices, data, lo, hi, scols, svals
    if scols.size < hi - lo:
        scols = np.empty(hi - lo, dtype=indices.dtype)
        svals = np.empty(hi - lo, dtype=data.dtype)
    n = canonical_row(indices, data, lo, hi, scols, svals)
    return scols, svals, 0, n, scols, svals


@njit(cache=True, nogil=True, inline="always")
def first_missing(cols, lo, hi):
    """First column absent from the sorted, duplicate-free ``cols[lo:hi]``."""
    for t in range(hi - lo):
        if cols[lo + t] != t:
            return t
    return hi - lo


# ---------------------------------------------------------------------------
# Per-row reductions
# ---------------------------------------------------------------------------


@njit(parallel=True, cache=True, nogil=True)
def row_sums(indptr, data, zero, out, blocks):
    """out[i] = sum of row i, accumulated in the type of ``zero`` (duplicates
    need no merging for a sum)."""
    for b in prange(blocks.size - 1):
        for i in range(blocks[b], blocks[b + 1]):
            s = zero
            for k in range(U(indptr[i]), U(indptr[i + 1])):
                s += data[k]
            out[i] = s


@njit(parallel=True, cache=True, nogil=True)
def row_minmax(indptr, indices, data, n_cols, op, explicit, canonical, zero, out, blocks):
    """out[i] = reduction of the canonical row i by ``minmax_step(op)``; without
    ``explicit``, a row with fewer than ``n_cols`` entries also reduces its
    implicit zero; an empty row gives ``zero``."""
    for b in prange(blocks.size - 1):
        scols = np.empty(0, dtype=indices.dtype)
        svals = np.empty(0, dtype=data.dtype)
        for i in range(blocks[b], blocks[b + 1]):
            if indptr[i] == indptr[i + 1]:
                out[i] = zero
                continue
            cols, vals, lo, hi, scols, svals = row_view(indptr, indices, data, i, canonical,
                                                        scols, svals)
            v = vals[lo]
            for k in range(U(lo + 1), U(hi)):
                v = minmax_step(v, vals[k], op)
            if not explicit and hi - lo < n_cols:
                v = minmax_step(v, zero, op)
            out[i] = v


@njit(parallel=True, cache=True, nogil=True)
def row_argminmax(indptr, indices, data, n_cols, want_max, explicit, canonical, zero, out,
                  blocks):
    """out[i] = column of the maximum (``want_max``) or minimum of row i, as
    SciPy's ``argmax(axis=1)``/``argmin(axis=1)``: 0 for an empty row; with
    ``explicit`` the column of the first stored extreme; otherwise that column
    when the extreme beats zero (or the row is full), else the first implicit
    zero, or the first zero of the two when the extreme is itself zero."""
    for b in prange(blocks.size - 1):
        scols = np.empty(0, dtype=indices.dtype)
        svals = np.empty(0, dtype=data.dtype)
        for i in range(blocks[b], blocks[b + 1]):
            if indptr[i] == indptr[i + 1]:
                out[i] = 0
                continue
            cols, vals, lo, hi, scols, svals = row_view(indptr, indices, data, i, canonical,
                                                        scols, svals)
            best = vals[lo]
            p = lo
            for k in range(lo + 1, hi):
                x = vals[k]
                if arg_better(x, best, want_max):
                    best = x
                    p = k
                    if isnan(x):
                        break
            col = cols[p]
            if explicit or hi - lo == n_cols:
                out[i] = col
                continue
            if want_max:
                beats = greater(best, zero)
            else:
                beats = less(best, zero)
            if beats:
                out[i] = col
                continue
            z = first_missing(cols, lo, hi)
            if best == zero:
                out[i] = min(np.int64(col), np.int64(z))
            else:
                out[i] = z


@njit(parallel=True, cache=True, nogil=True)
def row_count_nonzero(indptr, indices, data, canonical, out, blocks):
    """out[i] = number of non-zero values of the canonical row i."""
    for b in prange(blocks.size - 1):
        scols = np.empty(0, dtype=indices.dtype)
        svals = np.empty(0, dtype=data.dtype)
        for i in range(blocks[b], blocks[b + 1]):
            cols, vals, lo, hi, scols, svals = row_view(indptr, indices, data, i, canonical,
                                                        scols, svals)
            c = 0
            for k in range(lo, hi):
                if vals[k] != 0:
                    c += 1
            out[i] = c


# ---------------------------------------------------------------------------
# Whole-matrix reductions (canonical input)
# ---------------------------------------------------------------------------


@njit(parallel=True, cache=True, nogil=True)
def total_sum(data, parts):
    """Sum of ``data`` accumulated in the dtype of ``parts`` (zeros on entry),
    in ``parts.size`` pieces added in order (the same bits for any thread count)."""
    n = data.size
    n_pieces = parts.size
    for p in prange(n_pieces):
        s = parts[p]
        for k in range(U(n * p // n_pieces), U(n * (p + 1) // n_pieces)):
            s += data[k]
        parts[p] = s
    s = parts[0]
    for p in range(1, n_pieces):
        s += parts[p]
    return s


@njit(parallel=True, cache=True, nogil=True)
def total_minmax(data, op, n_pieces):
    """Reduction of the non-empty ``data`` by ``minmax_step(op)``."""
    n = data.size
    parts = np.empty(n_pieces, dtype=data.dtype)
    for p in prange(n_pieces):
        lo = n * p // n_pieces
        hi = n * (p + 1) // n_pieces
        v = data[lo]
        for k in range(lo + 1, hi):
            v = minmax_step(v, data[k], op)
        parts[p] = v
    v = parts[0]
    for p in range(1, n_pieces):
        v = minmax_step(v, parts[p], op)
    return v


@njit(parallel=True, cache=True, nogil=True)
def total_argminmax(data, want_max, n_pieces):
    """``np.argmax(data)`` (``want_max``) or ``np.argmin(data)`` of non-empty
    ``data``: position of the first extreme, a NaN winning."""
    n = data.size
    pos = np.empty(n_pieces, dtype=np.int64)
    for p in prange(n_pieces):
        lo = n * p // n_pieces
        hi = n * (p + 1) // n_pieces
        best = data[lo]
        q = lo
        for k in range(lo + 1, hi):
            x = data[k]
            if arg_better(x, best, want_max):
                best = x
                q = k
                if isnan(x):
                    break
        pos[p] = q
    q = pos[0]
    for p in range(1, n_pieces):
        if arg_better(data[pos[p]], data[q], want_max):
            q = pos[p]
    return q


@njit(parallel=True, cache=True, nogil=True)
def total_count_nonzero(data, n_pieces):
    n = data.size
    parts = np.zeros(n_pieces, dtype=np.int64)
    for p in prange(n_pieces):
        c = 0
        for k in range(n * p // n_pieces, n * (p + 1) // n_pieces):
            if data[k] != 0:
                c += 1
        parts[p] = c
    return parts.sum()


@njit(cache=True, nogil=True)
def first_implicit_zero(indptr, indices, n_cols):
    """Row-major linear index of the first implicit zero of a canonical CSR
    matrix, or -1 when every position is stored."""
    m = indptr.size - 1
    for i in range(m):
        lo = indptr[i]
        hi = indptr[i + 1]
        if hi - lo < n_cols:
            return np.int64(i) * n_cols + first_missing(indices, lo, hi)
    return np.int64(-1)


# ---------------------------------------------------------------------------
# Column sums: scatter into private lanes, added in lane order
# ---------------------------------------------------------------------------


#: Entries ahead of the one being added whose lane entry ``column_sums`` prefetches:
#: each addition reads and writes a random entry of a lane far larger than the cache.
SCATTER_AHEAD = 64


@njit(parallel=True, cache=True, nogil=True)
def column_sums(indptr, indices, data, lanes, blocks):
    """lanes[l, j] = sum of the entries of column j in the rows of block group l.

    ``blocks`` has ``lanes.shape[0] + 1`` row boundaries: lane l takes rows
    ``blocks[l]:blocks[l + 1]``. The caller adds the lanes in order."""
    n_lanes = lanes.shape[0]
    for l in prange(n_lanes):
        lane = lanes[l]
        for j in range(lane.size):
            lane[j] = 0
        k0 = U(indptr[blocks[l]])
        k1 = U(indptr[blocks[l + 1]])
        for k in range(k0, k1):
            if k + U(SCATTER_AHEAD) < k1:
                prefetch_row(lanes, l, indices[k + U(SCATTER_AHEAD)])
            lane[U(indices[k])] += data[k]


@njit(parallel=True, cache=True, nogil=True)
def add_lanes(lanes, out):
    """out[j] = lanes[0, j] + lanes[1, j] + ... (in lane order)."""
    n_lanes, n = lanes.shape
    n_pieces = max(1, min(64, n // 4096))
    for p in prange(n_pieces):
        for j in range(n * p // n_pieces, n * (p + 1) // n_pieces):
            s = lanes[0, j]
            for l in range(1, n_lanes):
                s += lanes[l, j]
            out[j] = s


# ---------------------------------------------------------------------------
# Serial twins, for inputs too small to repay a parallel launch
# ---------------------------------------------------------------------------


def _serial_twin(dispatcher):
    name = dispatcher.py_func.__name__
    return twin(dispatcher, name + "_serial", dict(cache=True, nogil=True),
                doc=f"Serial version of ``{name}``.")


#: Serial twins by the name of the parallel kernel.
SERIAL = {f.py_func.__name__: _serial_twin(f) for f in (
    row_sums, row_minmax, row_argminmax, row_count_nonzero, total_sum, total_minmax,
    total_argminmax, total_count_nonzero, column_sums, add_lanes)}
