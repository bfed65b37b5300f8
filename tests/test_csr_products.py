"""Products: sparse @ dense, dense @ sparse, sparse @ sparse (CSR and CSC).

Every result is compared with a float64 NumPy reference under the error bound
|y - y_ref| <= c eps (terms + 1) (|A| @ |x|) + tiny, with eps of the result dtype.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spla
from spla.testing import strategies as sst

from _util import (assert_product, assert_storage_unchanged, assert_within, fmt_view,
                   max_row_length, max_terms, max_terms_left, ref_dense, ref_dtype,
                   storage)

FORMATS = pytest.mark.parametrize("fmt", ["csr", "csc"])


def _check_unchanged(A, saved, x, x0):
    assert_storage_unchanged(A, saved)
    np.testing.assert_array_equal(x, x0)


@FORMATS
@given(A=sst.csr_arrays(), data=st.data())
def test_matvec(fmt, A, data):
    M = fmt_view(A, fmt)
    x = data.draw(sst.dense_operands(M.shape[1]), label="x")
    saved, x0 = storage(A), x.copy()
    y = M @ x
    assert type(y) is np.ndarray
    assert y.shape == (M.shape[0],)
    assert y.dtype == np.result_type(M.dtype, x.dtype)
    assert_product(y, ref_dense(M), ref_dense(M, True), x, max_terms(M), "A @ x")
    _check_unchanged(A, saved, x, x0)


@FORMATS
@given(A=sst.csr_arrays(), data=st.data())
def test_matmat(fmt, A, data):
    M = fmt_view(A, fmt)
    X = data.draw(sst.dense_operands(M.shape[1], st.integers(0, 5)), label="X")
    saved, X0 = storage(A), X.copy()
    Y = M @ X
    assert type(Y) is np.ndarray
    assert Y.shape == (M.shape[0], X.shape[1])
    assert Y.dtype == np.result_type(M.dtype, X.dtype)
    assert_product(Y, ref_dense(M), ref_dense(M, True), X, max_terms(M), "A @ X")
    _check_unchanged(A, saved, X, X0)


@given(A=sst.csr_arrays(), data=st.data(), distance=st.sampled_from([1, 3, 16, 32]))
def test_products_with_prefetching(A, data, distance):
    """The parallel kernels' prefetching path (taken for large scattered matrices
    only) gives the same products, whatever the prefetch distance."""
    from spla._backends.cpu import csr as backend
    from spla._kernels import csr as kernels

    x = data.draw(sst.dense_operands(A.shape[1]), label="x")
    X = data.draw(sst.dense_operands(A.shape[1], st.integers(1, 17)), label="X")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(backend, "_PREFETCH_MIN_OPERAND_BYTES", 0)
        mp.setattr(backend, "_SERIAL_MAX_ITEMS", 0)
        mp.setattr(backend, "_gathers_are_scattered", lambda A: True)
        mp.setattr(kernels, "PREFETCH_DISTANCE", distance)
        mp.setattr(kernels, "SPMM_PREFETCH_DISTANCE", distance)
        y = A @ x
        Y = A @ X
    assert_product(y, ref_dense(A), ref_dense(A, True), x, max_terms(A), "A @ x")
    assert_product(Y, ref_dense(A), ref_dense(A, True), X, max_terms(A), "A @ X")


@given(A=sst.csr_arrays(), data=st.data(), per_chunk=st.sampled_from([1, 2, 3, 7, 64]),
       scattered=st.booleans())
def test_spmv_row_loops_over_small_chunks(A, data, per_chunk, scattered):
    """Both SpMV row loops, ``spmv`` (prefetching, four partial sums on long rows)
    and ``spmv_short_rows`` (short rows near the diagonal), parallel, serial and
    streaming (non-temporal stores of y), over merge-path chunks so small that
    rows are split between chunks; and the public product on the path the
    backend picks when nothing runs serially."""
    from spla._backends.cpu import csr as backend
    from spla._kernels import csr as kernels
    from spla._kernels.partition import merge_path_partition, num_chunks

    x = data.draw(sst.dense_operands(A.shape[1]), label="x")
    dt = np.result_type(A.dtype, x.dtype)
    acc = backend._accumulator_dtype(dt)
    data_, xc = A.data.astype(dt), np.ascontiguousarray(x, dtype=dt)
    rows, nzs = merge_path_partition(A.indptr, num_chunks(A.shape[0], A.nnz, per_chunk))
    carry = np.empty(rows.size - 1, dtype=acc)
    args = (A.indptr, A.indices, data_, xc)
    for name, call in [
        ("spmv", lambda y: kernels.spmv(*args, y, rows, nzs, carry, 3, acc.type(0))),
        ("spmv_serial", lambda y: kernels.spmv_serial(*args, y, rows, nzs, carry, 0,
                                                      acc.type(0))),
        ("spmv_short_rows", lambda y: kernels.spmv_short_rows(*args, y, rows, nzs, carry,
                                                              acc.type(0))),
        ("spmv_short_rows_serial", lambda y: kernels.spmv_short_rows_serial(
            *args, y, rows, nzs, carry, acc.type(0))),
        ("spmv_stream", lambda y: kernels.spmv_stream(*args, y, rows, nzs, carry, 3,
                                                      acc.type(0))),
        ("spmv_short_rows_stream", lambda y: kernels.spmv_short_rows_stream(
            *args, y, rows, nzs, carry, acc.type(0))),
    ]:
        y = np.empty(A.shape[0], dtype=dt)
        call(y)
        assert_product(y, ref_dense(A), ref_dense(A, True), x, max_terms(A), name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(backend, "_SERIAL_MAX_ITEMS", 0)
        mp.setattr(backend, "_PREFETCH_MIN_OPERAND_BYTES", 0)
        mp.setattr(backend, "_STREAM_MIN_BYTES", data.draw(st.sampled_from([0, 1 << 62])))
        mp.setattr(backend, "_gathers_are_scattered", lambda A: scattered)
        y = A @ x
    assert_product(y, ref_dense(A), ref_dense(A, True), x, max_terms(A), "A @ x")


#: Operand widths around the SIMD row tiles of SpMM (16 float64 or 32 float32
#: columns): one masked tile, exactly one tile, several tiles and a masked rest.
TILE_WIDTHS = st.sampled_from([1, 2, 3, 7, 15, 16, 17, 31, 32, 33, 40, 48, 64, 65, 100])


@pytest.fixture
def parallel_gathered_spmm(monkeypatch):
    """SpMM of any size runs the parallel kernel, prefetching, on the line-aligned
    copy of X (``memory.gathered_rows``), as it does for large scattered matrices."""
    from spla._backends.cpu import csr as backend
    from spla._kernels import csr as kernels

    monkeypatch.setattr(backend, "_PREFETCH_MIN_OPERAND_BYTES", 0)
    monkeypatch.setattr(backend, "_SERIAL_MAX_ITEMS", 0)
    monkeypatch.setattr(backend, "_ALIGNED_COPY_MIN_ENTRIES_PER_ROW", 0)
    monkeypatch.setattr(backend, "_gathers_are_scattered", lambda A: True)
    monkeypatch.setattr(backend.memory, "saves_lines", lambda X, itemsize: True)
    monkeypatch.setattr(kernels, "SPMM_PREFETCH_DISTANCE", 3)
    return backend


# The fixture only patches module constants, the same for every example.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(A=sst.csr_arrays(dtype=st.sampled_from([np.float32, np.float64])), data=st.data())
def test_spmm_tiles_and_aligned_copy(parallel_gathered_spmm, A, data):
    """Every tiling of the SIMD SpMM, from an aligned copy of X of every layout,
    equals the reference, and the copy changes no bit of the product."""
    from spla._backends.cpu import memory

    k = data.draw(TILE_WIDTHS, label="columns")
    X = data.draw(sst.dense_operands(A.shape[1], k, dtype=A.dtype), label="X")
    X0 = X.copy()
    Y = A @ X
    assert Y.dtype == A.dtype and Y.shape == (A.shape[0], k) and Y.flags.c_contiguous
    assert_product(Y, ref_dense(A), ref_dense(A, True), X, max_terms(A), "A @ X")
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(A @ X, Y)  # the same bits every call
    with pytest.MonkeyPatch.context() as mp:  # without the copy: the same sums
        mp.setattr(parallel_gathered_spmm, "_use_aligned_copy", lambda A, X, dt: False)
        np.testing.assert_array_equal(A @ X, Y)
    memory.free_workspace()
    np.testing.assert_array_equal(A @ X, Y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [5, 16, 40, 70])
def test_spmm_long_rows_in_segments(parallel_gathered_spmm, dtype, k):
    """Rows far longer than a segment (64 entries) and than a merge-path chunk,
    between empty rows, with duplicates and explicit zeros."""
    rng = np.random.default_rng(k)
    n = 3000
    rows = np.concatenate([np.full(20000, 3), np.full(150, 7), rng.integers(0, 12, 400)])
    cols = rng.integers(0, n, rows.size)
    vals = rng.standard_normal(rows.size)
    vals[::17] = 0
    A = spla.csr_array((vals.astype(dtype), (rows, cols)), shape=(12, n))
    A = spla.csr_array((A.data, A.indices, A.indptr), shape=A.shape)  # keep as stored
    X = rng.standard_normal((n, k)).astype(dtype)
    Y = A @ X
    assert_product(Y, ref_dense(A), ref_dense(A, True), X, max_terms(A), "long rows")


@FORMATS
@given(A=sst.csr_arrays(max_side=8), data=st.data())
def test_matmul_stack(fmt, A, data):
    M = fmt_view(A, fmt)
    b = data.draw(st.integers(0, 3), label="stack")
    k = data.draw(st.integers(0, 3), label="columns")
    flat = data.draw(sst.dense_operands(b * M.shape[1] * k), label="values")
    X = flat.reshape(b, M.shape[1], k)
    if data.draw(st.booleans(), label="transposed layout"):
        X = np.ascontiguousarray(X.transpose(0, 2, 1)).transpose(0, 2, 1)
    Y = M @ X
    assert type(Y) is np.ndarray
    assert Y.shape == (b, M.shape[0], k)
    assert Y.dtype == np.result_type(M.dtype, X.dtype)
    Xr = X.astype(ref_dtype(X.dtype))
    assert_within(Y, np.matmul(ref_dense(M), Xr), np.matmul(ref_dense(M, True), np.abs(Xr)),
                  max_terms(M), Y.dtype, what="A @ stack")


@FORMATS
@given(A=sst.csr_arrays(), data=st.data())
def test_vector_matmul_sparse(fmt, A, data):
    """NumPy on the left defers to spla: the result is a plain ndarray."""
    M = fmt_view(A, fmt)
    y = data.draw(sst.dense_operands(M.shape[0]), label="y")
    saved, y0 = storage(A), y.copy()
    z = y @ M
    assert type(z) is np.ndarray
    assert z.shape == (M.shape[1],)
    assert z.dtype == np.result_type(M.dtype, y.dtype)
    assert_product(z, ref_dense(M).T, ref_dense(M, True).T, y, max_terms_left(M), "y @ A")
    _check_unchanged(A, saved, y, y0)


@FORMATS
@given(A=sst.csr_arrays(), data=st.data())
def test_matrix_matmul_sparse(fmt, A, data):
    M = fmt_view(A, fmt)
    Yt = data.draw(sst.dense_operands(M.shape[0], st.integers(0, 5)), label="Y.T")
    Y = Yt.T  # (k, m), in every layout
    saved, Y0 = storage(A), Y.copy()
    Z = Y @ M
    assert type(Z) is np.ndarray
    assert Z.shape == (Y.shape[0], M.shape[1])
    assert Z.dtype == np.result_type(M.dtype, Y.dtype)
    assert_product(Z.T, ref_dense(M).T, ref_dense(M, True).T, Y.T, max_terms_left(M), "Y @ A")
    _check_unchanged(A, saved, Y, Y0)


@given(A=sst.csr_arrays(max_side=8), data=st.data())
def test_stack_matmul_sparse(A, data):
    b = data.draw(st.integers(0, 3), label="stack")
    k = data.draw(st.integers(0, 3), label="rows")
    Y = data.draw(sst.dense_operands(b * k * A.shape[0]), label="values").reshape(
        b, k, A.shape[0])
    Z = Y @ A
    assert type(Z) is np.ndarray and Z.shape == (b, k, A.shape[1])
    Yr = Y.astype(ref_dtype(Y.dtype))
    assert_within(Z, np.matmul(Yr, ref_dense(A)), np.matmul(np.abs(Yr), ref_dense(A, True)),
                  max_terms_left(A), Z.dtype, what="stack @ A")


@given(A=sst.csr_arrays(), data=st.data())
def test_transpose_products(A, data):
    """A.T @ x and A.T @ X run the scatter kernels over A's rows."""
    x = data.draw(sst.dense_operands(A.shape[0]), label="x")
    X = data.draw(sst.dense_operands(A.shape[0], st.integers(0, 5)), label="X")
    saved = storage(A)
    nt = max_terms(A.T)
    y = A.T @ x
    assert y.dtype == np.result_type(A.dtype, x.dtype) and y.shape == (A.shape[1],)
    assert_product(y, ref_dense(A).T, ref_dense(A, True).T, x, nt, "A.T @ x")
    Y = A.T @ X
    assert Y.dtype == np.result_type(A.dtype, X.dtype) and Y.shape == (A.shape[1], X.shape[1])
    assert_product(Y, ref_dense(A).T, ref_dense(A, True).T, X, nt, "A.T @ X")
    assert_storage_unchanged(A, saved)
    # the Array API spellings
    np.testing.assert_array_equal(spla.matmul(spla.matrix_transpose(A), x), y)
    np.testing.assert_array_equal(A.mT @ X, Y)


