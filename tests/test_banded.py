"""banded_array: construction, round trips, products and validation, against dense
references (values are quarters, exact in every dtype, so comparisons are tight)."""

import contextlib

import numba
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import spla
from spla._kernels import banded as KB
from spla.testing import assert_allclose
from spla.testing._strategies_banded import banded_arrays

from _util import assert_product

# The first example of a test may compile or load Numba kernels: no deadline.
relaxed = settings(deadline=None)

DTYPES = ["float32", "float64", "complex64", "complex128"]


@contextlib.contextmanager
def tiny_blocks(rows=3):
    """Shrink the kernels' row blocks so that small arrays span many of them."""
    old = KB.BLOCK
    KB.BLOCK = rows
    try:
        yield
    finally:
        KB.BLOCK = old


def operand(draw_seed, shape, dtype):
    rng = np.random.default_rng(draw_seed)
    x = rng.integers(-8, 9, size=shape) / 4.0
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.integers(-8, 9, size=shape) / 4.0
    return x.astype(dtype)


def reference(A):
    """Dense matrix from the definition data[d, i] = A[i, i + offsets[d]]."""
    m, n = A.shape
    D = np.zeros((m, n), dtype=A.dtype)
    for d, k in enumerate(A.offsets):
        for i in range(m):
            if 0 <= i + k < n:
                D[i, i + k] = A.data[d, i]
    return D


# -- structure and conversions ------------------------------------------------------------


@relaxed
@given(A=banded_arrays())
def test_toarray_matches_definition(A):
    D = reference(A)
    assert_allclose(A.toarray(), D, rtol=0)
    assert A.nnz == sum(max(0, min(A.shape[0], A.shape[1] - k) - max(0, -k)) for k in A.offsets)
    assert A.format == "banded" and A.ndim == 2
    assert A.nbytes == A.data.nbytes + A.offsets.nbytes
    l, u = A.bandwidth
    if A.offsets.size:
        assert l == max(0, -A.offsets[0]) and u == max(0, A.offsets[-1])
    assert np.all(np.diff(A.offsets) > 0)


@relaxed
@given(A=banded_arrays())
def test_dense_round_trip(A):
    D = reference(A)
    B = spla.banded_array(D, offsets=A.offsets)
    assert np.array_equal(B.offsets, A.offsets)
    assert_allclose(B.toarray(), D, rtol=0)
    C = spla.banded_array(D)  # diagonals that hold a non-zero
    assert set(C.offsets.tolist()) <= set(A.offsets.tolist())
    assert_allclose(C.toarray(), D, rtol=0)
    assert C.dtype == A.dtype


@relaxed
@given(A=banded_arrays())
def test_csr_round_trip(A):
    D = reference(A)
    C = spla.csr_array(A)
    assert C.nnz == A.nnz and C.has_canonical_format
    assert_allclose(C, D, rtol=0)
    assert_allclose(A.tocsr(), D, rtol=0)
    B = spla.banded_array(C)
    assert np.array_equal(B.offsets, A.offsets[[A.diagonal(k).size > 0 for k in A.offsets]])
    assert_allclose(B.toarray(), D, rtol=0)
    assert_allclose(spla.banded_array(C.to_scipy()).toarray(), D, rtol=0)
    assert_allclose(spla.banded_array(A.tocsc()).toarray(), D, rtol=0)


@relaxed
@given(A=banded_arrays())
def test_scipy_dia_round_trip(A):
    D = reference(A)
    S = A.to_scipy()
    assert S.format == "dia" and S.shape == A.shape
    assert_allclose(S.toarray(), D, rtol=0)
    B = spla.banded_array(S)
    assert np.array_equal(B.offsets, A.offsets)
    assert_allclose(B.toarray(), D, rtol=0)


@relaxed
@given(A=banded_arrays())
def test_lapack_round_trip(A):
    D = reference(A)
    m, n = A.shape
    ab, (l, u) = A.to_lapack()
    assert (l, u) == A.bandwidth and ab.shape == (l + u + 1, n)
    for i in range(m):
        for j in range(n):
            if -l <= j - i <= u:
                assert ab[u + i - j, j] == D[i, j]
    B = spla.banded_array.from_lapack(ab, (l, u), shape=A.shape)
    assert_allclose(B.toarray(), D, rtol=0)


@relaxed
@given(A=banded_arrays(), dtype=st.sampled_from(DTYPES))
def test_transpose_astype_copy(A, dtype):
    D = reference(A)
    assert_allclose(A.T.toarray(), D.T, rtol=0)
    assert A.T.shape == A.shape[::-1]
    if np.dtype(dtype).kind == "c" or A.dtype.kind != "c":
        B = A.astype(dtype)
        assert B.dtype == np.dtype(dtype)
        assert_allclose(B.toarray(), D.astype(dtype), rtol=0)
    assert A.to_device("cpu") is A
    assert_allclose(A.copy().toarray(), D, rtol=0)
    assert_allclose(A.conj().toarray(), D.conj(), rtol=0)
    assert_allclose((2 * A).toarray(), 2 * D, rtol=0)
    assert (2 * A).format == "banded"
    for k in range(-A.shape[0], A.shape[1] + 1):
        assert_allclose(A.diagonal(k), np.diagonal(D, k), rtol=0)
    assert A.asformat("banded") is A
    assert_allclose(spla.csr_array(D).asformat("banded").toarray(), D, rtol=0)


