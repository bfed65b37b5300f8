"""Compressed sparse arrays: CSR and CSC, one implementation read two ways.

``csr_array`` and ``csc_array`` own the same three arrays: ``data`` (values),
``indices`` (the minor index of each value) and ``indptr`` (major slice ``i``
holds entries ``indptr[i]:indptr[i+1]``). They differ only in which axis is
major, so ``_compressed_array`` implements both: an operation on a CSC array is
the CSR operation on its transpose, which is the same storage read as CSR
(``_major()``), with axes swapped (``_swap``). The CPU and GPU backends
therefore register every kernel once, for ``"csr"``. Transposing costs nothing
(``A.T`` of a CSR array is a CSC array over the same storage), and ``A.T @ x``
runs a scatter kernel over A's rows instead of building the transpose.

Storage may hold duplicates and unsorted indices (as SciPy allows); the kernels
sum duplicates. Results of sparse-sparse elementwise operations are canonical
(sorted, no duplicates, no explicit zeros produced by arithmetic); ``A @ B`` has no
duplicates or computed zeros, with each row's columns in SciPy's (unsorted) order. Operations on values only
keep the operand's layout, duplicates included, except those that are not linear
(``abs``, ``power``, comparisons), which work on a canonical copy as SciPy's do.
``sum_duplicates``, ``sort_indices``, ``eliminate_zeros`` and ``prune`` change
the array in place as in SciPy, by swapping in new storage: arrays that a caller
passed in are never written to.
"""

import operator

import numpy as np

from .. import _dispatch
from .._base import SparseArray, _is_scipy_sparse
from .._data import DataMixin, map_values
from .._device import device_of, is_gpu_array
from .._dtypes import VALUE_DTYPES, default_value_dtype, index_dtype_for, value_dtype
from . import registry
from .arguments import check_axis, check_diagonal_offset, check_order, coo_coordinates
from .coo import coo_array
from .._indexing.read import getitem_compressed as _getitem_compressed
from .csr1d import CSR1DMixin
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


