"""spla.testing: assert_allclose and the hypothesis strategies themselves."""

import doctest
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spla
import spla.testing
from spla.testing import assert_allclose, default_tolerance, to_dense
from spla.testing import strategies as sst


# -- assert_allclose -------------------------------------------------------------------------


@given(sst.csr_arrays())
def test_assert_allclose_mixes(A):
    D = A.toarray()
    S = A.to_scipy()
    for a in (A, A.tocsc(), S, D, sp.coo_array(S), D.tolist() if D.size else D):
        for b in (A, S, D, A.T.T):
            assert_allclose(a, b)
    assert_allclose(A.T, D.T)
    assert_allclose(S.T, A.T)


@given(sst.csr_arrays(), st.data())
def test_assert_allclose_detects_differences(A, data):
    if A.shape[0] * A.shape[1] == 0:
        return
    D = A.toarray()
    i = data.draw(st.integers(0, A.shape[0] - 1), label="row")
    j = data.draw(st.integers(0, A.shape[1] - 1), label="col")
    E = D.copy()
    E[i, j] += 1.0
    for a, b in [(A, E), (E, A), (A, sp.csr_array(E)), (spla.csr_array(E), A.to_scipy())]:
        with pytest.raises(AssertionError):
            assert_allclose(a, b)


def test_assert_allclose_shape_mismatch():
    A = spla.csr_array(np.eye(3))
    with pytest.raises(AssertionError, match="shapes differ"):
        assert_allclose(A, np.eye(3)[:2])
    with pytest.raises(AssertionError, match="shapes differ"):
        assert_allclose(A, sp.eye_array(4))
    with pytest.raises(AssertionError, match="shapes differ"):
        assert_allclose(np.ones((1, 3)), spla.csr_array(np.ones((3, 3))))
    with pytest.raises(AssertionError, match="shapes differ"):
        assert_allclose(spla.csr_array(np.zeros((0, 3))), np.zeros((3, 0)))


def test_assert_allclose_check_shape_false_broadcasts():
    """The docstring: check_shape "Also require equal shapes (NumPy would otherwise
    broadcast)". Regression test: with check_shape=False a (1, 3) array against a
    (3, 3) one raised "(shapes (1, 3), (3, 3) mismatch)" instead of broadcasting."""
    assert_allclose(np.ones((1, 3)), spla.csr_array(np.ones((3, 3))), check_shape=False)
    with pytest.raises(AssertionError):
        assert_allclose(np.ones((1, 3)), spla.csr_array(2 * np.ones((3, 3))), check_shape=False)


def test_assert_allclose_tolerances():
    A = spla.csr_array(np.array([[1.0, 0.0], [0.0, 2.0]], dtype=np.float32))
    B = A.toarray() * (1 + 1e-6)
    assert_allclose(A, B)  # float32: rtol 1e-5
    with pytest.raises(AssertionError):
        assert_allclose(A.astype(np.float64), B.astype(np.float64) * (1 + 1e-9))
    with pytest.raises(AssertionError):
        assert_allclose(A, A.toarray() * (1 + 1e-4))
    assert_allclose(A, A.toarray() * (1 + 1e-4), rtol=1e-3)
    with pytest.raises(AssertionError):
        assert_allclose(np.zeros(2), np.full(2, 1e-9))
    assert_allclose(np.zeros(2), np.full(2, 1e-9), atol=1e-8)
    with pytest.raises(AssertionError, match="context"):
        assert_allclose(np.zeros(2), np.ones(2), err_msg="context")
    C = spla.csr_array(np.array([[1 + 1j]], dtype=np.complex64))
    assert_allclose(C, np.array([[1 + 1j]]) * (1 + 1e-6))
    with pytest.raises(AssertionError):
        assert_allclose(C, np.array([[1 - 1j]]))


