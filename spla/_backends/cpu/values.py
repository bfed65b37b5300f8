"""CPU maps over the stored values of raw CSR storage: ufuncs (``abs``,
``power``, ``sqrt``, the ufuncs with f(0) = 0, casts) and comparisons with a
scalar, with SciPy 1.17's results.

Storage goes in and out as ``(data, indices, indptr, shape)``. SciPy copies
the structure arrays for these operations (``_with_data(..., copy=True)``);
``map_values`` does too, in parallel, unless told not to.
"""

import operator

import numpy as np

from ..._kernels import values as K
from ..._kernels.threads import parallel_section
from . import convert

_COMPARISONS = {
    ">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal,
    "==": np.equal, "!=": np.not_equal,
}


#: The ``operator`` module's comparisons, as ufuncs (``operator.gt(a, s)`` of an
#: ndarray ``a`` is ``np.greater(a, s)``).
_OPERATORS = {
    operator.gt: np.greater, operator.ge: np.greater_equal, operator.lt: np.less,
    operator.le: np.less_equal, operator.eq: np.equal, operator.ne: np.not_equal,
}


def _kernel(name, serial):
    return K.SERIAL[name] if serial else getattr(K, name)


def map_values(func, data, indices, indptr, shape, *args, copy_structure=True, **kwargs):
    """``(func(data, *args, **kwargs), indices, indptr, shape)``: SciPy's
    ``_with_data(func(data))``, the values mapped by all threads.

    ``func`` is a NumPy ufunc or any elementwise function. The caller sums
    duplicates first where ``func(a + b) != func(a) + func(b)`` matters (SciPy
    does for ``abs``, ``power`` and the ufunc methods). With
    ``copy_structure`` (default) ``indices`` and ``indptr`` are fresh copies.

    Examples
    --------
    >>> import numpy as np
    >>> from spla._backends.cpu.values import map_values
    >>> d, j, p, s = map_values(np.abs, np.array([-1.0, 2.0]), np.array([0, 1]),
    ...                         np.array([0, 1, 2]), (2, 2))
    >>> d
    array([1., 2.])
    """
    data, indices, indptr, shape = convert.check_compressed_any(data, indices, indptr, shape)
    new_data = K.parallel_map(func, data, *args, **kwargs)
    if new_data.shape != data.shape:
        raise ValueError(f"{func!r} is not elementwise: {data.shape} values became "
                         f"{new_data.shape}")
    if copy_structure:
        indices = convert.parallel_copy(indices)
        indptr = convert.parallel_copy(indptr)
    return new_data, indices, indptr, shape


def keep_where(data, indices, indptr, shape, mask, mask_is_data=False):
    """CSR storage of the entries whose ``mask`` is true, in stored order
    (SciPy's ``eliminate_zeros`` with ``mask = data != 0``).

    Examples
    --------
    >>> import numpy as np
    >>> from spla._backends.cpu.values import keep_where
    >>> d = np.array([1.0, 0.0, 3.0])
    >>> keep_where(d, np.array([0, 1, 0]), np.array([0, 2, 3]), (2, 2), d != 0)[:3]
    (array([1., 3.]), array([0, 0]), array([0, 1, 2]))

    With ``mask_is_data`` (``data`` is a fresh bool array, the mask itself, as
    after a comparison) the kept values are all True and ``data`` is returned
    as it is when nothing is dropped.
    """
    if mask_is_data and (mask is not data or data.dtype != np.bool_):
        raise ValueError("mask_is_data needs the bool mask passed as data too")
    data, indices, indptr, (m, n) = convert.check_compressed_any(data, indices, indptr, shape)
    mask = data if mask_is_data else np.ascontiguousarray(mask, dtype=np.bool_)
    if mask.shape != data.shape:
        raise ValueError(f"mask has shape {mask.shape}, the values {data.shape}")
    serial = convert._is_serial(m, indices.size)
    blocks = convert._blocks(indptr, serial)
    counts = np.zeros(blocks.size, dtype=np.int64)
    with parallel_section():
        _kernel("count_kept", serial)(indptr, mask, blocks, counts)
    starts = np.cumsum(counts)
    nnz = int(starts[-1])
    if nnz == indices.size:  # nothing dropped: the structure as it is
        return (data if mask_is_data else data.copy(), convert.parallel_copy(indices),
                convert.parallel_copy(indptr), (m, n))
    if mask_is_data:
        new_indptr = np.empty(m + 1, dtype=indptr.dtype)
        new_indptr[m] = nnz
        out_indices = np.empty(nnz, dtype=indices.dtype)
        with parallel_section():
            _kernel("fill_kept_indices", serial)(indptr, indices, mask, blocks, starts,
                                                 new_indptr, out_indices)
        return np.ones(nnz, dtype=np.bool_), out_indices, new_indptr, (m, n)
    new_indptr = np.empty(m + 1, dtype=indptr.dtype)
    new_indptr[m] = nnz
    out_indices = np.empty(nnz, dtype=indices.dtype)
    out_data = np.empty(nnz, dtype=data.dtype)
    with parallel_section():
        _kernel("fill_kept", serial)(indptr, indices, convert.as_copyable(data), mask, blocks,
                                     starts, new_indptr, out_indices,
                                     convert.as_copyable(out_data))
    return out_data, out_indices, new_indptr, (m, n)


def compare_scalar(data, indices, indptr, shape, op, scalar, canonical=None):
    """``A > s`` (``op`` one of ``>``, ``>=``, ``<``, ``<=``, ``==``, ``!=``, the
    ufunc or the ``operator`` function) where ``op(0, s)`` is false: SciPy's ``_scalar_binopt``, a bool array
    storing the entries of the canonical form (duplicates summed first) whose
    comparison is true. When ``op(0, s)`` is true the result is dense in
    SciPy's sense and the caller handles it; this raises ValueError.

    Examples
    --------
    >>> import numpy as np
    >>> from spla._backends.cpu.values import compare_scalar
    >>> d, j, p, s = compare_scalar(np.array([0.2, 0.7, 0.9]), np.array([0, 1, 0]),
    ...                             np.array([0, 2, 3]), (2, 2), ">", 0.5)
    >>> d, j, p
    (array([ True,  True]), array([1, 0]), array([0, 1, 2]))
    """
    ufunc = _COMPARISONS.get(op, None) if isinstance(op, str) else _OPERATORS.get(op, op)
    if ufunc not in _COMPARISONS.values():
        raise ValueError(f"op must be one of {sorted(_COMPARISONS)}, got {op!r}")
    if not np.ndim(scalar) == 0:
        raise TypeError(f"scalar must be a scalar, got {type(scalar).__name__}")
    if bool(ufunc(0, scalar)):
        raise ValueError(f"0 {op} {scalar!r} is true: the result is not sparse")
    data, indices, indptr, shape = convert.check_compressed_any(data, indices, indptr, shape)
    if not canonical and not convert.is_canonical(data, indices, indptr, shape):
        data, indices, indptr, shape = convert.canonicalize(data, indices, indptr, shape)
    mask = K.parallel_map(ufunc, data, scalar)
    if mask.dtype != np.bool_:  # an object scalar's comparison: NumPy's truth values
        mask = mask.astype(np.bool_)
    # One pass counts the kept entries per row block, one copies them (the bool
    # values are all True: written, not read).
    return keep_where(mask, indices, indptr, shape, mask, mask_is_data=True)