class _compressed_array(DataMixin, SparseArray):
    """CSR and CSC (see the module docstring); not public."""

    #: True for CSR (rows are major), False for CSC.
    _row_major = True

    def __init__(self, arg, shape=None, dtype=None, copy=False, *, check=True, maxprint=None):
        if maxprint is not None:
            self.maxprint = operator.index(maxprint)
        if shape is not None:
            shape = check_shape(shape)
        if isinstance(arg, SparseArray):
            self._init_from_spla(arg, shape, dtype, copy)
        elif _is_cupyx_sparse(arg):
            m = arg.tocsr() if self._row_major else arg.tocsc()
            self._init_from_storage((m.data, m.indices, m.indptr), tuple(m.shape), dtype,
                                    copy and m is arg, check)
        elif _is_scipy_sparse(arg):
            self._init_from_scipy(arg, shape, dtype, copy, check)
        elif isinstance(arg, tuple) and _is_shape_tuple(arg):
            self._init_empty(check_shape(arg), shape, dtype)
        elif isinstance(arg, tuple) and len(arg) == 3:
            self._init_from_storage(arg, shape, dtype, copy, check)
        elif isinstance(arg, tuple) and len(arg) == 2:
            self._init_from_coo(arg, shape, dtype)
        elif isinstance(arg, tuple):
            raise ValueError(
                f"{type(self).__name__}: a tuple argument must be a shape (M, N), "
                f"(data, (row, col)) or (data, indices, indptr); got {len(arg)} items"
            )
        elif registry.foreign_converter(arg) is not None:  # pydata/sparse, torch sparse
            self._init_from_spla(registry.from_foreign(arg), shape, dtype, copy)
        else:
            self._init_from_dense(arg, shape, dtype)

    # -- storage: one immutable tuple, swapped whole -----------------------------------

    #: The storage tuple lives in a slot, outside ``__dict__`` (SciPy's tests compare
    #: ``__dict__`` entries that are tuples of arrays item by item).
    __slots__ = ("_storage",)

    #: Whether ``data`` is this array's own (a write may then go into it in place);
    #: snapshots and views never own it.
    _owns_data = False

    def __getstate__(self):
        st = self._storage
        flags = {k: st[5][k] for k in ("canonical", "sorted") if k in st[5]}
        return dict(self.__dict__), st[:5] + (flags,)

    def __setstate__(self, state):
        attrs, storage = state
        self.__dict__.update(attrs)
        self._storage = tuple(storage[:5]) + (dict(storage[5]),)

    def _set(self, data, indices, indptr, shape, derived=None):
        """Install storage (the only place it changes): ONE assignment of the tuple
        ``(data, indices, indptr, shape, device, derived)``, so that a reader in
        another thread sees the old storage or the new one, never a mixture. The
        derived-state cache travels in the tuple: a reader holding the old storage
        stores what it derives into the old cache, never into the new one."""
        self._storage = (data, indices, indptr, tuple(map(int, shape)), device_of(data),
                         {} if derived is None else derived)
        self._owns_data = False  # a write copies ``data`` once before writing into it
        _mirror(self, data, indices, indptr)

    @classmethod
    def _wrap(cls, storage):
        """An array of this class over ``storage`` (a storage tuple), without checks."""
        obj = cls.__new__(cls)
        obj._storage = storage
        _mirror(obj, storage[0], storage[1], storage[2])
        return obj

    @classmethod
    def _from_parts(cls, data, indices, indptr, shape, canonical=None, derived=None):
        """Wrap arrays that spla built itself and knows to be valid (no checks)."""
        obj = cls.__new__(cls)
        if derived is None:
            derived = {} if canonical is None else {"canonical": bool(canonical)}
        elif canonical is not None:
            derived["canonical"] = bool(canonical)
        obj._set(data, indices, indptr, shape, derived)
        return obj

    def _snap(self):
        """This array's storage as it is now, in an array of this class that nothing
        mutates: every operation that reads more than one storage array reads them
        from one snapshot (docs/architecture.md, "Readers and writers")."""
        obj = _new(type(self))
        obj._storage = self._storage
        return obj

    @property
    def _derived(self):
        """Cache of state derived from the storage, kept in the storage tuple (a swap
        of the storage replaces it too)."""
        return self._storage[5]

    def _invalidate(self):
        """Forget everything derived from the storage (a new, empty cache)."""
        st = self._storage
        self._storage = st[:5] + ({},)

    @property
    def _data(self):
        return self._storage[0]

    @property
    def _indices(self):
        return self._storage[1]

    @property
    def _indptr(self):
        return self._storage[2]

    @property
    def _shape(self):
        return self._storage[3]

    @property
    def _device(self):
        return self._storage[4]

    # -- construction ---------------------------------------------------------------

    def _init_empty(self, dims, shape, dtype):
        if shape is not None and shape != dims:
            raise ValueError(f"shape {shape} does not match {dims}")
        major, minor = self._swap(dims)
        idx = index_dtype_for(major, minor)
        dt = value_dtype(dtype) if dtype is not None else np.dtype(np.float64)
        self._set(np.empty(0, dtype=dt), np.empty(0, dtype=idx), np.zeros(major + 1, dtype=idx),
                  dims)
        self._derived["canonical"] = True

    def _init_from_storage(self, arg, shape, dtype, copy, check):
        data, indices, indptr = arg
        device = _common_device(data, indices, indptr)
        xp = _dispatch.array_module(device)
        data = as_1d(xp, data, "data")
        indices = as_1d(xp, indices, "indices")
        indptr = as_1d(xp, indptr, "indptr")
        check_integer(indices, "indices")
        check_integer(indptr, "indptr")
        name = type(self).__name__
        if shape is None:
            if indptr.size == 0:
                raise ValueError(f"{name}: indptr must have at least one element")
            if check and indices.size and int(indices.min()) < 0:
                raise ValueError(f"{name}: negative index; cannot infer the shape")
            major_minor = (indptr.size - 1, int(indices.max()) + 1 if indices.size else 0)
            shape = self._swap(major_minor)
        major, minor = self._swap(shape)
        target = _value_dtype(data.dtype, dtype)
        indices, indptr = unify_index_dtype(xp, indices, indptr, minor, copy)
        check_compressed(xp, indptr, indices, data, (major, minor), full=check, kind=name)
        data = data.astype(target) if data.dtype != target else (data.copy() if copy else data)
        self._set(data, indices, indptr, shape)

    def _init_from_coo(self, arg, shape, dtype):
        data, coords = arg
        coords = coo_coordinates(coords)
        device = _common_device(data, coords[0], coords[1])
        xp = _dispatch.array_module(device)
        row = as_1d(xp, coords[0], "row")
        col = as_1d(xp, coords[1], "col")
        data = as_1d(xp, data, "data")
        check_integer(row, "row")
        check_integer(col, "col")
        shape = check_coo(xp, data, row, col, shape)
        target = _value_dtype(data.dtype, dtype)
        major, minor = self._swap((row, col))
        nmaj, nmin = self._swap(shape)
        if device == "cpu" and _dispatch.has("coo_to_csr", "coo", "cpu"):
            d, i, p = _dispatch.lookup("coo_to_csr", "coo", "cpu")(
                data.astype(target, copy=False), major, minor, (nmaj, nmin),
                check=False)  # check_coo has checked every index's range
            self._set(d, i, p, shape)
            self._derived["canonical"] = True
            return
        idx = index_dtype_for(max(shape), data.size)
        triplets = (data.astype(target, copy=False), (major.astype(idx), minor.astype(idx)))
        if device == "cpu":
            import scipy.sparse as sp

            csr = sp.coo_array(triplets, shape=(nmaj, nmin)).tocsr()  # sums duplicates
        else:
            import cupyx.scipy.sparse as cusparse

            csr = cusparse.coo_matrix(triplets, shape=(nmaj, nmin)).tocsr()
            csr.sum_duplicates()
        indices, indptr = unify_index_dtype(xp, csr.indices, csr.indptr, nmin, False)
        self._set(csr.data.astype(target, copy=False), indices, indptr, shape)

    def _init_from_scipy(self, arg, shape, dtype, copy, check):
        if shape is not None and tuple(arg.shape) != shape:
            raise ValueError(f"shape {shape} does not match the SciPy array's {arg.shape}")
        if arg.ndim != 2:
            raise ValueError(f"{type(self).__name__} is 2-D; got a {arg.ndim}-D SciPy array")
        m = arg.asformat(self.format)
        self._init_from_storage(
            (m.data, m.indices, m.indptr), tuple(m.shape), dtype, copy and m is arg, check,
        )
        # SciPy may hold non-canonical storage and rewrite it in place later:
        # spla works on its own arrays from here on.

    def _init_from_dense(self, arg, shape, dtype):
        if is_gpu_array(arg):
            self._init_from_dense_gpu(arg, shape, dtype)
            return
        try:
            dense = np.asarray(arg)
        except (ValueError, TypeError) as exc:
            raise TypeError(
                f"cannot build a {type(self).__name__} from {type(arg).__name__}: {exc}"
            ) from None
        if dense.dtype == object:
            raise TypeError(f"cannot build a {type(self).__name__} from {type(arg).__name__}")
        if dense.ndim == 1:
            raise ValueError(
                f"{type(self).__name__} is 2-D; for a 1-D sparse array use spla.csr_array "
                f"or spla.coo_array "
                f"(got shape {dense.shape})"
            )
        if dense.ndim != 2:
            raise ValueError(f"dense input must be 2-D, got shape {dense.shape}")
        if shape is not None and dense.shape != shape:
            raise ValueError(f"shape {shape} does not match the dense input's {dense.shape}")
        target = _value_dtype(dense.dtype, dtype)
        major_view = dense if self._row_major else dense.T
        mask = major_view != 0
        counts = mask.sum(axis=1)
        nnz = int(counts.sum())
        idx = index_dtype_for(max(major_view.shape[1], nnz))
        indptr = np.zeros(major_view.shape[0] + 1, dtype=idx)
        np.cumsum(counts, out=indptr[1:])
        rows, cols = np.nonzero(mask)
        data = major_view[rows, cols].astype(target)
        self._set(data, cols.astype(idx), indptr, tuple(dense.shape))
        self._derived["canonical"] = True

    def _init_from_dense_gpu(self, dense, shape, dtype):
        import cupy

        if dense.ndim != 2:
            raise ValueError(f"dense input must be 2-D, got shape {dense.shape}")
        if shape is not None and dense.shape != shape:
            raise ValueError(f"shape {shape} does not match the dense input's {dense.shape}")
        target = _value_dtype(dense.dtype, dtype)
        major_view = dense if self._row_major else dense.T
        mask = major_view != 0
        nnz = int(mask.sum())
        idx = index_dtype_for(max(major_view.shape[1], nnz))
        indptr = cupy.zeros(major_view.shape[0] + 1, dtype=idx)
        indptr[1:] = cupy.cumsum(mask.sum(axis=1))
        rows, cols = cupy.nonzero(mask)
        self._set(major_view[rows, cols].astype(target), cols.astype(idx), indptr,
                  tuple(dense.shape))

    def _init_from_spla(self, arg, shape, dtype, copy):
        src = arg.asformat(self.format)
        if isinstance(src, _compressed_array):
            src = src._snap()  # one reading of a storage another thread may replace
        if shape is not None and src.shape != shape:
            raise ValueError(f"shape {shape} does not match the input's {src.shape}")
        target = value_dtype(dtype) if dtype is not None else src.dtype
        data = src.data.astype(target) if target != src.dtype else src.data
        indices, indptr = src.indices, src.indptr
        if copy:
            data = data.copy() if data is src.data else data
            indices, indptr = indices.copy(), indptr.copy()
        self._set(data, indices, indptr, src.shape)
        if src._derived.get("canonical"):
            self._derived["canonical"] = True

    # -- indexing (spla._indexing.read) ----------------------------------------------------

    def __getitem__(self, key):
        """``A[key]`` as SciPy's csr_array/csc_array (see ``spla._indexing.read``).

        Examples
        --------
        >>> import numpy as np, spla
        >>> A = spla.csr_array(np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]]))
        >>> A[1, 1], A[::2].toarray(), A[:, 0].toarray()
        (np.float64(2.0), array([[1., 0.],
               [3., 0.]]), array([1., 0., 3.]))
        """
        return _getitem_compressed(self._snap(), key)

    # -- the axis swap -------------------------------------------------------------------

    def _swap(self, pair):
        """``pair`` (a row thing, a column thing) in (major, minor) order."""
        return tuple(pair) if self._row_major else tuple(pair)[::-1]

    def _major(self):
        """A snapshot of this storage read as CSR: of the array itself for CSR, of its
        transpose for CSC (sharing the derived-state cache)."""
        st = self._storage
        obj = _new(csr_array)
        obj._storage = st if self._row_major else (st[0], st[1], st[2], st[3][::-1], st[4],
                                                   st[5])
        return obj

    def _from_major(self, csr):
        """A CSR result of an operation on ``_major()`` as an array of this format."""
        if self._row_major:
            return csr
        st = csr._storage
        return csc_array._wrap((st[0], st[1], st[2], st[3][::-1], st[4], st[5]))

    def _same_format(self, other):
        """``other`` (any spla array) in this format."""
        return other if other.format == self.format else other.asformat(self.format)

    # -- attributes ---------------------------------------------------------------------

    @property
    def data(self):
        """Stored values (1-D, length ``nnz``)."""
        return self._storage[0]

    @data.setter
    def data(self, values):
        data, indices, indptr, shape = self._storage[:4]
        values = np.asarray(values) if not is_gpu_array(values) else values
        if values.shape != data.shape:
            raise ValueError(f"data must have shape {data.shape}, got {values.shape}")
        self._set(values, indices, indptr, shape)

    @property
    def indices(self):
        """Minor index of each stored value (columns for CSR, rows for CSC)."""
        return self._storage[1]

    @property
    def indptr(self):
        """Major pointers: major slice ``i`` is ``data[indptr[i]:indptr[i+1]]``."""
        return self._storage[2]

    @property
    def _values(self):
        return self._storage[0]

    @property
    def shape(self):
        return self._storage[3]

    @property
    def dtype(self):
        return self._storage[0].dtype

    @property
    def nnz(self):
        """Number of stored entries, explicit zeros and duplicates included."""
        return int(self._storage[0].size)

    @property
    def nbytes(self):
        """Bytes of storage (data, indices and indptr)."""
        data, indices, indptr = self._storage[:3]
        return int(data.nbytes + indices.nbytes + indptr.nbytes)

    @property
    def device(self):
        """Where the storage lives (a ``Device``: ``"cpu"``, or ``"cuda:N"`` for CuPy)."""
        return self._storage[4]

    @property
    def has_canonical_format(self):
        """True when every major slice's indices are sorted and free of duplicates."""
        major = self._major()  # the flag is computed from and kept with one storage
        derived = major._derived
        cached = derived.get("canonical")
        if cached is None:
            cached = derived["canonical"] = bool(_backend("is_canonical", major)(major))
        return cached

    @property
    def has_sorted_indices(self):
        """True when every major slice's indices are sorted (duplicates allowed)."""
        major = self._major()
        derived = major._derived
        cached = derived.get("sorted")
        if cached is None:
            if derived.get("canonical"):
                return True
            cached = derived["sorted"] = bool(_sorted_slices(major))
        return cached

    @has_sorted_indices.setter
    def has_sorted_indices(self, value):
        # SciPy's setter: False makes sort_indices() sort again; True is not taken on
        # trust (spla's kernels rely on it): the flag is read from the storage again
        derived = self._derived
        derived.pop("canonical", None)
        derived.pop("sorted", None)
        if not value:
            derived["sorted"] = False
            derived["canonical"] = False

    # -- the format contract ----------------------------------------------------------------

    def transpose(self, axes=None, copy=False):
        """The transpose: a CSC array over this CSR array's storage (or the reverse).

        Examples
        --------
        >>> import numpy as np, spla
        >>> A = spla.csr_array(np.array([[1.0, 2.0], [0.0, 3.0]]))
        >>> A.T.format, A.T @ np.ones(2)
        ('csc', array([1., 5.]))
        """
        if axes is not None and (not isinstance(axes, (tuple, list))
                                 or tuple(axes) not in ((1, 0), (-1, -2))):
            raise ValueError(
                "Sparse arrays/matrices do not support an 'axes' parameter because "
                "swapping dimensions is the only logical permutation."
            )
        other = csc_array if self._row_major else csr_array
        data, indices, indptr, shape, device, derived = self._storage
        if copy:
            return other._from_parts(data.copy(), indices.copy(), indptr.copy(), shape[::-1],
                                     derived.get("canonical"))
        return other._wrap((data, indices, indptr, shape[::-1], device, derived))

    def toarray(self, order=None, out=None):
        """Dense array (duplicates summed).

        Parameters
        ----------
        order : {"C", "F"}, optional
            Memory layout of the result (default C).
        out : ndarray, optional
            Array of the right shape and dtype to write into.
        """
        if order is not None:
            order = check_order(order)
        if self._row_major:  # CSR: its own storage is the snapshot the backend reads once
            return _dispatch.lookup("toarray", "csr", self._storage[4])(self, order, out)
        major = self._major()
        flipped = {"C": "F", "F": "C", None: "F"}[order]
        if out is not None:
            _check_out(out, major.shape[::-1], major.dtype)
            _backend("toarray", major)(major, flipped, out.T)
            return out
        return _backend("toarray", major)(major, flipped, None).T

    def tocsr(self, copy=False):
        """The same array as a ``csr_array`` (CSC builds the transposed storage)."""
        if self._row_major:
            return self.copy() if copy else self
        return _backend("transpose", self)(self._major())

    def tocsc(self, copy=False):
        """The same array as a ``csc_array`` (CSR builds the transposed storage)."""
        if not self._row_major:
            return self.copy() if copy else self
        t = _backend("transpose", self)(self._major())
        st = t._storage
        return csc_array._wrap((st[0], st[1], st[2], st[3][::-1], st[4], st[5]))

    def to_scipy(self):
        """The SciPy sparse array of this format (CPU arrays only).

        It shares this array's memory when the storage is canonical (SciPy is told
        so, and its canonicalisation never rewrites it); otherwise it gets a
        canonical copy, so that SciPy's in-place canonicalisation can never change
        this array or the arrays it was built from. SciPy's explicitly in-place
        methods (``eliminate_zeros``, ``prune``, ``resize``, item assignment that
        inserts entries) write into shared memory, as they do into arrays handed
        to SciPy's own constructors: convert a copy (``A.copy().to_scipy()``) when
        the SciPy array is to be modified in place.
        """
        self._require_cpu("to_scipy")
        src = self._deduped()  # a snapshot (or a canonical copy of one)
        data, indices, indptr, shape = src._storage[:4]
        out = _scipy_compressed(self.format, data, indices, indptr, shape)
        out.has_canonical_format = True
        return out

    def copy(self):
        """A deep copy."""
        data, indices, indptr, shape, _, derived = self._storage
        out = self._from_parts(data.copy(), indices.copy(), indptr.copy(), shape,
                               derived.get("canonical"))
        out._owns_data = True
        return out

    def _with_data(self, data, copy=True, copy_structure=None):
        """A new array with this structure and ``data``. The structure is copied by
        default so that no two arrays a user holds share index arrays."""
        if copy_structure is not None:
            copy = copy_structure
        _, indices, indptr, shape, _, derived = self._storage
        if copy:
            indices, indptr = _copy(indices), _copy(indptr)
        return self._from_parts(data, indices, indptr, shape, derived.get("canonical"))

    def _stores(self, dtype):
        return np.dtype(dtype) in VALUE_DTYPES

    def _deduped(self):
        """A canonical snapshot of this array: the storage itself when it is canonical,
        else a canonical copy of it."""
        snap = self._snap()
        if snap.has_canonical_format:
            return snap
        c = snap.copy()
        c.sum_duplicates()
        return c

    def _move_to(self, device):
        xp = _dispatch.array_module(device)
        if device == "cpu":
            move = (lambda a: a.get())
        else:
            move = xp.asarray
        data, indices, indptr, shape, _, derived = self._storage
        return self._from_parts(move(data), move(indices), move(indptr), shape,
                                derived.get("canonical"))

    def _require_cpu(self, what):
        if self.device != "cpu":
            raise ValueError(f"{what} needs the array on the CPU; use .to_device('cpu') first")

    # -- in-place structure operations (SciPy's) -------------------------------------------------

    def sum_duplicates(self):
        """Sort the indices of every major slice and sum duplicates, in place."""
        snap = self._snap()
        if snap.has_canonical_format:
            return
        major = snap._major()
        if major.device != "cpu":
            c = _backend("sum_duplicates", major)(major)
        else:
            c = _backend("canonicalize", major)(major)
        self._set(c.data, c.indices, c.indptr, snap._shape, {"canonical": True})

    def sort_indices(self):
        """Sort the indices of every major slice, in place (duplicates kept)."""
        snap = self._snap()
        if snap.has_sorted_indices:
            return
        data, indices, indptr, shape = snap._major()._storage[:4]
        s = _scipy_compressed("csr", data.copy(), indices.copy(), indptr.copy(), shape)
        s.has_sorted_indices = False
        s.sort_indices()
        self._set(s.data, s.indices.astype(indices.dtype), s.indptr.astype(indptr.dtype),
                  snap._shape, {"sorted": True})

    def sorted_indices(self):
        """A copy with sorted indices."""
        c = self.copy()
        c.sort_indices()
        return c

    def eliminate_zeros(self):
        """Remove the explicitly stored zeros, in place."""
        self._drop_zeros()

    def _drop_zeros(self):
        """Remove stored zeros in place; whether there were any."""
        snap = self._snap()
        if snap.nnz == 0:
            return False
        nonzero = snap._data != 0
        if bool(nonzero.all()):
            return False
        canonical = snap._derived.get("canonical")
        major = snap._major()
        if major.device == "cpu":
            c = _backend("keep_where", major)(major, nonzero)
        else:
            c = _backend("eliminate_zeros", major)(major)
        self._set(c.data, c.indices, c.indptr, snap._shape,
                  {"canonical": True} if canonical else None)
        return True

    def prune(self):
        """Drop storage beyond ``nnz`` (spla never keeps any: a no-op kept for SciPy code)."""

    # -- products ------------------------------------------------------------------------------

    def _matmul_vector(self, x):
        major = self._major()
        _check_inner(self, major, x.shape[0])
        if self._row_major:
            return _backend("matvec", major)(major, x)
        return _backend("rmatvec", major)(major, x)

    def _matmul_matrix(self, X):
        major = self._major()
        _check_inner(self, major, X.shape[0])
        if self._row_major:
            return _backend("matmat", major)(major, X)
        return _backend("rmatmat", major)(major, X)

    def _matmul_sparse(self, other):
        if not self._row_major:
            return super()._matmul_sparse(other)
        major = self._major()
        return _backend("spgemm", major)(major, other.tocsr()._major())

    # -- elementwise -------------------------------------------------------------------------------

    def _add_sparse(self, other, sign):
        return self._elementwise_sparse(other, "add" if sign == 1 else "subtract")

    def _elementwise_sparse(self, other, op):
        if not isinstance(other, _compressed_array):
            other = self._same_format(other)
        elif other.format != self.format:
            other = self._same_format(other)
        result = _backend("elementwise", self)(self._major(), other._major(), op)
        if isinstance(result, np.ndarray):  # a dense result (SciPy's float division)
            return result if self._row_major else result.T
        return self._from_major(result)

    def _add_dense(self, dense, sign, reverse=False):
        xp = _dispatch.array_module(self.device)
        dt = np.result_type(self.dtype, dense.dtype)
        if sign == 1 and not reverse:
            major = self._major()
            if self._row_major:
                return _backend("add_dense", major)(major, dense, 1)
            return _backend("add_dense", major)(major, dense.T, 1).T
        # Subtraction in NumPy's promotion of the two dtypes: the sparse part is
        # scattered into a dense array, and NumPy subtracts (unsigned and bool
        # operands then behave exactly as in NumPy and SciPy).
        out = (self if self.dtype == dt else self.astype(dt)).toarray()
        if reverse:
            return xp.subtract(dense, out, out=out) if dense.dtype != np.bool_ or dt != np.bool_ \
                else dense ^ out
        if dt == np.bool_:
            return out ^ dense
        return xp.subtract(out, dense, out=out)

    def _multiply_dense(self, dense):
        if self._row_major:
            major = self._major()
            result = _backend("multiply_dense", major)(major, dense)
        else:
            xp = _dispatch.array_module(self.device)
            result = _backend("multiply_dense", self)(self._major(),
                                                      xp.broadcast_to(dense, self.shape).T)
        return self._from_major(result)

    def _multiply_broadcast_dense(self, dense, shape):
        return type(self)(np.multiply(self.toarray(), dense))

    def _multiply_broadcast_sparse(self, sparse):
        try:
            np.broadcast_shapes(self.shape, sparse.shape)
        except ValueError:
            raise ValueError(
                f"inconsistent shapes: multiply of {self.shape} and {sparse.shape}"
            ) from None
        return type(self)(np.multiply(self.toarray(), sparse.toarray()))

    def _scalar_binop(self, scalar, op):
        """``op(self, scalar)`` where ``op(0, scalar)`` is zero: only the non-zero
        results of the stored (deduplicated) entries are kept."""
        src = self._deduped()
        values = map_values(lambda v: op(v, scalar), src._data)
        out = src._with_data(values, copy=False)
        if not out._drop_zeros():  # nothing dropped: the structure is still src's
            out = src._with_data(values, copy=True)
        return out

    def _compare_scalar(self, scalar, op):
        """``op(self, scalar)`` where ``op(0, scalar)`` is false (a bool array)."""
        # Large arrays: one parallel count and copy. Small ones keep the NumPy path,
        # which costs fewer kernel launches (85 against 48 microseconds at 1,000 entries).
        src = self._deduped()
        if (src._device == "cpu" and src._data.size >= _COMPARE_KERNEL_MIN_NNZ
                and _dispatch.has("compare_scalar", "csr", "cpu")):
            return self._from_major(_backend("compare_scalar", src)(src._major(), op, scalar))
        return src._scalar_binop(scalar, op)

    def _divide_scalar(self, scalar):
        return DataMixin._divide_scalar(self, scalar)

    def _mul_scalar(self, scalar):
        return DataMixin._mul_scalar(self, scalar)

    # -- reductions ----------------------------------------------------------------------------------

    def sum(self, axis=None, dtype=None, out=None):
        """Sum of all entries (a scalar), or along ``axis`` (a dense 1-D array).

        Examples
        --------
        >>> import spla, numpy as np
        >>> A = spla.csr_array(np.array([[1.0, 2.0], [0.0, 3.0]]))
        >>> A.sum(), A.sum(axis=0), A.sum(axis=1)
        (np.float64(6.0), array([1., 5.]), array([3., 3.]))
        """
        if self.device == "cpu":
            return _backend("reduce", self)(self._snap(), "sum", axis=axis, dtype=dtype,
                                            out=out)
        axis = check_axis(axis, 2)
        major_axis = axis if axis is None or self._row_major else 1 - axis
        result = _backend("sum", self)(self._major(), major_axis)
        if dtype is not None:
            result = result.astype(dtype) if axis is not None else np.dtype(dtype).type(result)
        if out is not None:
            out[...] = result
            return out
        return result

    def mean(self, axis=None, dtype=None, out=None):
        """Mean over all entries or along ``axis`` (implicit zeros included), as SciPy.

        Examples
        --------
        >>> import spla, numpy as np
        >>> spla.csr_array(np.array([[1.0, 0.0], [2.0, 3.0]])).mean(axis=0)
        array([1.5, 1.5])
        """
        if self.device == "cpu":
            return _backend("reduce", self)(self._snap(), "mean", axis=axis, dtype=dtype,
                                            out=out)
        return super().mean(axis=axis, dtype=dtype, out=out)

    def diagonal(self, k=0):
        """The ``k``-th diagonal (``k > 0`` above the main one) as a dense 1-D array.

        Examples
        --------
        >>> import spla, numpy as np
        >>> spla.csr_array(np.array([[1.0, 2.0], [0.0, 3.0]])).diagonal(1)
        array([2.])
        """
        k = check_diagonal_offset(k, self.shape)
        m, n = self.shape
        if k <= -m or k >= n:
            return np.empty(0, dtype=self.dtype)
        if not self._row_major:
            k = -k
        return _backend("diagonal", self)(self._major(), k)

    def count_nonzero(self, axis=None):
        """Number of stored entries that are not zero (duplicates summed first), in all
        or along ``axis``."""
        if self.device == "cpu":
            return _backend("reduce", self)(self._snap(), "count_nonzero", axis=axis)
        axis = check_axis(axis, 2)
        xp = _dispatch.array_module(self.device)
        src = self._deduped()
        if axis is None:
            return int(xp.count_nonzero(src._data))
        return src.to_device("cpu").count_nonzero(axis=axis)

    def nonzero(self):
        """Row and column indices of the stored entries that are not zero."""
        data, indices, indptr, _, device, _ = self._storage
        xp = _dispatch.array_module(device)
        major = xp.repeat(xp.arange(indptr.size - 1, dtype=indices.dtype),
                          xp.diff(indptr).astype(np.int64))
        keep = data != 0
        rows, cols = self._swap((major[keep], indices[keep]))
        return rows, cols

    def _via_scipy(self, name, *args, **kwargs):
        """A SciPy method on a canonical copy (for operations without an spla kernel yet)."""
        s = self._deduped().to_scipy()
        return getattr(s, name)(*args, **kwargs)

    def _reduce(name):
        def method(self, axis=None, out=None, *, explicit=False):
            if self.device != "cpu":
                return getattr(self.to_device("cpu"), name)(axis=axis, out=out, explicit=explicit)
            result = _backend("reduce", self)(self._snap(), name, axis=axis, out=out,
                                              explicit=explicit)
            if isinstance(result, tuple):  # a 1-D sparse result, as COO triplets
                values, coords, shape = result
                return coo_array._from_parts(values, coords, shape, True)
            return result

        method.__name__ = name
        method.__doc__ = (f"``{name}`` over all entries or along ``axis`` (a 1-D array), as "
                          "SciPy's sparse arrays (implicit zeros take part unless ``explicit``).")
        return method

    max = _reduce("max")
    min = _reduce("min")
    nanmax = _reduce("nanmax")
    nanmin = _reduce("nanmin")
    argmax = _reduce("argmax")
    argmin = _reduce("argmin")
    del _reduce

    # -- shape changes and structure writes (SciPy's semantics) ------------------------------------

    def reshape(self, *args, order="C", copy=False):
        """The array with a new shape (same number of elements), in this format.

        A 1-D target gives a 1-D ``csr_array``. The entries move by index
        arithmetic on their coordinates (``spla._kernels.reshape``), without SciPy.

        Parameters
        ----------
        shape : int or tuple of ints
            The new shape (one dimension may be -1), 1-D or 2-D.
        order : {"C", "F"}
            Read and write the elements in row-major (C) or column-major order.
        copy : bool
            Copy even when the shape does not change.

        Examples
        --------
        >>> import numpy as np, spla
        >>> A = spla.csr_array(np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]]))
        >>> A.reshape((3, 2)).toarray()
        array([[1., 0.],
               [2., 0.],
               [3., 0.]])
        >>> A.reshape(-1, order="F").toarray()
        array([1., 0., 0., 3., 2., 0.])
        """
        from .coo import _reshape_target

        if order not in ("C", "F"):
            raise ValueError("'order' must be 'C' or 'F'")
        shape = _reshape_target(args, self.shape)
        if len(shape) > 2:
            raise ValueError(f"shape must be 1-D or 2-D for a {self.format}_array, got {shape}")
        if shape == self.shape:
            return self.copy() if copy else self
        self._require_cpu("reshape")
        target = shape if len(shape) == 2 else (1, shape[0])
        src = self._deduped()
        major = src._major()
        if self._row_major:
            d, i, p = _backend("reshape", self)(major, target, order)
            if len(shape) == 1:
                return csr_array._from_parts(d, i, p, shape, True)
            return type(self)._from_parts(d, i, p, shape, True)
        # CSC: the transposed storage read as CSR; reshape(A, C) = reshape(A^T, F)^T
        flipped = "F" if order == "C" else "C"
        d, i, p = _backend("reshape", self)(major, target[::-1], flipped)
        if len(shape) == 1:
            return csc_array._from_parts(d, i, p, target, True).tocsr().reshape(shape)
        return csc_array._from_parts(d, i, p, shape, True)

    def resize(self, *shape):
        """Change the shape in place, dropping or zero-padding entries (as SciPy)."""
        self._require_cpu("resize")
        s = self._deduped().to_scipy().copy()
        s.resize(*shape)
        s = s.asformat(self.format)
        self._set(s.data, s.indices, s.indptr, s.shape)

    # -- writing (SciPy's __setitem__ and setdiag) ---------------------------------------------

    def __setitem__(self, key, x):
        """``A[key] = x`` with SciPy's semantics (see docs/api.md, "Writing").

        Stored entries are overwritten in place (explicit zeros stay stored), absent
        ones are inserted in one pass over the rows, the last of several writes to
        one entry wins. Everything derived from the storage is forgotten.

        Examples
        --------
        >>> import numpy as np, spla
        >>> A = spla.csr_array(np.eye(3))
        >>> A[0, 2] = 5.0
        >>> A[1:, 0] = [7.0, 8.0]
        >>> A.toarray()
        array([[1., 0., 5.],
               [7., 1., 0.],
               [8., 0., 1.]])
        """
        if type(key) is tuple and len(key) == 2 and self._device == "cpu":
            r, c = key
            if type(r) in _INT_TYPES and type(c) in _INT_TYPES:
                r, c = int(r), int(c)
                m, n = self._shape
                if -m <= r < m and -n <= c < n:
                    self._set_scalar(r + m if r < 0 else r, c + n if c < 0 else c, x)
                    return
        from .._indexing.assign import assign

        assign(self._shape, self.dtype, key, x, self._write_entries, self._zero_entries,
               self.format, device=self._device)

    def _set_scalar(self, row, col, x):
        from .._indexing.assign import scalar_value

        data, indices, indptr = self._storage[:3]
        v = scalar_value(x, data.dtype)
        i, j = (row, col) if self._row_major else (col, row)
        sorted_rows = self._rows_sorted()
        if self._owns_data:
            o = _backend("find_entry", self)(indptr, indices, i, j, sorted_rows)
            if o >= 0:
                data[o] = v[0]
                self._values_written()
                return
        self._write_entries(np.array([row], np.int64), np.array([col], np.int64), v)

    def _rows_sorted(self):
        """Whether every major slice is sorted (one pass that also tells whether the
        storage is canonical; both are kept in the derived-state cache)."""
        _, indices, indptr, _, _, derived = self._storage
        known = derived.get("sorted")
        if known is not None:
            return known
        if derived.get("canonical"):
            return True
        rows_sorted, canonical = _backend("row_order", self)(indptr, indices)
        derived["sorted"] = rows_sorted
        derived["canonical"] = canonical
        return rows_sorted

    def _values_written(self):
        """Forget what was derived from the values (the structure flags stay true): a
        new cache, swapped in with the same arrays, so that a reader still working on
        the old values stores its results in the old cache; the old cache is emptied
        too, for the views that share this storage (A.T)."""
        st = self._storage
        derived = st[5]
        keep = {k: derived[k] for k in ("canonical", "sorted") if k in derived}
        self._storage = st[:5] + (dict(keep),)
        derived.clear()
        derived.update(keep)

    def _install(self, data, indices, indptr, status, flags):
        if status == "values" and data is self._data:
            self._values_written()
            return
        # values only, or entries inserted: sorted rows stay sorted, no duplicates added
        derived = {"canonical": True} if status == "canonical" else dict(flags)
        self._set(data, indices, indptr, self._shape, derived)
        self._owns_data = True

    def _flags(self):
        return {k: v for k, v in self._derived.items() if k in ("canonical", "sorted")}

    def _write_entries(self, rows, cols, values):
        """Write ``values`` at (rows, cols) (int64, in range; values of this dtype)."""
        i, j = self._swap((rows, cols))
        sorted_rows = self._rows_sorted()
        flags = self._flags()
        flags["sorted"] = sorted_rows
        data, indices, indptr, shape = self._storage[:4]
        out = _backend("write_entries", self)(
            data, indices, indptr, self._swap(shape), i, j,
            np.ascontiguousarray(values, dtype=data.dtype), sorted_rows, self._owns_data)
        self._install(*out, flags)

    def _zero_entries(self, rows, cols):
        """Set the stored entries among (rows, cols) to zero (nothing inserted)."""
        i, j = self._swap((rows, cols))
        sorted_rows = self._rows_sorted()
        flags = self._flags()
        flags["sorted"] = sorted_rows
        data, indices, indptr, shape = self._storage[:4]
        out = _backend("zero_entries", self)(
            data, indices, indptr, self._swap(shape), i, j, sorted_rows, self._owns_data)
        self._install(*out, flags)

    def setdiag(self, values, k=0):
        """Set the ``k``-th diagonal to ``values`` (a scalar or a sequence), in place.

        As SciPy: a sequence shorter than the diagonal sets its first entries, a
        longer one is cut; stored entries are overwritten and absent ones
        inserted (zeros too), in one pass over the rows.

        Examples
        --------
        >>> import numpy as np, spla
        >>> A = spla.csr_array(np.zeros((2, 3)))
        >>> A.setdiag([1.0, 2.0], k=1)
        >>> A.toarray()
        array([[0., 1., 0.],
               [0., 0., 2.]])
        """
        M, N = self.shape
        k = operator.index(k)
        if (k > 0 and k >= N) or (k < 0 and -k >= M):
            raise ValueError("k exceeds array dimensions")
        if self.device != "cpu":
            raise NotImplementedError(
                f"setdiag of a {type(self).__name__} on {self.device} is not implemented; "
                "use the CPU (A.to_device('cpu'))"
            )
        rows, cols, x = _diagonal_targets(self.shape, np.asarray(values), k, self.dtype)
        if x.size:
            self._write_entries(rows, cols, x)


