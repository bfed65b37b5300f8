"""SpGEMM (``A @ B`` of sparse arrays) against SciPy, on every path of the kernel.

``spla._backends.cpu.csr.spgemm`` picks among paths that must all give SciPy's
product: serial or parallel blocks; one pass into an upper-bound allocation
(then a compaction when rows came out shorter) or a symbolic pass first; per
row, no accumulator (0 or 1 product), a hash table, or a dense accumulator
(read back by a scan of all columns or by sorting the touched ones). Each test
runs on every combination of the module-level switches (``PATHS``).

SciPy's ``csr_matmat`` adds the products of a row in the order of A's entries,
then B's, as spla does, so the structure (after SciPy's result is sorted) is
compared exactly, computed zeros dropped in both; values within rounding.
"""

from unittest import mock

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

import spla
from spla._backends.cpu import csr as cpu_csr
from spla._kernels import spgemm as SK
from spla.testing import strategies as sst

from _util import assert_within, eps, max_row_length, max_terms, ref_dense, tiny

#: (parallel threshold in flops, one-pass ratio, sorted rows): forced serial /
#: parallel, forced one pass / forced symbolic pass, SciPy's column order / sorted.
PATHS = {
    "serial-one-pass": (1 << 62, 0.0, False),
    "serial-symbolic": (1 << 62, 2.0, False),
    "parallel-one-pass": (0, 0.0, False),
    "parallel-symbolic": (0, 2.0, False),
    "serial-one-pass-sorted": (1 << 62, 0.0, True),
    "parallel-symbolic-sorted": (0, 2.0, True),
}
PATH = pytest.mark.parametrize("path", list(PATHS))

#: Value dtypes of every kind (bool, signed and unsigned integers, both float and
#: complex precisions); kept few, as every result dtype compiles the kernels anew.
DTYPES = st.sampled_from([np.bool_, np.int8, np.int64, np.uint8, np.float32, np.float64,
                          np.complex64, np.complex128])


def _on_path(path):
    threshold, ratio, sort = PATHS[path]
    return mock.patch.multiple(cpu_csr, _SPGEMM_PARALLEL_MIN_FLOPS=threshold,
                               _SPGEMM_ONE_PASS_RATIO=ratio, _SPGEMM_SORTED=sort)


def _scipy(A):
    return sp.csr_array((A.data, A.indices, A.indptr), shape=A.shape)


def assert_matches_scipy(C, A, B):
    """C == SciPy's A @ B: type, shape, dtype, structure (with the columns of a row
    in SciPy's order, or sorted when the path sorts), values."""
    R = sp.csr_array(_scipy(A) @ _scipy(B))
    assert isinstance(C, spla.csr_array)
    assert C.shape == R.shape and C.dtype == R.dtype, (C.shape, R.shape, C.dtype, R.dtype)
    indptr = np.asarray(C.indptr)
    rows = np.repeat(np.arange(C.shape[0], dtype=np.int64), np.diff(indptr))
    keys = rows * (C.shape[1] + 1) + C.indices
    assert np.unique(keys).size == C.nnz, "no duplicates"
    if C._derived.get("canonical"):  # the sorted path says so, and is
        assert np.all(np.diff(keys) > 0)
        R.sort_indices()
    assert C.has_canonical_format == R.has_canonical_format
    np.testing.assert_array_equal(indptr, R.indptr)
    np.testing.assert_array_equal(C.indices, R.indices)
    assert np.all(C.data != 0), "computed zeros must be dropped"
    if C.dtype.kind in "biu":  # exact, wrapping as NumPy's integers do
        np.testing.assert_array_equal(C.data, R.data)
    elif C.shape[0] * C.shape[1] <= 40_000:
        terms = max(max_terms(A), 1) * max(max_row_length(B), 1)
        assert_within(C.toarray(), ref_dense(A) @ ref_dense(B),
                      ref_dense(A, True) @ ref_dense(B, True), terms, C.dtype, what="A @ B")
    else:  # large and sparse: the same bound, entry by entry, in sparse arithmetic
        terms = max(max_terms(A), 1) * max(max_row_length(B), 1)
        bound = abs(_scipy(A).astype(np.complex128)) @ abs(_scipy(B).astype(np.complex128))
        err = abs(_scipy(C).astype(np.complex128) - R.astype(np.complex128))
        excess = err - 8.0 * eps(C.dtype) * (terms + 1) * bound
        assert excess.nnz == 0 or excess.max() <= 1e3 * tiny(C.dtype)
    # the index dtype: int32 whenever the result fits
    assert C.indices.dtype == C.indptr.dtype == np.int32


def _operands(data, shape, label):
    dt = np.dtype(data.draw(DTYPES, label=f"dtype of {label}"))
    # (the strategy draws duplicates that cancel only for dtypes with a negative)
    canonical = True if dt == np.bool_ else None
    return data.draw(sst.csr_arrays(shape=shape, dtype=dt, canonical=canonical, max_side=14),
                     label=label)


@PATH
@given(data=st.data())
def test_spgemm_matches_scipy(path, data):
    """Random, empty, dense-row, diagonal and dense operands (0 x n and n x 0
    included), duplicates and explicit zeros, int32 and int64 indices."""
    A = _operands(data, None, "A")
    p = data.draw(st.integers(0, 14), label="columns of B")
    B = _operands(data, (A.shape[1], p), "B")
    with _on_path(path):
        C = A @ B
    assert C.dtype == np.result_type(A.dtype, B.dtype)
    assert_matches_scipy(C, A, B)


