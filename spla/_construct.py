"""SciPy's sparse constructors for spla arrays: ``eye_array``, ``hstack``, ``kron``, ...

Signatures, results, dtypes and errors follow ``scipy.sparse`` (SciPy 1.17);
inputs may be spla arrays, SciPy sparse arrays or matrices, or dense arrays
where SciPy takes them, and results are spla arrays. ``format=`` names any
format of spla's registry (``spla.formats()``); ``"dia"`` gives a
``banded_array``. Where SciPy's result is COO by default, spla's is a
``coo_array``.

The O(nnz) work runs in Numba kernels (``spla/_kernels/construct.py``): each
builds CSR storage in a count pass and a fill pass over rows, parallel above
``PARALLEL_MIN_NNZ`` entries and serial below.
"""

import math
import numbers
import operator
import warnings

import numpy as np

from ._device import is_gpu_array
from ._base import SparseArray, _is_scipy_sparse
from ._dtypes import default_value_dtype, value_dtype
from ._formats import registry
from ._formats.compressed import csc_array, csr_array
from ._kernels import construct as K
from ._backends.cpu.memory import empty_output, pooled_empty
from ._kernels.threads import parallel_section

__all__ = [
    "block_array",
    "block_diag",
    "diags_array",
    "eye_array",
    "find",
    "hstack",
    "identity",
    "issparse",
    "kron",
    "kronsum",
    "load_npz",
    "random_array",
    "save_npz",
    "tril",
    "triu",
    "vstack",
]

#: Outputs with fewer stored entries (or rows) than this are built by the serial
#: twins of the kernels: waking the threads costs tens of microseconds.
PARALLEL_MIN_NNZ = 1 << 16

_INT32_MAX = np.iinfo(np.int32).max
_INT64_MAX = np.iinfo(np.int64).max


class _NoValueType:
    """Marks an argument the caller did not pass (SciPy's ``_NoValue``)."""

    def __repr__(self):
        return "<no value>"


_NoValue = _NoValueType()


# ---------------------------------------------------------------------------
# Helpers: dtypes, formats, operands
# ---------------------------------------------------------------------------


def _storage_dtype(dtype):
    """The dtype spla stores values of ``dtype`` as (spla's dtype policy)."""
    return default_value_dtype(np.dtype(dtype))


def _requested_dtype(dtype):
    """An explicitly requested value dtype, checked against spla's policy."""
    return value_dtype(dtype)


def _index_dtype(*, wide=False, maxval=0):
    """int64 when an input index array is int64 (``wide``) or ``maxval`` does not
    fit in int32, as SciPy's ``get_index_dtype`` decides; int32 otherwise."""
    if wide or int(maxval) > _INT32_MAX:
        return np.dtype(np.int64)
    return np.dtype(np.int32)


def _coo_registered():
    return "coo" in registry.formats()


def _finish(array, format, fallback):
    """``array`` in ``format`` (a registry name, ``"dia"`` meaning ``banded``).

    ``format=None`` gives SciPy's default COO when that format is registered and
    ``fallback`` (``"csr"`` or ``"csc"``: the format the kernels built) otherwise.
    """
    if format is None:
        format = "coo" if _coo_registered() else fallback
    if not isinstance(format, str):
        raise TypeError(f"format must be a string or None, got {type(format).__name__}")
    name = "banded" if format == "dia" else format
    return array.asformat(name)


def _is_csr_like(obj):
    return getattr(obj, "format", None) == "csr" and (
        isinstance(obj, SparseArray) or _is_scipy_sparse(obj))


def _is_csc_like(obj):
    return getattr(obj, "format", None) == "csc" and (
        isinstance(obj, SparseArray) or _is_scipy_sparse(obj))


def _require_cpu(array, what):
    if array.device != "cpu":
        raise ValueError(
            f"{what} runs on the CPU; move the array with .to_device('cpu') first")
    return array


def _dense_2d(obj, what):
    """A dense operand as a 2-D NumPy array (0-D and 1-D become one row, as SciPy
    reads them)."""
    if is_gpu_array(obj):
        raise ValueError(f"{what}: CuPy arrays are not accepted; pass NumPy arrays")
    try:
        arr = np.asarray(obj)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"{what}: cannot read {type(obj).__name__} as an array: {exc}") from None
    if arr.dtype == object or arr.dtype.kind not in "biufc":
        raise TypeError(f"{what}: unsupported input of type {type(obj).__name__} "
                        f"(dtype {arr.dtype})")
    if arr.ndim > 2:
        raise ValueError(f"{what}: spla arrays are 2-D; got an input of shape {arr.shape}")
    return np.atleast_2d(arr)


def _scipy_2d(S):
    """A SciPy sparse array as a 2-D one (1-D arrays become one row, as SciPy's
    ``_shape_as_2d`` reads them)."""
    if S.ndim == 1:
        return S.reshape((1, S.shape[0]))
    if S.ndim != 2:
        raise ValueError(f"spla arrays are 2-D; got a {S.ndim}-D SciPy array")
    return S


def _as_compressed(obj, what, keep_csc=False):
    """``(array, original dtype)``: ``obj`` as a spla ``csr_array`` (or its
    ``csc_array`` when ``keep_csc`` and the input is CSC), without a copy where
    it already is one: a snapshot of its storage, read once (another thread may write
    the array)."""
    if isinstance(obj, SparseArray):
        if getattr(obj, "ndim", 2) != 2:
            raise ValueError(f"{what}: spla arrays of {obj.ndim} dimensions are not accepted")
        _require_cpu(obj, what)
        if keep_csc and isinstance(obj, csc_array):
            obj = obj._snap()
            return obj, obj.dtype
        obj = obj.tocsr()._snap()
        return obj, obj.dtype
    if _is_scipy_sparse(obj):
        S = _scipy_2d(obj)
        if keep_csc and S.format == "csc":
            return csc_array(S), S.dtype
        return csr_array(S), S.dtype
    dense = _dense_2d(obj, what)
    return csr_array(dense), dense.dtype


def _is_wide(array):
    return array.indptr.dtype == np.int64 or array.indices.dtype == np.int64


def _counts_to_indptr(indptr):
    """Prefix sum of the row lengths in ``indptr[1:]`` (in place); the total."""
    np.cumsum(indptr, out=indptr)
    return int(indptr[-1])


_RAW = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def _raw(values):
    """``values`` viewed as unsigned integers of the same width (complex128 as
    itself): kernels that only move values then compile once per width, not
    once per dtype."""
    raw = _RAW.get(values.dtype.itemsize)
    return values if raw is None else values.view(raw)


def _launch(parallel, serial, big, *args):
    if big:
        with parallel_section():
            parallel(*args)
    else:
        serial(*args)


# ---------------------------------------------------------------------------
# Identity and diagonals
# ---------------------------------------------------------------------------


