"""spla.linalg.lgmres and gcrotmk (SciPy's iterations with spla's fused Gram-Schmidt for CPU
spla arrays) against scipy.sparse.linalg: the same info, callbacks, solutions, augmentation
vectors; the paths that still go to SciPy; bad input."""

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
from spla.linalg import _lgmres


def run_both(name, A, S, b, **kw):
    """(x, info, callback iterates, CU/outer_v list) of spla's and SciPy's solver."""
    out = []
    for fn, mat in ((getattr(L, name), A), (getattr(sla, name), S)):
        seen = []
        args = dict(kw)
        for key in ("CU", "outer_v"):  # each solver gets its own copy of the list
            if key in args and args[key] is not None:
                args[key] = [tuple(None if v is None else v.copy() for v in pair)
                             for pair in args[key]]
        args["callback"] = lambda xk, seen=seen: seen.append(np.copy(xk))
        x, info = fn(mat, b, **args)
        out.append((x, info, seen, args.get("CU", args.get("outer_v"))))
    return out


def check_same(ours, theirs, dtype):
    (x, info, seen, kept), (xs, infos, seens, kepts) = ours, theirs
    assert info == infos
    assert len(seen) == len(seens)
    assert x.dtype == xs.dtype and x.shape == xs.shape
    r = 2e-3 if single(dtype) else 1e-8
    scale = max(np.abs(xs).max(initial=0.0), 1.0)
    np.testing.assert_allclose(x, xs, rtol=r, atol=r * scale)
    for a, c in zip(seen, seens):
        np.testing.assert_allclose(a, c, rtol=r, atol=r * scale)
    if kept is not None:
        # the kept (v, A v) / (c, u) pairs: as many as SciPy's, and consistent. Their
        # values are not compared with SciPy's: the last cycle's step is a normalised
        # correction of the size of the residual, which rounding sets near convergence.
        assert len(kept) == len(kepts)
        for pair, pairs in zip(kept, kepts):
            assert [v is None for v in pair] == [v is None for v in pairs]
            assert all(v is None or v.dtype == vs.dtype for v, vs in zip(pair, pairs))


def check_pairs(kept, S, name, dtype):
    """lgmres: ``(v, A v)`` with ``|v| = 1``; gcrotmk: ``(c, u)`` with ``c = A u``."""
    r = 1e-3 if single(dtype) else 1e-8
    for first, second in kept:
        if name == "lgmres":
            assert abs(np.linalg.norm(first) - 1) < r
            if second is not None:
                np.testing.assert_allclose(S @ first, second, rtol=r, atol=r)
        elif first is not None:
            np.testing.assert_allclose(S @ second, first, rtol=r, atol=r)


def precond_and_x0(S, n, dtype, seed, precond, x0, kw):
    if precond is not None:  # Jacobi
        Dinv = sp.csr_array(sp.diags_array(1.0 / S.diagonal()).astype(dtype))
        kw["M"] = spla.csr_array(Dinv) if precond == "spla" else sla.aslinearoperator(Dinv)
    if x0 == "random":
        kw["x0"] = np.random.default_rng(seed + 1).standard_normal(n).astype(dtype)


@scaled_examples(0.3)
@given(n=st.integers(1, 60), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16),
       maxiter=st.sampled_from([1, 3, 1000]), inner_m=st.sampled_from([1, 4, 30]),
       outer_k=st.sampled_from([0, 1, 3]), store=st.booleans(), prepend=st.booleans(),
       x0=st.sampled_from([None, "random"]), precond=st.sampled_from([None, "spla",
                                                                       "operator"]),
       index_dtype=st.sampled_from(["int32", "int64"]), fmt=st.sampled_from(["csr", "csc"]),
       empty=st.integers(0, 3), duplicates=st.booleans(), strided=st.booleans())
def test_lgmres_same_iterations_as_scipy(n, dtype, seed, maxiter, inner_m, outer_k, store,
                                         prepend, x0, precond, index_dtype, fmt, empty,
                                         duplicates, strided):
    S, b = system(n, dtype, seed, empty_offdiag_rows=empty, duplicates=duplicates)
    A = spla_of(S, index_dtype, fmt)
    if strided:
        b = np.repeat(b, 2)[::2]
    kw = dict(rtol=1e-3 if single(dtype) else 1e-9, maxiter=maxiter, inner_m=inner_m,
              outer_k=outer_k, store_outer_Av=store, prepend_outer_v=prepend, outer_v=[])
    precond_and_x0(S, n, dtype, seed, precond, x0, kw)
    ours, theirs = run_both("lgmres", A, S, b, **kw)
    check_same(ours, theirs, dtype)
    if precond is None:  # with M, the stored A v is M A v
        check_pairs(ours[3], S, "lgmres", dtype)


@scaled_examples(0.3)
@given(n=st.integers(1, 60), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16),
       maxiter=st.sampled_from([1, 3, 1000]), m=st.sampled_from([1, 3, 20]),
       k=st.sampled_from([None, 1, 2, 5]), truncate=st.sampled_from(["oldest", "smallest"]),
       discard_C=st.booleans(), x0=st.sampled_from([None, "random"]),
       precond=st.sampled_from([None, "spla", "operator"]),
       index_dtype=st.sampled_from(["int32", "int64"]), fmt=st.sampled_from(["csr", "csc"]),
       empty=st.integers(0, 3), duplicates=st.booleans(), strided=st.booleans())
