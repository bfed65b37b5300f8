"""Conversions and structure: astype, copy, conj, tocsc/tocsr, T, to_scipy, asformat,
sum_duplicates, eliminate_zeros."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

import spla
from spla.testing import strategies as sst

from _util import assert_storage_unchanged, assert_within, fmt_view, ref_dense, storage

FMT = st.sampled_from(["csr", "csc"])


def _rows_sorted_unique(M):
    p = np.asarray(M.indptr)
    return all(np.all(np.diff(M.indices[p[i]:p[i + 1]]) > 0) for i in range(p.size - 1))


@given(A0=sst.csr_arrays(), fmt=FMT, dtype=st.sampled_from(sst.VALUE_DTYPES))
def test_astype(A0, fmt, dtype):
    A = fmt_view(A0, fmt)
    saved = storage(A)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
        B = A.astype(dtype)  # complex to real keeps the real part, as in NumPy
        expected = A.data.astype(dtype)
    assert B.dtype == dtype and B.shape == A.shape and B.format == A.format
    np.testing.assert_array_equal(B.data, expected)
    np.testing.assert_array_equal(B.indices, A.indices)
    np.testing.assert_array_equal(B.indptr, A.indptr)
    if A.nnz:
        assert not np.shares_memory(B.data, A.data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
        C = spla.astype(A, dtype)
    assert C.dtype == dtype
    same = A.astype(A.dtype, copy=False)  # no copy: the same storage
    assert same.format == A.format and np.shares_memory(same.indptr, A.indptr)
    assert A.nnz == 0 or np.shares_memory(same.data, A.data)
    if fmt == "csr":
        assert same is A
    D = A.astype(A.dtype)
    assert D is not A and not (A.nnz and np.shares_memory(D.data, A.data))
    assert_storage_unchanged(A, saved)


@pytest.mark.parametrize("dtype", [np.float16, np.longdouble, "U3", object])
def test_astype_unsupported(dtype):
    A = spla.csr_array(np.eye(2))
    with pytest.raises(TypeError, match="unsupported dtype"):
        A.astype(dtype)


@given(A0=sst.csr_arrays(), fmt=FMT)
def test_copy_is_independent(A0, fmt):
    A = fmt_view(A0, fmt)
    saved = storage(A)
    B = A.copy()
    assert B is not A and B.format == A.format and B.shape == A.shape and B.dtype == A.dtype
    assert B.indices.dtype == A.indices.dtype
    np.testing.assert_array_equal(B.toarray(), A.toarray())
    for a, b in [(A.data, B.data), (A.indices, B.indices), (A.indptr, B.indptr)]:
        assert not np.shares_memory(a, b)
    B.data[...] = 5
    B.indptr[...] = 0
    assert_storage_unchanged(A, saved)
    C = A.tocsr(copy=True) if fmt == "csr" else A.tocsc(copy=True)
    assert not np.shares_memory(C.indptr, A.indptr)


@given(A0=sst.csr_arrays(), fmt=FMT)
def test_conj(A0, fmt):
    A = fmt_view(A0, fmt)
    saved = storage(A)
    C = A.conj()
    assert C.dtype == A.dtype and C.format == A.format
    np.testing.assert_array_equal(C.toarray(), A.toarray().conj())
    np.testing.assert_array_equal(C.data, A.data.conj())
    assert_storage_unchanged(A, saved)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128])
def test_conj_is_a_copy(dtype):
    """``conj()`` is documented as "Complex conjugate (a copy)" (SciPy copies too).

    Regression test: for real dtypes it returned an array whose ``data`` was A's
    own (NumPy's ``ndarray.conj()`` returns the array itself for real dtypes), so
    writing to the result changed A.
    """
    A = spla.csr_array(np.array([[1.0, 0.0], [2.0, 3.0]], dtype=dtype))
    C = A.conj()
    assert not np.shares_memory(C.data, A.data)
    C.data[:] = 0
    np.testing.assert_array_equal(A.toarray(), np.array([[1.0, 0.0], [2.0, 3.0]]))


@given(A=sst.csr_arrays())
def test_transpose_views_and_round_trips(A):
    saved = storage(A)
    T = A.T
    assert T.format == "csc" and T.shape == A.shape[::-1]
    assert np.shares_memory(T.indptr, A.indptr)  # no copy
    np.testing.assert_array_equal(T.toarray(), A.toarray().T)
    assert A.T.T.format == "csr" and np.shares_memory(A.T.T.indptr, A.indptr)
    assert A.mT.format == "csc" and A.mT.shape == T.shape
    np.testing.assert_array_equal(spla.matrix_transpose(A).toarray(), A.toarray().T)
    assert A.tocsr() is A
    R, mag = ref_dense(A), ref_dense(A, True)
    C = A.tocsc()
    assert C.format == "csc" and C.shape == A.shape and C.dtype == A.dtype
    assert C.indices.dtype in (np.int32, np.int64)
    assert_within(C.toarray(), R, mag, A.nnz, A.dtype, what="tocsc")
    B = C.tocsr()
    assert B.format == "csr" and B.shape == A.shape
    assert_within(B.toarray(), R, mag, A.nnz, A.dtype, what="tocsc().tocsr()")
    assert C.tocsc() is C
    Tc = T.tocsr()
    assert Tc.format == "csr" and Tc.shape == T.shape
    assert_within(Tc.toarray(), R.T, mag.T, A.nnz, A.dtype, what="A.T.tocsr()")
    if A.has_canonical_format:
        assert _rows_sorted_unique(Tc)
    assert_storage_unchanged(A, saved)


@given(A0=sst.csr_arrays(), fmt=FMT)
def test_to_scipy_shares_memory(A0, fmt):
    A = fmt_view(A0, fmt)
    canonical = A.has_canonical_format
    S = A.to_scipy()
    assert sp.issparse(S) and S.format == A.format and S.shape == A.shape
    assert S.dtype == A.dtype and S.has_canonical_format
    # Canonical storage is shared (SciPy never rewrites it); other storage is
    # copied, so that SciPy's in-place canonicalisation cannot reach A (issue 18).
    if A.nnz:
        assert np.shares_memory(A.data, S.data) == canonical
        assert np.shares_memory(A.indices, S.indices) == canonical
    assert np.shares_memory(A.indptr, S.indptr) == canonical
    np.testing.assert_allclose(S.toarray(), A.toarray(), rtol=1e-6, atol=1e-6)


@given(A0=sst.csr_arrays(), fmt=FMT)
def test_asformat(A0, fmt):
    A = fmt_view(A0, fmt)
    assert A.asformat(A.format) is A
    B = A.asformat(A.format, copy=True)
    assert B is not A and not np.shares_memory(B.indptr, A.indptr)
    for name in ("csr", "csc"):
        C = A.asformat(name)
        assert C.format == name and C.shape == A.shape and C.dtype == A.dtype
        assert_within(C.toarray(), ref_dense(A), ref_dense(A, True), A.nnz, A.dtype,
                      what=f"asformat({name})")
    with pytest.raises(ValueError, match="unknown format"):
        A.asformat("coo_nope")


def test_formats_registry():
    names = spla.formats()
    assert "csr" in names and "csc" in names
    assert tuple(sorted(names)) == names


@given(A0=sst.csr_arrays(), fmt=FMT)
def test_sum_duplicates(A0, fmt):
    A = fmt_view(A0, fmt)
    saved = storage(A)
    B = A.copy()
    assert B.sum_duplicates() is None  # in place, as SciPy's
    assert B.format == A.format and B.shape == A.shape and B.dtype == A.dtype
    assert B.has_canonical_format and _rows_sorted_unique(B)
    assert B.indices.dtype == A.indices.dtype
    assert_within(B.toarray(), ref_dense(A), ref_dense(A, True), A.nnz, A.dtype,
                  what="sum_duplicates")
    assert B.nnz <= A.nnz
    assert_storage_unchanged(A, saved)
    # in place on A itself: A's arrays are replaced, never written to
    arrays = (A.data, A.indices, A.indptr)
    A.sum_duplicates()
    assert A.has_canonical_format
    assert_within(A.toarray(), ref_dense(B), ref_dense(B, True), 1, A.dtype,
                  what="A.sum_duplicates()")
    for a, s in zip(arrays, saved):
        np.testing.assert_array_equal(a, s)


@given(A0=sst.csr_arrays(), fmt=FMT)
def test_eliminate_zeros(A0, fmt):
    A = fmt_view(A0, fmt)
    saved = storage(A)
    B = A.copy()
    assert B.eliminate_zeros() is None  # in place, as SciPy's
    assert B.format == A.format and B.shape == A.shape and B.dtype == A.dtype
    assert np.all(B.data != 0)
    assert B.nnz == np.count_nonzero(A.data)
    np.testing.assert_array_equal(B.toarray(), A.toarray())
    # the non-zero entries keep their order
    np.testing.assert_array_equal(B.data, A.data[A.data != 0])
    assert_storage_unchanged(A, saved)


@given(A0=sst.csr_arrays(), fmt=FMT)
def test_attributes(A0, fmt):
    A = fmt_view(A0, fmt)
    assert A.ndim == 2
    assert A.format == fmt
    assert A.device == "cpu"
    assert A.nnz == A.data.size and isinstance(A.nnz, int)
    assert A.nbytes == A.data.nbytes + A.indices.nbytes + A.indptr.nbytes
    assert A.__array_namespace__() is spla
    assert isinstance(A, spla.SparseArray)
    r = repr(A)  # SciPy's
    name = {"csr": "Compressed Sparse Row", "csc": "Compressed Sparse Column"}[fmt]
    assert r == (f"<{name} sparse array of dtype '{A.dtype}'\n"
                 f"\twith {A.nnz} stored elements and shape {A.shape}>")
    assert A.to_device("cpu") is A
    with pytest.raises(TypeError):
        len(A)
    assert len(list(A)) == A.shape[0]  # iteration yields the rows, as SciPy's
    if A.shape != (1, 1):
        with pytest.raises(ValueError, match="ambiguous"):
            bool(A)
    else:
        assert bool(A) == bool(A.toarray()[0, 0] != 0)


def test_to_device_errors():
    A = spla.csr_array(np.eye(2))
    with pytest.raises(ValueError, match="unknown device"):
        A.to_device("tpu")
    with pytest.raises(ValueError, match="stream"):
        A.to_device("cpu", stream=1)
