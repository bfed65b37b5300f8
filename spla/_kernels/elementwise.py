"""Elementwise operations between two CSR matrices of one shape, by merging rows.

``C = op(A, B)`` is computed row by row by merging the sorted column lists of
the two rows: O(nnz) time and memory, with no workspace of one entry per column,
so a matrix of 2**40 columns costs what its stored entries cost. The semantics
are those of SciPy's ``csr_binop_csr`` (``scipy/sparse/sparsetools/csr.h``):

* every position stored in A or B (the union of the two patterns) is computed
  as ``op(a, b)``, with 0 standing for the operand that stores nothing there;
* duplicates within one operand are summed first, in storage order, starting
  from 0 (as SciPy's general path does), and explicit zeros take part as zeros;
* a result is stored only when it is non-zero (``True`` for bool results);
* the output is canonical: sorted columns, no duplicates.

Two passes run over balanced blocks of rows, in parallel (``prange``) when the
work pays for the threads: the first counts the stored results of each block
(evaluating ``op``, since a result may cancel to zero), the caller allocates
the output once from the block totals, and the second fills indices, data and
``indptr``. A row whose columns are unsorted or repeated is canonicalised on
the fly into a scratch buffer sized by the row's own entries.

The operation is a run-time code (``OPERATIONS``) tested inside one generic
merge, compiled once per dtype for all operations (see ``_apply``). Each
operation's values are computed in the dtype of the (already cast)
operands and the result is converted to the output dtype before the zero test,
so integer results wrap as NumPy's do and bool arithmetic follows SciPy's
(``+`` is or, ``*`` is and, ``-`` is exclusive or).

Comparisons whose value at ``(0, 0)`` is ``True`` (``eq``, ``le``, ``ge``) are
not computed here: SciPy builds them as ``all_true - (A != B)``,
``all_true - (A > B)`` and ``all_true - (A < B)``; the CPU backend runs the
complementary operation and ``fill_complement`` builds the full pattern.
"""

import numpy as np
from numba import njit, prange, types
from numba.extending import overload


# ---------------------------------------------------------------------------
# Scalar helpers: casts and SciPy's comparison and division of complex values.
# ---------------------------------------------------------------------------


def _as(x, like):
    """``x`` converted to the type of ``like`` (NumPy's cast; nonzero-ness for bool)."""
    raise NotImplementedError  # pragma: no cover - replaced by the overload in jitted code


@overload(_as, inline="always")
def _as_overload(x, like):
    target = like
    if isinstance(target, types.Boolean):
        def impl(x, like):
            return x != 0
        return impl

    def impl(x, like):
        return target(x)
    return impl


def _less(a, b):
    """``a < b``; complex values compare lexicographically (real part first), as
    SciPy's ``complex_wrapper`` and NumPy do."""
    raise NotImplementedError  # pragma: no cover


@overload(_less, inline="always")
def _less_overload(a, b):
    if isinstance(a, types.Complex):
        def impl(a, b):
            if a.real == b.real:
                return a.imag < b.imag
            return a.real < b.real
        return impl

    def impl(a, b):
        return a < b
    return impl


def _divide(a, b):
    """``a / b`` as SciPy's sparse divide computes it (floats: IEEE; complex: with
    the reciprocal of ``|b|**2``, so that ``x / 0`` is ``nan`` as in SciPy)."""
    raise NotImplementedError  # pragma: no cover


@overload(_divide, inline="always")
def _divide_overload(a, b):
    if isinstance(a, types.Complex):
        def impl(a, b):
            br = b.real
            bi = b.imag
            one = _as(1.0, br)
            denom = one / (br * br + bi * bi)
            return complex((a.real * br + a.imag * bi) * denom,
                           (a.imag * br - a.real * bi) * denom)
        return impl

    def impl(a, b):
        return a / b
    return impl


# ---------------------------------------------------------------------------
# The operations, by code. Each takes two values of the compute dtype and
# returns the result converted to the type of ``zo`` (the output's zero).
# ---------------------------------------------------------------------------

ADD, SUBTRACT, MULTIPLY, DIVIDE, MAXIMUM, MINIMUM, NE, LT, GT = range(9)

