"""spla.linalg.gmres (spla's own loop for CPU spla arrays) against scipy.sparse.linalg.gmres:
the same iterations, callbacks, info and solution on the same problems; the fused
Gram-Schmidt kernels against NumPy; errors and the paths that still go to SciPy."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla
from _util import scaled_examples
from hypothesis import given
from hypothesis import strategies as st

import spla
import spla.linalg as L
from spla._kernels import krylov
from spla.linalg import _gmres

DTYPES = ["float32", "float64", "complex64", "complex128"]


def single(dtype):
    return np.dtype(dtype).char in "fF"


def system(n, dtype, seed, density=0.15, empty_offdiag_rows=0, duplicates=False):
    """A diagonally dominant unsymmetric matrix (SciPy CSR) and a right-hand side."""
    rng = np.random.default_rng(seed)
    R = sp.random_array((n, n), density=density, rng=rng, format="coo")
    vals = R.data - 0.5
    if np.dtype(dtype).kind == "c":
        vals = vals + 1j * (rng.random(vals.size) - 0.5)
    rows, cols = R.row.copy(), R.col.copy()
    if empty_offdiag_rows:
        keep = rows >= min(empty_offdiag_rows, n)  # the first rows hold their diagonal only
        rows, cols, vals = rows[keep], cols[keep], vals[keep]
    d = np.arange(n)
    rows = np.concatenate([rows, d])
    cols = np.concatenate([cols, d])
    vals = np.concatenate([vals, 2.0 + density * n * rng.random(n)])
    if duplicates and n:  # a duplicate and an explicit zero
        rows = np.concatenate([rows, [0, n - 1]])
        cols = np.concatenate([cols, [0, 0]])
        vals = np.concatenate([vals, [0.5, 0.0]])
    S = sp.csr_array(sp.coo_array((vals.astype(dtype), (rows, cols)), shape=(n, n)))
    b = rng.standard_normal(n)
    if np.dtype(dtype).kind == "c":
        b = b + 1j * rng.standard_normal(n)
    return S, b.astype(dtype)


def spla_of(S, index_dtype, fmt="csr"):
    A = spla.csr_array(S)
    if index_dtype == "int64":
        A = spla.csr_array((A.data, A.indices.astype(np.int64), A.indptr.astype(np.int64)),
                           shape=A.shape)
    return A if fmt == "csr" else A.asformat(fmt)


def run_both(A, S, b, **kw):
    """(x, info, callback args) of spla's and SciPy's gmres with the same arguments."""
    out = []
    for fn, mat in ((L.gmres, A), (sla.gmres, S)):
        seen = []
        args = dict(kw)
        if "callback_type" in args:
            args["callback"] = (lambda a, seen=seen: seen.append(np.copy(a)))
        x, info = fn(mat, b, **args)
        out.append((x, info, seen))
    return out


def check_same(ours, theirs, dtype, callback_type=None):
    (x, info, seen), (xs, infos, seens) = ours, theirs
    assert info == infos
    assert len(seen) == len(seens)
    assert x.dtype == xs.dtype and x.shape == xs.shape
    r = 2e-3 if single(dtype) else 1e-8
    scale = max(np.abs(xs).max(initial=0.0), 1.0)
    np.testing.assert_allclose(x, xs, rtol=r, atol=r * scale)
    if callback_type in ("pr_norm", "legacy"):
        np.testing.assert_allclose(np.array(seen, dtype=float), np.array(seens, dtype=float),
                                   rtol=50 * r, atol=r * 1e-2)
    elif callback_type == "x":
        for a, c in zip(seen, seens):
            np.testing.assert_allclose(a, c, rtol=r, atol=r * scale)


@scaled_examples(0.3)
@given(n=st.integers(1, 60), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16),
       restart=st.sampled_from([None, 1, 2, 5, 30, 100]),
       maxiter=st.sampled_from([None, 1, 3, 50]),
       x0=st.sampled_from([None, "random", "Mb"]), precond=st.sampled_from([None, "spla",
                                                                              "operator"]),
       callback_type=st.sampled_from([None, "pr_norm", "x", "legacy"]),
       index_dtype=st.sampled_from(["int32", "int64"]), fmt=st.sampled_from(["csr", "csc"]),
       empty=st.integers(0, 3), duplicates=st.booleans(), strided=st.booleans())
def test_gmres_same_iterations_as_scipy(n, dtype, seed, restart, maxiter, x0, precond,
                                        callback_type, index_dtype, fmt, empty, duplicates,
                                        strided):
    S, b = system(n, dtype, seed, empty_offdiag_rows=empty, duplicates=duplicates)
    A = spla_of(S, index_dtype, fmt)
    if strided:  # a non-contiguous right-hand side
        b = np.repeat(b, 2)[::2]
    kw = dict(rtol=1e-3 if single(dtype) else 1e-9, restart=restart, maxiter=maxiter)
    if precond is not None:  # Jacobi
        Dinv = sp.diags_array(1.0 / S.diagonal()).astype(dtype)
        kw["M"] = spla.csr_array(sp.csr_array(Dinv)) if precond == "spla" else \
            sla.aslinearoperator(sp.csr_array(Dinv))
    if x0 == "random":
        kw["x0"] = np.random.default_rng(seed + 1).standard_normal(n).astype(dtype)
    elif x0 == "Mb":
        kw["x0"] = "Mb"
    if callback_type is not None:
        kw["callback_type"] = callback_type
    # SciPy gets the same arguments (an spla M through SciPy's operator protocol)
    check_same(*run_both(A, S, b, **kw), dtype, callback_type)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ortho", ["cgs2", "dgks", "mgs", "mgs2", "mgs2f"])
def test_gmres_both_gram_schmidt_variants(dtype, ortho, monkeypatch):
    monkeypatch.setattr(_gmres, "ORTHOGONALIZATION", ortho)
    S, b = system(300, dtype, 7, density=0.03)
    A = spla.csr_array(S)
    kw = dict(rtol=1e-4 if single(dtype) else 1e-11, restart=10, callback_type="pr_norm")
    check_same(*run_both(A, S, b, **kw), dtype, "pr_norm")


@pytest.mark.parametrize("dtype", ["float64", "complex128"])
def test_gmres_parallel_kernels_several_chunks(dtype):
    """n = 40,000: three reduction chunks, Gram-Schmidt on Numba's threads."""
    n = 40_000
    assert n * 3 >= _gmres.PARALLEL_MIN and n > 2 * krylov.CHUNK
    S, b = system(n, dtype, 3, density=4 / n)
    A = spla.csr_array(S)
    kw = dict(rtol=1e-10, restart=15, callback_type="pr_norm")
    check_same(*run_both(A, S, b, **kw), dtype, "pr_norm")


