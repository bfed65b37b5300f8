"""spla.linalg.lsqr and spla.linalg.lsmr (spla's fused loops for real CPU spla
arrays) against scipy.sparse.linalg's: the same iterations, stopping codes,
estimates and solution; over- and under-determined, damped, with ``x0``, zero
``b`` and tiny iteration limits; the fused kernels against NumPy; the paths
that still go to SciPy; the transpose kept for the solve."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla
from _util import scaled_examples
from hypothesis import given
from hypothesis import strategies as st

import spla
import spla.linalg as L
from spla._backends.cpu import transposed
from spla._kernels import krylov
from spla.linalg import _lsq

METHODS = ["lsqr", "lsmr"]
LIMIT = {"lsqr": "iter_lim", "lsmr": "maxiter"}


def lsq_system(m, n, seed, density=0.2, duplicates=False, empty_rows=0):
    """A well-conditioned ``(m, n)`` matrix (SciPy CSR: a dominant diagonal over
    ``min(m, n)`` entries plus sparse noise) and a right-hand side."""
    rng = np.random.default_rng(seed)
    R = sp.random_array((m, n), density=density, rng=rng, format="coo")
    rows, cols, vals = R.row.copy(), R.col.copy(), R.data - 0.5
    if empty_rows:
        keep = rows >= min(empty_rows, m)
        rows, cols, vals = rows[keep], cols[keep], vals[keep]
    d = np.arange(min(m, n))
    rows = np.concatenate([rows, d])
    cols = np.concatenate([cols, d])
    vals = np.concatenate([vals, 3.0 + rng.random(d.size)])
    if duplicates and m and n:  # a duplicate and an explicit zero
        rows = np.concatenate([rows, [0, m - 1]])
        cols = np.concatenate([cols, [0, 0]])
        vals = np.concatenate([vals, [0.5, 0.0]])
    S = sp.csr_array(sp.coo_array((vals, (rows, cols)), shape=(m, n)))
    return S, rng.standard_normal(m)


def spla_of(S, index_dtype="int32", fmt="csr"):
    A = spla.csr_array(S)
    if index_dtype == "int64":
        A = spla.csr_array((A.data, A.indices.astype(np.int64), A.indptr.astype(np.int64)),
                           shape=A.shape)
    return A if fmt == "csr" else A.asformat(fmt)


def run_both(name, A, S, b, **kw):
    return getattr(L, name)(A, b, **kw), getattr(sla, name)(S, b, **kw)


#: The outputs after ``x``, ``istop``, ``itn``, by method (told apart by their count).
NAMES = {10: ("r1norm", "r2norm", "anorm", "acond", "arnorm", "xnorm", "var"),
         8: ("normr", "normar", "normA", "condA", "normx")}
#: Estimates summed from every step's ``alfa``, ``beta`` or rotations: once the Krylov
#: space is exhausted (itn near min(m, n)), those steps are rounding noise on both sides.
ESTIMATES = {"anorm", "acond", "var", "normA", "condA"}


def check_same(ours, theirs, rtol=1e-9, est=None):
    """Every output: codes and counts equal, the solution and norms to ``rtol``
    (norms 1000 times looser), the accumulated estimates to ``est`` (not at all
    when ``est`` is 0)."""
    est = 1e3 * rtol if est is None else est
    assert len(ours) == len(theirs)
    x, xs = ours[0], theirs[0]
    assert x.dtype == xs.dtype and x.shape == xs.shape
    assert ours[1:3] == theirs[1:3]  # istop, itn
    scale = max(np.abs(xs).max(initial=0.0), 1.0)
    np.testing.assert_allclose(x, xs, rtol=rtol, atol=rtol * scale)
    for name, a, c in zip(NAMES[len(theirs)], ours[3:], theirs[3:]):
        tol = est if name in ESTIMATES else 1e3 * rtol
        if tol == 0:
            continue
        np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(c, dtype=float),
                                   rtol=tol, atol=tol, err_msg=name)


def check_drawn(ours, theirs, S, b, damp):
    """For drawn systems: a stopping test that holds by a hair on one side may
    fail on the other by rounding, so a different ``istop`` or ``itn`` (by one) is
    allowed where both sides stopped on a tolerance; then both solutions must be
    as good as each other. The accumulated estimates (``anorm``, ``acond``) are
    compared loosely: small systems exhaust their Krylov space, after which each
    step's ``alfa`` and ``beta`` are rounding noise on both sides."""
    x, xs = ours[0], theirs[0]
    assert x.dtype == xs.dtype and x.shape == xs.shape
    (istop, itn), (istops, itns) = ours[1:3], theirs[1:3]
    if (istop, itn) == (istops, itns):
        # after min(m, n) steps the bidiagonalisation is exhausted: later alfa and beta
        # are rounding noise (one side may see 0 where the other sees 1e-16)
        check_same(ours, theirs, rtol=1e-7, est=0.5 if itn < min(S.shape) else 0)
        return
    assert abs(itn - itns) <= 1 and istop in (1, 2, 3, 7) and istops in (1, 2, 3, 7)

    def grad(v):  # the damped normal equations' residual: as small on both sides
        return S.T @ (S @ v - b) + damp ** 2 * v

    size = (sla.norm(S) ** 2 + damp ** 2) * max(np.linalg.norm(xs), 1.0) + np.linalg.norm(b)
    assert np.linalg.norm(grad(x)) <= 10 * np.linalg.norm(grad(xs)) + 1e-10 * size