#: name -> code of each operation the merge computes.
OPERATIONS = {
    "add": ADD,
    "subtract": SUBTRACT,
    "multiply": MULTIPLY,
    "divide": DIVIDE,
    "maximum": MAXIMUM,
    "minimum": MINIMUM,
    "ne": NE,
    "lt": LT,
    "gt": GT,
}

#: Comparisons true at (0, 0), and the operation whose stored entries are the
#: positions where they are False (SciPy: ``all_true - A.op(B)``).
COMPLEMENTS = {"eq": "ne", "le": "gt", "ge": "lt"}

#: Operations whose result is bool.
BOOL_RESULT = frozenset({"ne", "lt", "gt", "eq", "le", "ge"})


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _apply(op, a, b, zo):
    """``op(a, b)`` as SciPy's sparsetools computes it, converted to ``zo``'s type.

    The operation is a run-time code rather than a compiled-in function: one
    compilation per dtype serves every operation (the branch is the same for
    every entry of a call, so it costs next to nothing), which keeps the first
    call of each dtype, and the test suite, from compiling 9 kernels per dtype.
    """
    if op == ADD:
        return _as(a + b, zo)
    if op == SUBTRACT:
        return _as(a - b, zo)
    if op == MULTIPLY:
        return _as(a * b, zo)
    if op == DIVIDE:
        return _as(_divide(a, b), zo)
    if op == MAXIMUM:
        # std::max(a, b): b if a < b else a (a NaN in a is kept, one in b is not).
        return _as(b if _less(a, b) else a, zo)
    if op == MINIMUM:
        # std::min(a, b): b if b < a else a.
        return _as(b if _less(b, a) else a, zo)
    if op == NE:
        return _as(a != b, zo)
    if op == LT:
        return _as(_less(a, b), zo)
    return _as(_less(b, a), zo)  # GT


# ---------------------------------------------------------------------------
# The merge.
# ---------------------------------------------------------------------------


@njit(cache=True, nogil=True, error_model="numpy")
def _merge(op, ai, ad, alo, ahi, bi, bd, blo, bhi, zc, zo, fill, ci, cd, pos):
    """Merge two canonical rows ``ai[alo:ahi]`` and ``bi[blo:bhi]``; store the
    non-zero results at ``pos`` onward when ``fill``; return the new ``pos``.

    One loop with one call of ``_apply`` (inlined: the operations are compiled
    once per dtype, not once per branch of the merge). Positions are unsigned:
    Numba then emits no test for negative indices on every access (about half
    the time of this loop).
    """
    one = np.uint64(1)
    while alo < ahi or blo < bhi:
        take_a = alo < ahi and (blo >= bhi or ai[alo] <= bi[blo])
        take_b = blo < bhi and (alo >= ahi or bi[blo] <= ai[alo])
        va = zc
        vb = zc
        if take_a:
            va = ad[alo]
            j = ai[alo]
            alo += one
        if take_b:
            vb = bd[blo]
            j = bi[blo]
            blo += one
        r = _apply(op, va, vb, zo)
        if r != zo:
            if fill:
                ci[pos] = j
                cd[pos] = r
            pos += one
    return pos


@njit(cache=True, nogil=True, inline="always")
def _increasing(idx, lo, hi):
    """Whether ``idx[lo:hi]`` is strictly increasing (sorted, no duplicates)."""
    for k in range(lo + np.uint64(1), hi):
        if idx[k] <= idx[k - np.uint64(1)]:
            return False
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def _canonical_row(idx, dat, lo, hi, zc, out_idx, out_dat):
    """Sort ``idx[lo:hi]`` (stably) into ``out_idx`` and sum the values of equal
    columns into ``out_dat`` in storage order, each sum starting from zero as in
    SciPy's general path. Returns the number of distinct columns."""
    lo = np.int64(lo)
    hi = np.int64(hi)
    order = np.argsort(idx[lo:hi], kind="mergesort")
    k = -1
    for t in range(hi - lo):
        p = lo + order[t]
        j = idx[p]
        if k >= 0 and out_idx[k] == j:
            out_dat[k] = _as(out_dat[k] + dat[p], zc)
        else:
            k += 1
            out_idx[k] = j
            out_dat[k] = _as(zc + dat[p], zc)
    return k + 1