def test_gmres_ill_conditioned_matches_scipy_counts():
    """A 1-D convection-diffusion matrix that needs restarts: the same restart count."""
    n = 400
    A1 = sp.diags_array([-1.3, 2.0, -0.7], offsets=[-1, 0, 1], shape=(n, n), format="csr")
    b = np.ones(n)
    for restart in (5, 20):
        check_same(*run_both(spla.csr_array(A1), A1, b, rtol=1e-8, restart=restart,
                             maxiter=200, callback_type="x"), "float64", "x")


def test_gmres_breakdown_and_trivial_cases():
    # three distinct eigenvalues: the Krylov space is exhausted after 3 steps (breakdown)
    d = np.tile([1.0, 2.0, 3.0], 10)
    S = sp.csr_array(sp.diags_array(d))
    A = spla.csr_array(S)
    b = np.arange(1.0, 31.0)
    check_same(*run_both(A, S, b, rtol=1e-12, restart=20, callback_type="pr_norm"),
               "float64", "pr_norm")
    # b = 0 returns b; x0 already the solution returns at once
    x, info = L.gmres(A, np.zeros(30))
    assert info == 0 and not x.any()
    x, info = L.gmres(A, b, x0=b / d)
    assert info == 0
    np.testing.assert_array_equal(x, b / d)
    # integer b is solved in float64; b of shape (n, 1) gives x of shape (n,)
    x, info = L.gmres(A, np.arange(30).reshape(30, 1), rtol=1e-12)
    assert info == 0 and x.shape == (30,) and x.dtype == np.float64
    # float32 matrix, float64 b: float64 (SciPy's coercion)
    x, _ = L.gmres(spla.csr_array(S.astype(np.float32)), b)
    assert x.dtype == sla.gmres(S.astype(np.float32), b)[0].dtype == np.float64
    # legacy callback: maxiter counts inner iterations, with SciPy's DeprecationWarning
    U, bu = system(50, "float64", 5)
    counts = []
    for fn, mat in ((L.gmres, spla.csr_array(U)), (sla.gmres, U)):
        seen = []
        with pytest.warns(DeprecationWarning, match="callback_type"):
            x, info = fn(mat, bu, rtol=1e-14, restart=4, maxiter=7, callback=seen.append)
        counts.append((len(seen), info))
    assert counts[0] == counts[1] == (7, 7)