def test_gcrotmk_same_iterations_as_scipy(n, dtype, seed, maxiter, m, k, truncate, discard_C,
                                          x0, precond, index_dtype, fmt, empty, duplicates,
                                          strided):
    S, b = system(n, dtype, seed, empty_offdiag_rows=empty, duplicates=duplicates)
    A = spla_of(S, index_dtype, fmt)
    if strided:
        b = np.repeat(b, 2)[::2]
    kw = dict(rtol=1e-3 if single(dtype) else 1e-9, maxiter=maxiter, m=m, k=k,
              truncate=truncate, discard_C=discard_C, CU=[])
    precond_and_x0(S, n, dtype, seed, precond, x0, kw)
    ours, theirs = run_both("gcrotmk", A, S, b, **kw)
    check_same(ours, theirs, dtype)
    if precond is None:  # with M, u is a preconditioned direction: c = A M u
        check_pairs(ours[3], S, "gcrotmk", dtype)


@pytest.mark.parametrize("dtype", ["float64", "complex128"])
def test_recycled_vectors_for_a_second_system(dtype):
    """CU (gcrotmk) and outer_v (lgmres) carried into a second solve, as SciPy's docs show."""
    S, b = system(300, dtype, 4, density=0.02)
    A = spla.csr_array(S)
    b2 = b + 0.1 * np.roll(b, 1)
    for name, key, extra in (("gcrotmk", "CU", dict(m=6, k=4)),
                             ("lgmres", "outer_v", dict(inner_m=6, outer_k=2))):
        ours, theirs = run_both(name, A, S, b, rtol=1e-10, **{key: []}, **extra)
        check_same(ours, theirs, dtype)
        ours2, theirs2 = [], []
        for mine, fn, mat, out in ((ours[3], getattr(L, name), A, ours2),
                                   (theirs[3], getattr(sla, name), S, theirs2)):
            x, info = fn(mat, b2, rtol=1e-10, **{key: mine}, **extra)
            out.extend([x, info, [], mine])
        check_same(tuple(ours2), tuple(theirs2), dtype)


@pytest.mark.parametrize("ortho", ["blas", "mgs2", "mgs2f", "mgsg", "fused"])
@pytest.mark.parametrize("dtype", ["float64", "complex128"])
def test_parallel_kernels_several_chunks(dtype, ortho, monkeypatch):
    monkeypatch.setattr(_lgmres, "ORTHOGONALIZATION", ortho)
    n = 60_000
    assert n >= _lgmres.PARALLEL_MIN and n > 2 * krylov.CHUNK
    S, b = system(n, dtype, 3, density=4 / n)
    A = spla.csr_array(S)
    check_same(*run_both("lgmres", A, S, b, rtol=1e-10, inner_m=8, outer_k=2), dtype)
    check_same(*run_both("gcrotmk", A, S, b, rtol=1e-10, m=6, k=3), dtype)


@pytest.mark.parametrize("dtype", ["float64", "complex128"])
def test_fused_sweep_several_chunks(dtype, monkeypatch):
    """The one-sweep columns ("fused") on a banded matrix in several parallel chunks (rows
    reaching into the neighbouring chunk go to the second pass), with augmentation
    vectors given without their products (the sweep's given-vector columns)."""
    n = 3 * krylov.FCHUNK + 5
    monkeypatch.setattr(_lgmres, "ORTHOGONALIZATION", "fused")
    assert n >= _lgmres.PARALLEL_MIN
    cycles = []  # the one-sweep cycles run (not the "mgsg" fallback)
    real = _lgmres._fgmres_fused
    monkeypatch.setattr(_lgmres, "_fgmres_fused",
                        lambda *a, **k: cycles.append(1) or real(*a, **k))
    rng = np.random.default_rng(5)
    offsets = (-300, -1, 0, 1, 7)  # diagonally dominant: converges in a few cycles
    diags = [rng.standard_normal(n - abs(o)) + (6.0 if o == 0 else 0) for o in offsets]
    S = sp.csr_array(sp.diags_array(diags, offsets=offsets, shape=(n, n))
                     .astype(dtype))
    if dtype == "complex128":
        S = S + 0.3j * sp.eye_array(n, format="csr")
    A = spla.csr_array(S)
    b = rng.standard_normal(n).astype(dtype)
    check_same(*run_both("lgmres", A, S, b, rtol=1e-10, inner_m=8, outer_k=2), dtype)
    guess = [(rng.standard_normal(n), None)]
    ours = run_both("lgmres", A, S, b, rtol=1e-10, inner_m=6, outer_k=2,
                    outer_v=guess, store_outer_Av=False)
    check_same(*ours, dtype)
    assert len(cycles) >= 2


@pytest.mark.parametrize("ortho", ["blas", "mgs2", "mgs2f", "mgsg", "fused"])
def test_convection_diffusion_restarts_match_scipy(ortho, monkeypatch):
    """An unsymmetric stencil that needs several outer iterations: same counts."""
    monkeypatch.setattr(_lgmres, "ORTHOGONALIZATION", ortho)
    n = 400
    T = sp.diags_array([-1.3, 2.0, -0.7], offsets=[-1, 0, 1], shape=(n, n), format="csr")
    b = np.ones(n)
    # (65, 76 outer iterations; "smallest" converges slowly, near 290 iterations, where
    # rounding decides the last one: it is compared over its first 60)
    for name, extra in (("lgmres", dict(inner_m=10)), ("gcrotmk", dict(m=8, k=4)),
                        ("gcrotmk", dict(m=8, k=4, truncate="smallest", maxiter=60))):
        kw = dict(rtol=1e-8, maxiter=300) | extra
        check_same(*run_both(name, spla.csr_array(T), T, b, **kw), "float64")


