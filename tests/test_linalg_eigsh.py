"""spla.linalg.eigsh (spla's thick-restart Lanczos for float64 CPU spla arrays) against
numpy.linalg.eigh and scipy.sparse.linalg.eigsh: eigenvalues in SciPy's order and to
its tolerance, eigenvectors up to sign (residuals and orthonormality), SciPy's errors
and ArpackNoConvergence; the fused kernels against NumPy; the paths that stay SciPy's."""

import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp
import scipy.sparse.linalg as sla
from hypothesis import given
from hypothesis import strategies as st

import spla
import spla.linalg as L
from spla._kernels import krylov, lanczos
from spla.linalg import _lanczos

DATA = Path(__file__).parent / "data"
WHICH = ["LA", "SA", "LM", "BE"]


@pytest.fixture
def lanczos_only(monkeypatch):
    """Small problems run Lanczos instead of the dense fallback."""
    monkeypatch.setattr(_lanczos, "DENSE_MAX", 0)


def spla_of(S, index_dtype="int32", fmt="csr"):
    S = sp.csr_array(S)
    A = spla.csr_array((S.data, S.indices.astype(index_dtype), S.indptr.astype(index_dtype)),
                       shape=S.shape)
    return A if fmt == "csr" else A.asformat(fmt)


def key(w, which):
    """Most wanted first, as a sort key of the eigenvalues ``w``."""
    return {"LA": -w, "SA": w, "LM": -np.abs(w), "SM": np.abs(w)}[which]


def expected_values(ref, which, k):
    """The ``k`` wanted eigenvalues of the ascending ``ref``, ascending."""
    if which == "BE":
        hi, lo = k - k // 2, k // 2
        return np.sort(np.concatenate([ref[len(ref) - hi:], ref[:lo]]))
    return np.sort(ref[np.argsort(key(ref, which), kind="stable")[:k]])


def check_pairs(D, w, X, atol):
    """Residuals ``|D x - w x|`` and orthonormality of the eigenvectors."""
    k = len(w)
    assert X.shape == (D.shape[0], k)
    assert np.abs(D @ X - X * w).max() <= atol
    assert np.abs(X.T @ X - np.eye(k)).max() <= 1e-8


def _in_a_cluster(ref, which, k, rel):
    """Whether a wanted eigenvalue of the ascending ``ref`` lies within ``rel`` times
    the spread of the spectrum of another eigenvalue."""
    if ref.size < 2:
        return False
    spread = max(ref[-1] - ref[0], np.finfo(float).tiny)
    gaps = np.diff(ref)
    nearest = np.minimum(np.r_[np.inf, gaps], np.r_[gaps, np.inf])
    wanted = np.isin(ref, expected_values(ref, which, k))
    return bool((nearest[wanted] <= rel * spread).any())


def compare_sets(w, ref, which, k, rtol):
    """``w`` holds the wanted eigenvalues of ``ref`` (for LM compared by modulus:
    ``-a`` and ``a`` tie)."""
    scale = max(np.abs(ref).max(), 1.0)
    exp = expected_values(ref, which, k)
    if which == "LM":
        np.testing.assert_allclose(np.sort(np.abs(w)), np.sort(np.abs(exp)), atol=rtol * scale)
    else:
        np.testing.assert_allclose(np.sort(w), exp, atol=rtol * scale)


