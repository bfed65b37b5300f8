"""spla.linalg.bicgstab (spla's fused loop for CPU spla arrays) against
scipy.sparse.linalg.bicgstab: the same iterations, callbacks, info and solution;
breakdowns; the fused kernels against NumPy; the paths that still go to SciPy."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla
from _util import scaled_examples
from hypothesis import given
from hypothesis import strategies as st
from test_linalg_gmres import DTYPES, single, spla_of, system

import spla
import spla.linalg as L
from spla._kernels import krylov
from spla.linalg import _bicgstab


def run_both(A, S, b, callback=False, **kw):
    out = []
    for fn, mat in ((L.bicgstab, A), (sla.bicgstab, S)):
        seen = []
        args = dict(kw)
        if callback:
            args["callback"] = lambda xk, seen=seen: seen.append(xk.copy())
        x, info = fn(mat, b, **args)
        out.append((x, info, seen))
    return out


def check_same(ours, theirs, dtype):
    (x, info, seen), (xs, infos, seens) = ours, theirs
    assert info == infos
    assert len(seen) == len(seens)
    assert x.dtype == xs.dtype and x.shape == xs.shape
    r = 2e-3 if single(dtype) else 1e-8
    scale = max(np.abs(xs).max(initial=0.0), 1.0)
    np.testing.assert_allclose(x, xs, rtol=r, atol=r * scale)
    for a, c in zip(seen, seens):
        np.testing.assert_allclose(a, c, rtol=r, atol=r * scale)


@scaled_examples(0.3)
@given(n=st.integers(1, 60), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16),
       maxiter=st.sampled_from([None, 1, 3, 40]), x0=st.sampled_from([None, "random", "Mb"]),
       precond=st.sampled_from([None, "spla", "operator"]), callback=st.booleans(),
       index_dtype=st.sampled_from(["int32", "int64"]), fmt=st.sampled_from(["csr", "csc"]),
       empty=st.integers(0, 3), duplicates=st.booleans(), strided=st.booleans())
def test_bicgstab_same_iterations_as_scipy(n, dtype, seed, maxiter, x0, precond, callback,
                                           index_dtype, fmt, empty, duplicates, strided):
    S, b = system(n, dtype, seed, empty_offdiag_rows=empty, duplicates=duplicates)
    A = spla_of(S, index_dtype, fmt)
    if strided:
        b = np.repeat(b, 2)[::2]
    kw = dict(rtol=1e-3 if single(dtype) else 1e-9, maxiter=maxiter)
    if precond is not None:  # Jacobi
        Dinv = sp.csr_array(sp.diags_array(1.0 / S.diagonal()).astype(dtype))
        kw["M"] = spla.csr_array(Dinv) if precond == "spla" else sla.aslinearoperator(Dinv)
    if x0 == "random":
        kw["x0"] = np.random.default_rng(seed + 1).standard_normal(n).astype(dtype)
    elif x0 == "Mb":
        kw["x0"] = "Mb"
    check_same(*run_both(A, S, b, callback=callback, **kw), dtype)


@pytest.mark.parametrize("dtype", ["float64", "complex128"])
def test_bicgstab_parallel_passes(dtype):
    n = 60_000
    assert n >= _bicgstab.FUSED_PARALLEL_MIN and n > 2 * krylov.CHUNK
    S, b = system(n, dtype, 3, density=4 / n)
    check_same(*run_both(spla.csr_array(S), S, b, callback=True, rtol=1e-10), dtype)


def test_bicgstab_breakdowns_and_early_exits():
    # rtilde . v = 0 on the first step (a rotation): info -11 as in SciPy
    R = sp.csr_array(np.array([[0.0, 1.0], [-1.0, 0.0]]))
    check_same(*run_both(spla.csr_array(R), R, np.array([1.0, 0.0])), "float64")
    # the identity: s = 0 after the first half step, x = alpha p
    E = sp.csr_array(sp.eye_array(5))
    check_same(*run_both(spla.csr_array(E), E, np.arange(1.0, 6.0), callback=True),
               "float64")
    # b = 0 returns b; x0 the solution returns at once
    S, b = system(20, "float64", 2)
    A = spla.csr_array(S)
    x, info = L.bicgstab(A, np.zeros(20))
    assert info == 0 and not x.any()
    xs = sla.spsolve(S.tocsc(), b)
    x, info = L.bicgstab(A, b, x0=xs, rtol=1e-6)
    assert info == 0
    np.testing.assert_array_equal(x, xs)
    # a nonnormal convection-diffusion matrix that needs ~450 iterations: there BiCGSTAB
    # amplifies rounding (a different order of summation in the dots changes the path),
    # so both must stop as converged, as close to b, in about the same number of iterations
    n = 300
    C = sp.csr_array(sp.diags_array([-1.3, 2.0, -0.7], offsets=[-1, 0, 1], shape=(n, n)))
    bc = np.ones(n)
    (x, info, seen), (xs, infos, seens) = run_both(spla.csr_array(C), C, bc, callback=True,
                                                   rtol=1e-10, maxiter=2000)
    assert info == infos == 0
    # (the recursive residual drifts from the true one on this matrix, SciPy's too)
    ref = max(np.linalg.norm(C @ xs - bc), 1e-10 * np.linalg.norm(bc))
    assert np.linalg.norm(C @ x - bc) <= 10 * ref
    assert abs(len(seen) - len(seens)) <= 0.1 * len(seens)
    # a milder one (convection 0.1): the same iterations as SciPy's
    M = sp.csr_array(sp.diags_array([-1.1, 2.5, -0.9], offsets=[-1, 0, 1], shape=(n, n)))
    check_same(*run_both(spla.csr_array(M), M, bc, callback=True, rtol=1e-10), "float64")


def test_bicgstab_bad_input_and_other_inputs():
    S, b = system(10, "float64", 0)
    A = spla.csr_array(S)
    with pytest.raises(ValueError, match="atol"):
        L.bicgstab(A, b, atol=-1.0)
    with pytest.raises(TypeError, match="callback"):
        L.bicgstab(A, b, callback=3)
    with pytest.raises(ValueError):
        L.bicgstab(A, np.ones(9))
    with pytest.raises(ValueError):
        L.bicgstab(A, b, x0=np.ones(9))
    with pytest.raises(ValueError, match="square"):
        L.bicgstab(spla.csr_array(np.ones((2, 3))), np.ones(2))
    for M in (S, sla.aslinearoperator(S), S.toarray()):
        x, info = L.bicgstab(M, b, rtol=1e-10)
        xs, infos = sla.bicgstab(S, b, rtol=1e-10)
        assert info == infos == 0
        np.testing.assert_allclose(x, xs, rtol=1e-12, atol=1e-14)


@scaled_examples(0.3)
@given(n=st.sampled_from([0, 1, 9, krylov.CHUNK + 5]), dtype=st.sampled_from(DTYPES),
       parallel=st.booleans(), seed=st.integers(0, 1000))
def test_bicgstab_kernels_match_numpy(n, dtype, parallel, seed):
    rng = np.random.default_rng(seed)
    residual_s, dots_ts, update, direction = (krylov.BICGSTAB_PARALLEL if parallel
                                              else krylov.BICGSTAB_SERIAL)

    def vec():
        v = rng.standard_normal(n)
        if np.dtype(dtype).kind == "c":
            v = v + 1j * rng.standard_normal(n)
        return v.astype(dtype)

    x, r, v, t, p, q, rt = (vec() for _ in range(7))
    T = np.dtype(dtype).type
    alpha, omega, beta = T(0.7), T(-0.3), T(1.1)
    tol = (1e-4 if single(dtype) else 1e-12) * (np.sqrt(n) + 1) * 4
    chunks = krylov.nchunks(n)
    rpart = np.zeros(chunks, dtype=np.finfo(np.dtype(dtype)).dtype)
    part2 = np.zeros((chunks, 2), dtype=dtype)

    s = np.empty_like(r)
    ss = residual_s(s, r, v, alpha, rpart)
    np.testing.assert_array_equal(s, r - alpha * v)
    np.testing.assert_allclose(ss, np.vdot(s, s).real, rtol=tol)
    ts, tt = dots_ts(t, s, part2)
    np.testing.assert_allclose(ts, np.vdot(t, s), rtol=tol, atol=tol * n)
    np.testing.assert_allclose(np.real(tt), np.vdot(t, t).real, rtol=tol)
    x0, r0 = x.copy(), r.copy()
    rr, rho = update(x, r, s, t, p, q, rt, alpha, omega, part2)
    np.testing.assert_array_equal(x, (x0 + alpha * p) + omega * q)
    np.testing.assert_array_equal(r, s - omega * t)
    assert not np.array_equal(r, r0) or n == 0
    np.testing.assert_allclose(rr, np.vdot(r, r).real, rtol=tol)
    np.testing.assert_allclose(rho, np.vdot(rt, r), rtol=tol, atol=tol * n)
    p0 = p.copy()
    direction(p, r, v, omega, beta)
    np.testing.assert_array_equal(p, (p0 - omega * v) * beta + r)