def test_trivial_cases_and_dtypes():
    S, b = system(30, "float64", 0)
    A = spla.csr_array(S)
    for name in ("lgmres", "gcrotmk"):
        fn = getattr(L, name)
        x, info = fn(A, np.zeros(30))
        assert info == 0 and not x.any()
        x, info = fn(A, np.arange(30).reshape(30, 1), rtol=1e-12)
        assert info == 0 and x.shape == (30,) and x.dtype == np.float64
        xs = getattr(sla, name)(S.astype(np.float32), b)[0]
        assert fn(spla.csr_array(S.astype(np.float32)), b)[0].dtype == xs.dtype


def test_other_operands_go_to_scipy():
    S, b = system(20, "float64", 1)
    for name in ("lgmres", "gcrotmk"):
        fn = getattr(L, name)
        x, info = fn(S, b, rtol=1e-10)  # a SciPy matrix: SciPy's function
        assert info == 0 and np.allclose(S @ x, b)
        x, info = fn(sla.aslinearoperator(S), b, rtol=1e-10)
        assert info == 0 and np.allclose(S @ x, b)


def test_bad_input():
    S, b = system(10, "float64", 0)
    A = spla.csr_array(S)
    for name in ("lgmres", "gcrotmk"):
        fn = getattr(L, name)
        with pytest.raises(ValueError, match="square"):
            fn(spla.csr_array(np.ones((3, 4))), np.ones(3))
        with pytest.raises(ValueError):
            fn(A, np.ones(9))
        with pytest.raises(ValueError, match="atol"):
            fn(A, b, atol=-1.0)
        with pytest.raises(ValueError, match="finite"):
            fn(A, np.full(10, np.nan))
        with pytest.raises(TypeError, match="callback"):
            fn(A, b, callback=3)
    with pytest.raises(ValueError, match="truncate"):
        L.gcrotmk(A, b, truncate="newest")


# -- the vectorised two-step MGS kernels (krylov.MGS2F_*) against NumPy ----------------------


def _mgs_reference(Vr, m, wr):
    """Modified Gram-Schmidt in complex128: (w after, coefficients)."""
    w, h = wr.copy(), np.zeros(m, dtype=np.complex128)
    for k in range(m):
        h[k] = np.vdot(Vr[k], w)
        w -= h[k] * Vr[k]
    return w, h


@scaled_examples(0.3)
@given(n=st.sampled_from([0, 1, 3, 7, 1025, krylov.CHUNK + 3, 3 * krylov.CHUNK]),
       m=st.integers(0, 6), dtype=st.sampled_from(["float32", "float64", "complex64",
                                                    "complex128"]),
       parallel=st.booleans(), seed=st.integers(0, 1000), strided=st.booleans(),
       orthonormal=st.booleans(), zero_w=st.booleans())
def test_mgs2f_kernels_match_numpy(n, m, dtype, parallel, seed, strided, orthonormal, zero_w):
    rng = np.random.default_rng(seed)
    mgs2f, combine_rows, scale_vec = krylov.MGS2F_PARALLEL if parallel else krylov.MGS2F_SERIAL
    complex_ = np.dtype(dtype).kind == "c"
    V = rng.standard_normal((m + 1, n)) + (1j * rng.standard_normal((m + 1, n)) if complex_
                                             else 0)
    if orthonormal and 0 < m + 1 <= n:  # rows of an orthonormal basis, as the solvers have
        V = np.linalg.qr(V.T)[0].T
    w = np.zeros(n) if zero_w else rng.standard_normal(n) + (
        1j * rng.standard_normal(n) if complex_ else 0)
    V, w = V.astype(dtype), w.astype(dtype)
    if strided:  # rows and vector as strided views
        big = np.zeros((m + 1, 2 * n), dtype=dtype)
        big[:, ::2] = V
        V = big[:, ::2]
        wbig = np.zeros(2 * n, dtype=dtype)
        wbig[::2] = w
        w = wbig[::2]
    Vr, wr = V.astype(np.complex128), w.astype(np.complex128)
    ref, href = _mgs_reference(Vr, m, wr)
    r = 1e-4 if single(dtype) else 1e-12
    tol = r * (np.sqrt(max(n, 1)) + 1) * (m + 1) * 4
    scale = 1.0 + np.abs(href).max(initial=0.0)
    h = np.full(m + 1, 7, dtype=dtype)  # h[m] must stay untouched
    part = np.zeros((krylov.nchunks(n), 4), dtype=dtype)
    w0 = np.array(w)  # a contiguous copy of the input
    w1 = w.copy() if not strided else w  # strided: in place in the view
    before, after = mgs2f(V, m, w1, h, part)
    assert h[m] == 7
    np.testing.assert_allclose(w1, ref, rtol=tol, atol=tol * 10 * scale)
    np.testing.assert_allclose(h[:m], href, rtol=tol, atol=tol * 10 * max(n, 1) * scale)
    np.testing.assert_allclose(before, np.vdot(wr, wr).real, rtol=tol, atol=tol)
    np.testing.assert_allclose(after, np.vdot(ref, ref).real, rtol=tol * 10,
                               atol=tol * 10 * max(n, 1) * scale ** 2)
    if zero_w:
        assert before == after == 0 and not h[:m].any() and not w1.any()

    # the same coefficients as the strict kernel (the same arithmetic up to summation order)
    if not strided:
        w2, h2 = w0.copy(), np.zeros(m + 1, dtype=dtype)
        krylov.MGS2_SERIAL(V, m, w2, h2, part.copy())
        np.testing.assert_allclose(h[:m], h2[:m], rtol=tol, atol=tol * 10 * max(n, 1) * scale)

    y = (rng.standard_normal(m) + (1j * rng.standard_normal(m) if complex_ else 0)).astype(dtype)
    x = w0.copy()
    combine_rows(V, m, y, x)
    np.testing.assert_allclose(x, wr + Vr[:m].T @ y.astype(np.complex128), rtol=tol,
                               atol=tol * 10 * (1 + np.abs(y).max(initial=0.0)))
    x2 = w0.copy()
    scale_vec(x2, np.dtype(dtype).type(0.5))
    np.testing.assert_array_equal(x2, w0 * np.dtype(dtype).type(0.5))


