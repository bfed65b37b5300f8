"""Short paths for small inputs (issue 17: within 10% of SciPy's time per call at
1,000 entries) give exactly what the general paths give, over every value dtype
and the edge cases of the strategies (empty rows, 0 x n, n x 0, duplicates,
explicit zeros, int32 and int64 indices)."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

import spla
from spla._backends.cpu import csr as csr_backend
from spla._backends.cpu import reduce as R
from spla._backends.cpu import values as V
from spla._kernels.partition import row_blocks
from spla.testing import strategies as sst

from _util import scaled_examples

#: SciPy's value dtypes, every one spla's CSR stores.
ALL_DTYPES = [np.dtype(t) for t in (
    np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
    np.uint64, np.float32, np.float64, np.complex64, np.complex128)]


def _as(A, dtype, fmt):
    if A.dtype.kind == "c" and dtype.kind != "c":
        A = A.real
    if dtype.kind == "u":
        A = abs(A)  # no negative floats cast to unsigned integers
    A = A.astype(dtype)
    return A.tocsc() if fmt == "csc" else A


def _outcome(f):
    """What a call returns, or the type of what it raises."""
    try:
        return ("ok", f())
    except (ValueError, TypeError, IndexError, ZeroDivisionError) as exc:
        return ("raises", type(exc))


def _same(a, b):
    assert a[0] == b[0], (a, b)
    if a[0] == "raises":
        assert a[1] is b[1]
        return
    x, y = a[1], b[1]
    if isinstance(x, tuple):  # min/max along an axis: COO triplets
        for u, v in zip(x, y):
            _same(("ok", u), ("ok", v))
        return
    x, y = np.asarray(x), np.asarray(y)
    assert x.dtype == y.dtype and x.shape == y.shape
    assert x.tobytes() == y.tobytes()


@scaled_examples(0.6)
@given(sst.csr_arrays(), st.sampled_from(ALL_DTYPES), st.sampled_from(["csr", "csc"]))
def test_trusted_reductions_match_checked_ones(A, dtype, fmt):
    """The backend's ``trusted=True`` (storage of a validated array) skips only checks."""
    A = _as(A, dtype, fmt)
    st_ = (A.data, A.indices, A.indptr, A.shape)
    canonical = A._derived.get("canonical")
    calls = {
        "sum": lambda t, ax: R.sum_(*st_, axis=ax, canonical=canonical, fmt=fmt, trusted=t),
        "mean": lambda t, ax: R.mean(*st_, axis=ax, fmt=fmt, trusted=t),
        "count_nonzero": lambda t, ax: R.count_nonzero(*st_, axis=ax, canonical=canonical,
                                                       fmt=fmt, trusted=t),
        "max": lambda t, ax: R.minmax(*st_, "max", axis=ax, canonical=canonical, fmt=fmt,
                                      trusted=t),
        "argmin": lambda t, ax: R.argminmax(*st_, "argmin", axis=ax, canonical=canonical,
                                            fmt=fmt, trusted=t),
    }
    for name, f in calls.items():
        if dtype.kind == "c" and name in ("max", "argmin"):
            continue  # complex values have no order
        for axis in (None, 0, 1, -1):
            _same(_outcome(lambda: f(True, axis)), _outcome(lambda: f(False, axis)))


@scaled_examples(0.6)
@given(sst.csr_arrays(), st.sampled_from(ALL_DTYPES), st.sampled_from(["csr", "csc"]))
def test_axis_sums_match_scipy(A, dtype, fmt):
    """Against SciPy on the same raw storage (duplicates kept: a bool array's
    duplicates each count along an axis, as in SciPy)."""
    A = _as(A, dtype, fmt)
    cls = sp.csr_array if fmt == "csr" else sp.csc_array
    S = cls((A.data.copy(), A.indices.copy(), A.indptr.copy()), shape=A.shape)
    for axis in (0, 1, -1, -2):
        got = A.sum(axis=axis)
        want = np.asarray(S.sum(axis=axis))
        assert got.dtype == want.dtype and got.shape == want.shape
        if dtype.kind in "biu":
            np.testing.assert_array_equal(got, want)
        else:
            tol = 1e-4 if dtype.itemsize <= 4 or dtype == np.complex64 else 1e-12
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_serial_blocks_are_row_blocks_of_one():
    for indptr in (np.array([0]), np.array([0, 0, 3, 3, 7]), np.arange(0, 50, 5)):
        for idx in (np.int32, np.int64):
            p = indptr.astype(idx)
            got = R._serial_blocks(p, True)
            want = row_blocks(p, 1)
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)


