"""Dask arrays whose chunks are spla sparse arrays: row-partitioned matrices,
distributed SpMV/SpMM, and Matrix Market files read in row blocks.

A matrix is split into blocks of consecutive rows, each block a ``SparseChunk``:
a thin wrapper around one spla array (any format) that gives Dask what it needs
of a chunk type (``shape``, ``dtype``, ``ndim``, ``__getitem__``, ``@`` through
``np.matmul``, and concatenation through ``dask.array.dispatch.concatenate_lookup``).
The result is a plain ``dask.array.Array`` with one column chunk, so ``Ad @ x``
is Dask's own ``matmul``: one spla SpMV (or SpMM) task per row block, then Dask's
reduction over the (single) column block.

Column windows
    A row block of a sparse matrix usually touches a narrow range of columns
    (a stencil, a banded or a reordered matrix). Each chunk stores its block
    compacted to that window, ``[col_offset, col_offset + block.shape[1])``, and
    multiplies by the matching slice of ``x``: a view, no copy. ``matvec``
    uses the windows to fetch, for each block, only the chunks of a row-chunked
    ``x`` that the block needs: a halo exchange, as in ``spla.linalg.cg``.

Formats of the blocks
    The rows of a block are the array's own row view
    (``spla._indexing.views.row_view``, the code behind ``A[r0:r1]``, which copies
    it): CSR and N:M blocks share the array's storage, with no copy of the
    entries. The column window is this module's own step on top.
    ``csr`` blocks are CSR with compacted columns. ``banded`` blocks stay banded:
    rows ``r0:r1`` of a banded matrix are banded with their offsets shifted by
    ``r0`` (and by the window's first column), because the storage is row-aligned
    (``data[d, i] == A[i, i + k]``): a block's storage is ``data[:, r0:r1]`` and
    diagonals that have no entry in the block are dropped. ``nm`` blocks stay N:M
    (row slices of the packed storage) with the full column range. Other formats
    (``csc``) become CSR. Concatenating chunks along rows gives N:M for N:M chunks
    of the same ``n:m`` and CSR otherwise; along columns it gives CSR.

Devices
    The code uses the array module of each block's storage (NumPy or CuPy), so
    chunks whose blocks live on a GPU (``A.to_device("cuda")``) work on workers
    that have one; multiply them by CuPy vectors.

This module needs Dask: ``pip install "spla[dask]"``.
"""

try:
    import dask
    import dask.array as da
    from dask.array.chunk_types import register_chunk_type
    from dask.array.dispatch import concatenate_lookup, tensordot_lookup
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph
except ImportError as exc:  # pragma: no cover - exercised only without dask
    raise ImportError(
        "spla.dask needs Dask with its array and distributed parts; install them "
        'with: pip install "spla[dask]"  (or: pip install "dask[array,distributed]>=2024.1")'
    ) from exc

import operator
import os
import uuid

import numpy as np
import scipy.sparse.linalg as sla

from . import _dispatch
from ._base import SparseArray, _is_scipy_sparse
from ._dtypes import index_dtype_for
from ._formats.banded import banded_array
from ._formats.compressed import csr_array
from ._formats.nm import nm_array
from ._indexing.views import row_view
from .io import _mmchunks

__all__ = [
    "DaskOperator",
    "SparseChunk",
    "aslinearoperator",
    "column_windows",
    "from_row_blocks",
    "from_scipy",
    "from_spla",
    "is_sparse_dask",
    "matvec",
    "read_matrix_market",
]


# --------------------------------------------------------------------------------------
# row and column slices of spla arrays (array-module generic)
# --------------------------------------------------------------------------------------

def _xp(array):
    return _dispatch.array_module(array.device)


def _empty_csr(rows, cols, dtype, device="cpu"):
    xp = _dispatch.array_module(device)
    idx = index_dtype_for(cols)
    return csr_array._from_parts(xp.empty(0, dtype=dtype), xp.empty(0, dtype=idx),
                                 xp.zeros(rows + 1, dtype=idx), (rows, cols), canonical=True)


def _compact_csr(block):
    """A CSR row block as ``(block, lo)`` with its columns compacted to the window
    ``lo, lo + 1, ...`` up to the last column it stores (dask's own concern: the
    rows themselves come from ``row_view``, the arrays' row slicing)."""
    block = block._snap()  # one reading of the storage (another thread may write)
    indices = block.indices
    rows = block.shape[0]
    if indices.size == 0:
        return csr_array._from_parts(block.data, indices, block.indptr, (rows, 0),
                                     canonical=block._derived.get("canonical")), 0
    lo, hi = int(indices.min()), int(indices.max()) + 1
    if lo == 0 and hi == block.shape[1]:
        return block, 0
    if lo:
        indices = (indices - lo).astype(indices.dtype, copy=False)
    return csr_array._from_parts(block.data, indices, block.indptr, (rows, hi - lo),
                                 canonical=block._derived.get("canonical")), lo


