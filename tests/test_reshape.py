"""reshape of CSR and CSC arrays (spla._kernels.reshape) against NumPy's reshape.

The entries move by index arithmetic on their coordinates, in C and Fortran
order, to 2-D and 1-D targets; the input may hold duplicates, unsorted indices
and explicit zeros, with int32 or int64 indices.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import spla
from spla._kernels import reshape as K
from spla.testing import strategies as sst

SETTINGS = settings(max_examples=max(20, settings.default.max_examples // 2), deadline=None)


def _dense(A):
    return A.to_scipy().toarray() if A.ndim == 2 else A.toarray()


@st.composite
def _targets(draw, size):
    divisors = [d for d in range(1, size + 1) if size % d == 0]
    if not divisors:  # size 0: any shape with a zero
        p = draw(st.integers(0, 4))
        return (p, 0) if p else (0, draw(st.integers(0, 4)))
    p = draw(st.sampled_from(divisors))
    return draw(st.sampled_from([(p, size // p), (size,), (-1, size // p), (p, -1), (-1,)]))


@SETTINGS
@given(st.data(), st.sampled_from(["C", "F"]), st.sampled_from(["csr", "csc"]))
def test_reshape_matches_numpy(data, order, fmt):
    A = data.draw(sst.csr_arrays(max_side=9))
    ref = A.to_scipy().toarray()
    if fmt == "csc":
        A = A.tocsc()
    target = data.draw(_targets(ref.size))
    expect = ref.reshape(target, order=order)
    R = A.reshape(target, order=order)
    assert R.shape == expect.shape
    assert R.dtype == A.dtype
    if R.ndim == 2:
        assert R.format == fmt
        if R.shape != A.shape:  # the same shape gives the array itself (SciPy's)
            assert R.has_canonical_format
        assert R.indices.dtype == R.indptr.dtype
    else:
        assert R.format == "csr"
    np.testing.assert_array_equal(R.toarray(), expect)


@SETTINGS
@given(st.data(), st.sampled_from(["C", "F"]))
def test_reshape_of_1d(data, order):
    n = data.draw(st.integers(0, 12))
    v = data.draw(sst.values(n, np.float64))
    v[data.draw(st.lists(st.integers(0, max(n - 1, 0)), max_size=n))] = 0 if n else v
    A = spla.csr_array(v)
    target = data.draw(_targets(n))
    expect = v.reshape(target, order=order)
    R = A.reshape(target, order=order)
    assert R.shape == expect.shape
    np.testing.assert_array_equal(R.toarray(), expect)


def test_reshape_keeps_explicit_zeros_and_sums_duplicates():
    A = spla.csr_array((np.array([1.0, 0.0, 2.0, 3.0]), np.array([2, 0, 2, 1]),
                        np.array([0, 3, 4])), shape=(2, 3))
    R = A.reshape((3, 2))
    np.testing.assert_array_equal(R.toarray(), A.toarray().reshape(3, 2))
    assert R.nnz == 3  # the explicit zero stays, the duplicate is summed


def test_reshape_same_shape_and_copy():
    A = spla.csr_array(np.eye(3))
    assert A.reshape((3, 3)) is A
    B = A.reshape((3, 3), copy=True)
    assert B is not A and B.data is not A.data
    np.testing.assert_array_equal(B.toarray(), np.eye(3))


def test_reshape_parallel_kernel_matches_serial(monkeypatch):
    rng = np.random.default_rng(0)
    D = (rng.random((60, 50)) < 0.3) * rng.standard_normal((60, 50))
    A = spla.csr_array(D)
    monkeypatch.setattr(K, "PARALLEL_NNZ", 1)
    for order in "CF":
        np.testing.assert_array_equal(A.reshape((100, 30), order=order).toarray(),
                                      D.reshape((100, 30), order=order))


def test_reshape_int64_positions():
    # i * n overflows int32 although every index fits in int32
    n = 2**20
    A = spla.csr_array((np.array([5.0]), np.array([n - 1], dtype=np.int32),
                        np.array([0, 0, 0, 0, 1] + [1] * (2**12 - 4), dtype=np.int32)),
                       shape=(2**12, n))
    R = A.reshape((2**16, 2**16))
    flat = 3 * n + n - 1
    r, c = R.nonzero()
    assert (int(r[0]), int(c[0])) == divmod(flat, 2**16)
    assert A.reshape((-1,)).indices[0] == flat


@pytest.mark.parametrize("args, kwargs, exc", [
    (((4, 2),), {}, ValueError),
    (((2, 2, 1),), {}, ValueError),
    (((3, 2),), {"order": "K"}, ValueError),
    (((-1, -1),), {}, ValueError),
    ((("a", 2),), {}, TypeError),
])
def test_reshape_errors(args, kwargs, exc):
    A = spla.csr_array(np.ones((2, 3)))
    with pytest.raises(exc):
        A.reshape(*args, **kwargs)
    with pytest.raises(exc):
        A.tocsc().reshape(*args, **kwargs)
