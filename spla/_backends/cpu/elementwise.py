"""CPU entry points of the sparse-sparse elementwise operations, over raw CSR storage.

These functions take and return plain arrays, so that any format (CSR directly,
CSC through its transpose, others through CSR) can call them. The kernels are
in ``spla._kernels.elementwise``; this module validates, casts, allocates and
picks the serial or the parallel kernel.

An operand is a tuple ``(data, indices, indptr, shape)`` of a CSR matrix; its
rows may be unsorted and hold duplicates and explicit zeros. The indices of
the two operands are brought to one dtype (int64 when they differ), and the
output uses int32 indices when the column count and the result's ``nnz`` fit.
"""

import contextlib

import numba
import numpy as np

from ..._kernels import elementwise as K
from ..._kernels.threads import parallel_section
from .memory import pooled_empty

#: Every operation ``binop`` accepts.
OPERATIONS = tuple(K.OPERATIONS) + tuple(K.COMPLEMENTS)

#: Below this many items (rows + stored entries of both operands) the kernels
#: run on the calling thread: waking the thread pool costs more than the work.
SERIAL_MAX_ITEMS = 1 << 16

#: Items per parallel block (at most ``_BLOCKS_PER_THREAD`` blocks a thread).
_BLOCK_ITEMS = 1 << 15
_BLOCKS_PER_THREAD = 8

_INT32_MAX = np.iinfo(np.int32).max
_VALUE_KINDS = "biufc"


def _operand(x, which, full_check=True):
    try:
        data, indices, indptr, shape = x
    except (TypeError, ValueError):
        raise TypeError(f"{which} must be a tuple (data, indices, indptr, shape)") from None
    data, indices, indptr = np.asarray(data), np.asarray(indices), np.asarray(indptr)
    shape = tuple(int(s) for s in shape)
    if len(shape) != 2 or min(shape) < 0:
        raise ValueError(f"{which}: shape must be two non-negative integers, got {shape}")
    if data.ndim != 1 or indices.ndim != 1 or indptr.ndim != 1:
        raise ValueError(f"{which}: data, indices and indptr must be one-dimensional")
    if data.dtype.kind not in _VALUE_KINDS or data.dtype.itemsize > 16 or (
            data.dtype.kind == "f" and data.dtype.itemsize > 8):
        raise TypeError(f"{which}: unsupported value dtype {data.dtype}")
    if not (indices.dtype.kind == "i" and indices.dtype.itemsize in (4, 8)
            and indptr.dtype.kind == "i" and indptr.dtype.itemsize in (4, 8)):
        raise TypeError(f"{which}: indices and indptr must be int32 or int64, got "
                        f"{indices.dtype} and {indptr.dtype}")
    indices, indptr = _native(indices, indices.dtype), _native(indptr, indptr.dtype)
    if indptr.size != shape[0] + 1:
        raise ValueError(f"{which}: indptr has {indptr.size} entries for {shape[0]} rows")
    nnz = int(indptr[-1])
    if int(indptr[0]) != 0 or nnz > indices.size or nnz > data.size:
        raise ValueError(f"{which}: indptr must start at 0 and end at most at "
                         f"len(indices) and len(data)")
    if not full_check:
        return data[:nnz], indices[:nnz], indptr, shape
    if shape[0] and np.any(indptr[1:] < indptr[:-1]):
        raise ValueError(f"{which}: indptr must be non-decreasing")
    if nnz:
        used = indices[:nnz]
        lo, hi = int(used.min()), int(used.max())
        if lo < 0 or hi >= shape[1]:
            raise IndexError(f"{which}: column index {lo if lo < 0 else hi} out of range "
                             f"for {shape[1]} columns")
    return data[:nnz], indices[:nnz], indptr, shape


def _native(a, dtype):
    """``a`` as a contiguous native-order array of ``dtype`` (copied only when needed)."""
    if a.dtype == dtype and a.dtype.isnative and a.flags.c_contiguous:
        return a
    return np.ascontiguousarray(a, dtype=np.dtype(dtype).newbyteorder("="))


