"""Hypothesis strategies for spla arrays and the dense operands they meet.

This module imports hypothesis, an optional test dependency; import it
explicitly (``from spla.testing import strategies``). ``import spla`` never
imports it.

Every parameter of every strategy may be a fixed value, a hypothesis strategy
(drawn from) or ``None`` (drawn from a default that covers spla's edge cases).
The structural choices (shape, dtypes, structure kind, density, canonical or
not, how many duplicates and explicit zeros) are drawn with hypothesis, so
failing examples shrink: shapes towards 0, structures towards the first kind
("random"), counts towards 0. Bulk randomness (positions, values, orders) comes
from a NumPy generator seeded by a drawn integer, which keeps each example cheap.

Values are finite and moderate (``|v| <= 10``) and exactly representable in
float32, so a float64 NumPy reference computed from them is (close to) exact.

Examples
--------
>>> from hypothesis import given
>>> from spla.testing import strategies as sst
>>> @given(sst.csr_arrays(dtype="float64"))
... def test_nnz(A):
...     assert A.nnz == A.data.size
>>> test_nnz()
"""

import functools

import numpy as np
from hypothesis import strategies as st

from ._draw import resolve as _resolve
from ._draw import side as _side

__all__ = [
    "KINDS",
    "LAYOUTS",
    "VALUE_DTYPES",
    "INDEX_DTYPES",
    "OPERAND_DTYPES",
    "csr_arrays",
    "coo_triplets",
    "dense_operands",
    "dense_arrays",
    "shapes",
    "value_dtypes",
    "index_dtypes",
    "values",
    "VALUE_STYLES",
]

#: Value dtypes that spla supports.
VALUE_DTYPES = (
    np.dtype(np.float32),
    np.dtype(np.float64),
    np.dtype(np.complex64),
    np.dtype(np.complex128),
)

#: Index dtypes that spla keeps as given.
INDEX_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))

#: Dtypes of dense operands: the value dtypes and int64 (promoted to float64).
OPERAND_DTYPES = VALUE_DTYPES + (np.dtype(np.int64),)

#: The structures ``csr_arrays`` draws from (the first is what failures shrink to).
#:
#: - ``"random"``: entries at random positions, about ``density`` of them;
#: - ``"empty"``: no stored entry at all (nnz = 0);
#: - ``"dense_row"``: one full row, every other row empty;
#: - ``"diagonal"``: one to three full diagonals (main or off-diagonal);
#: - ``"dense"``: every position stored.
KINDS = ("random", "empty", "dense_row", "diagonal", "dense")






@functools.lru_cache(maxsize=None)
def _shapes(max_side):
    side = _side(max_side)
    return st.tuples(side, side)


def shapes(max_side=12):
    """2-D shapes ``(m, n)`` with ``0 <= m, n <= max_side``; 0 and 1 are frequent.

    Parameters
    ----------
    max_side : int
        Largest number of rows or columns.

    Returns
    -------
    SearchStrategy of tuple of two ints

    Examples
    --------
    >>> from hypothesis import find
    >>> find(shapes(), lambda s: s[0] == 0 and s[1] > 2)
    (0, 3)
    """
    return _shapes(int(max_side))


_VALUE_DTYPES = st.sampled_from(VALUE_DTYPES)
_INDEX_DTYPES = st.sampled_from(INDEX_DTYPES)


def value_dtypes():
    """One of spla's value dtypes (float32, float64, complex64, complex128).

    Examples
    --------
    >>> from hypothesis import find
    >>> find(value_dtypes(), lambda d: d.kind == "c")
    dtype('complex64')
    """
    return _VALUE_DTYPES


def index_dtypes():
    """int32 or int64.

    Examples
    --------
    >>> from hypothesis import find
    >>> find(index_dtypes(), lambda d: d.itemsize == 8)
    dtype('int64')
    """
    return _INDEX_DTYPES


#: How ``values`` draws magnitudes: quarter integers in [-8, 8] / 4 (sums and
#: products of a few of them are exact even in float32), or float32-representable
#: reals in [-10, 10].
VALUE_STYLES = ("quarters", "float32")


_SEEDS = st.integers(0, 2**32 - 1)
_STYLES = st.sampled_from(VALUE_STYLES)
_KIND = st.sampled_from(KINDS)
_BOOL = st.booleans()
_DENSITY = st.floats(0.0, 1.0)
_ZERO_FRACTION = st.sampled_from([0.0, 0.0, 0.2, 0.5])