def _assert_no_duplicates(C):
    p_ = np.asarray(C.indptr)
    rows = np.repeat(np.arange(C.shape[0], dtype=np.int64), np.diff(p_))
    assert np.unique(rows * (C.shape[1] + 1) + C.indices).size == C.nnz


def _spgemm_terms(M, B):
    return max(max_terms(M), 1) * max(max_row_length(B.tocsr()), 1)


FMT = st.sampled_from(["csr", "csc"])


@given(A=sst.csr_arrays(max_side=10), fmt_a=FMT, fmt_b=FMT, data=st.data())
def test_spgemm(A, fmt_a, fmt_b, data):
    M = fmt_view(A, fmt_a)
    p = data.draw(st.integers(0, 10), label="columns of B")
    inner = M.shape[1]
    B0 = data.draw(sst.csr_arrays(shape=(inner, p) if fmt_b == "csr" else (p, inner)),
                   label="B storage")
    B = fmt_view(B0, fmt_b)
    saved_a, saved_b = storage(A), storage(B0)
    C = M @ B
    assert isinstance(C, spla.csr_array)
    assert C.shape == (M.shape[0], p)
    assert C.dtype == np.result_type(M.dtype, B.dtype)
    _assert_no_duplicates(C)  # columns in SciPy's order: not sorted (tests/test_spgemm.py)
    assert np.all(C.data != 0), "computed zeros must be dropped"
    assert_within(C.toarray(), ref_dense(M) @ ref_dense(B),
                  ref_dense(M, True) @ ref_dense(B, True), _spgemm_terms(M, B), C.dtype,
                  what="A @ B")
    assert_storage_unchanged(A, saved_a)
    assert_storage_unchanged(B0, saved_b)


