"""spla.linalg.eigs (spla's Krylov-Schur for float64 and complex128 CPU spla arrays) against
numpy.linalg.eig and scipy.sparse.linalg.eigs: the wanted eigenvalues (compared through
their sort key, so that ties such as conjugate pairs may go either way), residuals
``|A x - w x|`` of unit eigenvectors, SciPy's errors and ArpackNoConvergence, and the paths
that stay SciPy's."""

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
from spla.linalg import _arnoldi, _eigen

DATA = Path(__file__).parent / "data"
WHICH = ["LM", "SM", "LR", "SR", "LI", "SI"]


@pytest.fixture
def arnoldi_only(monkeypatch):
    """Small problems run Krylov-Schur instead of the dense fallback."""
    monkeypatch.setattr(_arnoldi, "DENSE_MAX", 0)


def spla_of(S, index_dtype="int32", fmt="csr"):
    S = sp.csr_array(S)
    A = spla.csr_array((S.data, S.indices.astype(index_dtype), S.indptr.astype(index_dtype)),
                       shape=S.shape)
    return A if fmt == "csr" else A.asformat(fmt)


def key(w, which, complex_=False):
    """The quantity ``which`` ranks by, larger first (``LM``: ``|w|``, ``SR``: ``-re w``...;
    ``LI``/``SI``: ``|imag|`` for a real matrix, the signed imaginary part for a complex one,
    as ARPACK's ``dneupd`` and ``zneupd``)."""
    im = w.imag if complex_ else np.abs(w.imag)
    return {"LM": np.abs(w), "SM": -np.abs(w), "LR": w.real, "SR": -w.real,
            "LI": im, "SI": -im}[which]


def check_keys(w, ref, which, atol, complex_=False):
    """The ranking quantities of ``w`` are the ``k`` largest of ``ref``'s (ties between
    eigenvalues of equal key, such as a conjugate pair split at ``k``, may go either way)."""
    k = len(w)
    exp = np.sort(key(ref, which, complex_))[::-1][:k]
    np.testing.assert_allclose(np.sort(key(w, which, complex_))[::-1], exp, atol=atol)


def check_pairs(D, w, X, atol):
    """Residuals ``|D x - w x|`` of unit eigenvectors."""
    k = len(w)
    assert w.dtype == np.complex128 and X.dtype == np.complex128
    assert X.shape == (D.shape[0], k)
    np.testing.assert_allclose(np.linalg.norm(X, axis=0), 1.0, atol=1e-10)
    assert np.abs(D @ X - X * w).max() <= atol


def check_members(w, ref, atol):
    """Every value of ``w`` is an eigenvalue in ``ref``."""
    for x in w:
        assert np.min(np.abs(ref - x)) <= atol, (x, ref)


