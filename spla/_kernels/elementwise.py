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

One pass runs over balanced blocks of rows, in parallel (``prange``) when the
work pays for the threads: the output is allocated for the upper bound
``nnz(A) + nnz(B)`` (pages never written are never mapped), each block writes
its results from its own upper-bound offset ``ap[r0] + bp[r0]`` (no counting
pass: the merge, not the memory, is what costs), and the gaps that results of
zero and shared columns leave between the blocks are closed afterwards, in
place when they are small (``close_gaps``), by a copy otherwise
(``copy_blocks``). A row whose columns are unsorted or repeated is
canonicalised on the fly into a scratch buffer sized by the row's own entries.

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
from numba.core import cgutils
from numba.extending import intrinsic, overload

from .complex_arith import multiply


@intrinsic
def _load_or(typingctx, take, array, index, other):
    """``array[index] if take else other[0]`` for 1-D arrays of one dtype, read
    through a select of the two addresses, then one load: no branch. (A select of
    two floating-point values on a condition from integers becomes a branch on
    x86, mispredicted on every other step of a merge of random columns.) Nothing
    is read from ``array`` when ``take`` is false, so ``index`` may be out of range
    then; no bounds or wraparound tests."""
    if not (isinstance(take, types.Boolean) and isinstance(index, types.Integer)
            and isinstance(array, types.Array) and isinstance(other, types.Array)
            and array.ndim == 1 and other.ndim == 1 and array.dtype == other.dtype):
        return None
    sig = array.dtype(take, array, index, other)

    def codegen(context, builder, signature, args):
        take_ty, aty, ity, oty = signature.args
        arr = context.make_array(aty)(context, builder, args[1])
        oth = context.make_array(oty)(context, builder, args[3])
        i = context.cast(builder, args[2], ity, types.intp)
        p = cgutils.get_item_pointer(context, builder, aty, arr, [i], wraparound=False)
        q = cgutils.get_item_pointer(context, builder, oty, oth,
                                     [context.get_constant(types.intp, 0)], wraparound=False)
        cond = context.cast(builder, args[0], take_ty, types.boolean)
        ptr = builder.select(cond, p, q)
        return context.unpack_value(builder, aty.dtype, ptr)

    return sig, codegen


# ---------------------------------------------------------------------------
# Scalar helpers: casts and SciPy's multiplication, comparison and division of
# complex values.
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
        return _as(multiply(a, b), zo)
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
def _merge(op, ai, ad, alo, ahi, bi, bd, blo, bhi, zc, zo, ci, cd, pos, zbuf):
    """Merge two canonical rows ``ai[alo:ahi]`` and ``bi[blo:bhi]`` into ``ci``,
    ``cd`` from ``pos`` on; return the position after the last non-zero result.

    The loop has no data-dependent branch: while both rows have entries, each
    step takes the smaller column (from A, B or both, as selects), computes the
    result, writes it, and moves ``pos`` on only when it is non-zero; then the
    rest of the longer row is copied through ``op`` with the other operand 0.
    Random column patterns and comparison results would mispredict about half
    the branches of a branching merge (1.3-1.5x slower at 2e6 rows). The value
    of each operand is read from its row or from ``zbuf`` (one element holding
    ``zc``) through a select of addresses (``_load_or``): a select of two
    floating-point values compiles to a branch on x86. So the output must have
    room for ``(ahi - alo) + (bhi - blo)`` entries from ``pos``.
    ``_apply`` is inlined: the operations are compiled once per dtype, not once
    per branch of the merge. Positions are unsigned: Numba then emits no test
    for negative indices on every access.
    """
    one = np.uint64(1)
    if alo < ahi and blo < bhi:
        ja = ai[alo]
        jb = bi[blo]
        while True:
            take_a = ja <= jb
            take_b = jb <= ja
            if op == MAXIMUM or op == MINIMUM:
                # selects of values: measured faster for these two (their result
                # is itself a select of the two values)
                va = ad[alo] if take_a else zc
                vb = bd[blo] if take_b else zc
            else:
                va = _load_or(take_a, ad, alo, zbuf)
                vb = _load_or(take_b, bd, blo, zbuf)
            r = _apply(op, va, vb, zo)
            ci[pos] = ja if take_a else jb
            cd[pos] = r
            pos += np.uint64(r != zo)
            alo += np.uint64(take_a)
            blo += np.uint64(take_b)
            if alo >= ahi or blo >= bhi:
                break
            ja = ai[alo]
            jb = bi[blo]
    while alo < ahi:
        r = _apply(op, ad[alo], zc, zo)
        ci[pos] = ai[alo]
        cd[pos] = r
        pos += np.uint64(r != zo)
        alo += one
    while blo < bhi:
        r = _apply(op, zc, bd[blo], zo)
        ci[pos] = bi[blo]
        cd[pos] = r
        pos += np.uint64(r != zo)
        blo += one
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
def _merge_any_rows(op, ai, ad, alo, ahi, bi, bd, blo, bhi, zc, zo, ci, cd, pos, zbuf):
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
    return _merge(op, sai, sad, zero, na, sbi, sbd, zero, nb, zc, zo, ci, cd, pos, zbuf)


