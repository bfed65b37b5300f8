"""spla.coo_array against SciPy's coo_array and dense NumPy references.

Inputs reach the edges: duplicates and explicit zeros, unsorted coordinates,
empty arrays and zero-length axes, 1-D, 2-D and 3-D shapes, int32 and int64
coordinates, non-contiguous (strided) input arrays, every value dtype spla
stores. Integer and boolean values wait for the dtype policy of issue 17.
"""

import math
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import spla
from spla._dtypes import VALUE_DTYPES

# A fifth of the profile's examples per property: 60 in CI, 600 with --hypothesis-profile=thorough.
SETTINGS = settings(max_examples=max(20, settings.default.max_examples // 5), deadline=None)
INDEX_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))


def _rtol(dtype):
    return 1e-5 if np.dtype(dtype) in (np.float32, np.complex64) else 1e-12


def _close(actual, expected, dtype):
    np.testing.assert_allclose(actual, expected, rtol=_rtol(dtype), atol=_rtol(dtype))


def _strided(a, rng):
    """``a`` as a non-contiguous view (every other element of a larger array)."""
    big = np.empty(2 * a.size, dtype=a.dtype)
    big[::2] = a
    big[1::2] = rng.integers(0, 3, size=a.size).astype(a.dtype) if a.size else big[1::2]
    out = big[::2]
    assert a.size < 2 or not out.flags.c_contiguous
    return out


def _values(rng, k, dtype):
    vals = rng.integers(-8, 9, size=k) / 4
    if np.dtype(dtype).kind == "c":
        vals = vals + 1j * (rng.integers(-8, 9, size=k) / 4)
    vals = vals.astype(dtype)
    if k:
        vals[rng.random(k) < 0.2] = 0  # explicit zeros
    return vals


@st.composite
def coo_inputs(draw, ndims=(1, 2, 2, 3), dtypes=VALUE_DTYPES, max_side=6, max_nnz=30,
               shape=None):
    """``(data, coords, shape)``: COO input with duplicates, explicit zeros,
    unsorted and sometimes strided coordinates."""
    if shape is None:
        nd = draw(st.sampled_from(ndims))
        shape = tuple(draw(st.integers(0, max_side)) for _ in range(nd))
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    idx = np.dtype(draw(st.sampled_from(INDEX_DTYPES)))
    size = math.prod(shape)
    k = 0 if size == 0 else draw(st.integers(0, max_nnz))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    spread = draw(st.sampled_from([1.0, 0.5, 0.1]))  # few positions: duplicates
    pool = rng.integers(0, size, size=max(1, int(spread * size))) if size else np.zeros(0, int)
    flat = rng.choice(pool, size=k) if k else np.zeros(0, dtype=np.int64)
    coords = np.unravel_index(flat, shape)
    if size and draw(st.integers(0, 4)) == 0:
        # one dense row: every position along the last axis at one leading index
        lead = np.unravel_index(rng.integers(0, size), shape)[:-1]
        full = shape[-1]
        coords = tuple(np.concatenate((c, np.full(full, l))) for c, l in zip(coords, lead)) + (
            np.concatenate((coords[-1], np.arange(full))),)
        k += full
    coords = tuple(c.astype(idx) for c in coords)
    data = _values(rng, k, dtype)
    if draw(st.booleans()):
        data = _strided(data, rng)
        coords = tuple(_strided(c, rng) for c in coords)
    return data, coords, shape


def _pair(inp):
    data, coords, shape = inp
    A = spla.coo_array((data, coords), shape=shape)
    # SciPy gets copies: some of its operations write into their operands' arrays
    # (``S @ B`` of a 1-D S with duplicates does, in 1.17).
    S = sp.coo_array((data.copy(), tuple(c.copy() for c in coords)), shape=shape)
    return A, S


def _dense_ref(data, coords, shape):
    D = np.zeros(shape, dtype=data.dtype)
    np.add.at(D, coords, data)
    return D


def _assert_same_coo(A, S):
    """Same shape, index dtype, coordinates, values and canonical flag as SciPy's."""
    assert isinstance(A, spla.coo_array)
    assert A.shape == S.shape and A.ndim == S.ndim and A.nnz == S.nnz
    assert A.dtype == S.dtype
    assert len(A.coords) == len(S.coords)
    for a, s in zip(A.coords, S.coords):
        assert a.dtype == s.dtype
        np.testing.assert_array_equal(a, s)
    _close(A.data, S.data, A.dtype)
    if A.nnz:  # (an empty array is canonical either way)
        assert A.has_canonical_format == S.has_canonical_format


