"""spla.linalg against scipy.sparse.linalg on the same problems, every format and dtype;
SciPy's own functions taking spla arrays directly (the operator protocol); bad input."""

import warnings

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp
import scipy.sparse.linalg as sla

import spla
import spla.linalg as L

FORMATS = ["csr", "csc", "banded", "nm"]
DTYPES = ["float32", "float64", "complex64", "complex128"]
DATA = __import__("pathlib").Path(__file__).parent / "data"


def as_format(S, fmt):
    """S in format fmt; for "nm" an SPD matrix is replaced by the 2:4 SPD ``nm_spd``."""
    if fmt == "nm" and getattr(S, "_spd", False):
        S = nm_spd(S.shape[0], S.dtype)
    if fmt == "csr":
        return spla.csr_array(S)
    if fmt == "csc":
        return spla.csr_array(S).asformat("csc")
    if fmt == "banded":  # a narrow band (|i - j| <= 3) keeps diagonal storage small
        return spla.banded_array(sp.csr_array(sp.tril(sp.triu(S, -3), 3)))
    return spla.nm_array(S.toarray(), prune=True)


def spd(n=40, dtype="float64", seed=0):
    """A sparse SPD (Hermitian PD for complex) matrix: a shifted 1-D Laplacian plus a
    random symmetric coupling."""
    rng = np.random.default_rng(seed)
    T = sp.diags([-1.0, 4.0, -1.0], [-1, 0, 1], shape=(n, n), format="csr")
    R = sp.random(n, n, density=0.05, random_state=rng)
    if np.dtype(dtype).kind == "c":
        R = R + 1j * sp.random(n, n, density=0.05, random_state=rng)
    A = sp.csr_array((T + 0.1 * (R + R.conj().T)).astype(dtype))
    A._spd = True
    return A


def nm_spd(n, dtype, seed=2):
    """Block diagonal of 2 x 2 SPD blocks: 2:4 sparse and symmetric (real)."""
    rng = np.random.default_rng(seed)
    blocks = []
    for _ in range(n // 2):
        a, c = rng.uniform(3, 5, 2)
        blocks.append(np.array([[a, 1.0], [1.0, c]]))
    return sp.csr_array(sp.block_diag(blocks).astype(dtype))


def unsym(n=40, dtype="float64", seed=1):
    rng = np.random.default_rng(seed)
    R = sp.random(n, n, density=0.1, random_state=rng)
    if np.dtype(dtype).kind == "c":
        R = R + 1j * sp.random(n, n, density=0.1, random_state=rng)
    return sp.csr_array((sp.eye(n) * 4 + R).astype(dtype))


def nm_ok(fmt, dtype):
    return not (fmt == "nm" and np.dtype(dtype).kind == "c")


def skip_unless_covered(fmt, dtype):
    """Every dtype on CSR; the other formats in float64 and complex128 (the products
    of each format and dtype have their own property tests)."""
    if not nm_ok(fmt, dtype):
        pytest.skip("nm_array holds real values only")
    if fmt != "csr" and np.dtype(dtype).char in "fF":
        pytest.skip("single precision runs on CSR only here (time budget)")


def tol(dtype):
    return 1e-3 if np.dtype(dtype).char in "fF" else 1e-9


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["cg", "bicg", "bicgstab", "cgs", "gmres", "lgmres", "minres",
                                  "qmr", "tfqmr", "gcrotmk"])
