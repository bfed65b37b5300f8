"""Hypothesis strategy for ``spla.banded_array`` (re-exported by
``spla.testing.strategies``; this module imports nothing from it, so either may be
imported first).

Examples
--------
>>> from hypothesis import given
>>> from spla.testing._strategies_banded import banded_arrays
>>> @given(banded_arrays(dtype="float64"))
... def test_nnz(A):
...     assert A.nnz == A.tocsr().nnz
>>> test_nnz()
"""

import numpy as np
from hypothesis import strategies as st

from ._draw import resolve as _resolve
from ._draw import side as _side

__all__ = ["banded_arrays"]

_VALUE_DTYPES = (
    np.dtype(np.float32),
    np.dtype(np.float64),
    np.dtype(np.complex64),
    np.dtype(np.complex128),
)






@st.composite
def _banded_arrays(draw, shape, dtype, max_side, max_diagonals, padding):
    import spla

    if shape is None:
        side = _side(int(max_side))
        m, n = draw(st.tuples(side, side))
    else:
        m, n = draw(_resolve(shape, None))
    dt = np.dtype(draw(_resolve(dtype, st.sampled_from(_VALUE_DTYPES))))
    possible = list(range(-(m - 1), n)) if m and n else []
    if possible:
        offsets = sorted(draw(st.lists(st.sampled_from(possible), max_size=max_diagonals,
                                       unique=True)))
    else:
        offsets = []
    nd = len(offsets)
    # small integers and quarters: exact in float32, so dense references are exact
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    vals = rng.integers(-8, 9, size=(nd, m)) / 4.0
    if dt.kind == "c":
        vals = vals + 1j * (rng.integers(-8, 9, size=(nd, m)) / 4.0)
    data = vals.astype(dt)
    fill = draw(_resolve(padding, st.sampled_from([0.0, np.nan, 99.0])))
    for d, k in enumerate(offsets):
        # positions whose column i + k falls outside the matrix are padding
        i = np.arange(m)
        data[d, (i + k < 0) | (i + k >= n)] = fill
    return spla.banded_array((data, np.asarray(offsets, dtype=np.int64)), shape=(m, n))


def banded_arrays(shape=None, dtype=None, max_side=12, max_diagonals=5, padding=None):
    """``spla.banded_array`` built from raw row-aligned ``(data, offsets)`` storage.

    Parameters
    ----------
    shape : tuple of 2 ints or strategy, optional
        Drawn with sides in ``[0, max_side]`` by default (0 and 1 frequent: 0 x n,
        n x 0, 1 x n, n x 1).
    dtype : dtype or strategy, optional
        float32, float64, complex64 or complex128 (drawn by default).
    max_side : int
        Largest dimension when ``shape`` is drawn.
    max_diagonals : int
        Largest number of stored diagonals (0 is reached: no diagonal at all).
    padding : float or strategy, optional
        Value written into the padding (positions whose column lies outside the
        matrix), which every operation must ignore: 0, NaN or 99 by default.

    Returns
    -------
    SearchStrategy of spla.banded_array

    Notes
    -----
    Offsets are drawn anywhere in ``(-rows, cols)``, so they reach the corner
    diagonals (a single entry), the main diagonal of a wide or tall matrix, and
    diagonals that lie wholly inside the matrix. Values are
    multiples of 1/4 in [-2, 2] (and zeros), exact in every dtype.

    Examples
    --------
    >>> from hypothesis import find
    >>> A = find(banded_arrays(shape=(4, 3)), lambda A: A.offsets.size >= 2)
    >>> A.shape, A.offsets.size
    ((4, 3), 2)
    """
    return _banded_arrays(shape, dtype, max_side, max_diagonals, padding)
