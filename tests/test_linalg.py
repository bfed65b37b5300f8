"""spla.linalg.solve_banded: residuals on random banded systems, singular systems,
bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import spla
from spla.linalg import solve_banded

relaxed = settings(deadline=None)


def banded_system(n, l, u, dtype, seed, k=None):
    rng = np.random.default_rng(seed)
    offs = np.arange(-l, u + 1)
    offs = offs[(offs > -n) & (offs < n)]
    data = rng.standard_normal((offs.size, n))
    if np.dtype(dtype).kind == "c":
        data = data + 1j * rng.standard_normal((offs.size, n))
    data[offs == 0] += 2.0 * (l + u + 1)  # diagonally dominant: well conditioned
    A = spla.banded_array((data.astype(dtype), offs), shape=(n, n))
    shape = (n,) if k is None else (n, k)
    b = rng.standard_normal(shape).astype(dtype if np.dtype(dtype).kind == "c" else "float64")
    return A, b


@relaxed
@given(n=st.integers(1, 30), l=st.integers(0, 4), u=st.integers(0, 4),
       dtype=st.sampled_from(["float32", "float64", "complex64", "complex128"]),
       k=st.one_of(st.none(), st.integers(1, 3)), seed=st.integers(0, 2**16))
def test_residual(n, l, u, dtype, k, seed):
    A, b = banded_system(n, l, u, dtype, seed, k)
    x = solve_banded(A, b)
    assert x.shape == b.shape
    r = A.toarray() @ x - b
    tol = 1e-4 if np.dtype(dtype).itemsize <= 8 and dtype != "complex128" else 1e-10
    assert np.linalg.norm(r) <= tol * (1 + np.linalg.norm(b))


def test_matches_dense_solve_and_accepts_dense_input():
    A, b = banded_system(50, 3, 2, "float64", 1, 4)
    expected = np.linalg.solve(A.toarray(), b)
    np.testing.assert_allclose(solve_banded(A, b), expected, rtol=1e-10)
    np.testing.assert_allclose(solve_banded(A.toarray(), b), expected, rtol=1e-10)
    np.testing.assert_allclose(solve_banded(A.tocsr(), b[:, 0]), expected[:, 0], rtol=1e-10)


@pytest.mark.parametrize(
    "dense",
    [
        np.zeros((1, 1)),
        np.diag([1.0, 0.0, 2.0]),                       # l = u = 0
        np.array([[1.0, 2.0], [2.0, 4.0]]),             # tridiagonal path (gtsv)
        np.array([[1.0, 2.0, 0.0], [0.0, 0.0, 0.0], [0.0, 3.0, 1.0]]),
        np.triu(np.ones((4, 4)), 0) - np.eye(4),        # zero diagonal, upper band
    ],
)
def test_singular_raises_linalgerror(dense):
    A = spla.banded_array(dense, offsets=np.arange(-(dense.shape[0] - 1), dense.shape[0])
                          if dense.any() else [0])
    with pytest.raises(np.linalg.LinAlgError):
        solve_banded(A, np.ones(dense.shape[0]))


def test_bad_input_raises():
    A, b = banded_system(5, 1, 1, "float64", 0)
    with pytest.raises(ValueError, match="square"):
        solve_banded(spla.banded_array(np.ones((2, 3))), np.ones(2))
    with pytest.raises(ValueError, match="rows"):
        solve_banded(A, np.ones(4))
    with pytest.raises(ValueError, match="1-D or 2-D"):
        solve_banded(A, np.ones((5, 2, 2)))
    with pytest.raises(TypeError):
        solve_banded(A, np.array(["a"] * 5, dtype=object))
    with pytest.raises(ValueError):
        solve_banded(A, np.full(5, np.nan))
    assert solve_banded(A, np.ones((5, 0))).shape == (5, 0)
    x = solve_banded(A, np.arange(5))  # integers become float64
    assert x.dtype == np.float64


# -- spsolve_triangular: spla's level-scheduled kernel -------------------------------------

import scipy.sparse as sp  # noqa: E402
import scipy.sparse.linalg as sla  # noqa: E402

from spla.linalg import _triangular  # noqa: E402
from spla.testing import strategies as sst  # noqa: E402


def _triangular_system(A, lower, unit, rng):
    """Make the square spla array ``A`` triangular with a safe diagonal: keep its
    stored entries of one triangle (duplicates, explicit zeros and index dtype
    kept), add a diagonal entry per row."""
    n = A.shape[0]
    C = A.tocsr()
    rows = np.repeat(np.arange(n), np.diff(C.indptr))
    cols = C.indices.astype(np.int64)
    keep = cols < rows if lower else cols > rows
    scale = 1.0 + np.abs(C.data).max(initial=0) * max(1, n)
    diag = (rng.uniform(1, 2, n) * scale).astype(C.dtype)
    r = np.concatenate([rows[keep], np.arange(n)])
    c = np.concatenate([cols[keep], np.arange(n)])
    v = np.concatenate([C.data[keep], diag])
    order = np.argsort(r, kind="stable")
    indptr = np.zeros(n + 1, dtype=C.indptr.dtype)
    np.cumsum(np.bincount(r, minlength=n), out=indptr[1:])
    T = spla.csr_array((v[order], c[order].astype(C.indices.dtype), indptr), shape=(n, n))
    D = T.toarray().astype(np.complex128)
    if unit:
        np.fill_diagonal(D, 1.0)
    return T, D


@settings(deadline=None, max_examples=80)
@given(A=sst.csr_arrays(shape=st.integers(0, 14).map(lambda n: (n, n))),
       lower=st.booleans(), unit=st.booleans(), k=st.one_of(st.none(), st.integers(0, 3)),
       fmt=st.sampled_from(["csr", "csc"]), parallel=st.booleans(),
       bdtype=st.sampled_from(["float32", "float64", "complex128", "int64"]),
       seed=st.integers(0, 2**16))
def test_spsolve_triangular_matches_dense(A, lower, unit, k, fmt, parallel, bdtype, seed):
    rng = np.random.default_rng(seed)
    T, D = _triangular_system(A, lower, unit, rng)
    n = T.shape[0]
    b = rng.standard_normal((n,) if k is None else (n, k)) * 3
    b = b.astype(bdtype)
    old = _triangular.MIN_WORK, _triangular.MIN_ROWS_PER_LEVEL
    if parallel:  # force the level-scheduled kernel on these small systems
        _triangular.MIN_WORK, _triangular.MIN_ROWS_PER_LEVEL = 0, 0
    try:
        x = spla.linalg.spsolve_triangular(T.asformat(fmt), b, lower=lower, unit_diagonal=unit)
    finally:
        _triangular.MIN_WORK, _triangular.MIN_ROWS_PER_LEVEL = old
    assert x.shape == b.shape
    assert x.dtype == np.promote_types(np.promote_types(T.dtype, np.float32), b.dtype)
    if n and x.size:
        # backward error against the stored entries (duplicates may cancel):
        # |b - D x| <= c eps (sum_j |stored a_ij| |x| + |b|) row by row
        C = T.tocsr()
        rows = np.repeat(np.arange(n), np.diff(C.indptr))
        absrow = np.bincount(rows, np.abs(C.data).astype(np.float64), minlength=n) + 1
        x2, b2 = x.reshape(n, -1), b.reshape(n, -1).astype(np.complex128)
        resid = np.abs(b2 - D @ x2)
        # (a float32 matrix with duplicates: D sums them in float32)
        single = x.dtype.char in "fF" or T.dtype.char in "fF"
        eps = np.finfo(np.float32 if single else np.float64).eps
        bound = 50 * n * eps * (absrow[:, None] * np.abs(x2).max(axis=0) + np.abs(b2))
        assert (resid <= bound).all()


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("lower", [True, False])
def test_spsolve_triangular_one_rhs_kernels_have_the_columns_bits(parallel, lower):
    """One right-hand side takes the vector kernels (the row's sum in a register):
    the same bits as the k-column kernels (column 0 of a two-column solve), SciPy's
    solution to rounding, serial and level-scheduled, lower and upper,
    ``unit_diagonal`` too."""
    rng = np.random.default_rng(1)
    n = 2000
    S = sp.random(n, n, density=6 / n, random_state=rng, format="csr")
    T = sp.csr_array((sp.tril(S, -1) if lower else sp.triu(S, 1)) + sp.diags(rng.uniform(1, 2, n)))
    A = spla.csr_array(T)
    b = rng.standard_normal(n)
    old = _triangular.MIN_WORK, _triangular.MIN_ROWS_PER_LEVEL
    if parallel:
        _triangular.MIN_WORK, _triangular.MIN_ROWS_PER_LEVEL = 0, 0
    try:
        for unit in (False, True):
            x = spla.linalg.spsolve_triangular(A, b, lower=lower, unit_diagonal=unit)
            x1 = spla.linalg.spsolve_triangular(A, b[:, None], lower=lower, unit_diagonal=unit)
            X = spla.linalg.spsolve_triangular(A, np.column_stack([b, b]), lower=lower,
                                               unit_diagonal=unit)
            np.testing.assert_array_equal(x, X[:, 0])
            np.testing.assert_array_equal(x1[:, 0], X[:, 0])
            # (SciPy divides by the diagonal where spla multiplies by its inverse)
            np.testing.assert_allclose(
                x, sla.spsolve_triangular(T, b, lower=lower, unit_diagonal=unit),
                rtol=1e-12, atol=1e-12)
    finally:
        _triangular.MIN_WORK, _triangular.MIN_ROWS_PER_LEVEL = old


def test_spsolve_triangular_like_scipy_on_a_large_system():
    rng = np.random.default_rng(0)
    n = 3000
    S = sp.random(n, n, density=5 / n, random_state=rng, format="csr")
    Lo = sp.csr_array(sp.tril(S, -1) + sp.diags(rng.uniform(1, 2, n)))
    b = rng.standard_normal((n, 2))
    A = spla.csr_array(Lo)
    old = _triangular.MIN_WORK, _triangular.MIN_ROWS_PER_LEVEL
    _triangular.MIN_WORK, _triangular.MIN_ROWS_PER_LEVEL = 0, 0
    try:
        x = spla.linalg.spsolve_triangular(A, b)
        x_again = spla.linalg.spsolve_triangular(A, b)  # the cached level analysis
    finally:
        _triangular.MIN_WORK, _triangular.MIN_ROWS_PER_LEVEL = old
    ref = sla.spsolve_triangular(Lo, b)
    np.testing.assert_allclose(x, ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(x, x_again)
    np.testing.assert_allclose(spla.linalg.spsolve_triangular(A, b), ref, rtol=1e-10, atol=1e-12)
    U = spla.csr_array(sp.csr_array(Lo.T))
    np.testing.assert_allclose(spla.linalg.spsolve_triangular(U, b, lower=False),
                               sla.spsolve_triangular(sp.csr_array(Lo.T), b, lower=False),
                               rtol=1e-10, atol=1e-12)


def test_spsolve_triangular_bad_input():
    T = spla.csr_array(np.array([[1.0, 0.0], [2.0, 0.0]]))
    with pytest.raises(np.linalg.LinAlgError, match="zero entry on diagonal"):
        spla.linalg.spsolve_triangular(T, np.ones(2))
    assert spla.linalg.spsolve_triangular(T, np.ones(2), unit_diagonal=True).tolist() == [1, -1]
    with pytest.raises(ValueError, match="square"):
        spla.linalg.spsolve_triangular(spla.csr_array(np.ones((2, 3))), np.ones(2))
    with pytest.raises(ValueError, match="first dimension"):
        spla.linalg.spsolve_triangular(spla.csr_array(np.eye(2)), np.ones(3))
    with pytest.raises(ValueError, match="1 or 2 dims"):
        spla.linalg.spsolve_triangular(spla.csr_array(np.eye(2)), np.ones((2, 1, 1)))
    with pytest.raises(TypeError):
        spla.linalg.spsolve_triangular(np.eye(2), np.ones(2))
    b = np.ones(2)
    x = spla.linalg.spsolve_triangular(spla.csr_array(2 * np.eye(2)), b, overwrite_b=True)
    assert x is b and b.tolist() == [0.5, 0.5]


# -- cg: the fused kernels (no preconditioner, spla matrix) against SciPy -----------------

@pytest.mark.parametrize("dtype", ["float32", "float64", "complex64", "complex128"])
@pytest.mark.parametrize("n", [30, 60_000])  # serial and parallel fused kernels
def test_fused_cg_matches_scipy(dtype, n):
    k = int(np.sqrt(n))
    T = sp.diags([-1.0, 2.2, -1.0], [-1, 0, 1], shape=(k, k))
    S = sp.csr_array(sp.kronsum(T, T, format="csr").astype(dtype))
    if np.dtype(dtype).kind == "c":
        S = sp.csr_array(S + 0.1j * (sp.eye(k * k, k=1) - sp.eye(k * k, k=-1)))  # Hermitian
    A = spla.csr_array(S)
    b = np.cos(np.arange(k * k)).astype(dtype)
    rtol = 1e-4 if np.dtype(dtype).char in "fF" else 1e-10
    calls = []
    x, info = spla.linalg.cg(A, b, rtol=rtol, maxiter=2000, callback=calls.append)
    xs, infos = sla.cg(S, b, rtol=rtol, maxiter=2000)
    assert info == infos == 0
    assert x.dtype == xs.dtype
    ref_calls = []
    sla.cg(S, b, rtol=rtol, maxiter=2000, callback=ref_calls.append)
    assert abs(len(calls) - len(ref_calls)) <= max(2, len(ref_calls) // 20)  # rounding only
    assert np.linalg.norm(S @ x - b) <= 1.01 * rtol * np.linalg.norm(b) * (
        10 if np.dtype(dtype).char in "fF" else 1)
    np.testing.assert_allclose(x, xs, rtol=100 * rtol, atol=100 * rtol * np.abs(xs).max())
    x, info = spla.linalg.cg(A, b, rtol=rtol, maxiter=3)
    assert info == 3


def test_gpu_calls_drop_only_scipy_defaults_cupy_lacks():
    """spla's own solvers pass every argument on; on GPU arrays those CuPy's function
    lacks are dropped only at SciPy's default (a CuPy-like signature, no GPU needed)."""
    from spla.linalg import _gpu

    def cupy_lsqr(A, b):  # CuPy 14's lsqr takes no options
        return A, b

    kept = _gpu._drop_scipy_defaults("lsqr", cupy_lsqr, dict(damp=0.0, atol=1e-6, show=False,
                                                             iter_lim=None, x0=None))
    assert kept == {}
    with pytest.raises(NotImplementedError, match="'damp'"):
        _gpu._drop_scipy_defaults("lsqr", cupy_lsqr, dict(damp=0.5))
    with pytest.raises(NotImplementedError, match="'show'"):
        _gpu._drop_scipy_defaults("lsqr", cupy_lsqr, dict(show=1))  # not SciPy's False

    def cupy_minres(A, b, x0=None, tol=1e-5):
        return A, b

    kept = _gpu._drop_scipy_defaults("minres", cupy_minres, dict(x0=None, tol=1e-8, show=False,
                                                                 check=False, shift=0.0))
    assert kept == {"x0": None, "tol": 1e-8}