def test_krylov_same_iterates_as_scipy(name, fmt, dtype):
    skip_unless_covered(fmt, dtype)
    if name == "minres" and np.dtype(dtype).kind == "c":
        pytest.skip("SciPy's minres is for real symmetric (its complex support is Hermitian "
                    "with real b only); covered for real dtypes")
    A = as_format(spd(48, dtype), fmt)
    S = sp.csr_array(A.toarray())  # the same (possibly pruned) matrix for SciPy
    b = np.arange(1.0, 49.0).astype(dtype)
    rtol = 1e-5 if np.dtype(dtype).char in "fF" else 1e-10
    x, info = getattr(L, name)(A, b, rtol=rtol, maxiter=400)
    xs, infos = getattr(sla, name)(S, b, rtol=rtol, maxiter=400)
    assert info == infos == 0
    np.testing.assert_allclose(x, xs, rtol=50 * rtol, atol=50 * rtol * np.abs(xs).max())
    # each method's own stopping test (minres measures differently): as good as SciPy's
    ref = max(np.linalg.norm(S @ xs - b), rtol * np.linalg.norm(b))
    assert np.linalg.norm(S @ x - b) <= 10 * ref


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", ["lsqr", "lsmr"])
def test_least_squares_rectangular(name, fmt):
    rng = np.random.default_rng(3)
    S = sp.random(60, 24, density=0.2, random_state=rng, format="csr") + sp.eye(60, 24)
    A = as_format(sp.csr_array(S), fmt)
    S = sp.csr_array(A.toarray())
    b = rng.standard_normal(60)
    x = getattr(L, name)(A, b, atol=1e-12, btol=1e-12)[0]
    expected = np.linalg.lstsq(S.toarray(), b, rcond=None)[0]
    np.testing.assert_allclose(x, expected, rtol=1e-7, atol=1e-9)


