"""Banded (diagonal) arrays: a few full diagonals stored as one contiguous row each.

``banded_array`` holds two arrays:

- ``offsets``: the stored diagonals, sorted and unique, int64 (``k > 0`` above the
  main diagonal, ``k < 0`` below), each in ``(-rows, cols)``;
- ``data``: shape ``(len(offsets), rows)``, C-contiguous, **row-aligned**:
  ``data[d, i] == A[i, i + offsets[d]]``.

Row alignment is what makes the products a clean stream: row ``i`` of ``A @ x``
reads column ``i`` of ``data`` and ``x[i + offsets[d]]``, so a block of rows reads
one contiguous slice of every diagonal and of ``x``, with no index loads at all.
Positions of ``data`` whose column ``i + offsets[d]`` falls outside ``[0, cols)``
are padding: they are never read by a product and every conversion ignores them.
(SciPy's ``dia_array`` aligns by column instead: ``data[d, j] == A[j - k, j]``;
``to_scipy`` and the constructor convert between the two.)
"""

import operator

import numpy as np

from .. import _dispatch
from .._base import SparseArray, _is_scipy_sparse
from .._data import DataMixin
from .._device import is_gpu_array
from .._dtypes import VALUE_DTYPES, default_value_dtype, index_dtype_for, value_dtype
from . import registry
from .arguments import check_diagonal_offset, check_order
from .validation import check_shape


#: Why GPU input is refused: the conversions run on the CPU, and spla moves
#: storage between devices only when asked to.
_BUILT_ON_CPU = ("banded_array is built on the CPU from NumPy or SciPy input; build it there "
                 "and move it with .to_device('cuda') (its products then run on the GPU)")


def _backend(op, array):
    return _dispatch.lookup(op, "banded", array.device)


def _check_offsets(offsets, shape, what="banded_array"):
    """``offsets`` as a sorted, unique 1-D int64 NumPy array inside ``(-rows, cols)``."""
    off = np.asarray(offsets)
    if off.ndim == 0:
        off = off.reshape(1)
    if off.ndim != 1:
        raise ValueError(f"{what}: offsets must be 1-D, got an array of shape {off.shape}")
    if off.size and off.dtype.kind not in "iu":
        if off.dtype.kind == "f" and np.all(np.isfinite(off)) and np.all(off == np.round(off)):
            off = off.astype(np.int64)
        else:
            raise TypeError(f"{what}: offsets must hold integers, got dtype {off.dtype.name}")
    if off.dtype.kind == "u" and off.size and int(off.max()) > np.iinfo(np.int64).max:
        raise ValueError(f"{what}: offset {int(off.max())} is out of range for shape {shape}")
    off = np.ascontiguousarray(off, dtype=np.int64)
    m, n = shape
    if off.size:
        lo, hi = int(off.min()), int(off.max())
        if lo <= -m:
            raise ValueError(
                f"{what}: offset {lo} is out of range for shape {shape} "
                f"(offsets must lie in ({-m}, {n}), i.e. -rows < k < cols)"
            )
        if hi >= n:
            raise ValueError(
                f"{what}: offset {hi} is out of range for shape {shape} "
                f"(offsets must lie in ({-m}, {n}), i.e. -rows < k < cols)"
            )
        steps = np.diff(off)
        if np.any(steps <= 0):
            i = int(np.argmax(steps <= 0))
            kind = "duplicated" if steps[i] == 0 else "not sorted"
            raise ValueError(
                f"{what}: offsets must be sorted and unique, but offsets[{i}] = {int(off[i])} "
                f"and offsets[{i + 1}] = {int(off[i + 1])} ({kind})"
            )
    return off


def _valid_range(k, m, n):
    """Rows ``lo <= i < hi`` whose position ``(i, i + k)`` lies inside an m x n matrix."""
    return max(0, -k), max(0, min(m, n - k))