@njit(cache=True, nogil=True, error_model="numpy")
def merge_rows(op, ap, ai, ad, bp, bi, bd, r0, r1, zc, zo, check, pos, cp, ci, cd):
    """Rows ``r0 .. r1-1`` of ``op(A, B)``, in one pass.

    The results are written from ``pos`` on and ``cp[i + 1]`` is set to the
    position after row ``i``; returns the position after the last row. The
    output must have room for ``ap[r1] - ap[r0] + bp[r1] - bp[r0]`` entries
    from ``pos`` (the union of two rows is at most their two lengths; rows that
    cancel to zero leave the rest unused). ``check`` false promises canonical
    rows; with it, each row is checked and canonicalised when it is not.
    """
    pos = np.uint64(pos)
    zbuf = np.empty(1, ad.dtype)  # the zero an operand without an entry reads
    zbuf[0] = zc
    for i in range(r0, r1):
        alo = np.uint64(ap[i])
        ahi = np.uint64(ap[i + 1])
        blo = np.uint64(bp[i])
        bhi = np.uint64(bp[i + 1])
        if not check or (_increasing(ai, alo, ahi) and _increasing(bi, blo, bhi)):
            pos = _merge(op, ai, ad, alo, ahi, bi, bd, blo, bhi, zc, zo, ci, cd, pos, zbuf)
        else:
            pos = _merge_any_rows(op, ai, ad, alo, ahi, bi, bd, blo, bhi, zc, zo, ci, cd, pos,
                                   zbuf)
        cp[i + 1] = pos
    return np.int64(pos)


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def merge_blocks(op, ap, ai, ad, bp, bi, bd, blocks, zc, zo, check, cp, ci, cd, written):
    """``merge_rows`` over the row blocks ``blocks[b] .. blocks[b+1]-1`` in parallel,
    in one pass: block ``b`` writes from ``ap[blocks[b]] + bp[blocks[b]]`` on (its
    rows' upper bound, so no block needs another's count) and stores how many
    results it kept in ``written[b]``. ``cp`` gets positions in that layout;
    ``close_gaps`` or ``copy_blocks`` then closes the gaps between the blocks.
    """
    for b in prange(blocks.size - 1):
        r0 = blocks[b]
        start = np.int64(ap[r0]) + np.int64(bp[r0])
        written[b] = merge_rows(op, ap, ai, ad, bp, bi, bd, r0, blocks[b + 1], zc, zo, check,
                                start, cp, ci, cd) - start


@njit(parallel=True, cache=True, nogil=True)
def close_gaps(blocks, starts, written, dst, saved_at, cp, ci, cd, saved_i, saved_d):
    """Close the gaps between the blocks of ``merge_blocks`` in place, in parallel.

    Block ``b`` holds ``written[b]`` entries at ``starts[b]`` and moves to
    ``dst[b]`` (the exclusive prefix sum of ``written``), left by ``s = starts[b]
    - dst[b]``. Its last ``t = min(s, written[b])`` entries lie where the later
    blocks land, so all blocks first save those (at ``saved_at[b]`` in
    ``saved_i``, ``saved_d``); then each block moves the rest forward (its
    destination is below its source: a forward copy never overwrites what it
    has still to read, and no other block reads there) and puts the saved
    entries after it. The rows' ends in ``cp`` move by ``s`` too.
    """
    nb = blocks.size - 1
    for b in prange(nb):
        w = written[b]
        s = starts[b] - dst[b]
        t = min(s, w)
        src = starts[b] + w - t
        at = saved_at[b]
        for k in range(t):
            saved_i[at + k] = ci[src + k]
            saved_d[at + k] = cd[src + k]
    for b in prange(nb):
        w = written[b]
        s = starts[b] - dst[b]
        if s == 0:
            continue
        t = min(s, w)
        src = starts[b]
        to = dst[b]
        for k in range(w - t):
            ci[to + k] = ci[src + k]
            cd[to + k] = cd[src + k]
        at = saved_at[b]
        to += w - t
        for k in range(t):
            ci[to + k] = saved_i[at + k]
            cd[to + k] = saved_d[at + k]
        for i in range(blocks[b], blocks[b + 1]):
            cp[i + 1] -= s


