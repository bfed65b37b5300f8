"""spla.linalg.minres (spla's fused loop for float64 CPU spla arrays) against
scipy.sparse.linalg.minres: the same info and iteration counts, the early
iterates to rounding (Lanczos amplifies rounding later), residuals as small;
the fused kernels against NumPy; the paths that still go to SciPy."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla
from _util import scaled_examples
from hypothesis import given
from hypothesis import strategies as st
from test_linalg_gmres import spla_of

import spla
import spla.linalg as L
from spla._kernels import krylov
from spla.linalg import _minres


def symmetric(n, seed, definite=True, density=0.15):
    rng = np.random.default_rng(seed)
    R = sp.random_array((n, n), density=density, rng=rng)
    d = rng.uniform(1.0, 3.0, n) if definite else rng.uniform(-3.0, 3.0, n)
    S = sp.csr_array(R + R.T + sp.diags_array(d + (2 * density * n if definite else 0)))
    return S, rng.standard_normal(n)


def run_both(A, S, b, **kw):
    out = []
    for fn, mat in ((L.minres, A), (sla.minres, S)):
        seen = []
        x, info = fn(mat, b, callback=lambda xk, seen=seen: seen.append(xk.copy()), **kw)
        out.append((x, info, seen))
    return out


def check_close(ours, theirs, S, b, early=8, maxiter=None):
    (x, info, seen), (xs, infos, seens) = ours, theirs
    if info != infos:
        # Converged at the last allowed iteration or not: rounding decides (SciPy's own
        # minres flips between the two when b changes by one ulp).
        assert maxiter is not None and {info, infos} == {0, maxiter}
        assert len(seens) >= maxiter - max(1, maxiter // 10)
    assert x.dtype == xs.dtype == np.float64 and x.shape == xs.shape
    # (past n iterations the stopping step is rounding's: SciPy's own count moves
    # by one for a 1-ulp change of b)
    assert abs(len(seen) - len(seens)) <= max(2, len(seens) // 10)
    scale = max(np.abs(xs).max(initial=0.0), 1.0)
    for a, c in list(zip(seen, seens))[:early]:
        np.testing.assert_allclose(a, c, rtol=1e-8, atol=1e-8 * scale)
    ref = np.linalg.norm(S @ xs - b) if b.size else 0.0
    # Lanczos without reorthogonalisation: SciPy's own final residual moves by up to
    # 200x when b changes by one ulp on the ill-conditioned indefinite systems drawn
    # here, so the bound is relative to the problem's scale, ||A|| ||x|| + ||b||.
    size = sla.norm(S, 1) * np.linalg.norm(x) + np.linalg.norm(b) if b.size else 0.0
    assert np.linalg.norm(S @ x - b) <= 100 * ref + 1e-8 * size + 1e-12


@scaled_examples(0.3)
@given(n=st.integers(1, 60), seed=st.integers(0, 2**16), definite=st.booleans(),
       maxiter=st.sampled_from([None, 1, 3, 40]), x0=st.booleans(),
       shift=st.sampled_from([0.0, 0.5]), precond=st.sampled_from([None, "spla", "operator"]),
       index_dtype=st.sampled_from(["int32", "int64"]), fmt=st.sampled_from(["csr", "csc"]))
def test_minres_against_scipy(n, seed, definite, maxiter, x0, shift, precond, index_dtype,
                              fmt):
    S, b = symmetric(n, seed, definite)
    A = spla_of(S, index_dtype, fmt)
    kw = dict(rtol=1e-10, maxiter=maxiter, shift=shift)
    if precond is not None:
        # Jacobi of |diag| kept away from zero: symmetric positive definite and well
        # conditioned. (With |diag| down to 1e-3 a 1-ulp change of b moves SciPy's own
        # final residual by 20x, which would compare rounding, not the algorithm.)
        Dinv = sp.csr_array(sp.diags_array(1.0 / np.maximum(np.abs(S.diagonal()), 0.5)))
        kw["M"] = spla.csr_array(Dinv) if precond == "spla" else sla.aslinearoperator(Dinv)
    if x0:
        kw["x0"] = np.random.default_rng(seed + 1).standard_normal(n)
    Sh = S - shift * sp.eye_array(n)
    # (with maxiter: stopped there or converged, the same info and as many iterates)
    check_close(*run_both(A, S, b, **kw), Sh, b, maxiter=maxiter)


@pytest.mark.parametrize("precond", [False, True])
def test_minres_parallel_passes(precond):
    n = 60_000
    assert n >= _minres.FUSED_PARALLEL_MIN and n > 2 * krylov.CHUNK
    S, b = symmetric(n, 3, density=4 / n)
    kw = dict(rtol=1e-10)
    if precond:
        kw["M"] = spla.csr_array(sp.diags_array(1.0 / S.diagonal()))
    ours, theirs = run_both(spla.csr_array(S), S, b, **kw)
    check_close(ours, theirs, S, b, early=len(theirs[2]))


def test_minres_exits_errors_and_other_paths():
    S, b = symmetric(20, 1)
    A = spla.csr_array(S)
    x, info = L.minres(A, np.zeros(20))
    assert info == 0 and not x.any()
    # an indefinite "preconditioner": SciPy's ValueError
    with pytest.raises(ValueError, match="indefinite"):
        L.minres(A, b, M=spla.csr_array(-sp.eye_array(20)))
    with pytest.raises(ValueError, match="square"):
        L.minres(spla.csr_array(np.ones((2, 3))), np.ones(2))
    with pytest.raises(ValueError):
        L.minres(A, np.ones(9))
    with pytest.raises(TypeError, match="callback"):
        L.minres(A, b, callback=3)
    # float32, complex, show/check and SciPy inputs run SciPy's loop: SciPy's results
    for mat, rhs, kw in ((spla.csr_array(S.astype(np.float32)), b.astype(np.float32), {}),
                         (A, b, dict(check=True)), (S, b, {}), (A, b + 0j, {})):
        x, info = L.minres(mat, rhs, rtol=1e-8, **kw)
        xs, infos = sla.minres(S.astype(mat.dtype), rhs, rtol=1e-8, **kw)
        assert info == infos and x.dtype == xs.dtype
        np.testing.assert_allclose(x, xs, rtol=1e-5, atol=1e-6)


@scaled_examples(0.3)
@given(n=st.sampled_from([0, 1, 9, krylov.CHUNK + 5]), parallel=st.booleans(),
       seed=st.integers(0, 1000), use_r1=st.booleans())
def test_minres_kernels_match_numpy(n, parallel, seed, use_r1):
    rng = np.random.default_rng(seed)
    lanczos, orth, solution, scaled = (krylov.MINRES_PARALLEL if parallel
                                       else krylov.MINRES_SERIAL)
    y, v, r1, r2, w1, w2, x = (rng.standard_normal(n) for _ in range(7))
    tol = 1e-12 * (np.sqrt(n) + 1) * 4
    part = np.zeros(krylov.nchunks(n))
    y0 = y.copy()
    a = lanczos(y, v, r1, 0.3, 1.7, use_r1, part)
    ref = (y0 - 0.3 * v) - 1.7 * r1 if use_r1 else y0 - 0.3 * v
    np.testing.assert_array_equal(y, ref)
    np.testing.assert_allclose(a, v @ y, rtol=tol, atol=tol * n)
    y0 = y.copy()
    yy = orth(y, r2, -0.8, part)
    np.testing.assert_array_equal(y, y0 - -0.8 * r2)
    np.testing.assert_allclose(yy, y @ y, rtol=tol)
    w10, x0 = w1.copy(), x.copy()
    xx = solution(w1, w2, v, x, 0.2, -0.4, 1.3, 0.9, part)
    wref = ((v - 0.2 * w10) - -0.4 * w2) * 1.3
    np.testing.assert_array_equal(w1, wref)
    np.testing.assert_array_equal(x, x0 + 0.9 * wref)
    np.testing.assert_allclose(xx, x @ x, rtol=tol)
    out = np.empty(n)
    scaled(out, 0.25, y)
    np.testing.assert_array_equal(out, 0.25 * y)