# -- construction --------------------------------------------------------------------


@SETTINGS
@given(inp=coo_inputs())
def test_triplets_match_scipy(inp):
    data, coords, shape = inp
    A, S = _pair(inp)
    _assert_same_coo(A, S)
    D = _dense_ref(data, coords, shape)
    np.testing.assert_array_equal(A.toarray(), D)
    np.testing.assert_array_equal(A.todense(), S.todense())
    F = A.toarray(order="F")
    assert F.flags.f_contiguous
    np.testing.assert_array_equal(F, D)
    out = np.full(shape, 7, dtype=A.dtype)
    assert A.toarray(out=out) is out
    np.testing.assert_array_equal(out, D)
    if A.ndim == 2:
        np.testing.assert_array_equal(A.row, S.row)
        np.testing.assert_array_equal(A.col, S.col)
    assert A.device == "cpu" and A.format == "coo"
    assert A.nbytes == A.data.nbytes + sum(c.nbytes for c in A.coords)


@SETTINGS
@given(inp=coo_inputs(), infer=st.booleans())
def test_shape_inferred_and_copy(inp, infer):
    data, coords, shape = inp
    if infer and data.size:
        A = spla.coo_array((data, coords))
        S = sp.coo_array((data, coords))
        _assert_same_coo(A, S)
    A = spla.coo_array((data, coords), shape=shape, copy=True)
    if data.size:
        assert not np.shares_memory(A.data, data)
        assert not any(np.shares_memory(a, c) for a, c in zip(A.coords, coords))
    contiguous = spla.coo_array((np.ascontiguousarray(data),
                                 tuple(np.ascontiguousarray(c) for c in coords)), shape=shape)
    if data.size and data.flags.c_contiguous:
        assert np.shares_memory(contiguous.data, data)  # no copy when not needed


@SETTINGS
@given(inp=coo_inputs(), layout=st.sampled_from(["C", "F", "strided"]))
def test_dense_input(inp, layout):
    D = _dense_ref(*inp)
    if layout == "F":
        D = np.asfortranarray(D)
    elif layout == "strided" and D.ndim:
        D = np.repeat(D, 2, axis=0)[::2]
    A = spla.coo_array(D)
    S = sp.coo_array(D)
    _assert_same_coo(A, S)
    assert A.has_canonical_format
    np.testing.assert_array_equal(A.toarray(), D)
    with pytest.raises(ValueError, match="inconsistent shapes"):
        spla.coo_array(D, shape=D.shape + (1,))


@pytest.mark.parametrize("shape", [(3,), (0,), (2, 3), (0, 4), (5, 0), (2, 3, 4), (0, 0, 0),
                                   (2**31, 3)])
@pytest.mark.parametrize("dtype", [None, np.float32, np.complex128])
def test_empty_constructor(shape, dtype):
    A = spla.coo_array(shape, dtype=dtype)
    S = sp.coo_array(shape, dtype=dtype)
    _assert_same_coo(A, S)
    assert A.nnz == 0 and A.dtype == S.dtype
    if math.prod(shape) < 1000:
        np.testing.assert_array_equal(A.toarray(), S.toarray())


@SETTINGS
@given(inp=coo_inputs(), copy=st.booleans())
def test_from_scipy_and_spla(inp, copy):
    A, S = _pair(inp)
    for src in (S, S.copy()):
        B = spla.coo_array(src, copy=copy)
        np.testing.assert_array_equal(B.toarray(), S.toarray())
        if copy and B.nnz:
            assert not np.shares_memory(B.data, src.data)
    B = spla.coo_array(A, copy=copy)
    _assert_same_coo(B, S)
    assert (not copy) == (B.nnz > 0 and np.shares_memory(B.data, A.data)) or B.nnz == 0
    if A.ndim == 2:
        for other in (S.tocsr(), S.tocsc()):
            C = spla.coo_array(other)
            np.testing.assert_array_equal(C.toarray(), S.toarray())
            assert not C.has_canonical_format  # SciPy's constructor says so
        for fmt in ("csr", "csc"):
            X = spla.csr_array(S) if fmt == "csr" else spla.csc_array(S)
            C = X.tocoo()
            R = X.to_scipy().tocoo()
            _assert_same_coo(C, R)
            np.testing.assert_array_equal(spla.coo_array(X).toarray(), S.toarray())
            np.testing.assert_array_equal(X.asformat("coo").toarray(), S.toarray())


