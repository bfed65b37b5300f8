"""spla.linalg.expm_multiply (SciPy's sparse-matrix algorithm with spla's products and fused
passes) against scipy.sparse.linalg.expm_multiply on the same SciPy sparse matrix; the fused
kernels against NumPy; errors."""

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as sla
from _util import scaled_examples
from hypothesis import example, given
from hypothesis import strategies as st

import spla
import spla.linalg as L
from spla._kernels import expm
from spla.linalg import _expm

DTYPES = ["float32", "float64", "complex64", "complex128"]
GRIDS = [None, dict(start=0, stop=1, num=3, endpoint=True), dict(start=0.5, stop=3.0, num=11),
         dict(start=-1.0, stop=2.0, num=4, endpoint=False), dict(start=0.0, stop=1.0, num=40)]


def matrix(n, dtype, seed, scale, diagonal=True, empty_rows=0, duplicates=False):
    """SciPy CSR ``n x n``: random entries times ``scale``; the diagonal stored or not, the
    first ``empty_rows`` rows empty, a duplicate and an explicit zero."""
    rng = np.random.default_rng(seed)
    R = sp.random_array((n, n), density=0.2, rng=rng, format="coo")
    rows, cols, vals = R.row, R.col, R.data - 0.5
    if diagonal:
        d = np.arange(n)
        rows, cols = np.concatenate([rows, d]), np.concatenate([cols, d])
        vals = np.concatenate([vals, rng.standard_normal(n)])
    if duplicates and n:
        rows = np.concatenate([rows, [0, n - 1, n - 1]])
        cols = np.concatenate([cols, [0, 0, n - 1]])
        vals = np.concatenate([vals, [0.5, 0.0, -0.25]])
    keep = rows >= empty_rows
    rows, cols, vals = rows[keep], cols[keep], vals[keep]
    if np.dtype(dtype).kind == "c":
        vals = vals + 1j * (rng.random(vals.size) - 0.5)
    vals = (scale * vals).astype(dtype)
    return sp.csr_array(sp.coo_array((vals, (rows, cols)), shape=(n, n)))


def spla_of(S, index_dtype, fmt):
    A = spla.csr_array(S)
    if index_dtype == "int64":
        A = spla.csr_array((A.data, A.indices.astype(np.int64), A.indptr.astype(np.int64)),
                           shape=A.shape)
    return A if fmt == "csr" else A.asformat(fmt)


def check_same(X, Y, dtype, noise=None, exact=None):
    """X equals SciPy's Y to the dtype's tolerance; ``noise``: SciPy's own answer to an
    input changed by one ulp, whose distance from Y is the rounding noise of the problem
    (large where the Taylor sums cancel), allowed 100 times over; ``exact``: an
    independent answer (the dense ``expm``), whose distance from Y is SciPy's own error,
    allowed twice over (Y's error in the Taylor sums' rounding, which the one-ulp input
    change does not show: a drawn scale-6 matrix had SciPy 3.2e-4 from the dense answer
    of norm 1.2e6 and spla 2.7e-4, 3.1e-4 apart)."""
    assert X.shape == Y.shape and X.dtype == Y.dtype
    single = np.dtype(dtype).char in "fF" and Y.dtype.char in "fF"
    r = 5e-5 if single else 1e-6 if np.dtype(dtype).char in "fF" else 1e-11
    scale = max(np.abs(Y).max(initial=0.0), 1.0)
    atol = r * scale
    if noise is not None:
        atol = max(atol, 100 * float(np.abs(noise - Y).max(initial=0.0)))
    if exact is not None:
        atol = max(atol, 2 * float(np.abs(exact - Y).max(initial=0.0)))
    np.testing.assert_allclose(X, Y, rtol=r, atol=atol)


def dense_expm_multiply(S, B, grid):
    """``expm(t S) @ B`` at the grid's points (t = 1 without one) in float64/complex128,
    through the dense ``scipy.linalg.expm`` (Pade, an algorithm independent of SciPy's
    ``expm_multiply``), in the shape ``expm_multiply`` returns."""
    D = S.toarray().astype(np.result_type(S.dtype, np.float64))
    Bd = B.astype(np.result_type(B.dtype, np.float64))
    if not grid:
        return scipy.linalg.expm(D) @ Bd
    ts = np.linspace(grid["start"], grid["stop"], grid["num"],
                     endpoint=grid.get("endpoint", True))
    return np.stack([scipy.linalg.expm(t * D) @ Bd for t in ts])