@njit(cache=True, nogil=True, error_model="numpy")
def _merge_any_rows(op, ai, ad, alo, ahi, bi, bd, blo, bhi, zc, zo, fill, ci, cd, pos):
    """``_merge`` of two rows that may be unsorted and hold duplicates: each is
    canonicalised into scratch arrays the size of its own entries first. Kept out
    of ``merge_rows`` so that the loop over canonical rows stays simple."""
    na = np.int64(ahi - alo)
    nb = np.int64(bhi - blo)
    sai = np.empty(na, ai.dtype)
    sad = np.empty(na, ad.dtype)
    sbi = np.empty(nb, bi.dtype)
    sbd = np.empty(nb, bd.dtype)
    na = np.uint64(_canonical_row(ai, ad, alo, ahi, zc, sai, sad))
    nb = np.uint64(_canonical_row(bi, bd, blo, bhi, zc, sbi, sbd))
    zero = np.uint64(0)
    return _merge(op, sai, sad, zero, na, sbi, sbd, zero, nb, zc, zo, fill, ci, cd, pos)


@njit(cache=True, nogil=True)
def _union_size(ai, alo, ahi, bi, blo, bhi):
    """Number of distinct columns of two canonical rows (their indices only)."""
    n = np.uint64(0)
    one = np.uint64(1)
    while alo < ahi and blo < bhi:
        ja = ai[alo]
        jb = bi[blo]
        if ja <= jb:
            alo += one
        if jb <= ja:
            blo += one
        n += one
    return n + (ahi - alo) + (bhi - blo)


@njit(cache=True, nogil=True, error_model="numpy")
def merge_rows(op, ap, ai, ad, bp, bi, bd, r0, r1, zc, zo, check, fill, structural, pos,
               cp, ci, cd):
    """Rows ``r0 .. r1-1`` of ``op(A, B)``.

    Counting (``fill`` false) returns the number of stored results and whether
    every row of both operands was canonical; with ``structural`` it counts the
    union of the canonical rows instead (their indices only: an upper bound, for
    operations such as add whose results are rarely zero). Filling writes the
    results from ``pos`` on and ``cp[i + 1]`` for each row, and returns the
    position after the last. ``check`` false promises canonical rows.
    """
    canonical = True
    pos = np.uint64(pos)
    for i in range(r0, r1):
        alo = np.uint64(ap[i])
        ahi = np.uint64(ap[i + 1])
        blo = np.uint64(bp[i])
        bhi = np.uint64(bp[i + 1])
        if not check or (_increasing(ai, alo, ahi) and _increasing(bi, blo, bhi)):
            if structural and not fill:
                pos += _union_size(ai, alo, ahi, bi, blo, bhi)
            else:
                pos = _merge(op, ai, ad, alo, ahi, bi, bd, blo, bhi, zc, zo, fill, ci, cd, pos)
        else:
            canonical = False
            pos = _merge_any_rows(op, ai, ad, alo, ahi, bi, bd, blo, bhi, zc, zo, fill,
                                  ci, cd, pos)
        if fill:
            cp[i + 1] = pos
    return np.int64(pos), canonical


@njit(cache=True, nogil=True, error_model="numpy")
def _block(op, b, ap, ai, ad, bp, bi, bd, blocks, zc, zo, check, fill, structural, offsets,
           canonical, written, cp, ci, cd):
    """Block ``b`` of ``merge_blocks`` (one call of ``merge_rows``, with no literal
    argument, so that it reuses the serial path's compilation)."""
    start = np.int64(0)
    if fill:
        start = offsets[b]
        check = check and not canonical[b]
    n, canon = merge_rows(op, ap, ai, ad, bp, bi, bd, blocks[b], blocks[b + 1], zc, zo,
                          check, fill, structural, start, cp, ci, cd)
    if fill:
        written[b] = n - start
    else:
        offsets[b] = n
        canonical[b] = canon


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def merge_blocks(op, ap, ai, ad, bp, bi, bd, blocks, zc, zo, check, fill, structural,
                 offsets, canonical, written, cp, ci, cd):
    """``merge_rows`` over the row blocks ``blocks[b] .. blocks[b+1]-1`` in parallel.

    Counting stores each block's total (exact, or an upper bound when
    ``structural``) in ``offsets[b]`` and whether its rows were canonical in
    ``canonical[b]``; filling reads the start of each block's output from
    ``offsets[b]`` (the exclusive prefix sum of the totals), re-checks only the
    blocks that were not canonical and stores in ``written[b]`` how many
    results the block wrote (``compact_blocks`` closes the gaps, if any).
    """
    for b in prange(blocks.size - 1):
        _block(op, b, ap, ai, ad, bp, bi, bd, blocks, zc, zo, check, fill, structural,
               offsets, canonical, written, cp, ci, cd)