@st.composite
def problems(draw):
    """A square nonsymmetric sparse matrix with well-conditioned eigenvalues (so that
    ``eig`` and a Krylov method agree closely), and whether its spectrum repeats."""
    n = draw(st.integers(4, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    dtype = draw(st.sampled_from([np.float64, np.complex128]))
    kind = draw(st.sampled_from(["random", "pairs", "repeated", "dense_row", "triangular",
                                 "zero_rows"]))
    repeated = False
    if kind in ("random", "zero_rows"):
        R = sp.random_array((n, n), density=draw(st.floats(0.0, 0.4)), rng=rng)
        d = rng.uniform(-3.0, 3.0, n)
        S = sp.csr_array(R * 0.5 + sp.diags_array(d))
        if kind == "zero_rows":  # empty rows (and columns: a zero block keeps the zero
            # eigenvalue nondefective, which zero rows alone need not)
            P = sp.diags_array((rng.uniform(size=n) < 0.6).astype(float))
            S = sp.csr_array(P @ S @ P)
            repeated = True
    elif kind == "pairs":
        # 2 x 2 rotation-scaling blocks (complex-conjugate pairs) under a permutation:
        # a normal matrix whose spectrum is made of pairs a +- ib
        blocks = []
        for _ in range(n // 2):
            a, b = rng.uniform(-2.0, 2.0), rng.uniform(0.1, 2.0)
            blocks.append(np.array([[a, b], [-b, a]]))
        if n % 2:
            blocks.append(np.array([[rng.uniform(-2.0, 2.0)]]))
        B = sp.block_diag(blocks, format="csr")
        p = rng.permutation(n)
        S = sp.csr_array(B[p][:, p])
    elif kind == "repeated":
        vals = rng.choice(rng.uniform(-3.0, 3.0, 3), size=n)
        S = sp.csr_array(sp.diags_array(vals))
        repeated = True
    elif kind == "dense_row":
        D = np.diag(rng.uniform(-3.0, 3.0, n))
        D[rng.integers(n)] += rng.uniform(-0.3, 0.3, n)
        S = sp.csr_array(D)
    else:  # upper triangular, distinct diagonal: nonnormal, real spectrum
        d = np.linspace(-3.0, 3.0, n)[rng.permutation(n)]
        U = sp.triu(sp.random_array((n, n), density=0.2, rng=rng), 1) * 0.1
        S = sp.csr_array(U + sp.diags_array(d))
    if dtype == np.complex128:
        S = sp.csr_array(S.astype(np.complex128))
        if kind == "random" and S.nnz:
            S.data = S.data * np.exp(1j * rng.uniform(0, 2 * np.pi, S.nnz))
    if draw(st.booleans()) and S.nnz:  # every entry split into a duplicate pair
        C = S.tocoo()
        S = sp.csr_array(sp.coo_array((np.concatenate([C.data * 0.5, C.data * 0.5]),
                                       (np.concatenate([C.row, C.row]),
                                        np.concatenate([C.col, C.col]))), shape=S.shape))
    ref = np.linalg.eigvals(S.toarray())
    scale = max(np.abs(ref).max(), 1.0)
    gaps = np.abs(ref[:, None] - ref[None, :]) + np.eye(n) * scale
    if gaps.min() <= 1e-9 * scale:
        repeated = True
    return S, repeated


@given(problem=problems(), which=st.sampled_from(_eigen.OWN_WHICH), data=st.data(),
       index_dtype=st.sampled_from(["int32", "int64"]), fmt=st.sampled_from(["csr", "csc"]))
def test_krylov_schur_against_eig(problem, which, data, index_dtype, fmt):
    S, repeated = problem
    D = S.toarray()
    n = D.shape[0]
    k = data.draw(st.integers(1, n - 2))
    ref = np.linalg.eigvals(D)
    scale = max(np.abs(ref).max(), 1.0)
    if repeated or which in ("LI", "SI"):
        # LI, SI: interior targets in general, which a small basis may miss (ARPACK too:
        # it returned the 4th of the wanted imaginary parts on a 34 x 34 normal matrix with
        # ncv = 7, and spla the 5th); a repeated eigenvalue: one Krylov sequence holds one vector of its eigenspace
        # (the others come only after invariant subspaces); ncv = n spans the space
        ncv = n
    else:
        # from SciPy's default ncv up: with a few vectors (ncv = 3 to 7 for n = 19 to 34)
        # both spla and ARPACK converged to eigenpairs other than the wanted ones, each on
        # problems where the other did not (see the report of session 15)
        ncv = data.draw(st.integers(min(n, max(2 * k + 1, 20)), n))
    A = spla_of(S, index_dtype, fmt)
    old = _arnoldi.DENSE_MAX
    _arnoldi.DENSE_MAX = 0
    try:
        w, X = L.eigs(A, k, which=which, ncv=ncv, maxiter=100 * n, tol=1e-12, rng=1)
        w2 = L.eigs(A, k, which=which, ncv=ncv, maxiter=100 * n, tol=1e-12, rng=1,
                    return_eigenvectors=False)
    except sla.ArpackNoConvergence:
        # allowed where ARPACK fails too, or where ten times the restarts suffice: with
        # very small bases (ncv = 3, k = 1, complex SM) rounding made spla's restarts
        # converge more slowly than ARPACK's in a case found by hypothesis
        try:
            sla.eigs(S, k, which=which, ncv=ncv, maxiter=100 * n, tol=1e-12, rng=1)
        except sla.ArpackError:
            return
        w, X = L.eigs(A, k, which=which, ncv=ncv, maxiter=1000 * n, tol=1e-12, rng=1)
        w2 = L.eigs(A, k, which=which, ncv=ncv, maxiter=1000 * n, tol=1e-12, rng=1,
                    return_eigenvectors=False)
    finally:
        _arnoldi.DENSE_MAX = old
    assert w.shape == (k,) and w2.shape == (k,)
    check_pairs(D, w, X, 1e-9 * scale)
    check_members(w, ref, 1e-7 * scale)
    cplx = np.iscomplexobj(D)
    try:
        check_keys(w, ref, which, 1e-7 * scale, cplx)
    except AssertionError:
        # genuine eigenpairs (checked above) that are not the wanted ones: a Krylov method
        # can converge to them from a small basis (ncv = 3 here, SM, SR); allowed only
        # where SciPy's ARPACK misses the wanted ones too on the same problem
        try:
            ws = sla.eigs(S, k, which=which, ncv=ncv, maxiter=100 * n, tol=1e-12, rng=1,
                          return_eigenvectors=False)
        except sla.ArpackError:
            pass
        else:
            with pytest.raises(AssertionError):
                check_keys(ws, ref, which, 1e-7 * scale, cplx)
    # the same run without vectors: the same values, least wanted first (SciPy's order)
    np.testing.assert_allclose(w2[::-1], w, atol=1e-9 * scale)
    kw = key(w, which, cplx)
    assert np.all(np.diff(kw) <= 1e-9 * scale)  # with vectors: most wanted first
    if np.isrealobj(D):
        # real A: complex eigenvalues come in conjugate pairs; w holds both halves of
        # each pair except possibly one split at the k-th place
        unpaired = [x for x in w if abs(x.imag) > 1e-7 * scale
                    and np.min(np.abs(w - np.conj(x))) > 1e-7 * scale]
        assert len(unpaired) <= 1


def convection_diffusion(k, c=0.1):
    T = sp.diags_array([-1.0 - c, 2.0, -1.0 + c], offsets=[-1, 0, 1], shape=(k, k))
    return sp.csr_array(sp.kronsum(T, T, format="csr"))


def periodic_convection(k, beta=0.7):
    """Diffusion in x (Dirichlet) and diffusion-convection in y (periodic, central
    differences): ``kronsum(T, P + beta C)`` with ``P``, ``C`` circulant. A normal matrix
    (well-conditioned eigenvalues) with complex-conjugate pairs ``lx + 2 - 2 cos t +- 2i
    beta sin t``."""
    T = sp.diags_array([-1.0, 2.0, -1.0], offsets=[-1, 0, 1], shape=(k, k))
    P = sp.lil_array(sp.diags_array([-1.0 - beta, 2.0, -1.0 + beta], offsets=[-1, 0, 1],
                                    shape=(k, k)))
    P[0, k - 1] = -1.0 - beta
    P[k - 1, 0] = -1.0 + beta
    return sp.csr_array(sp.kronsum(P.tocsr(), T, format="csr"))


def match_scipy(w, X, S, ws, which, atol_key, atol_res):
    """spla's ``(w, X)`` against SciPy's eigenvalues ``ws`` on the same problem."""
    assert w.shape == ws.shape
    np.testing.assert_allclose(np.sort(key(w, which)), np.sort(key(ws, which)), atol=atol_key)
    if which not in ("LI", "SI"):  # (LI, SI: many eigenvalues share an imaginary part)
        # the same set, up to the half of a conjugate pair split at the k-th place
        for x in ws:
            d = np.abs(w - x)
            if np.isrealobj(S.data):
                d = np.minimum(d, np.abs(w - np.conj(x)))
            assert d.min() <= atol_key, (x, w)
    if X is not None:
        R = S @ X - X * w
        assert np.linalg.norm(R, axis=0).max() <= atol_res


@pytest.mark.parametrize("which", ["LM", "LR", "SR"])
def test_convection_diffusion_against_scipy(which):
    S = periodic_convection(20)  # complex-conjugate pairs
    A = spla.csr_array(S)
    v0 = np.random.default_rng(0).uniform(-1.0, 1.0, S.shape[0])  # ones: in one eigenspace
    w, X = L.eigs(A, 6, which=which, tol=1e-10, v0=v0)
    ws = sla.eigs(S, 6, which=which, tol=1e-10, v0=v0, return_eigenvectors=False)
    match_scipy(w, X, S, ws, which, 1e-7, 1e-8)


@pytest.mark.parametrize("k", [1, 2, 6])
def test_convection_diffusion_real_spectrum(k):
    S = convection_diffusion(24, c=0.1)  # |c| < 1: a real spectrum (diagonally similar to
    # a symmetric one; a larger c makes that similarity, and the eigenvalues, ill-conditioned)
    A = spla.csr_array(S)
    w, X = L.eigs(A, k, which="LR", tol=1e-10, rng=0)
    ws = sla.eigs(S, k, which="LR", tol=1e-10, rng=0, return_eigenvectors=False)
    match_scipy(w, X, S, ws, "LR", 1e-7, 1e-8)


@pytest.mark.parametrize("name,k,which", [("cryg2500", 4, "LM"), ("young1c", 4, "LM"),
                                          ("young1c", 3, "LR"), ("bayer10", 3, "LM")])
def test_matrices_from_tests_data_against_scipy(name, k, which):
    S = sp.csr_array(scipy.io.mmread(DATA / f"{name}.mtx.gz"))
    A = spla.csr_array(S)
    n = S.shape[0]
    v0 = np.random.default_rng(0).uniform(-1.0, 1.0, n).astype(S.dtype)
    w, X = L.eigs(A, k, which=which, tol=1e-10, v0=v0, maxiter=5000)
    ws = sla.eigs(S, k, which=which, tol=1e-10, v0=v0, maxiter=5000,
                  return_eigenvectors=False)
    scale = np.abs(ws).max()
    match_scipy(w, X, S, ws, which, 1e-7 * scale, 1e-7 * scale)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_formats_take_the_krylov_schur_path(fmt, arnoldi_only, monkeypatch):
    calls = []
    real = _arnoldi.arnoldi_eigs

    def spy(*args, **kwargs):
        calls.append(kwargs["dtype"])
        return real(*args, **kwargs)

    monkeypatch.setattr(_arnoldi, "arnoldi_eigs", spy)
    S = periodic_convection(9)
    ref = np.linalg.eigvals(S.toarray())
    for dtype in (np.float64, np.complex128):
        A = spla_of(S.astype(dtype), "int64", fmt)
        w, X = L.eigs(A, 4, which="LR", rng=0)
        check_pairs(S.toarray(), w, X, 1e-10)
        check_keys(w, ref, "LR", 1e-9)
    assert calls == [np.float64, np.complex128]


def test_edges_k1_and_k_n_minus_2(arnoldi_only):
    rng = np.random.default_rng(3)
    D = rng.standard_normal((12, 12))
    ref = np.linalg.eigvals(D)
    A = spla.csr_array(D)
    for k, which in [(1, "LM"), (1, "SR"), (10, "LM"), (10, "SI"), (10, "LR")]:
        w, X = L.eigs(A, k, which=which, rng=0)
        check_pairs(D, w, X, 1e-10)
        check_members(w, ref, 1e-9)
        check_keys(w, ref, which, 1e-9)


def test_smallest_imaginary_on_a_real_spectrum(arnoldi_only):
    d = np.linspace(1.0, 4.0, 60)
    # a small superdiagonal (0.01 against spacings of 0.05): well-conditioned eigenvalues
    S = sp.csr_array(sp.diags_array(d) + sp.diags_array(0.01 * np.ones(59), offsets=1))
    A = spla.csr_array(S)
    for which in ("SI", "LI"):
        w, X = L.eigs(A, 4, which=which, rng=0)
        assert np.all(w.imag == 0)
        check_pairs(S.toarray(), w, X, 1e-10)
        check_members(w, d, 1e-9)


def test_dense_fallback_matches_scipy():
    S = periodic_convection(8)  # n = 64 <= DENSE_MAX
    A = spla.csr_array(S)
    ref = np.linalg.eigvals(S.toarray())
    for which in WHICH:
        # every which, SM/LI/SI too: solved exactly, not by ARPACK from a random start
        # (which stalled on this matrix's ties of LI/SI once in CI)
        assert _eigen._own_eigs(A, None, None, None, None, None, 5, which)
        w, X = L.eigs(A, 5, which=which)
        check_pairs(S.toarray(), w, X, 1e-10)
        check_keys(w, ref, which, 1e-10)
        if which not in ("LI", "SI"):  # (ARPACK stalls on their ties here)
            ws = sla.eigs(S, 5, which=which, return_eigenvectors=False, rng=0)
            check_keys(ws, ref, which, 1e-8)  # SciPy agrees on what is wanted


def test_v0_and_rng_make_runs_reproducible(arnoldi_only):
    S = periodic_convection(15)
    A = spla.csr_array(S)
    a = L.eigs(A, 3, rng=4, return_eigenvectors=False)
    b = L.eigs(A, 3, rng=4, return_eigenvectors=False)
    np.testing.assert_array_equal(a, b)
    v0 = np.linspace(1.0, 2.0, S.shape[0])
    a = L.eigs(A, 3, v0=v0, return_eigenvectors=False)
    b = L.eigs(A, 3, v0=v0, return_eigenvectors=False)
    np.testing.assert_array_equal(a, b)


def test_invariant_subspaces(arnoldi_only):
    # v0 in a 2-dimensional invariant subspace: Arnoldi breaks down after two steps and
    # must continue with random directions to find the wanted eigenvalues elsewhere
    d = np.arange(1.0, 151.0)
    A = spla.csr_array(sp.diags_array(d).tocsr())
    v0 = np.zeros(150)
    v0[:2] = 1.0
    w, X = L.eigs(A, 3, which="LR", v0=v0, rng=0)
    np.testing.assert_allclose(np.sort(w.real), [148.0, 149.0, 150.0], rtol=1e-12)
    np.testing.assert_allclose(w.imag, 0.0)
    check_pairs(np.diag(d), w, X, 1e-9)


def test_no_convergence_raises_with_converged_pairs(arnoldi_only):
    S = periodic_convection(30)
    A = spla.csr_array(S)
    with pytest.raises(sla.ArpackNoConvergence) as err:
        L.eigs(A, 6, which="SM", maxiter=2, ncv=14, rng=0)
    e = err.value
    assert "No convergence" in str(e)
    assert len(e.eigenvalues) < 6 and e.eigenvectors.shape == (900, len(e.eigenvalues))
    if len(e.eigenvalues):
        check_pairs(S.toarray(), e.eigenvalues, e.eigenvectors, 1e-8)
    with pytest.raises(sla.ArpackNoConvergence):
        sla.eigs(S, 6, which="SM", maxiter=2, ncv=14, rng=0)


def test_errors_are_scipys():
    S = convection_diffusion(12)
    n = S.shape[0]
    A = spla.csr_array(S)
    cases = [dict(k=0), dict(k=-1), dict(k=n - 1), dict(k=n), dict(k=3, which="XX"),
             dict(k=3, which="LA"), dict(k=3, ncv=4), dict(k=3, ncv=2), dict(k=3, maxiter=0),
             dict(k=2, v0=np.zeros(n))]
    for kw in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            with pytest.raises(Exception) as expected:
                sla.eigs(S, **kw)
            with pytest.raises(expected.type) as ours:
                L.eigs(A, **kw)
        assert str(ours.value) == str(expected.value), kw
    with pytest.raises(ValueError, match="v0"):
        L.eigs(A, 2, v0=np.ones(5))
    with pytest.warns(RuntimeWarning, match="k >= N - 1"):
        with pytest.raises(TypeError):
            L.eigs(A, n - 1)
    with pytest.raises(ValueError, match="square"):
        L.eigs(spla.csr_array(sp.random_array((5, 6), density=0.5, rng=0)), 2)


def test_other_dtypes_and_modes_stay_on_scipy(monkeypatch):
    monkeypatch.setattr(_arnoldi, "arnoldi_eigs", None)  # would fail if called
    S = convection_diffusion(15, c=0.5)
    ref = np.sort(np.linalg.eigvals(S.toarray()).real)
    w = L.eigs(spla.csr_array(S.astype(np.float32)), 3, which="LR", rng=0,
               return_eigenvectors=False)
    # float32 ARPACK (tol: float32's eps) on a double eigenvalue: a Ritz value of the pair
    # may sit 1e-3 off (seen in CI from a random start: 7.3097 for 7.2990)
    np.testing.assert_allclose(np.sort(w.real), ref[-3:], rtol=1e-2)
    A = spla.csr_array(S)
    w = L.eigs(A, 3, sigma=0.0, return_eigenvectors=False)
    np.testing.assert_allclose(np.sort(w.real), ref[:3], rtol=1e-8)
    w = L.eigs(A, 3, M=spla.csr_array(sp.eye_array(S.shape[0]).tocsr()), which="LR",
               return_eigenvectors=False)
    np.testing.assert_allclose(np.sort(w.real), ref[-3:], rtol=1e-8)
    w = L.eigs(S, 3, which="LR", return_eigenvectors=False)  # SciPy's matrix
    np.testing.assert_allclose(np.sort(w.real), ref[-3:], rtol=1e-8)


def test_docstring_example():
    import doctest

    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    found = 0
    for test in doctest.DocTestFinder().find(L.eigs, "eigs", module=False, globs={}):
        found += len(test.examples)
        runner.run(test)
    assert found >= 3 and runner.failures == 0


def test_small_basis_complex_smallest_magnitude(arnoldi_only):
    # found by hypothesis: k = 1, ncv = 3, complex arithmetic, SM on a diagonal plus one
    # dense row; spla needed more than ARPACK's 700 restarts here (a slower rate in a
    # two-vector extension), and converges to the right eigenvalue with more
    d = [0.33217624, 1.61963304, 1.38671527, -2.88203403, 0.24042556, 2.40681001, 1.66940852]
    D = np.diag(d).astype(np.complex128)
    D[0, 1:] = [-0.19361571, -0.00311587, 0.26820162, 0.23551705, -0.14928348, 0.25179244]
    A = spla.csr_array(D)
    w, X = L.eigs(A, 1, which="SM", ncv=3, maxiter=7000, tol=1e-12, rng=1)
    np.testing.assert_allclose(w, [0.24042556], atol=1e-9)
    check_pairs(D, w, X, 1e-10)


def test_imaginary_parts_signed_for_complex_matrices(arnoldi_only):
    # ARPACK's zneupd ranks LI/SI by the signed imaginary part (SciPy: LI gives 1+3j,
    # 3+1j here), dneupd by its modulus (conjugate pairs together)
    d = np.array([1 + 3j, 2 - 4j, 3 + 1j, 4 - 2j, 5 + 0.5j, 6 - 0.2j]
                 + list(np.linspace(-1, 1, 40) * 0.1 + 0.1j))
    A = spla.csr_array(sp.diags_array(d).tocsr())
    for which, exp in (("LI", [1 + 3j, 3 + 1j]), ("SI", [2 - 4j, 4 - 2j])):
        w = L.eigs(A, 2, which=which, rng=0, ncv=46)[0]
        np.testing.assert_allclose(w, exp, atol=1e-10)
        ws = sla.eigs(sp.diags_array(d).tocsr(), 2, which=which, rng=0)[0]
        np.testing.assert_allclose(ws, exp, atol=1e-10)


def test_interior_targets_stay_on_arpack(arnoldi_only):
    # found by hypothesis (seed 11): a 29 x 29 complex matrix, SM, k = 2, ncv = 21, where
    # spla's Krylov-Schur returned genuine eigenpairs, not the two of smallest magnitude,
    # and ARPACK found them: SM, LI and SI therefore go to ARPACK (_eigen.OWN_WHICH)
    z = np.load(DATA / "eigs_sm_case.npz")
    n = int(z["n"])
    S = sp.csr_array(sp.coo_array((z["data"], (z["row"], z["col"])), shape=(n, n)))
    ref = np.linalg.eigvals(S.toarray())
    kw = dict(which="SM", ncv=21, maxiter=100 * n, tol=1e-12, rng=1, return_eigenvectors=False)
    check_keys(L.eigs(spla.csr_array(S), 2, **kw), ref, "SM", 1e-9, True)
    assert not _eigen._own_eigs(spla.csr_array(S), None, None, None, None, None, 2, "SM")
    assert _eigen._own_eigs(spla.csr_array(S), None, None, None, None, None, 2, "LM")

def ref_arnoldi_step(V, j, y, dgks2):
    """NumPy's Arnoldi step (``lanczos.arnoldi_step``): ``(h, after, ok, passes, V[j + 1])``."""
    m = j + 1
    lo = max(m - 2, 0)
    c = V[lo:m] @ y
    w = y - c @ V[lo:m]
    before = w @ w
    h = V[:m] @ w
    w = w - h @ V[:m]
    after = w @ w
    h[lo:m] += c
    passes = 1
    if after < dgks2 * before:
        passes = 2
        g = V[:m] @ w
        w = w - g @ V[:m]
        h += g
        before, after = after, w @ w
        if after < dgks2 * before:
            return h, after, False, passes, w
    ok = after > 0
    return h, after, ok, passes, (w / np.sqrt(after) if ok else w)


@pytest.mark.parametrize("parallel", [True, False], ids=["parallel", "serial"])
@given(n=st.sampled_from([12, 17, 4095, 4096, 4097, 3 * 4096 + 7]), j=st.integers(0, 10),
       seed=st.integers(0, 2**32 - 1), kind=st.sampled_from(["random", "in_span", "zero"]))
def test_arnoldi_step_against_numpy(parallel, n, j, seed, kind):
    """The fused Arnoldi step against NumPy's on an orthonormal basis: a random product,
    one in the span of the basis up to 1e-5 (the DGKS repeat), a zero product (an
    invariant subspace: nothing normalised)."""
    from spla._kernels import lanczos

    step = (lanczos.STEP_PARALLEL if parallel else lanczos.STEP_SERIAL)[5]
    rng = np.random.default_rng(seed)
    m = j + 1
    Q = np.linalg.qr(rng.standard_normal((n, m + 1)))[0].T
    V = np.full((m + 2, n), np.nan)
    V[:m] = Q[:m]
    if kind == "random":
        y = rng.standard_normal(n)
    elif kind == "in_span":
        y = rng.standard_normal(m) @ V[:m] + 1e-5 * Q[m]
    else:
        y = np.zeros(n)
    dgks2 = _arnoldi.DGKS ** 2
    h_r, after_r, ok_r, passes_r, w_r = ref_arnoldi_step(V, j, y, dgks2)
    if kind == "in_span" and j >= 2:  # (for j < 2 the local rows are the whole basis)
        assert passes_r == 2
    chunks = lanczos.step_chunks(n)
    part = np.full((chunks, m + 3), np.nan)
    rpart = np.full(chunks, np.nan)
    h = np.full(m + 3, np.nan)
    g = np.full(m + 3, np.nan)
    V0 = V.copy()
    after, ok, passes = step(V, j, y, dgks2, h, g, part, rpart)
    np.testing.assert_array_equal(V[:m], V0[:m])  # only V[j + 1] = V[m] is written
    np.testing.assert_array_equal(V[m + 1:], V0[m + 1:])
    scale = np.linalg.norm(y)
    np.testing.assert_allclose(h[:m], h_r, rtol=1e-12, atol=1e-12 * scale)
    np.testing.assert_allclose(after, after_r, rtol=1e-9, atol=1e-26)
    assert (ok, passes) == (ok_r, passes_r)
    np.testing.assert_allclose(V[m], w_r, rtol=1e-9, atol=1e-9)
    if kind == "zero":
        assert after == 0.0 and not ok
        np.testing.assert_array_equal(V[m], 0.0)
    if ok:  # normalised and orthogonal to the basis
        np.testing.assert_allclose(V[m] @ V[m], 1.0, rtol=1e-13)
        assert np.abs(V[:m] @ V[m]).max() <= 1e-12


def test_arnoldi_step_propagates_nan():
    from spla._kernels import lanczos

    n = 40
    V = np.zeros((4, n))
    V[0, 0] = V[1, 1] = 1.0
    y = np.ones(n)
    y[5] = np.nan
    chunks = lanczos.step_chunks(n)
    for kernels in (lanczos.STEP_PARALLEL, lanczos.STEP_SERIAL):
        after, ok, _ = kernels[5](V.copy(), 1, y, 0.5, np.zeros(4), np.zeros(4),
                                  np.zeros((chunks, 4)), np.zeros(chunks))
        assert np.isnan(after) and not ok


@pytest.mark.parametrize("kernels,parallel_min", [("blas", 20_000), ("fused", 20_000),
                                                  ("fused", 500)])
@pytest.mark.parametrize("which", ["LM", "LR", "SR"])
def test_kernel_sets_agree_with_scipy(kernels, parallel_min, which, arnoldi_only,
                                      monkeypatch):
    """Both step kernels (BLAS passes, the fused Numba step serial and parallel) find
    SciPy's eigenvalues, unit eigenvectors, and the same ArpackNoConvergence."""
    monkeypatch.setattr(_arnoldi, "KERNELS", kernels)
    monkeypatch.setattr(_arnoldi, "STEP_PARALLEL_MIN", parallel_min)
    # the fused step runs where Numba has threads: take it on a one-thread runner too
    monkeypatch.setattr(_arnoldi.numba, "get_num_threads", lambda: 2)
    bases = []
    init = _arnoldi._Basis.__init__

    def record(self, *args):
        init(self, *args)
        bases.append(self)

    monkeypatch.setattr(_arnoldi._Basis, "__init__", record)
    S = convection_diffusion(30, c=0.1)
    A = spla.csr_array(S)
    v0 = np.random.default_rng(1).uniform(-1.0, 1.0, S.shape[0])
    w, X = L.eigs(A, 5, which=which, tol=1e-10, v0=v0)
    assert (bases[0].step is not None) == (kernels == "fused" and parallel_min <= 900)
    ws = sla.eigs(S, 5, which=which, tol=1e-10, v0=v0, return_eigenvectors=False)
    match_scipy(w, X, S, ws, which, 1e-7, 1e-8)
    np.testing.assert_allclose(np.linalg.norm(X, axis=0), 1.0, rtol=1e-12)
    with pytest.raises(sla.ArpackNoConvergence) as err:
        L.eigs(A, 5, which=which, tol=1e-14, v0=v0, maxiter=1)
    vals, vecs = err.value.eigenvalues, err.value.eigenvectors
    assert vecs.shape == (S.shape[0], len(vals))