@scaled_examples(0.5)
@example(n=10, dtype="float64", seed=0, scale=6.0, diagonal=True, empty=0, duplicates=False,
         k=None, grid=GRIDS[3], index_dtype="int32", fmt="csr", strided=False, trace=False)
@given(n=st.integers(1, 40), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16),
       scale=st.sampled_from([0.0, 0.05, 1.0, 6.0]), diagonal=st.booleans(),
       empty=st.integers(0, 3), duplicates=st.booleans(), k=st.sampled_from([None, 1, 3]),
       grid=st.sampled_from(GRIDS), index_dtype=st.sampled_from(["int32", "int64"]),
       fmt=st.sampled_from(["csr", "csc"]), strided=st.booleans(), trace=st.booleans())
def test_expm_multiply_as_scipy(n, dtype, seed, scale, diagonal, empty, duplicates, k, grid,
                                index_dtype, fmt, strided, trace):
    S = matrix(n, dtype, seed, scale, diagonal, empty, duplicates)
    A = spla_of(S, index_dtype, fmt)
    rng = np.random.default_rng(seed + 1)
    shape = (n,) if k is None else (n, k)
    B = rng.standard_normal(shape).astype(dtype)
    if strided:
        B = np.repeat(B, 2, axis=0)[::2]
    kw = dict(grid or {})
    if trace:  # a Python float, as users pass it
        kw["traceA"] = float(S.trace().real)
    Y = sla.expm_multiply(S, B, **kw)
    B_ulp = np.nextafter(B, np.inf) if B.dtype.kind == "f" else B + np.spacing(B.real)
    check_same(L.expm_multiply(A, B, **kw), Y, dtype, noise=sla.expm_multiply(S, B_ulp, **kw),
               exact=dense_expm_multiply(S, B, grid))


@pytest.mark.parametrize("fmt", ["csr", "csc", "banded", "nm"])
def test_expm_multiply_every_format_against_dense_expm(fmt):
    from test_linalg_scipy import as_format, spd

    S = spd(30) * 0.3
    A = as_format(S, fmt)
    D = A.toarray()
    B = np.arange(60.0).reshape(30, 2)
    np.testing.assert_allclose(L.expm_multiply(A, B), scipy.linalg.expm(D) @ B, rtol=1e-10)
    grid = L.expm_multiply(A, B[:, 0], start=0, stop=2, num=5)
    for t, row in zip(np.linspace(0, 2, 5), grid):
        np.testing.assert_allclose(row, scipy.linalg.expm(t * D) @ B[:, 0], rtol=1e-10)


@pytest.mark.parametrize("dtype", ["int64", "bool"])
def test_expm_multiply_integer_operands(dtype):
    S = sp.csr_array((np.arange(36).reshape(6, 6) % 3 == 0).astype(dtype))
    A = spla.csr_array(S)
    B = np.arange(6)
    check_same(L.expm_multiply(A, B), sla.expm_multiply(S, B), "float64")
    check_same(L.expm_multiply(A, B, start=0, stop=1, num=3),
               sla.expm_multiply(S, B, start=0, stop=1, num=3), "float64")


def test_expm_multiply_large_norm_estimates_powers():
    """A norm too large for condition (3.13): SciPy estimates |A^p|_1 (onenormest, random
    but close), here over spla's products."""
    S = matrix(200, "float64", 3, 40.0)
    B = np.ones(200)
    check_same(L.expm_multiply(spla.csr_array(S), B), sla.expm_multiply(S, B), "float64")


def test_expm_multiply_parallel_passes():
    n = 70_000
    assert n >= _expm.PARALLEL_MIN and n > 2 * expm.CHUNK
    S = sp.csr_array(sp.diags_array([-0.5, 1.0, -0.25], offsets=[-1, 0, 1], shape=(n, n)))
    B = np.random.default_rng(0).standard_normal((n, 2))
    A = spla.csr_array(S)
    check_same(L.expm_multiply(A, B), sla.expm_multiply(S, B), "float64")
    kw = dict(start=0, stop=3, num=7)
    check_same(L.expm_multiply(A, B[:, 0], **kw), sla.expm_multiply(S, B[:, 0], **kw),
               "float64")