def _diagonal_length(m, n, k):
    """Number of positions of diagonal ``k`` inside an m x n array (negative when
    the diagonal lies wholly outside, as SciPy's bound check reads it)."""
    return min(m + k, n - k, min(m, n))


def _eye_csr(m, n, k, dtype):
    """CSR storage of the m x n array with ones on diagonal ``k``."""
    lo = max(0, -k)
    length = max(0, _diagonal_length(m, n, k))
    idx = _index_dtype(maxval=max(m, n, length))
    indptr = np.clip(np.arange(-lo, m + 1 - lo, dtype=np.int64), 0, length).astype(idx)
    indices = np.arange(lo + k, lo + k + length, dtype=idx)
    data = np.ones(length, dtype=dtype)
    return csr_array._from_parts(data, indices, indptr, (m, n), True)


def _check_dim(value, name):
    try:
        d = operator.index(value)
    except TypeError:
        try:
            d = int(value)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be an integer, got {value!r}") from None
    if d < 0:
        raise ValueError(f"{name} must not be negative, got {d}")
    return d


def eye_array(m, n=None, *, k=0, dtype=float, format=None):
    """Sparse array of shape ``(m, n)`` with ones on diagonal ``k``, as ``scipy.sparse.eye_array``.

    Parameters
    ----------
    m : int
        Number of rows.
    n : int, optional
        Number of columns (default ``m``).
    k : int, optional
        The diagonal of ones: 0 the main one, ``k > 0`` above, ``k < 0`` below.
    dtype : dtype, optional
        Value dtype (default float64).
    format : str, optional
        Format of the result (``"csr"``, ``"csc"``, ...); by default ``"dia"``, which
        gives a ``banded_array``.

    Returns
    -------
    SparseArray

    Raises
    ------
    ValueError
        If diagonal ``k`` lies outside the array (``k > n`` or ``k < -m``).

    Examples
    --------
    >>> import spla
    >>> spla.eye_array(2, 3, k=1, format="csr").toarray()
    array([[0., 1., 0.],
           [0., 0., 1.]])
    """
    if n is None:
        n = m
    m = _check_dim(m, "m")
    n = _check_dim(n, "n")
    k = operator.index(k)
    length = _diagonal_length(m, n, k)
    if length < 0:
        raise ValueError(f"Offset {k} (index 0) out of bounds")
    dt = _requested_dtype(dtype)
    if format in ("csr", "csc", "coo"):
        if format == "csc":
            return _csc_from_transpose(_eye_csr(n, m, -k, dt))
        return _finish(_eye_csr(m, n, k, dt), format, "csr")
    from ._formats.banded import banded_array

    if length > 0:
        band = banded_array._from_parts(np.ones((1, m), dtype=dt), np.array([k], np.int64), (m, n))
    else:
        band = banded_array._from_parts(np.zeros((0, m), dtype=dt), np.zeros(0, np.int64), (m, n))
    return band if format in (None, "dia") else _finish(band, format, "csr")


def identity(n, dtype="d", format=None):
    """The ``n x n`` identity, as ``scipy.sparse.identity`` (here a sparse array).

    Parameters
    ----------
    n : int
        Number of rows and columns.
    dtype : dtype, optional
        Value dtype (default float64).
    format : str, optional
        Format of the result; by default ``"dia"`` (a ``banded_array``).

    Returns
    -------
    SparseArray

    Examples
    --------
    >>> import spla
    >>> spla.identity(2, format="csr").toarray()
    array([[1., 0.],
           [0., 1.]])
    """
    return eye_array(n, n, dtype=dtype, format=format)


def _is_scalar_like(x):
    return np.isscalar(x) or (isinstance(x, np.ndarray) and x.ndim == 0)


def diags_array(diagonals, /, *, offsets=0, shape=None, format=None, dtype=_NoValue):
    """Sparse array from diagonals, as ``scipy.sparse.diags_array``.

    Parameters
    ----------
    diagonals : sequence of array_like
        The diagonals, without padding; a diagonal of length 1 is broadcast.
    offsets : int or sequence of int, optional
        Their positions (0 main, ``k > 0`` above, ``k < 0`` below); no repeats.
    shape : tuple of 2 ints, optional
        By default the smallest square array that holds the first diagonal.
    format : str, optional
        Format of the result; by default ``"dia"`` (a ``banded_array``).
    dtype : dtype, optional
        Value dtype. Not given: as SciPy 1.17, ``np.common_type`` of the diagonals
        (integers become float64, with SciPy's ``FutureWarning``); ``None``: NumPy's
        ``result_type`` of the diagonals.

    Returns
    -------
    SparseArray

    Examples
    --------
    >>> import spla
    >>> spla.diags_array([[1.0, 2.0, 3.0], [4.0, 5.0]], offsets=[0, 1]).toarray()
    array([[1., 4., 0.],
           [0., 2., 5.],
           [0., 0., 3.]])
    """
    if _is_scalar_like(offsets):
        if len(diagonals) == 0 or _is_scalar_like(diagonals[0]):
            diagonals = [np.atleast_1d(diagonals)]
        else:
            raise ValueError("Different number of diagonals and offsets.")
    else:
        diagonals = list(map(np.atleast_1d, diagonals))
    offsets = np.atleast_1d(offsets)
    if len(diagonals) != len(offsets):
        raise ValueError("Different number of diagonals and offsets.")
    if offsets.size and offsets.dtype.kind not in "iu":
        raise TypeError(f"offsets must be integers, got dtype {offsets.dtype}")
    for d in diagonals:
        if d.dtype == object or d.dtype.kind not in "biufc":
            raise TypeError(f"diagonals must be numeric, got dtype {d.dtype}")
    if shape is None:
        size = len(diagonals[0]) + abs(int(offsets[0]))
        shape = (size, size)
    m, n = (_check_dim(s, "shape") for s in shape)
    if dtype is None:
        dt = np.result_type(*diagonals)
    elif dtype is _NoValue:
        dt = np.dtype(np.common_type(*diagonals))
        future = np.result_type(*diagonals)
        if dt != future:
            warnings.warn(
                f"Input has data type {future}, but the output has been cast to {dt}.  In "
                "the future, the output data type will match the input. To avoid this "
                "warning, set the `dtype` parameter to `None` to have the output dtype "
                "match the input, or set it to the desired output data type.",
                FutureWarning, stacklevel=2)
    else:
        dt = np.dtype(dtype)
    offs = [int(o) for o in offsets]
    if len(set(offs)) != len(offs):
        raise ValueError("offset array contains duplicate values")
    shortest = min(m, n)
    rows = np.zeros((len(offs), m), dtype=dt)  # row-aligned: rows[d, i] = A[i, i + k]
    for j, (diagonal, k) in enumerate(zip(diagonals, offs)):
        length = min(m + k, n - k, shortest)
        if length < 0:
            raise ValueError(f"Offset {k} (index {j}) out of bounds")
        if len(diagonal) != length and len(diagonal) < length and len(diagonal) != 1:
            raise ValueError(
                f"Diagonal length (index {j}: {len(diagonal)} at offset {k}) does not "
                f"agree with array size ({m}, {n}).")
        lo = max(0, -k)
        if length:
            rows[j, lo:lo + length] = diagonal[..., :length]
    target = _storage_dtype(dt) if dtype is _NoValue or dtype is None else _requested_dtype(dt)
    rows = rows.astype(target, copy=False)
    if format in (None, "dia", "banded"):
        from ._formats.banded import banded_array

        order = np.argsort(np.asarray(offs, dtype=np.int64), kind="stable")
        keep = [i for i in order.tolist() if min(m + offs[i], n - offs[i], shortest) > 0]
        return banded_array._from_parts(
            np.ascontiguousarray(rows[keep]), np.asarray([offs[i] for i in keep], np.int64),
            (m, n))
    return _finish(_diagonals_to_csr(rows, offs, m, n), format, "csr")