# banded_array runs its products on the thread pool even at n = 64 (a few ms per
# launch on a loaded machine): it is covered by test_scipy_eigensolvers_accept_spla_arrays.
@pytest.mark.parametrize("fmt", ["csr", "csc", "nm"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_eigsh_eigs_svds_lobpcg(fmt, dtype):
    skip_unless_covered(fmt, dtype)
    A = as_format(spd(64, dtype), fmt)
    D = A.toarray().astype(np.complex128 if np.dtype(dtype).kind == "c" else np.float64)
    if fmt == "nm":
        D = (D + D.T) / 2  # pruning breaks symmetry: eigsh needs a Hermitian matrix
        A = spla.csr_array(D.astype(dtype))
    ref = np.linalg.eigvalsh(D)
    t = tol(dtype) * 10
    w = L.eigsh(A, k=3, which="LA", return_eigenvectors=False, tol=1e-6 if t > 1e-6 else 0)
    np.testing.assert_allclose(np.sort(w), ref[-3:], rtol=t)
    w = L.eigs(A, k=3, which="LR", return_eigenvectors=False)
    np.testing.assert_allclose(np.sort(w.real), ref[-3:], rtol=t)
    s = L.svds(A, k=3, return_singular_vectors=False)
    np.testing.assert_allclose(np.sort(s), np.sort(np.abs(ref))[-3:], rtol=t)
    X = np.random.default_rng(0).standard_normal((64, 3)).astype(D.dtype)
    w, _ = L.lobpcg(A, X, largest=True, tol=1e-5 if t > 1e-6 else 1e-9, maxiter=500)
    np.testing.assert_allclose(np.sort(w), ref[-3:], rtol=max(t, 1e-5))


def test_eigsh_shift_invert_uses_superlu():
    A = spla.csr_array(spd(80))
    D = A.toarray()
    w = L.eigsh(A, k=2, sigma=0.0, return_eigenvectors=False)
    np.testing.assert_allclose(np.sort(w), np.linalg.eigvalsh(D)[:2], rtol=1e-9)


@pytest.mark.parametrize("fmt", FORMATS)
def test_expm_multiply_onenormest_norm(fmt):
    S = spd(30) * 0.1
    A = as_format(S, fmt)
    D = A.toarray()
    b = np.arange(30.0)
    import scipy.linalg

    np.testing.assert_allclose(L.expm_multiply(A, b), scipy.linalg.expm(D) @ b, rtol=1e-10)
    grid = L.expm_multiply(A, b, start=0, stop=1, num=3, endpoint=True)
    np.testing.assert_allclose(grid[-1], scipy.linalg.expm(D) @ b, rtol=1e-10)
    assert L.onenormest(A) <= np.abs(D).sum(axis=0).max() * (1 + 1e-12)
    assert L.onenormest(A) >= 0.3 * np.abs(D).sum(axis=0).max()
    for ord in (None, "fro", 1, -1, np.inf, -np.inf, 2):
        np.testing.assert_allclose(L.norm(A, ord), np.linalg.norm(D, ord if ord else "fro"),
                                   rtol=1e-6 if ord == 2 else 1e-12)
    np.testing.assert_allclose(L.norm(A, axis=0), np.linalg.norm(D, axis=0), rtol=1e-12)
    np.testing.assert_allclose(L.norm(A, 1, axis=(1, 0)), np.linalg.norm(D, np.inf), rtol=1e-12)


def test_norm_sums_duplicates_first():
    A = spla.csr_array((np.array([1.0, -1.0, 2.0]), np.array([0, 0, 1]), np.array([0, 2, 3])),
                       shape=(2, 2))
    D = A.toarray()
    for ord in (None, 1, np.inf, -1, -np.inf):
        assert L.norm(A, ord) == np.linalg.norm(D, ord if ord else "fro")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_direct_solvers_match_scipy(fmt, dtype):
    skip_unless_covered(fmt, dtype)
    A = as_format(unsym(50, dtype), fmt)
    S = sp.csc_array(A.toarray())
    b = np.arange(1.0, 51.0).astype(dtype)
    B = np.ones((50, 3), dtype=dtype)
    t = tol(dtype)
    np.testing.assert_allclose(L.spsolve(A, b, solver="superlu"), sla.spsolve(S, b), rtol=t)
    np.testing.assert_allclose(L.spsolve(A, B, solver="superlu"), sla.spsolve(S, B), rtol=t)
    lu = L.splu(A)
    np.testing.assert_allclose(lu.solve(b), sla.splu(S).solve(b), rtol=t)
    assert isinstance(lu.L, spla.csc_array) and isinstance(lu.U, spla.csc_array)
    np.testing.assert_allclose(L.factorized(A, solver="superlu")(b), sla.spsolve(S, b), rtol=t)
    ilu = L.spilu(A, drop_tol=0.0, fill_factor=100)
    np.testing.assert_allclose(ilu.solve(b), sla.spsolve(S, b), rtol=10 * t)
    Ainv = L.inv(A)
    assert isinstance(Ainv, spla.SparseArray)
    np.testing.assert_allclose(Ainv.toarray(), np.linalg.inv(S.toarray()), rtol=10 * t,
                               atol=10 * t)
    X = L.spsolve(A, spla.csr_array(sp.eye(50, 2, dtype=dtype)), solver="superlu")
    assert isinstance(X, spla.SparseArray)
    np.testing.assert_allclose(X.toarray(), np.linalg.inv(S.toarray())[:, :2], rtol=10 * t,
                               atol=10 * t)


def test_direct_solvers_do_not_write_into_spla_storage():
    """SciPy's direct solvers sort indices in place: an spla array with unsorted rows
    (each row's entries reversed) must come out unchanged, and solve the same system."""
    S = unsym(30)
    B = spla.csr_array(S)
    rows = list(zip(B.indptr[:-1], B.indptr[1:]))
    C = spla.csr_array((np.concatenate([B.data[lo:hi][::-1] for lo, hi in rows]),
                        np.concatenate([B.indices[lo:hi][::-1] for lo, hi in rows]),
                        B.indptr.copy()), shape=B.shape)
    assert not C.has_canonical_format
    before = (C.data.copy(), C.indices.copy())
    b = np.ones(30)
    np.testing.assert_allclose(L.spsolve(C, b, solver="superlu"), sla.spsolve(S, b), rtol=1e-12)
    np.testing.assert_allclose(L.splu(C).solve(b), sla.spsolve(S, b), rtol=1e-12)
    L.spilu(C)
    L.spsolve_triangular(C, b)
    L.norm(C, 1)
    np.testing.assert_array_equal(C.data, before[0])
    np.testing.assert_array_equal(C.indices, before[1])


def test_singular_and_bad_input_like_scipy():
    A = spla.csr_array(np.array([[1.0, 2.0], [2.0, 4.0]]))
    with pytest.warns(sla.MatrixRankWarning):
        x = L.spsolve(A, np.ones(2), solver="superlu")
    assert np.isnan(x).all()
    with pytest.raises(RuntimeError, match="singular"):
        L.splu(A)
    R = spla.csr_array(np.ones((2, 3)))
    for f in (L.spsolve, L.gmres, L.cg, L.minres, L.bicgstab):
        with pytest.raises(ValueError, match="square"):
            f(R, np.ones(2))
    with pytest.raises(ValueError, match="square"):
        L.splu(R)
    with pytest.raises(ValueError, match="square"):
        L.eigsh(R, k=1)
    A = spla.csr_array(spd(10))
    with pytest.raises(ValueError, match="mismatch"):
        L.spsolve(A, np.ones(9))
    with pytest.raises(ValueError):
        L.gmres(A, np.ones(9))
    S = sp.csr_array(A.toarray())
    for k in (0, 10, 11, -1):
        for ours, theirs in ((L.eigsh, sla.eigsh), (L.eigs, sla.eigs), (L.svds, sla.svds)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                with pytest.raises((ValueError, TypeError)) as expected:
                    theirs(S, k=k)
                with pytest.raises(expected.type):
                    ours(A, k=k)
    with pytest.raises(ValueError, match="solver must be one of"):
        L.spsolve(A, np.ones(10), solver="umf")
    if not L.pardiso_available():
        with pytest.raises(ValueError, match=r"spla\[pardiso\]"):
            L.spsolve(A, np.ones(10), solver="pardiso")


def test_operator_and_aslinearoperator():
    A = spla.csr_array(unsym(20, "complex128"))
    D = A.toarray()
    op = L.aslinearoperator(A)
    assert isinstance(op, L.SplaOperator) and isinstance(op, L.LinearOperator)
    X = np.random.default_rng(0).standard_normal((20, 4))
    np.testing.assert_allclose(op.matmat(X), D @ X, rtol=1e-12)
    np.testing.assert_allclose(op.H.matmat(X), D.conj().T @ X, rtol=1e-12)
    np.testing.assert_allclose(op.H.H @ X[:, 0], D @ X[:, 0], rtol=1e-12)
    np.testing.assert_allclose(op.rmatvec(X[:, 0]), D.conj().T @ X[:, 0], rtol=1e-12)
    S = sp.csr_array(D)
    assert not isinstance(L.aslinearoperator(S), L.SplaOperator)


# -- SciPy's own functions, called with spla arrays directly ------------------------------

SCIPY_DIRECT = {
    "cg": lambda A, b: sla.cg(A, b, rtol=1e-10)[0],
    "gmres": lambda A, b: sla.gmres(A, b, rtol=1e-10)[0],
    "minres": lambda A, b: sla.minres(A, b, rtol=1e-10)[0],
    "bicgstab": lambda A, b: sla.bicgstab(A, b, rtol=1e-10)[0],
    "lsqr": lambda A, b: sla.lsqr(A, b, atol=1e-12, btol=1e-12)[0],
    "lsmr": lambda A, b: sla.lsmr(A, b, atol=1e-12, btol=1e-12)[0],
}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", sorted(SCIPY_DIRECT))
def test_scipy_solvers_accept_spla_arrays(fmt, name):
    A = as_format(spd(40), fmt)
    D = A.toarray()
    if name == "minres" and fmt == "nm":
        A = spla.csr_array((D + D.T) / 2)
        D = A.toarray()
    b = np.arange(40.0)
    x = SCIPY_DIRECT[name](A, b)
    np.testing.assert_allclose(D @ x, b, rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize("fmt", FORMATS)
def test_scipy_eigensolvers_accept_spla_arrays(fmt):
    A = as_format(spd(50), fmt)
    D = A.toarray()
    if fmt == "nm":
        D = (D + D.T) / 2
        A = spla.csr_array(D)
    ref = np.linalg.eigvalsh(D)
    np.testing.assert_allclose(np.sort(sla.eigsh(A, k=3, return_eigenvectors=False)),
                               ref[-3:], rtol=1e-8)
    np.testing.assert_allclose(np.sort(sla.eigs(A, k=3, return_eigenvectors=False).real),
                               ref[-3:], rtol=1e-8)
    np.testing.assert_allclose(np.sort(sla.svds(A, k=3, return_singular_vectors=False)),
                               np.sort(np.abs(ref))[-3:], rtol=1e-8)
    X = np.random.default_rng(1).standard_normal((50, 3))
    w, _ = sla.lobpcg(A, X, largest=True, tol=1e-9, maxiter=500)
    np.testing.assert_allclose(np.sort(w), ref[-3:], rtol=1e-6)
    est = sla.onenormest(A)
    assert 0.3 * np.abs(D).sum(axis=0).max() <= est <= np.abs(D).sum(axis=0).max() * (1 + 1e-12)


def test_real_matrices_from_tests_data():
    """cg on the SPD bcsstk13, gmres/spsolve on the unsymmetric cryg2500, eigsh on bcsstk13."""
    K = sp.csr_array(scipy.io.mmread(DATA / "bcsstk13.mtx.gz"))
    A = spla.csr_array(K)
    w = L.eigsh(A, k=3, which="LA", return_eigenvectors=False)
    ws = sla.eigsh(K, k=3, which="LA", return_eigenvectors=False)
    np.testing.assert_allclose(np.sort(w), np.sort(ws), rtol=1e-9)
    U = sp.csr_array(scipy.io.mmread(DATA / "cryg2500.mtx.gz"))
    b = np.ones(U.shape[0])
    x = L.spsolve(spla.csr_array(U), b, solver="superlu")
    # ill-conditioned (|x| ~ 1e11): same SuperLU path as SciPy's for CSR, small backward error
    np.testing.assert_allclose(x, sla.spsolve(U, b), rtol=1e-10)
    assert np.linalg.norm(U @ x - b) <= 1e-12 * sla.norm(U, 1) * np.linalg.norm(x)
    ilu = L.spilu(spla.csr_array(U))
    M = sla.LinearOperator(U.shape, ilu.solve)
    x, info = L.gmres(spla.csr_array(U), b, M=M, rtol=1e-10, maxiter=200)
    xs, infos = sla.gmres(U, b, M=sla.LinearOperator(U.shape, sla.spilu(U.tocsc()).solve),
                          rtol=1e-10, maxiter=200)
    assert info == infos
    assert np.linalg.norm(U @ x - b) <= 10 * max(np.linalg.norm(U @ xs - b),
                                                 1e-10 * np.linalg.norm(b))


def test_blas_policy_switch():
    old = L.set_blas_policy("leave")
    try:
        A = spla.csr_array(spd(20))
        assert L.gmres(A, np.ones(20), rtol=1e-10)[1] == 0
    finally:
        assert L.set_blas_policy(old) == "leave"
    with pytest.raises(ValueError, match="policy"):
        L.set_blas_policy("spin")


def test_blas_threads_limited_inside_and_restored_after():
    from threadpoolctl import threadpool_info

    def blas_threads():
        return [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"]

    before = blas_threads()
    seen = []
    A = spla.csr_array(spd(20))
    L.gmres(A, np.ones(20), callback=lambda *_: seen.append(blas_threads()), maxiter=1)
    assert seen and all(all(t == 1 for t in s) for s in seen)
    assert blas_threads() == before



# -- PARDISO (the optional "pardiso" extra) -------------------------------------------------

needs_pardiso = pytest.mark.skipif(
    not L.pardiso_available(),
    reason="pypardiso is not installed (pip install 'spla[pardiso]'); PARDISO paths untested")


@needs_pardiso
@pytest.mark.parametrize("fmt", ["csr", "csc", "banded"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pardiso_matches_superlu(fmt, dtype):
    A = as_format(unsym(60, dtype), fmt)
    S = sp.csc_array(A.toarray().astype(np.float64))
    b = np.arange(1.0, 61.0)
    B = np.random.default_rng(0).standard_normal((60, 3))
    np.testing.assert_allclose(L.spsolve(A, b, solver="pardiso"), sla.spsolve(S, b), rtol=1e-9)
    np.testing.assert_allclose(L.spsolve(A, B, solver="pardiso"), sla.spsolve(S, B), rtol=1e-9)
    assert L.spsolve(A, b.reshape(-1, 1), solver="pardiso").shape == (60,)  # as SciPy
    f = L.PardisoFactorization(A)
    for rhs in (b, B, B[:, 0] + 1j * B[:, 1]):
        np.testing.assert_allclose(f.solve(rhs), sla.spsolve(S, rhs), rtol=1e-9)
    np.testing.assert_allclose(L.factorized(A, solver="pardiso")(b), sla.spsolve(S, b),
                               rtol=1e-9)
    X = L.spsolve(A, spla.csr_array(sp.eye(60, 2)), solver="pardiso")
    assert isinstance(X, spla.SparseArray)
    np.testing.assert_allclose(X.toarray(), sla.spsolve(S, sp.csc_array(sp.eye(60, 2))).toarray(),
                               rtol=1e-9, atol=1e-12)
    f.free()


@needs_pardiso
@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_pardiso_symmetric_matrices_use_the_symmetric_factorisation(fmt):
    rng = np.random.default_rng(4)
    n = 50
    # Indefinite, with zeros on part of the diagonal (absent from the storage, which
    # PARDISO's symmetric types need stored) and an explicit zero above it.
    R = sp.random_array((n, n), density=0.1, rng=rng).toarray()
    D = R + R.T + np.diag(rng.choice([-3.0, 0.0, 4.0], n))
    D[np.arange(0, n, 7), np.arange(0, n, 7)] = 0.0
    D += 5 * np.eye(n, k=1) + 5 * np.eye(n, k=-1)
    A = as_format(D, fmt)
    S = sp.csc_array(D)
    b = np.arange(1.0, n + 1)
    f = L.PardisoFactorization(A)
    assert f.symmetric
    np.testing.assert_allclose(f.solve(b), sla.spsolve(S, b), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(L.spsolve(A, b, solver="pardiso"), sla.spsolve(S, b),
                               rtol=1e-8, atol=1e-10)
    f.free()
    # Symmetric in structure but not in values: the LU.
    U = D.copy()
    U[0, 1] += 1.0
    g = L.PardisoFactorization(as_format(U, fmt))
    assert not g.symmetric
    np.testing.assert_allclose(g.solve(b), sla.spsolve(sp.csc_array(U), b), rtol=1e-8,
                               atol=1e-10)
    g.free()


@needs_pardiso
def test_pardiso_auto_choice_and_errors(monkeypatch):
    from spla.linalg import _pardiso

    A = spla.csr_array(unsym(30))
    assert not _pardiso.choose(A, None, "auto", "spsolve")  # small: SuperLU
    monkeypatch.setattr(_pardiso, "PARDISO_MIN_NNZ", 0)
    assert _pardiso.choose(A, None, "auto", "spsolve")
    assert not _pardiso.choose(spla.csr_array(unsym(30, "complex128")), None, "auto", "spsolve")
    with pytest.raises(ValueError, match="real"):
        L.spsolve(spla.csr_array(unsym(30, "complex128")), np.ones(30), solver="pardiso")
    empty_row = spla.csr_array(np.diag([1.0, 0.0, 2.0]))
    with pytest.raises(np.linalg.LinAlgError, match="singular"):
        L.spsolve(empty_row, np.ones(3), solver="pardiso")
    with pytest.raises(ValueError, match="mismatch"):
        L.PardisoFactorization(A).solve(np.ones(29))
    with pytest.raises(ValueError, match="square"):
        L.PardisoFactorization(spla.csr_array(np.ones((2, 3))))


# -- SciPy's own tests of its Krylov solvers (test_iterative.py), on spla arrays -----------
#
# Every case of SciPy's IterativeParams with its matrix as an spla csr_array and its
# solver replaced by spla.linalg's function of the same name, run through SciPy's
# test functions test_maxiter, test_convergence and test_precond_dummy unchanged.

try:
    from scipy.sparse.linalg._isolve.tests import test_iterative as _scipy_iterative
except ImportError:  # SciPy installed without its tests
    _scipy_iterative = None


def _spla_cases():
    if _scipy_iterative is None:
        return []
    out = []
    for c in _scipy_iterative.IterativeParams().generate_tests():
        A = spla.csr_array(sp.csr_array(c.A) if not isinstance(c.A, np.ndarray) else c.A)
        out.append(_scipy_iterative.SingleTest(A, c.b, getattr(L, c.solver.__name__),
                                               c.name.rsplit("-", 1)[0],
                                               convergence=c.convergence))
    return out


_SPLA_CASES = _spla_cases()


@pytest.mark.skipif(_scipy_iterative is None, reason="SciPy's test modules are not installed")
@pytest.mark.parametrize("test", ["test_maxiter", "test_convergence", "test_precond_dummy"])
@pytest.mark.parametrize("case", _SPLA_CASES, ids=[c.name for c in _SPLA_CASES])
def test_scipy_iterative_suite(test, case, monkeypatch):
    # SciPy's tests compare the solver by identity (``case.solver is qmr``, ``== gmres``):
    # its module-level name must be spla's function for the same branch to run.
    monkeypatch.setattr(_scipy_iterative, case.solver.__name__, case.solver)
    getattr(_scipy_iterative, test)(case)


# -- SciPy's _TestSolve (scipy.sparse.tests.test_base) with splu = spla.linalg.splu --------

@pytest.mark.parametrize("creator", ["csr", "csc"])
def test_scipy_testsolve_with_spla_splu(creator, monkeypatch):
    test_base = pytest.importorskip("scipy.sparse.tests.test_base",
                                    reason="SciPy's test modules are not installed")
    monkeypatch.setattr(test_base, "splu", L.splu)
    make = spla.csr_array if creator == "csr" else (lambda D: spla.csr_array(D).asformat("csc"))

    class Battery(test_base._TestSolve):
        spcreator = staticmethod(make)

    Battery().test_solve()


@pytest.mark.parametrize("missing_diagonal", [False, True])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_pardiso_upper_triangle_with_diagonal(missing_diagonal, index_dtype):
    """The upper triangle handed to PARDISO's symmetric types: canonical, every
    diagonal entry stored (an explicit zero where the matrix has none)."""
    from spla.linalg import _pardiso

    rng = np.random.default_rng(5)
    n = 40
    R = sp.random_array((n, n), density=0.15, rng=rng).toarray()
    D = R + R.T + np.diag(rng.uniform(1, 2, n))
    if missing_diagonal:
        D[np.arange(0, n, 3), np.arange(0, n, 3)] = 0.0
    S = sp.csr_array(D)
    S.indices = S.indices.astype(index_dtype)
    S.indptr = S.indptr.astype(index_dtype)
    U = _pardiso._upper_with_diagonal(S)
    np.testing.assert_array_equal(U.toarray(), np.triu(D))
    rows = np.repeat(np.arange(n), np.diff(U.indptr))
    same_row = rows[1:] == rows[:-1]
    assert (np.diff(U.indices)[same_row] > 0).all()  # canonical: sorted, no duplicates
    assert ((U.indices == rows).sum()) == n  # every diagonal entry stored
    assert (U.indices >= rows).all()
