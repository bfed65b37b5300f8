"""Coordinate (COO) arrays of any number of dimensions, as SciPy's ``coo_array``.

``coo_array`` owns ``data`` (the stored values) and ``coords``, a tuple of one
index array per dimension: entry ``k`` is ``data[k]`` at position
``tuple(c[k] for c in coords)``. Entries may come in any order and the same
position may be stored several times (the values add up); ``sum_duplicates``
sorts the entries in C order and merges them, in place, as SciPy does.

Semantics are SciPy's (1.17): 2-D arithmetic between sparse operands goes
through CSR and gives ``csr_array``; scaling, ``abs``, ``astype`` and
multiplication by a dense array keep COO; ``reshape`` and ``transpose`` are
O(nnz) rewrites of the coordinates. spla's CSR is 2-D, so 1-D and n-D COO
arrays do their sparse arithmetic themselves and stay COO.

Index arrays are int32 when every dimension fits in it and int64 otherwise;
arrays of more than two dimensions use int64 (SciPy's rule). The arrays live
on the CPU or, with CuPy storage (``to_device("cuda")``), on a GPU: there the
operations that need more than the values (conversions, sums, products,
canonical form, ``toarray``) run through the ``"coo"`` entries of the dispatch
table for ``"cuda"`` (``spla_cuda.coo``), mostly through GPU CSR.
"""

import functools
import math
import operator

import numpy as np

from .. import _dispatch
from .._device import device_of, is_gpu_array
from .._base import SparseArray, _is_scalar, _is_scipy_sparse
from .._data import DataMixin, cast_values
from .._dtypes import VALUE_DTYPES, default_value_dtype, result_dtype, value_dtype
from .._kernels import coo as _k
from . import registry

_INT32_MAX = int(np.iinfo(np.int32).max)
_INT64_MAX = int(np.iinfo(np.int64).max)
_MAX_NDIM = 64


# -- shapes and index dtypes --------------------------------------------------------


def _is_intlike(x):
    if np.ndim(x) != 0 or isinstance(x, (bool, np.bool_)):
        return False
    try:
        operator.index(x)
    except TypeError:
        return False
    return True


def _is_shape(arg):
    return 1 <= len(arg) <= _MAX_NDIM and all(_is_intlike(d) for d in arg)


def _check_shape(shape):
    """``shape`` as a tuple of 1 to 64 non-negative Python ints."""
    if _is_intlike(shape):
        shape = (shape,)
    try:
        dims = tuple(operator.index(d) for d in shape)
    except TypeError:
        raise TypeError(f"shape must be a tuple of integers, got {shape!r}") from None
    if not 1 <= len(dims) <= _MAX_NDIM:
        raise ValueError(f"shape must have 1 to {_MAX_NDIM} dimensions, got {dims!r}")
    if any(d < 0 for d in dims):
        raise ValueError("'shape' elements cannot be negative")
    return dims


def _reshape_target(args, current):
    """The new shape of ``reshape(*args)`` (one ``-1`` allowed), checked against the size."""
    if len(args) == 0:
        raise TypeError("reshape() missing 1 required positional argument: 'shape'")
    if len(args) == 1 and not _is_intlike(args[0]):
        args = tuple(args[0])
    try:
        dims = tuple(operator.index(d) for d in args)
    except TypeError:
        raise TypeError(f"shape must be a tuple of integers, got {args!r}") from None
    size = math.prod(current)
    unknown = [i for i, d in enumerate(dims) if d < 0]
    if len(unknown) > 1:
        raise ValueError("can only specify one unknown dimension")
    if unknown:
        i = unknown[0]
        known = math.prod(dims[:i] + dims[i + 1:])
        fill, rest = divmod(size, known) if known else (0, size)
        if rest or (known == 0 and size != 0):
            shown = tuple("newshape" if d < 0 else d for d in dims)
            raise ValueError(f"cannot reshape array of size {size} into shape {shown}")
        dims = dims[:i] + (fill,) + dims[i + 1:]
    elif math.prod(dims) != size:
        raise ValueError(f"cannot reshape array of size {size} into shape {dims}")
    if not 1 <= len(dims) <= _MAX_NDIM:
        raise ValueError(f"shape must have 1 to {_MAX_NDIM} dimensions, got {dims!r}")
    return dims


def _index_dtype(shape, arrays=()):
    """SciPy's rule for sparse arrays: int64 for more than two dimensions, for a
    dimension beyond int32, or when an input index array has a dtype that int32
    cannot hold (contents are not inspected); int32 otherwise."""
    if len(shape) > 2 or (shape and max(shape) > _INT32_MAX):
        return np.dtype(np.int64)
    if any(not np.can_cast(a.dtype, np.int32) for a in arrays):
        return np.dtype(np.int64)
    return np.dtype(np.int32)


def _ravel(coords, shape, order="C"):
    """Flat int64 positions of ``coords`` in an array of ``shape`` (C or F order)."""
    if math.prod(shape) > _INT64_MAX:
        raise ValueError(f"shape {shape} has more elements than int64 can number")
    if len(coords) == 1:
        return coords[0].astype(np.int64)
    axes = range(len(shape)) if order == "C" else range(len(shape) - 1, -1, -1)
    flat = None
    for i in axes:
        c = coords[i].astype(np.int64)
        flat = c if flat is None else flat * shape[i] + c
    return flat


def _unravel(flat, shape, dtype, order="C"):
    """Coordinates (of ``dtype``) of the flat int64 positions in an array of ``shape``."""
    coords = [None] * len(shape)
    rest = flat
    axes = range(len(shape) - 1, -1, -1) if order == "C" else range(len(shape))
    last = axes[-1]
    for i in axes:
        if i == last:
            coords[i] = rest.astype(dtype)
        else:
            rest, c = np.divmod(rest, shape[i])
            coords[i] = c.astype(dtype)
    return tuple(coords)


def _validate_axis(axis, ndim):
    """SciPy's ``validateaxis``: a sorted tuple of axes, or None for all of them."""
    if axis is None:
        return None
    if axis == ():
        raise ValueError("sparse does not accept 0D axis (). Either use toarray (for "
                         "dense) or copy (for sparse).")
    if not isinstance(axis, tuple):
        if not _is_intlike(axis):
            raise TypeError(f"axis must be an integer/tuple of ints, not {type(axis)}")
        axis = (axis,)
    canon = []
    for ax in axis:
        if not _is_intlike(ax):
            raise TypeError(f"axis must be an integer. (given {ax})")
        ax = operator.index(ax)
        if ax < 0:
            ax += ndim
        if ax < 0 or ax >= ndim:
            raise ValueError(f"axis {axis} is out of range for a {ndim}-D array")
        canon.append(ax)
    if len(canon) != len(set(canon)):
        raise ValueError("duplicate value in axis")
    if len(canon) == ndim:
        return None
    return tuple(canon)


