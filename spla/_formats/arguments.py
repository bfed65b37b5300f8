"""Checks of the small arguments of methods (``axis``, ``k``, ``order``, devices,
COO coordinates, GPU ordinals), with NumPy's and SciPy's rules and error types.

Every method of every format calls these before it does any work, so that one
rule holds everywhere: a float or a bool is never an axis, an offset is a true
integer, ``order`` is ``'C'`` or ``'F'``. Each function returns the argument in
a normalised form and raises ``TypeError`` (wrong kind of value) or
``ValueError`` (right kind, bad value) naming the argument.
"""

import operator

import numpy as np

_AxisError = np.exceptions.AxisError


def check_axis(axis, ndim=2):
    """The axis of a reduction over an array of ``ndim`` dimensions.

    Parameters
    ----------
    axis : None, int or tuple of ints
        As NumPy takes it: negative values count from the end; a tuple names
        several axes. Booleans, floats, strings and lists are refused (NumPy
        raises for them too), as are repeated axes and the empty tuple.
    ndim : int, default 2

    Returns
    -------
    None or int
        ``None`` when every axis is reduced (``None``, or a tuple naming all of
        them), else the one axis left to reduce, in ``[0, ndim)``. For 2-D arrays
        every valid ``axis`` is one of these two.

    Raises
    ------
    TypeError
        ``axis`` is not None, an integer or a tuple of integers.
    numpy.exceptions.AxisError
        (a ``ValueError`` and an ``IndexError``) an axis is out of range.
    ValueError
        An axis is repeated, or the tuple is empty.

    Examples
    --------
    >>> from spla._formats.arguments import check_axis
    >>> check_axis(-1), check_axis((0, 1)), check_axis(None), check_axis((1,))
    (1, None, None, 1)
    """
    if axis is None:
        return None
    if isinstance(axis, tuple):
        if not axis:
            raise ValueError("axis=() is not supported on sparse arrays (it would reduce "
                             "nothing); use .copy() or .toarray()")
        axes = tuple(_one_axis(a, ndim) for a in axis)
        if len(set(axes)) != len(axes):
            raise ValueError(f"duplicate value in axis {axis!r}")
        if len(axes) == ndim:
            return None
        if len(axes) != 1 or ndim != 2:
            raise ValueError(f"axis {axis!r}: reductions over {len(axes)} of {ndim} "
                             "axes are not supported")
        return axes[0]
    return _one_axis(axis, ndim)


def _one_axis(axis, ndim):
    if isinstance(axis, (bool, np.bool_)):
        raise TypeError(f"axis must be an integer or a tuple of integers, not a bool ({axis!r})")
    try:
        a = operator.index(axis)
    except TypeError:
        raise TypeError(
            f"axis must be an integer or a tuple of integers, not {type(axis).__name__} "
            f"({axis!r})"
        ) from None
    if not -ndim <= a < ndim:
        raise _AxisError(a, ndim, msg_prefix="axis out of range")
    return a % ndim


def check_diagonal_offset(k, shape=None):
    """The offset ``k`` of a diagonal (``k > 0`` above the main one), as a Python int.

    ``k`` must be an integer (Python, NumPy, or a bool as in SciPy); floats, strings
    and None raise ``TypeError``. With ``shape`` (m, n) given, offsets outside
    ``(-m, n)`` select an empty diagonal and are clamped to ``n`` or ``-m``, so
    that huge values such as ``2**64`` give an empty array as in SciPy instead of
    overflowing a kernel's integer.

    Examples
    --------
    >>> from spla._formats.arguments import check_diagonal_offset
    >>> check_diagonal_offset(-1), check_diagonal_offset(2**64, shape=(3, 4))
    (-1, 4)
    """
    try:
        k = operator.index(k)
    except TypeError:
        raise TypeError(
            f"the diagonal offset k must be an integer, got {type(k).__name__} ({k!r})"
        ) from None
    if shape is not None:
        m, n = shape
        k = min(max(k, -int(m)), int(n))
    return k


def check_order(order):
    """``order`` of ``toarray``/``todense``: None, or ``'C'``/``'F'`` (either case).

    Returns None, ``'C'`` or ``'F'``. ``'A'`` and ``'K'`` are NumPy orders that have
    no meaning for a sparse array and raise ``ValueError``, as in SciPy; other
    strings raise ``ValueError``, non-strings ``TypeError``.

    Examples
    --------
    >>> from spla._formats.arguments import check_order
    >>> check_order("f"), check_order(None)
    ('F', None)
    """
    if order is None:
        return None
    if not isinstance(order, str):
        raise TypeError(f"order must be a str ('C' or 'F'), not {type(order).__name__}")
    o = order.upper()
    if o in ("C", "F"):
        return o
    if o in ("A", "K"):
        raise ValueError(f"order={order!r}: only 'C' or 'F' order is permitted for sparse "
                         "arrays")
    raise ValueError(f"order must be 'C' or 'F', got {order!r}")


def coo_coordinates(coords):
    """The ``(row, col)`` of a ``(data, coords)`` constructor argument.

    ``coords`` is a pair ``(row, col)`` (tuple or list) or one array of shape
    ``(2, nnz)``, as SciPy accepts. A 1-D array or list of integers (CSR
    ``(data, indices)`` with ``indptr`` forgotten) raises ``TypeError``; a sequence
    of other than two 1-D arrays raises ``ValueError``.

    Examples
    --------
    >>> import numpy as np
    >>> from spla._formats.arguments import coo_coordinates
    >>> row, col = coo_coordinates(np.array([[0, 1], [1, 0]]))
    >>> row.tolist(), col.tolist()
    ([0, 1], [1, 0])
    """
    hint = ("expected (data, (row, col)) or (data, ij) with ij of shape (2, nnz); for "
            "compressed storage pass all three arrays (data, indices, indptr)")
    if isinstance(coords, (tuple, list)):
        if len(coords) == 2 and all(np.ndim(c) == 1 for c in coords):
            # NumPy reads an empty list as float64: empty Python sequences are indices
            return tuple(np.zeros(0, np.int64) if isinstance(c, (list, tuple)) and not len(c)
                         else c for c in coords)
        if len(coords) and all(np.ndim(c) == 0 for c in coords):
            raise TypeError(f"invalid coordinates in a 2-tuple argument: {hint}")
        raise ValueError(f"got {len(coords)} coordinate arrays of dimensions "
                         f"{[int(np.ndim(c)) for c in coords]}: {hint}")
    ndim = getattr(coords, "ndim", None)
    shape = getattr(coords, "shape", None)
    if ndim == 2 and shape[0] == 2:
        return coords[0], coords[1]
    if ndim is not None:
        raise TypeError(f"coordinates of shape {tuple(shape)} in a 2-tuple argument: {hint}")
    raise TypeError(f"invalid coordinates of type {type(coords).__name__} in a 2-tuple "
                    f"argument: {hint}")


def check_cuda_ordinal(ordinal):
    """Check that GPU ``ordinal`` exists on this machine (``None`` passes: the current
    device). Raises ``ValueError`` naming how many GPUs there are."""
    if ordinal is None:
        return None
    from .. import _dispatch

    cupy = _dispatch.array_module("cuda")  # a clear error when CuPy is missing

    count = cupy.cuda.runtime.getDeviceCount()
    if not 0 <= ordinal < count:
        raise ValueError(
            f"device 'cuda:{ordinal}' does not exist: this machine has {count} GPU"
            f"{'' if count == 1 else 's'} (cuda:0 to cuda:{count - 1})"
            if count else f"device 'cuda:{ordinal}' does not exist: no GPU is visible"
        )
    return ordinal
