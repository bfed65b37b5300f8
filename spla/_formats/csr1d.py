"""1-D ``csr_array``: SciPy's one-row compressed vector.

SciPy's ``csr_array`` accepts 1-D shapes (``csr_array(np.array([0, 1, 0]))`` has
shape ``(3,)``): the storage is that of a single row, ``indptr = [0, nnz]``, and
``indices`` are the positions of the stored values. spla does the same. A 1-D
array answers every operation through its **row view**, the ``(1, n)`` CSR array
over the same storage and derived-state cache (``_major()`` returns it), and
reads the result back in one dimension: a ``(1, n)`` sparse result becomes 1-D
CSR, a dense ``(1, n)`` result a vector, and a reduction over axis 0 (the only
axis) is the reduction over all entries, a scalar, as in SciPy. No kernel knows
about 1-D arrays.

``CSR1DMixin`` is mixed into ``csr_array`` only (CSC is 2-D in SciPy too: a 1-D
array refuses ``tocsc``). Every method checks ``self._is_1d`` first and falls
back to the 2-D implementation otherwise.
"""

import operator

import numpy as np

from .._base import SparseArray, _is_scipy_sparse
from .._device import is_gpu_array
from . import registry
from .arguments import check_order


def _as_length(shape):
    """``(n,)`` for a 1-D shape argument, else None (2-D shapes are the class's)."""
    if shape is None:
        return None
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, (bool, np.bool_)):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        return None
    if len(dims) != 1:
        return None
    n = operator.index(dims[0])
    if n < 0:
        raise ValueError(f"shape {dims} has a negative dimension")
    return n


def _coords_1d(coords):
    """The column array of 1-D COO coordinates ``(col,)``, or None if not 1-D."""
    if isinstance(coords, (tuple, list)) and len(coords) == 1:
        return coords[0]
    return None