@given(A=sst.csr_arrays(max_side=10), data=st.data())
def test_spgemm_with_scipy(A, data):
    p = data.draw(st.integers(0, 10), label="columns of B")
    B = data.draw(sst.csr_arrays(shape=(A.shape[1], p)), label="B")
    S = sp.csr_array((B.data, B.indices, B.indptr), shape=B.shape)
    R = ref_dense(A) @ ref_dense(B)
    Rabs = ref_dense(A, True) @ ref_dense(B, True)
    C = A @ S
    assert isinstance(C, spla.csr_array)
    _assert_no_duplicates(C)
    assert_within(C.toarray(), R, Rabs, _spgemm_terms(A, B), C.dtype, what="spla @ scipy")
    # scipy on the left: SciPy returns NotImplemented, spla computes it
    St = sp.csr_array((A.data, A.indices, A.indptr), shape=A.shape)
    D = St @ B
    assert isinstance(D, spla.csr_array)
    _assert_no_duplicates(D)
    assert_within(D.toarray(), R, Rabs, _spgemm_terms(A, B), D.dtype, what="scipy @ spla")


@given(sst.csr_arrays(max_side=10))
def test_gram_matrices(A):
    G = A @ A.T
    assert G.shape == (A.shape[0],) * 2
    _assert_no_duplicates(G)
    Ar, Aa = ref_dense(A), ref_dense(A, True)
    assert_within(G.toarray(), Ar @ Ar.T, Aa @ Aa.T, _spgemm_terms(A, A.T), G.dtype, what="A A^T")
    H = A.T @ A
    assert H.shape == (A.shape[1],) * 2
    _assert_no_duplicates(H)
    assert_within(H.toarray(), Ar.T @ Ar, Aa.T @ Aa, _spgemm_terms(A.T, A), H.dtype, what="A^T A")