@functools.lru_cache(maxsize=64)
def _deduped_if_narrow(method):
    """Run ``method`` on the canonical form when the values are bool or narrow
    integers and duplicates are stored: SciPy sums duplicates in the values' own
    dtype before these operations (a bool's duplicates count once, int8 wraps)."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        snap = self._snap()  # the method reads one snapshot of the storage
        if _narrow(snap.dtype) and not snap.has_canonical_format:
            return method(snap._deduped(), *args, **kwargs)
        return method(snap, *args, **kwargs)

    return wrapper


def _narrow(dtype):
    """bool and integers: summing their duplicates in their own dtype (as SciPy does
    first: bools saturate, integers wrap) can differ from summing them wider."""
    return dtype.kind in "biu"


def _sum_dtype(dtype):
    """The dtype of NumPy's sum of ``dtype`` values (small integers widen)."""
    return np.zeros(1, dtype=dtype).sum().dtype


# -- the format ---------------------------------------------------------------------


class coo_array(DataMixin, SparseArray):
    """Sparse array in coordinate format, of one or more dimensions.

    Parameters
    ----------
    arg1 : tuple, array_like, SciPy sparse or spla array
        One of

        - ``(M, N)`` or any shape tuple: an empty array of that shape.
        - ``(data, (row, col))`` or ``(data, coords)`` with one index array per
          dimension: the entries, in any order; duplicates are kept (they add up).
        - a dense array-like (any number of dimensions); zeros are not stored.
        - a SciPy sparse array or matrix, or another spla array.
    shape : tuple of ints, optional
        Inferred from the largest index on each axis when not given.
    dtype : dtype, optional
        Value dtype. Defaults to float64 for the empty constructor and to
        the input's dtype (under spla's dtype policy) otherwise.
    copy : bool, default False
        Copy the input arrays even when they could be shared.

    Attributes
    ----------
    coords : tuple of ndarray
        The index arrays (int32 when every dimension fits, int64 otherwise or
        for more than two dimensions).
    data : ndarray
        The stored values.
    has_canonical_format : bool
        True when the entries are sorted in C order without duplicates.

    Examples
    --------
    >>> import numpy as np, spla
    >>> A = spla.coo_array((np.array([1.0, 2.0, 3.0]), ([0, 1, 1], [2, 0, 0])), shape=(2, 3))
    >>> A.toarray()
    array([[0., 0., 1.],
           [5., 0., 0.]])
    >>> A.nnz, A.has_canonical_format
    (3, False)
    >>> v = spla.coo_array(np.array([0.0, 2.0, 0.0, 4.0]))
    >>> v.coords, v @ np.ones(4)
    ((array([1, 3], dtype=int32),), np.float64(6.0))
    """

    format = "coo"

    def __init__(self, arg1, shape=None, dtype=None, copy=False, *, maxprint=None):
        if isinstance(arg1, tuple) and _is_shape(arg1):
            dims = _check_shape(arg1)
            dt = value_dtype(dtype) if dtype is not None else np.dtype(np.float64)
            idx = _index_dtype(dims)
            self._set(tuple(np.empty(0, dtype=idx) for _ in dims), np.empty(0, dtype=dt),
                      dims, True)
        elif isinstance(arg1, tuple):
            try:
                obj, coords = arg1
            except (TypeError, ValueError):
                raise TypeError("invalid input format") from None
            self._init_from_triplets(obj, coords, shape, dtype, copy)
        elif isinstance(arg1, SparseArray):
            self._init_from_sparse(arg1, shape, dtype, copy)
        elif _is_scipy_sparse(arg1):
            self._init_from_sparse(arg1, shape, dtype, copy)
        elif registry.foreign_converter(arg1) is not None:  # pydata/sparse, torch sparse
            self._init_from_sparse(registry.from_foreign(arg1), shape, dtype, copy)
        else:
            self._init_from_dense(arg1, shape, dtype)

    # -- construction -------------------------------------------------------------

    # -- storage: one immutable tuple, swapped whole (docs/architecture.md) ------------

    __slots__ = ("_storage",)

    def _set(self, coords, data, shape, canonical):
        """Install storage (the only place it changes, with the setters below): ONE
        assignment of the tuple ``(coords, data, shape, device, derived)``, so that a
        reader in another thread sees the old storage or the new one, never a mixture.
        The canonical flag lives in the derived-state cache, inside the tuple."""
        self._storage = (tuple(coords), data, tuple(map(int, shape)), device_of(data),
                         {"canonical": bool(canonical)})

    def __getstate__(self):
        st = self._storage
        return dict(self.__dict__), st[:4] + ({"canonical": st[4]["canonical"]},)

    def __setstate__(self, state):
        attrs, storage = state
        self.__dict__.update(attrs)
        self._storage = tuple(storage[:4]) + (dict(storage[4]),)

    def _snap(self):
        """This array's storage as it is now, in a ``coo_array`` that nothing mutates:
        every operation that reads more than one storage array reads one snapshot."""
        obj = object.__new__(type(self))
        obj._storage = self._storage
        return obj

    @property
    def _derived(self):
        """Cache of state derived from the storage, kept in the storage tuple."""
        return self._storage[4]

    def _invalidate(self):
        st = self._storage
        self._storage = st[:4] + ({"canonical": st[4]["canonical"]},)

    @property
    def coords(self):
        """The index arrays, one per dimension (a tuple)."""
        return self._storage[0]

    @coords.setter
    def coords(self, new_coords):
        # as SciPy: no check here (``nnz`` and the operations check the lengths); the
        # canonical flag stays what it was, as SciPy's plain attribute does
        _, data, shape, device, derived = self._storage
        self._storage = (tuple(new_coords), data, shape, device,
                         {"canonical": derived["canonical"]})

    @property
    def data(self):
        """The stored values."""
        return self._storage[1]

    @data.setter
    def data(self, values):
        coords, _, shape, _, derived = self._storage
        values = values if is_gpu_array(values) else np.asarray(values)
        self._storage = (coords, values, shape, device_of(values),
                         {"canonical": derived["canonical"]})

    @property
    def has_canonical_format(self):
        """Whether the entries are sorted in C order without duplicates."""
        return self._storage[4]["canonical"]

    @has_canonical_format.setter
    def has_canonical_format(self, value):
        st = self._storage
        self._storage = st[:4] + ({"canonical": bool(value)},)

    @property
    def _shape(self):
        return self._storage[2]

    @classmethod
    def _from_parts(cls, data, coords, shape, canonical=False):
        """Wrap arrays that spla built itself and knows to be valid (no checks)."""
        obj = cls.__new__(cls)
        obj._set(coords, data, shape, canonical)
        return obj

    def _init_from_triplets(self, obj, coords, shape, dtype, copy):
        if isinstance(coords, np.ndarray) and coords.ndim == 2:
            coords = tuple(coords)
        if not isinstance(coords, (tuple, list)):
            raise TypeError("invalid input format: coordinates must be a tuple of index arrays")
        idx_in = []
        for i, c in enumerate(coords):
            c = np.asarray(c)
            if c.dtype.kind not in "iu":
                if c.size == 0 and c.dtype.kind == "f":
                    c = c.astype(np.int64)  # ``[]`` is float64 in NumPy
                else:
                    raise TypeError(
                        f"coo_array: index array {i} must hold integers, got dtype {c.dtype.name}"
                    )
            if c.ndim != 1:
                raise ValueError("coordinates and data arrays must be 1-D")
            idx_in.append(c)
        data = _as_values(obj)
        if data.ndim != 1:
            raise ValueError("coordinates and data arrays must be 1-D")
        if shape is None:
            if any(c.size == 0 for c in idx_in):
                raise ValueError("cannot infer dimensions from zero sized index arrays")
            shape = tuple(int(c.max()) + 1 for c in idx_in)
        dims = _check_shape(shape)
        if len(idx_in) != len(dims):
            raise ValueError("mismatching number of index arrays for shape; "
                             f"got {len(idx_in)}, expected {len(dims)}")
        if any(c.size != data.size for c in idx_in):
            raise ValueError("all index and data arrays must have the same length")
        for i, c in enumerate(idx_in):
            if c.size:
                hi = int(c.max())
                if hi >= dims[i]:
                    raise ValueError(f"axis {i} index {hi} exceeds matrix dimension {dims[i]}")
                lo = int(c.min())
                if lo < 0:
                    raise ValueError(f"negative axis {i} index: {lo}")
        idx = _index_dtype(dims, idx_in)
        out_coords = tuple(np.array(c, dtype=idx, copy=True if copy else None, order="C")
                           for c in idx_in)
        target = _target_dtype(data.dtype, dtype)
        data = np.array(data, dtype=target, copy=True if copy else None, order="C")
        self._set(out_coords, data, dims, False)

    def _init_from_sparse(self, arg, shape, dtype, copy):
        if isinstance(arg, SparseArray):
            arg = arg._snap()  # one reading of the source array's storage
        if shape is not None and _check_shape(shape) != tuple(arg.shape):
            raise ValueError(f"inconsistent shapes: {tuple(shape)} != {tuple(arg.shape)}")
        if isinstance(arg, coo_array):
            src, canonical = arg, arg.has_canonical_format
        elif isinstance(arg, SparseArray):
            src, canonical = _to_coo(arg, copy=False), False
        else:
            if arg.format == "coo" and copy:
                canonical = arg.has_canonical_format
                src = arg
            else:
                src = arg.tocoo(copy=False)
                canonical = False
        if type(src.data) is not np.ndarray and is_gpu_array(src.data):
            # CuPy storage stays on its device (no check: spla built it)
            dims = _check_shape(tuple(src.shape))
            idx = _index_dtype(dims, src.coords)
            coords = tuple(c.astype(idx, copy=bool(copy)) for c in src.coords)
            target = value_dtype(dtype) if dtype is not None else default_value_dtype(
                src.data.dtype)
            self._set(coords, src.data.astype(target, copy=bool(copy)), dims, canonical)
            return
        dims = _check_shape(tuple(src.shape))
        idx = _index_dtype(dims, src.coords)
        coords = tuple(np.array(c, dtype=idx, copy=True if copy else None, order="C")
                       for c in src.coords)
        data = np.asarray(src.data)
        target = value_dtype(dtype) if dtype is not None else default_value_dtype(data.dtype)
        if data.dtype.byteorder not in ("=", "|"):
            data = data.astype(data.dtype.newbyteorder("="))
        data = np.array(data, dtype=target, copy=True if copy else None, order="C")
        self._set(coords, data, dims, canonical)

    def _init_from_dense(self, arg, shape, dtype):
        if is_gpu_array(arg):
            raise TypeError("coo_array lives on the CPU; pass a NumPy array (cupy.asnumpy)")
        try:
            dense = np.asarray(arg)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"cannot build a coo_array from {type(arg).__name__}: {exc}") from None
        if dense.dtype == object:
            raise TypeError(f"cannot build a coo_array from {type(arg).__name__}")
        if dense.ndim == 0:
            raise ValueError("spla sparse arrays cannot be built from a scalar")
        dims = _check_shape(dense.shape)
        if shape is not None and _check_shape(shape) != dims:
            raise ValueError(f"inconsistent shapes: {tuple(shape)} != {dims}")
        target = _target_dtype(dense.dtype, dtype)
        idx = _index_dtype(dims)
        nonzero = np.nonzero(dense)
        coords = tuple(c.astype(idx) for c in nonzero)
        data = np.ascontiguousarray(dense[nonzero]).astype(target, copy=False)
        if data.dtype.byteorder not in ("=", "|"):
            data = data.astype(data.dtype.newbyteorder("="))
        self._set(coords, data, dims, True)

    # -- attributes -----------------------------------------------------------------

    @property
    def shape(self):
        return self._storage[2]

    @property
    def ndim(self):
        return len(self._storage[2])

    @property
    def dtype(self):
        return self._storage[1].dtype

    @property
    def nnz(self):
        """Number of stored entries, explicit zeros and duplicates included."""
        coords, data = self._storage[:2]
        nnz = len(data)
        if any(len(c) != nnz for c in coords):
            raise ValueError("all index and data arrays must have the same length")
        return int(nnz)

    @property
    def size(self):
        """Number of stored entries (SciPy's ``size``: same as ``nnz``)."""
        return self.nnz

    @property
    def nbytes(self):
        """Bytes of storage (data and index arrays)."""
        coords, data = self._storage[:2]
        return int(data.nbytes + sum(c.nbytes for c in coords))

    @property
    def device(self):
        """Where the storage lives (a ``Device``: ``"cpu"``, or ``"cuda:N"`` for CuPy)."""
        return self._storage[3]

    def _gpu(self, op):
        """The dispatch table's entry ``op`` for this array's device, or None on the CPU
        (the CPU code is this class's own)."""
        data, device = self._storage[1], self._storage[3]
        if type(data) is np.ndarray or not is_gpu_array(data):
            return None
        return _dispatch.lookup(op, "coo", device)

    def _move_to(self, device):
        s = self._snap()  # one reading of the storage
        if device == "cpu":
            move = (lambda a: a.get())
        else:
            move = _dispatch.array_module(device).asarray
        return s._from_parts(move(s.data), tuple(move(c) for c in s.coords),
                                s._shape, s.has_canonical_format)

    def _require_cpu(self, what):
        data = self._storage[1]
        if type(data) is not np.ndarray and is_gpu_array(data):
            raise ValueError(f"{what} needs the array on the CPU; use .to_device('cpu') first")

    @property
    def row(self):
        """Row indices (the second-to-last coordinate; zeros for a 1-D array)."""
        coords = self._storage[0]
        if len(coords) > 1:
            return coords[-2]
        result = np.zeros_like(coords[-1])
        result.setflags(write=False)
        return result

    @row.setter
    def row(self, new_row):
        coords = self._storage[0]
        if len(coords) < 2:
            raise ValueError("cannot set row attribute of a 1-dimensional sparse array")
        new_row = np.asarray(new_row, dtype=coords[-2].dtype)
        self.coords = coords[:-2] + (new_row,) + coords[-1:]

    @property
    def col(self):
        """Column indices (the last coordinate)."""
        return self.coords[-1]

    @col.setter
    def col(self, new_col):
        coords = self._storage[0]
        new_col = np.asarray(new_col, dtype=coords[-1].dtype)
        self.coords = coords[:-1] + (new_col,)

    @property
    def T(self):
        """The transpose (axes reversed), sharing this array's storage."""
        return self.transpose()

    def __repr__(self):
        s = self._snap()  # one reading of the storage
        idx = s.coords[0].dtype.name if s.coords else "int32"
        return (
            f"<spla.coo_array shape={s.shape}, dtype={s.dtype.name}, nnz={s.nnz}, "
            f"index_dtype={idx}, device='{s.device}'>"
        )

    # -- canonical form ------------------------------------------------------------

    def sum_duplicates(self):
        """Sort the entries in C order and add up duplicates, **in place** (as SciPy).

        Explicit zeros stay stored (also zeros that duplicates add up to).

        Examples
        --------
        >>> import numpy as np, spla
        >>> A = spla.coo_array((np.array([1.0, 2.0]), ([1, 1], [0, 0])), shape=(2, 2))
        >>> A.sum_duplicates()
        >>> A.nnz, A.data, A.has_canonical_format
        (1, array([3.]), True)
        """
        snap = self._snap()
        if snap.has_canonical_format:
            return
        coords, data = snap._summed(snap.coords, snap.data)
        self._set(coords, data, snap._shape, True)

    def _summed(self, coords, data):
        """``(coords, data)`` sorted in C order with duplicates added up."""
        if data.size == 0:
            return tuple(coords), data
        gpu = self._gpu("summed")
        if gpu is not None:
            return gpu(self, coords, data)
        if self.ndim == 2 and self.shape[0] <= 4 * data.size + 1024:
            # Through CSR storage: O(nnz + rows).
            indptr, indices, values = _compress(self.shape[0], coords[0], coords[1], data,
                                                coords[0].dtype)
            row = np.repeat(np.arange(self.shape[0], dtype=coords[0].dtype), np.diff(indptr))
            return (row, indices), values
        if math.prod(self.shape) <= _INT64_MAX:
            flat = _ravel(coords, self.shape)
            order = np.argsort(flat, kind="stable")
            flat = flat[order]
            keep = np.empty(flat.size, dtype=bool)
            keep[0] = True
            np.not_equal(flat[1:], flat[:-1], out=keep[1:])
        else:
            order = np.lexsort(coords[::-1])
            sorted_coords = [c[order] for c in coords]
            keep = np.empty(data.size, dtype=bool)
            keep[0] = True
            keep[1:] = np.logical_or.reduce([c[1:] != c[:-1] for c in sorted_coords])
        starts = np.flatnonzero(keep)
        new_data = np.add.reduceat(data[order], starts, dtype=data.dtype)
        new_coords = tuple(c[order[starts]] for c in coords)
        return new_coords, new_data

    def eliminate_zeros(self):
        """Remove the explicitly stored zeros, **in place** (as SciPy).

        Examples
        --------
        >>> import numpy as np, spla
        >>> A = spla.coo_array((np.array([0.0, 2.0]), ([0, 1], [0, 1])), shape=(2, 2))
        >>> A.eliminate_zeros()
        >>> A.nnz
        1
        """
        coords, data, shape, _, derived = self._storage
        mask = data != 0
        if mask.all():
            return
        self._set(tuple(c[mask] for c in coords), data[mask], shape, derived["canonical"])

    # -- values ---------------------------------------------------------------------

    def _with_data(self, data, copy=True):
        """A new ``coo_array`` with this array's coordinates (copied unless
        ``copy=False``) and ``data``. SciPy's constructor marks it non-canonical."""
        s = self._snap()  # one reading of the storage
        coords = tuple(c.copy() for c in s.coords) if copy else s.coords
        if type(data) is not np.ndarray and is_gpu_array(data):
            return s._from_parts(data, coords, s._shape, False)
        return s._from_parts(np.ascontiguousarray(data), coords, s._shape, False)

    def copy(self):
        """A deep copy."""
        s = self._snap()  # one reading of the storage
        return s._from_parts(s.data.copy(), tuple(c.copy() for c in s.coords),
                                s._shape, s.has_canonical_format)

    def astype(self, dtype, casting="unsafe", copy=True):
        """The array with values cast to ``dtype``.

        A new dtype gives a copy with duplicates summed (as SciPy);
        the same dtype gives a copy, or ``self`` when ``copy=False``.
        """
        s = self._snap()  # one reading of the storage
        dt = value_dtype(dtype)
        if dt != s.dtype:
            out = s._with_data(cast_values(s.data, dt, casting))
            out.sum_duplicates()
            # SciPy wraps the summed arrays once more: the flag ends up False.
            return out._with_data(out.data, copy=False)
        return s.copy() if copy else self

    def conj(self, copy=True):
        """Complex conjugate."""
        s = self._snap()  # one reading of the storage
        if s.dtype.kind == "c":
            return s._with_data(s.data.conj(), copy=copy)
        return s.copy() if copy else self

    conjugate = conj

    @property
    def _values(self):
        return self.data

    def _stores(self, dtype):
        return np.dtype(dtype) in VALUE_DTYPES

    def _deduped(self):
        s = self._snap()  # one reading of the storage
        if s.has_canonical_format:
            return s
        out = s.copy()
        out.sum_duplicates()
        return out

    def _drop_zeros(self):
        self.eliminate_zeros()

    def count_nonzero(self, axis=None):
        """Number of non-zero entries (duplicates summed first, in place, as SciPy)."""
        self.sum_duplicates()
        self = self._snap()._deduped()  # one reading (summed again if a writer came between)
        if axis is None:
            return int((self.data != 0).sum())
        if self.ndim != 2 and self.ndim != 1:
            raise NotImplementedError("count_nonzero(axis) needs a 1-D or 2-D array")
        axis = operator.index(axis)
        if axis < 0:
            axis += self.ndim
        if axis < 0 or axis >= self.ndim:
            raise ValueError("axis out of bounds")
        if self.ndim == 1:
            return int((self.data != 0).sum())
        keep = self.coords[1 - axis][self.data != 0]
        xp = _dispatch.array_module(self.device)
        return xp.bincount(keep, minlength=self.shape[1 - axis])

    # -- conversions ------------------------------------------------------------------

    def tocoo(self, copy=False):
        """This array (or a copy)."""
        return self.copy() if copy else self

    def tocsr(self, copy=False):
        """The same 2-D array as a ``csr_array`` (duplicates summed, rows sorted).

        Examples
        --------
        >>> import numpy as np, spla
        >>> A = spla.coo_array((np.ones(3), ([1, 0, 1], [0, 1, 0])), shape=(2, 2))
        >>> C = A.tocsr()
        >>> C.format, C.toarray()
        ('csr', array([[0., 1.],
               [2., 0.]]))
        """
        s = self._snap()  # one reading of the storage
        if s.ndim > 2:
            raise ValueError(f"Cannot convert. CSR must be 1D or 2D. Got {s.ndim}D")
        if s.ndim == 1:
            # SciPy's 1-D CSR: the storage of one row, read with shape (n,)
            (col,) = s.coords
            xp = _dispatch.array_module(s.device)
            t = _coo_to_csr(xp.zeros(col.shape, dtype=col.dtype), col, s.data,
                            (1, s.shape[0]))
            return type(t)._from_parts(t.data, t.indices, t.indptr, s.shape,
                                       t._derived.get("canonical"))
        return _coo_to_csr(s.coords[0], s.coords[1], s.data, s.shape)

    def tocsc(self, copy=False):
        """The same 2-D array as a ``csc_array`` (duplicates summed)."""
        s = self._snap()  # one reading of the storage
        if s.ndim != 2:
            raise ValueError(f"Cannot convert. CSC format must be 2D. Got {s.ndim}D")
        from .compressed import csc_array

        t = _coo_to_csr(s.coords[1], s.coords[0], s.data, s.shape[::-1])
        return csc_array._from_parts(t.data, t.indices, t.indptr, s.shape,
                                     t._derived.get("canonical"))

    def __setitem__(self, key, x):
        """``A[key] = x`` for 1-D and 2-D arrays, as SciPy's ``coo_array``: the stored
        entries at the targets are removed and the non-zero written values appended
        (``A[i, j] = 0`` stores its zero). The last of several writes to one entry
        wins, as in NumPy (SciPy's COO keeps the first).

        Examples
        --------
        >>> import numpy as np, spla
        >>> A = spla.coo_array(np.eye(2))
        >>> A[0, 1] = 3.0
        >>> A[1] = [4.0, 0.0]
        >>> A.toarray()
        array([[1., 3.],
               [4., 0.]])
        """
        from .._indexing.assign import assign_coo

        shape = self._shape
        result = assign_coo(self, key, x)
        if result is not None:
            coords, data = result
            self._set(coords, data, shape, False)

    def to_scipy(self):
        """``scipy.sparse.coo_array`` sharing this array's memory."""
        s = self._snap()  # one reading of the storage
        import scipy.sparse as sp

        s._require_cpu("to_scipy")
        out = sp.coo_array((s.data, s.coords), shape=s.shape)
        out.has_canonical_format = s.has_canonical_format
        return out

    def toarray(self, order=None, out=None):
        """Dense NumPy array (duplicates summed).

        Parameters
        ----------
        order : {"C", "F"}, optional
            Memory layout of the result (default C).
        out : ndarray, optional
            C- or F-contiguous array of this shape and dtype to write into.

        Examples
        --------
        >>> import numpy as np, spla
        >>> spla.coo_array((np.ones(2), ([1, 1],)), shape=(3,)).toarray()
        array([0., 2., 0.])
        """
        s = self._snap()  # one reading of the storage
        gpu = s._gpu("toarray")
        if gpu is not None:
            return gpu(s, order, out)
        if out is not None:
            if order is not None:
                raise ValueError("order cannot be specified if out is not None")
            if out.shape != s.shape or out.dtype != s.dtype:
                raise ValueError("out array must be same dtype and shape as sparse array")
            out[...] = 0
            result = out
        else:
            if order not in (None, "C", "F"):
                raise ValueError(f"order must be 'C' or 'F', got {order!r}")
            result = np.zeros(s.shape, dtype=s.dtype, order=order or "C")
        if result.flags.c_contiguous:
            layout = "C"
        elif result.flags.f_contiguous:
            layout = "F"
        else:
            raise ValueError("Output array must be C or F contiguous")
        if s.nnz:
            flat = result.reshape(-1, order=layout)
            _k.scatter_add(_ravel(s.coords, s.shape, layout), s.data, flat)
        return result

    # -- shape ---------------------------------------------------------------------

    def transpose(self, axes=None, copy=False):
        """Permute the axes (reverse them by default); shares storage unless ``copy``.

        Examples
        --------
        >>> import numpy as np, spla
        >>> spla.coo_array(np.zeros((2, 3, 4))).transpose((1, 2, 0)).shape
        (3, 4, 2)
        """
        s = self._snap()  # one reading of the storage
        if axes is None:
            axes = tuple(range(s.ndim))[::-1]
        else:
            if not hasattr(axes, "__len__") or len(axes) != s.ndim:
                raise ValueError("axes don't match matrix dimensions")
            axes = tuple(operator.index(a) for a in axes)
            axes = tuple(a + s.ndim if a < 0 else a for a in axes)
            if any(a < 0 or a >= s.ndim for a in axes):
                raise ValueError(f"axes {axes} are out of range for a {s.ndim}-D array")
            if len(set(axes)) != s.ndim:
                raise ValueError("repeated axis in transpose")
        coords = tuple(s.coords[i] for i in axes)
        data = s.data
        if copy:
            coords = tuple(c.copy() for c in coords)
            data = data.copy()
        return s._from_parts(data, coords, tuple(s._shape[i] for i in axes), False)

    def reshape(self, *args, order="C", copy=False):
        """The array in a new shape (one dimension may be ``-1``), as a ``coo_array``.

        Parameters
        ----------
        shape : int or tuple of ints
            The new shape; its size must match.
        order : {"C", "F"}
            Read and write the elements in C (row-major) or Fortran order.
        copy : bool
            Copy the values even when the shape does not change.

        Examples
        --------
        >>> import numpy as np, spla
        >>> A = spla.coo_array(np.arange(6.0).reshape(2, 3))
        >>> A.reshape((3, 2)).toarray()
        array([[0., 1.],
               [2., 3.],
               [4., 5.]])
        >>> A.reshape(-1).shape
        (6,)
        """
        s = self._snap()  # one reading of the storage
        if order not in ("C", "F"):
            raise ValueError("'order' must be 'C' or 'F'")
        shape = _reshape_target(args, s._shape)
        if shape == s._shape:
            return s.copy() if copy else self
        idx = _index_dtype(shape, s.coords)
        flat = _ravel(s.coords, s._shape, order)
        coords = _unravel(flat, shape, idx, order)
        data = s.data.copy() if copy else s.data
        return s._from_parts(data, coords, shape, False)

    # -- indexing (spla._indexing.read) ------------------------------------------------

    def __getitem__(self, key):
        """``A[key]`` as SciPy's coo_array: a coo_array of any dimension, or a NumPy
        scalar when every axis gets an integer (see ``spla._indexing.read``).

        Examples
        --------
        >>> import numpy as np, spla
        >>> A = spla.coo_array(np.array([[0.0, 1.0], [2.0, 3.0]]))
        >>> A[1, 0], A[:, 1].toarray(), A[None, 0].shape
        (np.float64(2.0), array([1., 3.]), (1, 2))
        """
        s = self._snap()  # one reading of the storage
        from .._indexing.read import getitem_coo

        return getitem_coo(s, key)

    # -- queries -------------------------------------------------------------------

    def nonzero(self):
        """Coordinates of the stored entries whose value is not zero (as SciPy,
        duplicates are not summed first).

        Examples
        --------
        >>> import numpy as np, spla
        >>> spla.coo_array(np.array([[0.0, 1.0], [2.0, 0.0]])).nonzero()
        (array([0, 1], dtype=int32), array([1, 0], dtype=int32))
        """
        s = self._snap()  # one reading of the storage
        mask = s.data != 0
        return tuple(c[mask] for c in s.coords)

    def diagonal(self, k=0):
        """The ``k``-th diagonal of a 2-D array, dense (duplicates summed)."""
        s = self._snap()  # one reading of the storage
        if s.ndim != 2:
            raise ValueError("diagonal requires two dimensions")
        k = operator.index(k)
        gpu = s._gpu("diagonal")
        if gpu is not None:
            return gpu(s, k)
        rows, cols = s.shape
        if k <= -rows or k >= cols:
            return np.empty(0, dtype=s.dtype)
        diag = np.zeros(min(rows + min(k, 0), cols - max(k, 0)), dtype=s.dtype)
        on = (s.row.astype(np.int64) + k) == s.col
        _k.scatter_add(s.row[on].astype(np.int64) + min(k, 0), s.data[on], diag)
        return diag

    @_deduped_if_narrow
    def sum(self, axis=None, dtype=None, out=None):
        """Sum of the entries over ``axis`` (None, an int or a tuple of ints).

        Returns a NumPy scalar when every axis is summed and a dense array
        otherwise, with NumPy's accumulator dtype unless ``dtype`` is given.

        Examples
        --------
        >>> import numpy as np, spla
        >>> A = spla.coo_array(np.array([[1.0, 2.0], [0.0, 3.0]]))
        >>> A.sum(), A.sum(axis=0), A.sum(axis=-1)
        (np.float64(6.0), array([1., 5.]), array([3., 3.]))
        """
        axes = _validate_axis(axis, self.ndim)
        gpu = self._gpu("sum")
        if gpu is not None:
            return gpu(self, axis, dtype, out)
        res = np.dtype(dtype) if dtype is not None else _sum_dtype(self.dtype)
        if axes is None:
            # SciPy sums the duplicates in the values' own dtype first (a bool
            # array's duplicates count once, narrow integers wrap): so does spla
            values = self.data if self.nnz else np.zeros(1, dtype=self.dtype)
            return np.sum(values, dtype=res, out=out)
        kept = tuple(i for i in range(self.ndim) if i not in axes)
        new_shape = tuple(self._shape[i] for i in kept)
        if out is not None and out.shape != new_shape:
            raise ValueError("out dimensions do not match shape")
        result = np.zeros(math.prod(new_shape), dtype=res)
        if self.nnz:
            if len(kept) == 1:
                flat = self.coords[kept[0]]  # no flattening needed: no copy
            else:
                flat = _ravel(tuple(self.coords[i] for i in kept), new_shape)
            _k.scatter_add(flat, self.data.astype(res, copy=False), result)
        result = result.reshape(new_shape)
        if out is not None:
            out[...] = result
            return out
        return result

    # -- products --------------------------------------------------------------------

    @_deduped_if_narrow
    def _matmul_vector(self, x):
        gpu = self._gpu("matvec")
        if gpu is not None:
            return gpu(self, x)
        dt = result_dtype(self.dtype, x.dtype)
        y = np.zeros(self.shape[0], dtype=dt)
        _k.matvec(self.row, self.col, self.data.astype(dt, copy=False), x.astype(dt, copy=False), y)
        return y

    @_deduped_if_narrow
    def _matmul_matrix(self, X):
        gpu = self._gpu("matmat")
        if gpu is not None:
            return gpu(self, X)
        dt = result_dtype(self.dtype, X.dtype)
        Y = np.zeros((self.shape[0], X.shape[1]), dtype=dt)
        _k.matmat(self.row, self.col, self.data.astype(dt, copy=False),
                  X.astype(dt, copy=False), Y)
        return Y

    def __matmul__(self, other):
        s = self._snap()  # one reading of the storage
        if s.ndim != 2 and _narrow(s.dtype) and not s.has_canonical_format:
            return s._deduped().__matmul__(other)  # SciPy's: duplicates summed first
        if s.ndim == 2:
            if getattr(other, "ndim", 2) == 1 and (isinstance(other, SparseArray)
                                                   or _is_scipy_sparse(other)):
                # 2-D @ 1-D sparse: a 1-D sparse result, as SciPy's.
                v = _to_coo(other)
                if v.shape[0] != s.shape[1]:
                    raise ValueError(f"matmul: dimension mismatch: {s.shape} @ {v.shape}")
                prod = s.tocsr() @ v.reshape((v.shape[0], 1)).tocsr()
                return _to_coo(prod).reshape((s.shape[0],))
            return super().__matmul__(other)
        if _is_scalar(other):
            raise ValueError("matmul: a scalar operand is not allowed, use '*' instead")
        n = s.shape[-1]
        sparse = s._as_sparse_operand(other)
        if sparse is not None:
            if s.ndim > 2:
                raise NotImplementedError("@ of an n-D coo_array with a sparse array")
            if sparse.shape[0] != n:
                raise ValueError(f"matmul: dimension mismatch: {s.shape} @ {sparse.shape}")
            if sparse.ndim == 1:
                return np.asarray(s._dot_1d(_to_coo(sparse)))
            if sparse.ndim != 2:
                raise NotImplementedError("@ of a 1-D coo_array with an n-D sparse array")
            prod = s.reshape((1, n)).tocsr() @ sparse
            return _to_coo(prod).reshape((sparse.shape[1],))
        x = s._dense_operand(other)
        if x is None:
            return NotImplemented
        if x.ndim == 0:
            raise ValueError("matmul: a scalar operand is not allowed, use '*' instead")
        inner = x.shape[0] if x.ndim == 1 else x.shape[-2]
        if inner != n:
            raise ValueError(f"matmul: dimension mismatch: sparse {s.shape} @ dense "
                             f"{x.shape} (needs {n} rows)")
        result_dtype(s.dtype, x.dtype)
        if s.ndim == 1:
            if x.ndim == 1:
                dt = result_dtype(s.dtype, x.dtype)
                y = np.zeros(1, dtype=dt)
                _k.matvec(np.zeros(s.nnz, dtype=np.int32), s.coords[0],
                          s.data.astype(dt, copy=False), x.astype(dt, copy=False), y)
                return y[0]
            out = s.reshape((1, n)) @ x
            return out.reshape(out.shape[:-2] + out.shape[-1:])
        # n-D array @ vector: a matvec over the flattened leading axes.
        if x.ndim != 1:
            raise NotImplementedError("@ of an n-D coo_array with a dense matrix")
        lead = s._shape[:-1]
        dt = result_dtype(s.dtype, x.dtype)
        y = np.zeros(math.prod(lead), dtype=dt)
        rows = _ravel(s.coords[:-1], lead)
        _k.matvec(rows, s.coords[-1], s.data.astype(dt, copy=False),
                x.astype(dt, copy=False), y)
        return y.reshape(lead)

    def __rmatmul__(self, other):
        if self.ndim == 2:
            return super().__rmatmul__(other)
        if self.ndim > 2:
            raise NotImplementedError("dense @ n-D coo_array")
        if _is_scipy_sparse(other):
            return coo_array(other) @ self if other.ndim == 1 else (
                coo_array(other).tocsr() @ self.reshape((self.shape[0], 1))
            ).tocoo().reshape((other.shape[0],))
        x = self._dense_operand(other)
        if x is None:
            return NotImplemented
        if x.ndim == 0:
            raise ValueError("matmul: a scalar operand is not allowed, use '*' instead")
        if x.shape[-1] != self.shape[0]:
            raise ValueError(f"matmul: dimension mismatch: dense {x.shape} @ sparse "
                             f"{self.shape} (needs {self.shape[0]} columns)")
        if x.ndim == 1:
            return self @ x
        return self @ np.swapaxes(x, -1, -2)

    def dot(self, other):
        """Dot product: ``self * other`` for a scalar, ``self @ other`` otherwise."""
        if _is_scalar(other):
            return self * other
        return self @ other

    @_deduped_if_narrow
    def _dot_1d(self, other):
        a, b = self.copy(), other.copy()
        a.sum_duplicates()
        b.sum_duplicates()
        _, ia, ib = np.intersect1d(a.coords[0], b.coords[0], assume_unique=True,
                                   return_indices=True)
        dt = result_dtype(a.dtype, b.dtype)
        return np.dot(a.data[ia].astype(dt), b.data[ib].astype(dt))

    # -- elementwise ------------------------------------------------------------------

    def _as_sparse_operand(self, other):
        if isinstance(other, SparseArray):
            return other
        if _is_scipy_sparse(other):
            return coo_array(other)
        return None

    @_deduped_if_narrow
    def _add_sparse(self, other, sign):
        if self.ndim == 2:
            return self.tocsr()._add_sparse(other, sign)
        o = _to_coo(other)
        if _narrow(o.dtype) and not o.has_canonical_format:
            o = o._deduped()
        if sign == -1 and self.dtype == np.bool_ and o.dtype == np.bool_:
            # bool subtraction is an exclusive or (SciPy's): as integers, then != 0
            ints = self.astype(np.int8)._add_sparse(o.astype(np.int8), -1)
            return ints._with_data(ints.data != 0, copy=False)
        dt = result_dtype(self.dtype, o.dtype)
        theirs = o.data.astype(dt, copy=False)  # negated in the result dtype (issue 18)
        data = np.concatenate((self.data.astype(dt, copy=False),
                               theirs if sign == 1 else -theirs))
        coords = tuple(np.concatenate((a, b)) for a, b in zip(self.coords, o.coords))
        out = self._from_parts(data.astype(dt, copy=False), coords, self._shape, False)
        if self.ndim == 1:
            # SciPy's result is a canonical 1-D CSR array without cancelled zeros.
            out.sum_duplicates()
            out.eliminate_zeros()
        return out

    @_deduped_if_narrow
    def _add_dense(self, dense, sign, reverse=False):
        if self.ndim == 2:
            return self.tocsr()._add_dense(dense, sign, reverse)
        try:
            full = np.broadcast_to(dense, self._shape)
        except ValueError:
            raise ValueError(f"add: dense operand {dense.shape} does not broadcast to "
                             f"{self.shape}") from None
        dt = result_dtype(self.dtype, dense.dtype)
        mine = np.zeros(self._shape, dtype=dt)
        if self.nnz:
            _k.scatter_add(_ravel(self.coords, self._shape), self.data.astype(dt, copy=False),
                           mine.reshape(-1))
        # In NumPy's promotion of the two dtypes (unsigned and bool operands as NumPy).
        if reverse:
            return np.subtract(full, mine, dtype=dt)
        return np.add(mine, full, dtype=dt) if sign == 1 else np.subtract(mine, full, dtype=dt)

    def multiply(self, other):
        """Elementwise product with a scalar, a dense array (broadcast to this
        shape) or a sparse array of the same shape.

        Examples
        --------
        >>> import numpy as np, spla
        >>> A = spla.coo_array(np.array([[1.0, 0.0], [2.0, 3.0]]))
        >>> A.multiply(np.array([10.0, 100.0])).toarray()
        array([[ 10.,   0.],
               [ 20., 300.]])
        """
        s = self._snap()  # one reading of the storage
        if _is_scalar(other):
            return s._mul_scalar(other)
        if _narrow(s.dtype) and not s.has_canonical_format:
            return s._deduped().multiply(other)  # SciPy's: duplicates summed first
        sparse = s._as_sparse_operand(other)
        if sparse is not None:
            s._check_same_shape(sparse, "multiply")
            if s.ndim == 2:
                return s.tocsr()._multiply_sparse(sparse)
            return s._multiply_sparse_nd(_to_coo(sparse))
        dense = s._dense_operand(other)
        if dense is None:
            raise TypeError(f"cannot multiply a sparse array by {type(other).__name__}")
        try:
            bshape = np.broadcast_shapes(dense.shape, s._shape)
        except ValueError:
            raise ValueError(f"multiply: operand with shape {dense.shape} does not broadcast "
                             f"to {s.shape}") from None
        if bshape != s._shape:
            raise ValueError(f"multiply: operand with shape {dense.shape} would broadcast the "
                             f"sparse array {s.shape} to a larger shape")
        dt = result_dtype(s.dtype, dense.dtype)
        full = np.broadcast_to(dense, s._shape)
        picked = full[s.coords] if s.nnz else np.zeros(0, dtype=dense.dtype)
        return s._with_data((s.data * picked).astype(dt, copy=False))

    def _multiply_sparse_nd(self, other):
        s = self._snap()  # one reading of the storage
        a, b = s.copy(), other.copy()
        a.sum_duplicates()
        b.sum_duplicates()
        fa, fb = _ravel(a.coords, a.shape), _ravel(b.coords, b.shape)
        common, ia, ib = np.intersect1d(fa, fb, assume_unique=True, return_indices=True)
        dt = result_dtype(a.dtype, b.dtype)
        data = a.data[ia].astype(dt) * b.data[ib].astype(dt)
        coords = tuple(c[ia] for c in a.coords)
        return s._from_parts(data, coords, s._shape, True)


