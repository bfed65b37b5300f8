"""spla.dask (row blocks of spla arrays as Dask chunks), spla.linalg.cg, and the
Matrix Market row-block reader, against dense float64 and SciPy references.

Most tests run Dask's synchronous scheduler in this process; the tests that take
the ``client`` fixture share ONE LocalCluster of two single-threaded worker
processes (module scope) and check that results equal the single-process ones,
also when a worker dies in the middle of a computation.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spl
from hypothesis import given, settings
from hypothesis import strategies as st

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")

import spla  # noqa: E402
import spla.dask as sd  # noqa: E402
from spla.testing import strategies as sst  # noqa: E402
from spla.testing._strategies_banded import banded_arrays  # noqa: E402
from spla.testing._strategies_nm import nm_arrays  # noqa: E402

from _util import assert_product, ref_dense  # noqa: E402

few = settings(max_examples=max(25, settings.default.max_examples // 10), deadline=None)


@pytest.fixture(autouse=True)
def _local_scheduler(request):
    """The synchronous scheduler, except for the tests on the LocalCluster."""
    if "client" in request.fixturenames:
        yield
        return
    with dask.config.set(scheduler="synchronous"):
        yield


@st.composite
def row_chunks(draw, m):
    """An int (rows per chunk) or explicit sizes adding up to m (zeros allowed)."""
    if draw(st.booleans()):
        return draw(st.integers(1, max(1, m + 1)))
    cuts = sorted(draw(st.lists(st.integers(0, m), max_size=5)))
    bounds = [0] + cuts + [m]
    return tuple(b - a for a, b in zip(bounds[:-1], bounds[1:]))


def operand(seed, shape, dtype):
    rng = np.random.default_rng(seed)
    x = rng.integers(-8, 9, size=shape) / 4.0
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.integers(-8, 9, size=shape) / 4.0
    return x.astype(dtype)


def dense_of(A):
    """Float64 (complex128) reference; duplicates of CSR storage summed in float64."""
    if A.format == "csr":
        return ref_dense(A)
    return A.toarray().astype(np.complex128 if A.dtype.kind == "c" else np.float64)


def check_blocks(Ad, A, chunks):
    """Every chunk is a SparseChunk holding exactly rows r0:r1 of A."""
    D = A.toarray()
    sizes = Ad.chunks[0]
    if isinstance(chunks, tuple):
        assert sizes == chunks
    assert Ad.chunks[1] == (A.shape[1],)
    assert Ad.shape == A.shape and Ad.dtype == A.dtype
    r = 0
    for i, s in enumerate(sizes):
        c = Ad.blocks[i].compute()
        assert isinstance(c, sd.SparseChunk)
        assert c.shape == (s, A.shape[1]) and c.dtype == A.dtype
        np.testing.assert_array_equal(c.toarray(), D[r:r + s])
        r += s
    whole = Ad.compute()
    assert isinstance(whole, sd.SparseChunk)
    np.testing.assert_array_equal(whole.toarray(), D)
    np.testing.assert_array_equal(whole.to_spla().toarray(), D)


def check_products(Ad, A, seed):
    D = dense_of(A)
    # The error bound scales with sum |a_ij x_j| over the stored entries: for CSR
    # storage with duplicates that cancel, |D| would be 0 where rounding is not.
    Dabs = ref_dense(A, True) if A.format == "csr" else np.abs(D)
    m, n = A.shape
    nterms = max(1, int((D != 0).sum(axis=1).max()) if m and n else 1)
    # Dask's own matmul (2026.8) returns wrong shapes when the left operand has
    # 0-row chunks, whatever the chunk type (see docs/dask.md); matvec handles them.
    dask_matmul = 0 not in Ad.chunks[0]
    for dt in ("float64", A.dtype.name):
        x = operand(seed, (n,), dt)
        xd = da.from_array(x, chunks=max(1, n // 3 + 1))  # several chunks: columns split
        if dask_matmul:
            y = (Ad @ x).compute()
            assert y.shape == (m,) and y.dtype == np.result_type(A.dtype, x.dtype)
            assert_product(y, D, Dabs, x, nterms, what="Ad @ x")
            assert_product((Ad @ xd).compute(), D, Dabs, x, nterms, what="Ad @ dask x")
        y = sd.matvec(Ad, xd).compute()
        assert y.shape == (m,) and y.dtype == np.result_type(A.dtype, x.dtype)
        assert_product(y, D, Dabs, x, nterms, what="matvec")
    X = operand(seed + 1, (n, 3), A.dtype)
    if dask_matmul:
        Y = (Ad @ X).compute()
        assert Y.shape == (m, 3)
        assert_product(Y, D, Dabs, X, nterms, what="Ad @ X")
    assert_product(sd.matvec(Ad, da.from_array(X, chunks=(2, 2))).compute(), D, Dabs, X,
                   nterms, what="matvec X")


@few
@given(A=sst.csr_arrays(max_side=14), data=st.data(), seed=st.integers(0, 2**31))
def test_csr_blocks_and_products(A, data, seed):
    chunks = data.draw(row_chunks(A.shape[0]))
    Ad = sd.from_spla(A, chunks)
    check_blocks(Ad, A, chunks)
    for i in range(len(Ad.chunks[0])):
        c = Ad.blocks[i].compute()
        assert c.format == "csr" and c.block.indices.dtype == A.indices.dtype
    check_products(Ad, A, seed)


@few
@given(A=banded_arrays(max_side=14), data=st.data(), seed=st.integers(0, 2**31))
def test_banded_blocks_stay_banded(A, data, seed):
    chunks = data.draw(row_chunks(A.shape[0]))
    Ad = sd.from_spla(A, chunks)
    check_blocks(Ad, A, chunks)
    for i in range(len(Ad.chunks[0])):
        c = Ad.blocks[i].compute()
        assert c.format == "banded"
        # The window is no wider than the band allows.
        assert c.block.shape[1] <= c.shape[0] + A.bandwidth[0] + A.bandwidth[1]
    check_products(Ad, A, seed)


@few
@given(A=nm_arrays(max_side=14, dtype=st.sampled_from(["float32", "float64"])),
       data=st.data(), seed=st.integers(0, 2**31))
def test_nm_blocks_stay_nm(A, data, seed):
    chunks = data.draw(row_chunks(A.shape[0]))
    Ad = sd.from_spla(A, chunks)
    check_blocks(Ad, A, chunks)
    for i in range(len(Ad.chunks[0])):
        c = Ad.blocks[i].compute()
        assert c.format == "nm" and (c.block.n, c.block.m) == (A.n, A.m)
    assert Ad.compute().format == "nm"
    check_products(Ad, A, seed)


@few
@given(A=sst.csr_arrays(max_side=14), data=st.data())
def test_slicing_and_rechunk(A, data):
    m, n = A.shape
    Ad = sd.from_spla(A, data.draw(row_chunks(m)))
    D = A.toarray()
    r0 = data.draw(st.integers(0, m))
    r1 = data.draw(st.integers(r0, m))
    c0 = data.draw(st.integers(0, n))
    c1 = data.draw(st.integers(c0, n))
    np.testing.assert_array_equal(Ad[r0:r1, c0:c1].compute().toarray(), D[r0:r1, c0:c1])
    rc = (data.draw(st.integers(1, max(1, m))), data.draw(st.integers(1, max(1, n))))
    R = Ad.rechunk(rc).compute()
    # Dask rechunks an array without elements to an empty NumPy array.
    np.testing.assert_array_equal(R.toarray() if m and n else R, D)


def test_x_at_A_and_dot():
    S = sp.random_array((23, 17), density=0.2, random_state=3, format="csr")
    Ad = sd.from_scipy(S, 5)
    x, y = np.arange(17.0), np.arange(23.0)
    np.testing.assert_allclose(Ad.dot(x).compute(), S @ x, rtol=1e-13)
    np.testing.assert_allclose((y @ Ad).compute(), y @ S, rtol=1e-13)


def test_from_scipy_formats():
    S = sp.diags_array([np.ones(9), 2 * np.ones(10), 3 * np.ones(8)], offsets=[-1, 0, 2])
    for fmt, kw in (("csr", {}), ("banded", {}), ("nm", {"n": 3, "m": 4})):
        Ad = sd.from_scipy(S, (3, 0, 7), format=fmt, **kw)
        assert Ad.blocks[0].compute().format == fmt
        np.testing.assert_array_equal(Ad.compute().toarray(), S.toarray())


def test_csr_blocks_are_views_of_the_array():
    """The row blocks are the arrays' own row views (no copy of the entries); the
    column window is compacted on top, and A[r0:r1] stays a copy."""
    S = sp.random_array((40, 30), density=0.2, random_state=5, format="csr")
    A = spla.csr_array(S)
    Ad = sd.from_spla(A, 9)
    for i, (r0, r1) in enumerate([(0, 9), (9, 18), (18, 27), (27, 36), (36, 40)]):
        c = Ad.blocks[i].compute()
        assert np.shares_memory(c.block.data, A.data)
        lo, hi = c.window
        np.testing.assert_array_equal(c.block.toarray(), S[r0:r1].toarray()[:, lo:hi])
        assert not np.shares_memory(A[r0:r1].data, A.data)
    sub = Ad.blocks[1].compute()[2:7, 3:25]
    np.testing.assert_array_equal(sub.toarray(), S[11:16, 3:25].toarray())


def test_csc_and_empty_matrices():
    A = spla.csr_array(np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]])).T  # csc (3, 2)
    Ad = sd.from_spla(A, 1)
    assert Ad.blocks[0].compute().format == "csr"
    np.testing.assert_array_equal((Ad @ np.ones(2)).compute(), [1.0, 3.0, 2.0])
    for shape in ((0, 0), (0, 4), (4, 0)):
        E = sd.from_spla(spla.csr_array(np.zeros(shape)), 2)
        assert E.shape == shape
        np.testing.assert_array_equal((E @ np.ones(shape[1])).compute(), np.zeros(shape[0]))


def test_validation():
    A = spla.csr_array(np.eye(4))
    with pytest.raises(ValueError, match="add up to 5 rows"):
        sd.from_spla(A, (2, 3))
    with pytest.raises(ValueError, match="not be negative"):
        sd.from_spla(A, (5, -1))
    with pytest.raises(ValueError, match=">= 1 rows"):
        sd.from_spla(A, 0)
    with pytest.raises(TypeError, match="bool"):
        sd.from_spla(A, True)
    with pytest.raises(TypeError, match="row_chunks"):
        sd.from_spla(A, "auto")
    with pytest.raises(TypeError, match="from_scipy"):
        sd.from_spla(A.to_scipy(), 2)
    with pytest.raises(TypeError, match="spla array"):
        sd.from_spla(np.eye(4), 2)
    with pytest.raises(TypeError, match="SciPy sparse"):
        sd.from_scipy(A, 2)
    with pytest.raises(ValueError, match="format must be one of"):
        sd.from_scipy(A.to_scipy(), 2, format="coo")
    with pytest.raises(TypeError, match="Dask array of SparseChunks"):
        sd.matvec(da.ones((4, 4)), np.ones(4))
    Ad = sd.from_spla(A, 2)
    with pytest.raises(ValueError, match="dimension mismatch"):
        sd.matvec(Ad, np.ones(3))
    c = Ad.blocks[0].compute()
    with pytest.raises(TypeError, match="slices only"):
        c[0]
    with pytest.raises(ValueError, match="step 1"):
        c[::2]
    with pytest.raises(ValueError, match="dimension mismatch"):
        c @ np.ones(3)
    with pytest.raises(TypeError, match="spla array"):
        sd.SparseChunk(np.eye(2))
    with pytest.raises(ValueError, match="does not fit"):
        sd.SparseChunk(A, shape=(4, 3))

    def bad_shape(r0, r1):
        return sp.eye_array(r1 - r0, 3, format="csr")

    with pytest.raises(ValueError, match="returned shape"):
        sd.from_row_blocks(bad_shape, (4, 4), 2).compute()


def test_from_row_blocks_matches_from_spla():
    L = laplacian_2d(7)

    def rows(r0, r1):
        return L[r0:r1]

    Ad = sd.from_row_blocks(rows, L.shape, (10, 0, 39), dtype="float32")
    assert Ad.dtype == np.float32 and Ad.blocks[0].compute().dtype == np.float32
    np.testing.assert_array_equal(Ad.compute().toarray(), L.toarray().astype(np.float32))


def test_import_spla_does_not_import_dask_and_error_names_extra():
    code = textwrap.dedent("""
        import sys
        import spla
        assert "dask" not in sys.modules, "import spla imported dask"
        sys.modules["dask"] = None  # as if dask were not installed
        try:
            import spla.dask
        except ImportError as e:
            assert "spla[dask]" in str(e), str(e)
            print("ok")
    """)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


# -- conjugate gradients ---------------------------------------------------------------

def laplacian_2d(k, shift=0.0):
    """The 5-point Laplacian of a k x k grid (plus shift on the diagonal), CSR."""
    T = sp.diags_array([-np.ones(k - 1), 2 * np.ones(k), -np.ones(k - 1)], offsets=[-1, 0, 1])
    I = sp.eye_array(k)
    return (sp.kron(T, I) + sp.kron(I, T) + shift * sp.eye_array(k * k)).tocsr()


def spd(seed, n, dtype):
    rng = np.random.default_rng(seed)
    B = rng.standard_normal((n, n))
    if np.dtype(dtype).kind == "c":
        B = B + 1j * rng.standard_normal((n, n))
    D = B @ B.conj().T + n * np.eye(n)
    D[np.abs(D) < 0.5 * np.sqrt(n)] = 0  # sparse, still diagonally dominant: SPD
    return D.astype(dtype)


@few
@given(n=st.integers(1, 25), dtype=st.sampled_from(["float32", "float64", "complex128"]),
       seed=st.integers(0, 2**31), x0=st.booleans(), precond=st.booleans())
def test_cg_matches_scipy(n, dtype, seed, x0, precond):
    D = spd(seed, n, dtype)
    S = sp.csr_array(D)
    b = operand(seed, (n,), dtype)
    kw = {"rtol": 1e-6}
    if x0:
        kw["x0"] = operand(seed + 1, (n,), dtype)
    if precond:
        kw["M"] = sp.diags_array(1 / np.diag(D).real).astype(dtype)
    xs, info_s = spl.cg(S, b, **kw)
    calls = []
    # A LinearOperator: the same products as SciPy's, so the same bits.
    lin_kw = dict(kw, M=spl.aslinearoperator(kw["M"]) if precond else None)
    xl, info_l = spla.linalg.cg(spl.aslinearoperator(S), b, callback=calls.append, **lin_kw)
    ref_calls = []
    spl.cg(S, b, callback=ref_calls.append, **kw)
    np.testing.assert_array_equal(xl, xs)
    assert info_l == info_s and len(calls) == len(ref_calls)
    # spla arrays (and a spla preconditioner): the products round differently.
    sp_kw = dict(kw, M=spla.csr_array(kw["M"]) if precond else None)
    xa, info_a = spla.linalg.cg(spla.csr_array(S), b, **sp_kw)
    assert xa.dtype == xs.dtype and info_a == 0 and info_s == 0
    tol = 1e-3 if np.dtype(dtype) in (np.float32, np.complex64) else 1e-10
    scale = np.linalg.norm(np.linalg.solve(D.astype(np.complex128), b))
    assert np.linalg.norm(xa - xs) <= tol * max(scale, 1e-30) * n


def test_cg_conventions():
    L = laplacian_2d(6)
    A = spla.csr_array(L)
    b = np.ones(36)
    # b of shape (n, 1), integer b, maxiter exhausted, zero b, "Mb", dense A.
    x1, i1 = spla.linalg.cg(A, b.reshape(-1, 1))
    xs, is_ = spl.cg(L, b)
    assert x1.shape == (36,) and i1 == is_ == 0
    np.testing.assert_allclose(x1, xs, rtol=1e-10)
    xi, _ = spla.linalg.cg(A, np.ones(36, dtype=np.int64))
    assert xi.dtype == np.float64
    x3, i3 = spla.linalg.cg(A, b, maxiter=3)
    xs3, is3 = spl.cg(L, b, maxiter=3)
    assert i3 == is3 == 3
    np.testing.assert_allclose(x3, xs3, rtol=1e-12)
    x0, i0 = spla.linalg.cg(A, np.zeros(36))
    assert i0 == 0 and not x0.any()
    M = sp.diags_array(1 / L.diagonal())
    xm, im = spla.linalg.cg(A, b, x0="Mb", M=M)
    xsm, ism = spl.cg(L, b, x0="Mb", M=M)
    assert im == ism
    np.testing.assert_allclose(xm, xsm, rtol=1e-9)
    xd, _ = spla.linalg.cg(L.toarray(), b)
    np.testing.assert_allclose(xd, xs, rtol=1e-10)
    with pytest.raises(ValueError, match="square"):
        spla.linalg.cg(spla.csr_array(np.ones((2, 3))), np.ones(2))
    with pytest.raises(ValueError, match="incompatible"):
        spla.linalg.cg(A, np.ones(5))
    with pytest.raises(ValueError, match="incompatible"):
        spla.linalg.cg(A, b, x0=np.ones(5))
    with pytest.raises(ValueError, match="atol"):
        spla.linalg.cg(A, b, atol=-1.0)
    with pytest.raises(TypeError, match="rtol"):
        spla.linalg.cg(A, b, rtol="tight")
    with pytest.raises(ValueError, match="maxiter"):
        spla.linalg.cg(A, b, maxiter=-1)
    with pytest.raises(ValueError, match="different shapes"):
        spla.linalg.cg(A, b, M=sp.eye_array(5))
    with pytest.raises(TypeError, match="LinearOperator"):
        spla.linalg.cg("A", b)


@pytest.mark.parametrize("fmt", ["csr", "banded"])
def test_cg_dask_matches_scipy(fmt):
    L = laplacian_2d(9, shift=0.1)
    b = operand(1, (81,), "float64")
    xs, info_s = spl.cg(L, b, rtol=1e-8)
    Ld = sd.from_scipy(L, (20, 0, 1, 60), format=fmt)
    calls = []
    x, info = spla.linalg.cg(Ld, da.from_array(b, chunks=40), rtol=1e-8, callback=calls.append)
    assert isinstance(x, da.Array) and info == info_s == 0
    np.testing.assert_allclose(x.compute(), xs, rtol=1e-9, atol=1e-12)
    ref_calls = []
    spl.cg(L, b, rtol=1e-8, callback=ref_calls.append)
    assert abs(len(calls) - len(ref_calls)) <= 1  # the stopping test may round apart
    # A preconditioner given as a Dask matrix, and a start x0.
    Md = sd.from_scipy(sp.diags_array(1 / L.diagonal()).tocsr(), 30)
    xm, im = spla.linalg.cg(Ld, b, x0=np.ones(81), M=Md, rtol=1e-8)
    xsm, ism = spl.cg(L, b, x0=np.ones(81), M=sp.diags_array(1 / L.diagonal()), rtol=1e-8)
    assert im == ism == 0
    np.testing.assert_allclose(xm.compute(), xsm, rtol=1e-9, atol=1e-12)
    xmax, imax = spla.linalg.cg(Ld, b, maxiter=2)
    np.testing.assert_allclose(xmax.compute(), spl.cg(L, b, maxiter=2)[0], rtol=1e-12)
    assert imax == 2
    with pytest.raises(TypeError, match="Dask matrix"):
        spla.linalg.cg(Ld, b, M=sp.eye_array(81))


@pytest.mark.parametrize("solver", ["gmres", "minres", "bicgstab", "lsqr"])
def test_scipy_krylov_solvers_over_dask_matrices(solver):
    """spla.linalg's SciPy-loop solvers take a Dask matrix: same iterates as SciPy's."""
    L = laplacian_2d(9, shift=0.1)
    b = operand(2, (81,), "float64")
    Ld = sd.from_scipy(L, (20, 0, 1, 60), format="csr")
    kwargs = {"atol": 1e-12, "btol": 1e-12} if solver == "lsqr" else {"rtol": 1e-10}
    x = getattr(spla.linalg, solver)(Ld, b, **kwargs)
    xs = getattr(spl, solver)(L, b, **kwargs)
    assert x[1] == xs[1]
    np.testing.assert_allclose(x[0], xs[0], rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="square"):
        spla.linalg.gmres(sd.from_scipy(sp.random_array((6, 4), density=0.5, rng=0), 3),
                          np.ones(6))


def test_dask_linear_operator_products_and_eigsh():
    rng = np.random.default_rng(3)
    S = sp.random_array((30, 17), density=0.3, rng=rng, format="csr")
    S = S + 1j * sp.random_array((30, 17), density=0.3, rng=rng, format="csr")
    op = sd.aslinearoperator(sd.from_scipy(S, (7, 0, 13, 10)))
    x, y = rng.standard_normal(17), rng.standard_normal((30, 3))
    np.testing.assert_allclose(op @ x, S @ x, rtol=1e-12)
    np.testing.assert_allclose(op.rmatmat(y), S.conj().T @ y, rtol=1e-12)
    np.testing.assert_allclose(op.rmatvec(y[:, 0]), S.conj().T @ y[:, 0], rtol=1e-12)
    L = laplacian_2d(9, shift=0.1)
    w = spla.linalg.eigsh(sd.from_scipy(L, 30), k=3, which="LA")[0]
    np.testing.assert_allclose(np.sort(w), np.sort(spl.eigsh(L, k=3, which="LA")[0]), rtol=1e-10)
    with pytest.raises(TypeError, match="SparseChunks"):
        sd.aslinearoperator(da.ones((3, 3)))


# -- Matrix Market row blocks ----------------------------------------------------------

def write_mtx(path, lines, header, size):
    with open(path, "w") as f:
        f.write(header + "\n% a comment\n" + size + "\n" + "\n".join(lines) + "\n")


@few
@given(A=sst.csr_arrays(max_side=14, dtype=st.sampled_from(["float64", "complex128"]),
                        canonical=True),
       data=st.data(), seed=st.integers(0, 2**31))
def test_read_matrix_market_sorted_and_shuffled(tmp_path_factory, A, data, seed):
    d = tmp_path_factory.mktemp("mm")
    path = str(d / "a.mtx")
    spla.io.mmwrite(path, A)
    chunks = data.draw(row_chunks(A.shape[0]))
    seg = data.draw(st.sampled_from([1, 40, 1 << 20]))
    ref = spla.io.mmread(path).toarray()
    Ad = sd.read_matrix_market(path, chunks, segment_bytes=seg)
    np.testing.assert_array_equal(Ad.compute().toarray(), ref)
    # The same entries in random order (coordinate files need not be sorted).
    with open(path) as f:
        text = f.read().splitlines()
    head = [i for i, t in enumerate(text) if not t.startswith("%")][0]
    body = text[head + 1:]
    np.random.default_rng(seed).shuffle(body)
    shuffled = str(d / "b.mtx")
    with open(shuffled, "w") as f:
        f.write("\n".join(text[:head + 1] + body) + "\n")
    Bd = sd.read_matrix_market(shuffled, chunks, segment_bytes=seg)
    np.testing.assert_array_equal(Bd.compute().toarray(), ref)


@pytest.mark.parametrize("field,symmetry", [("real", "symmetric"), ("real", "skew-symmetric"),
                                            ("complex", "hermitian"), ("pattern", "general"),
                                            ("integer", "symmetric")])
def test_read_matrix_market_fields_and_symmetries(tmp_path, field, symmetry):
    entries = [(1, 1), (3, 1), (2, 2), (4, 2), (5, 3), (4, 4), (5, 5)]
    if symmetry == "skew-symmetric":
        entries = [(i, j) for i, j in entries if i != j]
    lines = []
    for k, (i, j) in enumerate(entries):
        v = {"real": f"{k + 0.5}", "integer": f"{k + 1}", "pattern": "",
             "complex": f"{k + 1.0} {-k - 0.25}"}[field]
        if field == "complex" and i == j:
            v = f"{k + 1.0} 0"
        lines.append(f"{i} {j} {v}".strip())
    path = str(tmp_path / "s.mtx")
    write_mtx(path, lines, f"%%MatrixMarket matrix coordinate {field} {symmetry}",
              f"5 5 {len(entries)}")
    ref = spla.io.mmread(path).toarray()
    for chunks in (1, 2, (5,), (0, 2, 3)):
        Ad = sd.read_matrix_market(path, chunks, segment_bytes=8)
        np.testing.assert_array_equal(Ad.compute().toarray(), ref)


def test_read_matrix_market_errors(tmp_path):
    path = str(tmp_path / "bad.mtx")
    write_mtx(path, ["1 1 1.0", "3 1 2.0"], "%%MatrixMarket matrix coordinate real general",
              "2 2 2")
    with pytest.raises(ValueError, match="outside the shape"):
        sd.read_matrix_market(path, 1)
    write_mtx(path, ["1 1 1.0"], "%%MatrixMarket matrix coordinate real general", "2 2 2")
    with pytest.raises(ValueError, match="announces 2 entries"):
        sd.read_matrix_market(path, 1)
    write_mtx(path, ["1.0", "2.0"], "%%MatrixMarket matrix array real general", "2 1")
    with pytest.raises(ValueError, match="only coordinate"):
        sd.read_matrix_market(path, 1)
    import gzip

    gz = str(tmp_path / "a.mtx.gz")
    with gzip.open(gz, "wb") as f:
        f.write(b"%%MatrixMarket matrix coordinate real general\n1 1 0\n")
    with pytest.raises(ValueError, match="compressed"):
        sd.read_matrix_market(gz, 1)
    with pytest.raises(FileNotFoundError):
        sd.read_matrix_market(str(tmp_path / "missing.mtx"), 1)
    write_mtx(path, ["1 1 1.0 2.0"], "%%MatrixMarket matrix coordinate complex general", "1 1 1")
    with pytest.raises(TypeError, match="complex"):
        sd.read_matrix_market(path, 1, dtype="float64")


# -- GPU blocks ----------------------------------------------------------------------------

@pytest.mark.gpu
def test_gpu_blocks():
    cupy = pytest.importorskip("cupy", reason="cupy is not installed: GPU chunks untested here")
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("CuPy sees no CUDA device: GPU chunks untested here")
    except cupy.cuda.runtime.CUDARuntimeError:
        pytest.skip("CuPy sees no CUDA device: GPU chunks untested here")
    pytest.importorskip("spla_cuda", reason="the spla_cuda backend is not importable")
    L = laplacian_2d(8)
    for fmt in ("csr", "banded"):
        A = (spla.csr_array(L) if fmt == "csr" else spla.banded_array(L)).to_device("cuda")
        Ad = sd.from_spla(A, 13)
        assert Ad.blocks[0].compute().device == "cuda"
        x = cupy.arange(64, dtype=cupy.float64)
        y = (Ad @ da.from_array(x, chunks=-1, asarray=False)).compute()
        np.testing.assert_allclose(cupy.asnumpy(y), L @ np.arange(64.0), rtol=1e-12)
        xg, info = spla.linalg.cg(A, cupy.ones(64), rtol=1e-10)
        assert info == 0
        np.testing.assert_allclose(cupy.asnumpy(xg), spl.cg(L, np.ones(64), rtol=1e-10)[0],
                                   rtol=1e-8)


# -- a LocalCluster of two worker processes ------------------------------------------------

@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.pathsep.join([root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                                     if p])
    with dask.config.set({"distributed.scheduler.allowed-failures": 3}):
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=None, env={"PYTHONPATH": path})
        c = distributed.Client(cluster)
        try:
            yield c
        finally:
            c.close()
            cluster.close()


def test_cluster_products_equal_single_process(client):
    assert len(client.scheduler_info()["workers"]) == 2
    L = laplacian_2d(30)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(900)
    X = rng.standard_normal((900, 4))
    A = spla.csr_array(L)
    for fmt in ("csr", "banded", "nm"):
        B = {"csr": A, "banded": spla.banded_array(L),
             "nm": spla.nm_array(L.toarray(), n=3, m=4, prune=True)}[fmt]
        Ad = sd.from_spla(B, (400, 0, 1, 499)).persist()
        y = (Ad @ x).compute()
        np.testing.assert_allclose(y, B @ x, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose((Ad @ X).compute(), B @ X, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(sd.matvec(Ad, da.from_array(x, chunks=300)).compute(),
                                   B @ x, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose((Ad.compute()).toarray(), B.toarray())
    b = rng.standard_normal(900)
    xs, info_s = spl.cg(L, b, rtol=1e-8)
    xd, info = spla.linalg.cg(sd.from_spla(A, 450), b, rtol=1e-8)
    assert info == info_s == 0
    np.testing.assert_allclose(xd.compute(), xs, rtol=1e-8, atol=1e-10)


def test_cluster_reads_matrix_market(client, tmp_path):
    L = laplacian_2d(12)
    path = str(tmp_path / "lap.mtx")
    spla.io.mmwrite(path, spla.csr_array(L))
    Ad = sd.read_matrix_market(path, 50, segment_bytes=256)
    np.testing.assert_array_equal(Ad.compute().toarray(), L.toarray())
    np.testing.assert_allclose((Ad @ np.ones(144)).compute(), L @ np.ones(144), rtol=1e-14)


def test_cluster_survives_a_killed_worker(client, tmp_path):
    """The task of the first block kills its worker process on the first try: the
    nanny restarts the worker, the scheduler reruns the task, the result is right."""
    marker = str(tmp_path / "killed-once")
    L = laplacian_2d(20)

    def rows(r0, r1):
        if r0 == 0 and not os.path.exists(marker):
            with open(marker, "w") as f:
                f.write(str(os.getpid()))
            os._exit(1)
        return L[r0:r1]

    pids_before = set(client.run(os.getpid).values())
    Ad = sd.from_row_blocks(rows, L.shape, 100)
    y = (Ad @ np.arange(400.0)).compute()
    assert os.path.exists(marker), "the killing task did not run"
    with open(marker) as f:
        killed = int(f.read())
    assert killed in pids_before
    np.testing.assert_allclose(y, L @ np.arange(400.0), rtol=1e-14)
    client.wait_for_workers(2, timeout=60)
    assert killed not in set(client.run(os.getpid).values())
