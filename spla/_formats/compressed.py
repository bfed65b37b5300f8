"""Compressed sparse row (CSR) arrays, and CSC as the transposed view of a CSR.

``csr_array`` owns three arrays: ``data`` (values), ``indices`` (column of each
value) and ``indptr`` (row ``i`` holds entries ``indptr[i]:indptr[i+1]``).
``csc_array`` is the same three arrays read the other way round, which is what
``A.T`` returns: transposing costs nothing, and ``A.T @ x`` runs a scatter
kernel over A's rows instead of building the transpose.

Storage may hold duplicates and unsorted column indices (as SciPy allows); the
kernels sum duplicates. Results of sparse-sparse operations (SpGEMM, ``+``,
``-``, elementwise products of two sparse arrays) are canonical: sorted, no
duplicates, and no explicitly stored zeros produced by arithmetic. Operations
that keep the structure (scaling, ``multiply`` by a dense array, ``astype``)
keep the operand's layout, duplicates included.
"""

import numpy as np

from .. import _dispatch
from .._base import SparseArray, _is_scipy_sparse
from .._dtypes import default_value_dtype, index_dtype_for, result_dtype, value_dtype
from . import registry
from .arguments import check_axis, check_diagonal_offset, check_order, coo_coordinates
from .validation import (
    as_1d,
    check_compressed,
    check_coo,
    check_integer,
    check_shape,
    unify_index_dtype,
)


def _backend(op, array):
    return _dispatch.lookup(op, "csr", array.device)


