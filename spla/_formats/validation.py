"""Structural checks of user input, run before any kernel sees it.

O(1) checks (dimensions, lengths, dtypes, the ends of ``indptr``) always run;
the O(nnz) ones (``indptr`` monotone, every index in range) run unless the
caller passed ``check=False``. Messages name the array and the bound it broke.
"""

import operator

import numpy as np

from .._dtypes import INDEX_DTYPES, index_dtype_for

_INT64_MAX = int(np.iinfo(np.int64).max)


def check_shape(shape, name="shape"):
    """``shape`` as a tuple of two non-negative Python ints."""
    try:
        dims = tuple(operator.index(d) for d in shape)
    except TypeError:
        raise TypeError(f"{name} must be a tuple of two integers, got {shape!r}") from None
    if len(dims) != 2:
        raise ValueError(f"{name} must have two dimensions, got {shape!r}")
    if dims[0] < 0 or dims[1] < 0:
        raise ValueError(f"{name} must not be negative, got {shape!r}")
    if max(dims) > _INT64_MAX:
        # SciPy raises OverflowError too; index arrays could not address such a shape.
        raise OverflowError(
            f"{name} {dims!r} has a dimension larger than the int64 maximum {_INT64_MAX}"
        )
    return dims


def as_1d(xp, arr, name):
    """``arr`` as a contiguous 1-D array in native byte order."""
    a = xp.asarray(arr)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got an array of shape {a.shape}")
    if a.dtype.byteorder not in ("=", "|"):
        a = a.astype(a.dtype.newbyteorder("="))
    return xp.ascontiguousarray(a)


def check_integer(arr, name):
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got dtype {arr.dtype.name}")


def unify_index_dtype(xp, indices, indptr, minor, copy):
    """Give ``indices`` and ``indptr`` one dtype from int32/int64.

    Arrays that already share int32 or int64 are kept as they are (no copy unless
    ``copy``); otherwise both become the smallest of the two that holds every value.
    """
    if indices.dtype == indptr.dtype and indices.dtype in INDEX_DTYPES:
        if copy:
            indices, indptr = indices.copy(), indptr.copy()
        return indices, indptr
    nnz = int(indptr[-1]) if indptr.size else 0
    # Every value must survive the cast, out-of-range ones included, so that the
    # range checks that follow still see them.
    largest = max(int(minor), nnz, int(indptr.size))
    for arr in (indices, indptr):
        if arr.size:
            largest = max(largest, abs(int(arr.max())), abs(int(arr.min())))
    if largest > np.iinfo(np.int64).max:
        raise ValueError(f"index value {largest} does not fit in int64")
    idx = index_dtype_for(largest)
    return indices.astype(idx), indptr.astype(idx)


def check_compressed(xp, indptr, indices, data, shape, *, full, kind="csr_array"):
    """Check compressed-row storage ``(data, indices, indptr)`` of ``shape``.

    ``shape`` is (rows, columns) of the compressed layout (for CSC: of the transpose).
    """
    major, minor = shape
    row = "row"
    col = "column"
    if indptr.size != major + 1:
        raise ValueError(
            f"{kind}: indptr has length {indptr.size}, expected {major + 1} "
            f"(number of {row}s + 1) for shape {shape}"
        )
    if indices.size != data.size:
        raise ValueError(
            f"{kind}: indices (length {indices.size}) and data (length {data.size}) "
            "must have the same length"
        )
    first = int(indptr[0])
    last = int(indptr[-1])
    if first != 0:
        raise ValueError(f"{kind}: indptr[0] must be 0, got {first}")
    if last != indices.size:
        raise ValueError(
            f"{kind}: indptr[-1] = {last} but there are {indices.size} stored entries "
            "(indices and data must have length indptr[-1])"
        )
    if not full:
        return
    if major > 0:
        steps = xp.diff(indptr)
        if bool((steps < 0).any()):
            i = int(xp.argmax(steps < 0))
            raise ValueError(
                f"{kind}: indptr must be non-decreasing, but indptr[{i}] = {int(indptr[i])} "
                f"> indptr[{i + 1}] = {int(indptr[i + 1])}"
            )
    if indices.size:
        lo = int(indices.min())
        hi = int(indices.max())
        if lo < 0:
            k = int(xp.argmin(indices))
            raise ValueError(f"{kind}: {col} index {lo} at position {k} is negative")
        if hi >= minor:
            k = int(xp.argmax(indices))
            raise ValueError(
                f"{kind}: {col} index {hi} at position {k} is out of range for "
                f"{minor} {col}s (shape {shape})"
            )


def check_coo(xp, data, row, col, shape):
    """Check COO triplets and return the shape (inferred when ``shape`` is None)."""
    if not (data.size == row.size == col.size):
        raise ValueError(
            f"COO input: data, row and col must have the same length, got "
            f"{data.size}, {row.size} and {col.size}"
        )
    for name, idx in (("row", row), ("col", col)):
        if idx.size and int(idx.min()) < 0:
            k = int(xp.argmin(idx))
            raise ValueError(f"COO input: {name} index {int(idx[k])} at position {k} is negative")
    if shape is None:
        m = int(row.max()) + 1 if row.size else 0
        n = int(col.max()) + 1 if col.size else 0
        return (m, n)
    shape = check_shape(shape)
    for name, idx, bound in (("row", row, shape[0]), ("col", col, shape[1])):
        if idx.size and int(idx.max()) >= bound:
            k = int(xp.argmax(idx))
            raise ValueError(
                f"COO input: {name} index {int(idx[k])} at position {k} is out of range "
                f"for shape {shape}"
            )
    return shape
