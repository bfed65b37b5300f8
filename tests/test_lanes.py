"""Transposed products in row lanes (``spla._kernels.lanes``, ``spla._backends.cpu.lanes``):
the plan's invariants, ``A.T @ x`` through it bit for bit the one-lane scatter's (SciPy's
order), and the fused sweep ``A x`` with ``A^T z`` (conjugated as asked) and its dot
product, against SciPy and dense NumPy; every value dtype, int32/int64 indices,
duplicates, unsorted rows, explicit zeros, empty rows and columns, serial and parallel
kernels."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

import spla
from spla._backends.cpu import csr as backend
from spla._backends.cpu import lanes as lanes_ops
from test_transpose_cache import assert_same_sums, _bits

from _util import ref_dense

DTYPES = [np.float32, np.float64, np.complex64, np.complex128]


@st.composite
def banded(draw, dtypes=DTYPES):
    """A CSR array whose entries lie near a (scaled) diagonal: random rows and
    columns, band, density; duplicated and shuffled entries, explicit zeros, int32
    or int64 indices."""
    m = draw(st.integers(1, 600))
    n = draw(st.integers(1, 600))
    band = draw(st.integers(0, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    rng = np.random.default_rng(seed)
    density = draw(st.sampled_from([0.3, 0.8, 1.0]))
    rows, cols = [], []
    for i in range(m):
        c = int(i * n / m)
        js = np.arange(max(0, c - band), min(n, c + band + 1))
        js = js[rng.random(js.size) < density]
        rows.append(np.full(js.size, i))
        cols.append(js)
    row = np.concatenate(rows).astype(np.int64)
    col = np.concatenate(cols).astype(np.int64)
    if draw(st.booleans()) and row.size:  # duplicates
        extra = rng.integers(0, row.size, size=row.size // 4 + 1)
        row, col = np.concatenate([row, row[extra]]), np.concatenate([col, col[extra]])
    vals = rng.standard_normal(row.size)
    if dtype.kind == "c":
        vals = vals + 1j * rng.standard_normal(row.size)
    vals[rng.random(row.size) < 0.05] = 0  # explicit zeros
    order = np.lexsort((rng.random(row.size), row))  # rows in order, columns shuffled
    counts = np.bincount(row, minlength=m)
    indptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    idx = np.dtype(draw(st.sampled_from([np.int32, np.int64])))
    return spla.csr_array((vals[order].astype(dtype), col[order].astype(idx),
                           indptr.astype(idx)), shape=(m, n))


def _vector(rng, size, dtype):
    v = rng.standard_normal(size)
    if np.dtype(dtype).kind == "c":
        v = v + 1j * rng.standard_normal(size)
    return v.astype(dtype)


def _scipy(A):
    return sp.csr_array((A.data, A.indices, A.indptr), shape=A.shape)


@given(A=banded(), seed=st.integers(0, 1000))
def test_plan_invariants(A, seed):
    """Exclusive intervals lie in their lanes' windows, are disjoint, and hold only
    their lane's entries; the gaps are the other columns, and their entry lists
    hold every entry outside its lane's interval once, each column's in row order."""
    p = lanes_ops.plan(A._major())
    if p is None:
        return
    blocks, ex_lo, ex_hi, clean, gaps, gap_ptr, gap_rows, gap_k = p
    m, n = A.shape
    assert blocks[0] == 0 and blocks[-1] == m and np.all(np.diff(blocks) >= 0)
    owner = np.full(n, -1)
    for l, (a, b) in enumerate(zip(ex_lo, ex_hi)):
        assert 0 <= a <= b <= n and np.all(owner[a:b] == -1)
        owner[a:b] = l
        assert blocks[l] <= clean[l, 0] <= clean[l, 1] <= blocks[l + 1]
    np.testing.assert_array_equal(gaps, np.flatnonzero(owner == -1))
    row_of = np.repeat(np.arange(m), np.diff(A.indptr))
    lane_of = np.searchsorted(blocks, row_of, side="right") - 1
    cols = A.indices.astype(np.int64)
    inside = owner[cols] == lane_of
    outside = np.flatnonzero(~inside)
    assert np.all(owner[cols[outside]] == -1)  # an entry is its lane's or on a gap
    clean_rows = np.zeros(m, dtype=bool)
    for l in range(blocks.size - 1):
        clean_rows[clean[l, 0]:clean[l, 1]] = True
    assert np.all(inside[clean_rows[row_of]])
    want = outside[np.argsort(cols[outside], kind="stable")]
    np.testing.assert_array_equal(gap_k, want)
    np.testing.assert_array_equal(gap_rows, row_of[want])
    np.testing.assert_array_equal(np.diff(gap_ptr), np.bincount(
        np.searchsorted(gaps, cols[outside]), minlength=gaps.size))


@given(A=banded(), seed=st.integers(0, 1000), small=st.booleans(), conj=st.booleans())
def test_lane_scatter_is_the_one_lane_scatter(A, seed, small, conj):
    rng = np.random.default_rng(seed)
    M = A._major()
    p = lanes_ops.plan(M)
    z = _vector(rng, A.shape[0], A.dtype)
    want = backend.scatter(M, z.conj() if conj else z, one_lane=True)
    if conj:
        want = want.conj()
    if p is None:
        return
    y = np.full(A.shape[1], np.nan, dtype=A.dtype)
    lanes_ops.rmatvec(M, p, A.data, z, y, conj, small)
    assert_same_sums(y, want, A, z)
    D = ref_dense(A)
    ref = (D.conj() if conj else D).T @ z.astype(D.dtype)
    tol = 1e-4 if A.dtype in (np.float32, np.complex64) else 1e-12
    scale = np.abs(D).T @ np.abs(z) + 1
    assert np.all(np.abs(y - ref) <= tol * scale)
    # A.T @ x and rmatvec through the backend take the plan
    assert _bits(A.T @ z) == _bits(backend.scatter(M, z, one_lane=True)) or \
        A.dtype.kind == "c"


@given(A=banded(), seed=st.integers(0, 1000), small=st.booleans(),
       variant=st.sampled_from(["plain", "conj_z", "conj_x"]))
def test_gather_scatter_against_scipy_and_numpy(A, seed, small, variant):
    rng = np.random.default_rng(seed)
    M = A._major()
    p = lanes_ops.plan(M)
    if p is None:
        return
    m, n = A.shape
    x = _vector(rng, n, A.dtype)
    z = _vector(rng, m, A.dtype)
    y = np.full(m, np.nan, dtype=A.dtype)
    w = np.full(n, np.nan, dtype=A.dtype)
    part = np.empty(lanes_ops.LANES, dtype=A.dtype)
    cx, cz = variant == "conj_x", variant == "conj_z"
    d = lanes_ops.both(M, p, A.data, x, y, z, w, cx, cz, part, small)
    S = _scipy(A)
    Sx = S.conj() if cx else S
    Sz = S.conj() if cz else S
    assert_same_sums(y, Sx @ x, A.T, x)  # SciPy's csr_matvec adds each row in order
    assert_same_sums(w, Sz.T @ z, A, z)
    D = ref_dense(A)
    tol = 1e-4 if A.dtype in (np.float32, np.complex64) else 1e-12
    yref = (D.conj() if cx else D) @ x.astype(D.dtype)
    wref = (D.conj() if cz else D).T @ z.astype(D.dtype)
    assert np.all(np.abs(y - yref) <= tol * (np.abs(D) @ np.abs(x) + 1))
    assert np.all(np.abs(w - wref) <= tol * (np.abs(D).T @ np.abs(z) + 1))
    dref = np.vdot(z.astype(D.dtype), y.astype(D.dtype))
    assert abs(d - dref) <= tol * (np.abs(z) @ np.abs(y) + 1)


@pytest.mark.parametrize("kind", ["random", "dense column"])
def test_no_plan_where_lanes_overlap(kind):
    """Random matrices (every lane writes everywhere) and a matrix with one column
    in every row get no plan; a stencil gets one with narrow seams."""
    rng = np.random.default_rng(0)
    if kind == "random":
        S = sp.random_array((4000, 4000), density=1e-3, rng=rng, format="csr")
    else:
        S = sp.eye_array(4000, format="lil")
        S[:, 7] = 1.0
    assert lanes_ops.plan(spla.csr_array(sp.csr_array(S))._major()) is None
    T = sp.diags_array([-1.0, 2.0, -1.0], offsets=[-1, 0, 1], shape=(300, 300))
    L = spla.csr_array(sp.kronsum(T, T, format="csr"))
    p = lanes_ops.plan(L._major())
    assert p is not None and p[-1].size <= lanes_ops.SEAM_MAX_FRACTION * L.nnz


def test_plan_follows_the_storage_and_sees_values_in_place():
    """The plan lives in the storage's derived state: a structural write drops it;
    values changed in place (``A.data *= 2``) are read by the next product."""
    T = sp.diags_array([-1.0, 2.0, -1.0], offsets=[-1, 0, 1], shape=(300, 300))
    S = sp.csr_array(sp.kronsum(T, T, format="csr"))
    A = spla.csr_array(S, copy=True)
    x = np.linspace(-1, 1, S.shape[0])
    assert _bits(A.T @ x) == _bits(S.T @ x)
    assert A._derived.get(lanes_ops.KEY) is not None
    A.data *= 2.0
    S = S * 2.0
    assert _bits(A.T @ x) == _bits(S.T @ x)
    A[0, 5] = 1.0  # a new entry
    assert A._derived.get(lanes_ops.KEY) is None
    S = S.tolil()
    S[0, 5] = 1.0
    np.testing.assert_allclose(A.T @ x, sp.csr_array(S).T @ x, rtol=1e-14, atol=1e-14)
