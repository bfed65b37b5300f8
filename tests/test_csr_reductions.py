"""Reductions and dense views: sum, diagonal, count_nonzero, sparsity, toarray."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

import spla
from spla.testing import strategies as sst

from _util import assert_storage_unchanged, assert_within, fmt_view, ref_dense, storage

FMT = st.sampled_from(["csr", "csc"])


@given(A0=sst.csr_arrays(), fmt=FMT)
def test_sum(A0, fmt):
    A = fmt_view(A0, fmt)
    saved = storage(A)
    R, mag = ref_dense(A), ref_dense(A, True)
    nt = A.nnz
    total = A.sum()
    assert np.ndim(total) == 0
    assert np.asarray(total).dtype == A.dtype
    assert_within(np.asarray(total), np.asarray(R.sum()), np.asarray(mag.sum()), nt, A.dtype,
                  what="sum()")
    for axis in (0, 1, -1, -2):
        s = A.sum(axis=axis)
        assert type(s) is np.ndarray and s.dtype == A.dtype
        assert s.shape == (A.shape[1 - axis % 2],)
        assert_within(s, R.sum(axis=axis), mag.sum(axis=axis), nt, A.dtype,
                      what=f"sum(axis={axis})")
    s = A.sum(axis=1, dtype=np.complex128)
    assert s.dtype == np.complex128
    assert_storage_unchanged(A, saved)


@pytest.mark.parametrize("axis", [2, -3, 5])
def test_sum_bad_axis(axis):
    A = spla.csr_array(np.eye(2))
    with pytest.raises(ValueError, match="axis"):
        A.sum(axis=axis)
    with pytest.raises(ValueError, match="axis"):
        A.T.sum(axis=axis)


@given(A0=sst.csr_arrays(), fmt=FMT)
def test_diagonal(A0, fmt):
    A = fmt_view(A0, fmt)
    m, n = A.shape
    R, mag = ref_dense(A), ref_dense(A, True)
    for k in range(-m - 2, n + 3):
        d = A.diagonal(k)
        assert type(d) is np.ndarray and d.dtype == A.dtype and d.ndim == 1
        expected = np.diagonal(R, k)
        assert d.shape == expected.shape, (k, d.shape, expected.shape)
        assert_within(d, expected, np.diagonal(mag, k), A.nnz, A.dtype, what=f"diagonal({k})")
    np.testing.assert_array_equal(A.diagonal(), A.diagonal(0))
    np.testing.assert_array_equal(A.diagonal(np.int64(1)), A.diagonal(1))


@given(A0=sst.csr_arrays(), fmt=FMT)
def test_count_nonzero_and_sparsity(A0, fmt):
    A = fmt_view(A0, fmt)
    # SciPy's rule: duplicates are summed first, explicit zeros do not count
    assert A.count_nonzero() == np.count_nonzero(A.toarray())
    m, n = A.shape
    sparsity = spla.sparsity(A)
    if m * n == 0:
        assert np.isnan(sparsity)
    else:
        assert sparsity == pytest.approx(1 - A.nnz / (m * n))
        S = A.to_scipy()  # canonical (duplicates summed)
        assert spla.sparsity(S) == pytest.approx(1 - S.nnz / (m * n))
        D = A.toarray()
        assert spla.sparsity(D) == pytest.approx(1 - np.count_nonzero(D) / (m * n))


def test_sparsity_examples():
    assert spla.sparsity(spla.csr_array(np.eye(4))) == 0.75
    assert np.isnan(spla.sparsity(spla.csr_array(np.zeros((0, 5)))))
    assert np.isnan(spla.sparsity(np.zeros((3, 0))))
    assert spla.sparsity(sp.eye_array(2)) == 0.5
    # explicit zeros count as stored entries
    A = spla.csr_array((np.array([0.0, 1.0]), np.array([0, 1]), np.array([0, 1, 2])))
    assert spla.sparsity(A) == 0.5


@given(A0=sst.csr_arrays(), fmt=FMT)
def test_toarray_todense(A0, fmt):
    A = fmt_view(A0, fmt)
    R, mag = ref_dense(A), ref_dense(A, True)
    C = A.toarray()
    assert type(C) is np.ndarray and C.dtype == A.dtype and C.flags.c_contiguous
    assert_within(C, R, mag, A.nnz, A.dtype, what="toarray")
    F = A.toarray(order="F")
    assert F.flags.f_contiguous and F.dtype == A.dtype
    np.testing.assert_array_equal(F, C)
    np.testing.assert_array_equal(A.toarray(order="C"), C)
    np.testing.assert_array_equal(A.todense(), C)
    assert type(A.todense()) is np.ndarray
    out = np.full(A.shape, 7, dtype=A.dtype)
    assert A.toarray(out=out) is out
    np.testing.assert_array_equal(out, C)
    outF = np.full(A.shape, 7, dtype=A.dtype, order="F")
    assert A.toarray(out=outF) is outF
    np.testing.assert_array_equal(outF, C)


def test_toarray_bad_out():
    A = spla.csr_array(np.eye(2))
    with pytest.raises(ValueError, match="out"):
        A.toarray(out=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="out"):
        A.toarray(out=np.zeros((2, 2), dtype=np.float32))