@pytest.mark.parametrize("parallel", [False, True])
def test_mgs2f_propagates_nan_and_leaves_other_rows(parallel):
    """No nnan fast math: a NaN in w comes out in the coefficients and the norms."""
    mgs2f = (krylov.MGS2F_PARALLEL if parallel else krylov.MGS2F_SERIAL)[0]
    n = 2 * krylov.CHUNK + 5
    rng = np.random.default_rng(3)
    W = rng.standard_normal((4, n))
    W[3, 17] = np.nan
    keep = W[:3].copy()
    h = np.zeros(4)
    part = np.zeros((krylov.nchunks(n), 4))
    before, after = mgs2f(W, 3, W[3], h, part)
    assert np.isnan(before) and np.isnan(after) and np.isnan(h[:3]).all()
    np.testing.assert_array_equal(W[:3], keep)


# -- MGS through the Gram matrix (krylov.MGSG_*) against NumPy ---------------------------------


def _NO_PRODUCT(dtype):
    """``mgsg_column``'s product arguments when it computes no product."""
    none = np.zeros(0, dtype=np.int32)
    return none, none, np.zeros(0, dtype=dtype), np.zeros(0, dtype=dtype)


@scaled_examples(0.3)
@given(n=st.sampled_from([0, 1, 3, 7, 1025, krylov.CHUNK + 3, 3 * krylov.CHUNK]),
       m=st.integers(0, 9), dtype=st.sampled_from(["float32", "float64", "complex64",
                                                    "complex128"]),
       parallel=st.booleans(), seed=st.integers(0, 1000), skew=st.sampled_from([0.0, 0.3]),
       zero_w=st.booleans())
def test_mgsg_kernel_matches_numpy(n, m, dtype, parallel, seed, skew, zero_w):
    """Rows of an orthonormal basis (``skew`` 0, as the solvers have) or of a skewed one
    (the Gram correction far from zero): MGS's coefficients, w and norms, and the new
    row's Gram entries."""
    m = min(m, max(n - 1, 0))  # independent rows (the forward substitution is MGS's)
    rng = np.random.default_rng(seed)
    mgsg = krylov.MGSG_PARALLEL if parallel else krylov.MGSG_SERIAL
    complex_ = np.dtype(dtype).kind == "c"

    def draw(*shape):
        return rng.standard_normal(shape) + (1j * rng.standard_normal(shape) if complex_ else 0)

    V = draw(m + 1, n)
    if n:
        V = np.linalg.qr(V.T)[0].T + skew * draw(m + 1, n) / np.sqrt(n)
    w = np.zeros(n) if zero_w else draw(n)
    V, w = V.astype(dtype), w.astype(dtype)
    Vr, wr = V.astype(np.complex128), w.astype(np.complex128)
    Gr = Vr.conj() @ Vr.T  # Gr[k, i] = sum conj(v_k) v_i
    Gr = Gr if complex_ else Gr.real
    G = np.full((m + 2, m + 2), 5, dtype=dtype)
    G[:m, :m] = np.tril(Gr[:m, :m], -1).astype(dtype)
    ref, href = _mgs_reference(Vr, m, wr)
    r = 1e-4 if single(dtype) else 1e-12
    tol = r * (np.sqrt(max(n, 1)) + 1) * (m + 1) * 4
    scale = 1.0 + np.abs(href).max(initial=0.0)
    h = np.full(m + 1, 7, dtype=dtype)  # h[m] must stay untouched
    part = np.zeros((krylov.nchunks(n), m + 1), dtype=dtype)
    w1 = w.copy()
    before, after = mgsg(V, m, w1, h, G, part, *_NO_PRODUCT(dtype))
    assert h[m] == 7
    np.testing.assert_allclose(w1, ref, rtol=tol, atol=tol * 10 * scale)
    np.testing.assert_allclose(h[:m], href, rtol=tol, atol=tol * 10 * max(n, 1) * scale)
    np.testing.assert_allclose(before, np.vdot(wr, wr).real, rtol=tol, atol=tol)
    np.testing.assert_allclose(after, np.vdot(ref, ref).real, rtol=tol * 10,
                               atol=tol * 10 * max(n, 1) * scale ** 2)
    if after > 0:
        vnew = w1.astype(np.complex128) / np.sqrt(after)
        np.testing.assert_allclose(G[m, :m], vnew.conj() @ Vr[:m].T, rtol=tol,
                                   atol=tol * 10 * (1 + skew * 10))
    else:
        assert (G[m, :m] == 5).all()  # no new row: its Gram entries are left alone
    if zero_w:
        assert before == after == 0 and not h[:m].any() and not w1.any()


