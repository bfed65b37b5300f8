"""The base class of every spla sparse array: the operators and protocols that all
formats share, written once, in SciPy's ``sparray`` semantics.

``SparseArray`` names no concrete format. It declares what a format must
implement (its abstract members), reaches other formats only through the
format registry (``registry.to_format(A, "csr")``), and hands every operation
to a small hook that the format overrides when it has a kernel, or to the
registry's CSR otherwise. Operators are thin: they classify the operand
(scalar, dense, sparse), check shapes and devices, and call one hook each.
"""

import abc
import operator

import numpy as np

from . import _dispatch
from ._data import COMPARISONS, inefficient, is_scalar_like
from ._dtypes import result_dtype
from ._device import CPU, is_gpu_array, parse_device
from ._formats import registry
from ._formats.arguments import check_axis, check_cuda_ordinal
from ._operator import OperatorMixin


def _is_scipy_sparse(obj):
    module = type(obj).__module__
    if not module.startswith("scipy."):
        return False
    import scipy.sparse as sp

    return sp.issparse(obj)


def _is_scalar(obj):
    return is_scalar_like(obj)


class _NotAnOperand(TypeError):
    """An operand that is neither a scalar nor a dense or sparse array."""


def issparse(obj):
    """Whether ``obj`` is a sparse array: an spla array or a SciPy sparse array/matrix.

    Examples
    --------
    >>> import numpy as np, spla
    >>> spla.issparse(spla.csr_array(np.eye(2))), spla.issparse(np.eye(2))
    (True, False)
    """
    return isinstance(obj, SparseArray) or _is_scipy_sparse(obj)


_UFUNC_OPERATORS = {
    np.add: operator.add,
    np.subtract: operator.sub,
    np.multiply: operator.mul,
    np.true_divide: operator.truediv,
    np.matmul: operator.matmul,
    np.equal: operator.eq,
    np.not_equal: operator.ne,
    np.less: operator.lt,
    np.less_equal: operator.le,
    np.greater: operator.gt,
    np.greater_equal: operator.ge,
}
_REFLECTED = {
    operator.add: operator.add,
    operator.mul: operator.mul,
    operator.eq: operator.eq,
    operator.ne: operator.ne,
    operator.lt: operator.gt,
    operator.gt: operator.lt,
    operator.le: operator.ge,
    operator.ge: operator.le,
}