def _diagonals_to_csr(rows, offs, m, n):
    """CSR of row-aligned diagonals, rows sorted, stored zeros dropped (as SciPy's
    ``dia_array.tocsr`` drops them)."""
    order = np.argsort(np.asarray(offs, dtype=np.int64), kind="stable")
    off = np.asarray(offs, dtype=np.int64)[order]
    vals = rows[order]
    i = np.arange(m, dtype=np.int64)
    cols = i[:, None] + off[None, :]
    keep = (cols >= 0) & (cols < n) & (vals.T != 0)
    counts = keep.sum(axis=1)
    nnz = int(counts.sum())
    idx = _index_dtype(maxval=max(m, n, nnz))
    indptr = np.zeros(m + 1, dtype=idx)
    np.cumsum(counts, out=indptr[1:])
    return csr_array._from_parts(np.ascontiguousarray(vals.T[keep]), cols[keep].astype(idx),
                                 indptr, (m, n), True)


# ---------------------------------------------------------------------------
# Blocks: hstack, vstack, block_array, block_diag
# ---------------------------------------------------------------------------


def _grid_of(blocks):
    """``blocks`` as a list of rows (lists); SciPy's 'blocks must be 2-D' otherwise."""
    if isinstance(blocks, np.ndarray):
        if blocks.ndim != 2:
            raise ValueError("blocks must be 2-D")
        return [list(row) for row in blocks]
    try:
        blocks = list(blocks)
    except TypeError:
        raise ValueError("blocks must be 2-D") from None
    if any(isinstance(row, SparseArray) or _is_scipy_sparse(row) for row in blocks):
        # a sparse array iterates over its rows, which are not blocks: [A, B] is 1-D
        raise ValueError("blocks must be 2-D")
    try:
        rows = [list(row) for row in blocks]
    except TypeError:
        raise ValueError("blocks must be 2-D") from None
    if not rows:
        raise ValueError("blocks must be 2-D")
    width = len(rows[0])
    if any(len(r) != width for r in rows):
        raise ValueError("blocks must be 2-D (every block row needs the same number of blocks)")
    return rows


def _stack_csr(grid, row_lengths, col_lengths, dtype):
    """CSR of a grid of spla ``csr_array`` blocks (or None), shapes checked, values
    cast to ``dtype``, through the block kernels."""
    m = int(sum(row_lengths))
    n = int(sum(col_lengths))
    col_start = np.concatenate(([0], np.cumsum(col_lengths, dtype=np.int64)))
    row_off = [0]
    brow_start = [0]
    flat = []
    col_off = []
    wide = any(_is_wide(b) for row in grid for b in row if b is not None)
    for i, row in enumerate(grid):
        for j, b in enumerate(row):
            if b is not None and b.nnz:
                flat.append(b._snap())  # one reading of each block's storage
                col_off.append(int(col_start[j]))
        row_off.append(row_off[-1] + int(row_lengths[i]))
        brow_start.append(len(flat))
    nnz = sum(b.nnz for b in flat)
    idx = _index_dtype(wide=wide, maxval=max(m, n, nnz))
    canonical = True if all(b._derived.get("canonical") is True for b in flat) else None
    if nnz == 0:
        return csr_array._from_parts(np.zeros(0, dtype), np.zeros(0, idx),
                                     np.zeros(m + 1, idx), (m, n), True)
    if len(grid[0]) == 1:
        return _stack_rows(grid, row_lengths, (m, n), idx, dtype, canonical)
    big = nnz >= PARALLEL_MIN_NNZ or m >= PARALLEL_MIN_NNZ
    row_off = np.asarray(row_off, dtype=np.int64)
    brow_start = np.asarray(brow_start, dtype=np.int64)
    col_off = np.asarray(col_off, dtype=np.int64)
    if not big:
        return _stack_small(flat, row_off, brow_start, col_off, (m, n), nnz, idx, dtype,
                            canonical)
    from numba import typed

    indptrs = typed.List([np.asarray(b.indptr, dtype=idx) for b in flat])
    indicess = typed.List([np.asarray(b.indices, dtype=idx) for b in flat])
    datas = typed.List([_raw(np.asarray(b.data, dtype=dtype)) for b in flat])
    indptr = np.empty(m + 1, dtype=idx)
    with parallel_section():
        K.block_count(row_off, brow_start, indptrs, indptr)
    _counts_to_indptr(indptr)
    indices = pooled_empty(nnz, idx)  # reused buffers when large (memory.py)
    data = pooled_empty(nnz, dtype)
    with parallel_section():
        K.block_fill(row_off, brow_start, col_off, indptrs, indicess, datas, indptr, indices,
                     _raw(data))
    return csr_array._from_parts(data, indices, indptr, (m, n), canonical)


def _stack_small(flat, row_off, brow_start, col_off, shape, nnz, idx, dtype, canonical):
    """``_stack_csr`` for small grids: the blocks concatenated, one serial kernel."""
    ptr_off = np.zeros(len(flat), dtype=np.int64)
    nz_off = np.zeros(len(flat), dtype=np.int64)
    np.cumsum([b.indptr.size for b in flat[:-1]], out=ptr_off[1:])
    np.cumsum([b.nnz for b in flat[:-1]], out=nz_off[1:])
    indptr_cat = np.concatenate([b.indptr for b in flat], dtype=idx)
    indices_cat = np.concatenate([b.indices for b in flat], dtype=idx)
    data_cat = np.concatenate([b.data for b in flat], dtype=dtype, casting="unsafe")
    indptr = np.empty(shape[0] + 1, dtype=idx)
    indices = np.empty(nnz, dtype=idx)
    data = np.empty(nnz, dtype=dtype)
    K.block_stack_flat(row_off, brow_start, col_off, ptr_off, nz_off, indptr_cat, indices_cat,
                       _raw(data_cat), indptr, indices[:0], _raw(data)[:0])
    _counts_to_indptr(indptr)
    K.block_stack_flat(row_off, brow_start, col_off, ptr_off, nz_off, indptr_cat, indices_cat,
                       _raw(data_cat), indptr, indices, _raw(data))
    return csr_array._from_parts(data, indices, indptr, shape, canonical)