def _compact_banded(block):
    """A banded row block (offsets relative to the block's rows, full width) as
    ``(block, lo)`` with its columns compacted to the columns its diagonals touch."""
    block = block._snap()  # one reading of the storage
    rows, n = block.shape
    offs = np.asarray(block.offsets, dtype=np.int64)
    if rows == 0 or offs.size == 0:
        return banded_array._from_parts(block.data, offs, (rows, 0)), 0
    lo = int(max(0, offs.min()))
    hi = int(min(n, rows + offs.max()))
    return banded_array._from_parts(block.data, offs - lo, (rows, hi - lo)), lo


def _row_block(A, r0, r1):
    """Rows ``r0:r1`` of any spla array as ``(block, lo)`` (see the module notes): the
    arrays' own row view (``spla._indexing.views.row_view``, no copy of the entries),
    then the column window."""
    if A.format == "banded":
        return _compact_banded(row_view(A, r0, r1))
    if A.format == "nm":
        return row_view(A, r0, r1), 0
    return _compact_csr(row_view(A.tocsr(), r0, r1))


def _csr_columns(A, a, b):
    """Columns ``a:b`` of CSR ``A`` (entries outside dropped, indices shifted)."""
    A = A._snap()  # one reading of the storage
    xp = _xp(A)
    ind = A.indices
    keep = (ind >= a) & (ind < b)
    counts = xp.zeros(ind.size + 1, dtype=A.indptr.dtype)
    counts[1:] = xp.cumsum(keep)
    indptr = counts[A.indptr]
    indices = (ind[keep] - a).astype(ind.dtype, copy=False)
    return csr_array._from_parts(A.data[keep], indices, indptr, (A.shape[0], b - a),
                                 canonical=A._derived.get("canonical"))


def _with_global_columns(block, offset, n):
    """``block`` (columns ``offset:offset + w`` of an ``(rows, n)`` matrix) as a
    full-width spla array."""
    rows, w = block.shape
    if offset == 0 and w == n:
        return block
    block = block._snap()  # one reading of the storage
    if block.format == "banded":
        offs = np.asarray(block.offsets, dtype=np.int64) + offset
        return banded_array._from_parts(block.data, offs, (rows, n))
    csr = block.tocsr()._snap()
    idx = index_dtype_for(n, csr.nnz)
    idx = np.promote_types(idx, csr.indices.dtype)
    indices = csr.indices.astype(idx) + offset
    return csr_array._from_parts(csr.data, indices, csr.indptr.astype(idx), (rows, n),
                                 canonical=csr._derived.get("canonical"))


# --------------------------------------------------------------------------------------
# the chunk type
# --------------------------------------------------------------------------------------

def _check_slice(s, size, axis):
    if not isinstance(s, slice):
        raise TypeError(
            f"SparseChunk supports slices only (got {type(s).__name__} for axis {axis}); "
            "integer and array indices would not give a 2-D sparse block"
        )
    start, stop, step = s.indices(size)
    if step != 1:
        raise ValueError(f"SparseChunk slices need step 1, got step {step} for axis {axis}")
    return start, max(start, stop)


