"""Construction of csr_array (and csc_array) from every kind of input."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

import spla
from spla.testing import strategies as sst

from _util import assert_within, ref_dense, ref_dtype, rows_of


def _dup_count(A):
    """Largest number of stored entries at one position."""
    if A.nnz == 0:
        return 0
    keys = rows_of(A.indptr) * max(A.shape[1], 1) + A.indices.astype(np.int64)
    return int(np.bincount(keys).max())


def assert_equals_ref(A, what="toarray"):
    """A.toarray() against the float64 reference built from A's raw storage."""
    D = A.toarray()
    assert isinstance(D, np.ndarray) and D.dtype == A.dtype and D.shape == A.shape
    assert_within(D, ref_dense(A), ref_dense(A, absolute=True), _dup_count(A), A.dtype,
                  what=what)


# -- (data, indices, indptr) ------------------------------------------------------


@given(sst.csr_arrays())
def test_from_storage_keeps_arrays(A):
    data, indices, indptr = A.data.copy(), A.indices.copy(), A.indptr.copy()
    B = spla.csr_array((data, indices, indptr), shape=A.shape)
    assert B.shape == A.shape and B.dtype == data.dtype
    assert B.indices.dtype == indices.dtype and B.indptr.dtype == indptr.dtype
    assert B.nnz == data.size
    # copy=False (the default) uses the very arrays it was given
    assert np.shares_memory(B.indptr, indptr)
    if data.size:
        assert np.shares_memory(B.data, data)
        assert np.shares_memory(B.indices, indices)
    assert_equals_ref(B)
    C = spla.csr_array((data, indices, indptr), shape=A.shape, copy=True)
    assert not np.shares_memory(C.indptr, indptr)
    assert not np.shares_memory(C.data, data)
    assert not np.shares_memory(C.indices, indices)
    np.testing.assert_array_equal(C.data, data)
    assert C.indices.dtype == indices.dtype


@given(sst.csr_arrays(), st.sampled_from(sst.VALUE_DTYPES))
def test_from_storage_dtype_argument(A, dtype):
    B = spla.csr_array((A.data, A.indices, A.indptr), shape=A.shape, dtype=dtype)
    assert B.dtype == dtype
    if A.dtype.kind == "c" and dtype.kind != "c":
        return  # casting complex to real drops the imaginary part (NumPy warns)
    np.testing.assert_array_equal(B.data, A.data.astype(dtype))
    if dtype == A.dtype and A.nnz:
        assert np.shares_memory(B.data, A.data)


@given(sst.csr_arrays())
def test_from_storage_infers_shape(A):
    B = spla.csr_array((A.data, A.indices, A.indptr))
    n = int(A.indices.max()) + 1 if A.nnz else 0
    assert B.shape == (A.shape[0], n)
    np.testing.assert_array_equal(B.toarray(), A.toarray()[:, :n])


@pytest.mark.parametrize("ind_dt, ptr_dt", [(np.int32, np.int64), (np.int64, np.int32),
                                            (np.int16, np.int16), (np.uint32, np.int64),
                                            (np.uint8, np.uint16)])
def test_mixed_index_dtypes_unified(ind_dt, ptr_dt):
    A = spla.csr_array((np.arange(1.0, 4.0), np.array([0, 2, 1], ind_dt),
                        np.array([0, 2, 3], ptr_dt)), shape=(2, 3))
    assert A.indices.dtype == A.indptr.dtype
    assert A.indices.dtype in (np.int32, np.int64)
    np.testing.assert_array_equal(A.toarray(), [[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]])


@pytest.mark.parametrize("idx", [np.int32, np.int64])
def test_index_dtype_kept(idx):
    A = spla.csr_array((np.ones(2), np.array([1, 0], idx), np.array([0, 1, 2], idx)))
    assert A.indices.dtype == idx and A.indptr.dtype == idx


@pytest.mark.parametrize("data_dt, stored", [(np.int64, np.int64), (np.int8, np.int8),
                                             (np.bool_, np.bool_), (np.uint16, np.uint16),
                                             (np.float16, np.float32),
                                             (np.float32, np.float32),
                                             (np.complex64, np.complex64)])
def test_default_value_dtype(data_dt, stored):
    A = spla.csr_array((np.ones(2, data_dt), np.array([0, 1]), np.array([0, 1, 2])))
    assert A.dtype == stored
    np.testing.assert_array_equal(A.toarray(), np.eye(2))