def _stack_rows(grid, row_lengths, shape, idx, dtype, canonical):
    """A single column of blocks (``vstack``): the output's ``data`` and
    ``indices`` are the blocks' one after the other, so they are copied whole
    (``np.concatenate``: memcpy, which two threads copying row tasks did not beat
    on the 2-core machine) and only ``indptr`` is rebuilt."""
    data = np.concatenate([row[0].data for row in grid if row[0] is not None and row[0].nnz],
                          dtype=dtype, casting="unsafe")
    indices = np.concatenate([row[0].indices for row in grid
                              if row[0] is not None and row[0].nnz], dtype=idx)
    indptr = np.empty(shape[0] + 1, dtype=idx)
    start = 0
    total = 0
    for row, height in zip(grid, row_lengths):
        height = int(height)
        b = row[0]
        if b is None or b.nnz == 0:
            indptr[start:start + height] = total
        else:
            np.add(b.indptr[:-1], np.int64(total), out=indptr[start:start + height],
                   casting="unsafe")
            total += b.nnz
        start += height
    indptr[-1] = total
    return csr_array._from_parts(data, indices, indptr, shape, canonical)


def _block(grid, format, dtype):
    """SciPy's ``_block``: shapes checked block by block, CSR blocks stacked by the
    kernels, CSC-only grids stacked as the CSR of the transposed grid."""
    M = len(grid)
    N = len(grid[0]) if M else 0
    present = [b for row in grid for b in row if b is not None]
    all_csr = bool(present) and len(present) == M * N and all(_is_csr_like(b) for b in present)
    all_csc = bool(present) and len(present) == M * N and all(_is_csc_like(b) for b in present)
    as_csc = all_csc and format in (None, "csc")
    cells = [[None] * N for _ in range(M)]
    dtypes = []
    row_lengths = np.zeros(M, dtype=np.int64)
    col_lengths = np.zeros(N, dtype=np.int64)
    for i in range(M):
        for j in range(N):
            b = grid[i][j]
            if b is None:
                continue
            A, dt = _as_compressed(b, "block_array", keep_csc=as_csc)
            cells[i][j] = A
            dtypes.append(dt)
            rows, cols = A.shape
            if row_lengths[i] == 0:
                row_lengths[i] = rows
            elif row_lengths[i] != rows:
                raise ValueError(
                    f"blocks[{i},:] has incompatible row dimensions. Got "
                    f"blocks[{i},{j}].shape[0] == {rows}, expected {row_lengths[i]}.")
            if col_lengths[j] == 0:
                col_lengths[j] = cols
            elif col_lengths[j] != cols:
                raise ValueError(
                    f"blocks[:,{j}] has incompatible column dimensions. Got "
                    f"blocks[{i},{j}].shape[1] == {cols}, expected {col_lengths[j]}.")
    if dtype is not None:
        dt = _requested_dtype(dtype)
    elif dtypes:
        dt = _storage_dtype(np.result_type(*dtypes))
    else:
        dt = np.dtype(np.float64)
    if as_csc:
        transposed = [[cells[i][j].T for i in range(M)] for j in range(N)]
        return _csc_from_transpose(_stack_csr(transposed, col_lengths, row_lengths, dt))
    out = _stack_csr(cells, row_lengths, col_lengths, dt)
    if all_csr and format is None:
        return out
    return _finish(out, format, "csr")


def block_array(blocks, *, format=None, dtype=None):
    """Sparse array from a grid of blocks, as ``scipy.sparse.block_array``.

    Parameters
    ----------
    blocks : 2-D sequence
        Grid of sparse or dense arrays with matching shapes; ``None`` is an
        all-zero block.
    format : str, optional
        Format of the result. By default CSR when every block is CSR, CSC when
        every block is CSC, and otherwise COO.
    dtype : dtype, optional
        Value dtype; by default NumPy's promotion of the blocks' dtypes.

    Returns
    -------
    SparseArray

    Raises
    ------
    ValueError
        If ``blocks`` is not 2-D, or blocks of one block row (column) differ in
        their number of rows (columns).

    Examples
    --------
    >>> import numpy as np, spla
    >>> A = spla.csr_array(np.array([[1.0, 2.0], [3.0, 4.0]]))
    >>> C = spla.csr_array(np.array([[7.0]]))
    >>> spla.block_array([[A, None], [None, C]]).toarray()
    array([[1., 2., 0.],
           [3., 4., 0.],
           [0., 0., 7.]])
    """
    return _block(_grid_of(blocks), format, dtype)


def _sequence(blocks, what):
    if isinstance(blocks, np.ndarray) and blocks.dtype != object:
        blocks = list(blocks)
    try:
        seq = list(blocks)
    except TypeError:
        raise TypeError(f"{what}: blocks must be a sequence of arrays") from None
    if not seq:
        raise ValueError(f"{what}: blocks must not be empty")
    return seq


def hstack(blocks, format=None, dtype=None):
    """Stack sparse arrays side by side (column-wise), as ``scipy.sparse.hstack``.

    Parameters
    ----------
    blocks : sequence
        Sparse or dense arrays with the same number of rows.
    format : str, optional
        Format of the result (by default CSR for CSR blocks, CSC for CSC blocks,
        otherwise COO).
    dtype : dtype, optional
        Value dtype; by default NumPy's promotion of the blocks' dtypes.

    Returns
    -------
    SparseArray

    Examples
    --------
    >>> import numpy as np, spla
    >>> A = spla.csr_array(np.array([[1.0, 2.0], [3.0, 4.0]]))
    >>> spla.hstack([A, A]).toarray()
    array([[1., 2., 1., 2.],
           [3., 4., 3., 4.]])
    """
    return _block([_sequence(blocks, "hstack")], format, dtype)


def vstack(blocks, format=None, dtype=None):
    """Stack sparse arrays one above the other (row-wise), as ``scipy.sparse.vstack``.

    Parameters
    ----------
    blocks : sequence
        Sparse or dense arrays with the same number of columns.
    format : str, optional
        Format of the result (by default CSR for CSR blocks, CSC for CSC blocks,
        otherwise COO).
    dtype : dtype, optional
        Value dtype; by default NumPy's promotion of the blocks' dtypes.

    Returns
    -------
    SparseArray

    Examples
    --------
    >>> import numpy as np, spla
    >>> A = spla.csr_array(np.array([[1.0, 2.0]]))
    >>> spla.vstack([A, A]).toarray()
    array([[1., 2.],
           [1., 2.]])
    """
    return _block([[b] for b in _sequence(blocks, "vstack")], format, dtype)