class SparseChunk:
    """One chunk of a Dask-backed sparse matrix: an spla array placed in a column window.

    The chunk is the ``(rows, n)`` matrix whose columns
    ``col_offset : col_offset + block.shape[1]`` are ``block`` and whose other
    columns are zero. Build Dask arrays of them with ``from_spla``,
    ``from_scipy``, ``from_row_blocks`` or ``read_matrix_market`` rather than
    by hand.

    Parameters
    ----------
    block : SparseArray
        The stored part (any spla format, on the CPU or the GPU).
    shape : tuple of 2 ints, optional
        Shape of the chunk; by default ``(block.shape[0], col_offset + block.shape[1])``.
    col_offset : int, default 0
        First column of the window.

    Examples
    --------
    >>> import numpy as np, spla
    >>> from spla.dask import SparseChunk
    >>> c = SparseChunk(spla.csr_array(np.array([[1.0, 2.0]])), shape=(1, 4), col_offset=1)
    >>> c.toarray()
    array([[0., 1., 2., 0.]])
    >>> c @ np.arange(4.0)
    array([5.])
    """

    ndim = 2
    # Above NumPy and spla arrays: Dask picks the chunk type with the highest priority.
    __array_priority__ = 20.0

    def __init__(self, block, shape=None, col_offset=0):
        if not isinstance(block, SparseArray):
            raise TypeError(f"SparseChunk needs an spla array, got {type(block).__name__}")
        try:
            col_offset = operator.index(col_offset)
        except TypeError:
            raise TypeError(f"col_offset must be an integer, got {col_offset!r}") from None
        if col_offset < 0:
            raise ValueError(f"col_offset must be >= 0, got {col_offset}")
        rows, w = block.shape
        if shape is None:
            shape = (rows, col_offset + w)
        shape = tuple(int(s) for s in shape)
        if len(shape) != 2 or shape[0] != rows or col_offset + w > shape[1]:
            raise ValueError(
                f"SparseChunk: a block of shape {block.shape} at column {col_offset} does "
                f"not fit the shape {shape}"
            )
        self.block = block
        self.col_offset = col_offset
        self.shape = shape

    # -- attributes ----------------------------------------------------------------------

    @property
    def dtype(self):
        return self.block.dtype

    @property
    def size(self):
        return self.shape[0] * self.shape[1]

    @property
    def nnz(self):
        """Stored entries of the block."""
        return self.block.nnz

    @property
    def nbytes(self):
        return self.block.nbytes

    @property
    def format(self):
        """Format of the block (``"csr"``, ``"banded"``, ``"nm"``)."""
        return self.block.format

    @property
    def device(self):
        return self.block.device

    @property
    def window(self):
        """The columns the block covers, ``(col_offset, col_offset + width)``."""
        return self.col_offset, self.col_offset + self.block.shape[1]

    def __repr__(self):
        lo, hi = self.window
        return (f"<spla.dask.SparseChunk shape={self.shape}, dtype={self.dtype.name}, "
                f"format={self.format!r}, nnz={self.nnz}, columns={lo}:{hi}, "
                f"device={self.device!r}>")

    def __reduce__(self):
        return (SparseChunk, (self.block, self.shape, self.col_offset))

    # -- conversions ----------------------------------------------------------------------

    def to_spla(self):
        """The chunk as a full-width spla array (banded stays banded, N:M stays N:M
        when it covers every column, everything else is CSR)."""
        return _with_global_columns(self.block, self.col_offset, self.shape[1])

    def toarray(self):
        """Dense array (NumPy, or CuPy for GPU blocks)."""
        xp = _xp(self.block)
        out = xp.zeros(self.shape, dtype=self.dtype)
        lo, hi = self.window
        if hi > lo and self.shape[0]:
            out[:, lo:hi] = self.block.toarray()
        return out

    def astype(self, dtype, copy=True):
        """The chunk with its values cast to ``dtype``."""
        return SparseChunk(self.block.astype(dtype, copy=copy), self.shape, self.col_offset)

    def to_device(self, device):
        """The chunk with its block moved to ``device`` (``"cpu"`` or ``"cuda"``)."""
        return SparseChunk(self.block.to_device(device), self.shape, self.col_offset)

    # -- indexing -------------------------------------------------------------------------

    def __getitem__(self, key):
        if not isinstance(key, tuple):
            key = (key,)
        if any(k is Ellipsis for k in key):
            i = next(j for j, k in enumerate(key) if k is Ellipsis)
            fill = (slice(None),) * (2 - (len(key) - 1))
            key = key[:i] + fill + key[i + 1:]
        if len(key) == 1:
            key = key + (slice(None),)
        if len(key) != 2:
            raise IndexError(f"too many indices for a 2-D SparseChunk: {key!r}")
        m, n = self.shape
        r0, r1 = _check_slice(key[0], m, 0)
        c0, c1 = _check_slice(key[1], n, 1)
        block, off = self.block, self.col_offset
        if (r0, r1) != (0, m):
            block, lo = _row_block(block, r0, r1)
            off += lo
        w = block.shape[1]
        a, b = max(off, c0), min(off + w, c1)
        if b <= a:
            block, new_off = _empty_csr(r1 - r0, 0, self.dtype, self.device), 0
        elif a == off and b == off + w:
            new_off = off - c0
        else:
            block, new_off = _csr_columns(block.tocsr(), a - off, b - off), a - c0
        return SparseChunk(block, (r1 - r0, c1 - c0), new_off)

    # -- products -------------------------------------------------------------------------

    def _operand(self, other):
        if isinstance(other, (SparseChunk, SparseArray)) or _is_scipy_sparse(other):
            raise TypeError("SparseChunk @ sparse is not supported; multiply by dense arrays")
        xp = _xp(self.block)
        x = other if isinstance(other, xp.ndarray) else xp.asarray(other)
        if x.dtype == object:
            raise TypeError(f"unsupported operand of type {type(other).__name__}")
        if x.ndim not in (1, 2):
            raise ValueError(f"SparseChunk products take 1-D or 2-D operands, got {x.shape}")
        return xp, x

    def __matmul__(self, other):
        xp, x = self._operand(other)
        m, n = self.shape
        if x.shape[0] != n:
            raise ValueError(f"matmul: dimension mismatch: chunk {self.shape} @ {x.shape}")
        return self._window_matmul(x, 0)

    def _window_matmul(self, xs, lo):
        """``self @ x`` given only ``xs = x[lo:lo + len(xs)]``, which must cover the window."""
        xp = _xp(self.block)
        dt = np.result_type(self.dtype, xs.dtype)
        a, b = self.window
        rows = self.shape[0]
        if b <= a or rows == 0:
            return xp.zeros((rows,) + tuple(xs.shape[1:]), dtype=dt)
        if a < lo or b > lo + xs.shape[0]:
            raise ValueError(f"operand rows {lo}:{lo + xs.shape[0]} do not cover the "
                             f"chunk's columns {a}:{b}")
        part = xs[a - lo:b - lo]
        if part.ndim == 2 and part.shape[1] == 1:
            out = (self.block @ part[:, 0])[:, None]  # an SpMV, not a one-column SpMM
        else:
            out = self.block @ part
        return out.astype(dt, copy=False)

    def __rmatmul__(self, other):
        xp, x = self._operand(other)
        m, n = self.shape
        if x.shape[-1] != m:
            raise ValueError(f"matmul: dimension mismatch: {x.shape} @ chunk {self.shape}")
        dt = np.result_type(self.dtype, x.dtype)
        out = xp.zeros(tuple(x.shape[:-1]) + (n,), dtype=dt)
        a, b = self.window
        if b > a and m:
            out[..., a:b] = x @ self.block
        return out

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if ufunc is np.matmul and method == "__call__" and not kwargs and len(inputs) == 2:
            left, right = inputs
            if left is self:
                return self.__matmul__(right)
            return self.__rmatmul__(left)
        return NotImplemented

    def __array_function__(self, func, types, args, kwargs):
        if func is np.concatenate:
            return _concatenate(*args, **kwargs)
        if func is np.matmul:
            return self.__array_ufunc__(np.matmul, "__call__", *args, **kwargs)
        return NotImplemented


