"""The cached transpose of CSR storage (``spla._backends.cpu.transposed``).

Transposed products (``A.T @ x``, ``A.T @ X``, ``x @ A``, ``rmatvec``,
``rmatmat``; ``A @ x`` of a CSC array) gather on the cached transpose once it is
built. They must give the one-lane scatter's result (SciPy's order) bit for
bit, forget the cache on writes through spla (it lives in the storage tuple's
derived-state cache), leave column sums and the uncached scatter on their
parallel lanes, and follow the policy (``set_transpose_cache``,
``drop_transpose``, the solvers' ``prepare``/``release``).
"""

import contextlib

import numba
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla
from hypothesis import given
from hypothesis import strategies as st

import spla
from spla._backends.cpu import csr as backend
from spla._backends.cpu import lanes as lanes_ops
from spla._backends.cpu import transposed
from spla.testing import strategies as sst

from _util import assert_product, assert_storage_unchanged, max_terms, ref_dense, storage


@contextlib.contextmanager
def _mode(mode):
    previous = spla.set_transpose_cache(mode)
    try:
        yield
    finally:
        spla.set_transpose_cache(previous)


def _bits(a):
    return np.ascontiguousarray(a).tobytes()


def assert_same_sums(got, want, A, X):
    """``got`` and ``want`` (``A.T @ X`` by two kernels) are bit for bit equal for
    real values. A complex product has a multiply and an add per part that LLVM
    may fuse into one FMA in one kernel and not in the other (one CI run gave
    complex64 results one ulp apart, both kernels adding in the same order; not
    seen on this machine): there the parts agree to a few roundings of the terms,
    ``|got - want| <= 4 eps (|A|.T @ |X|)``."""
    assert got.dtype == want.dtype and got.shape == want.shape
    if got.dtype.kind != "c":
        assert _bits(got) == _bits(want)
        return
    scale = abs(ref_dense(A, True)).T @ abs(np.asarray(X, dtype=np.complex128))
    bound = 4 * np.finfo(got.dtype).eps * scale
    assert np.all(abs(got.real - want.real) <= bound), (got, want)
    assert np.all(abs(got.imag - want.imag) <= bound), (got, want)


def _cached(A):
    return A._derived.get(transposed.KEY) is not None


def _fresh(A):
    """A new array over a copy of A's storage (nothing derived)."""
    return spla.csr_array((A.data.copy(), A.indices.copy(), A.indptr.copy()), shape=A.shape)


@given(A=sst.csr_arrays(), data=st.data(), fmt=st.sampled_from(["csr", "csc"]))
def test_cached_products_are_the_scatter_bits(A, data, fmt):
    """Every transposed product through the cache equals the scatter bit for bit
    (every value dtype, int32/int64 indices, duplicates, explicit zeros, empty
    rows, 0 x n, non-contiguous operands), and the dense reference."""
    x = data.draw(sst.dense_operands(A.shape[0]), label="x")
    X = data.draw(sst.dense_operands(A.shape[0], st.integers(0, 4)), label="X")
    saved = storage(A)
    B = _fresh(A)
    assert A.nnz < backend._SCATTER_PARALLEL_MIN_NNZ  # one lane: the row order
    with _mode("never"):
        y0 = A.T @ x
        Y0 = A.T @ X
    assert not _cached(A)
    transposed.prepare(B)
    with _mode("auto"):
        MB = B if fmt == "csr" else B.T
        y1 = MB.T @ x if fmt == "csr" else MB @ x
        Y1 = MB.T @ X if fmt == "csr" else MB @ X
        z1 = x @ B
    assert _cached(B) or B.nnz == 0
    for got, want, operand in ((y1, y0, x), (Y1, Y0, X), (z1, y0, x)):
        assert_same_sums(got, want, A, operand)
    nt = max_terms(A.T)
    assert_product(y1, ref_dense(A).T, ref_dense(A, True).T, x, nt, "A.T @ x (cached)")
    assert_product(Y1, ref_dense(A).T, ref_dense(A, True).T, X, nt, "A.T @ X (cached)")
    assert_storage_unchanged(A, saved)


