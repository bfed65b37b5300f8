"""SpMM with 1 to 8 columns on matrices whose gathers stay in cache
(``spla._kernels.csr_narrow``), and the one-column product through the SpMV."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spla
from spla.testing import strategies as sst

from _util import assert_product, max_terms, ref_dense


@pytest.fixture
def parallel_narrow(monkeypatch):
    """SpMM of any size takes the parallel path, as a large stencil matrix does."""
    from spla._backends.cpu import csr as backend

    monkeypatch.setattr(backend, "_SERIAL_MAX_ITEMS", 0)
    monkeypatch.setattr(backend, "_gathers_are_scattered", lambda A: False)
    return backend


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(A=sst.csr_arrays(dtype=st.sampled_from([np.float32, np.float64])), data=st.data())
def test_narrow_spmm_matches_reference(parallel_narrow, A, data):
    """Every width 1..8 (and 9, past the kernel), every layout of X, any chunking
    of the rows (rows split across chunks go through the carries)."""
    from spla._kernels import csr_narrow, partition

    k = data.draw(st.integers(1, 9), label="columns")
    X = data.draw(sst.dense_operands(A.shape[1], k, dtype=A.dtype), label="X")
    X0 = X.copy()
    chunk = data.draw(st.sampled_from([1, 3, 16, partition.CHUNK_ITEMS]), label="chunk items")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(partition, "CHUNK_ITEMS", chunk)
        A._derived.pop("chunks", None)
        Y = A @ X
        np.testing.assert_array_equal(A @ X, Y)  # the same bits every call
        with pytest.MonkeyPatch.context() as mp2:  # the masked SIMD tiles: same sums
            mp2.setattr(csr_narrow, "MAX_COLUMNS", 0)
            Y_tiles = A @ X
    A._derived.pop("chunks", None)
    assert Y.dtype == A.dtype and Y.shape == (A.shape[0], k)
    assert_product(Y, ref_dense(A), ref_dense(A, True), X, max_terms(A), "narrow A @ X")
    assert_product(Y_tiles, ref_dense(A), ref_dense(A, True), X, max_terms(A), "tiles A @ X")
    np.testing.assert_array_equal(X, X0)


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [1, 2, 5, 6, 8])
def test_narrow_spmm_stencil_threads_agree(dtype, index_dtype, k):
    """A 2-D Laplacian large enough for the parallel path without patches, with
    empty rows, an explicit zero and a duplicate: same bits on 1 and 2 threads."""
    import numba
    import scipy.sparse as sp

    g = 200
    lap = sp.kron(sp.eye_array(g), sp.diags_array([-1.0, 4.0, -1.0], offsets=[-1, 0, 1],
                                                  shape=(g, g))) \
        + sp.diags_array([-1.0, -1.0], offsets=[-g, g], shape=(g * g, g * g))
    L = sp.csr_array(lap)
    L.data[5] = 0.0
    rows = np.repeat(np.arange(L.shape[0]), np.diff(L.indptr))
    keep = rows % 97 != 3  # some empty rows
    rows, cols, vals = rows[keep], L.indices[keep], L.data[keep]
    rows, cols, vals = np.append(rows, 10), np.append(cols, 11), np.append(vals, 2.0)
    A = spla.csr_array((vals.astype(dtype), (rows, cols)), shape=L.shape)
    A = spla.csr_array((A.data, A.indices.astype(index_dtype), A.indptr.astype(index_dtype)),
                       shape=A.shape)
    X = np.random.default_rng(k).standard_normal((A.shape[1], k)).astype(dtype)
    Y = A @ X
    saved = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        Y1 = A @ X
    finally:
        numba.set_num_threads(saved)
    np.testing.assert_array_equal(Y, Y1)
    ref = sp.csr_array((vals, (rows, cols)), shape=L.shape)  # float64, duplicates summed
    mag = abs(ref) @ np.abs(X.astype(np.float64))
    eps = np.finfo(dtype).eps
    assert Y.dtype == dtype and Y.shape == (A.shape[0], k)
    assert np.all(np.abs(Y - ref @ X.astype(np.float64)) <= 8 * eps * mag + 1e-30)
    XF = np.asfortranarray(X)
    np.testing.assert_array_equal(A @ XF, Y)
