"""N:M structured sparse arrays: at most ``n`` non-zeros in every group of ``m``
consecutive elements of a row (2:4 is what sparse tensor cores accelerate).

Storage (packed along rows):

- ``values``: (rows, G n), G = ceil(cols / m) groups per row; slot ``s`` of a row
  belongs to group ``s // n``. Every row has the same number of slots, so there
  are no row pointers.
- positions: the place of each slot inside its group, ``0 <= pos < m``, distinct
  within a group. Stored as 2-bit fields (four per byte, slot ``s`` in bits
  ``2 (s % 4)`` of byte ``s // 4`` of its row) when ``m == 4``, as one ``uint8``
  per slot otherwise. ``positions`` gives them unpacked; ``packed_positions``
  the stored bytes.

Padding rule: a column count that is not a multiple of ``m`` is padded with
zero columns up to ``G m``. Positions index the padded row, so the last group
may point into the padding (``column >= cols``) only with a stored value of
zero; products pad the dense operand with zero rows to match. ``shape`` stays
the unpadded one and ``toarray()`` drops the padding.

Groups with fewer than ``n`` non-zeros store explicit zeros. Arrays built from
dense or sparse input are canonical: positions sorted within each group, the
fill-in zeros at the lowest free positions.
"""

import numpy as np

from .. import _dispatch
from .._dtypes import HALF_DTYPES
from .._base import SparseArray, _is_scipy_sparse
from .._data import DataMixin
from .._dtypes import native
from ..ml.masks import check_nm, top_n_positions
from . import registry
from .arguments import check_order
from .validation import check_integer, check_shape

#: Value dtypes of N:M arrays (float16 and bfloat16, where ml-dtypes is installed, are
#: stored as they are; products compute in float32).
NM_VALUE_DTYPES = HALF_DTYPES + (np.dtype(np.float32), np.dtype(np.float64))
_NAMES = ", ".join(d.name for d in NM_VALUE_DTYPES)


def nm_value_dtype(input_dtype, requested=None):
    """The dtype values of ``input_dtype`` are stored as (``requested`` when given)."""
    if requested is not None:
        dt = native(requested)
        if dt not in NM_VALUE_DTYPES:
            raise TypeError(f"unsupported dtype {dt.name!r} for nm_array values; spla supports {_NAMES}")
        return dt
    dt = native(input_dtype)
    if dt in NM_VALUE_DTYPES:
        return dt
    if dt.kind in "biu":
        return np.dtype(np.float64)
    raise TypeError(f"unsupported dtype {dt.name!r} for nm_array values; spla supports {_NAMES}")