def _dense_block(a):
    """CSR of a dense 2-D block with every entry stored, zeros included (SciPy's
    ``block_diag`` stores dense blocks whole)."""
    a = np.asarray(a)
    if a.ndim != 2:
        raise ValueError(f"block_diag: dense blocks must be 2-D, got shape {a.shape}")
    if a.dtype == object or a.dtype.kind not in "biufc":
        raise TypeError(f"block_diag: unsupported block of dtype {a.dtype}")
    m, n = a.shape
    idx = _index_dtype(maxval=max(m, n, m * n))
    data = np.ascontiguousarray(a.reshape(-1)).astype(_storage_dtype(a.dtype), copy=False)
    indices = np.tile(np.arange(n, dtype=idx), m)
    indptr = np.arange(0, m * n + 1, max(n, 1), dtype=idx) if n else np.zeros(m + 1, idx)
    return csr_array._from_parts(data, indices, indptr, (m, n), True), a.dtype


def block_diag(mats, format=None, dtype=None):
    """Block-diagonal sparse array, as ``scipy.sparse.block_diag``.

    Parameters
    ----------
    mats : sequence
        Sparse arrays, dense 2-D arrays, lists or scalars (read as 2-D arrays).
        Dense arrays are stored whole, zeros included, as SciPy does.
    format : str, optional
        Format of the result; by default COO.
    dtype : dtype, optional
        Value dtype; by default NumPy's promotion of the blocks' dtypes.

    Returns
    -------
    SparseArray

    Examples
    --------
    >>> import numpy as np, spla
    >>> spla.block_diag([np.array([[1.0, 2.0]]), 3.0], format="csr").toarray()
    array([[1., 2., 0.],
           [0., 0., 3.]])
    """
    mats = _sequence(mats, "block_diag")
    blocks, dtypes = [], []
    for a in mats:
        if isinstance(a, (list, numbers.Number)):
            A, dt = _as_compressed(np.atleast_2d(np.asarray(a)), "block_diag")
        elif isinstance(a, SparseArray) or _is_scipy_sparse(a):
            A, dt = _as_compressed(a, "block_diag")
        else:
            A, dt = _dense_block(a)
        blocks.append(A)
        dtypes.append(dt)
    dt = _requested_dtype(dtype) if dtype is not None else _storage_dtype(np.result_type(*dtypes))
    grid = [[None] * len(blocks) for _ in blocks]
    for i, A in enumerate(blocks):
        grid[i][i] = A
    rows = np.array([A.shape[0] for A in blocks], dtype=np.int64)
    cols = np.array([A.shape[1] for A in blocks], dtype=np.int64)
    return _finish(_stack_csr(grid, rows, cols, dt), format, "csr")


# ---------------------------------------------------------------------------
# Kronecker product and sum
# ---------------------------------------------------------------------------


def _kron_csr(A, B, dt):
    A, B = A._snap(), B._snap()  # one reading of each storage (another thread may write)
    ma, na = A.shape
    mb, nb = B.shape
    shape = (ma * mb, na * nb)
    nnz = A.nnz * B.nnz
    idx = _index_dtype(wide=_is_wide(A) or _is_wide(B), maxval=max(shape + (nnz,)))
    indptr = np.empty(shape[0] + 1, dtype=idx)
    if nnz == 0:
        indptr[:] = 0
        return csr_array._from_parts(np.zeros(0, dt), np.zeros(0, idx), indptr, shape, True)
    big = nnz >= PARALLEL_MIN_NNZ or shape[0] >= PARALLEL_MIN_NNZ
    a_indptr, a_indices = A.indptr.astype(idx, copy=False), A.indices.astype(idx, copy=False)
    b_indptr, b_indices = B.indptr.astype(idx, copy=False), B.indices.astype(idx, copy=False)
    _launch(K.kron_count, K.kron_count_serial, big, a_indptr, b_indptr, indptr)
    _counts_to_indptr(indptr)
    indices = empty_output(nnz, idx)
    data = empty_output(nnz, dt)
    _launch(K.kron_fill, K.kron_fill_serial, big, a_indptr, a_indices,
            A.data.astype(dt, copy=False), b_indptr, b_indices, B.data.astype(dt, copy=False),
            np.int64(nb), indptr, indices, data)
    canonical = True if (A._derived.get("canonical") is True and B._derived.get("canonical") is True) else None
    return csr_array._from_parts(data, indices, indptr, shape, canonical)


def kron(A, B, format=None):
    """Kronecker product of ``A`` and ``B``, as ``scipy.sparse.kron``.

    Parameters
    ----------
    A, B : sparse or dense arrays
        1-D inputs are read as one row.
    format : str, optional
        Format of the result; by default COO.

    Returns
    -------
    SparseArray
        Shape ``(A.shape[0] * B.shape[0], A.shape[1] * B.shape[1])``, dtype
        NumPy's promotion of the two.

    Examples
    --------
    >>> import numpy as np, spla
    >>> A = spla.csr_array(np.array([[0.0, 2.0], [5.0, 0.0]]))
    >>> spla.kron(A, np.array([[1.0, 2.0]]), format="csr").toarray()
    array([[ 0.,  0.,  2.,  4.],
           [ 5., 10.,  0.,  0.]])
    """
    A, adt = _as_compressed(A, "kron")
    B, bdt = _as_compressed(B, "kron")
    dt = _storage_dtype(np.result_type(adt, bdt))
    return _finish(_kron_csr(A, B, dt), format, "csr")