def _seeds():
    return _SEEDS


def _fill_values(rng, size, dtype, style, nonzero_imag=True):
    dt = np.dtype(dtype)
    if dt.kind in "iu":
        return rng.integers(-8, 9, size=size).astype(dt)
    if style == "quarters":
        real = rng.integers(-8, 9, size=size) / 4.0
    else:
        real = rng.uniform(-10, 10, size=size).astype(np.float32).astype(np.float64)
    if dt.kind != "c":
        return real.astype(dt)
    if nonzero_imag:
        imag = rng.integers(1, 9, size=size) * rng.choice([-0.25, 0.25], size=size)
    else:
        imag = rng.integers(-8, 9, size=size) / 4.0
    return (real + 1j * imag).astype(dt)


@st.composite
def _values(draw, size, dtype, nonzero_imag):
    style = draw(_STYLES)
    rng = np.random.default_rng(draw(_SEEDS))
    return _fill_values(rng, size, dtype, style, nonzero_imag)


def values(size, dtype, nonzero_imag=True):
    """A 1-D NumPy array of ``size`` moderate, finite values of ``dtype``.

    The magnitude style (see ``VALUE_STYLES``) is drawn with hypothesis; the
    values themselves come from a NumPy generator seeded by a drawn integer,
    which keeps large draws cheap.

    Parameters
    ----------
    size : int
        Number of values.
    dtype : dtype
        A real or complex floating dtype, or an integer dtype (values in [-8, 8]).
    nonzero_imag : bool
        For complex dtypes, give every value a non-zero imaginary part.

    Returns
    -------
    SearchStrategy of numpy.ndarray

    Examples
    --------
    >>> from hypothesis import find
    >>> v = find(values(3, "complex64"), lambda v: True)
    >>> v.dtype, bool((v.imag != 0).all())
    (dtype('complex64'), True)
    """
    return _values(int(size), np.dtype(dtype), bool(nonzero_imag))


def _positions(draw, rng, kind, m, n, density):
    """Flat positions (row * n + col) of the distinct stored entries, sorted."""
    total = m * n
    if total == 0 or kind == "empty":
        return np.zeros(0, np.int64)
    if kind == "dense":
        return np.arange(total, dtype=np.int64)
    if kind == "dense_row":
        r = draw(st.integers(0, m - 1))
        return r * n + np.arange(n, dtype=np.int64)
    if kind == "diagonal":
        offsets = draw(st.lists(st.integers(-(m - 1), n - 1), min_size=1, max_size=3,
                                unique=True))
        flat = []
        for off in offsets:
            i = np.arange(max(0, -off), min(m, n - off), dtype=np.int64)
            flat.append(i * n + i + off)
        return np.sort(np.concatenate(flat))
    k = int(round(density * total))
    return np.sort(rng.choice(total, size=k, replace=False).astype(np.int64))


