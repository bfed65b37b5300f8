"""N:M magnitude masks: keep, in every group of ``m`` consecutive elements, the ``n``
of largest magnitude.

This is the optimal N:M mask in the least-squares sense: the removed energy (sum of
the squares of the dropped elements) of a group is smallest when the dropped ones are
the ``m - n`` smallest in magnitude, and groups are independent. Ties go to the lower
index; NaN counts as the largest magnitude (it is kept, not silently dropped).

A length along ``axis`` that is not a multiple of ``m`` is padded with zeros to the
next multiple (the padding rule of ``spla.nm_array``): the last, partial group of
``r`` elements keeps its ``min(n, r)`` largest.
"""

import operator

import numpy as np

__all__ = ["nm_mask", "prune_nm", "check_nm"]

#: Largest group size spla supports (positions fit in 4 bits).
MAX_M = 16


def check_nm(n, m):
    """``(n, m)`` as Python ints, checked: ``1 <= n < m <= 16``."""
    try:
        n = operator.index(n)
        m = operator.index(m)
    except TypeError:
        raise TypeError(f"n and m must be integers, got n={n!r}, m={m!r}") from None
    if not (1 <= n < m <= MAX_M):
        raise ValueError(f"N:M sparsity needs 1 <= n < m <= {MAX_M}, got n={n}, m={m}")
    return n, m


def _magnitude(a):
    """|a| as a sortable float array, NaN as +inf (kept first)."""
    if a.dtype.kind in "fc":
        key = np.abs(a)
        if key.dtype.kind != "f":
            key = key.astype(np.float64)
    elif a.dtype.kind in "biu":
        key = np.abs(a.astype(np.float64))
    else:
        raise TypeError(f"N:M masks need numeric input, got dtype {a.dtype}")
    if key.dtype.kind == "f" and np.isnan(key).any():
        key = np.where(np.isnan(key), np.inf, key)
    return key


def top_n_positions(groups, n):
    """Sorted positions (``uint8``, shape ``(..., n)``) of the ``n`` largest
    magnitudes in each group of ``groups`` (shape ``(..., m)``); ties to the lower
    index."""
    key = _magnitude(groups)
    # A stable sort of -|w| puts the larger magnitude first and, among equal
    # magnitudes, the lower index first: exactly the tie rule.
    order = np.argsort(-key, axis=-1, kind="stable")[..., :n]
    return np.sort(order, axis=-1).astype(np.uint8)


def _grouped(W, m, axis):
    W = np.asarray(W)
    if W.dtype == object:
        raise TypeError("N:M masks need a numeric array, got dtype object")
    if W.ndim == 0:
        raise ValueError("N:M masks need an array of at least one dimension")
    try:
        axis = operator.index(axis)
    except TypeError:
        raise TypeError(f"axis must be an integer, got {axis!r}") from None
    if not -W.ndim <= axis < W.ndim:
        raise ValueError(f"axis {axis} is out of bounds for an array of {W.ndim} dimensions")
    axis %= W.ndim
    moved = np.moveaxis(W, axis, -1)
    length = moved.shape[-1]
    groups = -(-length // m)
    if groups * m != length:
        padded = np.zeros(moved.shape[:-1] + (groups * m,), dtype=moved.dtype)
        padded[..., :length] = moved
        moved = padded
    return W, axis, length, moved.reshape(moved.shape[:-1] + (groups, m))


def nm_mask(W, n=2, m=4, axis=-1):
    """Boolean mask keeping the ``n`` largest-magnitude elements of every group of
    ``m`` consecutive elements along ``axis``.

    The mask is optimal: no other choice of ``n`` elements per group removes less
    energy (sum of squares). Ties go to the lower index; NaN counts as the largest
    magnitude. A length along ``axis`` that is not a multiple of ``m`` ends in a
    partial group of ``r`` elements, which keeps its ``min(n, r)`` largest.

    Parameters
    ----------
    W : array_like
        Numeric array of at least one dimension (bool, integer, float or complex;
        complex values are ranked by modulus).
    n, m : int
        Keep ``n`` of every ``m``; ``1 <= n < m <= 16``.
    axis : int
        The axis along which groups run (default: the last one, i.e. along rows
        of a 2-D weight matrix).

    Returns
    -------
    numpy.ndarray of bool, the shape of ``W``

    Examples
    --------
    >>> import numpy as np, spla
    >>> spla.nm_mask(np.array([[0.1, -3.0, 2.0, 0.5, 1.0, 1.0, 1.0, 0.0]]))
    array([[False,  True,  True, False,  True,  True, False, False]])
    """
    n, m = check_nm(n, m)
    W, axis, length, groups = _grouped(W, m, axis)
    pos = top_n_positions(groups, n)
    mask = np.zeros(groups.shape, dtype=bool)
    np.put_along_axis(mask, pos.astype(np.intp), True, axis=-1)
    mask = mask.reshape(mask.shape[:-2] + (mask.shape[-2] * m,))[..., :length]
    return np.moveaxis(mask, -1, axis)


def prune_nm(W, n=2, m=4, axis=-1):
    """A copy of ``W`` with everything outside ``nm_mask(W, n, m, axis)`` set to zero.

    Parameters
    ----------
    W : array_like
        Numeric array of at least one dimension.
    n, m : int
        Keep ``n`` of every ``m``; ``1 <= n < m <= 16``.
    axis : int
        The axis along which groups run.

    Returns
    -------
    numpy.ndarray of the dtype and shape of ``W``

    Examples
    --------
    >>> import numpy as np, spla
    >>> spla.prune_nm(np.array([[4.0, -1.0, 0.5, -2.0]]))
    array([[ 4.,  0.,  0., -2.]])
    >>> spla.prune_nm(np.array([1.0, 2.0, 3.0, 4.0]), n=1, m=2)
    array([0., 2., 0., 4.])
    """
    W = np.asarray(W)
    mask = nm_mask(W, n, m, axis)
    out = np.zeros_like(W)
    out[mask] = W[mask]
    return out
