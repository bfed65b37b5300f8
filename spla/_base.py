"""The base class of every spla sparse array: operators, interop and conversions.

Operators are thin. ``__matmul__`` checks the operand and its shape and hands
over to one of three hooks (``_matmul_vector``, ``_matmul_matrix``,
``_matmul_sparse``) that each format implements; arithmetic works the same way.
A format that lacks a hook inherits a fallback that goes through CSR.
"""

import numbers

import numpy as np

from . import _dispatch
from ._dtypes import result_dtype


def _is_scipy_sparse(obj):
    module = type(obj).__module__
    if not module.startswith("scipy."):
        return False
    import scipy.sparse as sp

    return sp.issparse(obj)


def _is_scalar(obj):
    return isinstance(obj, numbers.Number) or (isinstance(obj, np.generic)) or (
        isinstance(obj, np.ndarray) and obj.ndim == 0
    )


class SparseArray:
    """Base class of spla's sparse arrays (2-D).

    Subclasses set ``format`` and implement ``shape``, ``dtype``, ``nnz``,
    ``device``, ``nbytes``, ``tocsr``, ``toarray``, ``T``, ``astype``, ``copy``
    and the matmul hooks.
    """

    format = None
    ndim = 2

    # NumPy must hand ``ndarray @ sparse`` (and ``*``, ``+``) to our reflected
    # operators instead of treating the sparse array as an opaque object.
    __array_ufunc__ = None
    __array_priority__ = 10.1

    # -- Array API ---------------------------------------------------------

    def __array_namespace__(self, *, api_version=None):
        """The namespace of functions that accept spla arrays: the ``spla`` module."""
        import spla

        return spla

    @property
    def mT(self):
        """Transpose (the Array API's matrix transpose; same as ``T`` for 2-D arrays)."""
        return self.T

    def to_device(self, device, /, *, stream=None):
        """This array with its storage on ``device`` (``"cpu"``, ``"cuda"`` or ``"cuda:N"``).

        Returns ``self`` when it is already there. ``"cuda:N"`` keeps the ordinal
        (and raises ``ValueError`` naming how many GPUs there are when GPU ``N``
        does not exist); ``"cuda"`` is CuPy's current device. Moving needs the backend of the
        target device (``pip install "spla[cuda]"`` for ``"cuda"``).

        Examples
        --------
        >>> import spla, numpy as np
        >>> A = spla.csr_array(np.eye(3))
        >>> A.to_device("cpu") is A
        True
        """
        if stream is not None:
            raise ValueError("spla arrays do not take a stream argument yet")
        from ._formats.arguments import move_to_device

        return move_to_device(self, device)

    def _move_to(self, device):
        raise NotImplementedError(
            f"{type(self).__name__} cannot move from {self.device!r} to {device!r} yet"
        )

    # -- conversions -------------------------------------------------------

    def asformat(self, format, copy=False):
        """Convert to the spla format named ``format`` (``"csr"``, ``"csc"``, and
        every format that registers itself in ``spla.formats()``).

        Examples
        --------
        >>> import spla, numpy as np
        >>> spla.csr_array(np.eye(2)).asformat("csc").format
        'csc'
        """
        from ._formats import registry

        convert = registry.converter(format)
        if format == self.format:
            return self.copy() if copy else self
        return convert(self)

    def todense(self, order=None):
        """Dense NumPy array (same as ``toarray``; spla has no matrix class)."""
        return self.toarray(order=order)

    # -- scalar-like behaviour ----------------------------------------------

    def __len__(self):
        raise TypeError("the length of a sparse array is ambiguous; use .shape or .nnz")

    def __bool__(self):
        if self.shape == (1, 1):
            return bool(self.nnz != 0 and self.toarray()[0, 0] != 0)
        raise ValueError(
            "the truth value of a sparse array with more than one element is ambiguous"
        )

    def __iter__(self):
        raise TypeError("spla arrays are not iterable; convert with .toarray() first")

    def __repr__(self):
        idx = getattr(getattr(self, "indices", None), "dtype", None)
        extra = f", index_dtype={idx.name}" if idx is not None else ""
        return (
            f"<spla.{type(self).__name__} shape={self.shape}, dtype={self.dtype.name}, "
            f"nnz={self.nnz}{extra}, device={self.device!r}>"
        )

    # -- matmul ---------------------------------------------------------------

    def _dense_operand(self, other):
        """``other`` as an array of this array's device, or None if it is not dense."""
        if isinstance(other, SparseArray) or _is_scipy_sparse(other):
            return None
        xp = _dispatch.array_module(self.device)
        if self.device != "cpu" and not isinstance(other, xp.ndarray):
            raise ValueError(
                f"operand is on another device than this {self.device!r} array; "
                "move one of them with to_device()"
            )
        if self.device == "cpu" and type(other).__module__.split(".")[0] == "cupy":
            raise ValueError(
                "operand is a CuPy (GPU) array but this spla array lives on the CPU; "
                "move one of them with to_device()"
            )
        arr = xp.asarray(other)
        if arr.dtype == object:
            raise TypeError(f"unsupported operand of type {type(other).__name__}")
        return arr

    def __matmul__(self, other):
        if type(other) is np.ndarray and self.device == "cpu":
            # The common case, without the conversions below (a few microseconds,
            # as long as a small SpMV).
            if other.dtype == object:
                raise TypeError("unsupported operand of type ndarray")
            return self._matmul_dense(other)
        if isinstance(other, SparseArray) or _is_scipy_sparse(other):
            from ._formats.compressed import csr_array

            other_csr = other.tocsr() if isinstance(other, SparseArray) else csr_array(other)
            if other_csr.shape[0] != self.shape[1]:
                raise ValueError(
                    f"matmul: dimension mismatch: {self.shape} @ {other_csr.shape}"
                )
            if other_csr.device != self.device:
                raise ValueError(
                    f"matmul: operands live on different devices ({self.device!r} and "
                    f"{other_csr.device!r}); move one with to_device()"
                )
            return self._matmul_sparse(other_csr)
        return self._matmul_dense(self._dense_operand(other))

    def _matmul_dense(self, x):
        """``self @ x`` for a dense array ``x`` of this array's device."""
        if x is None or x.ndim == 0:
            raise ValueError("matmul: a scalar operand is not allowed, use '*' instead")
        if x.shape[0 if x.ndim == 1 else -2] != self.shape[1]:
            raise ValueError(
                f"matmul: dimension mismatch: sparse {self.shape} @ dense {x.shape} "
                f"(needs {self.shape[1]} rows)"
            )
        result_dtype(self.dtype, x.dtype)  # raises TypeError for unsupported operands
        if x.ndim == 1:
            return self._matmul_vector(x)
        if x.ndim == 2:
            return self._matmul_matrix(x)
        # A stack of matrices (..., n, k): one SpMM over all of them side by side.
        lead = x.shape[:-2]
        k = x.shape[-1]
        xp = _dispatch.array_module(self.device)
        width = int(np.prod(lead, dtype=np.int64)) * k
        flat = xp.moveaxis(x, -2, 0).reshape(self.shape[1], width)
        out = self._matmul_matrix(flat).reshape((self.shape[0],) + lead + (k,))
        return xp.moveaxis(out, 0, -2)

    def __rmatmul__(self, other):
        if _is_scipy_sparse(other):
            from ._formats.compressed import csr_array

            return csr_array(other) @ self
        x = self._dense_operand(other)
        if x is None or x.ndim == 0:
            return NotImplemented if x is None else self.__matmul__(other)
        if x.shape[-1] != self.shape[0]:
            raise ValueError(
                f"matmul: dimension mismatch: dense {x.shape} @ sparse {self.shape} "
                f"(needs {self.shape[0]} columns)"
            )
        if x.ndim == 1:
            return self.T @ x
        xp = _dispatch.array_module(self.device)
        return xp.swapaxes(self.T @ xp.swapaxes(x, -1, -2), -1, -2)

    def _matmul_sparse(self, other_csr):
        return self.tocsr()._matmul_sparse(other_csr)

    # -- arithmetic -------------------------------------------------------------

    def _as_sparse_operand(self, other):
        from ._formats.compressed import csr_array

        if isinstance(other, SparseArray):
            return other
        if _is_scipy_sparse(other):
            return csr_array(other)
        return None

    def _check_same_shape(self, other, op):
        if self.shape != other.shape:
            raise ValueError(f"{op}: shapes {self.shape} and {other.shape} do not match")
        if self.device != other.device:
            raise ValueError(
                f"{op}: operands live on different devices ({self.device!r} and "
                f"{other.device!r}); move one with to_device()"
            )

    def __add__(self, other):
        return self._add(other, 1)

    def __radd__(self, other):
        return self._add(other, 1)

    def __sub__(self, other):
        return self._add(other, -1)

    def __rsub__(self, other):
        return (-self)._add(other, 1)

    def _add(self, other, sign):
        op = "add" if sign == 1 else "subtract"
        sparse = self._as_sparse_operand(other)
        if sparse is not None:
            self._check_same_shape(sparse, op)
            return self._add_sparse(sparse, sign)
        if _is_scalar(other):
            if other == 0:
                return self.astype(result_dtype(self.dtype, other), copy=True)
            raise NotImplementedError(
                "adding a non-zero scalar to a sparse array is not supported (the result "
                "would be dense); use A.toarray() + s"
            )
        dense = self._dense_operand(other)
        if dense is None:
            return NotImplemented
        return self._add_dense(dense, sign)

    def _add_sparse(self, other, sign):
        return self.tocsr()._add_sparse(other, sign)

    def _add_dense(self, dense, sign):
        return self.tocsr()._add_dense(dense, sign)

    def __mul__(self, other):
        if _is_scalar(other):
            return self._scale(other)
        return self.multiply(other)

    def __rmul__(self, other):
        return self.__mul__(other)

    def __truediv__(self, other):
        if not _is_scalar(other):
            return NotImplemented
        return self._scale(other, divide=True)

    def __neg__(self):
        return self._scale(-1)

    def __pos__(self):
        return self

    def multiply(self, other):
        """Elementwise product with a sparse array, a dense array (broadcast) or a scalar.

        The result is sparse: only stored entries can be non-zero.

        Examples
        --------
        >>> import spla, numpy as np
        >>> A = spla.csr_array(np.array([[1.0, 0.0], [2.0, 3.0]]))
        >>> A.multiply(np.array([10.0, 100.0])).toarray()
        array([[ 10.,   0.],
               [ 20., 300.]])
        """
        if _is_scalar(other):
            return self._scale(other)
        sparse = self._as_sparse_operand(other)
        if sparse is not None:
            self._check_same_shape(sparse, "multiply")
            return self._multiply_sparse(sparse)
        dense = self._dense_operand(other)
        if dense is None:
            raise TypeError(f"cannot multiply a sparse array by {type(other).__name__}")
        if dense.ndim > 2:
            raise ValueError(f"multiply: operand with shape {dense.shape} has more than 2 dimensions")
        try:
            np.broadcast_shapes(dense.shape, self.shape)
        except ValueError:
            raise ValueError(
                f"multiply: operand with shape {dense.shape} does not broadcast to {self.shape}"
            ) from None
        if np.broadcast_shapes(dense.shape, self.shape) != self.shape:
            raise ValueError(
                f"multiply: operand with shape {dense.shape} would broadcast the sparse "
                f"array {self.shape} to a larger shape"
            )
        return self._multiply_dense(dense)

    def _multiply_sparse(self, other):
        return self.tocsr()._multiply_sparse(other)

    def _multiply_dense(self, dense):
        return self.tocsr()._multiply_dense(dense)

    def _scale(self, scalar, divide=False):
        """``self * scalar`` (or ``self / scalar``) on the stored values, keeping the structure."""
        return self.tocsr()._scale(scalar, divide=divide)

    # -- reductions ---------------------------------------------------------------

    def sum(self, axis=None, dtype=None):
        """Sum of all entries (``axis=None``), of each column (``axis=0``) or row (``axis=1``)."""
        return self.tocsr().sum(axis=axis, dtype=dtype)

    def diagonal(self, k=0):
        """The ``k``-th diagonal as a dense 1-D array (duplicates summed)."""
        return self.tocsr().diagonal(k)