class banded_array(DataMixin, SparseArray):
    """Banded (diagonal) sparse array with row-aligned diagonal storage.

    Parameters
    ----------
    arg : array_like, tuple, SciPy sparse or spla array
        One of

        - ``(data, offsets)`` with ``shape=``: raw storage. ``offsets`` (1-D
          integers) must be sorted, unique and inside ``(-rows, cols)``; ``data``
          must have shape ``(len(offsets), rows)`` with ``data[d, i] =
          A[i, i + offsets[d]]`` (row-aligned; entries whose column falls outside
          the matrix are padding and ignored).
        - a dense 2-D array-like.
        - a SciPy sparse array or matrix of any format (``dia_array`` is converted
          directly, keeping its diagonals; duplicate offsets are summed).
        - an spla array (``csr_array``, ``csc_array``, ``banded_array``).
    shape : tuple of 2 ints, optional
        Required with ``(data, offsets)``; must match the input otherwise.
    offsets : array_like of int, optional
        For dense and sparse input: the diagonals to store (sorted, unique).
        Every non-zero (dense) or stored entry (sparse) must lie on one of them,
        else ``ValueError``. By default, the diagonals that hold a non-zero
        (dense) or a stored entry (sparse).
    dtype : dtype, optional
        float32, float64, complex64 or complex128; by default the input's, with
        booleans and integers stored as float64 and float16 as float32.

    Attributes
    ----------
    data : ndarray, shape (len(offsets), rows)
        Row-aligned diagonals: ``data[d, i] == A[i, i + offsets[d]]``.
    offsets : ndarray of int64
        Sorted, unique diagonal numbers.
    bandwidth : tuple (l, u)
        Number of sub- and super-diagonals the band spans.

    Notes
    -----
    ``nnz`` counts the positions of the stored diagonals inside the matrix (as
    SciPy's ``dia_array`` does), zeros included; padding is not counted.
    ``A @ x`` and ``A @ X`` stream the band in blocks of rows, with no index
    loads; the result of each row does not depend on the number of threads.
    ``A.T`` builds the transposed band (O(nnz)); other operations (arithmetic,
    SpGEMM, reductions) go through ``tocsr()`` and return CSR arrays.

    Examples
    --------
    >>> import numpy as np, spla
    >>> A = spla.banded_array(np.array([[2.0, -1.0, 0.0],
    ...                                 [-1.0, 2.0, -1.0],
    ...                                 [0.0, -1.0, 2.0]]))
    >>> A.offsets, A.bandwidth
    (array([-1,  0,  1]), (1, 1))
    >>> A @ np.ones(3)
    array([1., 0., 1.])
    >>> B = spla.banded_array((np.ones((1, 3)), [0]), shape=(3, 4))
    >>> B.toarray()
    array([[1., 0., 0., 0.],
           [0., 1., 0., 0.],
           [0., 0., 1., 0.]])
    """

    format = "banded"

    def __init__(self, arg, shape=None, offsets=None, dtype=None):
        if shape is not None:
            shape = check_shape(shape)
        if isinstance(arg, banded_array):
            self._init_from_banded(arg, shape, offsets, dtype)
        elif isinstance(arg, SparseArray):
            self._init_from_sparse(arg, shape, offsets, dtype)
        elif _is_scipy_sparse(arg):
            self._init_from_scipy(arg, shape, offsets, dtype)
        elif isinstance(arg, tuple) and len(arg) == 2 and not _looks_dense_row_pair(arg):
            if offsets is not None:
                raise ValueError(
                    "banded_array: offsets are given twice ((data, offsets) and offsets=)")
            self._init_from_storage(arg, shape, dtype)
        else:
            self._init_from_dense(arg, shape, offsets, dtype)

    # -- construction ---------------------------------------------------------------

    @classmethod
    def _from_parts(cls, data, offsets, shape):
        """Wrap storage that spla built itself and knows to be valid (no checks)."""
        obj = cls.__new__(cls)
        obj._data = data
        obj._offsets = offsets
        obj._shape = tuple(int(s) for s in shape)
        return obj

    def _set(self, data, offsets, shape):
        self._data = data
        self._offsets = offsets
        self._shape = shape
        self._owns_data = False

    def __setitem__(self, key, x):
        """``A[key] = x`` (SciPy's keys and values) inside the band: entries on stored
        diagonals are written in place; a non-zero outside the band raises
        ``ValueError`` naming the entry (write into ``A.tocsr()`` there), on the CPU
        or the GPU.

        Examples
        --------
        >>> import numpy as np, spla
        >>> A = spla.banded_array(np.eye(3) + np.eye(3, k=1))
        >>> A[0, 1] = 5.0
        >>> A[2, 0] = 0.0  # a zero outside the band changes nothing
        >>> A.toarray()[0]
        array([1., 5., 0.])
        """
        from .._indexing.assign import assign_banded

        data = assign_banded(self, key, x)
        self._set(data, self._offsets, self._shape)
        self._owns_data = True
        self._invalidate()

    def _init_from_storage(self, arg, shape, dtype):
        data, offsets = arg
        if shape is None:
            raise ValueError("banded_array: (data, offsets) input needs shape=(rows, cols)")
        if is_gpu_array(data):
            raise NotImplementedError(_BUILT_ON_CPU)
        off = _check_offsets(offsets, shape)
        try:
            data = np.asarray(data)
        except (ValueError, TypeError) as exc:
            raise TypeError(f"banded_array: cannot read data: {exc}") from None
        if data.dtype == object:
            raise TypeError("banded_array: data must be a numeric array")
        if data.ndim == 1 and off.size == 1:
            data = data.reshape(1, -1)
        expected = (off.size, shape[0])
        if data.shape != expected:
            raise ValueError(
                f"banded_array: data has shape {data.shape}, expected {expected} "
                f"(len(offsets), rows): one row-aligned row per diagonal, "
                f"data[d, i] = A[i, i + offsets[d]]"
            )
        data = _native(data)
        target = _value_dtype(data.dtype, dtype)
        data = np.ascontiguousarray(data, dtype=target)
        self._set(data, off, shape)

    def _init_from_dense(self, arg, shape, offsets, dtype):
        if is_gpu_array(arg):
            raise NotImplementedError(_BUILT_ON_CPU)
        try:
            dense = np.asarray(arg)
        except (ValueError, TypeError) as exc:
            raise TypeError(
                f"cannot build a banded_array from {type(arg).__name__}: {exc}") from None
        if dense.dtype == object:
            raise TypeError(f"cannot build a banded_array from {type(arg).__name__}")
        if dense.ndim != 2:
            raise ValueError(f"banded_array: dense input must be 2-D, got shape {dense.shape}")
        if shape is not None and dense.shape != shape:
            raise ValueError(
                f"banded_array: shape {shape} does not match the dense input's {dense.shape}")
        shape = tuple(dense.shape)
        dense = _native(dense)
        target = _value_dtype(dense.dtype, dtype)
        rows, cols = np.nonzero(dense)
        self._from_entries(rows, cols, dense[rows, cols], shape, offsets, target,
                           lambda off: _gather_dense(dense, off, target), "non-zero")

    def _from_entries(self, rows, cols, vals, shape, offsets, target, fill, what):
        present = np.unique(cols.astype(np.int64) - rows.astype(np.int64))
        if offsets is None:
            off = present
        else:
            off = _check_offsets(offsets, shape)
            missing = np.setdiff1d(present, off)
            if missing.size:
                raise ValueError(
                    f"banded_array: a {what} entry lies on diagonal {int(missing[0])}, "
                    f"which is not among the given offsets"
                )
        self._set(fill(off), off, shape)

    def _init_from_scipy(self, arg, shape, offsets, dtype):
        if arg.ndim != 2:
            raise ValueError(f"banded_array: spla arrays are 2-D; got a {arg.ndim}-D SciPy array")
        sshape = tuple(int(s) for s in arg.shape)
        if shape is not None and sshape != shape:
            raise ValueError(
                f"banded_array: shape {shape} does not match the SciPy array's {sshape}")
        target = _value_dtype(arg.dtype, dtype)
        if arg.format == "dia":
            data, off = _from_scipy_dia(arg, target)
            if offsets is not None:
                want = _check_offsets(offsets, sshape)
                missing = np.setdiff1d(off, want)
                if missing.size:
                    raise ValueError(
                        f"banded_array: the SciPy dia array stores diagonal {int(missing[0])}, "
                        f"which is not among the given offsets"
                    )
                full = np.zeros((want.size, sshape[0]), dtype=target)
                full[np.searchsorted(want, off)] = data
                data, off = full, want
            self._set(data, off, sshape)
            return
        coo = arg.tocoo()
        if coo is arg:
            coo = coo.copy()  # sum_duplicates works in place: never on the caller's array
        coo.sum_duplicates()
        self._init_from_coo(coo.row, coo.col, coo.data, sshape, offsets, target)

    def _init_from_coo(self, rows, cols, vals, shape, offsets, target):
        def fill(off):
            data = np.zeros((off.size, shape[0]), dtype=target)
            d = np.searchsorted(off, cols.astype(np.int64) - rows.astype(np.int64))
            np.add.at(data, (d, rows), vals.astype(target)) if rows.size else None
            return data

        self._from_entries(rows, cols, vals, shape, offsets, target, fill, "stored")

    def _init_from_sparse(self, arg, shape, offsets, dtype):
        if arg.device != "cpu":
            raise NotImplementedError(_BUILT_ON_CPU)
        if shape is not None and tuple(arg.shape) != shape:
            raise ValueError(f"banded_array: shape {shape} does not match the input's {arg.shape}")
        target = value_dtype(dtype) if dtype is not None else arg.dtype
        s = arg.tocsr().to_scipy().tocoo()
        s.sum_duplicates()
        self._init_from_coo(s.row, s.col, s.data, tuple(arg.shape), offsets, target)

    def _init_from_banded(self, arg, shape, offsets, dtype):
        if shape is not None and arg.shape != shape:
            raise ValueError(f"banded_array: shape {shape} does not match the input's {arg.shape}")
        target = value_dtype(dtype) if dtype is not None else arg.dtype
        data, off = arg._data, arg._offsets
        if offsets is not None:
            want = _check_offsets(offsets, arg.shape)
            missing = np.setdiff1d(off, want)
            if missing.size:
                raise ValueError(
                    f"banded_array: the input stores diagonal {int(missing[0])}, "
                    "which is not among the given offsets"
                )
            full = np.zeros((want.size, arg.shape[0]), dtype=target)
            full[np.searchsorted(want, off)] = data
            data, off = full, want
        self._set(np.array(data, dtype=target, order="C"), off.copy(), arg.shape)

    @classmethod
    def from_lapack(cls, ab, l_and_u, shape=None, dtype=None):
        """Build from LAPACK band storage, as ``scipy.linalg.solve_banded`` takes it.

        Parameters
        ----------
        ab : array_like, shape (l + u + 1, cols)
            ``ab[u + i - j, j] == A[i, j]``; entries outside the matrix are ignored.
        l_and_u : tuple of 2 ints
            Number of sub-diagonals ``l`` and super-diagonals ``u``.
        shape : tuple of 2 ints, optional
            ``(rows, cols)``; square ``(cols, cols)`` by default.
        dtype : dtype, optional
            Value dtype (by default ``ab``'s, as for the constructor).

        Returns
        -------
        banded_array
            With offsets ``-l .. u`` (all of them, zero diagonals included, except
            those that fall outside the matrix).

        Examples
        --------
        >>> import numpy as np, spla
        >>> ab = np.array([[0.0, 2.0, 2.0],     # u = 1: the super-diagonal
        ...                [5.0, 4.0, 3.0],     # the main diagonal
        ...                [1.0, 1.0, 0.0]])    # l = 1: the sub-diagonal
        >>> spla.banded_array.from_lapack(ab, (1, 1)).toarray()
        array([[5., 2., 0.],
               [1., 4., 2.],
               [0., 1., 3.]])
        """
        try:
            l, u = (operator.index(v) for v in l_and_u)
        except TypeError:
            raise TypeError(f"from_lapack: (l, u) must be two integers, got {l_and_u!r}") from None
        if l < 0 or u < 0:
            raise ValueError(f"from_lapack: l and u must not be negative, got ({l}, {u})")
        ab = np.asarray(ab)
        if ab.dtype == object:
            raise TypeError("from_lapack: ab must be a numeric array")
        if ab.ndim != 2:
            raise ValueError(f"from_lapack: ab must be 2-D, got shape {ab.shape}")
        if ab.shape[0] != l + u + 1:
            raise ValueError(
                f"from_lapack: ab has {ab.shape[0]} rows, expected l + u + 1 = {l + u + 1}"
            )
        n = ab.shape[1]
        shape = (n, n) if shape is None else check_shape(shape)
        if shape[1] != n:
            raise ValueError(f"from_lapack: ab has {n} columns but shape is {shape}")
        m = shape[0]
        ab = _native(ab)
        target = _value_dtype(ab.dtype, dtype)
        offs = np.arange(-l, u + 1, dtype=np.int64)
        offs = offs[(offs > -m) & (offs < n)]
        data = np.zeros((offs.size, m), dtype=target)
        for d, k in enumerate(offs):
            lo, hi = _valid_range(int(k), m, n)
            if hi > lo:
                # A[i, i + k] = ab[u - k, i + k]
                data[d, lo:hi] = ab[u - k, lo + k:hi + k]
        return cls._from_parts(data, offs, shape)

    # -- attributes -----------------------------------------------------------------

    @property
    def data(self):
        """Row-aligned diagonals, shape ``(len(offsets), rows)``:
        ``data[d, i] = A[i, i + offsets[d]]``."""
        return self._data

    @property
    def offsets(self):
        """The stored diagonals (sorted, unique int64; ``k > 0`` above the main diagonal)."""
        return self._offsets

    @property
    def shape(self):
        return self._shape

    @property
    def dtype(self):
        return self._data.dtype

    @property
    def nnz(self):
        """Positions of the stored diagonals inside the matrix (zeros included, padding not).

        Examples
        --------
        >>> import numpy as np, spla
        >>> spla.banded_array((np.ones((2, 3)), [-1, 0]), shape=(3, 3)).nnz
        5
        """
        m, n = self._shape
        total = 0
        for k in self._offsets.tolist():
            lo, hi = _valid_range(k, m, n)
            total += hi - lo
        return total

    @property
    def bandwidth(self):
        """``(l, u)``: the band spans ``l`` sub-diagonals and ``u`` super-diagonals.

        Examples
        --------
        >>> import numpy as np, spla
        >>> spla.banded_array((np.ones((2, 4)), [-2, 1]), shape=(4, 4)).bandwidth
        (2, 1)
        """
        if self._offsets.size == 0:
            return (0, 0)
        return (max(0, -int(self._offsets[0])), max(0, int(self._offsets[-1])))

    @property
    def nbytes(self):
        """Bytes of storage (data, padding included, and offsets)."""
        return int(self._data.nbytes + self._offsets.nbytes)

    @property
    def device(self):
        """Where the storage lives: ``"cpu"`` (NumPy) or ``"cuda"`` (CuPy)."""
        return _dispatch.device_of(self._data)

    @property
    def T(self):
        """The transpose, a new ``banded_array`` (offsets negated; O(nnz) copy).

        Examples
        --------
        >>> import numpy as np, spla
        >>> spla.banded_array(np.array([[1.0, 2.0], [0.0, 3.0]])).T.offsets
        array([-1,  0])
        """
        m, n = self._shape
        off = self._offsets
        t_off = -off[::-1].copy()
        t_data = self._xp().zeros((off.size, n), dtype=self.dtype)
        for d, k in enumerate(off.tolist()):
            lo, hi = _valid_range(k, m, n)
            # A.T[j, j - k] = A[j - k, j] = data[d, j - k] for j = i + k
            t_data[off.size - 1 - d, lo + k:hi + k] = self._data[d, lo:hi]
        return self._from_parts(t_data, t_off, (n, m))

    def __repr__(self):
        return (
            f"<spla.banded_array shape={self.shape}, dtype={self.dtype.name}, nnz={self.nnz}, "
            f"offsets={len(self._offsets)}, bandwidth={self.bandwidth}, device={self.device!r}>"
        )

    # -- conversions ----------------------------------------------------------------

    def _entries(self):
        """Row, column and value of every in-matrix position, in row-major order."""
        xp = self._xp()
        m, n = self._shape
        nd = self._offsets.size
        if nd == 0 or m == 0:
            z = xp.zeros(0, dtype=np.int64)
            return z, z, xp.zeros(0, dtype=self.dtype)
        i = xp.arange(m, dtype=np.int64)
        cols = i[None, :] + xp.asarray(self._offsets)[:, None]
        valid = (cols >= 0) & (cols < n)
        # transpose to (rows, diagonals): row-major with sorted columns in each row
        valid_t = valid.T
        rows = xp.broadcast_to(i[:, None], (m, nd))[valid_t]
        return rows, cols.T[valid_t], self._data.T[valid_t]

    def toarray(self, order=None, out=None):
        """Dense NumPy array.

        Parameters
        ----------
        order : {"C", "F"}, optional
            Memory layout of the result (default C).
        out : ndarray, optional
            Array of the right shape and dtype to write into.

        Examples
        --------
        >>> import numpy as np, spla
        >>> spla.banded_array((np.array([[1.0, 2.0]]), [1]), shape=(2, 2)).toarray()
        array([[0., 1.],
               [0., 0.]])
        """
        xp = self._xp()
        if out is None:
            out = xp.zeros(self._shape, dtype=self.dtype, order=check_order(order) or "C")
        else:
            if (not isinstance(out, xp.ndarray) or out.shape != self._shape
                    or out.dtype != self.dtype):
                raise ValueError(
                    f"out must be an array of shape {self._shape} and dtype {self.dtype} "
                    "on this array's device"
                )
            out[...] = 0
        m, n = self._shape
        for d, k in enumerate(self._offsets.tolist()):
            lo, hi = _valid_range(k, m, n)
            if hi > lo:
                i = xp.arange(lo, hi)
                out[i, i + k] = self._data[d, lo:hi]
        return out

    def tocsr(self, copy=False):
        """The same matrix as a ``csr_array``, every in-matrix band position stored
        (zeros included, so ``nnz`` is kept); rows sorted.

        Examples
        --------
        >>> import numpy as np, spla
        >>> A = spla.banded_array(np.eye(3))
        >>> A.tocsr().nnz == A.nnz == 3
        True
        """
        from .compressed import csr_array

        xp = self._xp()
        m, n = self._shape
        rows, cols, vals = self._entries()
        idx = index_dtype_for(max(n, rows.size, m))
        indptr = xp.zeros(m + 1, dtype=idx)
        if rows.size:
            indptr[1:] = xp.cumsum(xp.bincount(rows, minlength=m))
        return csr_array._from_parts(xp.ascontiguousarray(vals), cols.astype(idx), indptr,
                                     self._shape, True)

    def tocsc(self, copy=False):
        """The same matrix as a ``csc_array``.

        Examples
        --------
        >>> import numpy as np, spla
        >>> spla.banded_array(np.eye(2)).tocsc().format
        'csc'
        """
        return self.tocsr().tocsc()

    def to_scipy(self):
        """``scipy.sparse.dia_array`` of the same matrix (SciPy's column-aligned layout, a copy).

        Examples
        --------
        >>> import numpy as np, spla
        >>> S = spla.banded_array(np.array([[1.0, 2.0], [0.0, 3.0]])).to_scipy()
        >>> S.format, S.offsets.tolist()
        ('dia', [0, 1])
        """
        import scipy.sparse as sp

        self._require_cpu("to_scipy")
        m, n = self._shape
        nd = self._offsets.size
        cdata = np.zeros((nd, n), dtype=self.dtype)
        for d, k in enumerate(self._offsets.tolist()):
            lo, hi = _valid_range(k, m, n)
            # SciPy: cdata[d, j] = A[j - k, j] with j = i + k
            cdata[d, lo + k:hi + k] = self._data[d, lo:hi]
        return sp.dia_array((cdata, self._offsets.copy()), shape=self._shape)

    def to_lapack(self):
        """LAPACK band storage ``(ab, (l, u))``, as ``scipy.linalg.solve_banded`` takes it.

        ``ab`` has shape ``(l + u + 1, cols)`` with ``ab[u + i - j, j] == A[i, j]``
        (rows of missing diagonals and positions outside the matrix hold zeros);
        ``(l, u)`` is ``bandwidth``.

        Examples
        --------
        >>> import numpy as np, scipy.linalg, spla
        >>> A = spla.banded_array(np.array([[4.0, 1.0], [1.0, 3.0]]))
        >>> ab, lu = A.to_lapack()
        >>> ab, lu
        (array([[0., 1.],
               [4., 3.],
               [1., 0.]]), (1, 1))
        >>> spla.banded_array.from_lapack(ab, lu).toarray()
        array([[4., 1.],
               [1., 3.]])
        """
        self._require_cpu("to_lapack")
        m, n = self._shape
        l, u = self.bandwidth
        ab = np.zeros((l + u + 1, n), dtype=self.dtype)
        for d, k in enumerate(self._offsets.tolist()):
            lo, hi = _valid_range(k, m, n)
            ab[u - k, lo + k:hi + k] = self._data[d, lo:hi]
        return ab, (l, u)

    def copy(self):
        """A deep copy.

        Examples
        --------
        >>> import numpy as np, spla
        >>> A = spla.banded_array(np.eye(2))
        >>> A.copy().data is A.data
        False
        """
        return self._from_parts(self._data.copy(), self._offsets.copy(), self._shape)

    @property
    def _values(self):
        return self._data

    def _with_data(self, data, copy=True):
        """A banded array with these offsets and diagonals ``data`` (same shape)."""
        offsets = self._offsets.copy() if copy else self._offsets
        return self._from_parts(self._xp().ascontiguousarray(data), offsets, self._shape)

    def _stores(self, dtype):
        # A bool result (a comparison) is a pattern, not a band of values: CSR.
        dtype = np.dtype(dtype)
        return dtype != np.bool_ and dtype in VALUE_DTYPES

    def count_nonzero(self, axis=None):
        """Number of in-matrix band positions whose value is not zero (along ``axis``).

        Examples
        --------
        >>> import numpy as np, spla
        >>> A = spla.banded_array((np.array([[1.0, 0.0, 2.0]]), [0]), shape=(3, 3))
        >>> A.nnz, A.count_nonzero()
        (3, 2)
        """
        if axis is not None:
            return self.tocsr().count_nonzero(axis=axis)
        return int(np.count_nonzero(self._entries()[2]))

    def diagonal(self, k=0):
        """The ``k``-th diagonal as a dense 1-D array (zeros if it is not stored).

        Examples
        --------
        >>> import numpy as np, spla
        >>> spla.banded_array(np.array([[1.0, 2.0], [0.0, 3.0]])).diagonal(1)
        array([2.])
        """
        self._require_cpu("diagonal")
        k = check_diagonal_offset(k, self._shape)
        m, n = self._shape
        lo, hi = _valid_range(k, m, n)
        pos = np.searchsorted(self._offsets, k)
        if pos < self._offsets.size and self._offsets[pos] == k:
            return self._data[pos, lo:hi].copy()
        return np.zeros(max(0, hi - lo), dtype=self.dtype)

    def _move_to(self, device):
        xp = _dispatch.array_module(device)
        data = self._data.get() if device == "cpu" else xp.asarray(self._data)
        return self._from_parts(data, self._offsets.copy(), self._shape)

    def _xp(self):
        return _dispatch.array_module(self.device)

    def _require_cpu(self, what):
        if self.device != "cpu":
            raise ValueError(f"{what} needs the array on the CPU; use .to_device('cpu') first")

    # -- products and arithmetic -----------------------------------------------------

    def _matmul_vector(self, x):
        return _backend("matvec", self)(self, x)

    def _matmul_matrix(self, X):
        return _backend("matmat", self)(self, X)