@njit(cache=True, nogil=True)
def close_gaps_serial(blocks, starts, written, dst, cp, ci, cd):
    """``close_gaps`` on one thread with no saved entries: the blocks move in
    order, each below its own source and above every block moved before it, so
    a forward copy never overwrites what is still to be read. For large gaps
    (half of the results zero, as in ``A < B``), where the parallel version
    would save nearly everything and a copy would fault in fresh pages."""
    for b in range(blocks.size - 1):
        s = starts[b] - dst[b]
        if s == 0:
            continue
        src = starts[b]
        to = dst[b]
        for k in range(written[b]):
            ci[to + k] = ci[src + k]
            cd[to + k] = cd[src + k]
        for i in range(blocks[b], blocks[b + 1]):
            cp[i + 1] -= s


@njit(parallel=True, cache=True, nogil=True)
def copy_blocks(blocks, starts, written, dst, cp, ci, cd, out_i, out_d):
    """Copy block ``b``'s ``written[b]`` results from ``starts[b]`` to ``dst[b]``
    (into ``out_i``, ``out_d``) and shift its rows' ends in ``cp``."""
    for b in prange(blocks.size - 1):
        src = starts[b]
        to = dst[b]
        for k in range(written[b]):
            out_i[to + k] = ci[src + k]
            out_d[to + k] = cd[src + k]
        s = src - to
        for i in range(blocks[b], blocks[b + 1]):
            cp[i + 1] -= s


# ---------------------------------------------------------------------------
# Operands of one pattern (``A + A``, ``A - A``, ``A * A``, ``A != A``, or two
# arrays sharing their index arrays): the union is that pattern, so the values
# are computed entry by entry, a loop with no merge and no branch.
# ---------------------------------------------------------------------------


@njit(cache=True, nogil=True, error_model="numpy")
def same_pattern_range(op, ad, bd, k0, k1, zo, out, ai, out_i):
    """``out[k] = op(ad[k], bd[k])`` and ``out_i[k] = ai[k]`` (the result's copy of
    the shared indices) for ``k0 <= k < k1``; returns how many results are zero."""
    zeros = np.int64(0)
    for k in range(np.uint64(k0), np.uint64(k1)):
        r = _apply(op, ad[k], bd[k], zo)
        out[k] = r
        out_i[k] = ai[k]
        zeros += r == zo
    return zeros


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def same_pattern(op, ad, bd, zo, out, ai, out_i, bounds, zeros):
    """``same_pattern_range`` over the chunks ``bounds[c] .. bounds[c+1]-1`` in
    parallel; ``zeros[c]`` counts the zero results of chunk ``c``."""
    for c in prange(bounds.size - 1):
        zeros[c] = same_pattern_range(op, ad, bd, bounds[c], bounds[c + 1], zo, out, ai, out_i)


@njit(cache=True, nogil=True)
def _equal_range(x, y, k0, k1):
    for k in range(np.uint64(k0), np.uint64(k1)):
        if x[k] != y[k]:
            return False
    return True


@njit(cache=True, nogil=True)
def equal_arrays(x, y):
    """Whether the 1-D arrays ``x`` and ``y`` (of one size) hold the same values,
    stopping at the first difference."""
    return _equal_range(x, y, 0, x.size)


@njit(parallel=True, cache=True, nogil=True)
def equal_chunks(x, y, bounds, equal):
    """``equal[c]``: whether ``x`` and ``y`` agree on ``bounds[c] .. bounds[c+1]-1``;
    a chunk stops at its first difference."""
    for c in prange(bounds.size - 1):
        equal[c] = _equal_range(x, y, bounds[c], bounds[c + 1])


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