def _concatenate(seq, axis=0):
    """Concatenate SparseChunks along rows (``axis=0``) or columns (``axis=1``)."""
    seq = list(seq)
    if not seq:
        raise ValueError("need at least one SparseChunk to concatenate")
    if not all(isinstance(c, SparseChunk) for c in seq):
        names = sorted({type(c).__name__ for c in seq})
        raise TypeError(f"can only concatenate SparseChunks, got {names}")
    axis = operator.index(axis)
    if axis not in (0, 1, -1, -2):
        raise ValueError(f"axis {axis} is out of bounds for 2-D chunks")
    axis %= 2
    if len(seq) == 1:
        return seq[0]
    devices = {c.device for c in seq}
    if len(devices) > 1:
        raise ValueError(f"chunks live on different devices: {sorted(devices)}")
    device = devices.pop()
    xp = _dispatch.array_module(device)
    dt = np.result_type(*[c.dtype for c in seq])
    if axis == 0:
        n = seq[0].shape[1]
        if any(c.shape[1] != n for c in seq):
            raise ValueError(f"row concatenation needs equal widths, got "
                             f"{[c.shape[1] for c in seq]}")
        rows = sum(c.shape[0] for c in seq)
        b0 = seq[0].block
        if (all(c.format == "nm" and c.window == (0, n) for c in seq)
                and len({(c.block.n, c.block.m, c.dtype) for c in seq}) == 1):
            blocks = [c.block._snap() for c in seq]  # one reading of each storage
            values = xp.concatenate([b.values for b in blocks])
            packed = xp.concatenate([b.packed_positions for b in blocks])
            return SparseChunk(nm_array._from_parts(values, packed, b0.n, b0.m, (rows, n)))
        nonempty = [c for c in seq if c.window[1] > c.window[0]]
        lo = min((c.window[0] for c in nonempty), default=0)
        hi = max((c.window[1] for c in nonempty), default=0)
        parts = [c.block.tocsr()._snap() for c in seq]  # one reading of each storage
        total = sum(p.nnz for p in parts)
        idx = index_dtype_for(hi - lo, total)
        for p in parts:
            idx = np.promote_types(idx, p.indices.dtype)
        indptr = [xp.zeros(1, dtype=idx)]
        indices, data, start = [], [], 0
        for c, p in zip(seq, parts):
            indptr.append(p.indptr[1:].astype(idx) + start)
            indices.append(p.indices.astype(idx) + (c.col_offset - lo))
            data.append(p.data.astype(dt, copy=False))
            start += p.nnz
        block = csr_array._from_parts(xp.concatenate(data), xp.concatenate(indices),
                                      xp.concatenate(indptr), (rows, hi - lo))
        return SparseChunk(block, (rows, n), lo)
    m = seq[0].shape[0]
    if any(c.shape[0] != m for c in seq):
        raise ValueError(f"column concatenation needs equal heights, got "
                         f"{[c.shape[0] for c in seq]}")
    sp = _sparse_module(device)
    mats, start = [], 0
    for c in seq:
        full = _with_global_columns(c.block.tocsr(), c.col_offset, c.shape[1]).tocsr()._snap()
        mats.append(sp.csr_matrix((full.data.astype(dt, copy=False), full.indices,
                                   full.indptr), shape=full.shape))
    S = sp.hstack(mats, format="csr")
    block = csr_array((S.data, S.indices, S.indptr), shape=S.shape, dtype=dt)
    return SparseChunk(block)


def _sparse_module(device):
    if device == "cpu":
        import scipy.sparse as sp
    else:  # pragma: no cover - needs a GPU
        import cupyx.scipy.sparse as sp
    return sp


def _tensordot(a, b, axes=2):
    """``tensordot`` for a SparseChunk and a dense array, contracting one axis."""
    if isinstance(axes, int):
        raise TypeError("tensordot with SparseChunks needs explicit axes, e.g. ((1,), (0,))")
    ax_a, ax_b = (tuple(np.atleast_1d(ax)) for ax in axes)
    if len(ax_a) != 1 or len(ax_b) != 1:
        raise ValueError("tensordot with SparseChunks contracts exactly one axis")
    ia, ib = int(ax_a[0]) % a.ndim, int(ax_b[0]) % b.ndim
    if isinstance(a, SparseChunk) and ia == 1 and ib == 0:
        return a @ b
    if isinstance(b, SparseChunk) and ib == 0 and ia == a.ndim - 1:
        return a @ b
    raise NotImplementedError(f"tensordot of SparseChunks over axes {axes}")


