"""spla's own lobpcg loop (spla/linalg/_lobpcg.py) against SciPy's, and its kernel."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla
from hypothesis import given, settings
from hypothesis import strategies as st

import spla
import spla.linalg as L
from spla._kernels import lobpcg as K
from spla.linalg import _lobpcg


@settings(deadline=None)
@given(n=st.sampled_from([1, 2, 7, K.CHUNK - 1, K.CHUNK, K.CHUNK + 1, 3 * K.CHUNK + 5,
                         K.PARTS * K.CHUNK + 3, 9 * K.CHUNK + 11]), k=st.integers(1, 7),
       dtype=st.sampled_from([np.float32, np.float64, np.complex64, np.complex128]),
       seed=st.integers(0, 2**32 - 1))
def test_residual_kernel_matches_numpy(n, k, dtype, seed):
    rng = np.random.default_rng(seed)

    def block():
        x = rng.standard_normal((n, k))
        if np.dtype(dtype).kind == "c":
            x = x + 1j * rng.standard_normal((n, k))
        return x.astype(dtype)

    AX, BX = block(), block()
    lam = rng.standard_normal(k).astype(np.finfo(dtype).dtype)
    R = np.empty_like(AX)
    part = np.empty((K.nchunks(n), k), np.float64)
    sq = K.residual(AX, BX, lam, R, part)
    ref = AX - BX * lam[None, :]
    rt = 1e-5 if np.finfo(dtype).bits <= 32 else 1e-12
    np.testing.assert_allclose(R, ref, rtol=rt, atol=rt)
    # the kernel sums in float64; NumPy's float32 sum along axis 0 is a running float32 sum
    ref64 = ref.astype(np.complex128 if np.dtype(dtype).kind == "c" else np.float64)
    np.testing.assert_allclose(sq, np.sum(np.abs(ref64) ** 2, 0), rtol=rt, atol=rt)


def _lap(k, dtype):
    T = sp.diags_array([-1.0, 2.0, -1.0], offsets=[-1, 0, 1], shape=(k, k))
    return sp.csr_array(sp.kronsum(T, T, format="csr")).astype(dtype)


def _run(fn, *a, **kw):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        out = fn(*a, **kw)
    return out, [str(x.message).split("\n")[0][:25] for x in w]


CASES = {
    "largest": lambda A, n, rng: dict(largest=True, maxiter=200),
    "smallest_hist": lambda A, n, rng: dict(largest=False, maxiter=40, retLambdaHistory=True,
                                            retResidualNormsHistory=True),
    "M": lambda A, n, rng: dict(largest=False, maxiter=40, M=sp.diags_array(
        1 / A.diagonal()).astype(A.dtype), retResidualNormsHistory=True),
    "B": lambda A, n, rng: dict(maxiter=60, B=sp.diags_array(np.linspace(1, 2, n)).astype(
        A.dtype), retResidualNormsHistory=True),
    "Y": lambda A, n, rng: dict(maxiter=60, largest=False,
                                Y=rng.standard_normal((n, 2)).astype(A.dtype),
                                retResidualNormsHistory=True),
    "tol": lambda A, n, rng: dict(maxiter=100, tol=1e-3, retResidualNormsHistory=True),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128])
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("k", [1, 4])
@pytest.mark.parametrize("slab_rows", [None, 100])
def test_lobpcg_matches_scipy(dtype, case, k, slab_rows, monkeypatch):
    """``slab_rows``: the block work cut into slabs of at least that many rows
    (several slabs on several threads; None: the default, one slab at this size)."""
    if slab_rows is not None:
        monkeypatch.setattr(_lobpcg, "MIN_ROWS", slab_rows)
    rng = np.random.default_rng(3)
    A = _lap(30, dtype)
    n = A.shape[0]
    X = rng.standard_normal((n, k)).astype(dtype)
    kw = CASES[case](A, n, rng)
    if dtype == np.float32 and case == "largest":
        kw["tol"] = 1e-4
    ref, wref = _run(sla.lobpcg, A, X.copy(), **kw)

    def no_scipy(*a, **k):
        raise AssertionError("SciPy's loop ran")

    fast = L.lobpcg  # imported (lazily) before SciPy's is patched out
    monkeypatch.setattr(sla, "lobpcg", no_scipy)
    out, wout = _run(fast, spla.csr_array(A), X.copy(), **kw)
    if dtype != np.float32:
        # float32 near its attainable accuracy converges or not by rounding (fused
        # residual vs NumPy's three passes): SciPy itself is not deterministic there
        assert wout == wref
    assert len(out) == len(ref)
    rt = 1e-4 if dtype == np.float32 else 1e-9
    np.testing.assert_allclose(out[0], ref[0], rtol=rt, atol=rt)
    assert out[1].dtype == ref[1].dtype and out[1].shape == ref[1].shape
    for h, hr in zip(out[2:], ref[2:]):
        assert dtype == np.float32 or len(h) == len(hr)
    # the eigenvectors: residual of the pencil as small as SciPy's
    V = out[1]
    AV = A @ V
    BV = kw["B"] @ V if "B" in kw else V
    res = np.linalg.norm(AV - BV * out[0][None, :], axis=0)
    resr = np.linalg.norm(A @ ref[1] - (kw["B"] @ ref[1] if "B" in kw else ref[1])
                          * ref[0][None, :], axis=0)
    assert np.all(res <= 10 * resr + 100 * rt)


@pytest.mark.parametrize("layout", ["F", "strided"])
def test_lobpcg_x_layouts_and_no_write(layout):
    rng = np.random.default_rng(5)
    A = _lap(25, np.float64)
    n = A.shape[0]
    X0 = rng.standard_normal((n, 3))
    X = np.asfortranarray(X0) if layout == "F" else np.repeat(X0, 2, axis=1)[:, ::2]
    keep = X.copy()
    w, _ = L.lobpcg(spla.csr_array(A), X, largest=True, tol=1e-8, maxiter=300)
    np.testing.assert_array_equal(X, keep)
    ref = np.linalg.eigvalsh(A.toarray())[::-1][:3]
    np.testing.assert_allclose(w, ref, rtol=1e-7)


def test_lobpcg_delegates_dense_fallback():
    A = _lap(3, np.float64)
    X = np.random.default_rng(0).standard_normal((9, 2))
    with pytest.warns(UserWarning, match="too small"):
        w, _ = L.lobpcg(spla.csr_array(A), X, largest=True)
    np.testing.assert_allclose(w, np.linalg.eigvalsh(A.toarray())[::-1][:2], rtol=1e-10)


def test_rows_slabs_match_one_pass(monkeypatch):
    """_Rows: the Gram matrices and products of the slabs equal NumPy's on the whole."""
    import numba

    monkeypatch.setattr(_lobpcg, "MIN_ROWS", 10)
    rng = np.random.default_rng(2)
    V, W = rng.standard_normal((1001, 3)), rng.standard_normal((1001, 2))
    Vc = V + 1j * rng.standard_normal(V.shape)
    C = rng.standard_normal((3, 3))
    rows = _lobpcg._Rows(1001)
    try:
        assert len(rows.ranges) == min(numba.get_num_threads(), 100)
        g, gc = rows.gram([(V, W), (Vc, Vc)])
        np.testing.assert_allclose(g, V.T @ W, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(gc, Vc.conj().T @ Vc, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(rows.dot(V, C), V @ C, rtol=1e-12, atol=1e-12)
    finally:
        rows.close()


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_lobpcg_verbosity_output_like_scipy(capsys):
    """verbosityLevel=1 prints SciPy's lines (numbers may differ in the last digits)."""
    rng = np.random.default_rng(7)
    A = _lap(20, np.float64)
    X = rng.standard_normal((A.shape[0], 3))
    sla.lobpcg(A, X.copy(), maxiter=5, verbosityLevel=1)
    ref = capsys.readouterr().out
    L.lobpcg(spla.csr_array(A), X.copy(), maxiter=5, verbosityLevel=1)
    out = capsys.readouterr().out

    def words(text):
        return [line for line in text.splitlines() if line and not line.lstrip()[:1].isdigit()
                and not line.lstrip().startswith(("[", "-"))]

    assert words(out) == words(ref)
    assert len(out.splitlines()) == len(ref.splitlines())


def test_lobpcg_warnings_point_at_the_caller():
    A = _lap(20, np.float64)
    X = np.random.default_rng(1).standard_normal((A.shape[0], 2))
    with pytest.warns(UserWarning, match="Exited") as rec:
        L.lobpcg(spla.csr_array(A), X, maxiter=2, tol=1e-14)
    assert {w.filename for w in rec} == {__file__}
