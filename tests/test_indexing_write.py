"""Writing into sparse arrays: ``A[key] = x`` and ``setdiag`` against NumPy and SciPy.

Random sequences of assignments (every key kind: integers, slices with steps,
index arrays with repeats and negatives, boolean masks, ``np.ix_`` grids,
whole rows; scalar, dense and sparse values with broadcasting) are applied to an
spla array and to a dense NumPy copy, and compared after each step, on CSR, CSC
and COO, int32 and int64 indices, several dtypes and non-canonical storage
(duplicates, unsorted rows). The stored structure of CSR/CSC writes is compared
with SciPy's (explicit zeros included). Errors are SciPy's.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import spla
from spla._backends.cpu import insert as insert_ops

#: Examples per property: 40 under CI's profile, scaled with the profile (thorough: 1,200).
EXAMPLES = max(20, settings.default.max_examples * 2 // 5)

DTYPES = [np.float64, np.float32, np.int64, np.int32, np.complex128, np.bool_]


def _raw_csr(rng, m, n, dtype, idx, canonical):
    """CSR storage (data, indices, indptr) with duplicates and unsorted rows unless
    ``canonical``."""
    k = int(rng.integers(0, m * n + 3)) if m and n else 0
    rows = np.sort(rng.integers(0, m, k)) if m else np.zeros(0, int)
    cols = rng.integers(0, n, k) if n else np.zeros(0, int)
    vals = (rng.integers(1, 5, k) if dtype != np.bool_ else np.ones(k)).astype(dtype)
    if canonical:
        S = sp.csr_array((vals, (rows, cols)), shape=(m, n))
        S.sum_duplicates()
        return S.data.astype(dtype), S.indices.astype(idx), S.indptr.astype(idx)
    indptr = np.zeros(m + 1, dtype=idx)
    np.cumsum(np.bincount(rows, minlength=m), out=indptr[1:])
    return vals, cols.astype(idx), indptr


def _build(fmt, rng, m, n, dtype, idx, canonical):
    d, j, p = _raw_csr(rng, m, n, dtype, idx, canonical)
    if fmt == "csr":
        return spla.csr_array((d, j, p), shape=(m, n)), sp.csr_array((d.copy(), j.copy(),
                                                                      p.copy()), shape=(m, n))
    if fmt == "csc":  # the same storage read as columns
        return (spla.csc_array((d, j, p), shape=(n, m)),
                sp.csc_array((d.copy(), j.copy(), p.copy()), shape=(n, m)))
    S = sp.csr_array((d, j, p), shape=(m, n)).tocoo()
    return spla.coo_array((S.data, (S.row, S.col)), shape=(m, n)), None


@st.composite
def _axis_key(draw, n, allow_int=True):
    kind = draw(st.sampled_from(["int", "slice", "array", "mask"] if allow_int
                                else ["slice", "array", "mask"]))
    if kind == "int" and n:
        return draw(st.integers(-n, n - 1))
    if kind == "array" and n:
        size = draw(st.integers(1, 4))
        return np.array(draw(st.lists(st.integers(-n, n - 1), min_size=size, max_size=size)))
    if kind == "mask":
        return np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    start = draw(st.one_of(st.none(), st.integers(-n - 1, n + 1)))
    stop = draw(st.one_of(st.none(), st.integers(-n - 1, n + 1)))
    step = draw(st.sampled_from([None, 1, 2, -1, -2]))
    return slice(start, stop, step)


@st.composite
def _step(draw, shape):
    m, n = shape
    form = draw(st.sampled_from(["pair", "points", "mask2d", "row", "ix"]))
    if form == "points" and m and n:
        k = draw(st.integers(1, 6))
        rows = np.array(draw(st.lists(st.integers(-m, m - 1), min_size=k, max_size=k)))
        cols = np.array(draw(st.lists(st.integers(-n, n - 1), min_size=k, max_size=k)))
        key = (rows, cols)
    elif form == "mask2d":
        flat = draw(st.lists(st.booleans(), min_size=m * n, max_size=m * n))
        key = np.array(flat, dtype=bool).reshape(m, n)
    elif form == "row" and m:
        key = draw(st.integers(-m, m - 1))
    elif form == "ix" and m and n:
        r = draw(st.lists(st.integers(0, m - 1), min_size=1, max_size=3, unique=True))
        c = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=3, unique=True))
        key = np.ix_(r, c)
    else:
        key = (draw(_axis_key(m)), draw(_axis_key(n)))
    value_kind = draw(st.sampled_from(["scalar", "zero", "dense", "row", "sparse"]))
    return key, value_kind, draw(st.integers(0, 2**31))


def _value(kind, target_shape, dtype, seed):
    rng = np.random.default_rng(seed)
    if kind == "zero":
        return 0
    if kind == "scalar":
        return dtype(rng.integers(1, 9)) if dtype != np.bool_ else True
    shape = target_shape
    if kind == "row" and len(shape) >= 1:  # broadcast along the first axis
        shape = shape[1:] if len(shape) == 2 else shape
    dense = rng.integers(0, 3, shape).astype(dtype)
    if kind == "sparse":
        return sp.coo_array(np.atleast_2d(dense)) if dense.ndim <= 2 else dense
    return dense


def _unique_targets(D, key):
    """Whether the key names each position once (NumPy and SciPy agree on
    repeated targets only for dense values)."""
    idx = np.arange(D.size).reshape(D.shape)
    picked = np.asarray(idx[key]).ravel()
    return np.unique(picked).size == picked.size


@settings(max_examples=EXAMPLES, deadline=None)
@given(data=st.data(), fmt=st.sampled_from(["csr", "csc", "coo"]),
       dtype=st.sampled_from(DTYPES), idx=st.sampled_from([np.int32, np.int64]),
       canonical=st.booleans(), m=st.integers(0, 6), n=st.integers(0, 6))
def test_assignment_sequences_match_numpy(data, fmt, dtype, idx, canonical, m, n):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    A, S = _build(fmt, rng, m, n, dtype, idx, canonical)
    D = A.toarray()
    for _ in range(data.draw(st.integers(1, 4))):
        key, kind, seed = data.draw(_step(A.shape))
        try:
            target = D[key]
        except IndexError:
            with pytest.raises(IndexError):
                A[key] = 1
            continue
        x = _value(kind, np.shape(target), dtype, seed)
        if kind == "sparse" and not _unique_targets(D, key):
            x = x.toarray() if sp.issparse(x) else x
        expected = D.copy()
        if sp.issparse(x):  # SciPy's broadcasting rules for sparse values (COO's own)
            ref = sp.coo_array(D) if fmt == "coo" else sp.csr_array(D)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ref[key] = x
            except ValueError:
                with pytest.raises(ValueError):
                    A[key] = x
                continue
            expected = ref.toarray()
        else:
            expected[key] = x
        A[key] = x
        D = expected
        np.testing.assert_array_equal(A.toarray(), D)
        assert A.dtype == np.dtype(dtype)
        if S is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                S[key] = x
            assert A.nnz == S.nnz, (key, x)
        if fmt != "coo":
            assert A.indices.dtype == A.indptr.dtype


def test_stored_structure_is_scipys():
    """Sorted storage stays sorted; explicit zeros are stored for new dense zeros and
    kept for existing entries, as SciPy does."""
    A = spla.csr_array(np.array([[1.0, 0, 2], [0, 0, 0], [3, 0, 0]]))
    S = sp.csr_array(A.toarray())
    for key, x in [((0, 1), 0.0), ((slice(1, 3), slice(0, 2)), 0.0),
                   (([2, 2, 0], [2, 2, 1]), [5.0, 6.0, 7.0]), ((0, 0), 0.0)]:
        A[key] = x
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            S[key] = x
        np.testing.assert_array_equal(A.indptr, S.indptr)
        np.testing.assert_array_equal(A.indices, S.indices)
        np.testing.assert_array_equal(A.data, S.data)
    assert A.has_sorted_indices


def test_sparse_value_zeroes_targets_then_writes_its_entries():
    A = spla.csr_array(np.eye(3))
    S = sp.csr_array(np.eye(3))
    x = sp.csr_array(np.array([[0, 1.0], [0, 0]]))
    A[0:2, 0:2] = x
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        S[0:2, 0:2] = x
    np.testing.assert_array_equal(A.toarray(), S.toarray())
    assert A.nnz == S.nnz
    B = spla.csr_array(np.zeros((3, 4)))
    B[:, 1:3] = spla.csr_array(np.array([[2.0, 0.0]]))  # a row broadcast over the rows
    np.testing.assert_array_equal(B.toarray()[:, 1], [2, 2, 2])


def test_duplicate_targets_last_write_wins():
    for fmt in (spla.csr_array, spla.csc_array, spla.coo_array):
        A = fmt(np.zeros((2, 3)))
        A[[0, 0, 1, 0], [1, 1, 2, 1]] = [1.0, 2.0, 3.0, 4.0]
        np.testing.assert_array_equal(A.toarray(), [[0, 4, 0], [0, 0, 3]])
        A[[0, 0], [1, 1]] = [8.0, 9.0]  # existing entries: the same rule
        assert A.toarray()[0, 1] == 9


def test_write_on_duplicated_entry_sums_duplicates_first():
    A = spla.csr_array((np.array([1.0, 2.0, 5.0]), np.array([1, 1, 0]), np.array([0, 2, 3])),
                       shape=(2, 2))
    A[0, 1] = 7.0
    assert A.has_canonical_format and A.nnz == 2
    np.testing.assert_array_equal(A.toarray(), [[0, 7], [5, 0]])


def test_callers_arrays_are_never_written():
    data = np.array([1.0, 2.0, 3.0])
    indices = np.array([0, 1, 0], dtype=np.int32)
    indptr = np.array([0, 2, 3], dtype=np.int32)
    saved = data.copy(), indices.copy(), indptr.copy()
    A = spla.csr_array((data, indices, indptr), shape=(2, 2))
    A[0, 0] = 10.0  # an existing entry: the first write copies the values once
    A[0, 0] = 11.0
    A[1, 1] = 4.0  # an insertion
    A.setdiag(0.5)
    for before, after in zip(saved, (data, indices, indptr)):
        np.testing.assert_array_equal(before, after)
    np.testing.assert_array_equal(A.toarray(), [[0.5, 2], [3, 0.5]])


def test_write_invalidates_derived_state():
    rng = np.random.default_rng(0)
    S = sp.random_array((300, 200), density=0.1, rng=rng, format="csr")
    A = spla.csr_array(S)
    x = rng.standard_normal(200)
    A @ x  # builds the cached partition
    assert A._derived
    A[5, 7] = 3.0
    A[np.arange(0, 300, 3), 11] = -1.0
    A[10] = 0.5
    D = S.toarray()
    D[5, 7] = 3.0
    D[np.arange(0, 300, 3), 11] = -1.0
    D[10] = 0.5
    np.testing.assert_allclose(A @ x, D @ x)
    np.testing.assert_allclose(A.T @ rng.standard_normal(300) * 0 + A.T @ np.ones(300),
                               D.T @ np.ones(300))
    A.setdiag(2.0)
    np.fill_diagonal(D, 2.0)
    np.testing.assert_allclose(A @ x, D @ x)


@settings(max_examples=EXAMPLES, deadline=None)
@given(m=st.integers(0, 6), n=st.integers(0, 6), k=st.integers(-7, 7),
       fmt=st.sampled_from(["csr", "csc"]), canonical=st.booleans(),
       kind=st.sampled_from(["scalar", "short", "long", "one"]), seed=st.integers(0, 2**31))
def test_setdiag_matches_scipy(m, n, k, fmt, canonical, kind, seed):
    rng = np.random.default_rng(seed)
    A, S = _build(fmt, rng, m, n, np.float64, np.int32, canonical)
    values = {"scalar": 9.0, "short": np.arange(1.0, 3.0), "long": np.arange(1.0, 12.0),
              "one": np.array([4.0])}[kind]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            S.setdiag(values, k)
        except ValueError as exc:
            with pytest.raises(ValueError, match=str(exc)):
                A.setdiag(values, k)
            return
    A.setdiag(values, k)
    np.testing.assert_array_equal(A.toarray(), S.toarray())
    assert A.nnz == S.nnz


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_errors_are_scipys(fmt):
    make = {"csr": (spla.csr_array, sp.csr_array), "csc": (spla.csc_array, sp.csc_array),
            "coo": (spla.coo_array, sp.coo_array)}[fmt]
    cases = [
        ((3, 0), 1.0),              # out of range
        ((-4, 0), 1.0),
        ((0, 0, 0), 1.0),           # too many indices
        (np.array([True, False]), 1.0),  # mask of the wrong length
        ((slice(None), slice(None)), np.ones((2, 2))),  # does not broadcast
        ((0, 0), np.ones(2)),       # a sequence into an item
        ((0, 0), 1 + 2j),           # complex into real
        ((np.array([[0, 1, 2], [1, 2, 0]]), slice(0, 2)), 1.0),  # grids that do not broadcast
    ]
    for key, x in cases:
        A = make[0](np.eye(3))
        S = make[1](np.eye(3))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                S[key] = x
            except Exception as exc:  # noqa: BLE001 - the error SciPy gives
                expected = type(exc)
            else:
                expected = None
        if expected is None:
            A[key] = x
            np.testing.assert_array_equal(A.toarray(), S.toarray())
        else:
            with pytest.raises(expected):
                A[key] = x
    A = make[0](np.eye(3))
    with pytest.raises(IndexError):  # SciPy lets float arrays through; the issue asks for this
        A[np.array([0.5]), 0] = 1.0


def test_nan_into_float_and_int():
    A = spla.csr_array(np.eye(2))
    A[0, 1] = np.nan
    assert np.isnan(A.toarray()[0, 1])
    B = spla.csr_array(np.eye(2, dtype=np.int64))
    with pytest.raises(ValueError):
        B[0, 1] = np.nan


def test_complex_array_into_real_warns_as_numpy():
    A = spla.csr_array(np.eye(2))
    with pytest.warns(np.exceptions.ComplexWarning):
        A[0, :] = np.array([1 + 1j, 2 + 0j])
    np.testing.assert_array_equal(A.toarray()[0], [1, 2])


def test_insertion_upcasts_indices_when_needed():
    rows = np.array([0, 1], dtype=np.int64)
    cols = np.array([5, 2**31 + 3], dtype=np.int64)
    data, indices, indptr, status = insert_ops.write_entries(
        np.ones(1), np.array([0], np.int32), np.array([0, 1, 1], np.int32), (2, 2**31 + 5),
        rows, cols, np.array([2.0, 3.0]), True, False)
    assert status == "inserted" and indices.dtype == np.int64 and indptr.dtype == np.int64
    np.testing.assert_array_equal(indices, [0, 5, 2**31 + 3])
    np.testing.assert_array_equal(indptr, [0, 2, 3])


def test_large_batch_parallel_path_matches_scipy():
    """A batch and a matrix above the serial thresholds (the parallel kernels)."""
    rng = np.random.default_rng(1)
    n = 20_000
    S = sp.random_array((n, n), density=5 / n, rng=rng, format="csr")
    A = spla.csr_array(S)
    rows = rng.integers(0, n, 30_000)
    cols = rng.integers(0, n, 30_000)
    coo = S.tocoo()
    pick = rng.integers(0, S.nnz, 10_000)  # a third of the targets exist
    rows[:10_000], cols[:10_000] = coo.row[pick], coo.col[pick]
    vals = rng.standard_normal(rows.size)
    A[rows, cols] = vals
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        S[rows, cols] = vals
    np.testing.assert_array_equal(A.indptr, S.indptr)
    np.testing.assert_array_equal(A.indices, S.indices)
    np.testing.assert_array_equal(A.data, S.data)


def test_banded_writes_inside_the_band_and_refuses_outside():
    D = np.eye(4) + 2 * np.eye(4, k=1)
    storage = D.copy()
    A = spla.banded_array(storage)
    A[0, 1] = 5.0
    A[1:3, 1:3] = np.array([[7.0, 8.0], [0.0, 9.0]])  # (2, 1) is outside, but a zero
    A[3, 0] = 0.0
    D[0, 1] = 5.0
    D[1:3, 1:3] = [[7.0, 8.0], [0.0, 9.0]]
    np.testing.assert_array_equal(A.toarray(), D)
    with pytest.raises(ValueError, match=r"A\[3, 0\].*diagonal -3.*outside the band"):
        A[3, 0] = 1.0
    np.testing.assert_array_equal(A.toarray(), D)
    np.testing.assert_array_equal(storage, np.eye(4) + 2 * np.eye(4, k=1))
    x = np.arange(4.0)
    np.testing.assert_allclose(A @ x, D @ x)


def test_nm_writes_keep_the_rule_or_name_the_group():
    D = np.array([[1.0, 0, 0, 2, 0, 0, 0, 0], [0, 0, 0, 0, 3, 0, 4, 0]])
    A = spla.nm_array(D, n=2, m=4)
    A[0, 1:3] = [0.0, 0.0]
    A[1, 4] = 0.0
    A[1, 5] = 6.0
    D[1, 4], D[1, 5] = 0.0, 6.0
    np.testing.assert_array_equal(A.toarray(), D)
    with pytest.raises(ValueError, match=r"row 1, columns 4\.\.7 \(group 1\).*2:4"):
        A[1, 7] = 1.0
    np.testing.assert_array_equal(A.toarray(), D)
    np.testing.assert_allclose(A @ np.ones(8), D @ np.ones(8))


@settings(max_examples=max(10, EXAMPLES * 3 // 4), deadline=None)
@given(data=st.data(), n=st.integers(0, 7), dtype=st.sampled_from([np.float64, np.int32]))
def test_coo_1d_assignment_matches_numpy(data, n, dtype):
    dense = np.array(data.draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)), dtype=dtype)
    A = spla.coo_array(dense)
    D = dense.copy()
    for _ in range(data.draw(st.integers(1, 3))):
        key = data.draw(_axis_key(n, allow_int=n > 0))
        target = D[key]
        kind = data.draw(st.sampled_from(["scalar", "zero", "dense"]))
        x = _value(kind, np.shape(target), dtype, data.draw(st.integers(0, 2**31)))
        D[key] = x
        A[key] = x
        np.testing.assert_array_equal(A.toarray(), D)


@pytest.mark.parametrize("fmt", [spla.csr_array, spla.csc_array, spla.coo_array])
def test_key_and_value_dtypes_and_layouts(fmt):
    """Index arrays of any integer dtype (and read-only ones), non-contiguous and
    Fortran-ordered values, values of another dtype (cast as NumPy casts them)."""
    D = np.arange(30.0).reshape(5, 6) % 4
    A = fmt(D)
    rows = np.array([4, 0, 2], dtype=np.uint8)
    cols = np.array([5, 1, 1], dtype=np.int16)
    rows.flags.writeable = False
    big = np.arange(18, dtype=np.int32).reshape(3, 6)
    A[rows, cols] = big[:, ::2][:, 1]  # non-contiguous int32 values into float64
    D[rows, cols] = big[:, ::2][:, 1]
    block = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    A[1:5:2, ::2] = block
    D[1:5:2, ::2] = block
    np.testing.assert_array_equal(A.toarray(), D)
    np.testing.assert_array_equal(rows, [4, 0, 2])


@settings(max_examples=EXAMPLES, deadline=None)
@given(m=st.integers(0, 6), canonical=st.booleans(), seed=st.integers(0, 2**31),
       big=st.booleans())
def test_row_order_flags_match_numpy(m, canonical, seed, big):
    rng = np.random.default_rng(seed)
    m = m * 20_000 if big else m  # above the serial threshold: the parallel kernel
    d, j, p = _raw_csr(rng, m, 5, np.float64, np.int32, canonical)
    rows_sorted, rows_canonical = insert_ops.row_order(p, j)
    steps = [np.diff(j[p[i]:p[i + 1]]) for i in range(m)] if not big else None
    if steps is not None:
        assert rows_sorted == all((s >= 0).all() for s in steps)
        assert rows_canonical == all((s > 0).all() for s in steps)
    S = sp.csr_array((d, j, p), shape=(m, 5))
    assert rows_canonical == S.has_canonical_format
    assert rows_sorted == S.has_sorted_indices


def test_coo_callers_arrays_are_never_written():
    data = np.array([1.0, 2.0])
    row = np.array([0, 1], dtype=np.int32)
    col = np.array([1, 0], dtype=np.int32)
    saved = data.copy(), row.copy(), col.copy()
    A = spla.coo_array((data, (row, col)), shape=(2, 2))
    A[0, 1] = 5.0
    A[:, 0] = 0.0
    for before, after in zip(saved, (data, row, col)):
        np.testing.assert_array_equal(before, after)
    np.testing.assert_array_equal(A.toarray(), [[0, 5], [0, 0]])