register_chunk_type(SparseChunk)
concatenate_lookup.register(SparseChunk)(_concatenate)
tensordot_lookup.register(SparseChunk)(_tensordot)


# --------------------------------------------------------------------------------------
# building Dask arrays
# --------------------------------------------------------------------------------------

#: More chunks than this is a Dask graph no scheduler can hold (and a tuple of sizes
#: that would not fit in memory): refused with a clear error.
_MAX_CHUNKS = 10_000_000


def _row_chunks(row_chunks, m):
    """``row_chunks`` (an int: rows per chunk, or a sequence of sizes) as a tuple."""
    if isinstance(row_chunks, (bool, np.bool_)):
        raise TypeError("row_chunks must be an int or a sequence of ints, got a bool")
    if isinstance(row_chunks, (int, np.integer)):
        size = int(row_chunks)
        if size < 1:
            raise ValueError(f"row_chunks must be >= 1 rows per chunk, got {size}")
        if m == 0:
            return (0,)
        count = -(-m // size)
        if count > _MAX_CHUNKS:
            raise ValueError(
                f"row_chunks={size} cuts {m} rows into {count} chunks (more than "
                f"{_MAX_CHUNKS}); choose larger chunks"
            )
        return tuple(min(size, m - s) for s in range(0, m, size))
    try:
        sizes = tuple(operator.index(s) for s in row_chunks)
    except TypeError:
        raise TypeError(
            f"row_chunks must be an int or a sequence of ints, got {row_chunks!r}"
        ) from None
    if not sizes:
        raise ValueError("row_chunks must name at least one chunk")
    if any(s < 0 for s in sizes):
        raise ValueError(f"row_chunks must not be negative, got {sizes}")
    if sum(sizes) != m:
        raise ValueError(f"row_chunks {sizes} add up to {sum(sizes)} rows, the matrix has {m}")
    return sizes


def _bounds(chunks):
    out, r = [], 0
    for s in chunks:
        out.append((r, r + s))
        r += s
    return out


def _meta(dtype, device="cpu"):
    return SparseChunk(_empty_csr(0, 0, dtype, device))


def _make_chunk(A, r0, r1):
    block, lo = _row_block(A, r0, r1)
    return SparseChunk(block, (r1 - r0, A.shape[1]), lo)


def from_spla(A, row_chunks, *, name=None):
    """A Dask array of the rows of ``A`` in blocks, each an spla array of A's format.

    Parameters
    ----------
    A : SparseArray
        Any spla array (``csr``, ``banded``, ``nm``; ``csc`` becomes CSR blocks),
        on the CPU or the GPU.
    row_chunks : int or sequence of ints
        Rows per chunk, or the size of every chunk (which may be 0; they must add
        up to ``A.shape[0]``).
    name : str, optional
        Name of the Dask collection (a fresh unique one by default).

    Returns
    -------
    dask.array.Array
        Shape ``A.shape``, dtype ``A.dtype``, chunks ``(row_chunks, (n,))``; each
        chunk a ``SparseChunk``. The blocks are built here and held in the graph:
        for matrices that do not fit one process use ``from_row_blocks`` or
        ``read_matrix_market``, which build the blocks in the tasks.

    Examples
    --------
    >>> import numpy as np, spla, spla.dask
    >>> A = spla.csr_array(np.array([[2.0, 0.0, 1.0], [0.0, 3.0, 0.0], [1.0, 0.0, 4.0]]))
    >>> Ad = spla.dask.from_spla(A, row_chunks=2)
    >>> Ad.chunks
    ((2, 1), (3,))
    >>> (Ad @ np.ones(3)).compute()
    array([3., 3., 5.])
    """
    if _is_scipy_sparse(A):
        raise TypeError("from_spla takes an spla array; use spla.dask.from_scipy for SciPy input")
    if not isinstance(A, SparseArray):
        raise TypeError(f"from_spla takes an spla array, got {type(A).__name__}")
    chunks = _row_chunks(row_chunks, A.shape[0])
    if A.format not in ("csr", "banded", "nm"):
        A = A.tocsr()
    A = A._snap()  # every block from one reading of the storage (another thread may write)
    name = name or "spla-from-spla-" + uuid.uuid4().hex
    dsk = {(name, i, 0): _make_chunk(A, r0, r1) for i, (r0, r1) in enumerate(_bounds(chunks))}
    return da.Array(dsk, name, chunks=(chunks, (A.shape[1],)), dtype=A.dtype,
                    meta=_meta(A.dtype, A.device))


def from_scipy(S, row_chunks, *, format="csr", name=None, **kwargs):
    """A Dask array of the rows of the SciPy sparse matrix ``S`` as spla blocks.

    ``S`` is converted to ``format`` (``"csr"``, ``"banded"`` or ``"nm"``; extra
    keyword arguments go to the format's constructor, e.g. ``n=2, m=4``) and
    split with ``from_spla``.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, spla.dask
    >>> S = sp.diags_array([1.0, 2.0, 3.0])
    >>> Ad = spla.dask.from_scipy(S, row_chunks=(1, 2), format="banded")
    >>> (Ad @ np.ones(3)).compute()
    array([1., 2., 3.])
    """
    if not _is_scipy_sparse(S):
        raise TypeError(f"from_scipy takes a SciPy sparse matrix or array, got {type(S).__name__}")
    import spla

    formats = {"csr": spla.csr_array, "banded": spla.banded_array, "nm": spla.nm_array}
    if format not in formats:
        raise ValueError(f"format must be one of {sorted(formats)}, got {format!r}")
    return from_spla(formats[format](S, **kwargs), row_chunks, name=name)


def _build_block(make_block, r0, r1, n, dtype):
    block = make_block(r0, r1)
    if _is_scipy_sparse(block):
        block = csr_array(block)
    if not isinstance(block, SparseArray):
        raise TypeError(f"make_block({r0}, {r1}) returned {type(block).__name__}, "
                        "not an spla or SciPy sparse array")
    if block.shape != (r1 - r0, n):
        raise ValueError(f"make_block({r0}, {r1}) returned shape {block.shape}, "
                         f"expected {(r1 - r0, n)}")
    if block.dtype != dtype:
        block = block.astype(dtype)
    if block.format not in ("csr", "banded", "nm"):
        block = block.tocsr()
    return _make_chunk(block, 0, r1 - r0)


def from_row_blocks(make_block, shape, row_chunks, dtype="float64", *, device="cpu",
                    name=None):
    """A Dask array whose row blocks are built in the tasks by ``make_block(r0, r1)``.

    Use it for matrices that no single process should hold: each worker builds
    its own rows (from a formula, a file, a database).

    Parameters
    ----------
    make_block : callable
        ``make_block(r0, r1)`` returns rows ``r0:r1`` as an spla or SciPy sparse
        array of shape ``(r1 - r0, n)``. It must be picklable for a distributed
        cluster (a module-level function or a ``functools.partial`` of one).
    shape : tuple of 2 ints
    row_chunks : int or sequence of ints
    dtype : dtype, default float64
        The blocks' dtype (blocks of another dtype are cast).
    device : {"cpu", "cuda"}
        Where ``make_block`` puts the storage (sets the collection's meta).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, spla.dask
    >>> def rows(r0, r1):
    ...     return sp.eye_array(r1 - r0, 6, k=r0, format="csr")
    >>> Ad = spla.dask.from_row_blocks(rows, (6, 6), row_chunks=4)
    >>> (Ad @ np.arange(6.0)).compute()
    array([0., 1., 2., 3., 4., 5.])
    """
    if not callable(make_block):
        raise TypeError(f"make_block must be callable, got {type(make_block).__name__}")
    from ._formats.validation import check_shape
    from ._dtypes import value_dtype

    shape = check_shape(shape)
    dtype = value_dtype(dtype)
    chunks = _row_chunks(row_chunks, shape[0])
    name = name or "spla-row-blocks-" + tokenize(make_block, shape, chunks, dtype)
    dsk = {(name, i, 0): (_build_block, make_block, r0, r1, shape[1], dtype)
           for i, (r0, r1) in enumerate(_bounds(chunks))}
    return da.Array(dsk, name, chunks=(chunks, (shape[1],)), dtype=dtype,
                    meta=_meta(dtype, device))


# --------------------------------------------------------------------------------------
# products that use the column windows
# --------------------------------------------------------------------------------------

def is_sparse_dask(A):
    """True when ``A`` is a Dask array whose chunks are ``SparseChunk`` objects."""
    return isinstance(A, da.Array) and isinstance(A._meta, SparseChunk)


def _check_matrix(A, what):
    if not is_sparse_dask(A):
        raise TypeError(f"{what} takes a Dask array of SparseChunks (from spla.dask.from_spla "
                        f"and friends), got {type(A).__name__}")
    if len(A.chunks[1]) != 1:
        raise ValueError(f"{what}: the matrix must have one column chunk, got chunks "
                         f"{A.chunks[1]}; rebuild it with spla.dask.from_spla")


def _window_of(chunk):
    return np.array([chunk.window], dtype=np.int64)


def column_windows(A):
    """The column window ``(lo, hi)`` of every row block of ``A``, as an (nblocks, 2)
    NumPy array (one small Dask computation; persist ``A`` first so that it does
    not rebuild the blocks).

    Examples
    --------
    >>> import numpy as np, spla, spla.dask
    >>> Ad = spla.dask.from_spla(spla.csr_array(np.eye(4)), row_chunks=2)
    >>> spla.dask.column_windows(Ad).tolist()
    [[0, 2], [2, 4]]
    """
    _check_matrix(A, "column_windows")
    name = "spla-windows-" + tokenize(A.name)
    nb = len(A.chunks[0])
    dsk = {(name, i, 0): (_window_of, (A.name, i, 0)) for i in range(nb)}
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[A])
    w = da.Array(graph, name, chunks=((1,) * nb, (2,)), dtype=np.int64,
                 meta=np.empty((0, 0), dtype=np.int64))
    return np.asarray(w.compute())