class SparseArray(OperatorMixin, abc.ABC):
    """Base class of spla's sparse arrays.

    A format implements the abstract members below; everything else has a
    definition here (through CSR where a format has no kernel of its own).
    """

    format = None

    # NumPy defers ``ndarray (op) sparse`` to our reflected operators.
    __array_priority__ = 10.1

    # -- the format contract ---------------------------------------------------------

    @property
    @abc.abstractmethod
    def shape(self):
        """Tuple of dimensions."""

    @property
    @abc.abstractmethod
    def dtype(self):
        """The dtype of the stored values."""

    @property
    @abc.abstractmethod
    def nnz(self):
        """Number of stored entries (explicit zeros and duplicates included)."""

    @property
    @abc.abstractmethod
    def device(self):
        """The ``Device`` that holds the storage (read from the storage itself)."""

    @property
    @abc.abstractmethod
    def nbytes(self):
        """Bytes of storage."""

    @abc.abstractmethod
    def toarray(self, order=None, out=None):
        """Dense array of this array's device."""

    @abc.abstractmethod
    def tocsr(self, copy=False):
        """The same array as a ``csr_array``."""

    @abc.abstractmethod
    def copy(self):
        """A deep copy."""

    @abc.abstractmethod
    def _matmul_vector(self, x):
        """``self @ x`` for a dense 1-D ``x`` of the right length and device."""

    @abc.abstractmethod
    def _matmul_matrix(self, X):
        """``self @ X`` for a dense 2-D ``X`` of the right shape and device."""

    # -- derived state --------------------------------------------------------------------

    @property
    def _derived(self):
        """Cache of state derived from the storage (partitions, plans, device layouts).

        Everything here is recomputable; ``_invalidate()`` clears it whenever the
        storage changes, so nothing derived is remembered beside stale storage.
        """
        cache = self.__dict__.get("_derived_cache")
        if cache is None:
            cache = self.__dict__["_derived_cache"] = {}
        return cache

    def _invalidate(self):
        """Forget everything derived from the storage (call after changing it)."""
        self.__dict__["_derived_cache"] = {}

    def _snap(self):
        """The array to read the storage from, once per operation: formats whose
        storage is one swapped tuple (CSR, CSC) return a snapshot that no writer
        changes; the others return the array itself."""
        return self

    # -- Array API ------------------------------------------------------------------------

    @property
    def ndim(self):
        """Number of dimensions."""
        return len(self.shape)

    @property
    def size(self):
        """Number of stored entries, as SciPy's ``size`` (same as ``nnz``)."""
        return self.nnz

    def __array_namespace__(self, *, api_version=None):
        """The namespace of functions that accept spla arrays: the ``spla`` module."""
        import spla

        return spla

    @property
    def mT(self):
        """Transpose (the Array API's matrix transpose; same as ``T`` for 2-D arrays)."""
        return self.T

    @property
    def T(self):
        """The transpose."""
        return self.transpose()

    def transpose(self, axes=None, copy=False):
        """Reverse the dimensions (``axes`` may only be None or the reversal, as in SciPy)."""
        if axes is not None and (not isinstance(axes, (tuple, list))
                                 or tuple(axes) != tuple(range(self.ndim))[::-1]):
            raise ValueError(
                "Sparse arrays/matrices do not support an 'axes' parameter because "
                "swapping dimensions is the only logical permutation."
            )
        return self.tocsr().transpose(copy=copy)

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
        target = parse_device(device)
        if target.kind == "cpu":
            return self if self.device == "cpu" else self._move_to(target)
        check_cuda_ordinal(target.ordinal)
        here = parse_device(self.device)
        if here.kind == "cuda" and target.ordinal in (None, here.ordinal):
            return self
        if target.ordinal is None:
            return self._move_to(target)
        import cupy

        # to GPU N: build the storage there (from another GPU through the host)
        host = self if self.device == "cpu" else self._move_to(CPU)
        with cupy.cuda.Device(target.ordinal):
            return host._move_to(target)

    def _move_to(self, device):
        raise NotImplementedError(
            f"{type(self).__name__} cannot move from {self.device!r} to {device!r} yet"
        )

    # -- interchange: the binsparse protocol, PyTorch, pydata/sparse (spla._interop) ------------

    def __binsparse_descriptor__(self):
        """The binsparse descriptor of this array (the draft Array API sparse interchange
        protocol): ``{"binsparse": {"version", "format", "shape",
        "number_of_stored_values", "data_types"}, "original_source": ...}``.

        Examples
        --------
        >>> import numpy as np, spla
        >>> spla.csr_array(np.eye(2)).__binsparse_descriptor__()["binsparse"]["format"]
        'CSR'
        """
        return self._binsparse()[0]

    def __binsparse__(self, *, descriptor=None):
        """The named arrays of this array in binsparse's format (``__binsparse_descriptor__``
        says which): the storage itself where it is already binsparse's (canonical CSR,
        CSC, COO), on this array's device. ``descriptor`` asks for another format.

        Examples
        --------
        >>> import numpy as np, spla
        >>> A = spla.csr_array(np.eye(2))
        >>> A.__binsparse__()["values"] is A.data
        True
        """
        if descriptor is not None:
            from .io.binsparse import _read_format, binsparse_arrays

            return binsparse_arrays(self, _read_format(descriptor))[1]
        return self._binsparse()[1]

    def _binsparse(self):
        # not cached: COO storage is public and may be reassigned in place
        from .io.binsparse import binsparse_arrays

        return binsparse_arrays(self)

    def to_torch(self, layout=None):
        """This array as a PyTorch tensor, sharing memory where the layouts agree.

        Parameters
        ----------
        layout : {None, "csr", "csc", "coo", "strided", "semi_structured"} or torch.layout
            By default CSR arrays give ``torch.sparse_csr``, CSC ``sparse_csc``, COO
            ``sparse_coo`` and the other formats ``sparse_csr``; a 2:4 ``nm_array`` on
            the GPU gives ``torch.sparse.SparseSemiStructuredTensor`` (CUDA only).

        Examples
        --------
        >>> import numpy as np, spla
        >>> spla.csr_array(np.eye(2)).to_torch().layout  # doctest: +SKIP
        torch.sparse_csr

        (PyTorch is optional; ``spla.from_torch``'s example runs where it is installed.)
        """
        from ._interop.torch import to_torch

        return to_torch(self, layout)

    def to_cupyx(self, format=None):
        """This GPU array as a ``cupyx.scipy.sparse`` matrix (CuPy's SciPy-like
        sparse matrices), sharing device memory where the storage is canonical.

        Parameters
        ----------
        format : {None, "csr", "csc", "coo"}
            By default CSC for a ``csc_array``, COO for a ``coo_array``, CSR otherwise.

        Raises
        ------
        ValueError
            For an array on the CPU (``to_scipy`` is its counterpart there).

        Examples
        --------
        >>> import numpy as np, spla
        >>> spla.csr_array(np.eye(2)).to_cupyx()
        Traceback (most recent call last):
        ...
        ValueError: to_cupyx: this array lives on the CPU; use to_scipy(), or move it with to_device('cuda') first
        """
        from ._interop.cupyx import to_cupyx

        return to_cupyx(self, format)

    def to_pydata(self, format=None):
        """This array as a pydata/sparse array: ``"gcxs"`` (CSR and CSC keep their
        compressed axis; the default but for COO) or ``"coo"``.

        Examples
        --------
        >>> import numpy as np, spla
        >>> spla.csr_array(np.eye(2)).to_pydata().format  # doctest: +SKIP
        'gcxs'

        (pydata/sparse is optional; ``spla._interop.pydata``'s example runs where it is
        installed.)
        """
        from ._interop.pydata import to_pydata

        return to_pydata(self, format)

    # -- conversions ---------------------------------------------------------------------------

    def asformat(self, format, copy=False):
        """Convert to the spla format named ``format`` (``"csr"``, ``"csc"``, and
        every format that registers itself in ``spla.formats()``); ``None`` keeps it.

        Examples
        --------
        >>> import spla, numpy as np
        >>> spla.csr_array(np.eye(2)).asformat("csc").format
        'csc'
        """
        if format is None or format == self.format:
            return self.copy() if copy else self
        if format in ("array", "dense"):  # SciPy's names for a dense NumPy array
            return self.toarray()
        if format in ("lil", "dok", "bsr", "dia") and format not in registry.formats():
            return getattr(self, "to" + format)(copy=copy)
        out = registry.to_format(self, format)
        return out.copy() if copy and out is self else out

    def tocsc(self, copy=False):
        """The same array as a ``csc_array``."""
        return registry.to_format(self, "csc")

    def tocoo(self, copy=False):
        """The same array as a ``coo_array``."""
        return registry.converter("coo")(self, copy=copy)

    def _to_scipy_format(self, name, copy=False):
        """A SciPy array of a format spla does not have (LIL, DOK, BSR, DIA)."""
        return getattr(self.tocsr().to_device("cpu").to_scipy(), "to" + name)(copy=copy)

    def tolil(self, copy=False):
        """The same array as a ``scipy.sparse.lil_array`` (spla has no LIL format)."""
        return self._to_scipy_format("lil", copy)

    def todok(self, copy=False):
        """The same array as a ``scipy.sparse.dok_array`` (spla has no DOK format)."""
        return self._to_scipy_format("dok", copy)

    def tobsr(self, blocksize=None, copy=False):
        """The same array as a ``scipy.sparse.bsr_array`` (spla has no BSR format)."""
        return self.tocsr().to_device("cpu").to_scipy().tobsr(blocksize=blocksize, copy=copy)

    def todia(self, copy=False):
        """The same array as a ``scipy.sparse.dia_array`` (spla's banded format is
        ``asformat("banded")``)."""
        return self._to_scipy_format("dia", copy)

    def todense(self, order=None, out=None):
        """Dense NumPy array (same as ``toarray``; spla has no matrix class)."""
        return self.toarray(order=order, out=out)

    # -- scalar-like behaviour and printing -------------------------------------------------------

    def __len__(self):
        raise TypeError("sparse array length is ambiguous; use getnnz() or shape[0]")

    def __bool__(self):
        if self.shape == (1, 1) or self.shape == (1,):
            # the value (duplicates summed; SciPy's ``nnz != 0`` calls an explicitly
            # stored zero true)
            return self.count_nonzero() != 0
        raise ValueError(
            "The truth value of an array with more than one element is ambiguous. "
            "Use a.any() or a.all()."
        )

    # -- indexing (spla._indexing: reads; formats override __getitem__) --------------------

    def __getitem__(self, key):
        """``A[key]`` with SciPy's semantics (formats without reads answer through CSR)."""
        from ._indexing.read import getitem_via_csr

        return getitem_via_csr(self, key)

    def __iter__(self):
        """The rows ``A[0], A[1], ...`` (1-D ``coo_array``; scalars of a 1-D array)."""
        from ._indexing.read import iterate

        return iterate(self)

    _FORMAT_NAMES = {
        "csr": "Compressed Sparse Row",
        "csc": "Compressed Sparse Column",
        "coo": "COOrdinate",
        "nm": "N:M structured",
        "banded": "Banded (row-aligned DIAgonal)",
    }

    def __repr__(self):
        name = self._FORMAT_NAMES.get(self.format, self.format)
        where = "" if self.device == "cpu" else f" on {self.device}"
        return (
            f"<{name} sparse array of dtype '{self.dtype}'\n"
            f"\twith {self.nnz} stored elements and shape {self.shape}{where}>"
        )

    #: How many stored entries ``str`` shows (SciPy's ``maxprint``; the
    #: constructors of the compressed formats take it as a keyword).
    maxprint = 50

    def __str__(self):
        maxprint = self.maxprint  # an instance setting (``maxprint=``), not part of the storage
        s = self._snap()  # one reading of the storage
        out = repr(s)
        if s.nnz == 0:
            return out
        csr = s.tocsr()._snap()
        if csr.device != "cpu":
            csr = csr.to_device("cpu")
        rows = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
        coords = (rows, csr.indices)
        data = csr.data

        def lines(sel):
            return "\n".join(
                f"  {(int(r), int(c))}\t{v}"
                for r, c, v in zip(coords[0][sel], coords[1][sel], data[sel])
            )

        out += "\n  Coords\tValues\n"
        if data.size > maxprint:
            half = maxprint // 2
            out += lines(slice(0, half)) + "\n  :\t:\n" + lines(slice(data.size - (maxprint - half), None))
        else:
            out += lines(slice(None))
        return out

    # -- operands -------------------------------------------------------------------------------

    def _sparse_operand(self, other):
        """``other`` as an spla array if it is sparse (spla or SciPy), else None."""
        if isinstance(other, SparseArray):
            return other
        if _is_scipy_sparse(other) or registry.foreign_converter(other) is not None:
            return registry.from_foreign(other)  # SciPy, pydata/sparse, torch sparse
        return None

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
        if self.device == "cpu" and is_gpu_array(other):
            raise ValueError(
                "operand is a CuPy (GPU) array but this spla array lives on the CPU; "
                "move one of them with to_device()"
            )
        if (self.device == "cpu" and hasattr(other, "__dlpack__")
                and not hasattr(other, "__array__")):
            other = np.from_dlpack(other)  # a DLPack-only array (no copy)
        arr = xp.asarray(other)
        if arr.dtype == object:
            return None
        return arr

    def _check_same_shape(self, other, op):
        if self.shape != other.shape:
            raise ValueError(f"inconsistent shapes: {op} of {self.shape} and {other.shape}")
        if self.device != other.device:
            raise ValueError(
                f"{op}: operands live on different devices ({self.device!r} and "
                f"{other.device!r}); move one with to_device()"
            )

    # -- NumPy interoperability -----------------------------------------------------------------

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """NumPy ufuncs on spla arrays, where SciPy's sparse arrays support them:
        the unary ufuncs with ``f(0) == 0`` (``np.sqrt(A)``), ``abs``, ``negative``,
        ``conjugate``, and the binary operators (``ndarray + A`` and friends).
        Anything else raises ``TypeError``: it would make the array dense."""
        out = kwargs.pop("out", None)
        if ufunc is np.matmul and kwargs.get("axes") == [(-2, -1)] * 3:
            del kwargs["axes"]  # ``dense @= A`` passes matmul's default axes
        if method != "__call__" or kwargs:
            return NotImplemented
        if out is not None:
            if (ufunc in (np.multiply, np.matmul) and len(out) == 1 and len(inputs) == 2
                    and out[0] is inputs[0] and inputs[1] is self):
                # ``dense *= A`` and ``dense @= A``: SciPy's sparse arrays rebind the name
                # to ``dense * A`` (sparse) and ``dense @ A`` (whose shape may differ), and
                # so does this, the result being what the in-place operator returns; where
                # it fits, the dense operand is also overwritten with it, so that an
                # explicit ``np.multiply(d, A, out=d)`` leaves ``d`` holding the product
                result = self.__rmul__(out[0]) if ufunc is np.multiply \
                    else self.__rmatmul__(out[0])
                if result is NotImplemented:
                    return NotImplemented
                if result.shape == out[0].shape and np.can_cast(result.dtype, out[0].dtype,
                                                                "same_kind"):
                    out[0][...] = result.toarray() if isinstance(result, SparseArray) \
                        else result
                return result
            # ``dense += A`` and friends: the result, written into the dense output
            result = self.__array_ufunc__(ufunc, method, *inputs)
            if result is NotImplemented and len(out) == 1 and out[0] is inputs[0]:
                # an in-place operator (``dense //= A``): Python's message, as SciPy gives
                raise TypeError(f"unsupported operand type(s) for in-place {ufunc.__name__}: "
                                f"'{type(out[0]).__name__}' and '{type(self).__name__}'")
            if result is NotImplemented or len(out) != 1:
                return NotImplemented
            dense = result.toarray() if isinstance(result, SparseArray) else result
            out[0][...] = dense
            return out[0]
        if any(isinstance(x, np.ndarray) and x.dtype == object for x in inputs):
            return NotImplemented  # not an operand (and NumPy would hand it back to us)
        if len(inputs) == 1 and inputs[0] is self:
            name = {np.absolute: "__abs__", np.negative: "__neg__", np.conjugate: "conjugate",
                    np.positive: "__pos__"}.get(ufunc, ufunc.__name__)
            from ._data import UFUNCS_FIXED_AT_ZERO

            if name in UFUNCS_FIXED_AT_ZERO or name in ("__abs__", "__neg__", "conjugate",
                                                        "__pos__"):
                return getattr(self, name)()
        if len(inputs) == 2:
            a, b = inputs
            if ufunc in (np.maximum, np.minimum):
                other = b if a is self else a
                return getattr(self, ufunc.__name__)(other)
            op = _UFUNC_OPERATORS.get(ufunc)
            if op is not None:
                if a is self:
                    return op(self, b)
                if op is operator.sub:
                    return self.__rsub__(a)
                if op is operator.matmul:
                    return self.__rmatmul__(a)
                if op is operator.truediv:
                    return self.__rtruediv__(a)
                return _REFLECTED[op](self, a)
        return NotImplemented

    # -- matmul --------------------------------------------------------------------------------------

    def __matmul__(self, other):
        if type(other) is np.ndarray and other.ndim and self.device == "cpu":
            # The common case, without the conversions below (a few microseconds,
            # as long as a small SpMV).
            if other.dtype == object:
                raise TypeError("unsupported operand of type ndarray")
            return self._matmul_dense(other)
        if is_gpu_array(other) and other.ndim:
            # The GPU's common case: at small products (a 2:4 GEMM of 50 us) the
            # host's time per call decides whether the GPU waits between launches.
            if self.device == "cpu":
                raise ValueError(
                    "operand is a CuPy (GPU) array but this spla array lives on the CPU; "
                    "move one of them with to_device()"
                )
            return self._matmul_dense(other)
        if is_scalar_like(other):
            raise ValueError("matmul: a scalar operand is not allowed, use '*' instead")
        sparse = self._sparse_operand(other)
        if sparse is not None:
            if sparse.ndim == 1 or self.ndim == 1:
                return self._matmul_1d_sparse(sparse)
            if sparse.shape[0] != self.shape[1]:
                raise ValueError(f"matmul: dimension mismatch: {self.shape} @ {sparse.shape}")
            if sparse.device != self.device:
                raise ValueError(
                    f"matmul: operands live on different devices ({self.device!r} and "
                    f"{sparse.device!r}); move one with to_device()"
                )
            return self._matmul_sparse(sparse)
        if type(other).__module__.split(".")[0] == "torch":
            if self.device == "cuda":
                # A PyTorch CUDA tensor: the product on its memory (DLPack), a tensor back.
                from spla_cuda.interop import from_torch, to_torch

                return to_torch(self._matmul_dense(from_torch(other)))
            from ._interop.torch import on_cpu_tensor

            # a strided CPU tensor: the product on its memory, a tensor back
            return on_cpu_tensor(self._matmul_dense, other)
        dense = self._dense_operand(other)
        if dense is None:
            return NotImplemented
        return self._matmul_dense(dense)

    def _matmul_1d_sparse(self, sparse):
        """``self @ v`` for a 1-D sparse ``v``: a 1-D sparse result, as SciPy's."""
        if sparse.shape[0] != self.shape[1]:
            raise ValueError(f"matmul: dimension mismatch: {self.shape} @ {sparse.shape}")
        column = sparse.reshape((sparse.shape[0], 1))
        return (self @ column).tocoo().reshape((self.shape[0],))

    def _matmul_dense(self, x):
        """``self @ x`` for a dense array ``x`` of this array's device."""
        if x.ndim == 0:
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
        if is_scalar_like(other):
            raise ValueError("matmul: a scalar operand is not allowed, use '*' instead")
        if self.device == "cpu" and type(other).__module__.split(".")[0] == "torch" \
                and getattr(other, "layout", None) is not None \
                and str(other.layout) == "torch.strided":
            from ._interop.torch import on_cpu_tensor

            return on_cpu_tensor(self.__rmatmul__, other)  # a tensor back, as A @ t
        sparse = self._sparse_operand(other)
        if sparse is not None:
            return sparse @ self
        x = self._dense_operand(other)
        if x is None:
            return NotImplemented
        if x.ndim == 0:
            raise ValueError("matmul: a scalar operand is not allowed, use '*' instead")
        if x.shape[-1] != self.shape[0]:
            raise ValueError(
                f"matmul: dimension mismatch: dense {x.shape} @ sparse {self.shape} "
                f"(needs {self.shape[0]} columns)"
            )
        if x.ndim == 1:
            return self.T @ x
        xp = _dispatch.array_module(self.device)
        return xp.swapaxes(self.T @ xp.swapaxes(x, -1, -2), -1, -2)

    def _matmul_sparse(self, other):
        """``self @ other`` for two sparse arrays: the table's entry for the pair of
        formats, or the CSR product."""
        key = (self.format, other.format)
        if _dispatch.has("spgemm", key, self.device):
            return _dispatch.lookup("spgemm", key, self.device)(self, other)
        return self.tocsr()._matmul_sparse(other.tocsr())

    def dot(self, other):
        """Ordinary dot product: ``self * other`` for a scalar, ``self @ other`` otherwise."""
        if np.isscalar(other):
            return self * other
        return self @ other

    # -- arithmetic ------------------------------------------------------------------------------------

    def __add__(self, other):
        return self._add(other, 1)

    def __radd__(self, other):
        return self._add(other, 1)

    def __sub__(self, other):
        return self._add(other, -1)

    def __rsub__(self, other):
        if is_scalar_like(other):
            if other == 0:
                return -self.copy()
            raise NotImplementedError(
                "subtracting a sparse array from a nonzero scalar is not supported"
            )
        sparse = self._sparse_operand(other)
        if sparse is not None:
            return sparse - self
        dense = self._dense_operand(other)
        if dense is None:
            return NotImplemented
        dense = self._broadcast_dense(dense, "subtract")
        return self._add_dense(dense, -1, reverse=True)

    def _add(self, other, sign):
        op = "add" if sign == 1 else "subtract"
        if is_scalar_like(other):
            if other == 0:
                return self.copy()
            verb = "adding a nonzero scalar to" if sign == 1 else "subtracting a nonzero scalar from"
            raise NotImplementedError(f"{verb} a sparse array is not supported")
        sparse = self._sparse_operand(other)
        if sparse is not None:
            self._check_same_shape(sparse, op)
            return self._add_sparse(sparse, sign)
        dense = self._dense_operand(other)
        if dense is None:
            return NotImplemented
        dense = self._broadcast_dense(dense, op)
        return self._add_dense(dense, sign)

    def _broadcast_dense(self, dense, op):
        xp = _dispatch.array_module(self.device)
        try:
            return xp.broadcast_to(dense, self.shape)
        except ValueError:
            raise ValueError(
                f"{op}: dense operand {dense.shape} does not broadcast to {self.shape}"
            ) from None

    def _add_sparse(self, other, sign):
        return self.tocsr()._add_sparse(other, sign)

    def _add_dense(self, dense, sign, reverse=False):
        """``self + sign * dense`` (``reverse``: ``dense - self``), a dense array."""
        return self.tocsr()._add_dense(dense, sign, reverse)

    def __mul__(self, other):
        try:
            return self.multiply(other)
        except _NotAnOperand:
            return NotImplemented

    def __rmul__(self, other):
        return self.__mul__(other)

    def __truediv__(self, other):
        if is_scalar_like(other):
            return self._divide_scalar(other)
        sparse = self._sparse_operand(other)
        if sparse is not None:
            self._check_same_shape(sparse, "divide")
            return self._elementwise_sparse(sparse, "divide")
        dense = self._dense_operand(other)
        if dense is None:
            return NotImplemented
        with np.errstate(divide="ignore"):
            return self.multiply(np.divide(1, dense))

    def __rtruediv__(self, other):
        return NotImplemented

    def __pos__(self):
        return self

    def _divide_scalar(self, scalar):
        return self.tocsr()._divide_scalar(scalar)

    def _mul_scalar(self, scalar):
        return self.tocsr()._mul_scalar(scalar)

    def _scale(self, scalar, divide=False):
        """``self * scalar`` (or ``self / scalar``), keeping the structure."""
        return self._divide_scalar(scalar) if divide else self._mul_scalar(scalar)

    def multiply(self, other):
        """Elementwise product with a sparse array, a dense array (broadcast) or a scalar.

        A sparse operand gives a sparse result; a dense operand gives a sparse result
        as well (only stored entries can be non-zero), of the broadcast shape.

        Examples
        --------
        >>> import spla, numpy as np
        >>> A = spla.csr_array(np.array([[1.0, 0.0], [2.0, 3.0]]))
        >>> A.multiply(np.array([10.0, 100.0])).toarray()
        array([[ 10.,   0.],
               [ 20., 300.]])
        """
        if is_scalar_like(other):
            return self._mul_scalar(other)
        sparse = self._sparse_operand(other)
        if sparse is not None:
            if sparse.shape != self.shape:
                return self._multiply_broadcast_sparse(sparse)
            self._check_same_shape(sparse, "multiply")
            return self._multiply_sparse(sparse)
        dense = self._dense_operand(other)
        if dense is None:
            raise _NotAnOperand(f"cannot multiply a sparse array by {type(other).__name__}")
        if dense.ndim > 2:
            raise ValueError(f"multiply: operand with shape {dense.shape} has more than 2 dimensions")
        try:
            shape = np.broadcast_shapes(dense.shape, self.shape)
        except ValueError:
            raise ValueError(
                f"inconsistent shapes: multiply of {self.shape} and {dense.shape}"
            ) from None
        if shape != self.shape:
            return self._multiply_broadcast_dense(dense, shape)
        return self._multiply_dense(dense)

    def _multiply_sparse(self, other):
        return self._elementwise_sparse(other, "multiply")

    def _multiply_dense(self, dense):
        return self.tocsr()._multiply_dense(dense)

    def _multiply_broadcast_dense(self, dense, shape):
        return self.tocsr()._multiply_broadcast_dense(dense, shape)

    def _multiply_broadcast_sparse(self, sparse):
        return self.tocsr()._multiply_broadcast_sparse(sparse)

    def _elementwise_sparse(self, other, op):
        """``op`` of two sparse arrays of one shape: the entry of the table for the
        pair of formats, or CSR's."""
        key = (self.format, other.format)
        if _dispatch.has("elementwise", key, self.device):
            return _dispatch.lookup("elementwise", key, self.device)(self, other, op)
        return self.tocsr()._elementwise_sparse(other, op)

    def maximum(self, other):
        """Elementwise maximum with a sparse array, a dense array or a scalar."""
        return self._maximum_minimum(other, np.maximum)

    def minimum(self, other):
        """Elementwise minimum with a sparse array, a dense array or a scalar."""
        return self._maximum_minimum(other, np.minimum)

    def _maximum_minimum(self, other, np_op):
        if is_scalar_like(other):
            if np_op(0, other):
                import warnings

                from scipy.sparse import SparseEfficiencyWarning

                sign = "positive" if np_op is np.maximum else "negative"
                warnings.warn(f"Taking {np_op.__name__} with a {sign} number results in a "
                              "dense matrix.", SparseEfficiencyWarning, stacklevel=3)
                return type(self)(np_op(self.toarray(), other))
            return self._scalar_binop(other, np_op)
        sparse = self._sparse_operand(other)
        if sparse is not None:
            if sparse.shape != self.shape:
                raise ValueError(f"inconsistent shapes {self.shape=} {sparse.shape=}")
            return self._elementwise_sparse(sparse, np_op.__name__)
        dense = self._dense_operand(other)
        if dense is None:
            raise ValueError("Operands not compatible.")
        return np_op(self.toarray(), dense)

    def _scalar_binop(self, scalar, op):
        return self.tocsr()._scalar_binop(scalar, op)

    # -- comparisons ---------------------------------------------------------------------------------------

    def _comparison(self, other, op):
        if is_scalar_like(other):
            if not op(0, other):
                if np.isnan(other):
                    return type(self)(self.shape, dtype=np.bool_)
                return self._compare_scalar(other, op)
            inefficient(f"a sparse matrix with {other}", op)
            if np.isnan(other):
                return self._all_true()
            negated = COMPARISONS[op][1]
            return self._all_true() - self._compare_scalar(other, negated)
        sparse = self._sparse_operand(other)
        if sparse is not None:
            if sparse.shape != self.shape:
                if op in (operator.eq, operator.ne):
                    return op is operator.ne
                raise ValueError("inconsistent shape")
            if not op(0, 0):
                return self._elementwise_sparse(sparse, op.__name__)
            inefficient("two sparse matrices", op)
            negated = COMPARISONS[op][1]
            return self._all_true() - self._elementwise_sparse(sparse, negated.__name__)
        dense = self._dense_operand(other)
        if dense is None:
            return NotImplemented
        return op(self.toarray(), dense)

    def _all_true(self):
        csr = self.tocsr()
        xp = _dispatch.array_module(self.device)
        return type(csr)(xp.ones(self.shape, dtype=np.bool_))

    def _compare_scalar(self, scalar, op):
        return self.tocsr()._compare_scalar(scalar, op)

    def __eq__(self, other):
        return self._comparison(other, operator.eq)

    def __ne__(self, other):
        return self._comparison(other, operator.ne)

    def __lt__(self, other):
        return self._comparison(other, operator.lt)

    def __gt__(self, other):
        return self._comparison(other, operator.gt)

    def __le__(self, other):
        return self._comparison(other, operator.le)

    def __ge__(self, other):
        return self._comparison(other, operator.ge)

    # Elementwise ``==`` would make the arrays unhashable; spla keeps identity
    # hashing (as SciPy's sparse arrays do), so arrays can key caches.
    __hash__ = object.__hash__

    # -- value operations a format without values of its own answers through CSR --------------------

    def __abs__(self):
        return abs(self.tocsr())

    def __neg__(self):
        return -self.tocsr()

    def __round__(self, ndigits=0):
        return round(self.tocsr(), ndigits)

    def power(self, n, dtype=None):
        """Elementwise power by a non-zero scalar."""
        return self.tocsr().power(n, dtype=dtype)

    def __pow__(self, n):
        return self.power(n)

    # -- reductions ----------------------------------------------------------------------------------------

    def sum(self, axis=None, dtype=None, out=None):
        """Sum of all entries (``axis=None``), of each column (``axis=0``) or row (``axis=1``)."""
        return self.tocsr().sum(axis=axis, dtype=dtype, out=out)

    def mean(self, axis=None, dtype=None, out=None):
        """Mean over all entries or along ``axis`` (implicit zeros included), as SciPy.

        Examples
        --------
        >>> import spla, numpy as np
        >>> spla.csr_array(np.array([[1.0, 0.0], [2.0, 3.0]])).mean(axis=0)
        array([1.5, 1.5])
        """
        axis = check_axis(axis, self.ndim)
        inter = np.dtype(np.float64) if self.dtype.kind in "biu" else self.dtype
        src = self.astype(inter, copy=False)
        denom = int(np.prod(self.shape, dtype=object)) if axis is None else self.shape[axis]
        result = (src * (1.0 / denom)).sum(axis=axis, dtype=inter, out=out)
        if dtype is not None and out is None:
            return result.astype(dtype, copy=False)
        return result

    def diagonal(self, k=0):
        """The ``k``-th diagonal as a dense 1-D array (duplicates summed)."""
        return self.tocsr().diagonal(k)

    def trace(self, offset=0):
        """Sum of the ``offset``-th diagonal."""
        return self.diagonal(k=offset).sum()

    def count_nonzero(self, axis=None):
        """Number of stored entries whose value is not zero (along ``axis``)."""
        return self.tocsr().count_nonzero(axis=axis)

    def nonzero(self):
        """Row and column indices of the stored entries whose value is not zero."""
        return self.tocsr().nonzero()

    def _reduce_via_csr(name):
        def method(self, axis=None, out=None, *, explicit=False):
            return getattr(self.tocsr(), name)(axis=axis, out=out, explicit=explicit)

        method.__name__ = name
        method.__doc__ = f"``{name}`` along ``axis`` (through CSR), as SciPy's sparse arrays."
        return method

    max = _reduce_via_csr("max")
    min = _reduce_via_csr("min")
    nanmax = _reduce_via_csr("nanmax")
    nanmin = _reduce_via_csr("nanmin")
    argmax = _reduce_via_csr("argmax")
    argmin = _reduce_via_csr("argmin")
    del _reduce_via_csr
