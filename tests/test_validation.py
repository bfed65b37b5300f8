"""Malformed input raises ValueError or TypeError with a message, never crashes."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

import spla
from spla.testing import strategies as sst

from _util import assert_product, max_row_length, ref_dense

D = np.ones(3)
I3 = np.array([0, 1, 2])


@pytest.mark.parametrize("args, shape, exc, match", [
    ((D, I3, np.array([0, 1, 3])), (3, 3), ValueError, "indptr has length 3, expected 4"),
    ((D, I3, np.array([0, 1, 2, 3, 3])), (3, 3), ValueError, "indptr has length"),
    ((D, I3, np.array([1, 1, 2, 3])), (3, 3), ValueError, r"indptr\[0\] must be 0"),
    ((D, I3, np.array([0, 2, 1, 3])), (3, 3), ValueError, "non-decreasing"),
    ((D, I3, np.array([0, 1, 2, 2])), (3, 3), ValueError, r"indptr\[-1\]"),
    ((D, I3, np.array([0, 1, 2, 4])), (3, 3), ValueError, r"indptr\[-1\]"),
    ((np.ones(2), I3, np.array([0, 1, 2, 3])), (3, 3), ValueError, "same length"),
    ((D, np.array([0, -1, 2]), np.array([0, 1, 2, 3])), (3, 3), ValueError, "negative"),
    ((D, np.array([0, 1, 3]), np.array([0, 1, 2, 3])), (3, 3), ValueError, "out of range"),
    ((D, np.array([0, 1, 2**40]), np.array([0, 1, 2, 3])), (3, 3), ValueError,
     "out of range"),
    ((D, np.array([0, -1, 2]), np.array([0, 1, 2, 3])), None, ValueError, "negative"),
    ((D, I3, np.array([], dtype=np.int64)), None, ValueError, "at least one element"),
    ((D, I3.astype(float), np.array([0, 1, 2, 3])), (3, 3), TypeError, "integers"),
    ((D, I3, np.array([0.0, 1, 2, 3])), (3, 3), TypeError, "integers"),
    ((np.array(["a", "b", "c"]), I3, np.array([0, 1, 2, 3])), (3, 3), TypeError,
     "unsupported dtype"),
    ((D.reshape(3, 1), I3, np.array([0, 1, 2, 3])), (3, 3), ValueError, "1-D"),
    ((D, I3.reshape(1, 3), np.array([0, 1, 2, 3])), (3, 3), ValueError, "1-D"),
])
def test_malformed_storage(args, shape, exc, match):
    with pytest.raises(exc, match=match):
        spla.csr_array(args, shape=shape)
    if shape is not None:
        with pytest.raises(exc, match=match):
            spla.csc_array(args, shape=shape[::-1])


@pytest.mark.parametrize("bad", [2**32 + 1, 2**62, -(2**32) + 1])
def test_out_of_range_index_with_mixed_index_dtypes(bad):
    """Regression test: int64 indices with int32 indptr are converted to int32
    before the range check, so an index that does not fit wrapped around silently:
    csr_array(([1.5], int64 [2**32 + 1], int32 [0, 1]), shape=(1, 3)) was accepted
    as column 1."""
    with pytest.raises(ValueError, match="out of range|negative"):
        spla.csr_array((np.array([1.5]), np.array([bad], dtype=np.int64),
                        np.array([0, 1], dtype=np.int32)), shape=(1, 3))


@pytest.mark.parametrize("dtype", [np.float16, np.longdouble, "U1", object, "datetime64[s]"])
def test_unsupported_dtype_argument(dtype):
    for arg in [(D, I3, np.array([0, 1, 2, 3])), np.eye(3), sp.eye_array(3),
                spla.csr_array(np.eye(3)), (D, (I3, I3))]:
        with pytest.raises(TypeError, match="unsupported dtype"):
            spla.csr_array(arg, dtype=dtype)


@pytest.mark.parametrize("arg", [np.array([["a", "b"], ["c", "d"]]),
                                 np.array([[None, 1]], dtype=object),
                                 np.array([[1, 2]], dtype="datetime64[s]"),
                                 {"a": 1}, [[{"a": 1}]]])
def test_unsupported_dense_input(arg):
    with pytest.raises(TypeError):
        spla.csr_array(arg)


@pytest.mark.parametrize("arg", [np.ones(3), np.ones((2, 2, 2)), np.float64(1.0), [[[1.0]]],
                                 np.ones((1, 1, 1, 1))])
def test_dense_input_must_be_2d(arg):
    if np.ndim(arg) != 1:  # csr_array takes 1-D input, as SciPy's (tests/test_csr_1d.py)
        with pytest.raises(ValueError, match="2-D"):
            spla.csr_array(arg)
    with pytest.raises(ValueError, match="2-D"):
        spla.csc_array(arg)


@pytest.mark.parametrize("shape, exc, match", [
    ((-1, 3), ValueError, "negative"),
    ((2, 3, 4), ValueError, "two dimensions"),
    ((3,), ValueError, "indptr has length 4, expected 2"),  # 1-D: one row of storage
    (("a", 3), TypeError, "tuple of two integers"),
    ((2.5, 3), TypeError, "tuple of two integers"),
])
def test_bad_shape(shape, exc, match):
    with pytest.raises(exc, match=match):
        spla.csr_array((D, I3, np.array([0, 1, 2, 3])), shape=shape)


def test_shape_does_not_match_input():
    with pytest.raises(ValueError, match="does not match"):
        spla.csr_array(np.eye(3), shape=(3, 4))
    with pytest.raises(ValueError, match="does not match"):
        spla.csr_array(sp.eye_array(3), shape=(3, 4))
    with pytest.raises(ValueError, match="does not match"):
        spla.csr_array(spla.csr_array(np.eye(3)), shape=(4, 3))
    with pytest.raises(ValueError, match="does not match"):
        spla.csc_array(np.eye(3), shape=(3, 4))


@pytest.mark.parametrize("data, row, col, shape, exc, match", [
    ([1.0, 2.0], [0, -1], [0, 1], (2, 2), ValueError, "row index -1 at position 1 is negative"),
    ([1.0, 2.0], [0, 1], [-3, 1], None, ValueError, "col index -3 at position 0 is negative"),
    ([1.0, 2.0], [0, 2], [0, 1], (2, 2), ValueError, "row index 2 at position 1 is out of range"),
    ([1.0, 2.0], [0, 1], [0, 5], (2, 2), ValueError, "col index 5 .* out of range"),
    ([1.0], [0, 1], [0, 1], (2, 2), ValueError, "same length"),
    ([1.0, 2.0], [0.0, 1.0], [0, 1], (2, 2), TypeError, "integers"),
    ([1.0, 2.0], [0, 1], [0.5, 1], (2, 2), TypeError, "integers"),
    (["a", "b"], [0, 1], [0, 1], (2, 2), TypeError, "unsupported dtype"),
])
def test_malformed_coo(data, row, col, shape, exc, match):
    with pytest.raises(exc, match=match):
        spla.csr_array((np.array(data), (np.array(row), np.array(col))), shape=shape)


def test_coo_needs_two_index_arrays():
    with pytest.raises(ValueError, match=r"\(data, \(row, col\)\)"):
        spla.csr_array((np.ones(2), (np.zeros(2, int), np.zeros(2, int), np.zeros(2, int))))


def test_scipy_1d_input():
    v = sp.coo_array(np.ones(3))
    if v.ndim != 1:
        pytest.skip("this SciPy has no 1-D sparse arrays")
    assert spla.csr_array(v).shape == (3,)  # SciPy's 1-D CSR
    with pytest.raises(ValueError, match="2-D"):
        spla.csc_array(v)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_matmul_shape_mismatch(fmt):
    A = spla.csr_array(np.ones((2, 3)))
    A = A if fmt == "csr" else spla.csc_array(A)
    cases = [lambda: A @ np.ones(2), lambda: A @ np.ones((2, 2)), lambda: A @ np.ones((4, 2, 2)),
             lambda: np.ones(3) @ A, lambda: np.ones((2, 3)) @ A,
             lambda: np.ones((1, 2, 3)) @ A,
             lambda: A @ spla.csr_array(np.ones((2, 2))), lambda: A @ sp.eye_array(2),
             lambda: sp.eye_array(3) @ A, lambda: spla.matmul(A, A)]
    for f in cases:
        with pytest.raises(ValueError, match="dimension mismatch"):
            f()


def test_matmul_unsupported_operands():
    A = spla.csr_array(np.eye(2))
    with pytest.raises(TypeError):
        A @ np.array(["a", "b"])
    with pytest.raises(TypeError):
        A @ np.array([object(), object()])
    with pytest.raises(TypeError):
        A + "ab"


# -- random corruptions of valid storage ----------------------------------------------------


def _valid(data, indices, indptr, shape):
    """An independent check of CSR storage (what the constructor must accept)."""
    if indices.dtype.kind not in "iu" or indptr.dtype.kind not in "iu":
        return False
    if data.ndim != 1 or indices.ndim != 1 or indptr.ndim != 1:
        return False
    m, n = shape
    if indptr.size != m + 1 or indices.size != data.size:
        return False
    p = indptr.astype(np.int64)
    if p[0] != 0 or p[-1] != indices.size or np.any(np.diff(p) < 0):
        return False
    if indices.size and (indices.astype(np.float64).min() < 0
                         or indices.astype(np.float64).max() >= n):
        return False
    return True


CORRUPTIONS = ["indptr_value", "index_value", "index_huge", "truncate", "extend", "swap_indptr",
               "shape", "float_indices", "float_indptr", "unsigned_wrap", "none"]


@st.composite
def corrupted_storage(draw):
    A = draw(sst.csr_arrays(max_side=8))
    data, indices, indptr = A.data.copy(), A.indices.copy(), A.indptr.copy()
    m, n = A.shape
    shape = (m, n)
    how = draw(st.sampled_from(CORRUPTIONS), label="corruption")
    if how == "indptr_value":
        i = draw(st.integers(0, indptr.size - 1))
        indptr[i] = draw(st.integers(-3, A.nnz + 3))
    elif how == "index_value" and indices.size:
        k = draw(st.integers(0, indices.size - 1))
        indices[k] = draw(st.integers(-3, n + 3))
    elif how == "index_huge" and indices.size:
        k = draw(st.integers(0, indices.size - 1))
        indices = indices.astype(np.int64)
        indices[k] = draw(st.sampled_from([2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**62]))
    elif how == "truncate":
        which = draw(st.sampled_from(["data", "indices", "indptr"]))
        arr = {"data": data, "indices": indices, "indptr": indptr}[which]
        if arr.size:
            arr = arr[:-1].copy()
        data, indices, indptr = [arr if w == which else a for w, a in
                                 zip(["data", "indices", "indptr"], [data, indices, indptr])]
    elif how == "extend":
        which = draw(st.sampled_from(["data", "indices", "indptr"]))
        if which == "data":
            data = np.concatenate([data, data[:1] if data.size else np.zeros(1, data.dtype)])
        elif which == "indices":
            indices = np.concatenate([indices, np.zeros(1, indices.dtype)])
        else:
            indptr = np.concatenate([indptr, indptr[-1:]])
    elif how == "swap_indptr" and indptr.size > 1:
        i = draw(st.integers(0, indptr.size - 2))
        indptr[[i, i + 1]] = indptr[[i + 1, i]]
    elif how == "shape":
        shape = (draw(st.integers(0, m + 2)), draw(st.integers(0, n + 2)))
    elif how == "float_indices":
        indices = indices.astype(np.float64)
    elif how == "float_indptr":
        indptr = indptr.astype(np.float64)
    elif how == "unsigned_wrap" and indices.size:
        indices = indices.astype(np.int64)
        indices[0] = -1
        indices = indices.astype(np.uint64)  # 2**64 - 1
    return data, indices, indptr, shape


@given(corrupted_storage(), st.sampled_from(["csr", "csc"]))
def test_random_corruptions_raise(storage_, fmt):
    data, indices, indptr, shape = storage_
    cls = spla.csr_array if fmt == "csr" else spla.csc_array
    shape_arg = shape if fmt == "csr" else shape[::-1]
    if not _valid(data, indices, indptr, shape):
        with pytest.raises((ValueError, TypeError)) as info:
            cls((data, indices, indptr), shape=shape_arg)
        assert str(info.value)  # there is a message
        return
    A = cls((data, indices, indptr), shape=shape_arg)
    A = A if fmt == "csr" else A.T
    assert A.shape == shape
    x = np.arange(1.0, shape[1] + 1)
    assert_product(A @ x, ref_dense(A), ref_dense(A, True), x, max_row_length(A), "A @ x")