def _window_product(chunk, xs, lo):
    return chunk._window_matmul(xs, lo)


def _zeros_product(chunk, k, dtype):
    xp = _xp(chunk.block)
    return xp.zeros((chunk.shape[0],) + ((k,) if k is not None else ()), dtype=dtype)


def matvec(A, x, *, windows=None):
    """``A @ x`` where each row block reads only the part of ``x`` its columns need.

    ``A @ x`` (Dask's ``matmul``) gives every block the whole of ``x``. Here ``x``
    may be chunked like A's rows (as the vectors of an iterative solver are), and
    block ``i`` gets ``x[lo_i:hi_i]``, its column window: for a stencil matrix
    that is its own chunk of ``x`` plus a thin halo from its neighbours.

    Parameters
    ----------
    A : dask.array.Array of SparseChunks
    x : dask.array.Array or array_like, shape (n,) or (n, k)
    windows : (nblocks, 2) array, optional
        ``column_windows(A)``, to skip computing it again.

    Returns
    -------
    dask.array.Array
        Shape ``(m,)`` or ``(m, k)``, chunked like A's rows.

    Examples
    --------
    >>> import numpy as np, dask.array as da, spla, spla.dask
    >>> Ad = spla.dask.from_spla(spla.csr_array(2 * np.eye(4)), row_chunks=2)
    >>> spla.dask.matvec(Ad, da.arange(4.0, chunks=2)).compute()
    array([0., 2., 4., 6.])
    """
    _check_matrix(A, "matvec")
    if not isinstance(x, da.Array):
        x = da.asarray(x)
    if x.ndim not in (1, 2):
        raise ValueError(f"matvec: x must be 1-D or 2-D, got shape {x.shape}")
    m, n = A.shape
    if x.shape[0] != n:
        raise ValueError(f"matvec: dimension mismatch: {A.shape} @ {x.shape}")
    if x.ndim == 2 and len(x.chunks[1]) > 1:
        x = x.rechunk({1: -1})
    if windows is None:
        windows = column_windows(A)
    windows = np.asarray(windows, dtype=np.int64)
    nb = len(A.chunks[0])
    if windows.shape != (nb, 2):
        raise ValueError(f"matvec: windows must have shape {(nb, 2)}, got {windows.shape}")
    dt = np.result_type(A.dtype, x.dtype)
    k = x.shape[1] if x.ndim == 2 else None
    name = "spla-matvec-" + tokenize(A.name, x.name, windows)
    dsk, deps = {}, [A]
    tail = (0,) if x.ndim == 2 else ()
    for i, (lo, hi) in enumerate(windows.tolist()):
        key = (name, i) + tail
        if hi <= lo:
            dsk[key] = (_zeros_product, (A.name, i, 0), k, dt)
            continue
        xs = x[lo:hi].rechunk({0: -1})
        deps.append(xs)
        dsk[key] = (_window_product, (A.name, i, 0), (xs.name, 0) + tail, lo)
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=deps)
    chunks = (A.chunks[0],) + (((k,),) if k is not None else ())
    return da.Array(graph, name, chunks=chunks, dtype=dt, meta=x._meta.astype(dt))