@scaled_examples(0.3)
@given(name=st.sampled_from(METHODS), m=st.integers(1, 40), n=st.integers(1, 40),
       seed=st.integers(0, 2**16), damp=st.sampled_from([0.0, 0.0, 0.3, 2.0]),
       limit=st.sampled_from([None, None, 0, 1, 2, 5]),
       x0=st.sampled_from([None, "random", "zeros"]), zero_b=st.integers(0, 5),
       tol=st.sampled_from([1e-6, 1e-10]), calc_var=st.booleans(),
       index_dtype=st.sampled_from(["int32", "int64"]), fmt=st.sampled_from(["csr", "csc"]),
       empty=st.integers(0, 3), duplicates=st.booleans(), strided=st.booleans(),
       column=st.booleans())
def test_same_iterations_as_scipy(name, m, n, seed, damp, limit, x0, zero_b, tol, calc_var,
                                  index_dtype, fmt, empty, duplicates, strided, column):
    S, b = lsq_system(m, n, seed, empty_rows=empty, duplicates=duplicates)
    if zero_b == 0:
        b = np.zeros(m)
    A = spla_of(S, index_dtype, fmt)
    if strided:
        b = np.repeat(b, 2)[::2]
    if column and m > 1:  # (SciPy squeezes a (1, 1) b to 0-d and then fails)
        b = b.reshape(-1, 1)
    kw = dict(damp=damp, atol=tol, btol=tol)
    kw[LIMIT[name]] = limit
    if name == "lsqr":
        kw["calc_var"] = calc_var
    if x0 == "random":
        kw["x0"] = np.random.default_rng(seed + 1).standard_normal(n)
    elif x0 == "zeros":
        kw["x0"] = np.zeros(n)
    check_drawn(*run_both(name, A, S, b, **kw), S, b.reshape(-1), damp)
    assert A._major()._derived.get(transposed.KEY) is None  # dropped after the solve


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("shape", [(600, 250), (250, 600), (400, 400)])
@pytest.mark.parametrize("damp", [0.0, 0.5])
def test_fixed_systems_every_output(name, shape, damp):
    S, b = lsq_system(*shape, seed=11, density=0.01)  # converges long before min(m, n)
    kw = dict(damp=damp, atol=1e-10, btol=1e-10)
    if name == "lsqr":
        kw["calc_var"] = True
    check_same(*run_both(name, spla.csr_array(S), S, b, **kw))
    x0 = np.linspace(-1, 1, shape[1])
    check_same(*run_both(name, spla.csc_array(S), S, b, x0=x0, **kw))


