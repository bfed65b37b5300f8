"""Elementwise arithmetic: +, -, * and / with sparse, dense and scalar operands."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

import spla
from spla.testing import strategies as sst

from _util import (assert_storage_unchanged, assert_within, fmt_view, max_row_length,
                   ref_dense, ref_dtype, storage)

FORMATS = pytest.mark.parametrize("fmt", ["csr", "csc"])

SCALARS = st.sampled_from([
    2, -3, 0.5, -1.25, 2.5j, 1 - 0.5j, True,
    np.float32(2.0), np.float64(-0.5), np.complex64(1 + 1j), np.complex128(0.25j),
    np.int64(3), np.int32(-2), np.array(4.0), np.float16(0.5),
])


def _dups(M):
    """Largest number of stored entries of one row of the storage (bounds the terms
    summed into one position)."""
    return max_row_length(M if M.format == "csr" else M.T)


def _expected_dtype(*ops):
    dt = np.result_type(*ops)
    if dt.kind in "biu":
        return np.dtype(np.float64)
    if dt == np.float16:
        return np.dtype(np.float32)
    return dt


def _check_sparse_result(C, shape, dtype):
    assert isinstance(C, spla.SparseArray)
    assert C.format in ("csr", "csc")
    assert C.shape == shape
    assert C.dtype == dtype, (C.dtype, dtype)


def _same_shape(A, fmt, data, label="B"):
    shape = A.shape if fmt == "csr" else A.shape[::-1]
    return fmt_view(data.draw(sst.csr_arrays(shape=shape), label=label), fmt)


# -- sparse with sparse ----------------------------------------------------------------------


FMT = st.sampled_from(["csr", "csc"])


@given(A0=sst.csr_arrays(), fmt_a=FMT, fmt_b=FMT, data=st.data())
def test_add_subtract_sparse(A0, fmt_a, fmt_b, data):
    A = fmt_view(A0, fmt_a)
    B = _same_shape(A, fmt_b, data)
    saved_a, saved_b = storage(A), storage(B)
    nt = _dups(A) + _dups(B)
    Ar, Br = ref_dense(A), ref_dense(B)
    mag = ref_dense(A, True) + ref_dense(B, True)
    dt = np.result_type(A.dtype, B.dtype)
    for C, ref, what in [(A + B, Ar + Br, "A + B"), (A - B, Ar - Br, "A - B"),
                         (B - A, Br - Ar, "B - A")]:
        _check_sparse_result(C, A.shape, dt)
        assert C.has_canonical_format, what
        assert np.all(C.data != 0), f"{what}: computed zeros must be dropped"
        assert_within(C.toarray(), ref, mag, nt, dt, what=what)
    assert_storage_unchanged(A, saved_a)
    assert_storage_unchanged(B, saved_b)


@given(A0=sst.csr_arrays(), fmt=FMT)
def test_subtract_self_is_empty(A0, fmt):
    """A - A has no stored entry: every position computes to exactly zero, and
    computed zeros are dropped (duplicates of A are summed as in A.toarray())."""
    A = fmt_view(A0, fmt)
    for C in (A - A, A + (-A), -A + A):
        assert C.shape == A.shape
        assert C.nnz == 0, (C.nnz, C.data)
        np.testing.assert_array_equal(C.toarray(), np.zeros(A.shape))


@given(A0=sst.csr_arrays(canonical=True))
def test_subtract_self_is_empty_canonical(A0):
    assert (A0 - A0).nnz == 0
    assert (A0.T - A0.T).nnz == 0


def test_subtract_self_with_duplicates():
    """Regression test: A - A is empty when A stores duplicates.

    With entries 8.5 and 6.4 (float32) at one position, ``A - A`` computed
    ((8.5 + 6.4) - 8.5) - 6.4 = -4.77e-07 and stored it (nnz 1); SciPy, which sums
    each operand's duplicates first, gives (8.5 + 6.4) - (8.5 + 6.4) = 0.
    """
    A = spla.csr_array((np.array([8.5, 6.4], np.float32), np.array([0, 0]), np.array([0, 2])),
                       shape=(1, 1))
    C = A - A
    assert C.nnz == 0, C.data
    np.testing.assert_array_equal(C.toarray(), [[0.0]])


@given(A0=sst.csr_arrays(), fmt_a=FMT, fmt_b=FMT, data=st.data())
def test_multiply_sparse(A0, fmt_a, fmt_b, data):
    A = fmt_view(A0, fmt_a)
    B = _same_shape(A, fmt_b, data)
    saved_a, saved_b = storage(A), storage(B)
    dt = np.result_type(A.dtype, B.dtype)
    ref = ref_dense(A) * ref_dense(B)
    mag = ref_dense(A, True) * ref_dense(B, True)
    for C in (A.multiply(B), A * B, B.multiply(A)):
        _check_sparse_result(C, A.shape, dt)
        assert C.has_canonical_format
        assert np.all(C.data != 0)
        assert_within(C.toarray(), ref, mag, _dups(A) + _dups(B), dt, what="A * B")
    assert_storage_unchanged(A, saved_a)
    assert_storage_unchanged(B, saved_b)


@given(A=sst.csr_arrays(), data=st.data())
def test_scipy_operands(A, data):
    B = data.draw(sst.csr_arrays(shape=A.shape), label="B")
    S = sp.csr_array((B.data, B.indices, B.indptr), shape=B.shape)
    Ar, Br = ref_dense(A), ref_dense(B)
    mag = ref_dense(A, True) + ref_dense(B, True)
    nt = _dups(A) + _dups(B)
    for C, ref, what in [(A + S, Ar + Br, "A + S"), (A - S, Ar - Br, "A - S"),
                         (S + A, Br + Ar, "S + A"), (S - A, Br - Ar, "S - A")]:
        assert isinstance(C, spla.SparseArray), what
        assert_within(C.toarray(), ref, mag, nt, C.dtype, what=what)
    C = A.multiply(S)
    assert isinstance(C, spla.SparseArray)
    assert_within(C.toarray(), Ar * Br, ref_dense(A, True) * ref_dense(B, True), nt, C.dtype,
                  what="A.multiply(S)")


# -- with scalars ------------------------------------------------------------------------------


@given(A0=sst.csr_arrays(), fmt=FMT, s=SCALARS)
def test_scalar_multiply_divide(A0, fmt, s):
    A = fmt_view(A0, fmt)
    saved = storage(A)
    dt = _expected_dtype(A.dtype, s)
    Ar, mag = ref_dense(A), ref_dense(A, True)
    sv = complex(s) if np.iscomplexobj(s) else float(s)
    # SciPy's rule for true division: values that cast to float64 are divided in
    # float64 (a float32 array divided by a scalar is float64); complex keep theirs.
    div_dt = np.dtype(np.float64) if np.can_cast(A.dtype, np.float64) else dt
    for C, ref, m, what, want in [(A * s, Ar * sv, mag * abs(sv), "A * s", dt),
                                  (s * A, Ar * sv, mag * abs(sv), "s * A", dt),
                                  (A.multiply(s), Ar * sv, mag * abs(sv), "A.multiply(s)", dt),
                                  (A / s, Ar / sv, mag / abs(sv), "A / s",
                                   np.result_type(div_dt, s))]:
        _check_sparse_result(C, A.shape, want)
        assert C.format == A.format, what
        assert_within(C.toarray(), ref, m, _dups(A) + 1, dt, what=what)
    assert_storage_unchanged(A, saved)


@given(A0=sst.csr_arrays(), fmt=FMT)
def test_negate(A0, fmt):
    A = fmt_view(A0, fmt)
    N = -A
    assert N.format == A.format and N.dtype == A.dtype and N.shape == A.shape
    np.testing.assert_array_equal(N.data, -A.data)
    np.testing.assert_array_equal(N.toarray(), -A.toarray())
    assert not (A.nnz and np.shares_memory(N.data, A.data))
    assert (+A) is A


@given(A0=sst.csr_arrays(), fmt=FMT,
       zero=st.sampled_from([0, 0.0, 0j, np.float32(0), np.float64(0)]))
def test_add_zero_scalar(A0, fmt, zero):
    A = fmt_view(A0, fmt)
    dt = A.dtype  # SciPy: A + 0 is a copy of A
    for C in (A + zero, zero + A, A - zero):
        assert isinstance(C, spla.SparseArray) and C.dtype == dt and C.shape == A.shape
        assert_within(C.toarray(), ref_dense(A), ref_dense(A, True), _dups(A), dt,
                      what="A + 0")
        if A.nnz:
            assert not np.shares_memory(C.data, A.data)
    C = zero - A
    assert_within(C.toarray(), -ref_dense(A), ref_dense(A, True), _dups(A), dt, what="0 - A")


@pytest.mark.parametrize("s", [1, -2.5, 1j, np.float32(3), np.nan, np.inf])
def test_add_nonzero_scalar_raises(s):
    A = spla.csr_array(np.eye(3))
    for f in (lambda: A + s, lambda: s + A, lambda: A - s, lambda: s - A, lambda: A.T + s):
        with pytest.raises(NotImplementedError, match="scalar"):
            f()


# -- with dense operands -------------------------------------------------------------------------


def _broadcast_operand(data, shape, label="D"):
    m, n = shape
    target = data.draw(st.sampled_from(["full", "row1d", "row2d", "col", "scalar2d"]),
                       label="broadcast")
    if target == "full":
        return data.draw(sst.dense_operands(m, n), label=label)
    if target == "row1d":
        return data.draw(sst.dense_operands(n), label=label)
    if target == "row2d":
        return data.draw(sst.dense_operands(1, n), label=label)
    if target == "col":
        return data.draw(sst.dense_operands(m, 1), label=label)
    return data.draw(sst.dense_operands(1, 1), label=label)


@FORMATS
@given(A0=sst.csr_arrays(), data=st.data())
def test_add_dense(fmt, A0, data):
    A = fmt_view(A0, fmt)
    D = _broadcast_operand(data, A.shape)
    saved, D0 = storage(A), D.copy()
    dt = np.result_type(A.dtype, D.dtype)
    Dr = D.astype(ref_dtype(D.dtype))
    Ar = ref_dense(A)
    mag = ref_dense(A, True) + np.abs(Dr)
    for R, ref, what in [(A + D, Ar + Dr, "A + D"), (D + A, Dr + Ar, "D + A"),
                         (A - D, Ar - Dr, "A - D"), (D - A, Dr - Ar, "D - A")]:
        assert type(R) is np.ndarray, what
        assert R.dtype == dt, (what, R.dtype, dt)
        assert R.shape == A.shape, what
        assert_within(R, ref, mag, _dups(A) + 1, dt, what=what)
    assert_storage_unchanged(A, saved)
    np.testing.assert_array_equal(D, D0)


@FORMATS
@given(A0=sst.csr_arrays(), data=st.data())
def test_multiply_dense(fmt, A0, data):
    A = fmt_view(A0, fmt)
    D = _broadcast_operand(data, A.shape)
    saved, D0 = storage(A), D.copy()
    dt = np.result_type(A.dtype, D.dtype)
    Dr = D.astype(ref_dtype(D.dtype))
    ref = ref_dense(A) * Dr
    mag = ref_dense(A, True) * np.abs(Dr)
    for C, what in [(A.multiply(D), "A.multiply(D)"), (A * D, "A * D"), (D * A, "D * A")]:
        assert isinstance(C, spla.SparseArray), what
        assert C.shape == A.shape and C.dtype == dt, what
        assert np.all(C.data != 0), f"{what}: computed zeros must be dropped"
        assert_within(C.toarray(), ref, mag, _dups(A), dt, what=what)
    assert_storage_unchanged(A, saved)
    np.testing.assert_array_equal(D, D0)


def test_csc_plus_row_vector():
    """Regression test: a 1-D operand broadcasts as a row for a CSC array too.

    ``A.T + v`` (A.T is a csc_array) gave the result of broadcasting ``v`` as a
    column for square arrays and raised ValueError for non-square ones.
    """
    D = np.array([[1.0, 2.0], [3.0, 4.0]])
    v = np.array([1.0, 10.0])
    C = spla.csr_array(D).T  # csc
    np.testing.assert_array_equal(C + v, D.T + v)
    np.testing.assert_array_equal(v + C, D.T + v)
    R = spla.csr_array(np.array([[1.0, 2.0, 0.0], [0.0, 3.0, 4.0]])).T  # (3, 2) csc
    np.testing.assert_array_equal(R + v, R.toarray() + v)


def test_csc_multiply_row_vector():
    """Regression test: ``csc.multiply(v)`` with a 1-D ``v`` scales the columns.

    It scaled the rows (square arrays) or raised ValueError (non-square)."""
    D = np.array([[1.0, 2.0], [3.0, 4.0]])
    v = np.array([1.0, 10.0])
    C = spla.csr_array(D).T
    np.testing.assert_array_equal(C.multiply(v).toarray(), D.T * v)
    R = spla.csr_array(np.array([[1.0, 2.0, 0.0], [0.0, 3.0, 4.0]])).T  # (3, 2) csc
    np.testing.assert_array_equal(R.multiply(v).toarray(), R.toarray() * v)


# -- errors ---------------------------------------------------------------------------------------


@given(A=sst.csr_arrays(), data=st.data())
def test_shape_mismatch_raises(A, data):
    m, n = A.shape
    other = data.draw(st.tuples(st.integers(0, 13), st.integers(0, 13)).filter(
        lambda s: s != (m, n)), label="other shape")
    B = spla.csr_array(np.ones(other))
    for f in (lambda: A + B, lambda: A - B, lambda: B + A, lambda: A + B.to_scipy()):
        with pytest.raises(ValueError, match="shape"):
            f()
    D = np.ones(other)
    try:
        full = np.broadcast_shapes(other, (m, n))
    except ValueError:
        full = None
    if full != (m, n):
        for f in (lambda: A + D, lambda: D + A, lambda: A - D):
            with pytest.raises(ValueError):
                f()
    if full is None:
        # multiply broadcasts both ways, as SciPy's (sparse or dense operand)
        for f in (lambda: A.multiply(D), lambda: A * D, lambda: A.multiply(B)):
            with pytest.raises(ValueError, match="shape"):
                f()


def test_multiply_dense_errors():
    A = spla.csr_array(np.eye(2))
    with pytest.raises(ValueError, match="more than 2 dimensions"):
        A.multiply(np.ones((1, 2, 2)))
    with pytest.raises(ValueError, match="inconsistent shapes"):
        A.multiply(np.ones((3, 2)))
    with pytest.raises(TypeError):
        A.multiply(np.array(["a", "b"], dtype=object))


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_in_place_operators_on_a_dense_left_operand(fmt):
    """``dense op= A`` as SciPy's sparse arrays give it: ``+=``/``-=`` write into the
    dense array; ``*=`` rebinds the name to the sparse ``dense * A`` and ``@=`` to
    ``dense @ A`` (another shape); ``//=`` raises SciPy's TypeError; an explicit
    ``np.multiply(d, A, out=d)`` returns the sparse product and leaves it in ``d``."""
    a = np.arange(12.0).reshape(3, 4) - 5.0
    A = spla.csr_array(a).asformat(fmt)
    y = np.ones((3, 4))
    keep = y
    y += A
    assert y is keep
    np.testing.assert_array_equal(y, 1.0 + a)
    y = np.full((3, 4), 2.0)
    y *= A
    assert isinstance(y, spla.SparseArray)
    np.testing.assert_array_equal(y.toarray(), 2.0 * a)
    y = np.ones((3, 4))
    y @= A.T
    assert isinstance(y, np.ndarray) and y.shape == (3, 3)
    np.testing.assert_allclose(y, np.ones((3, 4)) @ a.T)
    with pytest.raises(ValueError, match="dimension mismatch"):
        y = np.ones((3, 4))
        y @= A
    with pytest.raises(ValueError):
        y = np.ones((3, 4))
        y *= A.T
    with pytest.raises(TypeError, match="unsupported operand"):
        y = np.ones((3, 4))
        y //= A
    d = np.full((3, 4), 3.0)
    r = np.multiply(d, A, out=d)
    assert isinstance(r, spla.SparseArray)
    np.testing.assert_array_equal(r.toarray(), 3.0 * a)
    np.testing.assert_array_equal(d, 3.0 * a)