@njit(parallel=True, cache=True, nogil=True)
def compact_blocks(blocks, offsets, written, new_offsets, cp, ci, cd, out_i, out_d):
    """Move block ``b``'s ``written[b]`` results from ``offsets[b]`` to
    ``new_offsets[b]`` (into ``out_i``, ``out_d``) and shift its rows' ``cp``."""
    for b in prange(blocks.size - 1):
        src = offsets[b]
        dst = new_offsets[b]
        for k in range(written[b]):
            out_i[dst + k] = ci[src + k]
            out_d[dst + k] = cd[src + k]
        shift = src - dst
        for i in range(blocks[b], blocks[b + 1]):
            cp[i + 1] -= shift


# ---------------------------------------------------------------------------
# Operands of one pattern (``A + A``, ``A - A``, ``A * A``, ``A != A``, or two
# arrays sharing their index arrays): the union is that pattern, so the values
# are computed entry by entry, a loop with no merge and no branch.
# ---------------------------------------------------------------------------


@njit(cache=True, nogil=True, error_model="numpy")
def same_pattern_range(op, ad, bd, k0, k1, zo, out):
    """``out[k] = op(ad[k], bd[k])`` for ``k0 <= k < k1``; returns how many are zero."""
    zeros = np.int64(0)
    for k in range(np.uint64(k0), np.uint64(k1)):
        r = _apply(op, ad[k], bd[k], zo)
        out[k] = r
        if r == zo:
            zeros += 1
    return zeros


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def same_pattern(op, ad, bd, zo, out, bounds, zeros):
    """``same_pattern_range`` over the chunks ``bounds[c] .. bounds[c+1]-1`` in
    parallel; ``zeros[c]`` counts the zero results of chunk ``c``."""
    for c in prange(bounds.size - 1):
        zeros[c] = same_pattern_range(op, ad, bd, bounds[c], bounds[c + 1], zo, out)


# ---------------------------------------------------------------------------
# Partition and the complement of a pattern.
# ---------------------------------------------------------------------------


@njit(cache=True, nogil=True, error_model="numpy")
def balanced_blocks(ap, bp, n_blocks):
    """Row boundaries of ``n_blocks`` blocks with about equal ``rows + nnz(A) +
    nnz(B)``: block ``b`` is rows ``blocks[b] .. blocks[b+1]-1``."""
    m = ap.size - 1
    total = np.int64(m) + np.int64(ap[m]) + np.int64(bp[m])
    blocks = np.empty(n_blocks + 1, dtype=np.int64)
    blocks[0] = 0
    for c in range(1, n_blocks):
        target = (total * c) // n_blocks
        lo = blocks[c - 1]
        hi = np.int64(m)
        # smallest row i with i + ap[i] + bp[i] >= target
        while lo < hi:
            mid = (lo + hi) >> 1
            if mid + np.int64(ap[mid]) + np.int64(bp[mid]) < target:
                lo = mid + 1
            else:
                hi = mid
        blocks[c] = lo
    blocks[n_blocks] = m
    return blocks


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def fill_complement(indptr, indices, n_cols, out_indptr, out_indices):
    """Columns ``0 .. n_cols-1`` of each row that are NOT in the canonical pattern
    ``(indptr, indices)``. ``out_indptr`` must hold ``i * n_cols - indptr[i]``."""
    for i in prange(indptr.size - 1):
        pos = out_indptr[i]
        k = indptr[i]
        end = indptr[i + 1]
        for j in range(n_cols):
            if k < end and indices[k] == j:
                k += 1
            else:
                out_indices[pos] = j
                pos += 1