@pytest.mark.parametrize("name", METHODS)
def test_parallel_passes(name):
    m, n = 70_000, 55_000
    assert min(m, n) >= _lsq.FUSED_PARALLEL_MIN and n > 2 * krylov.CHUNK
    S, b = lsq_system(m, n, 3, density=3 / n)
    kw = dict(atol=1e-10, btol=1e-10, damp=0.1)
    kw[LIMIT[name]] = 25
    if name == "lsqr":
        kw["calc_var"] = True
    check_same(*run_both(name, spla.csr_array(S), S, b, **kw))


@pytest.mark.parametrize("name", METHODS)
def test_early_exits(name):
    S, b = lsq_system(12, 7, seed=5)
    A = spla.csr_array(S)
    z = np.zeros(12)
    check_same(*run_both(name, A, S, z))  # b = 0: x = 0, istop 0, itn 0
    x0 = np.ones(7)
    check_same(*run_both(name, A, S, z, x0=x0))  # b = 0 with a start
    check_same(*run_both(name, A, S, S @ x0, x0=x0))  # the start solves it
    Z = sp.csr_array((12, 7))
    check_same(*run_both(name, spla.csr_array(Z), Z, b))  # A = 0
    for limit in (0, 1):
        check_same(*run_both(name, A, S, b, **{LIMIT[name]: limit}))


@pytest.mark.parametrize("name", METHODS)
def test_conlim_and_machine_tolerances(name):
    # three distinct singular values, condition 100: the estimate of cond(A) passes
    # conlim = 10 within the three steps that solve it (istop 3)
    S = sp.csr_array(sp.diags_array(np.repeat([1.0, 0.1, 0.01], 10)))
    b = np.ones(30)
    out = run_both(name, spla.csr_array(S), S, b, conlim=10)
    assert out[1][1] == 3
    check_same(*out, rtol=1e-8)
    # tolerances of zero: the machine's tests (istop 4-6) stop it at a step that
    # rounding may move by one
    out = run_both(name, spla.csr_array(S), S, b, atol=0, btol=0, conlim=0)
    assert out[1][1] in (4, 5, 6)
    check_drawn(*out, S, b, 0.0)


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("case", ["float32 b", "complex A", "float32 A", "show", "x0 float32",
                                  "operator"])
def test_other_inputs_go_to_scipys_loop(name, case, monkeypatch, capsys):
    S, b = lsq_system(20, 12, seed=2)
    A = spla.csr_array(S)
    kw = {}
    if case == "float32 b":
        b = b.astype(np.float32)
    elif case == "complex A":
        S = S.astype(np.complex128)
        A = spla.csr_array(S)
        b = b.astype(np.complex128)  # (SciPy's lsmr cannot take real b with complex A)
    elif case == "float32 A":
        S = S.astype(np.float32)
        A = spla.csr_array(S)
    elif case == "show":
        kw["show"] = True
    elif case == "x0 float32":
        kw["x0"] = np.ones(12, dtype=np.float32)
    elif case == "operator":
        A = sla.aslinearoperator(S)
    called = []
    real = _lsq._Passes
    monkeypatch.setattr(_lsq, "_Passes", lambda *a: called.append(1) or real(*a))
    ours = getattr(L, name)(A, b, **kw)
    theirs = getattr(sla, name)(S, b, **kw)
    expect_fused = case == "float32 A"  # spla's products give float64 iterates
    assert bool(called) == expect_fused
    check_same(ours, theirs, rtol=1e-5)
    if case == "show":
        assert "finished" in capsys.readouterr().out


@pytest.mark.parametrize("name", METHODS)
def test_bad_shapes(name):
    A = spla.csr_array(sp.random_array((10, 6), density=0.5, rng=0))
    with pytest.raises(ValueError, match="b has shape"):
        getattr(L, name)(A, np.ones(6))
    with pytest.raises(ValueError, match="x0 has shape"):
        getattr(L, name)(A, np.ones(10), x0=np.ones(10))


