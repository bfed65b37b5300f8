"""Matrix Market input and output, and the real matrices of tests/data."""

import io
import pathlib

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp
from hypothesis import given

import spla
from spla.testing import strategies as sst

from _util import assert_within

DATA = pathlib.Path(__file__).parent / "data"
MATRICES = ["arrow", "bayer10", "bcsstk13", "pushpull", "rajat01", "sparse-images-1024_subset",
            "cryg2500", "young1c", "lp_e226", "Erdos971"]


def _read_back_dtype(dtype):
    return np.dtype(np.complex128 if np.dtype(dtype).kind == "c" else np.float64)


def _check_round_trip(A, B):
    assert isinstance(B, spla.csr_array)
    assert B.shape == A.shape
    if A.nnz:  # (the empty complex case: test_round_trip_empty_complex)
        assert B.dtype == _read_back_dtype(A.dtype)
    # mmwrite writes A with duplicates summed, each value to the digits its dtype
    # needs: read back and cast to A's dtype it is exactly that
    As = A._deduped()
    np.testing.assert_array_equal(B.astype(A.dtype).toarray(), As.toarray())
    assert B.nnz == As.nnz  # explicitly stored zeros survive


@pytest.mark.parametrize("dtype", sst.VALUE_DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_round_trip_file(tmp_path, dtype, index_dtype):
    rng = np.random.default_rng(3)
    rows = rng.integers(0, 7, 40)
    cols = rng.integers(0, 5, 40)
    vals = rng.uniform(-10, 10, 40) + (1j * rng.uniform(-10, 10, 40) if dtype.kind == "c" else 0)
    S = sp.coo_array((vals.astype(dtype), (rows, cols)), shape=(7, 5)).tocsr()
    data = S.data.copy()
    data[::7] = 0  # explicit zeros
    A = spla.csr_array((data, S.indices.astype(index_dtype), S.indptr.astype(index_dtype)),
                       shape=S.shape)
    path = tmp_path / "a.mtx"
    spla.io.mmwrite(path, A)
    B = spla.io.mmread(path)
    _check_round_trip(A, B)
    np.testing.assert_array_equal(B.toarray(), scipy.io.mmread(path).toarray())
    # transposed (CSC) arrays, SciPy and dense inputs are written too
    spla.io.mmwrite(tmp_path / "t.mtx", A.T)
    np.testing.assert_array_equal(spla.io.mmread(tmp_path / "t.mtx").astype(dtype).toarray(),
                                  A._deduped().toarray().T)
    spla.io.mmwrite(tmp_path / "d.mtx", A.toarray())
    np.testing.assert_array_equal(spla.io.mmread(tmp_path / "d.mtx").astype(dtype).toarray(),
                                  A.toarray())
    spla.io.mmwrite(tmp_path / "s.mtx", A.to_scipy())
    np.testing.assert_array_equal(spla.io.mmread(tmp_path / "s.mtx").astype(dtype).toarray(),
                                  A._deduped().toarray())


@given(sst.csr_arrays())
def test_round_trip_property(A):
    buf = io.BytesIO()
    spla.io.mmwrite(buf, A)
    B = spla.io.mmread(io.BytesIO(buf.getvalue()))
    _check_round_trip(A, B)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_round_trip_empty_complex(tmp_path, dtype):
    """mmwrite: "by default the field follows the dtype". Regression test: a complex
    array without stored entries was written with field "real" (SciPy's choice for
    an empty matrix) and read back as float64."""
    for shape in [(3, 2), (0, 0)]:
        A = spla.csr_array(np.zeros(shape, dtype=dtype))
        spla.io.mmwrite(tmp_path / "e.mtx", A)
        B = spla.io.mmread(tmp_path / "e.mtx")
        assert B.shape == shape and B.nnz == 0
        assert B.dtype == np.complex128, (shape, B.dtype)


def test_write_options(tmp_path):
    D = np.array([[1.0, 2.0], [2.0, 0.0]])
    spla.io.mmwrite(tmp_path / "a.mtx", spla.csr_array(D), comment="hello", symmetry="symmetric")
    text = (tmp_path / "a.mtx").read_text()
    assert "symmetric" in text.splitlines()[0] and "hello" in text
    np.testing.assert_array_equal(spla.io.mmread(tmp_path / "a.mtx").toarray(), D)
    spla.io.mmwrite(tmp_path / "i.mtx", spla.csr_array(D), field="integer")
    assert "integer" in (tmp_path / "i.mtx").read_text().splitlines()[0]


HEADER = "%%MatrixMarket matrix"

FILES = {
    "real_symmetric": (f"{HEADER} coordinate real symmetric\n3 3 4\n1 1 1.5\n2 1 -2\n3 2 4\n3 3 1\n",
                       [[1.5, -2, 0], [-2, 0, 4], [0, 4, 1]], np.float64),
    "skew_symmetric": (f"{HEADER} coordinate real skew-symmetric\n3 3 2\n2 1 3\n3 1 -1\n",
                       [[0, -3, 1], [3, 0, 0], [-1, 0, 0]], np.float64),
    "pattern_general": (f"{HEADER} coordinate pattern general\n2 3 3\n1 1\n1 3\n2 2\n",
                        [[1, 0, 1], [0, 1, 0]], np.float64),
    "pattern_symmetric": (f"{HEADER} coordinate pattern symmetric\n3 3 3\n1 1\n3 1\n3 2\n",
                          [[1, 0, 1], [0, 0, 1], [1, 1, 0]], np.float64),
    "integer_general": (f"{HEADER} coordinate integer general\n2 2 3\n1 1 7\n2 1 -3\n2 2 "
                        "123456789\n", [[7, 0], [-3, 123456789]], np.int64),
    "integer_symmetric": (f"{HEADER} coordinate integer symmetric\n2 2 2\n1 1 2\n2 1 5\n",
                          [[2, 5], [5, 0]], np.int64),
    "complex_general": (f"{HEADER} coordinate complex general\n2 2 2\n1 2 1.5 -2\n2 1 0 3\n",
                        [[0, 1.5 - 2j], [3j, 0]], np.complex128),
    "complex_hermitian": (f"{HEADER} coordinate complex hermitian\n2 2 2\n1 1 2 0\n2 1 1 1\n",
                          [[2, 1 - 1j], [1 + 1j, 0]], np.complex128),
    "complex_symmetric": (f"{HEADER} coordinate complex symmetric\n2 2 1\n2 1 1 1\n",
                          [[0, 1 + 1j], [1 + 1j, 0]], np.complex128),
    "array_real": (f"{HEADER} array real general\n2 2\n1\n0\n0\n4\n", [[1, 0], [0, 4]],
                   np.float64),
    "array_integer_symmetric": (f"{HEADER} array integer symmetric\n2 2\n1\n2\n3\n",
                                [[1, 2], [2, 3]], np.int64),
    "explicit_zero_and_empty": (f"{HEADER} coordinate real general\n3 4 1\n2 2 0\n",
                                [[0] * 4] * 3, np.float64),
    "empty": (f"{HEADER} coordinate real general\n0 0 0\n", np.zeros((0, 0)), np.float64),
}


@pytest.mark.parametrize("name", sorted(FILES))
def test_read_fields_and_symmetries(tmp_path, name):
    text, dense, dtype = FILES[name]
    path = tmp_path / f"{name}.mtx"
    path.write_text(text)
    A = spla.io.mmread(path)
    assert isinstance(A, spla.csr_array)
    assert A.dtype == dtype
    expected = np.asarray(dense, dtype=dtype)
    assert A.shape == expected.shape
    np.testing.assert_array_equal(A.toarray(), expected)
    ref = scipy.io.mmread(path)
    np.testing.assert_array_equal(A.toarray(), ref.toarray() if sp.issparse(ref) else ref)
    if name == "explicit_zero_and_empty":
        assert A.nnz == 1  # stored as read
    # file objects and compressed files work as well
    np.testing.assert_array_equal(spla.io.mmread(io.BytesIO(text.encode())).toarray(), expected)


# -- the real matrices ---------------------------------------------------------------------------

_CACHE = {}


def _load(name):
    if name not in _CACHE:
        path = DATA / f"{name}.mtx.gz"
        A = spla.io.mmread(path)
        S = sp.csr_array(scipy.io.mmread(path))
        S.sum_duplicates()
        _CACHE[name] = (A, S)
    return _CACHE[name]


@pytest.mark.parametrize("name", MATRICES)
def test_real_matrix_read(name):
    A, S = _load(name)
    assert A.shape == S.shape
    assert A.dtype == S.dtype  # SciPy's: integer files read as int64
    assert A.nnz == S.nnz
    assert A.has_canonical_format
    np.testing.assert_array_equal(A.indptr, S.indptr)
    np.testing.assert_array_equal(A.indices, S.indices)
    np.testing.assert_array_equal(A.data, S.data.astype(A.dtype))


@pytest.mark.parametrize("name", MATRICES)
def test_real_matrix_products(name):
    A, S = _load(name)
    m, n = A.shape
    rng = np.random.default_rng(0)
    Sabs = abs(S)
    row_terms = int(np.diff(S.indptr).max())
    col_terms = int(np.bincount(S.indices, minlength=1).max())
    x = rng.uniform(-1, 1, n)
    X = rng.uniform(-1, 1, (n, 16))
    y = rng.uniform(-1, 1, m)
    assert_within(A @ x, S @ x, Sabs @ np.abs(x), row_terms, A.dtype, what=f"{name}: A @ x")
    assert_within(A @ X, S @ X, Sabs @ np.abs(X), row_terms, A.dtype, what=f"{name}: A @ X")
    assert_within(A @ np.asfortranarray(X), S @ X, Sabs @ np.abs(X), row_terms, A.dtype,
                  what=f"{name}: A @ X (Fortran order)")
    assert_within(A.T @ y, S.T @ y, Sabs.T @ np.abs(y), col_terms, A.dtype,
                  what=f"{name}: A.T @ y")
    assert_within(y @ A, y @ S, np.abs(y) @ Sabs, col_terms, A.dtype, what=f"{name}: y @ A")
    # in single precision, against the float64 product of the same float32 values
    A32 = A.astype(np.complex64 if A.dtype.kind == "c" else np.float32)
    S32 = A32.to_scipy().astype(np.complex128 if A.dtype.kind == "c" else np.float64)
    x32 = x.astype(np.float32)
    y32 = A32 @ x32
    assert y32.dtype == A32.dtype
    assert_within(y32, S32 @ x32.astype(np.float64), abs(S32) @ np.abs(x32.astype(np.float64)),
                  row_terms, A32.dtype, what=f"{name}: float32 A @ x")