#: Key types of the scalar write's fast path (bool is not among them: SciPy reads it
#: through the normaliser).
_INT_TYPES = frozenset((int, np.int64, np.int32, np.intp, np.uint32, np.uint64))


def _diagonal_targets(shape, values, k, dtype):
    """SciPy's ``_setdiag`` targets and values: (rows, cols, values) of the diagonal."""
    M, N = shape
    n = min(M + k, N) if k < 0 else min(M, N - k)
    if values.ndim != 0:
        n = min(n, len(values))
    n = max(n, 0)
    d = np.arange(n, dtype=np.int64)
    rows, cols = (d - k, d) if k < 0 else (d, d + k)
    if values.ndim != 0:
        values = values[:n]
    x = np.atleast_1d(np.asarray(values, dtype=dtype)).ravel()
    if x.squeeze().shape != rows.squeeze().shape:
        x = np.broadcast_to(x, rows.shape)
    return rows, cols, np.ascontiguousarray(x)


class csr_array(CSR1DMixin, _compressed_array):
    """Compressed sparse row array.

    Parameters
    ----------
    arg : tuple, array_like, SciPy sparse or spla array
        One of

        - ``(M, N)``: an empty M x N array (``dtype`` float64 unless given).
        - ``(data, indices, indptr)``: CSR storage. Arrays are used as given
          (no copy) when they are contiguous with a supported dtype and
          ``copy=False``; ``indices`` and ``indptr`` keep int32 or int64 when
          both have it, else both become the smallest of the two that fits.
        - ``(data, (row, col))`` or ``(data, ij)`` with ``ij`` of shape
          ``(2, nnz)``: COO triplets; duplicates are summed.
        - a dense 2-D array-like; zeros are not stored.
        - any SciPy sparse matrix or array (COO, CSR, CSC, BSR, DIA, LIL, DOK).
        - another spla array.
    shape : tuple of 2 ints, optional
        Required only when it cannot be inferred (inferred from ``indptr``
        and the largest column index, or from the largest COO indices).
    dtype : dtype, optional
        Any dtype of SciPy's sparse arrays (bool, signed and unsigned integers,
        float32/64, complex64/128). By default the input's (float16 becomes
        float32; big-endian input is stored native).
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
    >>> spla.csr_array((2, 3)).nnz, spla.csr_array(np.eye(2, dtype=np.int8)).dtype
    (0, dtype('int8'))
    """

    format = "csr"
    _row_major = True