# -- helpers --------------------------------------------------------------------------


def _as_values(obj):
    if is_gpu_array(obj):
        raise TypeError("coo_array lives on the CPU; pass NumPy arrays (cupy.asnumpy)")
    data = np.asarray(obj)
    if data.dtype == object:
        raise TypeError("coo_array: data must hold numbers, got dtype object")
    if data.dtype.byteorder not in ("=", "|"):
        data = data.astype(data.dtype.newbyteorder("="))
    return data


def _target_dtype(input_dtype, requested):
    if requested is not None:
        return value_dtype(requested)
    return default_value_dtype(input_dtype)


def _compress(n_rows, row, col, data, idx):
    """Canonical CSR arrays ``(indptr, indices, data)`` of COO triplets (index dtype ``idx``)."""
    nnz = data.size
    indptr = np.empty(n_rows + 1, dtype=idx)
    indices = np.empty(nnz, dtype=idx)
    values = np.empty(nnz, dtype=data.dtype)
    out = _k.coo_to_csr(n_rows, row, col, data, indptr, indices, values)
    if out < nnz:
        # Views of the longer buffers unless duplicates took more than half of them.
        indices, values = indices[:out], values[:out]
        if 2 * out < nnz:
            indices, values = indices.copy(), values.copy()
    return indptr, indices, values