def _window_rmatmat(chunk, xi, n):
    """``chunk^H @ xi`` as a dense ``(n,)`` or ``(n, k)`` array."""
    xp = _xp(chunk.block)
    dt = np.result_type(chunk.dtype, xi.dtype)
    out = xp.zeros((n,) + tuple(xi.shape[1:]), dtype=dt)
    if chunk.shape[0] and chunk.block.shape[1]:
        lo = chunk.col_offset
        block = chunk.block
        part = block.rmatmat(xi) if xi.ndim == 2 else block.rmatvec(xi)
        out[lo:lo + block.shape[1]] = part
    return out


class DaskOperator(sla.LinearOperator):
    """SciPy's ``LinearOperator`` over a Dask matrix of ``SparseChunk`` row blocks.

    Made by ``aslinearoperator``; see there.
    """

    def __init__(self, A):
        _check_matrix(A, "aslinearoperator")
        super().__init__(dtype=A.dtype, shape=A.shape)
        self.A = A.persist()
        self.windows = column_windows(self.A)
        self._blocks = self.A.to_delayed().ravel()

    def _matmat(self, X):
        X = np.asarray(X)
        if X.ndim == 2 and X.shape[1] == 0:
            return np.zeros((self.shape[0], 0), np.result_type(self.dtype, X.dtype))
        Xd = da.from_array(X, chunks=(self.A.chunks[1][0],) + X.shape[1:])
        return np.asarray(matvec(self.A, Xd, windows=self.windows).compute())

    def _matvec(self, x):
        return self._matmat(np.asarray(x).reshape(-1))

    def _rmatmat(self, X):
        X = np.asarray(X)
        n = self.shape[1]
        bounds = np.cumsum((0,) + self.A.chunks[0])
        parts = [dask.delayed(_window_rmatmat, pure=True)(block, X[r0:r1], n)
                 for block, r0, r1 in zip(self._blocks, bounds[:-1], bounds[1:])]
        if not parts:
            return np.zeros((n,) + X.shape[1:], np.result_type(self.dtype, X.dtype))
        return np.asarray(dask.delayed(sum)(parts).compute())

    def _rmatvec(self, x):
        return self._rmatmat(np.asarray(x).reshape(-1))