def kronsum(A, B, format=None):
    """Kronecker sum ``kron(I_n, A) + kron(B, I_m)`` of square ``A`` (m x m) and
    ``B`` (n x n), as ``scipy.sparse.kronsum``.

    Parameters
    ----------
    A, B : sparse or dense square arrays
    format : str, optional
        Format of the result; by default COO.

    Returns
    -------
    SparseArray

    Raises
    ------
    ValueError
        If an input is not 2-D or not square.

    Examples
    --------
    >>> import numpy as np, spla
    >>> A = spla.csr_array(np.array([[1.0, 2.0], [3.0, 4.0]]))
    >>> spla.kronsum(A, np.array([[10.0]]), format="csr").toarray()
    array([[11.,  2.],
           [ 3., 14.]])
    """
    for name, X in (("A", A), ("B", B)):
        ndim = X.ndim if (isinstance(X, SparseArray) or _is_scipy_sparse(X)) else np.ndim(X)
        if ndim != 2:
            raise ValueError(f"kronsum requires 2D inputs. `{name}` is {ndim}D.")
    A, adt = _as_compressed(A, "kronsum")
    B, bdt = _as_compressed(B, "kronsum")
    if A.shape[0] != A.shape[1]:
        raise ValueError("A is not square")
    if B.shape[0] != B.shape[1]:
        raise ValueError("B is not square")
    dt = _storage_dtype(np.result_type(adt, bdt))
    A = A._deduped()
    B = B._deduped()
    m, n = A.shape[0], B.shape[0]
    shape = (m * n, m * n)
    wide = _is_wide(A) or _is_wide(B)
    idx = _index_dtype(wide=wide, maxval=max(shape[0], n * A.nnz + m * B.nnz))
    a_data = A.data.astype(dt, copy=False)
    b_data = B.data.astype(dt, copy=False)
    indptr = np.empty(shape[0] + 1, dtype=idx)
    big = n * A.nnz + m * B.nnz >= PARALLEL_MIN_NNZ or shape[0] >= PARALLEL_MIN_NNZ
    args = (A.indptr.astype(idx, copy=False), A.indices.astype(idx, copy=False), a_data,
            B.indptr.astype(idx, copy=False), B.indices.astype(idx, copy=False), b_data,
            np.int64(max(m, 1)))
    _launch(K.kronsum_count, K.kronsum_count_serial, big, *args,
            np.zeros(0, idx), np.zeros(0, dt), indptr)
    nnz = _counts_to_indptr(indptr)
    indices = empty_output(nnz, idx)
    data = empty_output(nnz, dt)
    _launch(K.kronsum_fill, K.kronsum_fill_serial, big, *args, indptr, indices, data)
    return _finish(csr_array._from_parts(data, indices, indptr, shape, True), format, "csr")


# ---------------------------------------------------------------------------
# Triangles and entries
# ---------------------------------------------------------------------------


def _triangle(A, k, format, lower, what):
    if isinstance(k, numbers.Integral):
        k = int(k)
    elif isinstance(k, numbers.Real) and math.isfinite(k):
        k = math.floor(k) if lower else math.ceil(k)
    else:
        raise TypeError(f"{what}: k must be a finite number, got {k!r}")
    A, _ = _as_compressed(A, what, keep_csc=True)
    if isinstance(A, csc_array):
        # tril(A, k) of A = T^T keeps T's entries (r, c) with r - c <= k: triu(T, -k).
        T = _triangle_csr(A.T, -k, not lower)
        return _finish(_csc_from_transpose(T), format, "csc")
    return _finish(_triangle_csr(A, k, lower), format, "csr")


def _triangle_csr(A, k, lower):
    A = A._snap()  # one reading of the storage (another thread may write)
    m, n = A.shape
    k = max(min(k, n), -m)  # beyond the corners every row keeps all or nothing
    idx = A.indices.dtype
    a_indptr = A.indptr.astype(idx, copy=False)
    indptr = np.empty(m + 1, dtype=idx)
    big = A.nnz >= PARALLEL_MIN_NNZ or m >= PARALLEL_MIN_NNZ
    _launch(K.triangle_count, K.triangle_count_serial, big, a_indptr, A.indices,
            np.int64(k), lower, indptr)
    nnz = _counts_to_indptr(indptr)
    indices = empty_output(nnz, idx)
    data = empty_output(nnz, A.dtype)
    _launch(K.triangle_fill, K.triangle_fill_serial, big, a_indptr, A.indices, _raw(A.data),
            np.int64(k), lower, indptr, indices, _raw(data))
    canonical = True if A._derived.get("canonical") is True else None
    return csr_array._from_parts(data, indices, indptr, A.shape, canonical)


def tril(A, k=0, format=None):
    """Lower triangle of ``A``: the entries on or below diagonal ``k``, as ``scipy.sparse.tril``.

    Parameters
    ----------
    A : sparse or dense array
    k : int, optional
        The top-most diagonal kept (0 main, ``k > 0`` above, ``k < 0`` below).
    format : str, optional
        Format of the result; by default COO, as SciPy.

    Returns
    -------
    SparseArray
        Same dtype as ``A``; stored zeros and duplicates of ``A`` are kept.

    Examples
    --------
    >>> import numpy as np, spla
    >>> A = spla.csr_array(np.array([[1.0, 2.0], [3.0, 4.0]]))
    >>> spla.tril(A).toarray()
    array([[1., 0.],
           [3., 4.]])
    """
    return _triangle(A, k, format, True, "tril")


def triu(A, k=0, format=None):
    """Upper triangle of ``A``: the entries on or above diagonal ``k``, as ``scipy.sparse.triu``.

    Parameters
    ----------
    A : sparse or dense array
    k : int, optional
        The bottom-most diagonal kept (0 main, ``k > 0`` above, ``k < 0`` below).
    format : str, optional
        Format of the result; by default COO, as SciPy.

    Returns
    -------
    SparseArray
        Same dtype as ``A``; stored zeros and duplicates of ``A`` are kept.

    Examples
    --------
    >>> import numpy as np, spla
    >>> A = spla.csr_array(np.array([[1.0, 2.0], [3.0, 4.0]]))
    >>> spla.triu(A, k=1).toarray()
    array([[0., 2.],
           [0., 0.]])
    """
    return _triangle(A, k, format, False, "triu")


def find(A):
    """Rows, columns and values of the non-zero entries of ``A``, as ``scipy.sparse.find``.

    Duplicates are summed first and entries whose value is zero left out; the
    entries come in row-major order.

    Parameters
    ----------
    A : sparse or dense array

    Returns
    -------
    (I, J, V) : tuple of ndarray

    Examples
    --------
    >>> import numpy as np, spla
    >>> I, J, V = spla.find(spla.csr_array(np.array([[7.0, 8.0, 0.0], [0.0, 0.0, 9.0]])))
    >>> I.tolist(), J.tolist(), V.tolist()
    ([0, 0, 1], [0, 1, 2], [7.0, 8.0, 9.0])
    """
    A, _ = _as_compressed(A, "find")
    if not A.has_canonical_format:
        A = A._deduped()
    m = A.shape[0]
    keep = A.data != 0
    idx = np.result_type(A.indices.dtype, _index_dtype(maxval=max(m - 1, 0)))
    rows = np.repeat(np.arange(m, dtype=idx), np.diff(A.indptr))
    return rows[keep], A.indices[keep].astype(idx, copy=False), A.data[keep]


def issparse(x):
    """Whether ``x`` is a sparse array: an spla array, or a SciPy sparse array or matrix.

    Examples
    --------
    >>> import numpy as np, spla
    >>> spla.issparse(spla.eye_array(2)), spla.issparse(np.eye(2))
    (True, False)
    """
    return isinstance(x, SparseArray) or _is_scipy_sparse(x)


# ---------------------------------------------------------------------------
# Random arrays
# ---------------------------------------------------------------------------