@scaled_examples(0.3)
@given(n=st.sampled_from([1, 2, 7, 1025, krylov.CHUNK + 3, 3 * krylov.CHUNK]),
       m=st.integers(0, 6), dtype=st.sampled_from(["float32", "float64", "complex64",
                                                    "complex128"]),
       parallel=st.booleans(), seed=st.integers(0, 1000), density=st.sampled_from([0.0, 0.3]),
       index=st.sampled_from(["int32", "int64"]))
def test_mgsg_product_matches_numpy(n, m, dtype, parallel, seed, density, index):
    """With a CSR ``A`` given, ``mgsg_column`` first computes ``w = A @ z`` (chunk by
    chunk, then the chunk's dots): the same contract as the kernel given ``A @ z``.
    Banded rows (width up to 5, some empty) plus random far entries (``density``: up to
    three per row of ``n`` at most), unsorted within rows."""
    m = min(m, max(n - 1, 0))
    rng = np.random.default_rng(seed)
    mgsg = krylov.MGSG_PARALLEL if parallel else krylov.MGSG_SERIAL
    complex_ = np.dtype(dtype).kind == "c"

    def draw(*shape):
        return rng.standard_normal(shape) + (1j * rng.standard_normal(shape) if complex_ else 0)

    rows, cols = [], []
    for d in range(-2, 3):
        keep = rng.random(n) < 0.8
        i = np.arange(n)[keep]
        j = i + d
        ok = (j >= 0) & (j < n)
        rows.append(i[ok])
        cols.append(j[ok])
    far = rng.random(n) < density
    rows.append(np.arange(n)[far])
    cols.append(rng.integers(0, n, far.sum()))
    S = sp.csr_array((draw(sum(len(r) for r in rows)), (np.concatenate(rows),
                                                        np.concatenate(cols))), shape=(n, n))
    S.sum_duplicates()
    perm = rng.permutation(S.nnz)  # unsorted within rows: shuffle each row's entries
    order = np.lexsort((perm, np.repeat(np.arange(n), np.diff(S.indptr))))
    indptr = S.indptr.astype(index)
    indices = S.indices[order].astype(index)
    data = S.data[order].astype(dtype)
    V = (np.linalg.qr(draw(m + 1, n).T)[0].T).astype(dtype)
    z = draw(n).astype(dtype)
    Vr = V.astype(np.complex128)
    Gr = Vr.conj() @ Vr.T
    Gr = Gr if complex_ else Gr.real
    G = np.zeros((m + 2, m + 2), dtype=dtype)
    G[:m, :m] = np.tril(Gr[:m, :m], -1).astype(dtype)
    Sr = sp.csr_array((data.astype(np.complex128), indices, indptr), shape=(n, n))
    wr = Sr @ z.astype(np.complex128)
    ref, href = _mgs_reference(Vr, m, wr)
    r = 1e-4 if single(dtype) else 1e-12
    tol = r * (np.sqrt(n) + 1) * (m + 1) * 8
    scale = 1.0 + np.abs(href).max(initial=0.0) + np.abs(wr).max()
    h = np.zeros(m + 1, dtype=dtype)
    part = np.zeros((krylov.nchunks(n), m + 1), dtype=dtype)
    w = np.full(n, np.nan, dtype=dtype)  # every entry written by the product
    z_kept = z.copy()
    before, after = mgsg(V, m, w, h, G, part, indptr, indices, data, z)
    np.testing.assert_array_equal(z, z_kept)
    np.testing.assert_allclose(w, ref, rtol=tol, atol=tol * 10 * scale)
    np.testing.assert_allclose(h[:m], href, rtol=tol, atol=tol * 10 * n * scale)
    np.testing.assert_allclose(before, np.vdot(wr, wr).real, rtol=tol,
                               atol=tol * scale ** 2)
    np.testing.assert_allclose(after, np.vdot(ref, ref).real, rtol=tol * 10,
                               atol=tol * 10 * n * scale ** 2)


@scaled_examples(0.3)
@given(n=st.sampled_from([0, 1, 7, 1025, krylov.CHUNK + 3, 3 * krylov.CHUNK]),
       m1=st.integers(0, 7), m2=st.integers(0, 7),
       dtype=st.sampled_from(["float32", "float64", "complex64", "complex128"]),
       parallel=st.booleans(), seed=st.integers(0, 1000))