def aslinearoperator(A):
    """A SciPy ``LinearOperator`` whose products run over the row blocks of ``A``.

    The products are Dask computations (``matvec`` for ``A @ x``; each block's
    transposed product, summed, for ``A^H @ x``) that take and return NumPy
    arrays, so any solver of ``scipy.sparse.linalg`` or ``spla.linalg``
    (``gmres``, ``minres``, ``bicgstab``, ``lsqr``, ``eigsh``, ...) runs with the
    matrix distributed and its vectors on the client. ``spla.linalg``'s solvers
    call this for a Dask matrix themselves. ``A`` is persisted once.

    Parameters
    ----------
    A : dask.array.Array of SparseChunks

    Returns
    -------
    scipy.sparse.linalg.LinearOperator

    Examples
    --------
    >>> import numpy as np, spla, spla.dask
    >>> Ad = spla.dask.from_spla(spla.csr_array(np.diag([1.0, 2.0, 3.0])), row_chunks=2)
    >>> op = spla.dask.aslinearoperator(Ad)
    >>> op @ np.ones(3), op.rmatvec(np.ones(3))
    (array([1., 2., 3.]), array([1., 2., 3.]))
    """
    return DaskOperator(A)


# --------------------------------------------------------------------------------------
# Matrix Market files in row blocks
# --------------------------------------------------------------------------------------

def _read_rows(path, segments, r0, r1, n, field, symmetry, dtype):
    """Rows ``r0:r1`` of a coordinate file as a chunk (the parser is spla.io's)."""
    block = _mmchunks.read_rows(path, segments, r0, r1, n, field, symmetry, dtype)
    return _make_chunk(block, 0, r1 - r0)


def read_matrix_market(path, row_chunks, *, dtype=None, segment_bytes=32 << 20, name=None):
    """Read a coordinate Matrix Market file into a Dask array of CSR row blocks,
    without holding the whole file in one process.

    A first pass, here, streams the file once in pieces of ``segment_bytes``
    (cut at line ends) and records for each piece its byte range and the range
    of rows it holds (rows and columns for symmetric files, whose entries also
    land in the row of their column). Each task then reads and parses only the
    pieces whose row range meets its rows and keeps its own entries.

    Cost: the first pass parses the file once in this process, in O(segment)
    memory. If the file is sorted by row (as most writers, and ``spla.io.mmwrite``,
    produce) a task reads only its own bytes plus at most one piece on either
    side, so the tasks parse the file about once in all. If it is not sorted,
    a piece's row range covers many blocks and, for a file in random order,
    every task parses the whole file: ``len(row_chunks)`` parses in all, still
    in O(segment + block) memory per task. Symmetric files are read like
    unsorted ones unless the pieces happen to stay local in both rows and columns.

    Parameters
    ----------
    path : str or os.PathLike
        An uncompressed coordinate file that every worker can read at this path.
    row_chunks : int or sequence of ints
    dtype : dtype, optional
        float64 (complex128 for complex files) by default. Integer and pattern
        files become float64, as with ``spla.io.mmread``, which this reader
        answers like entry for entry (the parser is ``spla.io``'s): coordinates
        that are not integers raise ``ValueError``, values of ``integer`` files
        are truncated toward zero.
    segment_bytes : int, default 32 MiB
        Size of the pieces of the first pass.

    Returns
    -------
    dask.array.Array of SparseChunks with CSR blocks (duplicates summed,
    symmetric files expanded).

    Examples
    --------
    >>> import os, tempfile, numpy as np, spla, spla.dask
    >>> path = os.path.join(tempfile.mkdtemp(), "a.mtx")
    >>> spla.io.mmwrite(path, spla.csr_array(np.array([[1.0, 0.0], [2.0, 3.0]])))
    >>> Ad = spla.dask.read_matrix_market(path, row_chunks=1)
    >>> (Ad @ np.ones(2)).compute()
    array([1., 5.])
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(path)
    segment_bytes = operator.index(segment_bytes)
    if segment_bytes < 1:
        raise ValueError(f"segment_bytes must be >= 1, got {segment_bytes}")
    field, symmetry, shape, nnz, start = _mmchunks.read_header(path)
    if dtype is None:
        dtype = np.complex128 if field == "complex" else np.float64
    from ._dtypes import value_dtype

    dtype = value_dtype(dtype)
    if field == "complex" and dtype.kind != "c":
        raise TypeError(f"{path} holds complex values; dtype {dtype.name} would drop them")
    chunks = _row_chunks(row_chunks, shape[0])
    segs, count = _mmchunks.segments(path, start, segment_bytes, field, symmetry, shape)
    if count != nnz:
        raise ValueError(f"{path}: the size line announces {nnz} entries, the file has {count}")
    name = name or "spla-mm-" + tokenize(path, os.path.getmtime(path), chunks, dtype)
    dsk = {}
    for i, (r0, r1) in enumerate(_bounds(chunks)):
        mine = [s for s in segs if not (s[3] < r0 or s[2] >= r1)]
        dsk[(name, i, 0)] = (_read_rows, path, mine, r0, r1, shape[1], field, symmetry, dtype)
    return da.Array(dsk, name, chunks=(chunks, (shape[1],)), dtype=dtype, meta=_meta(dtype))