#: Up to this many entries (or when more than 1/50 of the positions are drawn)
#: the positions come from ``rng.choice(..., replace=False)``, as in SciPy (same
#: positions and values as SciPy for the same seed). Above it, row by row: how
#: many draws land in each row, then the columns of each row, repeats redrawn.
_CHOICE_MAX = 1 << 16


def _default_sampler(rng, dtype):
    if dtype is not None and np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return lambda size: rng.integers(info.min, info.max, size=size, dtype=dtype)
    if dtype is not None and np.issubdtype(dtype, np.complexfloating):
        return lambda size: rng.uniform(size=size) + rng.uniform(size=size) * 1j
    return rng.uniform


def random_array(shape, *, density=0.01, format=None, dtype=None, rng=None,
                 data_sampler=None):
    """Sparse array of uniformly random values at uniformly random positions, as
    ``scipy.sparse.random_array``.

    ``round(density * m * n)`` distinct positions are chosen uniformly at random
    and the values come from ``data_sampler(size=nnz)``, drawn after the positions
    and assigned to them in a uniformly random order, as SciPy does. Up to 65,536
    entries (or more than 1/50 of the array) the positions come from ``rng.choice``
    exactly as in SciPy, so a seed gives SciPy's array; larger arrays are drawn row
    by row (the same distribution, another stream). The format does not change
    which array a seed gives.

    Parameters
    ----------
    shape : tuple of 2 ints
    density : float, optional
        Fraction of positions stored, in [0, 1] (default 0.01).
    format : str, optional
        Format of the result; by default COO, as SciPy.
    dtype : dtype, optional
        Value dtype (default float64).
    rng : numpy.random.Generator, seed or RandomState, optional
        Source of the positions and, by default, of the values (a ``RandomState``
        lends its bit generator to a ``Generator``).
    data_sampler : callable, optional
        ``data_sampler(size=k)`` returns ``k`` values. By default uniform on [0, 1),
        uniform integers of the whole range of an integer ``dtype``, or uniform on
        the unit square for a complex ``dtype``.

    Returns
    -------
    SparseArray

    Raises
    ------
    ValueError
        If ``density`` is outside [0, 1].

    Notes
    -----
    Above 65,536 entries the default samplers' values (independent and
    identically distributed) are stored in row-major order; the values of a
    ``data_sampler`` are first shuffled, which costs a random permutation.

    Examples
    --------
    >>> import spla
    >>> A = spla.random_array((3, 4), density=0.5, format="csr", rng=0)
    >>> A.shape, A.nnz
    ((3, 4), 6)
    """
    if not isinstance(shape, (tuple, list)) or len(shape) != 2:
        raise ValueError(f"random_array: spla arrays are 2-D; got shape {shape!r}")
    m = _check_dim(shape[0], "shape")
    n = _check_dim(shape[1], "shape")
    if density < 0 or density > 1:
        raise ValueError("density expected to be 0 <= density <= 1")
    total = m * n
    size = int(round(density * total))
    if isinstance(rng, np.random.RandomState):
        rng = np.random.Generator(rng._bit_generator)  # SciPy takes legacy states too
    elif not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    if dtype is not None:
        dtype = np.dtype(dtype)
    sampler = data_sampler if data_sampler is not None else _default_sampler(rng, dtype)
    idx = _index_dtype(maxval=max(m, n, size))
    big = size >= PARALLEL_MIN_NNZ or m >= PARALLEL_MIN_NNZ
    if total <= _INT64_MAX and (size <= _CHOICE_MAX or size * 50 > total):
        flat = rng.choice(total, size=size, replace=False)
        # SciPy unravels in Fortran order: row = flat % m, col = flat // m.
        cols, rows = np.divmod(flat, m) if m else (flat, flat)
        # The keys are distinct, so every sort gives the one (stable) order; NumPy's
        # default sort is the fastest.
        order = np.argsort(rows * n + cols)
        indices = cols[order].astype(idx)
        shuffle = True
        # SciPy's default COO is built straight from the sorted positions below
        drawn_rows = rows if format in (None, "coo") and _coo_registered() else None
        if drawn_rows is None:
            indptr = np.zeros(m + 1, dtype=idx)
            np.cumsum(np.bincount(rows, minlength=m), out=indptr[1:])
    else:
        indptr, indices = _random_rows(rng, m, n, size, idx, big)
        order = drawn_rows = None
        shuffle = data_sampler is not None
    values = np.asarray(sampler(size=size)).astype(dtype, copy=False)
    if values.shape != (size,):
        raise ValueError(f"data_sampler returned shape {values.shape}, expected ({size},)")
    values = values.astype(_storage_dtype(values.dtype), copy=False)
    if shuffle:
        if order is None:
            order = rng.permutation(size)
        data = np.empty(size, dtype=values.dtype)
        _launch(K.gather, K.gather_serial, big, _raw(values), order, _raw(data))
    else:
        data = np.ascontiguousarray(values)
    if drawn_rows is not None:
        # What ``asformat("coo")`` of the CSR below gives, without building and
        # expanding indptr.
        from ._formats.coo import _index_dtype as coo_index_dtype
        from ._formats.coo import coo_array

        cidx = coo_index_dtype((m, n), (indices,))
        return coo_array._from_parts(data, (drawn_rows[order].astype(cidx),
                                            indices.astype(cidx)), (m, n), True)
    out = csr_array._from_parts(data, indices, indptr, (m, n), True)
    return _finish(out, format, "csr")


def _draw(rng, bound, size):
    """``size`` independent uniform integers in [0, bound) (int32 when they fit:
    NumPy draws those from 32-bit words, twice as fast)."""
    dt = np.int32 if bound - 1 <= _INT32_MAX else np.int64
    return rng.integers(0, bound, size=size, dtype=dt)


def _uniform_counts(rng, size, m):
    """How many of ``size`` independent uniform draws over ``m`` rows land in each
    row (multinomial), by halving: a segment of rows splits its draws between
    its halves binomially, all segments of a level in one vectorised call."""
    sizes = np.array([m], dtype=np.int64)
    totals = np.array([size], dtype=np.int64)
    while sizes.size < m:
        left = sizes // 2
        right = sizes - left
        to_left = rng.binomial(totals, left / sizes)
        sizes = np.stack((left, right), axis=1).reshape(-1)
        totals = np.stack((to_left, totals - to_left), axis=1).reshape(-1)
        keep = sizes > 0
        sizes, totals = sizes[keep], totals[keep]
    return totals