def test_combine2_rows_is_two_combines(n, m1, m2, dtype, parallel, seed):
    """``combine2_rows`` gives each output ``combine_rows``'s sums (the same order per
    entry; within a few units of rounding, not bit for bit: with fast math's
    ``contract`` the compiler decides per function which multiply-adds become
    FMAs, and one cached complex64 build gave other bits in 1,060 of 1,200 draws),
    and both match NumPy."""
    rng = np.random.default_rng(seed)
    _, combine_rows, _ = krylov.MGS2F_PARALLEL if parallel else krylov.MGS2F_SERIAL
    combine2 = krylov.COMBINE2_PARALLEL if parallel else krylov.COMBINE2_SERIAL
    complex_ = np.dtype(dtype).kind == "c"

    def draw(*shape):
        v = rng.standard_normal(shape) + (1j * rng.standard_normal(shape) if complex_ else 0)
        return v.astype(dtype)

    V = draw(max(m1, m2) + 1, n)
    y1, y2, x1, x2 = draw(m1), draw(m2), draw(n), draw(n)
    r1, r2 = x1.copy(), x2.copy()
    draw_x1, draw_x2 = x1.copy(), x2.copy()
    Vr = V.astype(np.complex128)
    ref1 = r1.astype(np.complex128) + Vr[:m1].T @ y1.astype(np.complex128)
    ref2 = r2.astype(np.complex128) + Vr[:m2].T @ y2.astype(np.complex128)
    combine_rows(V, m1, y1, r1)
    combine_rows(V, m2, y2, r2)
    combine2(V, m1, y1, x1, m2, y2, x2)
    eps = np.finfo(np.dtype(dtype)).eps
    for x, r, m, y, x0 in ((x1, r1, m1, y1, draw_x1), (x2, r2, m2, y2, draw_x2)):
        # a few roundings of each term: |x0| + sum_k |y_k| |v_k| per entry
        bound = 8 * eps * (np.abs(x0) + np.abs(y) @ np.abs(V[:m]) if m else np.abs(x0))
        assert np.all(np.abs(x - r) <= bound)
    tol = 1e-4 if single(dtype) else 1e-12
    np.testing.assert_allclose(x1, ref1, rtol=tol, atol=tol * (m1 + 1) * 10)
    np.testing.assert_allclose(x2, ref2, rtol=tol, atol=tol * (m2 + 1) * 10)


@pytest.mark.parametrize("parallel", [False, True])
def test_mgsg_propagates_nan(parallel):
    """No nnan fast math: a NaN in w comes out in the coefficients and the norms."""
    mgsg = krylov.MGSG_PARALLEL if parallel else krylov.MGSG_SERIAL
    n = 2 * krylov.CHUNK + 5
    rng = np.random.default_rng(3)
    W = rng.standard_normal((4, n))
    W[3, 17] = np.nan
    keep = W[:3].copy()
    G = np.zeros((5, 5))
    h = np.zeros(4)
    part = np.zeros((krylov.nchunks(n), 4))
    before, after = mgsg(W, 3, W[3], h, G, part, *_NO_PRODUCT(W.dtype))
    assert np.isnan(before) and np.isnan(after) and np.isnan(h[:3]).all()
    np.testing.assert_array_equal(W[:3], keep)


def test_no_reference_cycle_keeps_the_basis_alive():
    """The solve's scratch (``_Arnoldi``: the basis block, tens of MB at scale) is freed
    when the solve returns, without waiting for the cyclic garbage collector: a cycle
    through ``_fgmres``'s closures kept every solve's block alive until a collection
    (the process grew by ~250 MB a solve at n = 250,000, each new block in fresh pages)."""
    import gc

    rng = np.random.default_rng(0)
    S = sp.random_array((300, 300), density=0.02, rng=rng) + 4 * sp.eye_array(300)
    S = sp.csr_array(S)
    A = spla.csr_array(S)
    b = rng.standard_normal(300)
    gc.collect()
    gc.disable()
    try:
        L.lgmres(A, b, maxiter=3, rtol=0.0, atol=0.0)
        L.gcrotmk(A, b, maxiter=3, rtol=0.0, atol=0.0)
        # type(), not isinstance: gc's list may hold weak proxies of dead objects,
        # which isinstance dereferences (ReferenceError in a CI run)
        alive = [o for o in gc.get_objects() if type(o) is _lgmres._Arnoldi]
    finally:
        gc.enable()
    assert not alive


# -- the basis blocks: base pages, one allocation per solve -----------------------------------


def _mapping(a):
    """The object at the end of ``a``'s base chain."""
    while isinstance(a, np.ndarray) and a.base is not None:
        a = a.base
    return a.obj if isinstance(a, memoryview) else a


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows, n", [(0, 5), (3, 0), (1, 1), (2, 7), (34, 1 << 14)])
@pytest.mark.parametrize("small_pages", [False, True])
@pytest.mark.parametrize("minimum", [1, 1 << 21])
def test_scratch_block(dtype, rows, n, small_pages, minimum, monkeypatch):
    """A writable C-ordered (rows, n) block of the dtype; an anonymous mapping from
    ``SMALL_PAGES_MIN`` bytes on (with ``SMALL_PAGES``), unmapped with its last view."""
    import mmap
    import weakref

    monkeypatch.setattr(_lgmres, "SMALL_PAGES", small_pages)
    monkeypatch.setattr(_lgmres, "SMALL_PAGES_MIN", minimum)
    B = _lgmres._scratch_block(rows, n, dtype)
    assert B.shape == (rows, n) and B.dtype == np.dtype(dtype)
    assert B.flags.c_contiguous and B.flags.writeable and B.flags.aligned
    mapped = small_pages and rows * n * np.dtype(dtype).itemsize >= minimum
    assert isinstance(_mapping(B), mmap.mmap) == mapped
    B[...] = np.arange(rows * n).reshape(rows, n)
    np.testing.assert_array_equal(B, np.arange(rows * n).reshape(rows, n).astype(dtype))
    if mapped:
        ref = weakref.ref(_mapping(B))
        view = B[1:]
        del B
        assert ref() is not None  # a view keeps the mapping
        del view
        assert ref() is None


def _count_blocks(monkeypatch):
    """Patch ``_scratch_block`` to record ``(rows, n)`` of each block allocated."""
    made = []
    real = _lgmres._scratch_block
    monkeypatch.setattr(_lgmres, "_scratch_block",
                        lambda rows, n, dtype: made.append((rows, n)) or real(rows, n, dtype))
    return made