def test_gmres_bad_input():
    S, b = system(10, "float64", 0)
    A = spla.csr_array(S)
    with pytest.raises(ValueError, match="callback_type"):
        L.gmres(A, b, callback=print, callback_type="y")
    with pytest.raises(ValueError, match="atol"):
        L.gmres(A, b, atol=-1.0)
    with pytest.raises(ValueError, match="restart"):
        L.gmres(A, b, restart=0)
    with pytest.raises(ValueError, match="maxiter"):
        L.gmres(A, b, maxiter=0)
    with pytest.raises(TypeError, match="restart"):
        L.gmres(A, b, restart=2.5)
    with pytest.raises(TypeError, match="callback"):
        L.gmres(A, b, callback=3, callback_type="x")
    with pytest.raises(ValueError):
        L.gmres(A, np.ones(9))
    with pytest.raises(ValueError):
        L.gmres(A, b, x0=np.ones(9))
    with pytest.raises(ValueError):
        L.gmres(A, b, M=spla.csr_array(sp.eye_array(9)))
    with pytest.raises(ValueError, match="square"):
        L.gmres(spla.csr_array(np.ones((2, 3))), np.ones(2))


def test_gmres_other_inputs_go_to_scipy():
    S, b = system(30, "float64", 4)
    for A in (S, sla.aslinearoperator(S), S.toarray()):
        x, info = L.gmres(A, b, rtol=1e-10)
        xs, infos = sla.gmres(S, b, rtol=1e-10)
        assert info == infos == 0
        np.testing.assert_allclose(x, xs, rtol=1e-12, atol=1e-14)


# -- the kernels ------------------------------------------------------------------------


@scaled_examples(0.3)
@given(n=st.sampled_from([0, 1, 7, 1025, krylov.CHUNK + 3, 3 * krylov.CHUNK]),
       m=st.integers(0, 5), dtype=st.sampled_from(DTYPES), parallel=st.booleans(),
       seed=st.integers(0, 1000))