def _random_rows(rng, m, n, size, idx, big):
    """CSR positions of ``size`` distinct uniformly random positions: the draws of
    each row (``_uniform_counts``), then their columns, row after row; a column
    drawn twice in a row is dropped and that draw repeated at a fresh uniform
    position (rows, then columns) until every position is distinct."""
    indptr = np.zeros(m + 1, dtype=idx)
    if m:
        np.cumsum(_uniform_counts(rng, size, m), out=indptr[1:])
    cols = _draw(rng, n, size).astype(idx, copy=False)
    repeats = np.empty(m, dtype=np.int64)
    _launch(K.sort_rows_count_repeats, K.sort_rows_count_repeats_serial, big, indptr, cols,
            repeats)
    nrep = int(repeats.sum())
    if nrep == 0:
        return indptr, cols
    # Redraw the missing positions; a new pair already stored (repeats stay in
    # the sorted rows until the merge), or equal to an earlier new pair, is
    # drawn again in the next round.
    ex_rows = np.zeros(0, np.int64)
    ex_cols = np.zeros(0, np.int64)
    missing = nrep
    while missing:
        r = _draw(rng, m, missing).astype(np.int64)
        c = _draw(rng, n, missing).astype(np.int64)
        stored = np.zeros(missing, dtype=np.bool_)
        K.contains_serial(indptr, cols, r.astype(idx), c.astype(idx), stored)
        allr = np.concatenate((ex_rows, r[~stored]))
        allc = np.concatenate((ex_cols, c[~stored]))
        keys = np.unique(np.stack((allr, allc), axis=1), axis=0)  # sorted by row, column
        ex_rows, ex_cols = keys[:, 0], keys[:, 1]
        missing = int(stored.sum()) + (allr.size - keys.shape[0])
    # Rows lose their repeats and gain the redrawn positions that fell in them.
    x_indptr = np.zeros(m + 1, dtype=idx)
    np.cumsum(np.bincount(ex_rows, minlength=m), out=x_indptr[1:])
    kept = np.zeros(m + 1, dtype=idx)
    np.cumsum(repeats, out=kept[1:])
    merged_indptr = indptr - kept + x_indptr
    merged_cols = np.empty(size, dtype=idx)
    _launch(K.merge_rows, K.merge_rows_serial, big, indptr, cols, x_indptr,
            ex_cols.astype(idx), merged_indptr, merged_cols)
    return merged_indptr, merged_cols


# ---------------------------------------------------------------------------
# .npz files
# ---------------------------------------------------------------------------


def save_npz(file, matrix, compressed=True):
    """Save a sparse array to an ``.npz`` file that ``scipy.sparse.load_npz`` reads,
    as ``scipy.sparse.save_npz``.

    CSR, CSC and COO arrays are saved in their format, banded arrays as SciPy's
    ``dia``; formats SciPy lacks (N:M) are saved as CSR. SciPy sparse input is
    saved by SciPy.

    Parameters
    ----------
    file : str or file-like
        File name (``.npz`` appended if missing) or open file.
    matrix : spla or SciPy sparse array
    compressed : bool, optional
        Compress the file (default True).

    Examples
    --------
    >>> import io, spla
    >>> buf = io.BytesIO()
    >>> spla.save_npz(buf, spla.eye_array(3, format="csr"))
    >>> _ = buf.seek(0)
    >>> spla.load_npz(buf).toarray().sum()
    np.float64(3.0)
    """
    if _is_scipy_sparse(matrix):
        import scipy.sparse as sp

        sp.save_npz(file, matrix, compressed=compressed)
        return
    if not isinstance(matrix, SparseArray):
        raise TypeError(f"save_npz: expected a sparse array, got {type(matrix).__name__}")
    if matrix.device != "cpu":
        matrix = matrix.to_device("cpu")
    matrix = matrix._snap()  # one reading of the storage (another thread may write)
    arrays = {}
    fmt = matrix.format
    if fmt in ("csr", "csc"):
        arrays.update(indices=matrix.indices, indptr=matrix.indptr, data=matrix.data)
    elif fmt == "banded":
        S = matrix.to_scipy()
        fmt = "dia"
        arrays.update(offsets=S.offsets, data=S.data)
    elif fmt == "coo":
        arrays.update(row=matrix.row, col=matrix.col, data=matrix.data)
    else:
        A = matrix.tocsr()._snap()
        fmt = "csr"
        arrays.update(indices=A.indices, indptr=A.indptr, data=A.data)
    arrays.update(format=fmt.encode("ascii"), shape=matrix.shape, _is_array=True)
    if compressed:
        np.savez_compressed(file, **arrays)
    else:
        np.savez(file, **arrays)


def load_npz(file):
    """Load a sparse array from an ``.npz`` file of ``save_npz`` or
    ``scipy.sparse.save_npz``, as ``scipy.sparse.load_npz``.

    CSR and CSC files give ``csr_array`` and ``csc_array``, ``dia`` files a
    ``banded_array``, COO files a COO array,
    BSR files a ``csr_array``.

    Parameters
    ----------
    file : str or file-like

    Returns
    -------
    SparseArray

    Raises
    ------
    OSError
        If the file does not exist or cannot be read.
    ValueError
        If the file holds no sparse array, or one of an unknown format.

    Examples
    --------
    >>> import io, spla
    >>> buf = io.BytesIO()
    >>> spla.save_npz(buf, spla.eye_array(2, format="csc"))
    >>> _ = buf.seek(0)
    >>> spla.load_npz(buf).format
    'csc'
    """
    with np.load(file, allow_pickle=False) as loaded:
        fmt = loaded.get("format")
        if fmt is None:
            raise ValueError(f"The file {file} does not contain a sparse array or matrix.")
        fmt = fmt.item()
        if not isinstance(fmt, str):
            fmt = fmt.decode("ascii")
        shape = tuple(int(s) for s in loaded["shape"])
        if len(shape) != 2:
            raise ValueError(f"load_npz: spla arrays are 2-D; the file holds shape {shape}")
        if fmt == "csr":
            return csr_array((loaded["data"], loaded["indices"], loaded["indptr"]), shape=shape)
        if fmt == "csc":
            return csc_array((loaded["data"], loaded["indices"], loaded["indptr"]), shape=shape)
        import scipy.sparse as sp

        if fmt == "dia":
            from ._formats.banded import banded_array

            return banded_array(sp.dia_array((loaded["data"], loaded["offsets"]), shape=shape))
        if fmt == "coo":
            if "coords" in loaded:
                row, col = loaded["coords"]
            else:
                row, col = loaded["row"], loaded["col"]
            A = csr_array((loaded["data"], (row, col)), shape=shape)
            return _finish(A, "coo" if _coo_registered() else "csr", "csr")
        if fmt == "bsr":
            return csr_array(sp.bsr_array((loaded["data"], loaded["indices"], loaded["indptr"]),
                                          shape=shape))
        raise ValueError(f'Unknown format "{fmt}"')


def _csc_from_transpose(t):
    """The CSC array whose storage is the CSR array ``t`` of its transpose."""
    return csc_array._from_parts(t.data, t.indices, t.indptr, t.shape[::-1],
                                 t._derived.get("canonical"))