def _coo_to_csr(row, col, data, shape):
    """A canonical ``csr_array`` of the 2-D COO triplets (duplicates summed, rows
    sorted, explicit zeros kept): the one place the conversion happens, so that a
    faster kernel can replace it."""
    from .._dtypes import index_dtype_for
    from .compressed import csr_array

    m, n = shape
    idx = index_dtype_for(n, data.size)
    if type(data) is not np.ndarray and is_gpu_array(data):
        d, i, p = _dispatch.lookup("coo_to_csr", "coo", device_of(data))(data, row, col, shape)
        return csr_array._from_parts(d, i, p, shape, True)
    if data.size == 0:
        return csr_array._from_parts(data.copy(), np.zeros(0, dtype=idx),
                                     np.zeros(m + 1, dtype=idx), shape, True)
    indptr, indices, values = _compress(m, row, col, data, idx)
    return csr_array._from_parts(values, indices, indptr, shape, True)


def _csr_to_coo(csr, copy):
    csr = csr._snap()  # one reading of the storage (another thread may write)
    if type(csr.data) is not np.ndarray and is_gpu_array(csr.data):
        return _dispatch.lookup("csr_to_coo", "csr", csr.device)(csr, copy)
    m, n = csr.shape
    idx = _index_dtype(csr.shape, (csr.indices,))
    if csr.nnz >= _k.PARALLEL_NNZ and _dispatch.has("expand_rows", "csr", "cpu"):
        # the backend's parallel expansion, into a reused buffer (memory.pooled_empty)
        row = _dispatch.lookup("expand_rows", "csr", "cpu")(csr.indptr, csr.nnz, idx)
    elif csr.nnz >= _k.PARALLEL_NNZ:
        row = np.empty(csr.nnz, dtype=idx)
        _k.expand_rows(csr.indptr, row)
    else:
        row = np.repeat(np.arange(m, dtype=idx), np.diff(csr.indptr))
    col = np.array(csr.indices, dtype=idx, copy=True if copy else None)
    data = csr.data.copy() if copy else csr.data
    # As SciPy, CSR to COO keeps the canonical flag (rows in order, sorted columns).
    return coo_array._from_parts(data, (row, col), (m, n), csr.has_canonical_format)


def _to_coo(a, copy=False):
    """Any spla array (CPU) as a ``coo_array``: the converter registered as "coo"."""
    if isinstance(a, coo_array):
        return a.copy() if copy else a
    if _is_scipy_sparse(a):
        return coo_array(a, copy=copy)
    if a.format == "csc":
        return _csr_to_coo(a.T, copy).transpose()
    if a.ndim == 1:
        return a.tocoo(copy=copy)  # a 1-D csr_array
    csr = a.tocsr()
    return _csr_to_coo(csr, copy and csr is a)


registry.register_format("coo", _to_coo, scipy_formats=("coo",))
