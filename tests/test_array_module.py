"""The array-module CSR algorithms (``spla._backends.array_module``), which the GPU
backend runs with CuPy for the dtypes cuSPARSE does not take, checked here with
NumPy against SciPy (no GPU needed)."""

import numpy as np
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spla._backends import array_module as xpa
from spla.testing import strategies as sst

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
DTYPES = st.sampled_from([np.int64, np.int32, np.bool_, np.float64, np.complex128])


def _scipy(A):
    return sp.csr_array((A.data, A.indices, A.indptr), shape=A.shape)


@SETTINGS
@given(A=sst.csr_arrays(dtype=DTYPES, max_side=9))
def test_transpose_keeps_every_entry(A):
    data, indices, indptr = xpa.transpose(A.indptr, A.indices, A.data, A.shape, np)
    T = sp.csr_array((data, indices, indptr), shape=A.shape[::-1])
    assert data.dtype == A.dtype and T.nnz == A.nnz  # duplicates and zeros kept
    np.testing.assert_array_equal(T.toarray(), _scipy(A).toarray().T)
    assert T.has_sorted_indices


@SETTINGS
@given(A=sst.csr_arrays(dtype=DTYPES, max_side=9), order=st.sampled_from([None, "C", "F"]),
       k=st.integers(-10, 10))
def test_dense_and_diagonal_of_canonical_storage(A, order, k):
    S = _scipy(A).copy()
    S.sum_duplicates()
    dense = xpa.to_dense(S.indptr, S.indices, S.data, S.shape, order, np)
    np.testing.assert_array_equal(dense, S.toarray())
    assert dense.dtype == A.dtype
    assert dense.flags.f_contiguous if order == "F" else dense.flags.c_contiguous
    diag = xpa.diagonal(S.indptr, S.indices, S.data, S.shape, k, np)
    np.testing.assert_array_equal(diag, np.diagonal(S.toarray(), k))
