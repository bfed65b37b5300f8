"""CPU reductions of raw CSR storage with SciPy 1.17's results.

Every function takes the storage of a CSR array, ``(data, indices, indptr,
shape)``, and the arguments of the SciPy method of the same name; it returns
what SciPy's ``csr_array`` method returns, in raw form: a NumPy scalar or
Python int for ``axis=None``, a NumPy array for ``sum``/``mean``/``argmin``/
``argmax``/``count_nonzero`` along an axis, and the COO of a 1-D sparse array,
``(data, (coords,), (length,))``, for ``min``/``max``/``nanmin``/``nanmax``
along an axis. CSC storage of ``A`` is the CSR storage of ``A.T``: call with
the swapped shape and the other axis (``fmt="csc"`` does that, and keeps the
row-major flat index of ``argmin``/``argmax`` with ``axis=None``).

SciPy sums a matrix's duplicates (in place) before comparing; these functions
leave the input untouched and work on the canonical form of each row, built on
the fly only for rows that are not canonical. ``canonical=True`` tells them
that every row is (sorted, no duplicates), which skips the check.

Errors are SciPy's: ``TypeError`` for an axis that is not an integer,
``ValueError`` for one out of range, for reductions over an empty axis, and
for an ``out`` argument where SciPy takes none.

``trusted=True`` (what the CSR/CSC backend passes) says that the storage is
that of a validated spla array: the O(1) checks of raw storage are skipped,
which matters on small arrays, where they cost more than the kernel.
"""


import numpy as np

from ..._kernels import reduce as K
from ..._kernels.partition import row_blocks
from ..._kernels.threads import parallel_section
from ..._formats.arguments import check_axis
from . import convert
from .memory import pooled_empty

#: Below this many rows + entries the kernels run serially on the calling thread.
SERIAL_MAX_ITEMS = convert.SERIAL_MAX_ITEMS
_INT32_MAX = np.iinfo(np.int32).max
_MINMAX_OPS = {"max": 0, "min": 1, "nanmax": 2, "nanmin": 3}
#: Value dtypes the kernels compile for (float16 is widened to float32 first).
_SUPPORTED = frozenset(np.dtype(t) for t in (
    np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
    np.float32, np.float64, np.complex64, np.complex128))
_MINMAX_UFUNCS = {"max": np.maximum, "min": np.minimum, "nanmax": np.fmax, "nanmin": np.fmin}


# The serial/parallel choice and the row blocks are the conversions' (one rule).
_threads = convert._threads
_is_serial = convert._is_serial
_blocks = convert._blocks


def _kernel(name, serial):
    return K.SERIAL[name] if serial else getattr(K, name)