@st.composite
def _csr_arrays(draw, shape, dtype, density, index_dtype, canonical, max_side):
    import spla

    m, n = draw(_resolve(shape, shapes(max_side)))
    dt = np.dtype(draw(_resolve(dtype, value_dtypes())))
    idx = np.dtype(draw(_resolve(index_dtype, index_dtypes())))
    canon = bool(draw(_resolve(canonical, _BOOL)))
    kind = draw(_KIND)
    dens = float(draw(_resolve(density, _DENSITY)))
    style = draw(_STYLES)
    rng = np.random.default_rng(draw(_SEEDS))
    flat = _positions(draw, rng, kind, m, n, dens)
    data = _fill_values(rng, flat.size, dt, style)
    if flat.size:
        # explicitly stored zeros: none, a few, or many
        zero_frac = draw(_ZERO_FRACTION)
        data[rng.random(flat.size) < zero_frac] = 0
    if not canon and flat.size:
        # duplicates: extra entries at stored positions, some of which may cancel
        # the first entry exactly (the position then sums to zero)
        n_dup = draw(st.integers(0, max(1, flat.size)))
        pick = rng.integers(0, flat.size, size=n_dup)
        dup_vals = _fill_values(rng, n_dup, dt, style)
        if np.dtype(dt).kind != "b" and draw(_BOOL):  # booleans sum by OR: nothing cancels
            cancel = rng.random(n_dup) < 0.5
            dup_vals[cancel] = -data[pick[cancel]]
        flat = np.concatenate([flat, flat[pick]])
        data = np.concatenate([data, dup_vals])
        # random order within rows: shuffle, then a stable sort by row
        perm = rng.permutation(flat.size)
        perm = perm[np.argsort(flat[perm] // n, kind="stable")]
        flat, data = flat[perm], data[perm]
    rows, cols = flat // max(n, 1), flat % max(n, 1)
    indptr = np.zeros(m + 1, dtype=idx)
    np.cumsum(np.bincount(rows, minlength=m), out=indptr[1:])
    return spla.csr_array((data, cols.astype(idx), indptr), shape=(m, n))


def csr_arrays(shape=None, dtype=None, density=None, index_dtype=None, canonical=None,
               max_side=12):
    """``spla.csr_array`` built from raw ``(data, indices, indptr)`` storage.

    Parameters
    ----------
    shape : tuple of 2 ints or strategy, optional
        Drawn from ``shapes(max_side)`` by default, which reaches 0 x n, n x 0,
        0 x 0, 1 x n and n x 1.
    dtype : dtype or strategy, optional
        float32, float64, complex64 or complex128 (drawn by default). Complex
        values have non-zero imaginary parts (except explicit zeros).
    density : float in [0, 1] or strategy, optional
        Fraction of positions stored by the ``"random"`` structure (drawn by default).
    index_dtype : dtype or strategy, optional
        int32 or int64 for ``indices`` and ``indptr``; the array keeps it.
    canonical : bool or strategy, optional
        True: column indices sorted and unique within each row. False: the
        column indices within a row come in random order and may repeat
        (duplicates are valid input that every operation sums). Drawn by default.
    max_side : int
        Largest dimension when ``shape`` is drawn.

    Returns
    -------
    SearchStrategy of spla.csr_array

    Notes
    -----
    The structure kind (see ``KINDS``: random, empty, one dense row,
    diagonals, dense) is drawn with hypothesis. Every kind may hold
    explicitly stored zeros.

    Examples
    --------
    >>> import numpy as np
    >>> from hypothesis import find
    >>> from spla.testing import strategies as sst
    >>> A = find(sst.csr_arrays(shape=(3, 4), index_dtype=np.int32), lambda A: A.nnz > 2)
    >>> A.shape, A.indices.dtype
    ((3, 4), dtype('int32'))
    """
    return _csr_arrays(shape, dtype, density, index_dtype, canonical, max_side)


@st.composite
def _coo_triplets(draw, shape, dtype, index_dtype, max_side, max_nnz):
    m, n = draw(_resolve(shape, shapes(max_side)))
    dt = np.dtype(draw(_resolve(dtype, value_dtypes())))
    idx = np.dtype(draw(_resolve(index_dtype, index_dtypes())))
    k = 0 if m == 0 or n == 0 else draw(st.integers(0, max_nnz))
    style = draw(st.sampled_from(VALUE_STYLES))
    rng = np.random.default_rng(draw(_seeds()))
    # few distinct positions for many entries: duplicates are likely
    spread = draw(st.sampled_from([1.0, 0.5, 0.1]))
    n_pos = max(1, int(spread * m * n))
    flat = rng.integers(0, max(n_pos, 1), size=k) * max(1, (m * n) // n_pos)
    flat = np.minimum(flat, max(m * n - 1, 0))
    row = (flat // max(n, 1)).astype(idx)
    col = (flat % max(n, 1)).astype(idx)
    data = _fill_values(rng, k, dt, style)
    if k:
        data[rng.random(k) < draw(st.sampled_from([0.0, 0.2]))] = 0
    return data, (row, col), (m, n)


def coo_triplets(shape=None, dtype=None, index_dtype=None, max_side=12, max_nnz=40):
    """COO input ``(data, (row, col), shape)`` with duplicates and explicit zeros.

    Parameters
    ----------
    shape : tuple of 2 ints or strategy, optional
        Drawn from ``shapes(max_side)`` by default.
    dtype : dtype or strategy, optional
        Value dtype of ``data`` (drawn from the spla value dtypes by default).
    index_dtype : dtype or strategy, optional
        Dtype of ``row`` and ``col`` (int32 or int64, drawn by default).
    max_side : int
        Largest dimension when ``shape`` is drawn.
    max_nnz : int
        Largest number of distinct draws of a position (duplicates come on top).

    Returns
    -------
    SearchStrategy of tuple ``(data, (row, col), shape)``

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> from hypothesis import find
    >>> data, (row, col), shape = find(coo_triplets(shape=(2, 2)), lambda t: t[0].size > 1)
    >>> sp.coo_array((data, (row, col)), shape=shape).shape
    (2, 2)
    """
    return _coo_triplets(shape, dtype, index_dtype, max_side, max_nnz)


#: Memory layouts that ``dense_operands`` draws.
LAYOUTS = ("C", "F", "strided", "reversed")


@st.composite
def _dense_operands(draw, rows, cols, dtype, layout):
    m = int(draw(_resolve(rows, st.integers(0, 12))))
    k = None if cols is None else int(draw(_resolve(cols, st.integers(0, 6))))
    dt = np.dtype(draw(_resolve(dtype, st.sampled_from(OPERAND_DTYPES))))
    lay = draw(_resolve(layout, st.sampled_from(LAYOUTS)))
    shape = (m,) if k is None else (m, k)
    base = draw(values(int(np.prod(shape)), dt)).reshape(shape)
    if lay == "C":
        return np.ascontiguousarray(base)
    if lay == "F":
        return np.asfortranarray(base)
    if lay == "reversed":
        flipped = base[::-1].copy() if k is None else base[::-1, ::-1].copy()
        return flipped[::-1] if k is None else flipped[::-1, ::-1]
    # strided: a slice of a bigger array (every second element of each axis)
    big = np.full(tuple(2 * s + 1 for s in shape), 99, dtype=dt)
    view = big[1::2] if k is None else big[1::2, 1::2]
    view[...] = base
    return view


def dense_operands(rows, cols=None, dtype=None, layout=None):
    """Dense NumPy vectors (``cols=None``) or matrices for products with sparse arrays.

    Parameters
    ----------
    rows : int or strategy
        Length of the vector, or number of rows of the matrix.
    cols : int or strategy, optional
        Number of columns of the matrix; ``None`` gives a 1-D vector.
    dtype : dtype or strategy, optional
        Drawn from float32, float64, complex64, complex128 and int64 by default.
    layout : {"C", "F", "strided", "reversed"} or strategy, optional
        C order, Fortran order, a strided slice of a bigger array, or a view with
        negative strides (drawn by default).

    Returns
    -------
    SearchStrategy of numpy.ndarray

    Examples
    --------
    >>> from hypothesis import find
    >>> X = find(dense_operands(4, 3, layout="strided"), lambda X: True)
    >>> X.shape, X.flags.c_contiguous
    ((4, 3), False)
    """
    return _dense_operands(rows, cols, dtype, layout)


@st.composite
def _dense_arrays(draw, shape, dtype, max_side):
    m, n = draw(_resolve(shape, shapes(max_side)))
    dt = np.dtype(draw(_resolve(dtype, value_dtypes())))
    zero_frac = draw(st.sampled_from([1.0, 0.9, 0.7, 0.5, 0.0]))
    vals = draw(values(m * n, dt))
    rng = np.random.default_rng(draw(_seeds()))
    vals[rng.random(m * n) < zero_frac] = 0
    return vals.reshape(m, n)


def dense_arrays(shape=None, dtype=None, max_side=12):
    """2-D dense NumPy arrays with many zeros (most entries are 0).

    Parameters
    ----------
    shape : tuple of 2 ints or strategy, optional
        Drawn from ``shapes(max_side)`` by default.
    dtype : dtype or strategy, optional
        Drawn from the spla value dtypes by default; integer dtypes work too.
    max_side : int
        Largest dimension when ``shape`` is drawn.

    Returns
    -------
    SearchStrategy of numpy.ndarray

    Examples
    --------
    >>> from hypothesis import find
    >>> D = find(dense_arrays(shape=(3, 3), dtype="float32"), lambda D: D.any())
    >>> D.shape, D.dtype
    ((3, 3), dtype('float32'))
    """
    return _dense_arrays(shape, dtype, max_side)


# One strategy per format: the N:M and banded formats keep theirs beside them.
from ._strategies_banded import banded_arrays  # noqa: E402
from ._strategies_nm import nm_arrays, nm_dense_arrays, nm_pairs  # noqa: E402

__all__ += ["banded_arrays", "nm_arrays", "nm_dense_arrays", "nm_pairs"]