# -- canonical form, conversions -------------------------------------------------------


@SETTINGS
@given(inp=coo_inputs())
def test_sum_duplicates_in_place(inp):
    A, S = _pair(inp)
    assert A.sum_duplicates() is None
    S.sum_duplicates()
    _assert_same_coo(A, S)
    assert A.has_canonical_format
    flat = np.ravel_multi_index(A.coords, A.shape) if A.nnz else np.zeros(0, int)
    assert np.all(np.diff(flat) > 0)  # sorted in C order, no duplicates
    A.sum_duplicates()  # canonical: nothing to do
    _assert_same_coo(A, S)


@SETTINGS
@given(inp=coo_inputs())
def test_eliminate_zeros_in_place(inp):
    A, S = _pair(inp)
    assert A.eliminate_zeros() is None
    S.eliminate_zeros()
    _assert_same_coo(A, S)
    assert np.all(A.data != 0)


@SETTINGS
@given(inp=coo_inputs(ndims=(2,)))
def test_tocsr_tocsc_round_trips(inp):
    A, S = _pair(inp)
    R = S.tocsr()
    C = A.tocsr()
    assert isinstance(C, spla.csr_array) and C.has_canonical_format
    np.testing.assert_array_equal(C.indptr, R.indptr)
    np.testing.assert_array_equal(C.indices, R.indices)
    _close(C.data, R.data, A.dtype)
    K = A.tocsc()
    R = S.tocsc()
    assert isinstance(K, spla.csc_array)
    np.testing.assert_array_equal(K.indptr, R.indptr)
    np.testing.assert_array_equal(K.indices, R.indices)
    _close(K.data, R.data, A.dtype)
    D = S.toarray()
    # CSR -> COO -> CSC -> SciPy -> COO and back.
    back = spla.coo_array(C.tocoo().tocsc().to_scipy())
    _close(back.toarray(), D, A.dtype)
    _close(C.tocoo().tocsr().toarray(), D, A.dtype)
    _close(K.tocoo().toarray(), D, A.dtype)
    assert A.tocoo() is A and A.tocoo(copy=True) is not A


@SETTINGS
@given(inp=coo_inputs())
def test_to_scipy_shares_memory(inp):
    A, S = _pair(inp)
    T = A.to_scipy()
    assert isinstance(T, sp.coo_array)
    _assert_same_coo(A, T)
    assert T.data is A.data or np.shares_memory(T.data, A.data) or A.nnz == 0
    for a, t in zip(A.coords, T.coords):
        assert a.size == 0 or np.shares_memory(a, t)


@pytest.mark.parametrize("fmt", ["banded", "nm"])
def test_tocoo_of_every_format(fmt):
    rng = np.random.default_rng(3)
    if fmt == "banded":
        X = spla.banded_array(np.diag(np.arange(1.0, 6.0)) + np.diag(np.ones(4), 1))
    else:
        X = spla.nm_array(rng.random((4, 8)), prune=True)
    D = X.toarray()
    for C in (X.tocoo(), X.asformat("coo"), spla.coo_array(X), X.tocoo(copy=True)):
        assert isinstance(C, spla.coo_array) and C.shape == X.shape and C.dtype == X.dtype
        np.testing.assert_array_equal(C.toarray(), D)
    assert spla.coo_array(X).tocoo() is not None and "coo" in spla.formats()


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_tocsr_of_other_dimensions(ndim):
    A = spla.coo_array(np.ones((2,) * ndim))
    if ndim == 2:
        assert A.tocsr().shape == (2, 2)
        return
    with pytest.raises(ValueError, match="CSC"):
        A.tocsc()
    if ndim == 1:
        # SciPy's 1-D CSR (tests/test_csr_1d.py has the rest)
        C = A.tocsr()
        assert C.format == "csr" and C.shape == (2,)
        np.testing.assert_array_equal(C.toarray(), np.ones(2))
        return
    with pytest.raises(ValueError):
        A.tocsr()