@PATH
@given(seed=st.integers(0, 2**32 - 1), n=st.sampled_from([1, 7, 300, 5000]),
       per_row=st.sampled_from([0.0, 0.3, 1.0, 2.0]),
       dtype=st.sampled_from([np.float64, np.complex128, np.int64, np.bool_]))
def test_spgemm_hypersparse(path, seed, n, per_row, dtype):
    """About one entry a row or fewer: most rows have no or one product."""
    rng = np.random.default_rng(seed)
    nnz = int(per_row * n)
    rows, cols = rng.integers(0, n, nnz), rng.integers(0, n, nnz)
    vals = rng.integers(-3, 4, nnz).astype(dtype)
    A = spla.csr_array(sp.csr_array((vals, (rows, cols)), shape=(n, n)))
    with _on_path(path):
        C = A @ A
    assert_matches_scipy(C, A, A)


@PATH
@given(seed=st.integers(0, 2**32 - 1), n_cols=st.sampled_from([4, 40, 700]),
       long_len=st.integers(1, 60), dtype=st.sampled_from([np.float64, np.int8, np.complex128]))
def test_spgemm_long_rows(path, seed, n_cols, long_len, dtype):
    """Rows of A whose products reach a quarter of B's columns take the dense
    accumulator, read back by a scan of all columns (many distinct) or by
    sorting the touched columns (few), beside short rows in the same block."""
    rng = np.random.default_rng(seed)
    k = 80
    # B: a few long rows over all columns and many rows over a narrow range
    B = sp.random_array((k, n_cols), density=0.3, rng=rng, format="csr")
    narrow = rng.integers(0, max(1, n_cols // 20) + 1, size=(k, 3)) % n_cols
    B = B + sp.csr_array((np.ones(3 * k), (np.repeat(np.arange(k), 3), narrow.ravel())),
                         shape=(k, n_cols))
    B = sp.csr_array(np.rint(B.toarray() * 4).astype(dtype))
    m = 30
    A = sp.random_array((m, k), density=0.05, rng=rng, format="lil")
    A[rng.integers(0, m), rng.choice(k, size=min(long_len, k), replace=False)] = 1.0
    A = sp.csr_array(np.rint(A.toarray() * 4).astype(dtype))
    A, B = spla.csr_array(A), spla.csr_array(B)
    with _on_path(path):
        C = A @ B
    assert_matches_scipy(C, A, B)


@PATH
def test_spgemm_cancellation_and_wraparound(path):
    """Sums that cancel to zero, and int8 products that wrap to zero, are dropped
    (SciPy drops them too); rows left shorter than their room are compacted."""
    A = spla.csr_array(np.array([[1.0, 1.0], [2.0, 0.0], [0.0, 0.0]]))
    B = spla.csr_array(np.array([[1.0, 3.0], [-1.0, 1.0]]))
    with _on_path(path):
        C = A @ B
    assert_matches_scipy(C, A, B)
    assert C.nnz == 3 and C.toarray().tolist() == [[0.0, 4.0], [2.0, 6.0], [0.0, 0.0]]
    P = spla.csr_array(np.array([[16, 1], [0, 2]], dtype=np.int8))
    with _on_path(path):
        Q = P @ P
    assert_matches_scipy(Q, P, P)
    assert Q.toarray().tolist() == [[0, 18], [0, 4]] and Q.nnz == 2


@PATH
@pytest.mark.parametrize("shapes", [((0, 5), (5, 3)), ((4, 0), (0, 3)), ((4, 5), (5, 0)),
                                    ((0, 0), (0, 0))])
def test_spgemm_empty_shapes(path, shapes):
    (m, k), (k2, n) = shapes
    A = spla.csr_array((m, k))
    B = spla.csr_array((k2, n))
    with _on_path(path):
        C = A @ B
    assert C.shape == (m, n) and C.nnz == 0 and C.indptr.size == m + 1
    assert_matches_scipy(C, A, B)


@PATH
def test_spgemm_many_blocks_compaction(path):
    """Products with many collisions in every block of rows, taking the one-pass
    path: every block moves left onto its final place."""
    rng = np.random.default_rng(5)
    n = 3000
    S = sp.random_array((n, n), density=0.004, rng=rng, format="csr")
    S = S + sp.diags_array(np.ones(n), offsets=0) + sp.diags_array(np.ones(n - 1), offsets=1)
    A = spla.csr_array(sp.csr_array(S))
    with _on_path(path):
        C = A @ A
    assert_matches_scipy(C, A, A)


def test_estimate_ratio():
    """The sampled nnz(C) / flops: 1 for a permutation, 1/k for k equal rows."""
    n = 64
    perm = np.random.default_rng(1).permutation(n).astype(np.int32)
    p = np.arange(n + 1, dtype=np.int32)
    fptr = np.arange(n + 1, dtype=np.int64)
    assert SK.estimate_ratio(p, perm, p, perm, n, fptr, 16) == 1.0
    # every row of A holds the k = 4 first columns; every row of B is [0, 1, 2]
    k = 4
    ap = np.arange(n + 1, dtype=np.int32) * k
    ai = np.tile(np.arange(k, dtype=np.int32), n)
    bp = np.arange(n + 1, dtype=np.int32) * 3
    bi = np.tile(np.arange(3, dtype=np.int32), n)
    fptr = np.arange(n + 1, dtype=np.int64) * (3 * k)
    assert SK.estimate_ratio(ap, ai, bp, bi, n, fptr, 16) == pytest.approx(1 / k)