def compute_dtype(op, a_dtype, b_dtype, result_dtype):
    """Dtype the values of ``op`` are computed in: the result dtype for arithmetic,
    NumPy's promotion of the operands for comparisons (their result is bool)."""
    if op in K.BOOL_RESULT:
        return np.promote_types(a_dtype, b_dtype)
    return np.dtype(result_dtype)


def binop(op, a, b, result_dtype, *, canonical=False, check=True):
    """``op(A, B)`` elementwise for two CSR matrices of one shape, as SciPy computes it.

    Parameters
    ----------
    op : str
        One of ``add``, ``subtract``, ``multiply``, ``divide``, ``maximum``,
        ``minimum``, ``ne``, ``lt``, ``gt``, ``eq``, ``le``, ``ge``.
    a, b : tuple
        ``(data, indices, indptr, shape)`` of each operand, int32 or int64 indices.
        Rows may be unsorted and hold duplicates (summed first) and explicit zeros.
    result_dtype : dtype
        The dtype of the result values (NumPy's promotion of the operands', chosen
        by the caller): ``bool`` for the comparisons, a float or complex dtype for
        ``divide``. The operands are cast to it (comparisons: to the promotion of
        the two) and the operation computed in it, wrapping as NumPy does.
    canonical : bool
        The caller promises that both operands are canonical (sorted, no
        duplicates), which skips the per-row check.
    check : bool
        Check that ``indptr`` is non-decreasing and every column index is in range
        (O(nnz)). Pass False only for storage validated before (an spla array's);
        the O(1) checks of lengths, dtypes and shapes always run.

    Returns
    -------
    data, indices, indptr : ndarray
        The canonical CSR result: only non-zero (``True``) results are stored.
        For ``eq``, ``le`` and ``ge``, whose value is ``True`` wherever neither
        operand stores anything, the stored entries are instead the positions
        where the result is ``False`` (``data`` all ``False``); everything else is
        ``True``. SciPy computes these as ``ones - (A != B)``, ``ones - (A > B)``,
        ``ones - (A < B)`` (so ``le`` is "not greater", also for NaN);
        ``complement`` turns the pattern into SciPy's explicit result.
        For ``divide`` the stored entries are SciPy's ``_eldiv_`` result: ``a / b``
        on the union of the patterns (``a / 0`` is ``inf`` or ``nan``); SciPy's
        ``A / B`` is the dense array that holds these, 0 at the other entries
        stored (and non-zero) in B, and ``nan`` everywhere else (``true_divide_dense``).

    Examples
    --------
    >>> import numpy as np
    >>> a = (np.array([1.0, 2.0]), np.array([0, 2]), np.array([0, 1, 2]), (2, 3))
    >>> b = (np.array([-1.0, 5.0]), np.array([0, 1]), np.array([0, 2, 2]), (2, 3))
    >>> data, indices, indptr = binop("add", a, b, np.float64)
    >>> data.tolist(), indices.tolist(), indptr.tolist()
    ([5.0, 2.0], [1, 2], [0, 1, 2])
    """
    if op not in OPERATIONS:
        raise ValueError(f"unknown elementwise operation {op!r}; expected one of "
                         f"{', '.join(OPERATIONS)}")
    ad, ai, ap, shape = _operand(a, "A", check)
    bd, bi, bp, b_shape = _operand(b, "B", check)
    if shape != b_shape:
        raise ValueError(f"inconsistent shapes {shape} and {b_shape}")
    result_dtype = np.dtype(result_dtype)
    if result_dtype.kind not in _VALUE_KINDS:
        raise TypeError(f"unsupported result dtype {result_dtype}")
    if op in K.BOOL_RESULT:
        if result_dtype != np.bool_:
            raise TypeError(f"{op}: the result dtype of a comparison is bool, not {result_dtype}")
    else:
        if op == "divide" and result_dtype.kind not in "fc":
            raise TypeError("divide: the result dtype must be a float or complex dtype "
                            f"(SciPy divides in float64), not {result_dtype}")
        promoted = np.promote_types(ad.dtype, bd.dtype)
        if not np.can_cast(promoted, result_dtype, "safe"):
            raise TypeError(f"{op}: operands of dtypes {ad.dtype} and {bd.dtype} cannot be "
                            f"computed in {result_dtype}")
    inverted = op in K.COMPLEMENTS
    kernel_op = K.COMPLEMENTS.get(op, op)
    cdt = compute_dtype(op, ad.dtype, bd.dtype, result_dtype)
    ad, bd = _native(ad, cdt), _native(bd, cdt)
    # one dtype for the two index arrays and one for the two indptr (each kernel
    # compiles once per pair); indices and indptr may differ
    if ai.dtype != bi.dtype:
        ai, bi = _native(ai, np.int64), _native(bi, np.int64)
    if ap.dtype != bp.dtype:
        ap, bp = _native(ap, np.int64), _native(bp, np.int64)
    if canonical and _same_pattern(ap, ai, bp, bi):
        data, indices, indptr = _run_same_pattern(kernel_op, ap, ai, ad, bd, shape, result_dtype)
    else:
        if not canonical:
            ad, bd = _general_path_zeros(ap, ai, ad, bp, bi, bd, shape)
        data, indices, indptr = _run(kernel_op, ap, ai, ad, bp, bi, bd, shape, cdt,
                                     result_dtype, not canonical)
    if inverted:
        data = np.zeros(indices.size, dtype=np.bool_)
    return data, indices, indptr