class CSR1DMixin:
    """The 1-D behaviour of ``csr_array`` (see the module docstring)."""

    def __init__(self, arg, shape=None, dtype=None, copy=False, *, check=True, maxprint=None):
        n = _as_length(shape)
        if registry.foreign_converter(arg) is not None:  # pydata/sparse, torch sparse
            arg = registry.from_foreign(arg)
        if isinstance(arg, SparseArray) or _is_scipy_sparse(arg):
            if arg.ndim == 1:
                self._init_1d_from_sparse(arg, n, dtype, copy, maxprint)
                return
        elif isinstance(arg, tuple):
            if len(arg) == 1 and n is None:
                n = _as_length(arg)  # csr_array((n,)): empty
                if n is not None:
                    super().__init__((1, n), dtype=dtype, maxprint=maxprint)
                    self._to_1d(n)
                    return
            if len(arg) == 2 and not _is_int(arg[0]):
                col = _coords_1d(arg[1])
                if col is not None:  # (data, (col,))
                    col = np.asarray(col) if not is_gpu_array(col) else col
                    if n is None:
                        n = int(col.max()) + 1 if col.size else 0
                    row = _zeros_like(col)
                    super().__init__((arg[0], (row, col)), shape=(1, n), dtype=dtype,
                                     maxprint=maxprint)
                    self._to_1d(n)
                    return
            if len(arg) == 3 and n is not None:  # (data, indices, indptr) of one row
                super().__init__(arg, shape=(1, n), dtype=dtype, copy=copy, check=check,
                                 maxprint=maxprint)
                self._to_1d(n)
                return
        elif type(arg).__module__.startswith("cupyx.scipy.sparse"):
            pass  # a cupyx.scipy.sparse matrix is 2-D: the compressed constructor takes it
        else:
            if not is_gpu_array(arg):
                try:
                    dense = np.asarray(arg)
                except (ValueError, TypeError) as exc:
                    raise TypeError(
                        f"cannot build a csr_array from {type(arg).__name__}: {exc}"
                    ) from None
                arg = dense
            if arg.ndim == 1:
                if n is not None and n != arg.shape[0]:
                    raise ValueError(f"shape {(n,)} does not match the dense input's "
                                     f"{arg.shape}")
                m = arg.shape[0]
                super().__init__(arg.reshape(1, m), dtype=dtype, maxprint=maxprint)
                self._to_1d(m)
                return
        if n is not None:
            raise ValueError(f"shape {(n,)} is 1-D but the input is not")
        super().__init__(arg, shape=shape, dtype=dtype, copy=copy, check=check,
                         maxprint=maxprint)

    def _init_1d_from_sparse(self, arg, n, dtype, copy, maxprint):
        if n is not None and n != arg.shape[0]:
            raise ValueError(f"shape {(n,)} does not match the input's {tuple(arg.shape)}")
        m = int(arg.shape[0])
        if _is_scipy_sparse(arg):
            c = arg.tocoo()
            data, col = c.data, c.coords[0]
            copy = True
        elif arg.format == "csr":
            data, col = arg.data, arg.indices
        else:
            c = arg.tocoo()
            data, col = c.data, c.coords[0]
        if copy:
            data, col = data.copy(), col.copy()
        super().__init__((data, (_zeros_like(col), col)), shape=(1, m), dtype=dtype,
                         maxprint=maxprint)
        self._to_1d(m)

    def _to_1d(self, n):
        canonical = self._derived.get("canonical")
        self._set(self._data, self._indices, self._indptr, (n,))
        if canonical is not None:
            self._derived["canonical"] = canonical

    # -- the row view -------------------------------------------------------------------------

    @property
    def _is_1d(self):
        return len(self._shape) == 1

    def _row(self):
        """The ``(1, n)`` CSR array over this 1-D array's storage and derived state."""
        st = self._storage  # a snapshot: one reading of the storage
        return type(self)._wrap((st[0], st[1], st[2], (1, st[3][0]), st[4], st[5]))

    def _major(self):
        # a snapshot (one reading of the storage), inlined: this runs on every operation
        st = self._storage
        obj = _new(type(self))
        obj._storage = st if len(st[3]) == 2 else (st[0], st[1], st[2], (1, st[3][0]),
                                                   st[4], st[5])
        return obj

    def _from_major(self, csr):
        if self._is_1d and csr.shape == (1, self._shape[0]):
            st = csr._storage
            return type(self)._wrap((st[0], st[1], st[2], self._shape, st[4], st[5]))
        return super()._from_major(csr)

    # -- indexing ----------------------------------------------------------------------------------

    def _row_key(self, key):
        """``key`` for this 1-D array as ``(Key, the index of its one axis as a key of
        the row view)``."""
        from .._indexing.keys import normalize_key

        # the device: CuPy keys index a 1-D array on the GPU as they do a 2-D one
        k = normalize_key(key, self._shape, "csr", self._storage[4])
        (index,) = k.index
        if isinstance(index, range):
            stop = index.stop if index.stop >= 0 else None
            index = slice(index.start, stop, index.step)
        return k, index

    def __getitem__(self, key):
        """``v[key]`` for a 1-D array, as SciPy's 1-D csr_array: a scalar for an
        integer, a 1-D csr_array otherwise (a 2-D COO array where ``None`` adds an axis).

        Examples
        --------
        >>> import numpy as np, spla
        >>> v = spla.csr_array(np.array([0.0, 1.0, 0.0, 3.0]))
        >>> v[-1], v[1:].toarray()
        (np.float64(3.0), array([1., 0., 3.]))
        """
        if not self._is_1d:
            return super().__getitem__(key)
        k, index = self._row_key(key)
        got = self._row()[0, index]
        if not isinstance(got, SparseArray):
            if k.shape == ():
                return got
            from .coo import coo_array

            got = coo_array(np.reshape(np.asarray(got), (1,)))
        if k.none_pos:
            return got.tocoo().reshape(k.shape)
        return got.tocsr() if got.format != "csr" else got

    def __setitem__(self, key, x):
        """``v[key] = x`` for a 1-D array (through its row view; see ``__getitem__``)."""
        if not self._is_1d:
            return super().__setitem__(key, x)
        _, index = self._row_key(key)
        row = self._row()
        row._owns_data = self._owns_data
        row[0, index] = x
        data, indices, indptr, _, _, derived = row._storage
        canonical = derived.get("canonical")
        self._set(data, indices, indptr, self._shape,
                  None if canonical is None else {"canonical": canonical})
        self._owns_data = row._owns_data
        return None

    # -- conversions ------------------------------------------------------------------------------

    def toarray(self, order=None, out=None):
        if len(self._shape) == 2:  # not ``_is_1d``: a call less on small arrays
            return super().toarray(order, out)
        check_order(order)
        dense = self._row().toarray()[0]
        if out is not None:
            if out.shape != self.shape or out.dtype != self.dtype:
                raise ValueError(f"out must be an array of shape {self.shape} and dtype "
                                 f"{self.dtype}")
            out[...] = dense
            return out
        return dense

    def tocoo(self, copy=False):
        if not self._is_1d:
            return super().tocoo(copy=copy)
        from .coo import coo_array

        snap = self._snap()
        src = snap if snap.device == "cpu" else snap.to_device("cpu")
        data, col = src._data, src._indices
        if copy or src is not snap:
            data, col = data.copy(), col.copy()
        return coo_array._from_parts(data, (col,), snap._shape,
                                     bool(snap._derived.get("canonical")))

    def tocsc(self, copy=False):
        if self._is_1d:
            raise ValueError("Cannot convert a 1d sparse array to csc format")
        return super().tocsc(copy=copy)

    def to_scipy(self):
        if not self._is_1d:
            return super().to_scipy()
        import scipy.sparse as sp

        self._require_cpu("to_scipy")
        src = self._deduped()
        out = sp.csr_array((src._data, src._indices, src._indptr), shape=self._shape)
        out.has_canonical_format = True
        return out

    def transpose(self, axes=None, copy=False):
        if not self._is_1d:
            return super().transpose(axes=axes, copy=copy)
        if axes is not None and tuple(axes) not in ((0,), (-1,)):
            raise ValueError("axes don't match array dimensions")
        return self.copy() if copy else self._snap()

    def __str__(self):
        if not self._is_1d:
            return super().__str__()
        out = repr(self)
        if self.nnz == 0:
            return out
        snap = self._snap()
        src = snap if snap.device == "cpu" else snap.to_device("cpu")
        entries = [f"  ({int(c)},)\t{v}" for c, v in zip(src._indices, src._data)]
        if len(entries) > self.maxprint:
            half = self.maxprint // 2
            entries = entries[:half] + ["  :\t:"] + entries[len(entries) - (self.maxprint - half):]
        return out + "\n  Coords\tValues\n" + "\n".join(entries)

    # -- products -----------------------------------------------------------------------------------

    def _matmul_dense(self, x):
        if not self._is_1d:
            return super()._matmul_dense(x)
        if x.ndim == 0:
            raise ValueError("matmul: a scalar operand is not allowed, use '*' instead")
        inner = x.shape[0] if x.ndim == 1 else x.shape[-2]
        if inner != self._shape[0]:
            raise ValueError(f"matmul: dimension mismatch: sparse {self.shape} @ dense "
                             f"{x.shape} (needs {self._shape[0]} rows)")
        out = self._row()._matmul_dense(x)
        return out[0] if x.ndim == 1 else out[..., 0, :]

    def __rmatmul__(self, other):
        if self._is_1d and not isinstance(other, SparseArray) and not _is_scipy_sparse(other) \
                and getattr(other, "ndim", 0) >= 2:
            x = self._dense_operand(other)
            if x is None:
                return NotImplemented
            if x.shape[-1] != self._shape[0]:
                raise ValueError(f"matmul: dimension mismatch: dense {x.shape} @ sparse "
                                 f"{self.shape} (needs {self._shape[0]} columns)")
            xp = np if self.device == "cpu" else __import__("cupy")
            return (self._row() @ xp.swapaxes(x, -1, -2))[..., 0, :]
        return super().__rmatmul__(other)

    def _matmul_1d_sparse(self, sparse):
        if not self._is_1d:
            return super()._matmul_1d_sparse(sparse)
        n = self._shape[0]
        if sparse.shape[0] != n:
            raise ValueError(f"matmul: dimension mismatch: {self.shape} @ {sparse.shape}")
        if sparse.ndim == 1:
            # the dot product, as a 0-d array (SciPy's)
            column = type(self)(sparse).reshape((n, 1)) if n else None
            if column is None:
                return np.asarray(np.zeros((), dtype=np.result_type(self.dtype, sparse.dtype)))
            return np.asarray(self._row()._matmul_sparse(column.tocsr()).toarray()[0, 0])
        if sparse.ndim != 2:
            raise ValueError(f"matmul: cannot multiply a 1-D array by a {sparse.ndim}-D one")
        prod = self._row()._matmul_sparse(sparse.tocsr())
        return prod.tocoo().reshape((sparse.shape[1],))  # SciPy's result is COO

    # -- elementwise -------------------------------------------------------------------------------

    def _elementwise_sparse(self, other, op):
        result = super()._elementwise_sparse(other, op)
        if self._is_1d and isinstance(result, np.ndarray) and result.ndim == 2:
            return result.reshape(self._shape)  # a dense result (float division)
        return result

    def _add_dense(self, dense, sign, reverse=False):
        if not self._is_1d:
            return super()._add_dense(dense, sign, reverse)
        out = self._row()._add_dense(dense.reshape((1,) + self._shape), sign, reverse)
        return out.reshape(self._shape)

    def _multiply_dense(self, dense):
        if not self._is_1d:
            return super()._multiply_dense(dense)
        return self._from_major(self._row()._multiply_dense(dense.reshape((1,) + self._shape)))

    # -- reductions ----------------------------------------------------------------------------

    def _reduce_1d(self, name, axis, **kwargs):
        if axis is not None:
            axes = axis if isinstance(axis, tuple) else (axis,)
            for a in axes:
                a = operator.index(a)
                if a not in (0, -1):
                    raise ValueError("axis out of range for ndim")
        return getattr(self._row(), name)(axis=None, **kwargs)

    def sum(self, axis=None, dtype=None, out=None):
        if self._is_1d:
            return self._reduce_1d("sum", axis, dtype=dtype, out=out)
        return super().sum(axis=axis, dtype=dtype, out=out)

    def mean(self, axis=None, dtype=None, out=None):
        if self._is_1d:
            return self._reduce_1d("mean", axis, dtype=dtype, out=out)
        return super().mean(axis=axis, dtype=dtype, out=out)

    def count_nonzero(self, axis=None):
        if self._is_1d:
            return self._reduce_1d("count_nonzero", axis)
        return super().count_nonzero(axis=axis)

    def _reduce(name):
        def method(self, axis=None, out=None, *, explicit=False):
            if self._is_1d:
                return self._reduce_1d(name, axis, out=out, explicit=explicit)
            return getattr(super(CSR1DMixin, self), name)(axis=axis, out=out, explicit=explicit)

        method.__name__ = name
        method.__doc__ = (f"``{name}`` over all entries or along ``axis``, as SciPy's sparse "
                          "arrays (a 1-D array reduces to a scalar).")
        return method

    max = _reduce("max")
    min = _reduce("min")
    nanmax = _reduce("nanmax")
    nanmin = _reduce("nanmin")
    argmax = _reduce("argmax")
    argmin = _reduce("argmin")
    del _reduce

    # -- queries and shape changes ----------------------------------------------------------------

    def nonzero(self):
        if not self._is_1d:
            return super().nonzero()
        data, indices = self._storage[:2]
        keep = data != 0
        return (indices[keep],)

    def diagonal(self, k=0):
        if self._is_1d:
            raise ValueError("diagonal requires two dimensions")
        return super().diagonal(k)

    def setdiag(self, values, k=0):
        if self._is_1d:
            raise ValueError("setdiag requires two dimensions")
        return super().setdiag(values, k)

    def resize(self, *shape):
        if not self._is_1d:
            return super().resize(*shape)
        if len(shape) == 1 and not _is_int(shape[0]):
            shape = tuple(shape[0])
        if len(shape) != 1:
            raise ValueError(f"a 1-D array resizes to a 1-D shape, got {shape}")
        n = operator.index(shape[0])
        if n < 0:
            raise ValueError("negative dimensions are not allowed")
        data, indices, indptr, _, device, derived = self._storage
        keep = indices < n
        data, indices = data[keep], indices[keep]
        xp = np if device == "cpu" else __import__("cupy")
        indptr = xp.asarray([0, data.size], dtype=indptr.dtype)
        self._set(data, indices, indptr, (n,),
                  {"canonical": True} if derived.get("canonical") else None)


_new = object.__new__


def _is_int(x):
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _zeros_like(col):
    xp = np if not is_gpu_array(col) else __import__("cupy")
    return xp.zeros(col.shape, dtype=col.dtype if col.dtype.kind in "iu" else np.int64)