def test_expm_multiply_takes_spla_path(monkeypatch):
    """No SciPy expm_multiply, no onenormest of A (the 1-norm is exact)."""
    def fail(*a, **k):
        raise AssertionError("SciPy's expm_multiply or onenormest was called")

    monkeypatch.setattr(sla, "expm_multiply", fail)
    monkeypatch.setattr(sla, "onenormest", fail)
    A = spla.csr_array(matrix(20, "float64", 0, 1.0))
    assert L.expm_multiply(A, np.ones(20)).shape == (20,)


def test_expm_multiply_errors():
    A = spla.csr_array(matrix(4, "float64", 0, 1.0))
    with pytest.raises(ValueError, match="square"):
        L.expm_multiply(spla.csr_array(np.ones((2, 3))), np.ones(3))
    with pytest.raises(ValueError, match="incompatible"):
        L.expm_multiply(A, np.ones(5))
    with pytest.raises(ValueError, match="matrix or a vector"):
        L.expm_multiply(A, np.ones((4, 1, 1)))
    with pytest.raises(ValueError, match="matrix or a vector"):
        L.expm_multiply(A, 2.0)
    with pytest.raises(ValueError, match="two time points"):
        L.expm_multiply(A, np.ones(4), start=0, stop=1, num=1)


@pytest.mark.parametrize("parallel", [False, True])
@given(n=st.integers(0, 50), k=st.integers(1, 3), dtype=st.sampled_from(DTYPES),
       seed=st.integers(0, 2**16))
@scaled_examples(0.3)
def test_fused_kernels_against_numpy(parallel, n, k, dtype, seed):
    kern = expm.PARALLEL if parallel else expm.SERIAL
    taylor_term, power_term, add_scaled, scale_norm = kern
    rng = np.random.default_rng(seed)

    def block():
        X = rng.standard_normal((n, k))
        if np.dtype(dtype).kind == "c":
            X = X + 1j * rng.standard_normal((n, k))
        return X.astype(dtype)

    def inf(X):
        return np.linalg.norm(X, np.inf) if n else 0.0

    real = np.finfo(dtype).dtype.type
    mu = np.dtype(dtype).type(0.75)
    part = np.zeros((expm.nchunks(n), 2))
    Y, B, F = block(), block(), block()
    Y0, F0 = Y.copy(), F.copy()
    ny, nf = taylor_term(Y.reshape(-1), B.reshape(-1), F.reshape(-1), k, real(0.5), mu, part)
    np.testing.assert_allclose(Y, real(0.5) * (Y0 - mu * B), rtol=1e-6)
    np.testing.assert_allclose(F, F0 + Y, rtol=1e-6)
    np.testing.assert_allclose([ny, nf], [inf(Y), inf(F)], rtol=1e-6)
    Y0 = Y.copy()
    ny = power_term(Y.reshape(-1), B.reshape(-1), k, real(0.3), mu, real(3.0), part)
    np.testing.assert_allclose(Y, real(0.3) * (Y0 - mu * B) / real(3.0), rtol=1e-6)
    np.testing.assert_allclose(ny, inf(Y), rtol=1e-6)
    F0 = F.copy()
    nf = add_scaled(F.reshape(-1), real(4.0), Y.reshape(-1), k, part)
    np.testing.assert_allclose(F, F0 + real(4.0) * Y, rtol=1e-6)
    np.testing.assert_allclose(nf, inf(F), rtol=1e-6)
    F0 = F.copy()
    nf = scale_norm(F.reshape(-1), k, np.dtype(dtype).type(1.5), part)
    np.testing.assert_allclose(F, 1.5 * F0, rtol=1e-6)
    np.testing.assert_allclose(nf, inf(F), rtol=1e-6)


@given(n=st.integers(1, 30), seed=st.integers(0, 2**16), diagonal=st.booleans(),
       mu=st.sampled_from([0.0, 1.5, -2.0]), dtype=st.sampled_from(DTYPES))
@scaled_examples(0.3)
def test_shifted_onenorm_against_dense(n, seed, diagonal, mu, dtype):
    S = matrix(n, dtype, seed, 1.0, diagonal=diagonal, duplicates=True)
    S.sum_duplicates()
    D = S.toarray() - mu * np.eye(n)
    got = expm.shifted_onenorm(S.indptr, S.indices, S.data, n, np.dtype(dtype).type(mu))
    np.testing.assert_allclose(got, np.abs(D).sum(axis=0).max(), rtol=1e-6)
