"""The SciPy operator protocol of spla arrays (spla/_operator.py): matvec, rmatvec,
matmat and rmatmat against dense products, on every format, and
scipy.sparse.linalg.aslinearoperator on them."""

import numpy as np
import pytest
import scipy.sparse.linalg as sla
from hypothesis import given, settings
from hypothesis import strategies as st

import spla
from spla.testing import strategies as sst

from _util import eps

FORMATS = ["csr", "csc", "banded", "nm"]


def as_format(A, fmt):
    """``A`` (csr_array) in format ``fmt``; N:M keeps the 2 largest of every 4."""
    if fmt == "csr":
        return A
    if fmt == "csc":
        return A.asformat("csc")
    if fmt == "banded":
        return spla.banded_array(A.toarray())
    D = A.toarray()
    return spla.nm_array(D.real if D.dtype.kind == "c" else D, prune=True)  # real only


@settings(max_examples=60)
@given(A=sst.csr_arrays(max_side=9), fmt=st.sampled_from(FORMATS),
       column=st.booleans(), k=st.integers(0, 3), data=st.data())
def test_protocol_matches_dense(A, fmt, column, k, data):
    if fmt == "nm" and A.shape[1] % 4:
        A = spla.csr_array(np.pad(A.toarray(), ((0, 0), (0, -A.shape[1] % 4))))
    A = as_format(A, fmt)
    D = A.toarray().astype(np.complex128)
    m, n = A.shape
    x = data.draw(sst.dense_operands(n))
    y = data.draw(sst.dense_operands(m))
    X = data.draw(sst.dense_operands(n, k))
    Y = data.draw(sst.dense_operands(m, k))
    def tolerance(*operands):
        # the product's working precision, and the reference's: D sums A's
        # duplicates in A's own dtype (a float32 A against float64 operands)
        dt = np.result_type(A.dtype, *(o.dtype for o in operands), np.float32)
        own = np.result_type(A.dtype, np.float32)
        return 50 * max(eps(dt), eps(own)) * (1 + np.abs(D).sum())

    xin = x.reshape(-1, 1) if column else x
    yin = y.reshape(-1, 1) if column else y
    got = A.matvec(xin)
    assert got.shape == ((m, 1) if column else (m,))
    scale = 1 + np.abs(x).max(initial=0) + np.abs(y).max(initial=0)
    np.testing.assert_allclose(got.ravel(), D @ x, atol=tolerance(x) * scale)
    got = A.rmatvec(yin)
    assert got.shape == ((n, 1) if column else (n,))
    np.testing.assert_allclose(got.ravel(), D.conj().T @ y, atol=tolerance(y) * scale)
    scale = 1 + np.abs(X).max(initial=0) + np.abs(Y).max(initial=0)
    assert A.matmat(X).shape == (m, k)
    np.testing.assert_allclose(A.matmat(X), D @ X, atol=tolerance(X) * scale)
    assert A.rmatmat(Y).shape == (n, k)
    np.testing.assert_allclose(A.rmatmat(Y), D.conj().T @ Y, atol=tolerance(Y) * scale)


@pytest.mark.parametrize("fmt", FORMATS)
def test_aslinearoperator_reads_the_protocol(fmt):
    rng = np.random.default_rng(0)
    D = rng.standard_normal((6, 8)) + 1j * rng.standard_normal((6, 8))
    A = as_format(spla.csr_array(D), fmt)
    D = A.toarray()
    op = sla.aslinearoperator(A)
    assert op.shape == (6, 8) and op.dtype == A.dtype
    x = rng.standard_normal(8)
    y = rng.standard_normal(6) + 1j
    np.testing.assert_allclose(op @ x, D @ x, rtol=1e-12)
    np.testing.assert_allclose(op.H @ y, D.conj().T @ y, rtol=1e-12)
    np.testing.assert_allclose(op.H.matmat(np.ones((6, 2))), D.conj().T @ np.ones((6, 2)),
                               rtol=1e-12)


def test_protocol_bad_shapes():
    A = spla.csr_array(np.ones((3, 4)))
    with pytest.raises(ValueError, match="matvec"):
        A.matvec(np.ones(3))
    with pytest.raises(ValueError, match="rmatvec"):
        A.rmatvec(np.ones((4, 1)))
    with pytest.raises(ValueError, match="matvec"):
        A.matvec(np.ones((4, 2)))
    with pytest.raises(ValueError, match="2-D"):
        A.matmat(np.ones(4))
    with pytest.raises(ValueError, match="rows"):
        A.rmatmat(np.ones((4, 2)))
    np.testing.assert_array_equal(A.matvec([1, 1, 1, 1]), [4.0, 4.0, 4.0])