def test_default_tolerance_and_to_dense():
    assert default_tolerance(np.float64) == 1e-12
    assert default_tolerance(np.float32, np.float64) == 1e-5
    assert default_tolerance(np.float16) == 1e-2
    assert default_tolerance(np.int64) == 1e-12
    A = spla.csr_array(np.eye(2))
    for x in (A, A.T, A.to_scipy(), np.eye(2), [[1.0, 0.0], [0.0, 1.0]]):
        d = to_dense(x)
        assert type(d) is np.ndarray
        np.testing.assert_array_equal(d, np.eye(2))


def test_doctests():
    import spla.testing._assertions as assertions

    for module in (sst, assertions):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, module.__name__


def test_import_spla_does_not_import_hypothesis():
    code = ("import sys, spla, spla.testing; assert 'hypothesis' not in sys.modules; "
            "s = spla.testing.strategies; assert 'hypothesis' in sys.modules; "
            "print(s.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "spla.testing.strategies"


# -- the strategies reach every edge case -------------------------------------------------------

CSR_FEATURES = {
    "0 x n", "n x 0", "0 x 0", "1 x n", "n x 1", "nnz = 0 (non-empty shape)", "empty rows",
    "one dense row among empty rows", "dense", "explicit zeros", "unsorted indices",
    "duplicates", "duplicates summing to zero", "canonical with nnz > 0", "int32", "int64",
    "float32", "float64", "complex64", "complex128", "complex with non-zero imaginary parts",
}


def csr_features(A):
    m, n = A.shape
    out = {A.indices.dtype.name, A.dtype.name}
    if m == 0 and n > 0:
        out.add("0 x n")
    if n == 0 and m > 0:
        out.add("n x 0")
    if m == n == 0:
        out.add("0 x 0")
    if m == 1 and n > 1:
        out.add("1 x n")
    if n == 1 and m > 1:
        out.add("n x 1")
    if m * n and A.nnz == 0:
        out.add("nnz = 0 (non-empty shape)")
    lens = np.diff(A.indptr.astype(np.int64))
    if A.nnz and (lens == 0).any():
        out.add("empty rows")
    if m >= 2 and n >= 2 and (lens > 0).sum() == 1 and lens.max() == n:
        out.add("one dense row among empty rows")
    if m >= 2 and n >= 2 and A.nnz == m * n and A.has_canonical_format:
        out.add("dense")
    if (A.data == 0).any():
        out.add("explicit zeros")
    if A.dtype.kind == "c" and (A.data.imag != 0).any():
        out.add("complex with non-zero imaginary parts")
    if A.nnz and A.has_canonical_format:
        out.add("canonical with nnz > 0")
    for i in range(m):
        row = A.indices[A.indptr[i]:A.indptr[i + 1]]
        if (np.diff(row) < 0).any():
            out.add("unsorted indices")
        if np.unique(row).size < row.size:
            out.add("duplicates")
            vals = A.data[A.indptr[i]:A.indptr[i + 1]]
            for c in np.unique(row):
                v = vals[row == c]
                if v.size > 1 and (v != 0).all() and v.astype(np.complex128).sum() == 0:
                    out.add("duplicates summing to zero")
    return out


FAST = settings(max_examples=600, database=None, derandomize=True, deadline=None,
                suppress_health_check=list(HealthCheck))


def test_csr_arrays_reach_every_edge_case():
    seen = set()

    @FAST
    @given(sst.csr_arrays())
    def collect(A):
        seen.update(csr_features(A))

    collect()
    assert CSR_FEATURES <= seen, f"never drawn: {sorted(CSR_FEATURES - seen)}"


def test_csr_arrays_fixed_parameters():
    seen = set()

    @settings(FAST, max_examples=150)
    @given(sst.csr_arrays(shape=(3, 5), dtype="complex64", index_dtype=np.int64,
                          canonical=True),
           sst.csr_arrays(shape=st.sampled_from([(2, 2), (4, 1)]), dtype=st.just(np.float32),
                          canonical=False, density=0.5, max_side=3),
           sst.csr_arrays(max_side=3))
    def check(A, B, C):
        assert A.shape == (3, 5) and A.dtype == np.complex64
        assert A.indices.dtype == np.int64 and A.indptr.dtype == np.int64
        assert A.has_canonical_format
        assert B.shape in [(2, 2), (4, 1)] and B.dtype == np.float32
        seen.add(B.has_canonical_format)
        assert max(C.shape) <= 3
        assert np.all(np.isfinite(A.data)) and np.all(np.abs(A.data.real) <= 10)

    check()
    assert False in seen  # canonical=False does produce non-canonical storage


def test_dense_operands_layouts_and_dtypes():
    seen = set()

    @FAST
    @given(st.integers(0, 5).flatmap(
        lambda r: st.tuples(st.just(r), st.one_of(st.none(), st.integers(0, 4))).flatmap(
            lambda rc: st.tuples(st.just(rc), sst.dense_operands(rc[0], rc[1])))))
    def collect(args):
        (r, c), X = args
        assert X.shape == ((r,) if c is None else (r, c))
        seen.add(X.dtype.name)
        seen.add("vector" if X.ndim == 1 else "matrix")
        if X.size > 1 and X.ndim == 2 and min(X.shape) > 1:
            if X.flags.c_contiguous:
                seen.add("C")
            elif X.flags.f_contiguous:
                seen.add("F")
            elif any(s < 0 for s in X.strides):
                seen.add("negative strides")
            else:
                seen.add("strided")
        if X.ndim == 1 and X.size > 1 and not X.flags.c_contiguous:
            seen.add("strided vector")
        assert np.all(np.isfinite(X))
        if X.dtype.kind == "c" and X.size:
            assert (X.imag != 0).all()

    collect()
    expected = {"float32", "float64", "complex64", "complex128", "int64", "vector", "matrix",
                "C", "F", "strided", "negative strides", "strided vector"}
    assert expected <= seen, f"never drawn: {sorted(expected - seen)}"


def test_coo_triplets_have_duplicates_and_zeros():
    seen = set()

    @FAST
    @given(sst.coo_triplets())
    def collect(t):
        data, (row, col), shape = t
        assert data.size == row.size == col.size
        assert row.dtype in (np.int32, np.int64) and row.dtype == col.dtype
        if row.size:
            assert row.min() >= 0 and row.max() < shape[0]
            assert col.min() >= 0 and col.max() < shape[1]
            keys = row.astype(np.int64) * shape[1] + col
            if np.unique(keys).size < keys.size:
                seen.add("duplicates")
        if (data == 0).any():
            seen.add("zeros")
        if 0 in shape:
            seen.add("empty shape")
        seen.add(data.dtype.name)

    collect()
    expected = {"duplicates", "zeros", "empty shape", "float32", "float64", "complex64",
                "complex128"}
    assert expected <= seen, f"never drawn: {sorted(expected - seen)}"


def test_dense_arrays_have_many_zeros():
    seen = set()

    @FAST
    @given(sst.dense_arrays())
    def collect(D):
        assert D.ndim == 2
        if D.size >= 20 and np.count_nonzero(D) <= D.size // 2:
            seen.add("mostly zeros")
        if D.size and not D.any():
            seen.add("all zeros")
        if D.size and D.all():
            seen.add("no zeros")
        seen.add(D.dtype.name)

    collect()
    expected = {"mostly zeros", "all zeros", "no zeros", "float32", "float64", "complex64",
                "complex128"}
    assert expected <= seen, f"never drawn: {sorted(expected - seen)}"


def test_values_are_float32_exact():
    @settings(FAST, max_examples=100)
    @given(sst.values(50, np.float64))
    def check(v):
        assert np.all(np.abs(v) <= 10)
        np.testing.assert_array_equal(v.astype(np.float32).astype(np.float64), v)

    check()


def test_hypothesis_profile_selection(request):
    """conftest.py loads "ci" unless HYPOTHESIS_PROFILE or --hypothesis-profile says
    otherwise (the option wins)."""
    import os

    expected = (request.config.getoption("--hypothesis-profile", None)
                or os.environ.get("HYPOTHESIS_PROFILE", "ci"))
    assert settings.get_current_profile_name() == expected
    assert settings().deadline is None
    if expected == "ci":
        assert settings().max_examples == 100
    elif expected == "thorough":
        assert settings().max_examples == 3000