@given(A=sst.csr_arrays(dtype=st.sampled_from([np.complex64, np.complex128])), data=st.data())
def test_operator_adjoints_through_the_cache(A, data):
    """rmatvec/rmatmat (conjugate transpose) read the cache and give the same bits."""
    x = data.draw(sst.dense_operands(A.shape[0], dtype=A.dtype), label="x")
    X = data.draw(sst.dense_operands(A.shape[0], st.integers(1, 3), dtype=A.dtype), label="X")
    with _mode("never"):
        r0, R0 = A.rmatvec(x), A.rmatmat(X)
    B = _fresh(A)
    transposed.prepare(B)
    r1, R1 = B.rmatvec(x), B.rmatmat(X)
    assert _cached(B) or B.nnz == 0
    assert_same_sums(r1, r0, A, x)
    assert_same_sums(R1, R0, A, X)
    np.testing.assert_allclose(r1, ref_dense(A).conj().T @ x, rtol=1e-4, atol=1e-4)


@contextlib.contextmanager
def _one_lane():
    saved = backend._SCATTER_LANES
    backend._SCATTER_LANES = 1
    try:
        yield
    finally:
        backend._SCATTER_LANES = saved


def _big(kind, rng):
    if kind == "stencil":
        T = sp.diags_array([-1.0, 2.0, -1.0], offsets=[-1, 0, 1], shape=(150, 150))
        return sp.csr_array(sp.kronsum(T, T, format="csr"))
    if kind == "dense row":  # one row holds most entries: an unbalanced lane
        S = sp.random_array((20_000, 30_000), density=2e-4, rng=rng, format="lil")
        S[5, :] = rng.standard_normal(30_000)
        return sp.csr_array(S)
    S = sp.random_array((30_000, 20_000), density=1e-3, rng=rng, format="csr")
    if kind == "complex":
        S = S.astype(np.complex128)
        S.data += 1j * rng.standard_normal(S.nnz)
    if kind == "duplicates":  # every row twice over: unsorted, repeated columns; int64
        rows = np.repeat(np.arange(S.shape[0]), np.diff(S.indptr))
        order = np.argsort(np.concatenate([rows, rows]), kind="stable")
        indptr = (2 * S.indptr).astype(np.int64)
        indices = np.concatenate([S.indices, S.indices]).astype(np.int64)[order]
        values = np.concatenate([S.data, -0.5 * S.data])[order]
        return (values, indices, indptr, S.shape)
    return S