def test_tocsr_hypersparse_and_wide():
    """Shapes far larger than nnz: sum_duplicates sorts (no O(rows) array for a
    hypersparse shape, no int64 overflow of flat positions), tocsr allocates
    O(nnz + rows) only, whatever the number of columns."""
    big = 2**40
    row = np.array([5, 6, 5, 0, 5])
    col = np.array([big - 3, 1, big - 3, 0, 2])
    data = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    for shape in ((big, big), (7, big)):
        A = spla.coo_array((data, (row, col)), shape=shape)
        S = sp.coo_array((data, (row, col)), shape=shape)
        B = A.copy()
        B.sum_duplicates()
        S.sum_duplicates()
        _assert_same_coo(B, S)
    C = A.tocsr()
    R = S.tocsr()
    for name in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(C, name), getattr(R, name))
    np.testing.assert_array_equal(A.T.tocsc().indices, R.indices)


# -- values ------------------------------------------------------------------------------


@SETTINGS
@given(inp=coo_inputs(), dtype=st.sampled_from(VALUE_DTYPES))
def test_astype_copy_conj_abs(inp, dtype):
    A, S = _pair(inp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
        B = A.astype(dtype)
        R = S.astype(dtype)
    _assert_same_coo(B, R)
    assert A.astype(A.dtype, copy=False) is A
    C = A.copy()
    _assert_same_coo(C, S)
    if C.nnz:
        assert not np.shares_memory(C.data, A.data)
        C.data[0] = ~C.data[0] if C.dtype == np.bool_ else C.data[0] + 1
        assert C.data[0] != A.data[0]
    _assert_same_coo(A.conj(), S.conj())
    _assert_same_coo(abs(A), abs(S))
    # SciPy's abs sums the duplicates of S in place; spla's leaves A as it was
    np.testing.assert_array_equal(A.toarray(), S.toarray())


@SETTINGS
@given(inp=coo_inputs(), scalar=st.sampled_from([2, -0.5, 1.5 + 2j, np.float32(3)]))
def test_scalar_arithmetic(inp, scalar):
    A, S = _pair(inp)
    if A.dtype.kind != "c" and isinstance(scalar, complex):
        scalar = 1.5
    if A.dtype == np.bool_:  # SciPy refuses to negate a bool array; so does spla
        with pytest.raises(NotImplementedError):
            -A
        negated = []
    else:
        negated = [(-A, -S)]
    for a, s in [(A * scalar, S * scalar), (scalar * A, scalar * S), (A / scalar, S / scalar),
                 (A.multiply(scalar), S.multiply(scalar))] + negated:
        assert isinstance(a, spla.coo_array)
        assert a.dtype == s.dtype
        _close(a.toarray(), s.toarray(), a.dtype)
    a, s = A + 0, S + 0
    assert isinstance(a, spla.coo_array) and a.dtype == s.dtype
    with pytest.raises(NotImplementedError):
        A + 1


# -- shape ---------------------------------------------------------------------------------


@SETTINGS
@given(inp=coo_inputs(), data=st.data())
def test_transpose(inp, data):
    A, S = _pair(inp)
    D = S.toarray()
    axes = tuple(data.draw(st.permutations(range(A.ndim))))
    B = A.transpose(axes)
    _assert_same_coo(B, S.transpose(axes))
    np.testing.assert_array_equal(B.toarray(), D.transpose(axes))
    np.testing.assert_array_equal(A.T.toarray(), D.T)
    np.testing.assert_array_equal(A.transpose().toarray(), D.T)
    if A.nnz:
        assert np.shares_memory(B.data, A.data)
        assert not np.shares_memory(A.transpose(axes, copy=True).data, A.data)
    with pytest.raises(ValueError):
        A.transpose(tuple(range(A.ndim + 1)))
    if A.ndim > 1:
        with pytest.raises(ValueError, match="repeated axis"):
            A.transpose((0,) * A.ndim)


def _factorizations(size):
    out = [(size,), (1, size), (size, 1)]
    for a in range(2, size + 1):
        if size % a == 0:
            out.append((a, size // a))
            for b in range(2, size // a + 1):
                if (size // a) % b == 0:
                    out.append((a, b, size // a // b))
    if size == 0:
        out += [(0, 3), (2, 0, 5), (0,)]
    return out


@SETTINGS
@given(inp=coo_inputs(), data=st.data(), order=st.sampled_from(["C", "F"]),
       copy=st.booleans())
def test_reshape(inp, data, order, copy):
    A, S = _pair(inp)
    D = S.toarray()
    shape = data.draw(st.sampled_from(_factorizations(math.prod(A.shape))))
    B = A.reshape(shape, order=order, copy=copy)
    R = S.reshape(shape, order=order, copy=copy)
    _assert_same_coo(B, R)
    np.testing.assert_array_equal(B.toarray(), D.reshape(shape, order=order))
    if shape == A.shape:
        assert (B is A) != copy
    if len(shape) > 1:
        minus = (-1,) + shape[1:] if math.prod(shape[1:]) else shape
        np.testing.assert_array_equal(A.reshape(*minus).toarray(), D.reshape(minus))
    with pytest.raises(ValueError, match="cannot reshape"):
        A.reshape(math.prod(A.shape) + 1)


# -- reductions and queries ------------------------------------------------------------------


@SETTINGS
@given(inp=coo_inputs(), data=st.data())
def test_sum(inp, data):
    A, S = _pair(inp)
    D = S.toarray()
    total = A.sum()
    assert np.ndim(total) == 0 and np.asarray(total).dtype == S.sum().dtype
    _close(total, D.sum(), A.dtype)
    axes = data.draw(st.one_of(
        st.integers(-A.ndim, A.ndim - 1),
        st.lists(st.integers(0, A.ndim - 1), min_size=1, unique=True).map(tuple)))
    got = A.sum(axis=axes)
    want = S.sum(axis=axes)
    assert type(got) is type(want)
    assert np.shape(got) == np.shape(want) == np.shape(D.sum(axis=axes))
    _close(got, D.sum(axis=axes), A.dtype)
    got32 = A.sum(axis=axes, dtype=np.complex128)
    assert np.asarray(got32).dtype == np.complex128
    if np.ndim(want):
        out = np.zeros(np.shape(want), dtype=np.asarray(want).dtype)
        assert A.sum(axis=axes, out=out) is out
        _close(out, want, A.dtype)
        with pytest.raises(ValueError, match="out"):
            A.sum(axis=axes, out=np.zeros(np.shape(want) + (1,)))
    with pytest.raises(ValueError):
        A.sum(axis=A.ndim)
    with pytest.raises(ValueError, match="duplicate"):
        A.sum(axis=(0, 0))


@SETTINGS
@given(inp=coo_inputs())
def test_nonzero_count_diagonal(inp):
    A, S = _pair(inp)
    for a, s in zip(A.nonzero(), S.nonzero()):
        np.testing.assert_array_equal(a, s)
    assert A.count_nonzero() == S.count_nonzero()
    if A.ndim == 2:
        for axis in (0, 1, -1):
            np.testing.assert_array_equal(A.count_nonzero(axis=axis), S.count_nonzero(axis=axis))
        for k in (-3, -1, 0, 1, 2, 7):
            np.testing.assert_array_equal(A.diagonal(k), S.diagonal(k))


# -- products ---------------------------------------------------------------------------------


def _dense(rng, shape, dtype):
    x = (rng.integers(-4, 5, size=shape) / 2).astype(dtype)
    return x


@SETTINGS
@given(inp=coo_inputs(), xdtype=st.sampled_from(VALUE_DTYPES), seed=st.integers(0, 2**16),
       k=st.integers(0, 3))
def test_matmul_dense(inp, xdtype, seed, k):
    A, S = _pair(inp)
    D = S.toarray()
    rng = np.random.default_rng(seed)
    n = A.shape[-1]
    x = _dense(rng, (n,), xdtype)
    got, want = A @ x, S @ x
    ref = np.tensordot(D, x, axes=(-1, 0))
    # SciPy 1.17's COO returns a scalar for a 2-D (1, n) array too; spla keeps NumPy's (1,).
    assert np.shape(got) == np.shape(ref)
    assert np.shape(want) == np.shape(ref) or A.shape[:1] == (1,)
    assert np.asarray(got).dtype == np.asarray(want).dtype
    _close(got, ref, got.dtype)
    if A.ndim == 1:
        assert np.ndim(got) == 0
        assert np.ndim(A.dot(x)) == 0
    if A.ndim <= 2:
        X = _dense(rng, (n, k), xdtype)
        got, want = A @ X, S @ X
        assert got.shape == want.shape and got.dtype == want.dtype
        _close(got, D @ X, got.dtype)
        Xs = np.asfortranarray(_dense(rng, (n, 2 * k), xdtype))[:, ::2]  # strided
        _close(A @ Xs, D @ Xs, got.dtype)
        y = _dense(rng, (A.shape[0],), xdtype)
        _close(y @ A, y @ D, got.dtype)
        Y = _dense(rng, (k, A.shape[0]), xdtype)
        got = Y @ A
        assert got.shape == (Y @ D).shape
        _close(got, Y @ D, got.dtype)
    with pytest.raises(ValueError, match="dimension mismatch"):
        A @ np.ones(n + 1)
    with pytest.raises(ValueError, match="scalar"):
        A @ 2.0


@SETTINGS
@given(a=coo_inputs(ndims=(1, 2)), seed=st.integers(0, 2**16))
def test_matmul_sparse(a, seed):
    A, S = _pair(a)
    D = S.toarray()
    rng = np.random.default_rng(seed)
    n = A.shape[-1]
    B = sp.random_array((n, 3), density=0.5, rng=rng, dtype=np.float64)
    got = A @ B
    # The reference is dense: SciPy 1.17's ``S @ B`` of a 1-D S with duplicates
    # writes into S's data.
    assert got.shape == (S.copy() @ B).shape
    _close(got.toarray(), D @ B.toarray(), got.dtype)
    got = A @ spla.csr_array(B)
    _close(got.toarray(), D @ B.toarray(), got.dtype)
    if A.ndim == 1:
        v = sp.coo_array(rng.integers(-2, 3, size=n).astype(np.float64))
        got = A @ v
        assert np.shape(got) == np.shape(S.copy() @ v) == ()
        _close(got, D @ v.toarray(), got.dtype)
    else:
        assert isinstance(got, spla.csr_array)
        _close((A @ A.T).toarray(), D @ D.T, A.dtype)
        v = sp.coo_array(rng.integers(-2, 3, size=n).astype(np.float64))
        for operand in (v, spla.coo_array(v)):
            got = A @ operand
            assert got.shape == (S.copy() @ v).shape == (A.shape[0],)
            _close(got.toarray(), D @ v.toarray(), got.dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.complex64])
def test_parallel_paths(dtype):
    """Large arrays (CSR -> COO expands its rows in parallel above ``PARALLEL_NNZ``)."""
    from spla._kernels import coo as kernels

    rng = np.random.default_rng(7)
    nnz = 2 * kernels.PARALLEL_NNZ + 3
    shape = (400, 300)
    row = rng.integers(0, shape[0], nnz)
    col = rng.integers(0, shape[1], nnz)
    data = _values(rng, nnz, dtype)
    A = spla.coo_array((data, (row, col)), shape=shape)
    S = sp.coo_array((data, (row, col)), shape=shape)
    D = S.toarray()
    x = _dense(rng, (shape[1],), np.float64)
    tol = 1e-4 if dtype == np.complex64 else 1e-10
    np.testing.assert_allclose(A @ x, D @ x, rtol=tol, atol=tol)
    np.testing.assert_allclose(A.toarray(), D, rtol=tol, atol=tol)
    for axis in (0, 1):
        np.testing.assert_allclose(A.sum(axis=axis), D.sum(axis=axis), rtol=tol, atol=tol)
    np.testing.assert_allclose(A + np.ones(shape), D + 1, rtol=tol, atol=tol)
    C = spla.csr_array(S)
    _assert_same_coo(C.tocoo(), C.to_scipy().tocoo())
    v = spla.coo_array((data, (col,)), shape=(shape[1],))
    ref = np.zeros(shape[1], dtype=dtype)
    np.add.at(ref, col, data)
    np.testing.assert_allclose(v.toarray(), ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(v @ x, ref @ x, rtol=tol, atol=tol)


# -- arithmetic --------------------------------------------------------------------------------


# SciPy 1.17's 1-D COO arithmetic (``S + T``, ``S @ B``) writes into its operands'
# data when they hold duplicates, so the references below are dense arrays taken
# first, and SciPy's results (for types and dtypes) come from copies.


@SETTINGS
@given(data=st.data(), sign=st.sampled_from([1, -1]))
def test_add_sparse_and_dense(data, sign):
    A, S = _pair(data.draw(coo_inputs()))
    B, T = _pair(data.draw(coo_inputs(shape=A.shape)))
    DA, DB = S.toarray(), T.toarray()
    ref = DA + DB if sign == 1 else (DA ^ DB if DA.dtype == np.bool_ == DB.dtype else DA - DB)
    got = A + B if sign == 1 else A - B
    try:
        want = S.copy() + T.copy() if sign == 1 else S.copy() - T.copy()
    except TypeError:  # SciPy's n-D subtraction negates a bool subtrahend and fails
        assert sign == -1 and A.ndim > 2 and B.dtype == np.bool_
        want = got
    assert got.shape == want.shape and got.dtype == want.dtype
    # 2-D results are CSR as in SciPy; spla has no 1-D CSR, so 1-D and n-D stay COO.
    assert got.format == ("csr" if A.ndim == 2 else "coo")
    _close(got.toarray(), ref, got.dtype)
    if sign == 1 or T.dtype.kind not in "bu":  # (-T wraps unsigned, fails on bool)
        got = A + (T.copy() if sign == 1 else -T.copy())  # a SciPy operand
        _close(got.toarray(), ref, got.dtype)
    _close(B.toarray(), DB, B.dtype)  # operands untouched
    rng = np.random.default_rng(0)
    Dn = _dense(rng, A.shape, np.float64)
    for got, want, ref in ((A + Dn, S.copy() + Dn, DA + Dn), (A - Dn, S.copy() - Dn, DA - Dn),
                           (Dn - A, Dn - S.copy(), Dn - DA), (Dn + A, Dn + S.copy(), Dn + DA)):
        assert isinstance(got, np.ndarray) and got.shape == want.shape
        assert got.dtype == want.dtype
        _close(got, ref, got.dtype)
    if A.shape[-1]:
        row = _dense(rng, A.shape[-1:], np.float32)  # broadcasts
        _close(A + row, DA + row, A.dtype)
    with pytest.raises(ValueError):
        A + spla.coo_array(A.shape + (1,))
    with pytest.raises(ValueError):
        A + np.ones(A.shape + (2,))


@SETTINGS
@given(data=st.data())
def test_multiply(data):
    A, S = _pair(data.draw(coo_inputs()))
    B, T = _pair(data.draw(coo_inputs(shape=A.shape)))
    DA, DB = S.toarray(), T.toarray()
    got = A.multiply(B)
    want = S.copy().multiply(T.copy())
    assert got.shape == want.shape and got.dtype == want.dtype
    assert got.format == ("csr" if A.ndim == 2 else "coo")
    _close(got.toarray(), DA * DB, got.dtype)
    _close((A * T.copy()).toarray(), DA * DB, got.dtype)
    rng = np.random.default_rng(1)
    Dn = _dense(rng, A.shape, np.complex64)
    for got in (A * Dn, Dn * A, A.multiply(Dn)):
        want = S.copy().multiply(Dn)
        assert isinstance(got, spla.coo_array) and got.dtype == want.dtype
        _close(got.toarray(), DA * Dn, got.dtype)
    if A.shape[-1]:
        row = _dense(rng, A.shape[-1:], np.float64)
        _close(A.multiply(row).toarray(), DA * row, A.dtype)
    with pytest.raises(ValueError, match="broadcast"):
        A.multiply(np.ones(A.shape + (2,)))


# -- errors --------------------------------------------------------------------------------


I32 = np.array([0, 1], dtype=np.int32)
BAD_INPUTS = [
    ("negative", lambda m: m.coo_array(([1.0, 2.0], ([0, -1], [1, 0])), shape=(3, 2))),
    ("negative, inferred", lambda m: m.coo_array(([1.0, 2.0], ([0, -1], [1, 0])))),
    ("out of range", lambda m: m.coo_array(([1.0, 2.0], ([0, 1], [1, 0])), shape=(1, 2))),
    ("out of range 1-D", lambda m: m.coo_array(([1.0], ([5],)), shape=(5,))),
    ("out of range 3-D", lambda m: m.coo_array(([1.0], ([0], [0], [4])), shape=(1, 1, 4))),
    ("lengths", lambda m: m.coo_array(([1.0, 2.0, 3.0], ([0, 1], [1, 0])))),
    ("index lengths", lambda m: m.coo_array(([1.0, 2.0], ([0, 1], [1])))),
    ("too few coords", lambda m: m.coo_array(([1.0, 2.0], ([0, 1], [1, 0])), shape=(2, 2, 2))),
    ("too many coords", lambda m: m.coo_array(([1.0], ([0], [0], [0])), shape=(2, 2))),
    ("infer from empty", lambda m: m.coo_array((np.zeros(0), ([], [])))),
    ("negative shape", lambda m: m.coo_array((3, -1))),
    ("float coords", lambda m: m.coo_array(([1.0, 2.0], ([0.0, 1.5], [1, 0])))),
    ("2-D data", lambda m: m.coo_array((np.ones((2, 1)), (I32, I32)))),
    ("2-D coords", lambda m: m.coo_array((np.ones(2), (I32[None], I32[None])))),
    ("not a pair", lambda m: m.coo_array((np.ones(2), I32, I32, I32))),
    ("scalar", lambda m: m.coo_array(5.0)),
    ("dense shape", lambda m: m.coo_array(np.ones((2, 3)), shape=(3, 2))),
    ("reshape size", lambda m: m.coo_array(np.ones(3)).reshape((2, 2))),
    ("reshape two unknowns", lambda m: m.coo_array(np.ones(4)).reshape((-1, -1))),
    ("transpose axes", lambda m: m.coo_array(np.ones(4)).transpose((0, 0))),
    ("sum axis", lambda m: m.coo_array(np.ones((2, 2))).sum(axis=2)),
    ("sum axis type", lambda m: m.coo_array(np.ones((2, 2))).sum(axis=1.5)),
    ("matmul 1-D", lambda m: m.coo_array(np.ones(2)) @ np.ones(3)),
    ("toarray out", lambda m: m.coo_array(np.ones(2)).toarray(out=np.zeros(3))),
    ("toarray order+out", lambda m: m.coo_array(np.ones(2)).toarray("C", out=np.zeros(2))),
]


@pytest.mark.parametrize("name, build", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_errors_as_scipy(name, build):
    with pytest.raises(Exception) as theirs:
        build(sp)
    with pytest.raises(type(theirs.value)) as ours:
        build(spla)
    assert str(ours.value)


def test_error_messages_name_the_problem():
    with pytest.raises(ValueError, match="axis 1 index 3 exceeds matrix dimension 3"):
        spla.coo_array(([1.0], ([0], [3])), shape=(2, 3))
    with pytest.raises(ValueError, match="negative axis 0 index: -2"):
        spla.coo_array(([1.0], ([-2], [0])), shape=(2, 3))
    with pytest.raises(ValueError, match="same length"):
        spla.coo_array(([1.0, 2.0], ([0], [0])), shape=(2, 3))
    with pytest.raises(TypeError, match="index array 0 must hold integers"):
        spla.coo_array(([1.0], (np.array([0.5]), [0])), shape=(2, 3))
    with pytest.raises(TypeError, match="dtype"):
        spla.coo_array((np.array(["a"]), ([0], [0])), shape=(2, 3))
    # An index far beyond int32 must not wrap around when cast.
    with pytest.raises(ValueError, match="exceeds matrix dimension"):
        spla.coo_array(([1.0], (np.array([2**32]), [0])), shape=(2, 3))


def test_attributes_and_setters():
    A = spla.coo_array((np.array([1.0, 2.0]), ([0, 1], [1, 0])), shape=(2, 2))
    A.row = [1, 0]
    A.col = np.array([1, 1])
    np.testing.assert_array_equal(A.toarray(), [[0.0, 2.0], [0.0, 1.0]])
    assert A.row.dtype == A.col.dtype == np.int64  # lists are int64 arrays, as in SciPy
    v = spla.coo_array(np.array([0.0, 3.0]))
    np.testing.assert_array_equal(v.row, [0])
    with pytest.raises(ValueError, match="row attribute"):
        v.row = [0]
    assert "coo_array" in repr(v) and "shape=(2,)" in repr(v)
    with pytest.raises(TypeError):
        len(A)
    assert spla.coo_array(np.ones((2, 3, 4))).coords[0].dtype == np.int64


# -- integer and boolean values (the dtype policy of issue 17) ------------------------


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint16, np.bool_])
def test_integer_and_bool_values_keep_their_dtype(dtype):
    data = np.array([1, 2, 0, 1], dtype=dtype)
    coords = (np.array([0, 1, 1, 0]), np.array([1, 0, 0, 1]))
    A = spla.coo_array((data, coords), shape=(2, 2))
    S = sp.coo_array((data, coords), shape=(2, 2))
    assert A.dtype == S.dtype
    np.testing.assert_array_equal(A.toarray(), S.toarray())
    assert A.sum().dtype == S.sum().dtype
    assert A.tocsr().dtype == S.dtype


def test_doctests():
    import doctest

    from spla._formats import coo

    assert doctest.testmod(coo, optionflags=doctest.ELLIPSIS).failed == 0