class csr_array(SparseArray):
    """Compressed sparse row array.

    Parameters
    ----------
    arg : tuple, array_like, SciPy sparse or spla array
        One of

        - ``(data, indices, indptr)``: CSR storage. Arrays are used as given
          (no copy) when they are contiguous with a supported dtype and
          ``copy=False``; ``indices`` and ``indptr`` keep int32 or int64 when
          both have it, else both become the smallest of the two that fits.
        - ``(data, (row, col))``: COO triplets; duplicates are summed.
        - a dense 2-D array-like; zeros are not stored.
        - any SciPy sparse matrix or array (COO, CSR, CSC, BSR, DIA, LIL, DOK).
        - another spla array.
    shape : tuple of 2 ints, optional
        Required only when it cannot be inferred (inferred from ``indptr``
        and the largest column index, or from the largest COO indices).
    dtype : dtype, optional
        float32, float64, complex64 or complex128. By default the input's
        dtype, with booleans and integers stored as float64 and float16 as float32.
    copy : bool, default False
        Copy the input arrays even when they could be shared.
    check : bool, default True
        Run the O(nnz) checks (``indptr`` non-decreasing, every column index
        in range). ``check=False`` skips them for callers who know their data
        is valid: invalid data then gives undefined results and may crash the
        interpreter. The O(1) checks (lengths, dtypes, ``indptr`` ends) always run.

    Examples
    --------
    >>> import numpy as np, spla
    >>> A = spla.csr_array((np.array([1.0, 2.0, 3.0]), np.array([0, 2, 1]),
    ...                     np.array([0, 2, 3])), shape=(2, 3))
    >>> A @ np.ones(3)
    array([3., 3.])
    >>> spla.csr_array((np.ones(3), ([0, 0, 1], [1, 1, 0])), shape=(2, 2)).toarray()
    array([[0., 2.],
           [1., 0.]])
    """

    format = "csr"

    def __init__(self, arg, shape=None, dtype=None, copy=False, check=True):
        if shape is not None:
            shape = check_shape(shape)
        if isinstance(arg, SparseArray):
            self._init_from_spla(arg, shape, dtype, copy)
        elif _is_cupyx_sparse(arg):
            csr = arg.tocsr()
            self._init_from_storage((csr.data, csr.indices, csr.indptr), tuple(csr.shape), dtype,
                                    copy and csr is arg, check)
        elif _is_scipy_sparse(arg):
            self._init_from_scipy(arg, shape, dtype, copy, check)
        elif isinstance(arg, tuple) and len(arg) == 3:
            self._init_from_storage(arg, shape, dtype, copy, check)
        elif isinstance(arg, tuple) and len(arg) == 2:
            self._init_from_coo(arg, shape, dtype)
        else:
            self._init_from_dense(arg, shape, dtype)
        self._canonical = None

    # -- construction -----------------------------------------------------------

    def _set(self, data, indices, indptr, shape):
        self._device = _dispatch.device_of(data)
        self._data = data
        self._indices = indices
        self._indptr = indptr
        self._shape = shape

    @classmethod
    def _from_parts(cls, data, indices, indptr, shape, canonical=None):
        """Wrap arrays that spla built itself and knows to be valid (no checks)."""
        obj = cls.__new__(cls)
        obj._set(data, indices, indptr, tuple(int(d) for d in shape))
        obj._canonical = canonical
        return obj

    def _init_from_storage(self, arg, shape, dtype, copy, check):
        data, indices, indptr = arg
        device = _common_device(data, indices, indptr)
        xp = _dispatch.array_module(device)
        data = as_1d(xp, data, "data")
        indices = as_1d(xp, indices, "indices")
        indptr = as_1d(xp, indptr, "indptr")
        check_integer(indices, "indices")
        check_integer(indptr, "indptr")
        if shape is None:
            if check and indices.size and int(indices.min()) < 0:
                raise ValueError("csr_array: negative column index; cannot infer the shape")
            shape = (indptr.size - 1, int(indices.max()) + 1 if indices.size else 0)
            if shape[0] < 0:
                raise ValueError("csr_array: indptr must have at least one element")
        target = _value_dtype(data.dtype, dtype)
        indices, indptr = unify_index_dtype(xp, indices, indptr, shape[1], copy)
        check_compressed(xp, indptr, indices, data, shape, full=check)
        data = data.astype(target) if data.dtype != target else (data.copy() if copy else data)
        self._set(data, indices, indptr, shape)

    def _init_from_coo(self, arg, shape, dtype):
        data, coords = arg
        coords = coo_coordinates(coords)
        device = _common_device(data, *coords)
        xp = _dispatch.array_module(device)
        row = as_1d(xp, coords[0], "row")
        col = as_1d(xp, coords[1], "col")
        data = as_1d(xp, data, "data")
        check_integer(row, "row")
        check_integer(col, "col")
        shape = check_coo(xp, data, row, col, shape)
        target = _value_dtype(data.dtype, dtype)
        idx = index_dtype_for(max(shape), data.size)
        triplets = (data.astype(target, copy=False), (row.astype(idx), col.astype(idx)))
        if device == "cpu":
            import scipy.sparse as sp

            csr = sp.coo_array(triplets, shape=shape).tocsr()  # sums duplicates, sorts rows
        else:
            import cupyx.scipy.sparse as cusparse

            csr = cusparse.coo_matrix(triplets, shape=shape).tocsr()
            csr.sum_duplicates()
        indices, indptr = unify_index_dtype(xp, csr.indices, csr.indptr, shape[1], False)
        self._set(csr.data.astype(target, copy=False), indices, indptr, shape)

    def _init_from_scipy(self, arg, shape, dtype, copy, check):
        if shape is not None and tuple(arg.shape) != shape:
            raise ValueError(f"shape {shape} does not match the SciPy array's {arg.shape}")
        if arg.ndim != 2:
            raise ValueError(f"spla arrays are 2-D; got a {arg.ndim}-D SciPy array")
        csr = arg.tocsr()
        self._init_from_storage(
            (csr.data, csr.indices, csr.indptr), tuple(csr.shape), dtype,
            copy and csr is arg, check,
        )

    def _init_from_dense(self, arg, shape, dtype):
        if type(arg).__module__.split(".")[0] == "cupy":
            self._init_from_dense_gpu(arg, shape, dtype)
            return
        try:
            dense = np.asarray(arg)
        except (ValueError, TypeError) as exc:
            raise TypeError(f"cannot build a csr_array from {type(arg).__name__}: {exc}") from None
        if dense.dtype == object:
            raise TypeError(f"cannot build a csr_array from {type(arg).__name__}")
        if dense.ndim != 2:
            raise ValueError(f"dense input must be 2-D, got shape {dense.shape}")
        if shape is not None and dense.shape != shape:
            raise ValueError(f"shape {shape} does not match the dense input's {dense.shape}")
        target = _value_dtype(dense.dtype, dtype)
        mask = dense != 0
        counts = mask.sum(axis=1)
        nnz = int(counts.sum())
        idx = index_dtype_for(max(dense.shape[1], nnz))
        indptr = np.zeros(dense.shape[0] + 1, dtype=idx)
        np.cumsum(counts, out=indptr[1:])
        rows, cols = np.nonzero(mask)
        data = dense[rows, cols].astype(target)
        self._set(data, cols.astype(idx), indptr, tuple(dense.shape))

    def _init_from_dense_gpu(self, dense, shape, dtype):
        import cupy

        if dense.ndim != 2:
            raise ValueError(f"dense input must be 2-D, got shape {dense.shape}")
        if shape is not None and dense.shape != shape:
            raise ValueError(f"shape {shape} does not match the dense input's {dense.shape}")
        target = _value_dtype(dense.dtype, dtype)
        mask = dense != 0
        nnz = int(mask.sum())
        idx = index_dtype_for(max(dense.shape[1], nnz))
        indptr = cupy.zeros(dense.shape[0] + 1, dtype=idx)
        indptr[1:] = cupy.cumsum(mask.sum(axis=1))
        rows, cols = cupy.nonzero(mask)
        self._set(dense[rows, cols].astype(target), cols.astype(idx), indptr, tuple(dense.shape))

    def _init_from_spla(self, arg, shape, dtype, copy):
        csr = arg.tocsr()
        if shape is not None and csr.shape != shape:
            raise ValueError(f"shape {shape} does not match the input's {csr.shape}")
        target = value_dtype(dtype) if dtype is not None else csr.dtype
        data = csr.data.astype(target) if target != csr.dtype else csr.data
        indices, indptr = csr.indices, csr.indptr
        if copy:
            data = data.copy() if data is csr.data else data
            indices, indptr = indices.copy(), indptr.copy()
        self._set(data, indices, indptr, csr.shape)

    # -- attributes ---------------------------------------------------------------

    @property
    def data(self):
        """Stored values (1-D, length ``nnz``)."""
        return self._data

    @property
    def indices(self):
        """Column index of each stored value (int32 or int64)."""
        return self._indices

    @property
    def indptr(self):
        """Row pointers: row ``i`` is ``data[indptr[i]:indptr[i+1]]`` (length rows + 1)."""
        return self._indptr

    @property
    def shape(self):
        return self._shape

    @property
    def dtype(self):
        return self._data.dtype

    @property
    def nnz(self):
        """Number of stored entries, explicit zeros and duplicates included."""
        return int(self._data.size)

    @property
    def nbytes(self):
        """Bytes of storage (data, indices and indptr)."""
        return int(self._data.nbytes + self._indices.nbytes + self._indptr.nbytes)

    @property
    def device(self):
        """Where the storage lives: ``"cpu"`` (NumPy) or ``"cuda"`` (CuPy)."""
        return self._device

    @property
    def has_canonical_format(self):
        """True when every row's column indices are sorted and free of duplicates."""
        if self._canonical is None:
            self._canonical = bool(_backend("is_canonical", self)(self))
        return self._canonical

    @property
    def T(self):
        """The transpose, a ``csc_array`` sharing this array's storage (no copy)."""
        return csc_array._from_csr(self)

    # -- conversions --------------------------------------------------------------

    def toarray(self, order=None, out=None):
        """Dense NumPy array (duplicates summed).

        Parameters
        ----------
        order : {"C", "F"}, optional
            Memory layout of the result (default C).
        out : ndarray, optional
            Array of the right shape and dtype to write into.
        """
        return _backend("toarray", self)(self, check_order(order), out)

    def tocsr(self, copy=False):
        """This array (or a copy)."""
        return self.copy() if copy else self

    def tocsc(self, copy=False):
        """The same matrix as a ``csc_array`` (builds the transposed storage)."""
        t = _backend("transpose", self)(self)
        return csc_array._from_csr(t)

    def to_scipy(self):
        """``scipy.sparse.csr_array`` sharing this array's memory (CPU arrays only)."""
        self._require_cpu("to_scipy")
        return _scipy_compressed("csr", self._data, self._indices, self._indptr, self._shape)

    def astype(self, dtype, copy=True):
        """The array with values cast to ``dtype`` (float32/64, complex64/128)."""
        dt = value_dtype(dtype)
        if dt == self.dtype and not copy:
            return self
        return self._with_data(self._data.astype(dt), copy_structure=copy)

    def copy(self):
        """A deep copy."""
        return self._from_parts(
            self._data.copy(), self._indices.copy(), self._indptr.copy(), self._shape,
            self._canonical,
        )

    def conj(self):
        """Complex conjugate (a copy)."""
        data = self._data.conj() if self.dtype.kind == "c" else self._data.copy()
        return self._with_data(data)

    def _with_data(self, data, copy_structure=True):
        """A new array with this structure and ``data``. The structure is copied by
        default so that no two arrays a user holds share index arrays."""
        indices, indptr = self._indices, self._indptr
        if copy_structure:
            indices, indptr = indices.copy(), indptr.copy()
        return self._from_parts(data, indices, indptr, self._shape, self._canonical)

    def sum_duplicates(self):
        """A canonical copy: column indices sorted in every row, duplicates summed."""
        if self.has_canonical_format:
            return self.copy()
        if self.device != "cpu":
            return _backend("sum_duplicates", self)(self)
        s = self.to_scipy().copy()
        s.sum_duplicates()
        return self._from_parts(s.data, s.indices.astype(self._indices.dtype),
                                s.indptr.astype(self._indptr.dtype), self._shape, True)

    def eliminate_zeros(self):
        """A copy without the explicitly stored zeros."""
        return _backend("eliminate_zeros", self)(self)

    def count_nonzero(self):
        """Number of stored entries whose value is not zero (duplicates counted apart)."""
        xp = _dispatch.array_module(self.device)
        return int(xp.count_nonzero(self._data))

    def _move_to(self, device):
        xp = _dispatch.array_module(device)
        if device == "cpu":
            move = (lambda a: a.get())
        else:
            move = xp.asarray
        return self._from_parts(move(self._data), move(self._indices), move(self._indptr),
                                self._shape, self._canonical)

    def _require_cpu(self, what):
        if self.device != "cpu":
            raise ValueError(f"{what} needs the array on the CPU; use .to_device('cpu') first")

    # -- products -------------------------------------------------------------------

    def _matmul_vector(self, x):
        return _backend("matvec", self)(self, x)

    def _matmul_matrix(self, X):
        return _backend("matmat", self)(self, X)

    def _rmatmul_vector(self, x):
        """A.T @ x by scatter over A's rows."""
        return _backend("rmatvec", self)(self, x)

    def _rmatmul_matrix(self, X):
        return _backend("rmatmat", self)(self, X)

    def _matmul_sparse(self, other):
        return _backend("spgemm", self)(self, other)

    # -- elementwise ------------------------------------------------------------------

    def _add_sparse(self, other, sign):
        return _backend("add", self)(self, other.tocsr(), sign)

    def _add_dense(self, dense, sign):
        return _backend("add_dense", self)(self, dense, sign)

    def _multiply_sparse(self, other):
        return _backend("multiply", self)(self, other.tocsr())

    def _multiply_dense(self, dense):
        return _backend("multiply_dense", self)(self, dense)

    def _scale(self, scalar, divide=False):
        dt = result_dtype(self.dtype, scalar)
        scalar = np.asarray(scalar)[()] if isinstance(scalar, np.ndarray) else scalar
        data = self._data / scalar if divide else self._data * scalar
        return self._with_data(data.astype(dt, copy=False))

    # -- reductions ---------------------------------------------------------------------

    def sum(self, axis=None, dtype=None):
        """Sum of all entries, of each column (``axis=0``) or of each row (``axis=1``).

        Returns a scalar for ``axis=None`` and a dense 1-D array otherwise.

        Examples
        --------
        >>> import spla, numpy as np
        >>> A = spla.csr_array(np.array([[1.0, 2.0], [0.0, 3.0]]))
        >>> A.sum(), A.sum(axis=0), A.sum(axis=1)
        (np.float64(6.0), array([1., 5.]), array([3., 3.]))
        """
        axis = check_axis(axis, 2)
        out = _backend("sum", self)(self, axis)
        return out.astype(dtype) if dtype is not None else out

    def diagonal(self, k=0):
        """The ``k``-th diagonal (``k > 0`` above the main one) as a dense 1-D array.

        Examples
        --------
        >>> import spla, numpy as np
        >>> spla.csr_array(np.array([[1.0, 2.0], [0.0, 3.0]])).diagonal(1)
        array([2.])
        """
        k = check_diagonal_offset(k, self.shape)
        return _backend("diagonal", self)(self, k)