@pytest.mark.parametrize("kind", ["stencil", "random", "complex", "dense row", "duplicates"])
@pytest.mark.parametrize("threads", [1, 2])
def test_large_same_bits_before_and_after(kind, threads):
    """Above the parallel size, "auto": the first product scatters in one lane, the
    second builds the cache, and every product has the same bits (the one-lane
    scatter's), with 1 or 2 threads; "never" keeps the four-lane scatter. A matrix
    with a lane plan (the stencil) scatters in its lanes in every mode, never builds
    the cache, and every product has the one-lane scatter's bits."""
    rng = np.random.default_rng(3)
    S = _big(kind, rng)
    if isinstance(S, tuple):
        values, indices, indptr, shape = S
        A = spla.csr_array((values, indices, indptr), shape=shape)
        S = sp.csr_array((values, indices, indptr), shape=shape)
    else:
        A = spla.csr_array(S)
    assert A.nnz >= backend._SCATTER_PARALLEL_MIN_NNZ
    x = rng.standard_normal(S.shape[0]).astype(S.dtype)
    X = rng.standard_normal((S.shape[0], 3)).astype(S.dtype)
    previous = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    planned = lanes_ops.plan(A._major()) is not None
    assert planned == (kind == "stencil")
    try:
        spla.set_transpose_cache("auto")
        y1 = A.T @ x
        assert not _cached(A)
        y2 = A.T @ x
        assert _cached(A) != planned
        y3 = A.T @ x
        Y = A.T @ X
        with _mode("never"):
            y4 = A.T @ x  # four lanes, as without the cache
            with _one_lane():
                y0 = A.T @ x
                Y0 = A.T @ X
    finally:
        numba.set_num_threads(previous)
        spla.set_transpose_cache("solvers")
    assert _bits(y0) == _bits(y1) == _bits(y2) == _bits(y3)
    assert _bits(y0) == _bits(backend.scatter(A._major(), x, one_lane=True))
    assert _bits(Y) == _bits(Y0)
    assert _bits(y4) == _bits(y0 if planned else backend.scatter(A._major(), x))
    np.testing.assert_allclose(y4, S.T @ x, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y3, S.T @ x, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(Y, S.T @ X, rtol=1e-12, atol=1e-12)


def test_auto_policy_counts_and_drop():
    A = spla.csr_array(sp.random_array((50, 40), density=0.2, rng=1, format="csr"))
    x = np.arange(50.0)
    for _ in range(3):
        A.T @ x
    assert not _cached(A)  # the default, "solvers": user products scatter
    with _mode("auto"):
        A.sum(axis=0)
        A.sum(axis=0)  # column sums never build the cache
        assert not _cached(A)
        A.T @ x
        assert not _cached(A)
        A.T @ x
        assert _cached(A)
        freed = spla.drop_transpose(A)
        assert freed >= A.data.nbytes + A.indices.nbytes and not _cached(A)
        assert spla.drop_transpose(A) == 0
        A.T @ x
        assert not _cached(A)  # counting starts again after a drop
        A.T @ x
        assert _cached(A)
    with pytest.raises(TypeError, match="drop_transpose"):
        spla.drop_transpose(np.ones(3))


def test_csc_products_and_views_share_the_cache():
    """A CSC array's A @ x is the transposed product of its storage; A and A.T
    (views over one storage) share the cache."""
    S = sp.random_array((60, 30), density=0.2, rng=2, format="csc")
    C = spla.csc_array(S)
    x = np.ones(30)
    with _mode("auto"):
        C @ x
        C @ x
        assert _cached(C) and _cached(C.T)
        np.testing.assert_allclose(C @ x, S @ x, rtol=1e-13)


def test_never_mode_and_bad_mode():
    A = spla.csr_array(sp.random_array((30, 30), density=0.3, rng=4, format="csr"))
    with _mode("never"):
        transposed.prepare(A)
        for _ in range(3):
            A.T @ np.ones(30)
        assert not _cached(A)
    with pytest.raises(ValueError, match="mode must be one of"):
        spla.set_transpose_cache("sometimes")
    assert spla.set_transpose_cache("solvers") == "solvers"


def test_writes_through_spla_forget_the_cache():
    """Writes through spla forget the cache; a change in place to ``A.data`` needs
    ``drop_transpose`` (the documented contract of ``"auto"``)."""
    S = sp.random_array((40, 30), density=0.2, rng=5, format="csr")
    A = spla.csr_array(S, copy=True)
    x = np.linspace(-1, 1, 40)
    ref = S.tolil()
    transposed.prepare(A)
    assert _cached(A)
    A[0, 0] = 7.0  # a write of one entry
    ref[0, 0] = 7.0
    assert not _cached(A)
    np.testing.assert_allclose(A.T @ x, sp.csr_array(ref).T @ x, rtol=1e-13)
    transposed.prepare(A)
    A[39, 29] = -3.0  # an insertion changes the structure
    ref[39, 29] = -3.0
    assert not _cached(A)
    np.testing.assert_allclose(A.T @ x, sp.csr_array(ref).T @ x, rtol=1e-13)
    transposed.prepare(A)
    A.data = 2 * A.data  # assigning the values
    assert not _cached(A)
    transposed.prepare(A)
    A.data *= 0.5  # in place, unseen by spla
    spla.drop_transpose(A)
    np.testing.assert_allclose(A.T @ x, sp.csr_array(ref).T @ x, rtol=1e-13)


@pytest.mark.parametrize("solver", ["lsqr", "lsmr", "bicg", "qmr"])
def test_transposing_solvers_use_the_cache_for_the_solve(solver, monkeypatch):
    rng = np.random.default_rng(6)
    n = 80
    S = sp.csr_array(sp.random_array((n, n), density=0.05, rng=rng) + 4 * sp.eye_array(n))
    A = spla.csr_array(S)
    b = rng.standard_normal(n)
    gathers = []
    gather = transposed.rmatvec
    monkeypatch.setattr(transposed, "rmatvec", lambda *a: gathers.append(1) or gather(*a))
    got = getattr(spla.linalg, solver)(A, b)
    assert gathers  # the transposed products gathered
    assert not _cached(A)  # and the cache was dropped with the solve ("solvers")
    want = getattr(sla, solver)(S, b)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-8, atol=1e-10)
    with _mode("auto"):
        transposed.prepare(A)
        getattr(spla.linalg, solver)(A, b)
        assert _cached(A)  # a cache there before the solve stays