class csc_array(_compressed_array):
    """Compressed sparse column array: CSR's storage with columns as the major axis.

    ``A.T`` of a ``csr_array`` is a ``csc_array`` over the same storage (no copy),
    and the reverse. ``csc_array @ x`` runs the scatter kernel over the stored
    columns; every operation runs the CSR kernel on the transposed reading.

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
    _row_major = False


#: Comparisons with a scalar of at least this many stored entries run the CPU
#: backend's ``compare_scalar`` (below it, NumPy passes cost less than the launches).
_COMPARE_KERNEL_MIN_NNZ = 1 << 16


_new = object.__new__


def _mirror(obj, data, indices, indptr):
    """The storage arrays, also in the instance ``__dict__`` where SciPy's test helpers
    (``sparse_may_share_memory``, ``test_pickle``) look for a sparse array's arrays.
    Nothing in spla reads them: the properties of the same names read the storage
    tuple, which the data descriptors find first."""
    d = obj.__dict__
    d["_data"], d["_indices"], d["_indptr"] = data, indices, indptr


def _copy(a):
    """A copy of a storage array (by all threads for large NumPy arrays)."""
    if type(a) is np.ndarray and _dispatch.has("copy_array", "any", "cpu"):
        return _dispatch.lookup("copy_array", "any", "cpu")(a)
    return a.copy()


def _value_dtype(input_dtype, requested):
    return value_dtype(requested) if requested is not None else default_value_dtype(input_dtype)


def _is_shape_tuple(arg):
    return len(arg) == 2 and all(
        isinstance(d, (int, np.integer)) and not isinstance(d, (bool, np.bool_)) for d in arg
    )


def _is_cupyx_sparse(arg):
    return type(arg).__module__.startswith("cupyx.scipy.sparse")


def _common_device(*arrays):
    devices = {"cuda" if is_gpu_array(a) else "cpu" for a in arrays}
    if len(devices) > 1:
        raise ValueError("input arrays live on different devices (some NumPy, some CuPy)")
    return devices.pop()


def _check_inner(array, major, inner):
    """Refuse an operand whose length no longer matches the snapshot ``major`` (the
    array was resized by another thread after the operand was checked)."""
    if major._storage[3][1 if array._row_major else 0] != inner:
        raise ValueError(f"matmul: dimension mismatch: {type(array).__name__} of shape "
                         f"{array.shape} (resized during the call) against an operand "
                         f"of {inner} rows")


def _check_out(out, shape, dtype):
    if not isinstance(out, np.ndarray) or out.shape != tuple(shape) or out.dtype != dtype:
        raise ValueError(f"out must be a NumPy array of shape {shape} and dtype {dtype}")


def _sorted_slices(major):
    indptr, indices = major.indptr, major.indices
    if indices.size < 2:
        return True
    steps = np.diff(indices.astype(np.int64))
    starts = indptr[1:-1]
    ok = steps >= 0
    # the step that crosses into a new slice does not count
    crossing = starts[(starts > 0) & (starts < indices.size)] - 1
    ok[crossing] = True
    return bool(ok.all())


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


def _to_csr(a):
    if isinstance(a, SparseArray):
        return a.tocsr()
    return csr_array(a)


def _to_csc(a):
    if isinstance(a, SparseArray):
        return a.tocsc()
    return csc_array(a)


registry.register_format("csr", _to_csr, scipy_formats=("csr", "bsr", "lil", "dok", "dia"))
registry.register_format("csc", _to_csc, scipy_formats=("csc",))