def test_scipy_dia_with_duplicate_unsorted_offsets_and_odd_width():
    data = np.array([[1.0, 2.0, 3.0, 4.0, 5.0], [10.0, 20.0, 30.0, 40.0, 50.0],
                     [7.0, 8.0, 9.0, 6.0, 5.0]])
    for width in (2, 5):
        S = sp.dia_array((data[:, :width], [1, -1, 0]), shape=(4, 4))
        B = spla.banded_array(S)
        assert B.offsets.tolist() == [-1, 0, 1]
        assert_allclose(B.toarray(), S.toarray(), rtol=0)


# -- products -------------------------------------------------------------------------------


@relaxed
@given(A=banded_arrays(), xdtype=st.sampled_from(DTYPES + ["int64"]), seed=st.integers(0, 99),
       tiny=st.booleans())
def test_spmv(A, xdtype, seed, tiny):
    x = operand(seed, A.shape[1], xdtype)
    D = reference(A)
    with tiny_blocks() if tiny else contextlib.nullcontext():
        y = A @ x
    expected = D @ x
    assert y.dtype == np.result_type(A.dtype, x.dtype if xdtype != "int64" else np.float64)
    assert_allclose(y, expected)
    z = operand(seed + 1, A.shape[0], xdtype)
    assert_allclose(z @ A, z @ D)
    assert_allclose(A.T @ z, D.T @ z)


@relaxed
@given(A=banded_arrays(), k=st.integers(0, 5), order=st.sampled_from("CF"),
       dtype=st.sampled_from(DTYPES), seed=st.integers(0, 99), tiny=st.booleans())
def test_spmm(A, k, order, dtype, seed, tiny):
    X = operand(seed, (A.shape[1], k), dtype)
    X = np.asfortranarray(X) if order == "F" else X
    with tiny_blocks() if tiny else contextlib.nullcontext():
        Y = A @ X
    assert Y.shape == (A.shape[0], k)
    assert_allclose(Y, reference(A) @ X)


@relaxed
@given(A=banded_arrays(dtype="float64"), seed=st.integers(0, 99))
def test_stack_and_rmatmul(A, seed):
    if A.shape[1]:  # SparseArray.__matmul__ cannot reshape a stack with 0 rows (CSR too)
        X = operand(seed, (2, A.shape[1], 3), "float64")
        assert_allclose(A @ X, reference(A) @ X)
    x = operand(seed, A.shape[0], "float64")
    assert_allclose(x @ A, x @ reference(A))


def test_spmv_many_blocks_and_threads_bitwise():
    rng = np.random.default_rng(0)
    n = 3 * KB.BLOCK + 17
    offs = np.arange(-5, 7)
    A = spla.banded_array((rng.standard_normal((offs.size, n)), offs), shape=(n, n + 3))
    x = rng.standard_normal(n + 3)
    X = rng.standard_normal((n + 3, 4))
    D = A.toarray()
    # Error bound scaled by |A| |x| (a plain rtol fails on entries that cancel).
    assert_product(A @ x, D, np.abs(D), x, offs.size, "banded SpMV")
    assert_product(A @ X, D, np.abs(D), X, offs.size, "banded SpMM")
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        y1, Y1 = A @ x, A @ X
    finally:
        numba.set_num_threads(old)
    assert np.array_equal(y1, A @ x) and np.array_equal(Y1, A @ X)
    f32 = A.astype("float32")
    assert (f32 @ x.astype("float32")).dtype == np.float32
    assert_allclose(f32 @ x.astype("float32"), f32.astype("float64") @ x.astype("float32"),
                    rtol=1e-5, atol=1e-4)


def test_sparse_operations_fall_back_to_csr():
    D = np.array([[1.0, 2.0, 0.0], [0.0, 3.0, 4.0], [0.0, 0.0, 5.0]])
    A = spla.banded_array(D)
    assert_allclose(A + A, 2 * D)
    assert_allclose(A @ A, D @ D)
    assert_allclose(A.sum(axis=0), D.sum(axis=0))
    assert_allclose(A.multiply(D), D * D)
    assert A.count_nonzero() == 5
    assert "banded" in spla.formats()
    assert "banded_array" in repr(A)