def _big_laplacian():
    T = sp.diags_array([-1.0, 2.0, -1.0], offsets=[-1, 0, 1], shape=(200, 200))
    return sp.csr_array(sp.kronsum(T, T, format="csr"))


def test_column_sums_and_uncached_products_keep_the_parallel_lanes(monkeypatch):
    """``A.sum(axis=0)`` and an uncached ``A.T @ x`` ("solvers", outside a solve)
    of a matrix without a lane plan run the four-lane scatter above the parallel
    size, never read nor build the transpose, even while a solve holds one."""
    S = _big_laplacian()
    A = spla.csr_array(S)
    assert A.nnz >= backend._SCATTER_PARALLEL_MIN_NNZ and backend._SCATTER_LANES == 4
    x = np.linspace(-1.0, 2.0, S.shape[0])
    lanes = []
    real = backend._scatter_lanes
    monkeypatch.setattr(backend, "_scatter_lanes",
                        lambda A, one_lane=False: lanes.append(one_lane) or real(A, one_lane))
    monkeypatch.setattr(lanes_ops, "plan", lambda A: None)  # as for a random matrix
    y = A.T @ x
    assert lanes == [False] and not _cached(A)
    hold = transposed.prepare(A)
    try:
        monkeypatch.setattr(transposed, "lookup", lambda A: pytest.fail("column sums read it"))
        for dt in (np.float64, np.int64):
            B = A if dt == np.float64 else spla.csr_array(S.astype(dt))
            got = B.sum(axis=0)
            want = backend.scatter(B._major(), np.ones(S.shape[0], dtype=dt))
            assert _bits(got) == _bits(want)
            np.testing.assert_allclose(got, S.astype(dt).sum(axis=0))
    finally:
        transposed.release(hold)
    assert not _cached(A)
    np.testing.assert_allclose(y, S.T @ x, rtol=1e-12)


def test_cache_lives_in_the_storage_tuple():
    """The transpose is kept in the derived-state cache of the storage tuple
    (``A._storage[5]``): a write swaps the tuple and so drops it; a snapshot taken
    before keeps reading the old storage's cache; holds are counted."""
    S = sp.random_array((50, 40), density=0.2, rng=8, format="csr")
    A = spla.csr_array(S, copy=True)
    hold = transposed.prepare(A)
    assert A._storage[5] is A._derived and A._storage[5][transposed.KEY] is not None
    snap = A._snap()
    hold2 = transposed.prepare(A)  # a second solve shares it
    transposed.release(hold2)
    assert _cached(A)  # one hold left
    A[0, 0] = 5.0  # a write of a stored or new entry swaps the storage
    assert A._storage[5] is not snap._storage[5] and not _cached(A)
    transposed.release(hold)  # the old cache: nothing to do for the new storage
    assert not _cached(A)
    ref = S.tolil()
    ref[0, 0] = 5.0
    x = np.arange(50.0)
    np.testing.assert_allclose(A.T @ x, sp.csr_array(ref).T @ x, rtol=1e-13)
    transposed.release(None)
    with pytest.raises(TypeError, match="expected a hold"):
        transposed.release("hold")
    hold = transposed.prepare(A)  # released through the array, as before holds existed
    transposed.release(A)
    assert not _cached(A)
    with _mode("never"):
        assert transposed.prepare(A) is None
    assert transposed.prepare(spla.csr_array((5, 4))) is None  # no entries
    hold = transposed.prepare(A)
    transposed.release(hold)
    assert not _cached(A)  # the last release drops what a solver built
    with _mode("auto"):
        A.T @ x
        A.T @ x
        assert _cached(A)
        transposed.release(transposed.prepare(A))
        assert _cached(A)  # built before the solve: kept