# -- result dtypes --------------------------------------------------------------------------

VALUE = [np.float32, np.float64, np.complex64, np.complex128]
OPERAND = VALUE + [np.int64]


@pytest.mark.parametrize("adt", VALUE)
@pytest.mark.parametrize("xdt", OPERAND)
def test_result_dtype_is_numpy_promotion(adt, xdt):
    D = np.array([[1, 0, 2], [0, 0, 3]], dtype=adt)
    A = spla.csr_array(D)
    x = np.array([1, 2, 3], dtype=xdt)
    X = np.array([[1, 2], [3, 4], [5, 6]], dtype=xdt)
    y2 = np.array([1, 2], dtype=xdt)
    expected = np.result_type(adt, xdt)
    for got, ref in [(A @ x, D @ x), (A @ X, D @ X), (y2 @ A, y2 @ D), (A.T @ y2, D.T @ y2),
                     (y2[None, :] @ A, y2[None, :] @ D), (A @ X[None], D @ X[None])]:
        assert got.dtype == expected, (got.dtype, expected)
        np.testing.assert_array_equal(got, ref)
    if np.dtype(xdt).kind != "i":
        B = spla.csr_array(X)
        C = A @ B
        assert C.dtype == expected
        np.testing.assert_array_equal(C.toarray(), D @ X)