# -- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, offsets, shape, exc, match",
    [
        (np.ones((1, 3)), [3], (3, 3), ValueError, "out of range"),
        (np.ones((1, 3)), [-3], (3, 3), ValueError, "out of range"),
        (np.ones((1, 2)), [-2], (2, 5), ValueError, "out of range"),
        (np.ones((2, 3)), [1, 0], (3, 3), ValueError, "sorted"),
        (np.ones((2, 3)), [1, 1], (3, 3), ValueError, "duplicated"),
        (np.ones((2, 3)), [0], (3, 3), ValueError, "data has shape"),
        (np.ones((1, 4)), [0], (3, 3), ValueError, "data has shape"),
        (np.ones((1, 1, 3)), [0], (3, 3), ValueError, "data has shape"),
        (np.ones((1, 3)), [[0]], (3, 3), ValueError, "1-D"),
        (np.ones((1, 3)), [0.5], (3, 3), TypeError, "integers"),
        (np.ones((1, 3)), ["a"], (3, 3), TypeError, "integers"),
        (np.ones((1, 3)), [0], None, ValueError, "shape"),
        (np.ones((1, 3)), [0], (3, -1), ValueError, "negative"),
        (np.array([["a", "b", "c"]], dtype=object), [0], (3, 3), TypeError, "numeric"),
        (np.array([["a", "b", "c"]]), [0], (3, 3), TypeError, "dtype"),
        (np.ones((0, 0)), [], (0, 0), None, None),
    ],
)
def test_bad_storage_raises(data, offsets, shape, exc, match):
    if exc is None:
        assert spla.banded_array((data, offsets), shape=shape).nnz == 0
        return
    with pytest.raises(exc, match=match):
        spla.banded_array((data, offsets), shape=shape)


def test_bad_input_raises():
    D = np.array([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(ValueError, match="not among the given offsets"):
        spla.banded_array(D, offsets=[0, 1])
    with pytest.raises(ValueError, match="not among the given offsets"):
        spla.banded_array(sp.csr_array(D), offsets=[0])
    with pytest.raises(ValueError, match="not among the given offsets"):
        spla.banded_array(sp.dia_array(D), offsets=[0])
    with pytest.raises(ValueError, match="does not match"):
        spla.banded_array(D, shape=(3, 3))
    with pytest.raises(ValueError, match="2-D"):
        spla.banded_array(np.ones(3))
    with pytest.raises(TypeError, match="unsupported dtype"):
        spla.banded_array(D, dtype="float16")
    with pytest.raises(TypeError):
        spla.banded_array(object())
    with pytest.raises(ValueError, match="rows"):
        spla.banded_array.from_lapack(np.ones((2, 3)), (1, 1))
    with pytest.raises(ValueError, match="negative"):
        spla.banded_array.from_lapack(np.ones((1, 3)), (-1, 1))
    with pytest.raises(ValueError, match="columns"):
        spla.banded_array.from_lapack(np.ones((1, 3)), (0, 0), shape=(3, 4))
    A = spla.banded_array(D)
    with pytest.raises(ValueError, match="dimension mismatch"):
        A @ np.ones(3)
    with pytest.raises(ValueError, match="dimension mismatch"):
        A @ np.ones((3, 2))
    with pytest.raises(TypeError):
        A @ np.array(["a", "b"])
    with pytest.raises(ValueError, match="offsets are given twice"):
        spla.banded_array((np.ones((1, 2)), [0]), shape=(2, 2), offsets=[0])


def test_from_lapack_matches_scipy_convention():
    # the example of scipy.linalg.solve_banded's docstring
    a = np.array([[5, 2, -1, 0, 0], [1, 4, 2, -1, 0], [0, 1, 3, 2, -1],
                  [0, 0, 1, 2, 2], [0, 0, 0, 1, 1]], dtype=float)
    ab = np.array([[0, 0, -1, -1, -1], [0, 2, 2, 2, 2], [5, 4, 3, 2, 1], [1, 1, 1, 1, 0]],
                  dtype=float)
    A = spla.banded_array.from_lapack(ab, (1, 2))
    assert_allclose(A.toarray(), a, rtol=0)
    ab2, lu = spla.banded_array(a).to_lapack()
    assert lu == (1, 2)
    assert_allclose(ab2, ab, rtol=0)


def test_non_native_byte_order_and_strided_input():
    data = np.arange(6.0).reshape(2, 3)
    A = spla.banded_array((data.astype(">f8"), [-1, 1]), shape=(3, 3))
    B = spla.banded_array((np.asfortranarray(data), [-1, 1]), shape=(3, 3))
    assert A.dtype == np.float64 and A.data.flags.c_contiguous
    assert_allclose(A.toarray(), B.toarray(), rtol=0)
    assert_allclose(A @ np.ones(3, dtype=">f8"), reference(B) @ np.ones(3))
    assert spla.banded_array(np.eye(3, dtype=">c8")).dtype == np.complex64
    assert spla.banded_array.from_lapack(np.ones((1, 3), dtype=">f4"), (0, 0)).dtype == np.float32