def _pieces(n, serial):
    """Pieces of a flat reduction: depends on the size only (same bits on any
    thread count)."""
    return 1 if serial else int(max(1, min(64, n // 65536)))


def validate_axis(axis, ndim=2):
    """``axis`` as ``None`` (all axes) or one non-negative int, with NumPy's and
    SciPy's errors (``spla._formats.arguments.check_axis``).

    Examples
    --------
    >>> validate_axis(-1), validate_axis((0, 1)), validate_axis(None)
    (1, None, None)
    """
    return check_axis(axis, ndim)


def _storage(data, indices, indptr, shape, fmt, trusted=False, cast_indices=True):
    """Checked CSR storage (float16 values widened to float32 for the kernels)
    and the shape of the array it stands for.

    ``trusted``: the storage of a validated spla array (``indptr`` consistent with
    ``indices``, ``shape`` a pair of ints), whose O(1) checks are skipped: on a
    small array they cost several times the kernel. ``cast_indices=False`` leaves
    ``indices`` in its own dtype (for kernels that never read it).
    """
    if fmt not in ("csr", "csc"):
        raise ValueError(f"fmt must be 'csr' or 'csc', got {fmt!r}")
    if trusted:
        if data.dtype == np.float16:
            data = data.astype(np.float32)
        elif data.dtype not in _SUPPORTED:
            raise TypeError(f"unsupported value dtype {data.dtype}")
        stored_shape = shape if fmt == "csr" else shape[::-1]
        data, indices, indptr = (np.ascontiguousarray(a) for a in (data, indices, indptr))
    else:
        data = np.asarray(data)
        if data.dtype == np.float16:
            data = data.astype(np.float32)
        if data.dtype not in _SUPPORTED:
            raise TypeError(f"unsupported value dtype {data.dtype}")
        shape = convert.check_shape(shape)
        stored_shape = shape if fmt == "csr" else shape[::-1]
        data, indices, indptr, stored_shape = convert.check_compressed(data, indices, indptr,
                                                                       stored_shape)
    if indices.size + stored_shape[0] < SERIAL_MAX_ITEMS:
        # one index type for the small (serial) kernels: half the compilations
        if cast_indices:
            indices = indices.astype(np.int64, copy=False)
        indptr = indptr.astype(np.int64, copy=False)
    return data, indices, indptr, stored_shape, shape


def _swap_axis(axis, fmt):
    return axis if fmt == "csr" or axis is None else 1 - axis


def _canonical(data, indices, indptr, shape, canonical, serial):
    """The storage in canonical form (the input itself when it already is)."""
    if canonical:
        return data, indices, indptr
    with parallel_section():
        ok = convert._kernel("rows_canonical", serial)(indptr, indices,
                                                        _serial_blocks(indptr, serial))
    if ok:
        return data, indices, indptr
    d, j, p, _ = convert.canonicalize(data, indices, indptr, shape)
    return d, j, p


def _transposed(data, indices, indptr, shape):
    d, j, p, _ = convert.transpose(data, indices, indptr, shape)
    return d, j, p


# ---------------------------------------------------------------------------
# Sums and means
# ---------------------------------------------------------------------------


def sum_dtype(dtype):
    """NumPy's (and SciPy's ``get_sum_dtype``) result dtype of a sum of ``dtype``."""
    dtype = np.dtype(dtype)
    res = _SUM_DTYPES.get(dtype)
    if res is None:
        if dtype.kind == "u" and np.can_cast(dtype, np.uint):
            res = np.dtype(np.uint)
        elif np.can_cast(dtype, np.int_):
            res = np.dtype(np.int_)
        else:
            res = dtype
        _SUM_DTYPES[dtype] = res
    return res


def _accumulator(dtype):
    """Dtype the kernels add in: 64-bit integers, double precision floats."""
    dtype = np.dtype(dtype)
    if dtype.kind in "biu":
        return sum_dtype(dtype)
    if dtype.kind == "c":
        return np.dtype(np.complex128)
    return np.dtype(np.float64)


#: ``sum_dtype`` by dtype (NumPy's casting tables cost a microsecond a call).
_SUM_DTYPES = {}
#: The row blocks of a serial kernel: one block of every row (what
#: ``row_blocks(indptr, 1)`` returns), built without a Numba call.
_ONE_BLOCK = np.zeros(2, dtype=np.int64)


def _serial_blocks(indptr, serial):
    """``_blocks``, with the one block of a serial kernel built in NumPy."""
    if serial:
        blocks = _ONE_BLOCK.copy()
        blocks[1] = indptr.size - 1
        return blocks
    return _blocks(indptr, serial)


def _axis_sums(data, indices, indptr, shape, axis, acc):
    """Sums along ``axis`` (0 or 1) of CSR storage, in dtype ``acc``."""
    m, n = shape
    nnz = indices.size
    serial = _is_serial(m, nnz)
    if axis == 1:
        out = np.empty(m, dtype=acc)
        with parallel_section():
            _kernel("row_sums", serial)(indptr, data, acc.type(0), out,
                                        _serial_blocks(indptr, serial))
        return out
    n_lanes = convert._n_lanes(nnz, n, serial)
    # the lanes and the output from reused buffers when large (fresh pages of a lane
    # per call cost as much as its scatter); the kernel zeroes the lanes
    lanes = pooled_empty(n_lanes * n, acc).reshape(n_lanes, n)
    with parallel_section():
        _kernel("column_sums", serial or n_lanes == 1)(indptr, indices, data, lanes,
                                                       row_blocks(indptr, n_lanes))
    if n_lanes == 1:
        return lanes[0]
    out = pooled_empty(n, acc)
    with parallel_section():
        _kernel("add_lanes", serial)(lanes, out)
    return out


def _check_out(out, shape):
    if out is not None and np.shape(out) != tuple(shape):
        raise ValueError("out dimensions do not match shape")


def sum_(data, indices, indptr, shape, axis=None, dtype=None, out=None, canonical=None,
         fmt="csr", trusted=False):
    """``A.sum(axis, dtype, out)`` of SciPy's ``csr_array`` (or ``csc_array``).

    Integers and bools add up in the platform integer (unsigned ones in the
    platform unsigned), floats in their own dtype (the kernels add in double
    precision and round once); ``dtype`` casts the result. As in SciPy, the
    total (``axis=None``) sums duplicates in the values' own dtype first: a
    bool array's duplicates count once there, an int8 array's wrap.

    Examples
    --------
    >>> import numpy as np
    >>> from spla._backends.cpu.reduce import sum_
    >>> args = (np.array([1, 2, 3], np.int8), np.array([0, 1, 1]), np.array([0, 2, 3]), (2, 2))
    >>> sum_(*args), sum_(*args, axis=0), sum_(*args, axis=1, dtype=np.float32)
    (np.int64(6), array([1, 5]), array([3., 3.], dtype=float32))
    """
    return _sum(data, indices, indptr, shape, axis, dtype, out, canonical, fmt, True, trusted)


def _sum(data, indices, indptr, shape, axis, dtype, out, canonical, fmt, dedupe_narrow,
         trusted=False):
    axis = validate_axis(axis)
    res = sum_dtype(np.asarray(data).dtype)
    data, indices, indptr, stored, shape = _storage(
        data, indices, indptr, shape, fmt, trusted,
        cast_indices=axis is None or _swap_axis(axis, fmt) == 0)
    acc = _accumulator(data.dtype)
    if axis is None and out is not None and np.ndim(out) != 0:
        raise ValueError("output parameter for reduction operation add has the wrong number "
                         f"of dimensions: expected 0, got {np.ndim(out)}")
    if axis is None:
        narrowing = dtype is not None and (
            np.dtype(dtype).kind in "bmMOSUV"
            or (np.dtype(dtype).kind in "iu" and data.dtype.kind in "fc"))
        if dedupe_narrow and (narrowing or (data.dtype.kind in "biu"
                                            and data.dtype.itemsize < 8)):
            # SciPy sums the canonical values (duplicates added in their dtype)
            serial = _is_serial(stored[0], indices.size)
            data, indices, indptr = _canonical(data, indices, indptr, stored, canonical, serial)
        if narrowing:
            # NumPy's own rules (and errors) for sums into a narrower kind: each
            # (deduplicated) value is cast first, as in SciPy.
            return np.sum(data if data.size else np.zeros(1, res), dtype=dtype, out=out)
        serial = _is_serial(0, data.size)
        parts = np.zeros(_pieces(data.size, serial), dtype=acc)
        with parallel_section():
            total = _kernel("total_sum", serial)(data, parts)
        total = np.asarray(total, dtype=acc).astype(res)
        return np.sum(total, dtype=dtype, out=out)
    new_shape = (shape[1 - axis],)
    _check_out(out, new_shape)
    sums = _axis_sums(data, indices, indptr, stored, _swap_axis(axis, fmt), acc).astype(
        res, copy=False)
    if dtype is None and out is None:
        return sums
    return np.sum(sums, axis=(), dtype=dtype, out=out)


def mean(data, indices, indptr, shape, axis=None, dtype=None, out=None, fmt="csr",
         trusted=False):
    """``A.mean(axis, dtype, out)`` of SciPy's ``csr_array``: integers and bools
    average in float64, other dtypes in their own.

    Examples
    --------
    >>> import numpy as np
    >>> from spla._backends.cpu.reduce import mean
    >>> args = (np.array([1, 2, 3]), np.array([0, 1, 1]), np.array([0, 2, 3]), (2, 2))
    >>> mean(*args), mean(*args, axis=1)
    (np.float64(1.5), array([1.5, 1.5]))
    """
    axis = validate_axis(axis)
    data = np.asarray(data)
    integral = data.dtype.kind in "biu"
    inter = np.dtype(np.float64) if integral else data.dtype
    m, n = convert.check_shape(shape)
    denom = m * n if axis is None else (m, n)[axis]
    scale = 1.0 / denom
    if axis is not None:
        _check_out(out, ((m, n)[1 - axis],))
    elif out is not None and np.ndim(out) != 0:
        raise ValueError("output parameter for reduction operation add has the wrong number "
                         f"of dimensions: expected 0, got {np.ndim(out)}")
    s = _sum(data, indices, indptr, shape, axis, None, None, True, fmt, False, trusted)
    res = np.multiply(np.asarray(s, dtype=inter), inter.type(scale), dtype=inter)
    if out is not None:
        out[...] = res
        return out
    if axis is None:
        res = inter.type(res)
    if dtype is not None:
        return res.astype(dtype, copy=False)
    return res


# ---------------------------------------------------------------------------
# min, max, nanmin, nanmax
# ---------------------------------------------------------------------------


def minmax(data, indices, indptr, shape, op, axis=None, out=None, explicit=False,
           canonical=None, fmt="csr", trusted=False):
    """``A.max``/``A.min``/``A.nanmax``/``A.nanmin`` (``op``) of SciPy's ``csr_array``.

    Implicit zeros take part unless ``explicit``; duplicates are summed first.
    With ``axis=None`` the result is a NumPy scalar of the array's dtype; along
    an axis it is the COO ``(values, (coords,), (length,))`` of SciPy's 1-D
    ``coo_array`` result (zeros not stored, NaNs stored).

    Examples
    --------
    >>> import numpy as np
    >>> from spla._backends.cpu.reduce import minmax
    >>> args = (np.array([-1.0, 2.0, -3.0]), np.array([0, 1, 0]), np.array([0, 2, 3]), (2, 2))
    >>> minmax(*args, "max"), minmax(*args, "min")
    (np.float64(2.0), np.float64(-3.0))
    >>> minmax(*args, "max", axis=1)
    (array([2.]), (array([0], dtype=int32),), (2,))
    """
    if op not in _MINMAX_OPS:
        raise ValueError(f"op must be one of {sorted(_MINMAX_OPS)}, got {op!r}")
    if out is not None:
        raise ValueError("Sparse min/max does not support an 'out' parameter.")
    axis = validate_axis(axis)
    dtype = np.asarray(data).dtype
    data, indices, indptr, stored, shape = _storage(data, indices, indptr, shape, fmt,
                                                    trusted)
    m, n = stored
    serial = _is_serial(m, indices.size)
    code = _MINMAX_OPS[op]
    zero = data.dtype.type(0)
    if axis is None:
        if 0 in shape:
            raise ValueError("zero-size array to reduction operation")
        if indices.size == 0:
            return dtype.type(0)
        d, j, p = _canonical(data, indices, indptr, stored, canonical, serial)
        with parallel_section():
            v = _kernel("total_minmax", serial)(d, code, _pieces(d.size, serial))
        v = data.dtype.type(v)
        if d.size != m * n and not explicit:
            v = _MINMAX_UFUNCS[op](zero, v)
        return dtype.type(v)
    if shape[axis] == 0:
        raise ValueError("zero-size array to reduction operation")
    axis = _swap_axis(axis, fmt)
    if axis == 0:
        data, indices, indptr = _transposed(data, indices, indptr, stored)
        m, n = n, m
        canonical = bool(canonical) or None  # a transpose keeps duplicates
        serial = _is_serial(m, indices.size)
    values = np.empty(m, dtype=data.dtype)
    with parallel_section():
        _kernel("row_minmax", serial)(indptr, indices, data, n, code, bool(explicit),
                                      bool(canonical), zero, values,
                                      _serial_blocks(indptr, serial))
    coords = np.flatnonzero(values != 0)
    idx = np.int32 if m <= _INT32_MAX else np.int64
    return values[coords].astype(dtype, copy=False), (coords.astype(idx),), (m,)


# ---------------------------------------------------------------------------
# argmin, argmax
# ---------------------------------------------------------------------------


def argminmax(data, indices, indptr, shape, op, axis=None, out=None, explicit=False,
              canonical=None, fmt="csr", trusted=False):
    """``A.argmax``/``A.argmin`` (``op``) of SciPy's ``csr_array``.

    Along an axis: an int64 array of column (axis=1) or row (axis=0) indices;
    an empty line gives 0. With ``axis=None``: a Python int, the row-major flat
    index; with ``explicit=True`` and ``axis=None``, SciPy returns the position
    of the extreme among the stored entries of the canonical form, and so does
    this. Ties go to the first index; a NaN is an extreme (as in
    ``np.argmax``), but SciPy prefers an implicit zero to it.

    Examples
    --------
    >>> import numpy as np
    >>> from spla._backends.cpu.reduce import argminmax
    >>> args = (np.array([-1.0, 2.0, -3.0]), np.array([0, 1, 0]), np.array([0, 2, 3]), (2, 2))
    >>> argminmax(*args, "argmax", axis=1), argminmax(*args, "argmin")
    (array([1, 1]), 2)
    """
    if op not in ("argmax", "argmin"):
        raise ValueError(f"op must be 'argmax' or 'argmin', got {op!r}")
    if out is not None:
        raise ValueError(f"Sparse {op} does not support an 'out' parameter.")
    axis = validate_axis(axis)
    want_max = op == "argmax"
    data, indices, indptr, stored, shape = _storage(data, indices, indptr, shape, fmt,
                                                    trusted)
    zero = data.dtype.type(0)
    if axis is None:
        if 0 in shape:
            raise ValueError(f"Cannot apply {op} to an empty matrix.")
        if indices.size == 0:
            if explicit:
                raise ValueError(f"Cannot apply {op} to zero matrix when explicit=True.")
            return 0
        if fmt == "csc":
            data, indices, indptr = _transposed(data, indices, indptr, stored)
            canonical = None
        m, n = shape
        serial = _is_serial(m, indices.size)
        d, j, p = _canonical(data, indices, indptr, (m, n), canonical, serial)
        with parallel_section():
            pos = int(_kernel("total_argminmax", serial)(d, want_max, _pieces(d.size, serial)))
        if explicit:
            return pos
        value = d[pos]
        compare = np.greater if want_max else np.less
        if compare(value, zero) or d.size == m * n:
            row = int(np.searchsorted(p, pos, side="right")) - 1
            return row * n + int(j[pos])
        first_zero = int(K.first_implicit_zero(p, j, n))
        if value == zero:
            return min(first_zero, pos)
        return first_zero
    if shape[axis] == 0:
        raise ValueError(f"Cannot apply {op} along a zero-sized dimension.")
    axis = _swap_axis(axis, fmt)
    m, n = stored
    if axis == 0:
        data, indices, indptr = _transposed(data, indices, indptr, stored)
        m, n = n, m
        canonical = bool(canonical) or None  # a transpose keeps duplicates
    serial = _is_serial(m, indices.size)
    result = np.empty(m, dtype=np.int64)
    with parallel_section():
        _kernel("row_argminmax", serial)(indptr, indices, data, n, want_max, bool(explicit),
                                         bool(canonical), zero, result,
                                         _serial_blocks(indptr, serial))
    return result


# ---------------------------------------------------------------------------
# count_nonzero
# ---------------------------------------------------------------------------


def count_nonzero(data, indices, indptr, shape, axis=None, canonical=None, fmt="csr",
                  trusted=False):
    """``A.count_nonzero(axis)`` of SciPy's ``csr_array``: non-zero values of the
    canonical form (duplicates summed first). A Python int for ``axis=None``,
    an int64 array along an axis.

    Examples
    --------
    >>> import numpy as np
    >>> from spla._backends.cpu.reduce import count_nonzero
    >>> args = (np.array([1.0, 0.0, 2.0, -2.0]), np.array([0, 1, 0, 0]), np.array([0, 2, 4]),
    ...         (2, 2))
    >>> count_nonzero(*args), count_nonzero(*args, axis=0), count_nonzero(*args, axis=1)
    (1, array([1, 0]), array([1, 0]))
    """
    if axis is not None:
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"axis must be an integer, not {type(axis)}")
        if axis < 0:
            axis += 2
        if axis not in (0, 1):
            raise ValueError("axis out of bounds")
    data, indices, indptr, stored, shape = _storage(data, indices, indptr, shape, fmt,
                                                    trusted)
    m, n = stored
    serial = _is_serial(m, indices.size)
    if axis is None:
        d, _, _ = _canonical(data, indices, indptr, stored, canonical, serial)
        with parallel_section():
            return int(_kernel("total_count_nonzero", serial)(d, _pieces(d.size, serial)))
    axis = _swap_axis(axis, fmt)
    if axis == 1:
        out = np.empty(m, dtype=np.int64)
        with parallel_section():
            _kernel("row_count_nonzero", serial)(indptr, indices, data, bool(canonical), out,
                                                 _serial_blocks(indptr, serial))
        return out
    d, j, p = _canonical(data, indices, indptr, stored, canonical, serial)
    if serial:
        return np.bincount(j[d != 0], minlength=n).astype(np.int64, copy=False)
    flags = (d != 0).view(np.uint8)
    return _axis_sums(flags, j, p, stored, 0, np.dtype(np.int64))