@pytest.mark.parametrize("name", METHODS)
def test_transposed_products_gather_for_the_solve(name, monkeypatch):
    S, b = lsq_system(300, 200, seed=4, density=0.05)
    A = spla.csr_array(S)
    gathers = []
    gather = transposed.rmatvec
    monkeypatch.setattr(transposed, "rmatvec", lambda *a: gathers.append(1) or gather(*a))
    check_same(*run_both(name, A, S, b, atol=1e-10, btol=1e-10))
    assert gathers
    assert A._derived.get(transposed.KEY) is None  # dropped with the solve


@pytest.mark.parametrize("parallel", [False, True])
def test_fused_kernels_against_numpy(parallel):
    bidiag, scale, lsqr_step, lsmr_step = krylov.LSQ_PARALLEL if parallel else krylov.LSQ_SERIAL
    rng = np.random.default_rng(0)
    for n in (0, 1, 7, 9, 3 * krylov.CHUNK + 5):
        part = np.empty(krylov.nchunks(n))
        u, y = rng.standard_normal(n), rng.standard_normal(n)
        want = y - 0.7 * u
        got = bidiag(u, y, 0.7, part)
        assert want.tobytes() == u.tobytes()
        np.testing.assert_allclose(got, want @ want, rtol=1e-13)
        scale(u, 1.5)
        assert (1.5 * want).tobytes() == u.tobytes()
        v, x, w, var = (rng.standard_normal(n) for _ in range(4))
        v0, x0, w0, var0 = v.copy(), x.copy(), w.copy(), var.copy()
        got = lsqr_step(v, 0.5, x, w, 0.25, -0.75, 1.25, var, True, part)
        dk = 1.25 * w0
        assert (0.5 * v0).tobytes() == v.tobytes()
        assert (x0 + 0.25 * w0).tobytes() == x.tobytes()
        assert (0.5 * v0 + -0.75 * w0).tobytes() == w.tobytes()
        assert (var0 + dk ** 2).tobytes() == var.tobytes()
        np.testing.assert_allclose(got, dk @ dk, rtol=1e-13)
        v, hbar, h, x = (rng.standard_normal(n) for _ in range(4))
        v0, hbar0, h0, x0 = v.copy(), hbar.copy(), h.copy(), x.copy()
        got = lsmr_step(v, 2.0, hbar, h, x, -0.3, 0.6, -0.9, part)
        v1 = v0 * 2.0
        hb = hbar0 * -0.3 + h0
        assert v1.tobytes() == v.tobytes() and hb.tobytes() == hbar.tobytes()
        assert (x0 + 0.6 * hb).tobytes() == x.tobytes()
        assert (h0 * -0.9 + v1).tobytes() == h.tobytes()
        np.testing.assert_allclose(got, x @ x, rtol=1e-13)


def test_concurrent_solves_share_one_transpose():
    """Solves of one array from several threads hold one transpose (counted holds);
    the last one to return drops it; every result is SciPy's."""
    from concurrent.futures import ThreadPoolExecutor

    S, b = lsq_system(400, 300, seed=9, density=0.02)
    A = spla.csr_array(S)
    want = {name: getattr(sla, name)(S, b, atol=1e-10, btol=1e-10) for name in METHODS}
    with ThreadPoolExecutor(4) as pool:
        jobs = [(name, pool.submit(getattr(L, name), A, b, atol=1e-10, btol=1e-10))
                for name in METHODS * 3]
        for name, job in jobs:
            check_same(job.result(), want[name])
    assert A._derived.get(transposed.KEY) is None
    assert transposed.HOLDS_KEY not in A._derived


def test_benchmark_runs(monkeypatch, capsys):
    """``python -m benchmarks.lsq`` on a tiny grid (the script itself, not a timing)."""
    import sys

    from benchmarks import lsq

    import numba

    monkeypatch.setattr(sys, "argv", ["lsq", "--grid", "8", "--iters", "3", "--repeat", "1",
                                      "--threads", "1"])
    before = numba.get_num_threads()
    lsq.main()
    out = capsys.readouterr().out
    assert "lsqr" in out and "lsmr" in out
    assert numba.get_num_threads() == before     # --threads 1 leaves the process as it was