@pytest.mark.parametrize("ortho", ["fused", "mgsg"])
@pytest.mark.parametrize("case", ["plain", "long outer_v", "prepend", "precond", "no store"])
def test_lgmres_blocks_allocated_once(ortho, case, monkeypatch):
    """The basis block W and the block Z are allocated once per solve although the
    augmentation columns grow from cycle to cycle (0, 1, 2, ... up to outer_k, or a
    longer outer_v given), every block an anonymous mapping (``SMALL_PAGES_MIN`` = 1),
    and the results are SciPy's."""
    monkeypatch.setattr(_lgmres, "ORTHOGONALIZATION", ortho)
    monkeypatch.setattr(_lgmres, "SMALL_PAGES_MIN", 1)
    n = 400
    T = sp.diags_array([-1.3, 2.0, -0.7], offsets=[-1, 0, 1], shape=(n, n), format="csr")
    b = np.ones(n)
    kw = dict(rtol=0.0, atol=0.0, maxiter=6, inner_m=5, outer_k=3)
    if case == "long outer_v":  # five given pairs: the first cycle has 5 columns more
        rng = np.random.default_rng(1)
        kw["outer_v"] = [(rng.standard_normal(n), None) for _ in range(5)]
    elif case == "prepend":
        kw["prepend_outer_v"] = True
    elif case == "precond":
        kw["M"] = sp.diags_array(1.0 / T.diagonal(), format="csr")
    elif case == "no store":
        kw["store_outer_Av"] = False
    made = _count_blocks(monkeypatch)
    ours, theirs = run_both("lgmres", spla.csr_array(T), T, b, **kw)
    check_same(ours, theirs, "float64")
    assert ours[1] == theirs[1] == 6
    k_max = 5 if case == "long outer_v" else 3
    direct = case not in ("prepend", "precond")
    assert sorted(made) == sorted([(5 + k_max + 1, n), (k_max if direct else 5 + k_max, n)])


@pytest.mark.parametrize("case", ["plain", "long CU", "precond", "smallest"])
def test_gcrotmk_blocks_allocated_once(case, monkeypatch):
    """gcrotmk's block holds GCROT's vectors and the basis: one allocation per solve,
    also when more vectors are given than ``k``; results as SciPy's."""
    monkeypatch.setattr(_lgmres, "SMALL_PAGES_MIN", 1)
    n = 400
    T = sp.diags_array([-1.3, 2.0, -0.7], offsets=[-1, 0, 1], shape=(n, n), format="csr")
    b = np.ones(n)
    kw = dict(rtol=0.0, atol=0.0, maxiter=6, m=5, k=3, CU=[])
    if case == "long CU":  # five recycled vectors, k = 3
        rng = np.random.default_rng(2)
        kw["CU"] = [(None, rng.standard_normal(n)) for _ in range(5)]
    elif case == "precond":
        kw["M"] = sp.diags_array(1.0 / T.diagonal(), format="csr")
    elif case == "smallest":
        kw["truncate"] = "smallest"
    made = _count_blocks(monkeypatch)
    ours, theirs = run_both("gcrotmk", spla.csr_array(T), T, b, **kw)
    check_same(ours, theirs, "float64")
    c_max = 5 if case == "long CU" else 3
    expect = [(5 + c_max + 1, n)] + ([(5 + 3, n)] if case == "precond" else [(0, n)])
    assert sorted(made) == sorted(expect)


# -- one sweep per column (krylov.LGMRES_SWEEP_*) against NumPy --------------------------------


@scaled_examples(0.3)
@given(n=st.sampled_from([5, 1025, krylov.FCHUNK + 3, 2 * krylov.FCHUNK + 77]),
       m=st.integers(1, 7), dtype=st.sampled_from(["float32", "float64", "complex64",
                                                   "complex128"]),
       parallel=st.booleans(), seed=st.integers(0, 1000), mode=st.sampled_from([0, 1, 2]),
       reach=st.sampled_from([1, 700, 5000]), far=st.booleans())