def test_storage_from_lists_and_byteswapped_arrays():
    A = spla.csr_array(([1.0, 2.0], [1, 0], [0, 1, 2]), shape=(2, 2))
    np.testing.assert_array_equal(A.toarray(), [[0.0, 1.0], [2.0, 0.0]])
    B = spla.csr_array((np.array([1.0, 2.0], ">f8"), np.array([1, 0], ">i4"),
                        np.array([0, 1, 2], ">i8")), shape=(2, 2))
    assert B.dtype == np.float64 and B.dtype.isnative
    np.testing.assert_array_equal(B.toarray(), A.toarray())
    np.testing.assert_array_equal(B @ np.array([1.0, 10.0]), [10.0, 2.0])


def test_noncontiguous_storage_is_copied():
    data = np.arange(8.0)[::2]
    A = spla.csr_array((data, np.array([0, 1, 0, 1]), np.array([0, 2, 4])))
    assert A.data.flags.c_contiguous
    np.testing.assert_array_equal(A.toarray(), [[0.0, 2.0], [4.0, 6.0]])


# -- COO ------------------------------------------------------------------------------


@given(sst.coo_triplets())
def test_from_coo_sums_duplicates(t):
    data, (row, col), shape = t
    A = spla.csr_array((data, (row, col)), shape=shape)
    assert A.shape == shape and A.dtype == data.dtype
    assert A.has_canonical_format
    ref = sp.coo_array((data.astype(ref_dtype(data.dtype)), (row, col)), shape=shape).toarray()
    mag = sp.coo_array((np.abs(data).astype(np.float64), (row, col)), shape=shape).toarray()
    assert_within(A.toarray(), ref, mag, data.size, A.dtype, what="COO")
    # like SciPy's: the same values summed the same way
    np.testing.assert_allclose(A.toarray(), sp.coo_array((data, (row, col)), shape=shape).toarray(),
                               rtol=1e-5, atol=1e-5)
    # inputs are not modified
    t2 = spla.csr_array((data, (row, col)), shape=shape)
    np.testing.assert_array_equal(t2.toarray(), A.toarray())


@given(sst.coo_triplets())
def test_from_coo_infers_shape(t):
    data, (row, col), _ = t
    A = spla.csr_array((data, (row, col)))
    expected = (int(row.max()) + 1, int(col.max()) + 1) if row.size else (0, 0)
    assert A.shape == expected


@given(sst.coo_triplets())
def test_csc_from_coo(t):
    data, (row, col), shape = t
    A = spla.csc_array((data, (row, col)), shape=shape)
    assert A.format == "csc" and A.shape == shape
    np.testing.assert_allclose(A.toarray(), sp.coo_array((data, (row, col)), shape=shape).toarray(),
                               rtol=1e-5, atol=1e-5)


def test_coo_lists():
    A = spla.csr_array(([1, 2, 3], ([0, 0, 1], [1, 1, 0])), shape=(2, 3))
    assert A.dtype == np.int_  # NumPy's dtype of the list, as SciPy keeps it
    np.testing.assert_array_equal(A.toarray(), [[0, 3, 0], [3, 0, 0]])


# -- dense ------------------------------------------------------------------------------


@given(sst.dense_arrays())
def test_from_dense(D):
    A = spla.csr_array(D)
    assert A.shape == D.shape and A.dtype == D.dtype
    assert A.nnz == np.count_nonzero(D)
    assert A.has_canonical_format
    assert np.all(A.data != 0)
    np.testing.assert_array_equal(A.toarray(), D)
    C = spla.csc_array(D)
    assert C.format == "csc" and C.shape == D.shape
    np.testing.assert_array_equal(C.toarray(), D)


@given(sst.dense_arrays(dtype=st.sampled_from([np.int64, np.int32, np.bool_, np.float16])))
def test_from_dense_other_dtypes(D):
    A = spla.csr_array(D)
    # SciPy's rule: bool and integer input keeps its dtype; float16 is stored as float32.
    assert A.dtype == (np.float32 if D.dtype == np.float16 else D.dtype)
    np.testing.assert_array_equal(A.toarray(), D.astype(A.dtype))


@given(sst.dense_arrays(), st.sampled_from(sst.VALUE_DTYPES))
def test_from_dense_dtype_argument(D, dtype):
    if D.dtype.kind == "c" and dtype.kind != "c":
        D = D.real.copy()
    A = spla.csr_array(D, dtype=dtype)
    assert A.dtype == dtype
    np.testing.assert_array_equal(A.toarray(), D.astype(dtype))
    # dense input is always copied
    if A.nnz:
        assert not np.shares_memory(A.data, D)