def test_float32_times_int64_is_float64():
    A = spla.csr_array(np.array([[1.0, 2.0]], dtype=np.float32))
    y = A @ np.array([2**40, 1], dtype=np.int64)
    assert y.dtype == np.float64
    assert y[0] == 2.0**40 + 2.0  # not rounded to float32


def test_matvec_with_list_and_scalar_like():
    A = spla.csr_array(np.array([[1.0, 2.0], [0.0, 3.0]]))
    np.testing.assert_array_equal(A @ [1, 1], [3.0, 3.0])
    np.testing.assert_array_equal([1, 1] @ A, [1.0, 5.0])
    with pytest.raises(ValueError, match="scalar"):
        A @ 2.0


@pytest.mark.parametrize("shape", [(3, 0), (0, 3), (0, 0)])
def test_matmul_stack_empty_dimensions(shape):
    """Stacks of matrices work for every shape NumPy accepts, including zero dims.

    Regression test: ``csr_array((3, 0)) @ np.zeros((2, 0, 4))`` raised
    ``ValueError: cannot reshape array of size 0 into shape (0,newaxis)``.
    """
    A = spla.csr_array(np.zeros(shape))
    X = np.zeros((2, shape[1], 4))
    Y = A @ X
    assert Y.shape == (2, shape[0], 4)
    np.testing.assert_array_equal(Y, np.zeros(shape) @ X)
    Z = np.zeros((2, 4, shape[0])) @ A
    assert Z.shape == (2, 4, shape[1])


@pytest.mark.parametrize("kind", ["stencil", "random", "few columns", "complex"])
def test_transposed_product_lane_windows_match_full_lanes(kind):
    """The uncached scatter of A.T @ x above the parallel size (``A.T @ x`` of a
    matrix without a lane plan): each lane writes only its window of columns, and
    the result is bit for bit the full-width lanes' sum."""
    from spla._backends.cpu import csr as backend
    from spla._kernels import csr as kernels

    rng = np.random.default_rng(7)
    if kind == "stencil":  # local rows: the windows barely overlap
        T = sp.diags_array([-1.0, 2.0, -1.0], offsets=[-1, 0, 1], shape=(120, 120))
        S = sp.csr_array(sp.kronsum(T, T, format="csr"))
    elif kind == "few columns":
        S = sp.random_array((40_000, 3), density=0.5, rng=rng, format="csr")
    else:
        S = sp.random_array((30_000, 20_000), density=1e-3, rng=rng, format="csr")
    if kind == "complex":
        S = S.astype(np.complex128)
        S.data += 1j * rng.standard_normal(S.nnz)
    A = spla.csr_array(S)
    assert A.nnz >= backend._SCATTER_PARALLEL_MIN_NNZ
    x = rng.standard_normal(S.shape[0]).astype(S.dtype)
    got = backend.scatter(A._major(), x)
    if kind != "stencil":  # (the stencil has a lane plan: A.T @ x takes it)
        assert (A.T @ x).tobytes() == got.tobytes()
    rows, nzs = backend._scatter_lanes(A)
    lanes = np.zeros((rows.size - 1, S.shape[1]), dtype=got.dtype)
    kernels.rmatvec(A.indptr, A.indices, A.data, x, lanes, rows, nzs)
    full = np.empty(S.shape[1], dtype=got.dtype)
    kernels.sum_lanes(lanes, full)
    assert np.array_equal(got.view(np.uint8), full.view(np.uint8))
    np.testing.assert_allclose(got, S.T @ x, rtol=1e-12, atol=1e-12)
    lo, hi, offsets = backend._lane_windows(A, rows, nzs)
    assert offsets[-1] <= lanes.size and (lo <= hi).all()
    if kind == "stencil":
        assert offsets[-1] < 2 * S.shape[1]  # not one full-width output per lane
    # the cached windows give the same
    assert backend.scatter(A._major(), x).tobytes() == got.tobytes()
