"""1-D csr_array against SciPy's 1-D csr_array (the specification).

Vectors come from raw one-row storage with duplicates, unsorted indices and
explicit zeros, from dense vectors and from 1-D COO triplets; every operation
SciPy gives a 1-D sparse array is compared with SciPy on the same input.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import spla
from spla.testing import strategies as sst

DTYPES = st.sampled_from([np.float64, np.float32, np.complex128, np.int64, np.int32, np.bool_])
SETTINGS = settings(max_examples=max(10, settings.default.max_examples // 4), deadline=None)


@st.composite
def vectors(draw, n=None, real=False):
    """(spla 1-D csr, SciPy 1-D csr) over the same raw storage."""
    n = draw(st.integers(0, 12)) if n is None else n
    dt = np.dtype(draw(st.sampled_from([np.float64, np.float32, np.int64]) if real else DTYPES))
    k = draw(st.integers(0, 2 * n)) if n else 0
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    idx = np.dtype(draw(sst.index_dtypes()))
    indices = rng.integers(0, max(n, 1), size=k).astype(idx)  # duplicates, unsorted
    if dt == np.bool_:
        # bool duplicates sum as "or" in toarray but as integers once scaled (in
        # SciPy too): the dense reference would depend on the operation
        indices = rng.permutation(np.unique(indices)).astype(idx)
        k = indices.size
    data = sst._fill_values(rng, k, dt, "quarters") if dt != np.bool_ else rng.random(k) < 0.6
    if k and dt != np.bool_:
        data[rng.random(k) < 0.2] = 0
    indptr = np.array([0, k], dtype=idx)
    ours = spla.csr_array((data.copy(), indices.copy(), indptr.copy()), shape=(n,))
    # SciPy 1.17 sums the duplicates of a 1-D array wrongly in toarray (and in
    # coo.tocsr): the SciPy side is built from the NumPy sum of the duplicates.
    ref = np.zeros(n, dtype=dt)
    np.add.at(ref, indices, data) if dt != np.bool_ else np.logical_or.at(ref, indices, data)
    theirs = sp.csr_array(ref)
    return ours, theirs


def _same(got, expect, tol=1e-5):
    if sp.issparse(expect):
        assert spla.issparse(got), type(got)
        assert got.shape == expect.shape
        assert got.dtype == expect.dtype, (got.dtype, expect.dtype)
        got, expect = got.toarray(), expect.toarray()
    got, expect = np.asarray(got), np.asarray(expect)
    assert got.shape == expect.shape, (got.shape, expect.shape)
    if expect.dtype.kind in "fc":
        np.testing.assert_allclose(got, expect, rtol=tol, atol=tol)
    else:
        np.testing.assert_array_equal(got, expect)


# -- construction -----------------------------------------------------------------------


@pytest.mark.parametrize("dense", [np.array([0.0, 1.0, 0.0, 2.0]), np.zeros(0), np.zeros(3),
                                   np.array([1, 0, 3], dtype=np.int32),
                                   np.array([True, False])])
def test_from_dense(dense):
    A = spla.csr_array(dense)
    S = sp.csr_array(dense)
    assert A.shape == S.shape == dense.shape
    assert A.ndim == 1 and A.format == "csr"
    assert A.dtype == S.dtype
    assert A.nnz == S.nnz
    np.testing.assert_array_equal(A.indptr, S.indptr)
    _same(A.toarray(), S.toarray())


def test_constructor_forms():
    _same(spla.csr_array((4,)).toarray(), sp.csr_array((4,)).toarray())
    assert spla.csr_array((4,), dtype=np.int8).dtype == np.int8
    t = ([1.0, 2.0, 3.0], ([0, 3, 0],))
    _same(spla.csr_array(t, shape=(5,)), sp.csr_array(t, shape=(5,)))
    _same(spla.csr_array(t), sp.csr_array(t))
    v = np.array([0.0, 2.0, 0.0])
    _same(spla.csr_array(sp.csr_array(v)), sp.csr_array(v))
    _same(spla.csr_array(spla.coo_array(v)), sp.csr_array(v))
    _same(spla.coo_array(v).tocsr(), sp.coo_array(v).tocsr())
    _same(spla.csr_array(v, dtype=np.complex64), sp.csr_array(v, dtype=np.complex64))


def test_constructor_errors():
    with pytest.raises(ValueError):
        spla.csr_array(np.zeros(3), shape=(4,))
    with pytest.raises(ValueError):
        spla.csr_array(np.zeros((2, 2)), shape=(4,))
    with pytest.raises(ValueError):
        spla.csr_array((np.ones(2), np.array([0, 5]), np.array([0, 2])), shape=(4,))
    with pytest.raises(ValueError):
        spla.csr_array((np.ones(2), np.array([0, 1]), np.array([0, 1, 2])), shape=(4,))
    with pytest.raises(ValueError, match="csc"):
        spla.csr_array(np.ones(3)).tocsc()


@SETTINGS
@given(vectors())
def test_roundtrips(pair):
    A, S = pair
    assert A.shape == S.shape and A.nnz == A.indices.size and A.dtype == S.dtype
    _same(A.toarray(), S.toarray())
    out = np.empty(A.shape, A.dtype)
    assert A.toarray(out=out) is out
    _same(out, S.toarray())
    C = A.tocoo()
    assert C.format == "coo" and C.shape == S.shape
    _same(C.toarray(), S.toarray())
    _same(C.tocsr(), S)
    _same(A.to_scipy(), S)
    _same(A.T, S.T)
    _same(A.copy(), S.copy())
    B = A.copy()
    B.sum_duplicates()
    assert B.has_canonical_format
    _same(B, S)
    _same(B.nonzero()[0], S.nonzero()[0])
    # as SciPy's, nonzero reads the stored entries (duplicates not summed)
    _same(A.nonzero()[0], A.indices[A.data != 0])
    assert A.count_nonzero() == S.count_nonzero()


# -- arithmetic -----------------------------------------------------------------------------


@SETTINGS
@given(st.data())
def test_arithmetic_sparse(data):
    A, S = data.draw(vectors(real=True))
    B, T = data.draw(vectors(n=A.shape[0], real=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _same(A + B, S + T)
        _same(A - B, S - T)
        _same(A.multiply(B), S.multiply(T))
        _same(A.maximum(B), S.maximum(T))
        _same(A.minimum(B), S.minimum(T))
        _same(A != B, S != T)
        _same(A < B, S < T)
        _same(A @ B, S @ T)
        _same(A + B.tocoo(), S + T.tocoo())


@SETTINGS
@given(st.data(), st.sampled_from([2, -0.5, 3]))
def test_arithmetic_scalar_and_dense(data, c):
    A, S = data.draw(vectors())
    x = data.draw(sst.dense_operands(A.shape[0], dtype=np.float64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _same(A * c, S * c)
        _same(A / c, S / c)
        _same(-A if A.dtype != np.bool_ else A, -S if S.dtype != np.bool_ else S)
        _same(abs(A), abs(S))
        _same(A ** 2, S ** 2)
        _same(A > 0.5, S > 0.5)
        _same(A.multiply(x), S.multiply(x))
        _same(A + x, S + x)
        _same(A - x, S - x)
        _same(x - A, x - S)
        _same(A.astype(np.complex128), S.astype(np.complex128))


# -- reductions ------------------------------------------------------------------------------


@SETTINGS
@given(vectors(real=True), st.sampled_from([None, 0, -1]),
       st.sampled_from(["sum", "mean", "max", "min", "argmax", "argmin"]))
def test_reductions(pair, axis, name):
    A, S = pair
    try:
        expect = getattr(S, name)(axis=axis)
    except (ValueError, ZeroDivisionError) as exc:  # empty: argmax refuses, mean divides by 0
        with pytest.raises(type(exc)):
            getattr(A, name)(axis=axis)
        return
    got = getattr(A, name)(axis=axis)
    assert np.ndim(got) == np.ndim(expect) == 0
    _same(got, expect)


def test_reduction_axis_out_of_range():
    A = spla.csr_array(np.array([1.0, 0.0]))
    for name in ("sum", "max", "argmax", "count_nonzero"):
        with pytest.raises(ValueError):
            getattr(A, name)(axis=1)
    with pytest.raises(ValueError):
        A.diagonal()


# -- products ---------------------------------------------------------------------------------


@SETTINGS
@given(st.data(), st.sampled_from([None, 1, 3]))
def test_matmul_dense(data, cols):
    A, S = data.draw(vectors(real=True))
    n = A.shape[0]
    X = data.draw(sst.dense_operands(n, cols, dtype=st.sampled_from([np.float64, np.int64])))
    _same(A @ X, S @ X)
    _same(A.dot(X), S.dot(X))
    Y = X.T if cols is not None else X
    _same(Y @ A, Y @ S)


@SETTINGS
@given(st.data(), st.integers(0, 5))
def test_matmul_sparse(data, m):
    A, S = data.draw(vectors(real=True))
    n = A.shape[0]
    M = data.draw(sst.csr_arrays(shape=(m, n), dtype=np.float64))
    N = data.draw(sst.csr_arrays(shape=(n, m), dtype=np.float64))
    Ms, Ns = M.to_scipy(), N.to_scipy()
    _same(M @ A, Ms @ S)
    _same(A @ N, S @ Ns)


def test_shape_mismatch():
    A = spla.csr_array(np.ones(3))
    with pytest.raises(ValueError):
        A @ np.ones(4)
    with pytest.raises(ValueError):
        np.ones((2, 4)) @ A
    with pytest.raises(ValueError):
        A + spla.csr_array(np.ones(4))


# -- indexing (SciPy's 1-D csr_array) ---------------------------------------------------------

_KEYS_1D = [1, -1, slice(0, 3), slice(None, None, -1), slice(3, None, -2), [0, 3], [-1, 0, 0],
            np.array([True, False, True, True, False]), Ellipsis, (Ellipsis, 1), (2,), ([0, 1],),
            (None, slice(None)), (slice(None), None), np.int8(4)]


@pytest.mark.parametrize("key", _KEYS_1D, ids=repr)
def test_1d_getitem_matches_scipy(key):
    d = np.array([0.0, 1.0, 0.0, 3.0, 5.0])
    got, ref = spla.csr_array(d)[key], sp.csr_array(d)[key]
    assert type(got).__name__ == type(ref).__name__
    if sp.issparse(ref):
        assert got.shape == ref.shape
        np.testing.assert_array_equal(got.toarray(), ref.toarray())
    else:
        assert got == ref


@pytest.mark.parametrize("key, value", [(1, 7.0), (slice(1, 4), 2.0), ([0, 4, 0], [1.0, 2.0, 3.0]),
                                        (np.array([True, False, True, False, True]), 0.0),
                                        (-1, 0.0)], ids=repr)
def test_1d_setitem_matches_numpy(key, value):
    d = np.array([0.0, 1.0, 0.0, 3.0, 5.0])
    v = spla.csr_array(d)
    x = np.ones(5)
    v @ x  # a cached product plan must not survive the write
    v[key] = value
    ref = d.copy()
    ref[key] = value
    np.testing.assert_array_equal(v.toarray(), ref)
    assert v.shape == (5,)
    np.testing.assert_allclose(v @ x, ref @ x)
    np.testing.assert_array_equal(d, [0.0, 1.0, 0.0, 3.0, 5.0])  # the caller's array


def test_1d_index_errors():
    v = spla.csr_array(np.array([0.0, 1.0]))
    with pytest.raises(IndexError):
        v[2]
    with pytest.raises(IndexError):
        v[0, 0]
    with pytest.raises(IndexError):
        v[[0, 5]] = 1.0
