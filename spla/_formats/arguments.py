"""Argument rules shared by every format: axes, diagonal offsets, memory orders.

NumPy's and SciPy's rules, in one place, raising their errors before any kernel runs.
"""

import operator

import numpy as np


def check_axis(axis, ndim):
    """``axis`` normalised to ``0 .. ndim - 1`` (or None); integers only, as NumPy.

    Examples
    --------
    >>> from spla._formats.arguments import check_axis
    >>> check_axis(-1, 2), check_axis(None, 2)
    (1, None)
    """
    if axis is None:
        return None
    if isinstance(axis, tuple):
        if len(axis) == ndim and sorted(check_axis(a, ndim) for a in axis) == list(range(ndim)):
            return None
        if len(axis) == 1:
            return check_axis(axis[0], ndim)
        raise ValueError(f"axis {axis} is not supported for a {ndim}-D sparse array")
    if isinstance(axis, (bool, np.bool_)):
        raise TypeError("axis must be an integer, not a bool")
    try:
        a = operator.index(axis)
    except TypeError:
        raise TypeError(f"axis must be an integer, not {type(axis).__name__}") from None
    if not -ndim <= a < ndim:
        raise ValueError(f"axis out of range: {a} for an array of dimension {ndim}")
    return a % ndim