def test_from_dense_lists_and_shape_argument():
    A = spla.csr_array([[0, 1], [2, 0]], shape=(2, 2))
    np.testing.assert_array_equal(A.toarray(), [[0, 1], [2, 0]])
    F = np.asfortranarray([[0.0, 1.0, 0.0], [2.0, 0.0, 3.0]])
    np.testing.assert_array_equal(spla.csr_array(F).toarray(), F)
    np.testing.assert_array_equal(spla.csr_array(F[:, ::-1]).toarray(), F[:, ::-1])


# -- SciPy -------------------------------------------------------------------------------

SCIPY_FORMATS = ["coo", "csr", "csc", "bsr", "dia", "lil", "dok"]


@given(sst.csr_arrays(), st.sampled_from(SCIPY_FORMATS), st.booleans())
def test_from_scipy_every_format(A, fmt, matrix):
    S = A.to_scipy()
    S = (sp.csr_matrix(S) if matrix else S).asformat(fmt)
    assert S.format == fmt
    expected = S.toarray()
    for cls in (spla.csr_array, spla.csc_array):
        B = cls(S)
        assert B.shape == A.shape and B.dtype == A.dtype
        assert B.format == cls.format
        np.testing.assert_allclose(B.toarray(), expected, rtol=1e-6, atol=1e-6)


@given(sst.csr_arrays())
def test_from_scipy_csr_copy_semantics(A):
    S = sp.csr_array((A.data.copy(), A.indices.copy(), A.indptr.copy()), shape=A.shape)
    B = spla.csr_array(S)
    C = spla.csr_array(S, copy=True)
    np.testing.assert_array_equal(B.toarray(), S.toarray())
    np.testing.assert_array_equal(C.toarray(), S.toarray())
    if A.nnz:
        assert np.shares_memory(B.data, S.data)
        assert not np.shares_memory(C.data, S.data)
    assert not np.shares_memory(C.indptr, S.indptr)


def test_from_scipy_matrix_classes():
    D = np.array([[0.0, 1.0, 0.0], [2.0, 0.0, 3.0]])
    for cls in (sp.coo_matrix, sp.csr_matrix, sp.csc_matrix, sp.bsr_matrix, sp.dia_matrix,
                sp.lil_matrix, sp.dok_matrix, sp.coo_array, sp.csr_array, sp.csc_array,
                sp.bsr_array, sp.dia_array, sp.lil_array, sp.dok_array):
        A = spla.csr_array(cls(D))
        np.testing.assert_array_equal(A.toarray(), D, err_msg=cls.__name__)
        assert spla.csr_array(cls(D), dtype=np.complex64).dtype == np.complex64


# -- spla ----------------------------------------------------------------------------------


@given(sst.csr_arrays())
def test_from_spla(A):
    B = spla.csr_array(A)
    assert B.shape == A.shape and B.dtype == A.dtype
    if A.nnz:
        assert np.shares_memory(B.data, A.data)
    C = spla.csr_array(A, copy=True)
    np.testing.assert_array_equal(C.toarray(), A.toarray())
    assert not np.shares_memory(C.indptr, A.indptr)
    if A.nnz:
        assert not np.shares_memory(C.data, A.data)
        C.data[:] = 1
        assert_equals_ref(A)  # A unaffected by writes to the copy
    T = spla.csr_array(A.T)
    assert T.shape == A.shape[::-1]
    np.testing.assert_array_equal(T.toarray(), A.toarray().T)
    K = spla.csc_array(A)
    assert K.format == "csc"
    np.testing.assert_array_equal(K.toarray(), A.toarray())
    K2 = spla.csc_array(A.T)
    np.testing.assert_array_equal(K2.toarray(), A.toarray().T)


@given(sst.csr_arrays(), st.sampled_from(sst.VALUE_DTYPES))
def test_from_spla_dtype(A, dtype):
    B = spla.csr_array(A, dtype=dtype)
    assert B.dtype == dtype
    if A.dtype.kind == "c" and dtype.kind != "c":
        return
    np.testing.assert_array_equal(B.data, A.data.astype(dtype))
    np.testing.assert_array_equal(B.indices, A.indices)
    np.testing.assert_array_equal(B.indptr, A.indptr)
    assert A.dtype != dtype or not A.nnz or np.shares_memory(B.data, A.data)


@given(sst.csr_arrays())
def test_csc_from_storage(A):
    # CSR storage of A read as CSC storage is the transpose
    C = spla.csc_array((A.data, A.indices, A.indptr), shape=A.shape[::-1])
    assert C.format == "csc" and C.shape == A.shape[::-1]
    assert C.indices.dtype == A.indices.dtype
    np.testing.assert_array_equal(C.toarray(), A.toarray().T)