def _has_negative_zero(d):
    if d.dtype.kind == "c":
        return _has_negative_zero(d.real) or _has_negative_zero(d.imag)
    return d.dtype.kind == "f" and bool(np.any((d == 0) & np.signbit(d)))


def _general_path_zeros(ap, ai, ad, bp, bi, bd, shape):
    """The operands' values as SciPy's general path reads them. When either operand
    is not canonical, SciPy computes every row through a dense accumulator that
    starts from +0, so every value is ``0 + x`` there and a stored -0.0 reads as
    +0.0 (``1 / -0.0`` gives +inf, not -inf); the merge adds from zero only in the
    rows that are not canonical themselves. Values are copied only when a -0.0 is
    stored and an operand is not canonical."""
    if not (_has_negative_zero(ad) or _has_negative_zero(bd)):
        return ad, bd
    from .convert import is_canonical

    if is_canonical(ad, ai, ap, shape) and is_canonical(bd, bi, bp, shape):
        return ad, bd
    return ad + ad.dtype.type(0), bd + bd.dtype.type(0)


@contextlib.contextmanager
def _dynamic():
    """Hand the blocks of the parallel loops out one at a time (Numba's default
    gives each thread an equal share up front): on a shared machine a thread
    that is descheduled then holds up one block, not half of the work."""
    previous = numba.set_parallel_chunksize(1)
    try:
        yield
    finally:
        numba.set_parallel_chunksize(previous)


def _same_array(x, y):
    """Whether ``x`` and ``y`` view the same memory the same way."""
    return x is y or (x.shape == y.shape and x.strides == y.strides and x.dtype == y.dtype
                      and x.ctypes.data == y.ctypes.data)