class csc_array(SparseArray):
    """Compressed sparse column array: the transposed view of a CSR array.

    ``csc_array`` exists so that ``A.T`` costs nothing: it holds a ``csr_array``
    of the transpose and reads it the other way round. ``csc_array @ x`` runs
    a scatter kernel over the stored rows; most other operations go through CSR.

    Parameters
    ----------
    arg, shape, dtype, copy, check
        As for ``csr_array``; ``(data, indices, indptr)`` is CSC storage here
        (``indices`` are row indices, ``indptr`` points to columns).

    Examples
    --------
    >>> import numpy as np, spla
    >>> A = spla.csr_array(np.array([[1.0, 2.0], [0.0, 3.0]]))
    >>> A.T.format, A.T @ np.ones(2)
    ('csc', array([1., 5.]))
    """

    format = "csc"

    def __init__(self, arg, shape=None, dtype=None, copy=False, check=True):
        if shape is not None:
            shape = check_shape(shape)
        if isinstance(arg, tuple) and len(arg) == 3:
            t = csr_array(arg, shape=None if shape is None else shape[::-1], dtype=dtype,
                          copy=copy, check=check)
        elif isinstance(arg, tuple) and len(arg) == 2:
            data, (row, col) = arg[0], coo_coordinates(arg[1])
            t = csr_array((data, (col, row)), shape=None if shape is None else shape[::-1],
                          dtype=dtype)
        elif isinstance(arg, csc_array):
            t = csr_array(arg._t, dtype=dtype, copy=copy)
        elif _is_scipy_sparse(arg):
            t = csr_array(arg.tocsc().T, dtype=dtype, copy=copy, check=check)
        elif isinstance(arg, SparseArray):
            t = arg.tocsr().tocsc()._t
            t = csr_array(t, dtype=dtype)
        else:
            t = csr_array(arg, shape=shape, dtype=dtype).tocsc()._t
        self._t = t
        if shape is not None and self.shape != shape:
            raise ValueError(f"shape {shape} does not match the input's {self.shape}")

    @classmethod
    def _from_csr(cls, transposed):
        obj = cls.__new__(cls)
        obj._t = transposed
        return obj

    data = property(lambda self: self._t.data, doc="Stored values.")
    indices = property(lambda self: self._t.indices, doc="Row index of each stored value.")
    indptr = property(lambda self: self._t.indptr, doc="Column pointers (length columns + 1).")
    shape = property(lambda self: self._t.shape[::-1])
    dtype = property(lambda self: self._t.dtype)
    nnz = property(lambda self: self._t.nnz, doc="Number of stored entries.")
    nbytes = property(lambda self: self._t.nbytes, doc="Bytes of storage.")
    device = property(lambda self: self._t.device)
    has_canonical_format = property(lambda self: self._t.has_canonical_format)

    @property
    def T(self):
        """The transpose, a ``csr_array`` sharing this array's storage."""
        return self._t

    def toarray(self, order=None, out=None):
        if out is not None:
            self._t.toarray(out=out.T)
            return out
        flipped = {"C": "F", "F": "C", None: "F"}[check_order(order)]
        return self._t.toarray(order=flipped).T

    def tocsr(self, copy=False):
        """The same matrix as a ``csr_array`` (builds the transposed storage)."""
        return self._t.tocsc()._t

    def tocsc(self, copy=False):
        return self.copy() if copy else self

    def to_scipy(self):
        """``scipy.sparse.csc_array`` sharing this array's memory."""
        t = self._t
        t._require_cpu("to_scipy")
        return _scipy_compressed("csc", t.data, t.indices, t.indptr, self.shape)

    def astype(self, dtype, copy=True):
        return self._from_csr(self._t.astype(dtype, copy=copy))

    def copy(self):
        return self._from_csr(self._t.copy())

    def conj(self):
        return self._from_csr(self._t.conj())

    def count_nonzero(self):
        return self._t.count_nonzero()

    def eliminate_zeros(self):
        return self._from_csr(self._t.eliminate_zeros())

    def sum_duplicates(self):
        return self._from_csr(self._t.sum_duplicates())

    def _move_to(self, device):
        return self._from_csr(self._t.to_device(device))

    def _matmul_vector(self, x):
        return self._t._rmatmul_vector(x)

    def _matmul_matrix(self, X):
        return self._t._rmatmul_matrix(X)

    def _add_sparse(self, other, sign):
        if isinstance(other, csc_array):
            return self._from_csr(self._t._add_sparse(other._t, sign))
        return self.tocsr()._add_sparse(other, sign)

    def _add_dense(self, dense, sign):
        xp = _dispatch.array_module(self.device)
        try:
            full = xp.broadcast_to(dense, self.shape)
        except ValueError:
            raise ValueError(f"add: dense operand {dense.shape} does not broadcast to "
                             f"{self.shape}") from None
        return self._t._add_dense(full.T, sign).T

    def _multiply_sparse(self, other):
        if isinstance(other, csc_array):
            return self._from_csr(self._t._multiply_sparse(other._t))
        return self.tocsr()._multiply_sparse(other)

    def _multiply_dense(self, dense):
        xp = _dispatch.array_module(self.device)
        return self._from_csr(self._t._multiply_dense(xp.broadcast_to(dense, self.shape).T))

    def _scale(self, scalar, divide=False):
        return self._from_csr(self._t._scale(scalar, divide=divide))

    def sum(self, axis=None, dtype=None):
        axis = check_axis(axis, 2)
        return self._t.sum(axis=None if axis is None else 1 - axis, dtype=dtype)

    def diagonal(self, k=0):
        return self._t.diagonal(-check_diagonal_offset(k, self.shape))


def _value_dtype(input_dtype, requested):
    return value_dtype(requested) if requested is not None else default_value_dtype(input_dtype)


def _is_cupyx_sparse(arg):
    return type(arg).__module__.startswith("cupyx.scipy.sparse")


def _common_device(*arrays):
    devices = set()
    for a in arrays:
        module = type(a).__module__.split(".")[0]
        devices.add("cuda" if module == "cupy" else "cpu")
    if len(devices) > 1:
        raise ValueError("input arrays live on different devices (some NumPy, some CuPy)")
    return devices.pop()


def _scipy_compressed(kind, data, indices, indptr, shape):
    """A SciPy csr/csc array over exactly these arrays (SciPy's constructor may
    downcast index arrays, which would copy them)."""
    import scipy.sparse as sp

    cls = sp.csr_array if kind == "csr" else sp.csc_array
    out = cls(shape, dtype=data.dtype)
    out.data = data
    out.indices = indices
    out.indptr = indptr
    return out


registry.register_format("csr", lambda a: a.tocsr())
registry.register_format("csc", lambda a: a.tocsc())