def test_gram_schmidt_kernels_match_numpy(n, m, dtype, parallel, seed):
    rng = np.random.default_rng(seed)
    gs_dots, gs_sub_dots, gs_sub_norm, scale, combine, mgs_column = (
        krylov.GS_PARALLEL if parallel else krylov.GS_SERIAL)
    V = rng.standard_normal((m + 2, n))
    w = rng.standard_normal(n)
    h = rng.standard_normal(m + 1)
    if np.dtype(dtype).kind == "c":
        V = V + 1j * rng.standard_normal((m + 2, n))
        w = w + 1j * rng.standard_normal(n)
        h = h + 1j * rng.standard_normal(m + 1)
    V, w, h = V.astype(dtype), w.astype(dtype), h.astype(dtype)
    Vr, wr, hr = V.astype(np.complex128), w.astype(np.complex128), h.astype(np.complex128)
    r = 1e-4 if single(dtype) else 1e-12
    tol = r * (np.sqrt(max(n, 1)) + 1) * (m + 1) * 4
    chunks = krylov.nchunks(n)
    part = np.zeros((chunks, m + 2), dtype=dtype)
    rpart = np.zeros(chunks, dtype=np.finfo(np.dtype(dtype)).dtype)

    gs_dots(V, m, w, part)
    sums = part[:, :m + 1].sum(axis=0)
    np.testing.assert_allclose(sums[:m], Vr[:m].conj() @ wr, rtol=tol, atol=tol)
    np.testing.assert_allclose(sums[m].real, np.vdot(wr, wr).real, rtol=tol)

    w1 = w.copy()
    gs_sub_dots(V, m, w1, h[:m].copy(), part)
    ref = wr - Vr[:m].T @ hr[:m]
    np.testing.assert_allclose(w1, ref, rtol=tol, atol=tol * 10)
    np.testing.assert_allclose(part[:, :m].sum(axis=0), Vr[:m].conj() @ ref,
                               rtol=tol, atol=tol * 10 * max(n, 1))

    w2 = w.copy()
    gs_sub_norm(V, m, w2, h[:m].copy(), rpart)
    np.testing.assert_allclose(w2, ref, rtol=tol, atol=tol * 10)
    np.testing.assert_allclose(rpart.sum(), np.vdot(ref, ref).real, rtol=tol * 10)

    w3 = w.copy()  # modified Gram-Schmidt, against NumPy's loop in complex128
    hm = np.zeros(m + 1, dtype=dtype)
    before, after = mgs_column(V, m, w3, hm, part)
    ref3, href = wr.copy(), np.zeros(m, dtype=np.complex128)
    for k in range(m):
        href[k] = np.vdot(Vr[k], ref3)
        ref3 -= href[k] * Vr[k]
    # Norm-wise, as Gram-Schmidt's error is analysed: each subtraction rounds at the
    # size of its terms, and one entry of w can cancel far below them (seen in float32:
    # 4975 against 2799 among entries of 1e7, which no entry-wise bound of useful size
    # covers). A skipped or misplaced row would miss by |h_k| ||V_k||, far above this.
    terms = np.linalg.norm(wr) + sum(abs(href[k]) * np.linalg.norm(Vr[k]) for k in range(m))
    mgs_bound = 8 * np.finfo(np.dtype(dtype)).eps * (np.sqrt(max(n, 1)) + 1) * (m + 1) * terms
    assert np.linalg.norm(w3 - ref3) <= mgs_bound, (np.linalg.norm(w3 - ref3), mgs_bound)
    np.testing.assert_allclose(hm[:m], href, rtol=tol, atol=tol * 10 * max(n, 1))
    np.testing.assert_allclose(before, np.vdot(wr, wr).real, rtol=tol)
    np.testing.assert_allclose(after, np.vdot(ref3, ref3).real, rtol=tol * 10,
                               atol=tol * 10 * max(n, 1))

    mgs2 = krylov.MGS2_PARALLEL if parallel else krylov.MGS2_SERIAL  # two rows per sweep
    w4 = w.copy()
    hm2 = np.zeros(m + 1, dtype=dtype)
    part4 = np.zeros((chunks, 4), dtype=dtype)
    before2, after2 = mgs2(V, m, w4, hm2, part4)
    assert np.linalg.norm(w4 - ref3) <= mgs_bound, (np.linalg.norm(w4 - ref3), mgs_bound)
    np.testing.assert_allclose(hm2[:m], href, rtol=tol, atol=tol * 10 * max(n, 1))
    np.testing.assert_allclose(before2, np.vdot(wr, wr).real, rtol=tol)
    np.testing.assert_allclose(after2, np.vdot(ref3, ref3).real, rtol=tol * 10,
                               atol=tol * 10 * max(n, 1))

    w5 = w.copy()
    scale(w5, np.dtype(dtype).type(0.5))
    np.testing.assert_array_equal(w5, w * np.dtype(dtype).type(0.5))

    x = w.copy()
    combine(V, m, h[:m].copy(), x)
    np.testing.assert_allclose(x, wr + Vr[:m].T @ hr[:m], rtol=tol, atol=tol * 10)


def test_kernels_on_strided_rows_of_the_basis():
    """The driver hands rows of V (contiguous) and V itself; a strided w also works."""
    rng = np.random.default_rng(0)
    V = rng.standard_normal((3, 2 * 1000))
    w = rng.standard_normal(2000)[::2].copy()
    Vs = V[:, ::2]
    part = np.zeros((1, 4))
    krylov.GS_SERIAL[0](Vs, 2, w, part)
    np.testing.assert_allclose(part[0, :2], Vs[:2] @ w, rtol=1e-12)
    krylov.GS_PARALLEL[0](Vs, 2, w, part)
    np.testing.assert_allclose(part[0, :2], Vs[:2] @ w, rtol=1e-12)