def _chunks(n):
    """Boundaries of the parallel chunks of ``n`` items (``_BLOCK_ITEMS`` or more each,
    at most ``_BLOCKS_PER_THREAD`` a thread)."""
    n_chunks = max(1, min(n // _BLOCK_ITEMS, _BLOCKS_PER_THREAD * numba.get_num_threads()))
    return (np.arange(n_chunks + 1, dtype=np.int64) * n) // n_chunks


def _same_pattern(ap, ai, bp, bi):
    """Whether two canonical operands (one index dtype) store the same positions:
    the same arrays, or equal ones (``A - B`` where ``B`` is a copy or a map of
    ``A``'s values). A comparison stops at the first difference, so two different
    patterns cost next to nothing; two equal ones cost a read of both, which the
    entry-by-entry path repays many times over."""
    if _same_array(ap, bp) and _same_array(ai, bi):
        return True
    nnz = ai.size
    if nnz + ap.size < SERIAL_MAX_ITEMS:
        return False  # small: the merge costs what the comparison would
    if ap.size != bp.size or nnz != bi.size or not K.equal_arrays(ap, bp):
        return False
    bounds = _chunks(nnz)
    equal = np.empty(bounds.size - 1, np.bool_)
    with parallel_section(), _dynamic():
        K.equal_chunks(ai, bi, bounds, equal)
    return bool(equal.all())


def _run_same_pattern(op, ap, ai, ad, bd, shape, odt):
    """Operands of one canonical pattern: compute entry by entry (copying the
    indices in the same loop), then drop the zero results (only when there are
    any)."""
    m, n = shape
    nnz = ai.size
    zo = odt.type(0)
    code = K.OPERATIONS[op]
    idx = np.dtype(np.int32) if max(n, nnz) <= _INT32_MAX else np.dtype(np.int64)
    out = pooled_empty(nnz, odt)  # reused buffers when large (memory.py), as _run's
    indices = pooled_empty(nnz, idx)
    if nnz + m < SERIAL_MAX_ITEMS:
        zeros = K.same_pattern_range(code, ad, bd, 0, nnz, zo, out, ai, indices)
    else:
        bounds = _chunks(nnz)
        per_chunk = np.empty(bounds.size - 1, np.int64)
        with parallel_section(), _dynamic():
            K.same_pattern(code, ad, bd, zo, out, ai, indices, bounds, per_chunk)
        zeros = int(per_chunk.sum())
    if zeros:
        keep = out != zo
        ends = np.empty(nnz + 1, np.int64)
        ends[0] = 0
        np.cumsum(keep, out=ends[1:])
        return out[keep], indices[keep], ends[ap].astype(idx)
    return out, indices, ap.astype(idx)


def _run(op, ap, ai, ad, bp, bi, bd, shape, cdt, odt, check):
    """The general merge in one pass into outputs of ``nnz(A) + nnz(B)`` entries
    (see ``spla._kernels.elementwise``), then the gaps closed."""
    m, n = shape
    zc, zo = cdt.type(0), odt.type(0)
    code = K.OPERATIONS[op]
    bound = ai.size + bi.size
    idx = np.dtype(np.int32) if max(n, bound) <= _INT32_MAX else np.dtype(np.int64)
    indptr = np.empty(m + 1, idx)
    indptr[0] = 0
    indices = pooled_empty(bound, idx)  # reused buffers when large (memory.py)
    data = pooled_empty(bound, odt)
    if m + bound < SERIAL_MAX_ITEMS:
        nnz = K.merge_rows(code, ap, ai, ad, bp, bi, bd, 0, m, zc, zo, check, 0, indptr,
                           indices, data)
        if nnz < bound:
            indices, data = indices[:nnz].copy(), data[:nnz].copy()
        return data, indices, indptr
    n_blocks = max(1, min((m + bound) // _BLOCK_ITEMS,
                          _BLOCKS_PER_THREAD * numba.get_num_threads()))
    blocks = K.balanced_blocks(ap, bp, n_blocks)
    written = np.empty(n_blocks, np.int64)
    with parallel_section(), _dynamic():
        K.merge_blocks(code, ap, ai, ad, bp, bi, bd, blocks, zc, zo, check, indptr, indices,
                       data, written)
    nnz = int(written.sum())
    if nnz == bound:
        return data, indices, indptr
    starts = ap[blocks[:-1]].astype(np.int64) + bp[blocks[:-1]]
    dst = np.zeros(n_blocks, np.int64)
    np.cumsum(written[:-1], out=dst[1:])
    saved = np.minimum(starts - dst, written)
    n_saved = int(saved.sum())
    # Small gaps (A - B of two different patterns: only the shared columns and the
    # cancellations): close them in place on all threads, saving the few entries
    # a later block lands on. Large gaps around many results (A < B: half are
    # False): in place on one thread (fresh pages for a copy cost more on these
    # VMs). Few results (A.multiply(B) of two different patterns): copy them out.
    if 2 * (bound - nnz) <= nnz and 4 * n_saved <= nnz:
        saved_at = np.zeros(n_blocks, np.int64)
        np.cumsum(saved[:-1], out=saved_at[1:])
        saved_i, saved_d = np.empty(n_saved, idx), np.empty(n_saved, odt)
        with parallel_section(), _dynamic():
            K.close_gaps(blocks, starts, written, dst, saved_at, indptr, indices, data,
                         saved_i, saved_d)
        return data[:nnz], indices[:nnz], indptr
    if 4 * nnz >= bound:
        K.close_gaps_serial(blocks, starts, written, dst, indptr, indices, data)
        return data[:nnz], indices[:nnz], indptr
    out_i, out_d = pooled_empty(nnz, idx), pooled_empty(nnz, odt)
    with parallel_section(), _dynamic():
        K.copy_blocks(blocks, starts, written, dst, indptr, indices, data, out_i, out_d)
    return out_d, out_i, indptr


def complement(indices, indptr, shape):
    """SciPy's explicit result of ``eq``, ``le`` or ``ge`` from ``binop``'s pattern:
    every position NOT in the canonical pattern ``(indices, indptr)``, stored as
    ``True``. Its size is ``rows * cols - nnz``, as SciPy's (which starts from a
    dense array of ones).

    Examples
    --------
    >>> import numpy as np
    >>> data, indices, indptr = complement(np.array([1]), np.array([0, 1, 1]), (2, 2))
    >>> indices.tolist(), indptr.tolist()
    ([0, 0, 1], [0, 1, 3])
    """
    m, n = (int(s) for s in shape)
    indptr = np.asarray(indptr)
    total = m * n - (int(indptr[-1]) if m else 0)
    idx = np.dtype(np.int32) if max(n, total) <= _INT32_MAX else np.dtype(np.int64)
    out_indptr = (np.arange(m + 1, dtype=np.int64) * n - indptr).astype(idx)
    out_indices = np.empty(total, idx)
    with parallel_section():
        K.fill_complement(_native(indptr, np.int64), _native(indices, np.int64), n,
                          out_indptr, out_indices)
    return np.ones(total, np.bool_), out_indices, out_indptr


def true_divide_dense(a, b, result_dtype):
    """SciPy's ``A / B`` of two sparse matrices: a dense array (``result_dtype``
    float or complex) with ``binop("divide", ...)``'s results on the union of the
    patterns, 0 at the other positions that B stores as non-zero, and ``nan``
    elsewhere (0 / 0). (SciPy 1.17 writes the quotients into an array of A's
    dtype after its cast to float64, so a real A over a complex B loses the
    imaginary parts there; here ``result_dtype`` keeps them.)

    Examples
    --------
    >>> import numpy as np
    >>> a = (np.array([3.0]), np.array([0]), np.array([0, 1, 1]), (2, 2))
    >>> b = (np.array([2.0, 4.0]), np.array([0, 1]), np.array([0, 1, 2]), (2, 2))
    >>> true_divide_dense(a, b, np.float64).tolist()
    [[1.5, nan], [nan, 0.0]]
    """
    data, indices, indptr = binop("divide", a, b, result_dtype)
    bd, bi, bp, shape = _operand(b, "B")
    out = np.full(shape, np.nan, dtype=result_dtype)
    brow = np.repeat(np.arange(shape[0]), np.diff(bp))
    keep = bd != 0
    out[brow[keep], bi[keep]] = 0
    rows = np.repeat(np.arange(shape[0]), np.diff(indptr))
    out[rows, indices] = data
    return out
