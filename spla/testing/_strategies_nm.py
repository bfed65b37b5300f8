"""Hypothesis strategies for N:M structured sparse arrays (``spla.nm_array``).

Re-exported by ``spla.testing.strategies``; this module imports hypothesis.

Values are multiples of 1/4 in [-8, 8] or float16-representable floats in
[-10, 10], so they are exact in float16, float32 and float64 and a float64
NumPy reference computed from them is (close to) exact.

Examples
--------
>>> from hypothesis import given
>>> from spla.testing._strategies_nm import nm_arrays
>>> @given(nm_arrays(n=2, m=4))
... def test_groups(A):
...     assert A.values.shape[1] == -(-A.shape[1] // 4) * 2
>>> test_groups()
"""

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ._draw import resolve as _resolve

__all__ = [
    "NM_PAIRS",
    "NM_VALUE_DTYPES",
    "NM_KINDS",
    "nm_pairs",
    "nm_dense_arrays",
    "nm_arrays",
]

#: (n, m) pairs drawn by default: the common ones and the edges (1:2, 15:16, 1:16).
NM_PAIRS = ((2, 4), (1, 4), (3, 4), (1, 2), (2, 8), (4, 8), (1, 3), (2, 5), (15, 16), (1, 16))

#: Value dtypes of N:M arrays.
NM_VALUE_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))

#: Structures ``nm_dense_arrays`` draws (the first is what failures shrink to):
#: ``"random"`` (random values, pruned), ``"sparse"`` (about 70% zeros, then pruned:
#: groups with fewer than n non-zeros), ``"empty"`` (all zero), ``"ties"`` (values
#: from {-1, 1, 2}: many equal magnitudes).
NM_KINDS = ("random", "sparse", "empty", "ties")




def nm_pairs():
    """``(n, m)`` pairs with ``1 <= n < m <= 16``; 2:4 first (what failures shrink to).

    Examples
    --------
    >>> from hypothesis import find
    >>> find(nm_pairs(), lambda p: p[1] == 16)
    (15, 16)
    """
    return st.sampled_from(NM_PAIRS)


def _elements():
    return st.one_of(
        st.integers(-32, 32).map(lambda v: v / 4.0),
        st.floats(-10, 10, width=16, allow_subnormal=False),
    )


@st.composite
def _nm_dense(draw, n, m, rows, cols, dtype, kind):
    from ..ml.masks import prune_nm

    values = draw(hnp.arrays(np.float64, (rows, cols), elements=_elements()))
    if kind == "sparse":
        keep = draw(hnp.arrays(np.bool_, (rows, cols), elements=st.booleans()))
        values = np.where(keep & (np.arange(cols) % 3 == 0), values, 0.0)
    elif kind == "empty":
        values = np.zeros((rows, cols))
    elif kind == "ties":
        values = draw(hnp.arrays(np.float64, (rows, cols), elements=st.sampled_from([-1.0, 1.0, 2.0])))
    return prune_nm(values, n, m).astype(dtype)


def nm_dense_arrays(n=None, m=None, shape=None, dtype=None, kind=None, max_side=12):
    """Dense 2-D arrays that are N:M sparse along rows: ``(dense, n, m)`` triples.

    Parameters
    ----------
    n, m : int or strategy, optional
        Drawn together from ``NM_PAIRS`` when both are None; give both or neither.
    shape : tuple or strategy, optional
        ``(rows, cols)``; by default ``0 <= rows <= max_side`` and ``0 <= cols <=
        2 max_side``, so column counts that are not multiples of ``m`` (the padding
        rule) are frequent.
    dtype : dtype or strategy, optional
        One of float16, float32, float64.
    kind : str or strategy, optional
        One of ``NM_KINDS``.
    max_side : int
        Largest row count (columns: twice that).

    Returns
    -------
    SearchStrategy of (numpy.ndarray, int, int)

    Examples
    --------
    >>> from hypothesis import find
    >>> D, n, m = find(nm_dense_arrays(n=1, m=2), lambda t: t[0].shape[1] == 3)
    >>> D.shape[1], n, m
    (3, 1, 2)
    """
    if (n is None) != (m is None):
        raise ValueError("give both n and m, or neither")
    pair = nm_pairs() if n is None else st.tuples(_resolve(n, None), _resolve(m, None))
    shapes = _resolve(shape, st.tuples(st.integers(0, max_side), st.integers(0, 2 * max_side)))
    dtypes = _resolve(dtype, st.sampled_from(NM_VALUE_DTYPES))
    kinds = _resolve(kind, st.sampled_from(NM_KINDS))

    @st.composite
    def build(draw):
        nn, mm = draw(pair)
        rows, cols = draw(shapes)
        dt = np.dtype(draw(dtypes))
        k = draw(kinds)
        return draw(_nm_dense(nn, mm, rows, cols, dt, k)), nn, mm

    return build()


def nm_arrays(n=None, m=None, shape=None, dtype=None, kind=None, max_side=12):
    """``spla.nm_array`` instances built from ``nm_dense_arrays`` (same parameters).

    Returns
    -------
    SearchStrategy of spla.nm_array

    Examples
    --------
    >>> from hypothesis import find
    >>> A = find(nm_arrays(n=2, m=4, dtype="float16"), lambda A: A.shape[1] % 4 == 3)
    >>> A.dtype, A.n, A.m
    (dtype('float16'), 2, 4)
    """
    from .._formats.nm import nm_array

    return nm_dense_arrays(n, m, shape, dtype, kind, max_side).map(
        lambda t: nm_array(t[0], n=t[1], m=t[2]))