def test_lgmres_sweep_matches_numpy(n, m, dtype, parallel, seed, mode, reach, far):
    """A column of the fused sweep: the previous row normalised, w's MGS step (through the
    Gram entries), the next product (a banded matrix, ``far``: plus entries across the
    whole matrix, multiplied in the second pass) or given vector, its coefficients."""
    m = min(m, n - 2)  # orthonormal rows, w not in their span
    rng = np.random.default_rng(seed)
    sweep = krylov.LGMRES_SWEEP_PARALLEL if parallel else krylov.LGMRES_SWEEP_SERIAL
    complex_ = np.dtype(dtype).kind == "c"

    def draw(*shape):
        return rng.standard_normal(shape) + (1j * rng.standard_normal(shape) if complex_ else 0)

    offsets = sorted({0, *rng.integers(-reach, reach + 1, size=4).tolist()})
    offsets = [o for o in offsets if abs(o) < n]
    S = sp.diags_array([draw(n - abs(o)) for o in offsets], offsets=offsets, shape=(n, n))
    if far:
        S = S + sp.random_array((n, n), density=3 / n, rng=rng) * (1 + 1j if complex_ else 1)
    S = sp.csr_array(S.astype(dtype))
    Vr = np.linalg.qr(draw(m + 2, n).T)[0].T  # orthonormal rows (m + 2 <= n)
    a_row = 0.37  # row m - 1 is stored as itself / a_row
    a_w = 1.9 if mode != 2 else 1.0
    wr = draw(n)
    V = np.empty((m + 2, n), dtype=dtype)
    V[:m - 1] = Vr[:m - 1]
    V[m - 1] = Vr[m - 1] / a_row
    V[m] = wr / a_w
    V[m + 1] = 7
    rows = V.astype(np.complex128)
    rows[m - 1] *= a_row
    Gr = rows[:m].conj() @ rows[:m].T
    G = np.full((m + 2, m + 2), 5, dtype=dtype)
    G[:m, :m] = np.tril(Gr if complex_ else Gr.real, -1).astype(dtype)
    w_true = V[m].astype(np.complex128) * a_w
    _, href = _mgs_reference(rows[:m], m, w_true)
    h = np.zeros(m + 2, dtype=dtype)
    h[:m] = href.astype(dtype) if complex_ else href.real.astype(dtype)
    wnew, _ = _mgs_reference(rows[:m], m, w_true)  # = w_true - sum h_k v_k
    nu = np.linalg.norm(wnew)
    given = draw(n).astype(dtype) if mode == 2 else np.zeros(0, dtype=dtype)
    lo, hi, inside = krylov.block_reach(S.indptr, S.indices, n)
    done = np.zeros(len(lo), dtype=np.bool_)
    nf = krylov.fchunks(n)
    part = np.zeros((nf, m + 2), dtype=dtype)
    part2 = np.zeros((nf, m + 2), dtype=dtype)
    hn = np.zeros(m + 2, dtype=dtype)
    after, nxt = sweep(V, m, h, a_row, a_w, G, S.indptr, S.indices, S.data, lo, hi, given,
                       mode, done, part, part2, hn)
    r = 1e-4 if single(dtype) else 1e-12
    tol = r * (np.sqrt(n) + 1) * (m + 2) * 10
    np.testing.assert_allclose(V[m - 1], rows[m - 1], rtol=tol, atol=tol)
    np.testing.assert_allclose(V[m], wnew, rtol=tol, atol=tol * (1 + nu))
    np.testing.assert_allclose(after, nu ** 2, rtol=tol, atol=tol * np.vdot(wr, wr).real)
    vnew = wnew / nu
    np.testing.assert_allclose(G[m, :m], vnew.conj() @ rows[:m].T, rtol=tol,
                               atol=tol * (1 + np.linalg.norm(wr) / nu))
    if mode == 0:
        assert (V[m + 1] == 7).all()
        return
    Sr = S.astype(np.complex128)
    u = Sr @ V[m].astype(np.complex128) if mode == 1 else given.astype(np.complex128)
    scale = np.abs(S.data).max(initial=1.0) * 5
    np.testing.assert_allclose(V[m + 1], u, rtol=tol, atol=tol * scale * (1 + nu))
    w_next = u / nu if mode == 1 else u  # the next column's vector
    basis = np.vstack([rows[:m], vnew])
    _, hnext = _mgs_reference(basis, m + 1, w_next)
    big = 1 + np.abs(w_next).max()
    np.testing.assert_allclose(hn[:m + 1], hnext, rtol=tol, atol=tol * big * scale * n)
    np.testing.assert_allclose(nxt, np.vdot(w_next, w_next).real, rtol=tol * 10)


@pytest.mark.parametrize("dtype", ["float64", "complex128"])
def test_lgmres_sweep_bits_do_not_depend_on_threads(dtype):
    """The parallel sweep's sums are per chunk, added in chunk order: the same bits on one
    Numba thread as on two (which chunks a thread takes changes with the count)."""
    import numba

    n = 5 * krylov.FCHUNK + 999
    m = 6
    rng = np.random.default_rng(11)
    complex_ = np.dtype(dtype).kind == "c"

    def draw(*shape):
        return rng.standard_normal(shape) + (1j * rng.standard_normal(shape) if complex_ else 0)

    offsets = [-600, -1, 0, 1, 600]
    S = sp.csr_array(sp.diags_array([draw(n - abs(o)) for o in offsets], offsets=offsets,
                                    shape=(n, n)).astype(dtype))
    V0 = draw(m + 2, n).astype(dtype)
    G0 = np.tril(draw(m + 2, m + 2), -1).astype(dtype)
    h0 = draw(m + 2).astype(dtype) * 0.1
    lo, hi, _ = krylov.block_reach(S.indptr, S.indices, n)
    outs = []
    previous = numba.get_num_threads()
    try:
        for threads in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
            numba.set_num_threads(threads)
            V, G, hn = V0.copy(), G0.copy(), np.zeros(m + 2, dtype=dtype)
            nf = krylov.fchunks(n)
            part = np.zeros((nf, m + 2), dtype=dtype)
            part2 = np.zeros((nf, m + 2), dtype=dtype)
            r = krylov.LGMRES_SWEEP_PARALLEL(V, m, h0, 0.9, 1.1, G, S.indptr, S.indices,
                                             S.data, lo, hi, np.zeros(0, dtype=dtype), 1,
                                             np.zeros(len(lo), dtype=np.bool_), part, part2,
                                             hn)
            outs.append((V, G, hn, r))
    finally:
        numba.set_num_threads(previous)
    for V, G, hn, r in outs[1:]:
        np.testing.assert_array_equal(V, outs[0][0])
        np.testing.assert_array_equal(G, outs[0][1])
        np.testing.assert_array_equal(hn, outs[0][2])
        assert r == outs[0][3]