@given(sst.csr_arrays(), st.sampled_from(ALL_DTYPES), st.data())
def test_keep_where_small_matches_kernel(A, dtype, data):
    A = _as(A, dtype, "csr")
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=A.nnz, max_size=A.nnz),
                              label="mask"), dtype=np.bool_)
    assert A.shape[0] + A.nnz < csr_backend._NUMPY_MAX_ITEMS  # the NumPy path
    got = csr_backend.keep_where(A, mask)
    want = V.keep_where(A.data, A.indices, A.indptr, A.shape, mask)
    for g, w in zip((got.data, got.indices, got.indptr), want[:3]):
        assert g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)
    assert not np.shares_memory(got.indices, A.indices)
    assert not np.shares_memory(got.indptr, A.indptr)


def test_keep_where_small_refuses_a_mask_of_the_wrong_size():
    A = spla.csr_array(np.eye(3))
    with pytest.raises(ValueError, match="mask"):
        csr_backend.keep_where(A, np.ones(2, dtype=np.bool_))


@scaled_examples(0.6)
@given(sst.csr_arrays(), st.sampled_from(ALL_DTYPES))
def test_eliminate_zeros_and_scalar_comparisons_match_scipy(A, dtype):
    A = _as(A, dtype, "csr")
    S = sp.csr_array((A.data.copy(), A.indices.copy(), A.indptr.copy()), shape=A.shape)
    B = A.copy()
    B.eliminate_zeros()
    assert not np.any(B.data == 0)
    np.testing.assert_array_equal(B.toarray(), A.toarray())
    if dtype.kind == "c":
        return
    t = dtype.type(1)
    got, want = A > t, S > t
    assert got.dtype == np.bool_ and got.nnz == want.nnz
    np.testing.assert_array_equal(got.toarray(), want.toarray())


# -- random_array, toarray -----------------------------------------------------------------


@pytest.mark.parametrize("shape, density", [((100, 100), 0.1), ((7, 3), 0.5), ((0, 5), 0.3),
                                            ((40, 1), 1.0), ((30, 30), 0.0)])
@pytest.mark.parametrize("format", [None, "coo", "csr", "csc"])
def test_random_array_small_matches_scipy(shape, density, format):
    A = spla.random_array(shape, density=density, rng=3, format=format)
    S = sp.random_array(shape, density=density, rng=3, format=format or "coo")
    assert A.format == S.format
    np.testing.assert_array_equal(A.toarray(), S.toarray())
    if A.format == "coo":
        assert A.has_canonical_format
        assert A.row.dtype == A.col.dtype == np.int32
        R_ = A.row.astype(np.int64) * shape[1] + A.col
        assert np.all(np.diff(R_) > 0)  # row-major order, no duplicates


@scaled_examples(0.6)
@given(sst.csr_arrays(max_side=10), st.sampled_from(ALL_DTYPES),
       st.sampled_from([None, "C", "F"]))
def test_small_toarray_matches_scipy(A, dtype, order):
    A = _as(A, dtype, "csr")
    D = A.toarray(order=order)
    S = A.to_scipy()
    want = np.zeros(A.shape, dtype=dtype)
    rows = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))
    np.add.at(want, (rows, A.indices), A.data)
    assert D.dtype == dtype
    assert D.flags.f_contiguous if order == "F" else D.flags.c_contiguous
    np.testing.assert_array_equal(D, want)
    np.testing.assert_array_equal(D, S.toarray())