@st.composite
def symmetric_problems(draw):
    n = draw(st.integers(2, 48))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["random", "repeated", "clustered", "dense_row", "diagonal"]))
    if kind == "random":
        R = sp.random_array((n, n), density=draw(st.floats(0.0, 0.5)), rng=rng)
        S = (R + R.T) * 0.5
    elif kind == "repeated":
        # a few distinct eigenvalues, each repeated, on a permuted block diagonal
        vals = rng.integers(-3, 4, size=n).astype(float)
        B = sp.random_array((n, n), density=0.1, rng=rng)
        S = sp.diags_array(vals) + 0.0 * (B + B.T)  # explicit zeros stored off the diagonal
    elif kind == "clustered":
        vals = 1.0 + 1e-6 * rng.standard_normal(n)
        vals[: n // 2] = rng.standard_normal(n // 2)
        Q = np.linalg.qr(rng.standard_normal((n, n)))[0]
        S = sp.csr_array(np.where(np.abs(Q * vals @ Q.T) > 1e-14, Q * vals @ Q.T, 0.0))
    elif kind == "dense_row":
        D = np.zeros((n, n))
        D[0, :] = rng.standard_normal(n)
        D[:, 0] = D[0, :]
        S = sp.csr_array(D)
    else:
        vals = rng.standard_normal(n)
        vals[rng.random(n) < 0.3] = 0.0  # empty rows
        S = sp.diags_array(vals)
    S = sp.csr_array(S)
    D = S.toarray()
    D = (D + D.T) / 2
    S = sp.csr_array(D) if kind != "repeated" else sp.csr_array(S)
    if draw(st.booleans()) and S.nnz:  # a duplicate entry pair, symmetric
        C = S.tocoo()
        S = sp.csr_array(sp.coo_array((np.concatenate([C.data * 0.5, C.data * 0.5]),
                                       (np.concatenate([C.row, C.row]),
                                        np.concatenate([C.col, C.col]))), shape=S.shape))
    return S, S.toarray()


@given(problem=symmetric_problems(), which=st.sampled_from(WHICH), data=st.data(),
       index_dtype=st.sampled_from(["int32", "int64"]), fmt=st.sampled_from(["csr", "csc"]))
def test_lanczos_against_eigh(problem, which, data, index_dtype, fmt):
    S, D = problem
    n = D.shape[0]
    if n < 3 and which == "BE":
        which = "LA"
    kmin = 2 if which == "BE" else 1
    k = data.draw(st.integers(kmin, n - 1))
    ref = np.linalg.eigvalsh(D)
    scale = max(np.abs(ref).max(), 1.0)
    if np.any(np.diff(ref) <= 1e-9 * scale):
        # a repeated eigenvalue: one Krylov sequence holds one vector of its eigenspace,
        # and the others are found only after invariant subspaces (random restarts);
        # with ncv < n SciPy's ARPACK misses copies too. ncv = n spans the space.
        ncv = n
    else:
        ncv = data.draw(st.integers(min(n, 2 * k + 1), n))
    A = spla_of(S, index_dtype, fmt)
    old = _lanczos.DENSE_MAX
    _lanczos.DENSE_MAX = 0
    try:
        w, X = L.eigsh(A, k, which=which, ncv=ncv, maxiter=100 * n, rng=1)
        w2 = L.eigsh(A, k, which=which, ncv=ncv, maxiter=100 * n, rng=1,
                     return_eigenvectors=False)
    except sla.ArpackNoConvergence as err:
        # Allowed where ARPACK fails too, or where a wanted eigenvalue lies within a
        # relative 1e-6 of another: at tol = eps such a cluster converges or not by the
        # rounding of the start (a 15 x 15 "clustered" case at a relative 1.5e-7, seeds
        # 1-7: ARPACK converged for two seeds, spla for two others). Either way, the
        # pairs reported as converged must be eigenpairs.
        if not _in_a_cluster(ref, which, k, 1e-6):
            with pytest.raises(sla.ArpackError):
                sla.eigsh(S, k, which=which, ncv=ncv, maxiter=100 * n, rng=1)
        done = np.asarray(err.eigenvalues)
        if done.size:
            assert np.abs(done[:, None] - ref[None, :]).min(axis=1).max() <= 1e-10 * scale
            check_pairs(D, done, np.asarray(err.eigenvectors).reshape(n, done.size), 1e-9 * scale)
        return
    finally:
        _lanczos.DENSE_MAX = old
    assert np.all(np.diff(w) >= 0)  # ascending with eigenvectors
    compare_sets(w, ref, which, k, 1e-10)
    check_pairs(D, w, X, 1e-9 * max(np.abs(ref).max(), 1.0))
    # without eigenvectors: the same values, least wanted first (ARPACK's dseupd order)
    np.testing.assert_allclose(np.sort(w2), w, atol=1e-10 * max(np.abs(ref).max(), 1.0))
    if which != "BE":
        kk = key(w2, which)
        assert np.all(np.diff(kk) <= 1e-10 * max(np.abs(ref).max(), 1.0))


def laplacian(nx, ny):
    T = lambda m: sp.diags_array([-np.ones(m - 1), 2 * np.ones(m), -np.ones(m - 1)],  # noqa: E731
                                 offsets=[-1, 0, 1])
    return sp.csr_array(sp.kronsum(T(nx), T(ny)))


@pytest.mark.parametrize("which", ["LA", "SA", "LM", "BE"])
@pytest.mark.parametrize("k", [1, 2, 6])
def test_laplacian_against_scipy(which, k):
    if which == "BE" and k == 1:
        k = 3
    S = laplacian(41, 37)  # n = 1517: no repeated eigenvalues at either end
    A = spla.csr_array(S)
    for tol in (0, 1e-8):
        w, X = L.eigsh(A, k, which=which, tol=tol, rng=0)
        ws = sla.eigsh(S, k, which=which, tol=tol, rng=0)[0]
        np.testing.assert_allclose(w, ws, rtol=max(tol, 1e-12) * 10, atol=1e-12)
        check_pairs(S, w, X, 1e-3 if tol else 1e-10)
        # SciPy's order without eigenvectors
        w2 = L.eigsh(A, k, which=which, tol=tol, return_eigenvectors=False, rng=0)
        ws2 = sla.eigsh(S, k, which=which, tol=tol, return_eigenvectors=False, rng=0)
        np.testing.assert_allclose(w2, ws2, rtol=max(tol, 1e-12) * 10, atol=1e-12)


@pytest.mark.parametrize("kernels,rotate", [("numba", "blas"), ("blas", "blas"),
                                            ("fused", "blas"), ("fused", "numba")])
def test_both_kernel_sets_agree_with_scipy(kernels, rotate, monkeypatch):
    monkeypatch.setattr(_lanczos, "KERNELS", kernels)
    monkeypatch.setattr(_lanczos, "ROTATE", rotate)
    monkeypatch.setattr(_lanczos, "PARALLEL_MIN", 500)  # the parallel sweeps at n = 1517
    monkeypatch.setattr(_lanczos, "STEP_PARALLEL_MIN", 500)
    S = laplacian(41, 37)
    w, X = L.eigsh(spla.csr_array(S), 5, which="LA", rng=3)
    np.testing.assert_allclose(w, sla.eigsh(S, 5, which="LA", rng=3)[0], rtol=1e-12)
    check_pairs(S, w, X, 1e-10)


def test_laplacian_eigenvectors_span_scipys():
    """A cluster (two eigenvalues 1e-3 apart): the eigenvectors span SciPy's subspace."""
    S = laplacian(60, 59)
    A = spla.csr_array(S)
    w, X = L.eigsh(A, 4, which="SA", rng=0)
    ws, Xs = sla.eigsh(S, 4, which="SA", rng=0)
    # eigenvalues ~0.01 of a spectrum of width 8: Lanczos with one CGS pass per step is
    # accurate to ~10 eps ||A|| (0.8-2.6e-14 from the exact eigenvalues for every kernel
    # set and seeds 0-2, session 15; ARPACK's two passes 2e-16), not to 1e-12 relative
    np.testing.assert_allclose(w, ws, rtol=1e-12, atol=50 * np.finfo(float).eps * 8.0)
    # projector distance between the two subspaces
    assert np.linalg.norm(X @ X.T @ Xs - Xs) <= 1e-8


def test_matrix_from_tests_data_against_scipy():
    K = sp.csr_array(scipy.io.mmread(DATA / "bcsstk13.mtx.gz"))  # n = 2003, SPD
    A = spla.csr_array(K)
    for which in ("LA", "LM"):  # (its smallest eigenvalues defeat ARPACK too)
        w, X = L.eigsh(A, 6, which=which, tol=1e-10, rng=0)
        ws = sla.eigsh(K, 6, which=which, tol=1e-10, rng=0)[0]
        np.testing.assert_allclose(w, ws, rtol=1e-9)
        res = np.linalg.norm(K @ X - X * w, axis=0)
        assert np.all(res <= 1e-6 * np.abs(w).max())


@pytest.mark.parametrize("fmt", ["csr", "csc", "banded", "nm"])
def test_formats_take_the_lanczos_path(fmt, lanczos_only, monkeypatch):
    S = laplacian(12, 11)
    if fmt == "banded":
        A = spla.banded_array(S)
    elif fmt == "nm":
        # 2 x 2 symmetric blocks on the diagonal: every row holds 2 of 4 (2:4 sparsity)
        rng = np.random.default_rng(2)
        D = np.zeros((132, 132))
        for p in range(0, 132, 2):
            a, b, c = rng.standard_normal(3)
            D[p:p + 2, p:p + 2] = [[a, b], [b, c]]
        A = spla.nm_array(D)
        S = sp.csr_array(D)
        np.testing.assert_array_equal(A.toarray(), D)
    else:
        A = spla.csr_array(S).asformat(fmt)
    calls = []
    real = _lanczos.lanczos_eigsh
    monkeypatch.setattr(_lanczos, "lanczos_eigsh",
                        lambda *a, **kw: calls.append(1) or real(*a, **kw))
    w = L.eigsh(A, 3, which="LA", return_eigenvectors=False, rng=0)
    assert calls
    np.testing.assert_allclose(np.sort(w), np.linalg.eigvalsh(S.toarray())[-3:], rtol=1e-12)


def test_dense_fallback_matches_scipy():
    rng = np.random.default_rng(4)
    R = sp.random_array((50, 50), density=0.2, rng=rng)
    S = sp.csr_array(R + R.T)
    A = spla.csr_array(S)
    for which in ("LA", "SA", "LM", "SM", "BE"):
        w, X = L.eigsh(A, 4, which=which)
        ws = sla.eigsh(S, 4, which=which)[0]
        np.testing.assert_allclose(w, ws, rtol=1e-10, atol=1e-12)
        check_pairs(S.toarray(), w, X, 1e-10)
        w2 = L.eigsh(A, 4, which=which, return_eigenvectors=False)
        ws2 = sla.eigsh(S, 4, which=which, return_eigenvectors=False)
        np.testing.assert_allclose(w2, ws2, rtol=1e-10, atol=1e-12)


def test_smallest_magnitude(lanczos_only):
    vals = np.concatenate([[0.01, -0.02, 0.03], np.linspace(1, 2, 197)])
    S = sp.diags_array(vals).tocsr()
    w = L.eigsh(spla.csr_array(S), 3, which="SM", return_eigenvectors=False, ncv=40, rng=0)
    np.testing.assert_allclose(w, [0.03, -0.02, 0.01], rtol=1e-10)  # least wanted first


def test_v0_and_rng_make_runs_reproducible(lanczos_only):
    S = laplacian(20, 13)
    A = spla.csr_array(S)
    v0 = np.random.default_rng(0).standard_normal(S.shape[0])
    w1, X1 = L.eigsh(A, 3, which="LA", v0=v0, tol=1e-6)
    w2, X2 = L.eigsh(A, 3, which="LA", v0=v0, tol=1e-6)
    np.testing.assert_array_equal(w1, w2)
    np.testing.assert_array_equal(X1, X2)
    w3 = L.eigsh(A, 3, which="LA", rng=7, return_eigenvectors=False)
    w4 = L.eigsh(A, 3, which="LA", rng=7, return_eigenvectors=False)
    np.testing.assert_array_equal(w3, w4)


def test_zero_and_invariant_subspaces(lanczos_only):
    A = spla.csr_array(sp.csr_array((30, 30)))
    w, X = L.eigsh(A, 4, which="LA", rng=0)
    np.testing.assert_array_equal(w, np.zeros(4))
    check_pairs(np.zeros((30, 30)), w, X, 1e-12)
    # v0 in a 2-dimensional invariant subspace: breakdown after two steps
    D = np.diag(np.arange(30.0))
    v0 = np.zeros(30)
    v0[[3, 7]] = 1.0
    w, X = L.eigsh(spla.csr_array(D), 3, which="LA", v0=v0, ncv=10)
    np.testing.assert_allclose(w, [27.0, 28.0, 29.0], rtol=1e-12)


def test_no_convergence_raises_with_converged_pairs(lanczos_only):
    S = laplacian(30, 29)
    A = spla.csr_array(S)
    with pytest.raises(sla.ArpackNoConvergence) as info:
        L.eigsh(A, 6, which="LA", maxiter=1, rng=0)
    err = info.value
    assert "No convergence" in str(err)
    assert err.eigenvectors.shape == (S.shape[0], len(err.eigenvalues))
    if len(err.eigenvalues):
        check_pairs(S, err.eigenvalues, err.eigenvectors, 1e-8)
    with pytest.raises(sla.ArpackNoConvergence):
        sla.eigsh(S, 6, which="LA", maxiter=1, rng=0)


def test_errors_are_scipys():
    S = laplacian(12, 12)
    A = spla.csr_array(S)
    cases = [dict(k=0), dict(k=-1), dict(k=144), dict(k=200), dict(k=3, which="XX"),
             dict(k=3, which="LR"), dict(k=3, ncv=3), dict(k=3, ncv=2), dict(k=3, maxiter=0),
             dict(k=1, which="BE"), dict(k=2, v0=np.zeros(144))]
    for kw in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            with pytest.raises(Exception) as expected:
                sla.eigsh(S, **kw)
            with pytest.raises(expected.type) as ours:
                L.eigsh(A, **kw)
        assert str(ours.value) == str(expected.value), kw
    with pytest.raises(ValueError, match="v0"):
        L.eigsh(A, 2, v0=np.ones(5))
    with pytest.warns(RuntimeWarning, match="k >= N"):
        with pytest.raises(TypeError):
            L.eigsh(A, 144)


def test_other_dtypes_and_modes_stay_on_scipy(monkeypatch):
    monkeypatch.setattr(_lanczos, "lanczos_eigsh", None)  # would fail if called
    S = laplacian(15, 14)
    ref = np.linalg.eigvalsh(S.toarray())
    # float32 ARPACK (tol: float32's eps) from a fixed start: from random starts the Ritz
    # values were 8e-7 off (median) and up to 3.4e-6 in 5,000 runs, close to this rtol
    w = L.eigsh(spla.csr_array(S.astype(np.float32)), 3, which="LA", rng=0,
                return_eigenvectors=False)
    np.testing.assert_allclose(np.sort(w), ref[-3:], rtol=1e-5)
    w = L.eigsh(spla.csr_array(S.astype(np.complex128)), 3, which="LA",
                return_eigenvectors=False)
    np.testing.assert_allclose(np.sort(w), ref[-3:], rtol=1e-10)
    A = spla.csr_array(S)
    w = L.eigsh(A, 3, sigma=0.0, return_eigenvectors=False)
    np.testing.assert_allclose(np.sort(w), ref[:3], rtol=1e-10)
    w = L.eigsh(A, 3, M=spla.csr_array(sp.eye_array(S.shape[0]).tocsr()), which="LA",
                return_eigenvectors=False)
    np.testing.assert_allclose(np.sort(w), ref[-3:], rtol=1e-10)
    w = L.eigsh(S, 3, which="LA", return_eigenvectors=False)  # SciPy's matrix
    np.testing.assert_allclose(np.sort(w), ref[-3:], rtol=1e-10)


# -- kernels against NumPy ------------------------------------------------------------------


def blas_kernels():
    sub_dots, dots, sub_norm, scale, rotate, ritz_vectors = _lanczos._blas_kernels()
    return (lanczos.LANCZOS_SERIAL[0], sub_dots, dots, sub_norm, scale, rotate, ritz_vectors)


@pytest.mark.parametrize("kernels", [lanczos.LANCZOS_PARALLEL, lanczos.LANCZOS_SERIAL,
                                     blas_kernels()])
@pytest.mark.parametrize("n", [1, 7, krylov.CHUNK + 5])
def test_kernels_against_numpy(kernels, n):
    local_step, sub_dots, dots, sub_norm, scale, rotate, ritz_vectors = kernels
    rng = np.random.default_rng(n)
    chunks = krylov.nchunks(n)
    for m in (0, 1, 5, 8):  # 4-row sweeps with and without a remainder
        V = rng.standard_normal((max(m, 3) + 1, n))
        y = rng.standard_normal(n)
        w = np.empty(n)
        part1 = np.zeros(chunks)
        local_step(w, y, V[1], 0.7, V[2], part1)
        np.testing.assert_allclose(w, y - 0.7 * V[1], rtol=1e-15)
        np.testing.assert_allclose(part1.sum(), V[2] @ w, rtol=1e-12)
        part = np.zeros((chunks, m + 2))
        w0 = w.copy()
        sub_dots(V, m, w, V[2], 0.3, part)
        np.testing.assert_allclose(w, w0 - 0.3 * V[2], rtol=1e-14, atol=1e-14)
        sums = part[:, :m + 1].sum(axis=0)
        np.testing.assert_allclose(sums[:m], V[:m] @ w, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(sums[m], w @ w, rtol=1e-12)
        part[:] = np.nan
        dots(V, m, w, part)
        sums = part[:, :m + 1].sum(axis=0)
        np.testing.assert_allclose(sums[:m], V[:m] @ w, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(sums[m], w @ w, rtol=1e-12)
        h = rng.standard_normal(m)
        w0 = w.copy()
        sub_norm(V, m, w, h, part1)
        np.testing.assert_allclose(w, w0 - h @ V[:m], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(part1.sum(), w @ w, rtol=1e-12)
        w0 = w.copy()
        scale(w, 0.25)
        np.testing.assert_array_equal(w, w0 * 0.25)
        for q in (1, min(m, 3)):
            if m == 0:
                break
            Y = rng.standard_normal((m, q))
            X = np.full((q, n), np.nan)
            ritz_vectors(V, m, Y, X)
            np.testing.assert_allclose(X, Y.T @ V[:m], rtol=1e-12, atol=1e-12)
            Vr = V.copy()
            rotate(Vr, m, Y, q)
            np.testing.assert_allclose(Vr[:q], Y.T @ V[:m], rtol=1e-12, atol=1e-12)
            np.testing.assert_array_equal(Vr[q:], V[q:])


def ref_pass(V, m, w):
    """One classical Gram-Schmidt pass in NumPy: ``(h, |w|^2 before, after, w)``."""
    h = V[:m] @ w
    before = w @ w
    w = w - h @ V[:m]
    return h, before, w @ w, w


def ref_step(V, j, y, beta, first, dgks2):
    """NumPy's Lanczos step (``lanczos.step``): ``(alpha, before, after, V[j + 1], passes)``."""
    w = y.copy()
    alpha = 0.0
    if not first:
        if j > 0:
            w = w - beta * V[j - 1]
        alpha = V[j] @ w
        w = w - alpha * V[j]
    h, before, after, w = ref_pass(V, j + 1, w)
    alpha += h[j]
    passes = 1
    if after < dgks2 * before:
        h, before, after, w = ref_pass(V, j + 1, w)
        alpha += h[j]
        passes = 2
    if after > dgks2 * before and after > 0:
        w = w / np.sqrt(after)
    return alpha, before, after, w, passes


SC = lanczos.STEP_CHUNK
STEP_N = [1, 2, 3, 5, 17, SC - 1, SC, SC + 1, 3 * SC + 7]


@pytest.mark.parametrize("kernels", [lanczos.STEP_PARALLEL, lanczos.STEP_SERIAL],
                         ids=["parallel", "serial"])
@given(n=st.sampled_from(STEP_N), m=st.integers(0, 9), seed=st.integers(0, 2**32 - 1),
       zeros=st.booleans())
def test_cgs_passes_against_numpy(kernels, n, m, seed, zeros):
    cgs_dots, cgs_sub_norm, cgs_pass = kernels[:3]
    rng = np.random.default_rng(seed)
    chunks = lanczos.step_chunks(n)
    V = rng.standard_normal((m + 1, n))
    w = rng.standard_normal(n)
    if zeros:  # all-zero rows and a zero w: exact zeros, no NaN
        V[::2] = 0.0
        w[:] = 0.0
    part = np.full((chunks, m + 2), np.nan)
    cgs_dots(V, m, w, part)
    sums = part[:, :m + 1].sum(axis=0)
    # rounding bound of a dot product: a small multiple of eps * sum |v_i w_i|
    assert np.all(np.abs(sums[:m] - V[:m] @ w) <= 1e-13 * (np.abs(V[:m]) @ np.abs(w)))
    np.testing.assert_allclose(sums[m], w @ w, rtol=1e-13)
    h = rng.standard_normal(m)
    rpart = np.full(chunks, np.nan)
    w1 = w.copy()
    cgs_sub_norm(V, m, w1, h, rpart)
    np.testing.assert_allclose(w1, w - h @ V[:m], rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(rpart.sum(), w1 @ w1, rtol=1e-13)
    # the pass with w -= alpha v first (alpha = 0: no update)
    for alpha in (0.0, 0.375):
        w2 = w.copy()
        hk = np.full(m + 2, np.nan)
        before, after = cgs_pass(V, m, w2, hk, part, rpart, V[m], alpha)
        h_ref, b_ref, a_ref, w_ref = ref_pass(V, m, w - alpha * V[m])
        # rounding bounds, entrywise (V is not orthonormal here, so entries cancel to far
        # below the terms that made them, where a relative test fails): the dots h, then
        # w - h V, whose error also carries h's error times |V|
        w_alpha = np.abs(w) + alpha * np.abs(V[m])
        h_bound = 1e-13 * (np.abs(V[:m]) @ w_alpha)
        assert np.all(np.abs(hk[:m] - h_ref) <= h_bound)
        np.testing.assert_allclose([before, after], [b_ref, a_ref], rtol=1e-12, atol=1e-12)
        w_bound = 1e-13 * (w_alpha + np.abs(h_ref) @ np.abs(V[:m])) + h_bound @ np.abs(V[:m])
        assert np.all(np.abs(w2 - w_ref) <= w_bound)


@pytest.mark.parametrize("kernels", [lanczos.STEP_PARALLEL, lanczos.STEP_SERIAL],
                         ids=["parallel", "serial"])
@given(n=st.sampled_from([n for n in STEP_N if n >= 12]), j=st.integers(0, 10),
       seed=st.integers(0, 2**32 - 1), first=st.booleans(),
       kind=st.sampled_from(["random", "in_span", "zero"]))
def test_lanczos_step_against_numpy(kernels, n, j, seed, first, kind):
    """The fused step against NumPy's, on an orthonormal basis: a random product, one in
    the span of the basis up to 1e-7 (the DGKS repeat), a zero product (breakdown)."""
    step = kernels[3]
    rng = np.random.default_rng(seed)
    m = j + 1
    Q = np.linalg.qr(rng.standard_normal((n, m + 1)))[0].T  # orthonormal rows
    V = np.zeros((m + 2, n))
    V[:m] = Q[:m]
    if kind == "random":
        y = rng.standard_normal(n)
    elif kind == "in_span":
        y = rng.standard_normal(m) @ V[:m] + 1e-5 * Q[m]
    else:
        y = np.zeros(n)
        first = True  # w = y = 0 (otherwise w = -beta v_{j-1}, in the span)
    beta = 0.625
    dgks2 = _lanczos.DGKS ** 2
    alpha_r, before_r, after_r, w_r, passes = ref_step(V, j, y, beta, first, dgks2)
    if kind == "in_span" and (first or j > 0):
        assert passes == 2
    chunks = lanczos.step_chunks(n)
    part = np.full((chunks, m + 3), np.nan)
    rpart = np.full(chunks, np.nan)
    h = np.full(m + 3, np.nan)
    V0 = V.copy()
    alpha, before, after = step(V, j, y, beta, first, dgks2, h, part, rpart)
    np.testing.assert_array_equal(V[:m], V0[:m])  # only V[j + 1] = V[m] is written
    np.testing.assert_array_equal(V[m + 1:], V0[m + 1:])
    np.testing.assert_allclose(alpha, alpha_r, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose([before, after], [before_r, after_r], rtol=1e-9, atol=1e-26)
    np.testing.assert_allclose(V[m], w_r, rtol=1e-9, atol=1e-9)
    if kind == "zero":
        assert before == after == alpha == 0.0
        np.testing.assert_array_equal(V[m], 0.0)
    elif after > dgks2 * before:  # normalised and orthogonal to the basis
        np.testing.assert_allclose(V[m] @ V[m], 1.0, rtol=1e-13)
        assert np.abs(V[:m] @ V[m]).max() <= 1e-12


def test_lanczos_step_propagates_nan():
    n = 40
    V = np.zeros((4, n))
    V[0, 0] = V[1, 1] = 1.0
    y = np.ones(n)
    y[5] = np.nan
    chunks = lanczos.step_chunks(n)
    for kernels in (lanczos.STEP_PARALLEL, lanczos.STEP_SERIAL):
        alpha, before, after = kernels[3](V.copy(), 1, y, 0.5, False, 0.5, np.zeros(4),
                                          np.zeros((chunks, 4)), np.zeros(chunks))
        assert np.isnan(before) and np.isnan(after)


def test_profile_counts_products_and_restarts(monkeypatch):
    S = laplacian(30, 31)
    calls = []
    A = spla.csr_array(S)
    prof = {}
    monkeypatch.setattr(_lanczos, "PROFILE", prof)
    w = _lanczos.lanczos_eigsh(lambda x: calls.append(1) or A @ x, S.shape[0], 4, which="LA",
                               tol=1e-8, rng=0, return_eigenvectors=False)
    np.testing.assert_allclose(np.sort(w), np.sort(sla.eigsh(S, 4, which="LA", rng=0,
                                                             return_eigenvectors=False)),
                               rtol=1e-8)
    assert prof["products"] == len(calls) > 20
    assert prof["restarts"] >= 1
    assert all(prof[key] > 0 for key in ("product", "step", "eigh", "restart"))


# -- svds over the same Lanczos ------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("shape", [(400, 250), (250, 400), (60, 50)])
def test_svds_against_scipy(shape, fmt):
    S = sp.random_array(shape, density=0.05, rng=np.random.default_rng(1)).tocsr()
    S = sp.csr_array(S + sp.eye_array(*shape))
    A = spla.csr_array(S).asformat(fmt)
    sref = np.linalg.svd(S.toarray(), compute_uv=False)
    for which in ("LM", "SM"):
        u, s, vh = L.svds(A, 5, which=which, rng=0)
        ss = sla.svds(S, 5, which=which, rng=0)[1]
        np.testing.assert_allclose(s, ss, rtol=1e-8)
        exp = np.sort(sref[:5] if which == "LM" else sref[-5:])
        np.testing.assert_allclose(s, exp, rtol=1e-8)  # ascending, as SciPy's
        assert u.shape == (shape[0], 5) and vh.shape == (5, shape[1])
        np.testing.assert_allclose(S @ vh.T, u * s, atol=1e-8 * sref[0])
        np.testing.assert_allclose(u.T @ u, np.eye(5), atol=1e-8)
        np.testing.assert_allclose(vh @ vh.T, np.eye(5), atol=1e-8)
    s2 = L.svds(A, 5, return_singular_vectors=False, rng=0)
    np.testing.assert_allclose(s2, np.sort(sref[:5]), rtol=1e-8)
    u, s, vh = L.svds(A, 5, return_singular_vectors="u", rng=0)
    assert vh is None and u.shape == (shape[0], 5)
    u, s, vh = L.svds(A, 5, return_singular_vectors="vh", rng=0)
    assert u is None and vh.shape == (5, shape[1])


def test_svds_takes_the_lanczos_path_and_scipys_errors(monkeypatch):
    S = sp.csr_array(sp.random_array((300, 200), density=0.05, rng=np.random.default_rng(2)))
    A = spla.csr_array(S)
    calls = []
    real = _lanczos.lanczos_eigsh
    monkeypatch.setattr(_lanczos, "lanczos_eigsh",
                        lambda *a, **kw: calls.append(kw["tol"]) or real(*a, **kw))
    L.svds(A, 3, tol=1e-4, return_singular_vectors=False, rng=0)
    assert calls == [1e-8]  # SciPy's tol ** 2 on the eigenvalues of A^T A
    for kw in (dict(k=0), dict(k=200), dict(k=2.5), dict(k=3, which="LA"),
               dict(k=3, ncv=2), dict(k=3, tol=-1.0), dict(k=3, v0=np.ones(5)),
               dict(k=3, maxiter=0), dict(k=3, return_singular_vectors="x")):
        with pytest.raises(ValueError) as expected:
            sla.svds(S, **kw)
        with pytest.raises(ValueError) as ours:
            L.svds(A, **kw)
        assert str(ours.value) == str(expected.value), kw
    # other solvers and dtypes stay SciPy's
    calls.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # LOBPCG's accuracy notes
        L.svds(A, 3, solver="lobpcg", return_singular_vectors=False, rng=0)
    L.svds(spla.csr_array(S.astype(np.float32)), 3, return_singular_vectors=False, rng=0)
    assert calls == []


def test_docstring_examples():
    import doctest

    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    found = 0
    for f in (L.eigsh, L.svds):
        for test in doctest.DocTestFinder().find(f, f.__name__, module=False, globs={}):
            found += len(test.examples)
            runner.run(test)
    assert found >= 4 and runner.failures == 0


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("n", [1, 5, _lanczos.ROTATE_CHUNK, 2 * _lanczos.ROTATE_CHUNK + 3])
def test_rotate_blas_against_numpy(dtype, n):
    """The blocked in-place rotation ``V[:q] = Y^T V[:m]`` (eigsh's and eigs's restarts)
    against NumPy, its buffer reused across calls of growing and shrinking ``q``."""
    from scipy.linalg import blas

    gemm = blas.get_blas_funcs("gemm", dtype=np.dtype(dtype))
    rng = np.random.default_rng(n)
    buf = []
    for m, q in ((6, 2), (9, 9), (9, 4), (1, 1)):
        V = rng.standard_normal((m + 2, n)).astype(dtype)
        Y = rng.standard_normal((m + 1, q + 1)).astype(dtype)  # the leading block is used
        if np.dtype(dtype).kind == "c":
            V += 1j * rng.standard_normal(V.shape)
            Y += 1j * rng.standard_normal(Y.shape)
        V0 = V.copy()
        _lanczos.rotate_blas(gemm, V, m, Y, q, buf)
        np.testing.assert_allclose(V[:q], Y[:m, :q].T @ V0[:m], rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(V[q:], V0[q:])