def pack_positions(pos, m):
    """Positions (rows, S) as stored: 2-bit fields for m == 4, else uint8."""
    if m != 4:
        # Always a copy: the kernels index with these, so the caller must not be
        # able to change them after validation.
        return np.array(pos, dtype=np.uint8, order="C", copy=True)
    pos = np.ascontiguousarray(pos, dtype=np.uint8)
    R, S = pos.shape
    out = np.zeros((R, -(-S // 4)), dtype=np.uint8)
    for i in range(4):
        field = pos[:, i::4]
        out[:, : field.shape[1]] |= field << np.uint8(2 * i)
    return out


def unpack_positions(packed, m, S):
    """Inverse of ``pack_positions``: (rows, S) uint8 (on the device of ``packed``)."""
    if m != 4:
        return packed.copy()
    xp = _dispatch.array_module(_dispatch.device_of(packed))
    R = packed.shape[0]
    out = xp.empty((R, S), dtype=np.uint8)
    for i in range(4):
        width = out[:, i::4].shape[1]
        out[:, i::4] = (packed[:, :width] >> np.uint8(2 * i)) & np.uint8(3)
    return out


def _group_columns(g, m, cols):
    last = min(cols, g * m + m) - 1
    return f"columns {g * m} to {last}"


class nm_array(DataMixin, SparseArray):
    """N:M structured sparse array: at most ``n`` non-zeros in every group of ``m``
    consecutive elements of each row.

    Parameters
    ----------
    arg : array_like, SciPy sparse, spla array or tuple
        One of

        - a dense 2-D array-like;
        - a SciPy sparse matrix/array or an spla array (densified once, then packed;
          duplicates summed);
        - another ``nm_array`` (same ``n``, ``m``: storage shared unless ``copy``);
        - ``(values, positions)``: packed storage, ``values`` of shape
          ``(rows, ceil(cols / m) * n)`` and integer ``positions`` of the same shape
          (each slot's place in its group, unpacked); needs ``shape``.
    n, m : int
        At most ``n`` non-zeros in every ``m``; ``1 <= n < m <= 16``.
    prune : bool
        Dense and sparse input that is not already N:M raises ``ValueError`` naming
        the first offending row and group, unless ``prune=True``, which keeps the
        ``n`` largest magnitudes of every group (``spla.nm_mask``) first.
    shape : tuple of 2 ints, optional
        Required with ``(values, positions)``; checked against other input.
    dtype : dtype, optional
        float16, float32 or float64. By default the input's, with booleans and
        integers stored as float64.
    copy : bool
        Copy raw storage even when it could be shared.

    CuPy input (a dense array, or a packed pair) gives an array on the GPU that
    held it: it is packed from a host copy, then its storage is moved there.

    Notes
    -----
    Column counts that are not a multiple of ``m`` are padded with zero columns
    (see ``spla._formats.nm``); slots that point into the padding must hold 0.
    float16 values are stored as float16; products convert them to float32 in
    the kernel wrapper (once per call) and return float32, as NumPy has no
    float16 kernels in Numba. Transposed products (``A.T @ x``, ``x @ A``) go
    through CSR: ``T`` is the ``csc_array`` of this matrix.

    Examples
    --------
    >>> import numpy as np, spla
    >>> W = np.array([[1.0, 0.0, 0.0, 2.0, 0.0, 3.0, 0.0, 0.0]])
    >>> A = spla.nm_array(W)                       # 2:4 by default
    >>> A.values, A.positions
    (array([[1., 2., 0., 3.]]), array([[0, 3, 0, 1]], dtype=uint8))
    >>> A @ np.ones(8)
    array([6.])
    >>> spla.nm_array(np.arange(8.0).reshape(1, 8), prune=True).toarray()
    array([[0., 0., 2., 3., 0., 0., 6., 7.]])
    """

    format = "nm"

    def __init__(self, arg, n=2, m=4, prune=False, shape=None, dtype=None, copy=False):
        n, m = check_nm(n, m)
        if shape is not None:
            shape = check_shape(shape)
        gpu = _cupy_input(arg)
        if gpu is not None:
            # Packing runs on the CPU: pack a host copy, then move the storage to
            # the GPU that held the input.
            import cupy

            host = nm_array(_to_host(arg), n=n, m=m, prune=prune, shape=shape, dtype=dtype)
            with cupy.cuda.Device(gpu):
                self.__dict__.update(host._move_to("cuda").__dict__)
            return
        if isinstance(arg, nm_array) and (arg.n, arg.m) == (n, m):
            if shape is not None and shape != arg.shape:
                raise ValueError(f"shape {shape} does not match the input's {arg.shape}")
            if dtype is not None and not arg._stores(dtype):
                raise TypeError(f"nm_array stores real floating values "
                                f"({', '.join(d.name for d in NM_VALUE_DTYPES)}), not "
                                f"{np.dtype(dtype).name}")
            src = arg.astype(dtype, copy=copy) if dtype is not None else (
                arg.copy() if copy else arg)
            self._set(src._values, src._packed, n, m, src._shape)
        elif isinstance(arg, tuple):
            if len(arg) != 2:
                raise ValueError(
                    "packed N:M input must be a pair (values, positions), "
                    f"got a tuple of {len(arg)}"
                )
            self._init_from_packed(arg, n, m, shape, dtype, copy)
        else:
            if isinstance(arg, SparseArray):
                dense = arg.toarray()
            elif _is_scipy_sparse(arg):
                if arg.ndim != 2:
                    raise ValueError(f"spla arrays are 2-D; got a {arg.ndim}-D SciPy array")
                dense = arg.toarray()
            else:
                try:
                    dense = np.asarray(arg)
                except (ValueError, TypeError) as exc:
                    raise TypeError(
                        f"cannot build an nm_array from {type(arg).__name__}: {exc}"
                    ) from None
            self._init_from_dense(dense, n, m, prune, shape, dtype)

    # -- construction ------------------------------------------------------------

    def __setitem__(self, key, x):
        """``A[key] = x`` (SciPy's keys and values) when the result keeps the N:M rule;
        otherwise ``ValueError`` naming the row and group that would break it. Only
        the touched groups are repacked (canonically), on the CPU or the GPU.

        Examples
        --------
        >>> import numpy as np, spla
        >>> A = spla.nm_array(np.array([[1.0, 0, 0, 2]]), n=2, m=4)
        >>> A[0, 3] = 7.0
        >>> A.toarray()
        array([[1., 0., 0., 7.]])
        """
        from .._indexing.assign import assign_nm

        values, packed = assign_nm(self, key, x)
        self._set(values, packed, self._n, self._m, self._shape)
        self._invalidate()

    def _set(self, values, packed, n, m, shape):
        self._values = values
        self._packed = packed
        self._n = n
        self._m = m
        self._shape = tuple(int(d) for d in shape)
        self._slot_base = None

    @classmethod
    def _from_parts(cls, values, packed, n, m, shape):
        """Wrap storage that spla built and knows to be valid (no checks)."""
        obj = cls.__new__(cls)
        obj._set(values, packed, n, m, shape)
        return obj

    def _init_from_dense(self, dense, n, m, prune, shape, dtype):
        if dense.dtype == object:
            raise TypeError("cannot build an nm_array from an object array")
        if dense.ndim != 2:
            raise ValueError(f"dense input must be 2-D, got shape {dense.shape}")
        if shape is not None and dense.shape != shape:
            raise ValueError(f"shape {shape} does not match the input's {dense.shape}")
        target = nm_value_dtype(dense.dtype, dtype)
        R, C = dense.shape
        G = -(-C // m)
        if G * m != C:
            padded = np.zeros((R, G * m), dtype=dense.dtype)
            padded[:, :C] = dense
        else:
            padded = dense
        groups = padded.reshape(R, G, m)
        if not prune and groups.size:
            counts = np.count_nonzero(groups, axis=-1)  # NaN counts as non-zero
            bad = counts > n
            if bad.any():
                row, g = divmod(int(np.argmax(bad.ravel())), G)
                raise ValueError(
                    f"nm_array: input is not {n}:{m} sparse: row {row}, group {g} "
                    f"({_group_columns(g, m, C)}) has {int(counts[row, g])} non-zeros, "
                    f"more than n={n}; pass prune=True to keep the {n} largest"
                )
        # Keeps every non-zero (when there are at most n) and fills with the lowest
        # free positions; with prune=True it is nm_mask's choice.
        # bfloat16 (an ml_dtypes type NumPy's abs does not sort by magnitude) is
        # ranked through float32, which holds every bfloat16 value exactly.
        pos = top_n_positions(groups if groups.dtype.kind != "V" else groups.astype(np.float32), n)
        values = np.take_along_axis(groups, pos.astype(np.intp), axis=-1)
        values = np.ascontiguousarray(values.reshape(R, G * n), dtype=target)
        self._set(values, pack_positions(pos.reshape(R, G * n), m), n, m, (R, C))

    def _init_from_packed(self, arg, n, m, shape, dtype, copy):
        values, positions = arg
        if shape is None:
            raise ValueError("nm_array((values, positions)) needs shape=(rows, cols)")
        values = np.asarray(values)
        positions = np.asarray(positions)
        R, C = shape
        G = -(-C // m)
        S = G * n
        if values.ndim != 2 or values.shape != (R, S):
            raise ValueError(
                f"nm_array: values has shape {values.shape}, expected {(R, S)} "
                f"(rows, ceil(cols / m) * n) for shape {shape} and {n}:{m}"
            )
        if positions.shape != values.shape:
            raise ValueError(
                f"nm_array: positions has shape {positions.shape}, expected {values.shape} "
                "(one position per value, unpacked)"
            )
        check_integer(positions, "positions")
        target = nm_value_dtype(values.dtype, dtype)
        if positions.size:
            bad = (positions < 0) | (positions >= m)
            if bad.any():
                row, s = divmod(int(np.argmax(bad.ravel())), S)
                raise ValueError(
                    f"nm_array: position {int(positions[row, s])} of row {row}, slot {s} "
                    f"(group {s // n}) is out of range: positions must be in [0, {m})"
                )
            srt = np.sort(positions.reshape(R, G, n), axis=-1)
            dup = (np.diff(srt, axis=-1) == 0).any(axis=-1)
            if dup.any():
                row, g = divmod(int(np.argmax(dup.ravel())), G)
                raise ValueError(
                    f"nm_array: row {row}, group {g} ({_group_columns(g, m, C)}) "
                    f"repeats a position: {positions[row, g * n:(g + 1) * n].tolist()}"
                )
            r = C - (G - 1) * m  # width of the last group
            if r < m:
                last = slice((G - 1) * n, G * n)
                outside = (positions[:, last] >= r) & (values[:, last] != 0)
                if outside.any():
                    row, t = divmod(int(np.argmax(outside.ravel())), n)
                    raise ValueError(
                        f"nm_array: row {row}, group {G - 1} stores the non-zero value "
                        f"{values[row, (G - 1) * n + t]!r} at position "
                        f"{int(positions[row, (G - 1) * n + t])}, in the zero padding "
                        f"beyond column {C - 1}"
                    )
        vals = np.ascontiguousarray(values, dtype=target)
        if copy and np.shares_memory(vals, values):
            vals = vals.copy()
        self._set(vals, pack_positions(positions, m), n, m, shape)

    # -- attributes ----------------------------------------------------------------

    @property
    def values(self):
        """Stored values, shape ``(rows, ceil(cols / m) * n)``."""
        return self._values

    @property
    def positions(self):
        """Position of each stored value inside its group, unpacked ``uint8`` of the
        shape of ``values``."""
        return unpack_positions(self._packed, self._m, self._values.shape[1])

    @property
    def packed_positions(self):
        """Positions as stored: 2-bit fields (4 per byte) for m = 4, else uint8."""
        return self._packed

    @property
    def n(self):
        """Largest number of non-zeros per group."""
        return self._n

    @property
    def m(self):
        """Group size."""
        return self._m

    @property
    def shape(self):
        return self._shape

    @property
    def dtype(self):
        return self._values.dtype

    @property
    def nnz(self):
        """Number of stored values (``rows * ceil(cols / m) * n``), explicit zeros included."""
        return int(self._values.size)

    @property
    def nbytes(self):
        """Bytes of storage: values plus (packed) positions."""
        return int(self._values.nbytes + self._packed.nbytes)

    @property
    def device(self):
        """Where the storage lives: ``"cpu"`` (NumPy) or ``"cuda"`` (CuPy)."""
        return _dispatch.device_of(self._values)

    @property
    def T(self):
        """The transpose, as a ``csc_array`` (N:M along rows becomes N:M along columns,
        which this format does not store); built through ``tocsr()``."""
        return self.tocsr().T

    def __repr__(self):
        return (
            f"<spla.nm_array shape={self.shape}, dtype={self.dtype.name}, "
            f"{self._n}:{self._m}, nnz={self.nnz}, device={self.device!r}>"
        )

    # -- conversions -----------------------------------------------------------------

    def _slot_bases(self):
        """First column of each slot's group, ``(s // n) m`` (int64, cached)."""
        if self._slot_base is None:
            S = self._values.shape[1]
            self._slot_base = (np.arange(S, dtype=np.int64) // self._n) * self._m
        return self._slot_base

    def toarray(self, order=None, out=None):
        """Dense NumPy array of this array's dtype (float16 stays float16).

        Examples
        --------
        >>> import numpy as np, spla
        >>> spla.nm_array(np.array([[0.0, 5.0, 0.0, 0.0]]), n=1, m=4).toarray()
        array([[0., 5., 0., 0.]])
        """
        return _dispatch.lookup("toarray", "nm", self.device)(self, check_order(order), out)

    def tocsr(self, copy=False):
        """The same matrix as a canonical ``csr_array`` without the stored zeros
        (float16 values become float32, which CSR supports).

        Examples
        --------
        >>> import numpy as np, spla
        >>> spla.nm_array(np.array([[0.0, 5.0, 0.0, 1.0]])).tocsr().nnz
        2
        """
        return _dispatch.lookup("tocsr", "nm", self.device)(self)

    def tocsc(self, copy=False):
        """The same matrix as a ``csc_array``."""
        return self.tocsr().tocsc()

    def to_scipy(self):
        """``scipy.sparse.csr_array`` of this matrix (a copy; stored zeros dropped)."""
        return self.tocsr().to_scipy()

    def astype(self, dtype, copy=True):
        """The array with values cast to ``dtype``.

        N:M arrays store float16, bfloat16, float32 or float64 values; any other
        dtype (complex, integer, bool) gives a ``csr_array``, as every result the
        format cannot store does.

        Examples
        --------
        >>> import numpy as np, spla
        >>> spla.nm_array(np.eye(4)).astype(np.float16).dtype
        dtype('float16')
        >>> spla.nm_array(np.eye(4)).astype(np.complex128).format
        'csr'
        """
        try:
            dt = nm_value_dtype(None, dtype)
        except TypeError:
            # not an N:M value dtype: CSR stores it (or names the problem)
            return self.tocsr().astype(dtype, copy=copy)
        if dt == self.dtype and not copy:
            return self
        packed = self._packed.copy() if copy else self._packed
        return self._from_parts(self._values.astype(dt), packed, self._n, self._m, self._shape)

    def copy(self):
        """A deep copy."""
        return self._from_parts(self._values.copy(), self._packed.copy(), self._n, self._m,
                                self._shape)

    def _with_data(self, values, copy=True):
        """An N:M array with these positions and ``values``; on a device that lays
        storage out for its hardware, laid out again."""
        packed = self._packed.copy() if copy else self._packed
        out = self._from_parts(values, packed, self._n, self._m, self._shape)
        if _dispatch.has("prepare", "nm", self.device):
            _dispatch.lookup("prepare", "nm", self.device)(out)
        return out

    def _stores(self, dtype):
        # N:M values are real floats; anything else (complex scales, bool
        # comparisons) is answered in CSR.
        return np.dtype(dtype) in NM_VALUE_DTYPES

    def _divide_scalar(self, scalar):
        # Unlike CSR (SciPy's rule: float64), N:M keeps NumPy's promotion of the
        # values and the scalar, so float16 weights stay float16.
        scalar = scalar[()] if hasattr(scalar, "ndim") else scalar
        return self._apply(lambda v: v / scalar, dedupe=False)

    def conjugate(self, copy=True):
        """Complex conjugate: the array itself or a copy (values are real)."""
        return self.copy() if copy else self

    def count_nonzero(self, axis=None):
        """Number of stored values that are not zero (along ``axis``: through CSR)."""
        if axis is not None:
            return self.tocsr().count_nonzero(axis=axis)
        xp = _dispatch.array_module(self.device)
        return int(xp.count_nonzero(self._values))

    def _move_to(self, device):
        xp = _dispatch.array_module(device)
        move = (lambda a: a.get()) if device == "cpu" else xp.asarray
        moved = self._from_parts(move(self._values), move(self._packed), self._n, self._m,
                                 self._shape)
        # A backend may lay the storage out for its hardware once, on arrival
        # (spla_cuda: the 2:4 metadata of the sparse tensor cores).
        if _dispatch.has("prepare", "nm", device):
            _dispatch.lookup("prepare", "nm", device)(moved)
        return moved

    # -- products --------------------------------------------------------------------

    def _matmul_vector(self, x):
        return _dispatch.lookup("matvec", "nm", self.device)(self, x)

    def _matmul_matrix(self, X):
        return _dispatch.lookup("matmat", "nm", self.device)(self, X)


def _cupy_input(arg):
    """The GPU ordinal of CuPy input (a dense array, or a packed pair of CuPy arrays),
    None for host input. A pair that mixes NumPy and CuPy raises ``ValueError``."""
    parts = arg if isinstance(arg, tuple) else (arg,)
    on_gpu = [type(a).__module__.split(".")[0] == "cupy" for a in parts]
    if not any(on_gpu):
        return None
    if not all(on_gpu):
        raise ValueError("nm_array: values and positions live on different devices "
                         "(some NumPy, some CuPy)")
    return int(parts[0].device.id)


def _to_host(arg):
    if isinstance(arg, tuple):
        return tuple(a.get() for a in arg)
    return arg.get()


def _to_nm(a):
    return a if isinstance(a, nm_array) else nm_array(a)


registry.register_format("nm", _to_nm)
