"""Indexing reads (issue 19): the key normaliser (``spla._indexing.keys``) against
SciPy 1.17's ``_validate_indices``, and ``A[key]`` on every format against SciPy and
a dense NumPy copy."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse._index import _validate_indices

import spla
from spla._indexing.keys import is_full, normalize_key

INT_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint32, np.uint64]


# -- strategies -----------------------------------------------------------------------


@st.composite
def axis_entries(draw, n, *, arrays=True, ndim_arrays=(1,)):
    """One key entry for an axis of length ``n`` (may be out of range when asked)."""
    kinds = ["int", "slice"] + (["array", "list", "mask"] if arrays else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "int":
        if n == 0:
            return draw(st.sampled_from([slice(None), slice(1, 0)]))
        i = draw(st.integers(-n, n - 1))
        return draw(st.sampled_from([i, np.int64(i), np.intp(i)])) if i >= 0 else i
    if kind == "slice":
        lim = n + 2
        start = draw(st.none() | st.integers(-lim, lim))
        stop = draw(st.none() | st.integers(-lim, lim))
        step = draw(st.none() | st.integers(-3, 3).filter(lambda s: s != 0))
        return slice(start, stop, step)
    if kind == "mask":
        return np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    if n == 0:
        return np.zeros(0, dtype=np.int64) if kind == "array" else []
    vals = draw(st.lists(st.integers(-n, n - 1), min_size=0, max_size=6))
    if kind == "list":
        return vals
    dtype = draw(st.sampled_from([np.int32, np.int64, np.intp]))
    arr = np.array(vals, dtype=dtype)
    if draw(st.sampled_from(ndim_arrays)) == 2 and arr.size:
        arr = arr.reshape(-1, 1) if draw(st.booleans()) else arr.reshape(1, -1)
    return arr


@st.composite
def keys_2d(draw, shape, ndim_arrays=(1,)):
    m, n = shape
    form = draw(st.sampled_from(["one", "two", "two", "ix", "ellipsis", "none", "mask2d"]))
    if form == "one":
        return draw(axis_entries(m, ndim_arrays=ndim_arrays))
    if form == "two":
        return (draw(axis_entries(m, ndim_arrays=ndim_arrays)),
                draw(axis_entries(n, ndim_arrays=ndim_arrays)))
    if form == "ix":
        r = draw(st.lists(st.integers(-m, m - 1), max_size=5)) if m else []
        c = draw(st.lists(st.integers(-n, n - 1), max_size=5)) if n else []
        return np.ix_(np.array(r, dtype=np.intp), np.array(c, dtype=np.intp))
    if form == "ellipsis":
        e = draw(axis_entries(n if draw(st.booleans()) else m, arrays=False))
        if isinstance(e, slice):
            return (Ellipsis, e) if draw(st.booleans()) else (e, Ellipsis)
        return (Ellipsis, slice(None)) if m == 0 else (e if -m <= e < m else 0, Ellipsis)
    if form == "none":
        a = draw(axis_entries(m, arrays=False))
        b = draw(axis_entries(n, arrays=False))
        where = draw(st.integers(0, 2))
        key = [a, b]
        key.insert(where, None)
        return tuple(key)
    mask = np.array(draw(st.lists(st.booleans(), min_size=m * n, max_size=m * n)), dtype=bool)
    return mask.reshape(m, n)


shapes_2d = st.tuples(st.integers(0, 6), st.integers(0, 6))


def _same_entry(ours, theirs, n):
    if isinstance(ours, int):
        assert type(ours) is int and ours == theirs
    elif isinstance(ours, range):
        assert isinstance(theirs, slice)
        assert ours == range(*theirs.indices(n))
    else:
        assert ours.dtype == np.intp
        np.testing.assert_array_equal(ours, np.asarray(theirs))


# -- the normaliser ---------------------------------------------------------------------


@settings(max_examples=60)
@given(data=st.data(), shape=shapes_2d, fmt=st.sampled_from(["csr", "coo"]))
def test_normalize_key_matches_scipy(data, shape, fmt):
    key = data.draw(keys_2d(shape, ndim_arrays=(1, 2)))
    try:
        index, new_shape, arr_int_pos, none_pos = _validate_indices(key, shape, fmt)
    except (IndexError, ValueError, TypeError) as exc:
        with pytest.raises(type(exc)):
            normalize_key(key, shape, fmt)
        return
    k = normalize_key(key, shape, fmt)
    assert k.shape == tuple(new_shape)
    assert len(k.index) == len(index) == len(shape)
    for ours, theirs, n in zip(k.index, index, shape):
        _same_entry(ours, theirs, n)
    assert list(k.arr_int_pos) == list(arr_int_pos)
    assert list(k.none_pos) == list(none_pos)


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_normalize_key_integer_dtypes(dtype):
    k = normalize_key(np.array([3, 0, 3], dtype=dtype), (4, 2))
    assert k.index[0].dtype == np.intp
    np.testing.assert_array_equal(k.index[0], [3, 0, 3])
    assert is_full(k.index[1], 2)
    if np.dtype(dtype).kind == "i":
        k = normalize_key((slice(None), np.array([-1, -2], dtype=dtype)), (4, 2))
        np.testing.assert_array_equal(k.index[1], [1, 0])


def test_normalize_key_does_not_write_the_callers_array():
    rows = np.array([-1, 0])
    k = normalize_key(rows, (3, 3))
    np.testing.assert_array_equal(rows, [-1, 0])
    np.testing.assert_array_equal(k.index[0], [2, 0])


@pytest.mark.parametrize("key, exc, match", [
    ((1, 2, 3), IndexError, "Too many indices"),
    (7, IndexError, r"index \(7\) out of range"),
    (-6, IndexError, r"index \(-6\) out of range"),
    ((1, -7), IndexError, r"index \(-7\) out of range"),
    ([0, 5], IndexError, r"index \(5\) out of range"),
    ([0, -6], IndexError, r"index \(-6\) out of range"),
    (np.array([0, 2**63], dtype=np.uint64), IndexError, "out of range"),
    (1.0, ValueError, "Inexact indices"),
    ((np.float64(2.0), 1), ValueError, "Inexact indices"),
    ((1.5, 2), IndexError, "Index dimension"),
    (np.array([1.0, 2.0]), IndexError, "integer"),
    (np.array([1, 2], dtype=object), IndexError, "integer"),
    (np.array([True, False]), IndexError, "bool index 0 has shape"),
    ((slice(None), np.ones(5, bool)), IndexError, "bool index 1 has shape"),
    (np.ones((2, 6), bool), IndexError, "bool index 0 has shape"),
    ((Ellipsis, Ellipsis), IndexError, "single ellipsis"),
    (np.array([[[1]]]), IndexError, "Index dimension must be 1 or 2"),
    (([1, 2], [1, 2, 3]), IndexError, "could not be broadcast"),
    ("a", IndexError, "Index dimension"),
    ((slice(1.5, 3),), TypeError, "slice indices"),
])
def test_normalize_key_errors(key, exc, match):
    with pytest.raises(exc, match=match):
        normalize_key(key, (5, 6), "csr")


def test_normalize_key_sparse_masks():
    dense = np.array([[True, False, True], [False, False, True]])
    want = normalize_key(dense, dense.shape)
    for mask in (sp.csr_array(dense), sp.coo_array(dense), spla.csr_array(dense),
                 spla.csc_array(dense), spla.coo_array(dense)):
        k = normalize_key(mask, dense.shape)
        assert k.shape == want.shape == (3,)
        for a, b in zip(k.index, want.index):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(IndexError, match="sparse matrices"):
        normalize_key(sp.csr_array(np.eye(2)), (2, 2))
    with pytest.raises(IndexError, match="sparse matrices"):
        normalize_key(spla.csr_array(np.eye(2)), (2, 2))