def _looks_dense_row_pair(arg):
    """A 2-tuple of equal-length sequences of numbers reads as a 2 x n dense array,
    not as ``(data, offsets)``: ``(data, offsets)`` has a 2-D ``data``, or a 1-D one
    with a scalar or length-1 ``offsets``."""
    a0, a1 = arg
    try:
        d0, d1 = np.ndim(a0), np.ndim(a1)
    except Exception:  # noqa: BLE001 - anything odd goes the storage way and is checked there
        return False
    if d0 == 2:
        return False
    if d0 == 1 and d1 == 1 and np.size(a0) == np.size(a1) and np.size(a1) != 1:
        return True
    return False


def _native(a):
    """``a`` in native byte order (a big-endian float64 is still float64)."""
    if a.dtype.byteorder not in ("=", "|"):
        return a.astype(a.dtype.newbyteorder("="))
    return a


def _value_dtype(input_dtype, requested):
    return value_dtype(requested) if requested is not None else default_value_dtype(input_dtype)


def _gather_dense(dense, offsets, target):
    m, n = dense.shape
    data = np.zeros((offsets.size, m), dtype=target)
    for d, k in enumerate(offsets.tolist()):
        lo, hi = _valid_range(k, m, n)
        if hi > lo:
            i = np.arange(lo, hi)
            data[d, lo:hi] = dense[i, i + k]
    return data


def _from_scipy_dia(S, target):
    """Row-aligned data and sorted unique offsets of a SciPy dia array (duplicate
    offsets summed; SciPy's data may be narrower or wider than the matrix)."""
    m, n = (int(s) for s in S.shape)
    sdata = np.asarray(S.data)
    soff = np.asarray(S.offsets, dtype=np.int64).reshape(-1)
    keep = (soff > -m) & (soff < n)
    uniq = np.unique(soff[keep])
    data = np.zeros((uniq.size, m), dtype=target)
    width = sdata.shape[1] if sdata.ndim == 2 else 0
    for row, k in enumerate(soff.tolist()):
        if not (-m < k < n):
            continue
        lo, hi = _valid_range(k, m, n)
        hi = min(hi, width - k)  # SciPy's column j = i + k must exist in its data
        if hi > lo:
            d = int(np.searchsorted(uniq, k))
            data[d, lo:hi] += sdata[row, lo + k:hi + k].astype(target)
    return data, uniq


registry.register_format("banded", lambda a: a if isinstance(a, banded_array) else banded_array(a))
