"""The sparse-sparse elementwise kernels (``spla._backends.cpu.elementwise``)
against SciPy 1.17's ``csr_array`` operations and dense NumPy, over raw storage
of every value dtype SciPy supports, int32 and int64 indices, and the edges:
empty rows, all-zero and empty shapes, duplicates, explicit zeros, unsorted
rows, one dense row, NaN and infinities, integer overflow, huge column counts."""

import os
import subprocess
import sys
import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spla._backends.cpu import elementwise as E

DTYPES = [np.dtype(t) for t in (
    np.bool_, np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64,
    np.uint64, np.float32, np.float64, np.complex64, np.complex128)]

#: Operations and SciPy's spelling of each (sparse results except divide).
SCIPY = {
    "add": lambda A, B: A + B,
    "subtract": lambda A, B: A - B,
    "multiply": lambda A, B: A.multiply(B),
    "divide": lambda A, B: A / B,
    "maximum": lambda A, B: A.maximum(B),
    "minimum": lambda A, B: A.minimum(B),
    "ne": lambda A, B: A != B,
    "eq": lambda A, B: A == B,
    "lt": lambda A, B: A < B,
    "gt": lambda A, B: A > B,
    "le": lambda A, B: A <= B,
    "ge": lambda A, B: A >= B,
}
OPS = list(SCIPY)

#: NumPy's dense operation where it agrees with SciPy's sparse one on the values
#: drawn here (without NaN: SciPy's maximum/minimum and le/ge differ on NaN).
NUMPY = {
    "add": np.add, "multiply": np.multiply, "ne": np.not_equal, "eq": np.equal,
    "lt": np.less, "gt": np.greater, "le": np.less_equal, "ge": np.greater_equal,
    "maximum": np.maximum, "minimum": np.minimum,
}

SMALL_VALUES = [0, 1, -1, 2, -2, 3, 100, 127, -128, 255]
FLOAT_SPECIALS = [np.nan, np.inf, -np.inf, -0.0, 0.5, 1e38]


def _cast_values(vals, dtype):
    """Python numbers -> ``dtype`` with NumPy's wrapping of out-of-range integers."""
    arr = np.array(vals, dtype=np.complex128 if dtype.kind == "c" else np.float64)
    if dtype.kind in "iu":
        return arr.real.astype(np.int64).astype(dtype)
    if dtype.kind == "b":
        return arr.real != 0
    with np.errstate(over="ignore", invalid="ignore"):
        return arr.astype(dtype)


@st.composite
def raw_csr(draw, shape, dtype, index_dtype, specials=False, canonical=False):
    """(data, indices, indptr, shape) with unsorted rows, duplicates and explicit
    zeros unless ``canonical``; sometimes one dense row."""
    m, n = shape
    if m == 0 or n == 0:
        nnz = 0
    else:
        nnz = draw(st.integers(0, min(3 * m * n, 40)))
    rows = draw(st.lists(st.integers(0, max(m - 1, 0)), min_size=nnz, max_size=nnz))
    cols = draw(st.lists(st.integers(0, max(n - 1, 0)), min_size=nnz, max_size=nnz))
    if m and n and draw(st.booleans()):  # one dense row
        r = draw(st.integers(0, m - 1))
        rows += [r] * n
        cols += list(range(n))
    pool = SMALL_VALUES + (FLOAT_SPECIALS if specials and dtype.kind in "fc" else [])
    re = draw(st.lists(st.sampled_from(pool), min_size=len(rows), max_size=len(rows)))
    if dtype.kind == "c":
        im = draw(st.lists(st.sampled_from(pool), min_size=len(rows), max_size=len(rows)))
        vals = [complex(a, b) for a, b in zip(re, im)]
    else:
        vals = re
    rows = np.array(rows, dtype=np.int64)
    cols = np.array(cols, dtype=np.int64)
    data = _cast_values(vals, dtype) if vals else np.zeros(0, dtype)
    if canonical:
        key = rows * max(n, 1) + cols
        key, first = np.unique(key, return_index=True)
        rows, cols, data = rows[first], cols[first], data[first]
    order = np.argsort(rows, kind="stable")
    rows, cols, data = rows[order], cols[order], data[order]
    indptr = np.zeros(m + 1, dtype=np.int64)
    np.add.at(indptr, rows + 1, 1)
    indptr = np.cumsum(indptr)
    return data, cols.astype(index_dtype), indptr.astype(index_dtype), (m, n)


def _scipy(x):
    data, indices, indptr, shape = x
    return sp.csr_array((data.copy(), indices.copy(), indptr.copy()), shape=shape)


def _check_canonical(data, indices, indptr, shape, dtype):
    m, n = shape
    assert data.dtype == dtype
    assert indices.dtype == indptr.dtype
    assert indices.dtype == (np.int32 if max(n, indices.size) < 2**31 else np.int64)
    assert indptr.size == m + 1 and indptr[0] == 0 and indptr[-1] == indices.size == data.size
    for i in range(m):
        row = indices[indptr[i]:indptr[i + 1]]
        assert np.all(np.diff(row.astype(np.int64)) > 0), "unsorted or duplicate columns"
    if indices.size:
        assert 0 <= indices.min() and indices.max() < n


def _dense_of_result(op, data, indices, indptr, shape):
    m, n = shape
    rows = np.repeat(np.arange(m), np.diff(indptr))
    if op in E.K.COMPLEMENTS:
        out = np.ones(shape, dtype=bool)
        out[rows, indices] = False
        return out
    out = np.zeros(shape, dtype=data.dtype)
    out[rows, indices] = data
    return out


def _expected(op, a, b):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            R = SCIPY[op](_scipy(a), _scipy(b))
    return R if isinstance(R, np.ndarray) else R.toarray()


def _run(op, a, b, result_dtype, canonical=False):
    with np.errstate(all="ignore"):
        if op == "divide":
            return E.true_divide_dense(a, b, result_dtype), None
        out = E.binop(op, a, b, result_dtype, canonical=canonical)
    return _dense_of_result(op, *out, a[3]), out


def _result_dtype(op, a, b):
    if op in E.K.BOOL_RESULT:
        return np.dtype(bool)
    if op == "divide":
        # SciPy: A / B casts A to float64 when it can (every dtype but complex)
        first = np.float64 if np.can_cast(a[0].dtype, np.float64) else a[0].dtype
        return np.result_type(first, b[0].dtype)
    return np.result_type(a[0].dtype, b[0].dtype)


def _assert_same(got, expected, op, dtype):
    assert got.shape == expected.shape
    if op == "divide" and dtype.kind == "c":
        # SciPy divides complex numbers with the reciprocal of |b|^2 in C++ (with
        # possible fused multiply-adds); equal up to rounding
        np.testing.assert_allclose(got, expected, rtol=1e-5, equal_nan=True)
    else:
        np.testing.assert_array_equal(got, expected, err_msg=op)


shapes = st.tuples(st.integers(0, 5), st.integers(0, 6))


@settings(max_examples=60)
@given(dtype=st.sampled_from(DTYPES), op=st.sampled_from(OPS), shape=shapes,
       index_dtype=st.sampled_from([np.int32, np.int64]), data=st.data())
def test_matches_scipy_every_dtype(dtype, op, shape, index_dtype, data):
    """Each operation on one dtype with non-canonical operands equals SciPy's."""
    if dtype.kind != "f" and index_dtype == np.int64 and dtype not in (
            np.dtype(np.int8), np.dtype(np.bool_), np.dtype(np.complex64)):
        index_dtype = np.int32  # keep the number of compilations down
    a = data.draw(raw_csr(shape, dtype, index_dtype, specials=True), label="a")
    b = data.draw(raw_csr(shape, dtype, index_dtype, specials=True), label="b")
    saved = [x.copy() for x in a[:3] + b[:3]]
    rdt = _result_dtype(op, a, b)
    got, out = _run(op, a, b, rdt)
    _assert_same(got, _expected(op, a, b), op, dtype)
    if out is not None:
        _check_canonical(*out, a[3], rdt)
        if op not in E.K.COMPLEMENTS:
            assert np.all(out[0] != 0), "zero results must not be stored"
    for x, y in zip(saved, a[:3] + b[:3]):
        np.testing.assert_array_equal(x, y)  # operands untouched


@settings(max_examples=30)
@given(dtypes=st.tuples(st.sampled_from(DTYPES), st.sampled_from(DTYPES)),
       op=st.sampled_from(OPS), shape=shapes, data=st.data())
def test_mixed_dtypes_and_index_dtypes(dtypes, op, shape, data):
    """Operands of two dtypes (promoted as NumPy does) and of int32 and int64 indices."""
    a = data.draw(raw_csr(shape, dtypes[0], np.int32), label="a")
    b = data.draw(raw_csr(shape, dtypes[1], np.int64), label="b")
    rdt = _result_dtype(op, a, b)
    if op == "divide" and dtypes[0].kind != "c" and dtypes[1].kind == "c":
        return  # SciPy writes the complex quotients into a float64 array (drops imag)
    got, out = _run(op, a, b, rdt)
    _assert_same(got, _expected(op, a, b), op, rdt)


@settings(max_examples=40)
@given(dtype=st.sampled_from([np.dtype(np.int8), np.dtype(np.uint8), np.dtype(np.int64),
                              np.dtype(np.float64), np.dtype(np.complex128)]),
       op=st.sampled_from(sorted(NUMPY)), shape=shapes, data=st.data())
def test_matches_dense_numpy(dtype, op, shape, data):
    """Against dense NumPy on the summed operands (int8 sums wrap as NumPy's)."""
    a = data.draw(raw_csr(shape, dtype, np.int32), label="a")
    b = data.draw(raw_csr(shape, dtype, np.int32), label="b")
    if dtype.kind == "c" and op in ("lt", "gt", "le", "ge", "maximum", "minimum"):
        return  # NumPy orders complex values as SciPy does, checked against SciPy above
    da, db = _scipy(a).toarray(), _scipy(b).toarray()
    got, _ = _run(op, a, b, _result_dtype(op, a, b))
    np.testing.assert_array_equal(got, NUMPY[op](da, db), err_msg=op)


@pytest.mark.parametrize("op", OPS)
def test_edges(op):
    """0 x n, n x 0, all-zero and empty-row operands."""
    for shape in [(0, 0), (0, 4), (4, 0), (3, 3)]:
        z = (np.zeros(0), np.zeros(0, np.int32), np.zeros(shape[0] + 1, np.int32), shape)
        got, _ = _run(op, z, z, _result_dtype(op, z, z))
        _assert_same(got, _expected(op, z, z), op, np.dtype(np.float64))
    # explicit zeros only, and a row of duplicates that cancel
    a = (np.array([0.0, 0.0, 2.0, -2.0]), np.array([1, 0, 2, 2], np.int32),
         np.array([0, 2, 4, 4], np.int32), (3, 3))
    got, _ = _run(op, a, a, _result_dtype(op, a, a))
    _assert_same(got, _expected(op, a, a), op, np.dtype(np.float64))


def test_int8_overflow_wraps():
    a = (np.array([100, 100, -128], np.int8), np.array([0, 0, 1], np.int32),
         np.array([0, 3], np.int32), (1, 2))
    data, indices, indptr = E.binop("add", a, a, np.int8)
    # row 0: col 0 is 100 + 100 = -56 (wrapped) per operand, -112 in the sum;
    # col 1 is -128 + -128 = 0 after wrapping: not stored
    assert data.tolist() == [-112] and indices.tolist() == [0]


def test_bool_arithmetic_as_scipy():
    t = (np.array([True, True]), np.array([0, 1], np.int32), np.array([0, 2], np.int32), (1, 3))
    u = (np.array([True]), np.array([1], np.int32), np.array([0, 1], np.int32), (1, 3))
    assert E.binop("add", t, u, bool)[1].tolist() == [0, 1]        # or
    assert E.binop("subtract", t, u, bool)[1].tolist() == [0]      # exclusive or
    assert E.binop("multiply", t, u, bool)[1].tolist() == [1]      # and


@pytest.mark.parametrize("n", [10**8, 2**40])
def test_huge_column_count_add_is_instant(n):
    """Issue 18 item 4: A + A on (2, n) with one entry costs O(nnz), not O(n)."""
    idx = np.int32 if n < 2**31 else np.int64
    a = (np.array([1.5]), np.array([n - 1], idx), np.array([0, 1, 1], idx), (2, n))
    E.binop("add", a, a, np.float64)  # compile (or load) the kernels first
    tracemalloc.start()
    data, indices, indptr = E.binop("add", a, a, np.float64)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 1 << 20, f"{peak} bytes allocated"
    assert data.tolist() == [3.0] and indices.tolist() == [n - 1] and indptr.tolist() == [0, 1, 1]
    assert indices.dtype == idx


@settings(max_examples=20)
@given(op=st.sampled_from([o for o in OPS if o != "divide"]), data=st.data())
def test_huge_columns_few_entries(op, data):
    """Shapes with 2**40 columns: same result as SciPy on the columns that are used."""
    n = 2**40
    a = data.draw(raw_csr((3, 6), np.dtype(np.float64), np.int64, canonical=True))
    b = data.draw(raw_csr((3, 6), np.dtype(np.float64), np.int64, canonical=True))
    spread = lambda x: (x[0], x[1] * (n // 8) + 3, x[2], (3, n))  # noqa: E731
    out = E.binop(op, spread(a), spread(b), _result_dtype(op, a, b))
    _check_canonical(*out, (3, n), _result_dtype(op, a, b))
    small = (out[0], (out[1] - 3) // (n // 8), out[2])
    got = _dense_of_result(op, *small, (3, 6))
    _assert_same(got, _expected(op, a, b), op, np.dtype(np.float64))


def test_parallel_path_matches_serial():
    """Above the serial threshold the blocks run in parallel: same result, also with
    unsorted rows and duplicates in some blocks only."""
    rng = np.random.default_rng(0)
    m, n, nnz = 40000, 60, 200000
    for dtype in (np.float64, np.int8):
        def make(seed):
            r = np.random.default_rng(seed)
            rows = np.sort(r.integers(0, m, nnz))
            cols = r.integers(0, n, nnz)
            vals = r.integers(-3, 4, nnz).astype(dtype)
            indptr = np.searchsorted(rows, np.arange(m + 1)).astype(np.int32)
            # sort the columns of the first half of the rows only
            half = indptr[m // 2]
            key = rows[:half] * n + cols[:half]
            order = np.argsort(key, kind="stable")
            cols[:half] = cols[:half][order]
            vals[:half] = vals[:half][order]
            return vals, cols.astype(np.int32), indptr, (m, n)
        a, b = make(1), make(2)
        assert m + 2 * nnz > E.SERIAL_MAX_ITEMS
        for op in ("subtract", "maximum", "ne", "le"):
            got, out = _run(op, a, b, _result_dtype(op, a, b))
            _assert_same(got, _expected(op, a, b), op, np.dtype(dtype))
            _check_canonical(*out, (m, n), _result_dtype(op, a, b))
    del rng


def test_complement_builds_scipys_result():
    a = (np.array([1.0, 2.0]), np.array([0, 2], np.int32), np.array([0, 1, 2], np.int32), (2, 3))
    b = (np.array([1.0, 5.0]), np.array([0, 1], np.int32), np.array([0, 2, 2], np.int32), (2, 3))
    _, indices, indptr = E.binop("eq", a, b, bool)
    data, ci, cp = E.complement(indices, indptr, (2, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        S = _scipy(a) == _scipy(b)
    C = sp.csr_array((data, ci, cp), shape=(2, 3))
    np.testing.assert_array_equal(C.toarray(), S.toarray())
    assert C.nnz == S.nnz


def test_noncontiguous_and_big_endian_operands():
    data = np.array([1.0, 9.0, 2.0, 9.0, 3.0, 9.0])[::2]
    a = (data, np.array([2, 0, 1])[::1].astype(">i4"), np.array([0, 2, 3]), (2, 3))
    b = (np.array([1.0, 1.0], dtype=">f8"), np.array([0, 1]), np.array([0, 1, 2]), (2, 3))
    out = E.binop("add", a, b, np.float64)
    got = _dense_of_result("add", *out, (2, 3))
    np.testing.assert_array_equal(got, [[3.0, 0, 1.0], [0, 4.0, 0]])


@pytest.mark.parametrize("bad, exc, match", [
    (dict(op="power"), ValueError, "unknown elementwise operation"),
    (dict(b_shape=(2, 4)), ValueError, "inconsistent shapes"),
    (dict(result_dtype=np.int64), TypeError, "cannot be computed"),
    (dict(op="ne", result_dtype=np.float64), TypeError, "bool"),
    (dict(op="divide", a_dtype=np.int64, result_dtype=np.int64), TypeError, "float or complex"),
    (dict(col=3), IndexError, "out of range"),
    (dict(col=-1), IndexError, "out of range"),
    (dict(indptr=[0, 2, 1]), ValueError, "non-decreasing"),
    (dict(indptr=[0, 1]), ValueError, "entries for 2 rows"),
    (dict(index_dtype=np.int16), TypeError, "int32 or int64"),
    (dict(a_dtype=object), TypeError, "unsupported value dtype"),
])
def test_bad_input_is_refused(bad, exc, match):
    op = bad.get("op", "add")
    a = (np.array([1.0, 2.0], dtype=bad.get("a_dtype", np.float64)),
         np.array([0, bad.get("col", 1)], dtype=bad.get("index_dtype", np.int32)),
         np.array(bad.get("indptr", [0, 1, 2]), dtype=bad.get("index_dtype", np.int32)), (2, 3))
    b = (np.array([1.0]), np.array([0], np.int32), np.array([0, 1, 1], np.int32),
         bad.get("b_shape", (2, 3)))
    with pytest.raises(exc, match=match):
        E.binop(op, a, b, bad.get("result_dtype", np.float64))


@settings(max_examples=40)
@given(dtype=st.sampled_from([np.dtype(np.float64), np.dtype(np.int8), np.dtype(np.bool_),
                              np.dtype(np.complex128)]),
       op=st.sampled_from(OPS), shape=shapes, same_values=st.booleans(), data=st.data())
def test_shared_pattern_fast_path(dtype, op, shape, same_values, data):
    """Canonical operands sharing their index arrays (``A + A``, or two value arrays
    on one pattern) take the entry-by-entry path: same results as SciPy."""
    a = data.draw(raw_csr(shape, dtype, np.int32, specials=True, canonical=True), label="a")
    if same_values:
        b = a
    else:
        other = data.draw(raw_csr(shape, dtype, np.int32, specials=True), label="b")[0]
        vals = np.resize(other, a[0].size) if other.size else np.zeros(a[0].size, dtype)
        b = (vals, a[1], a[2], a[3])
    rdt = _result_dtype(op, a, b)
    with np.errstate(all="ignore"):
        if op == "divide":
            got = E.true_divide_dense(a, b, rdt)
        else:
            out = E.binop(op, a, b, rdt, canonical=True)
            _check_canonical(*out, a[3], rdt)
            got = _dense_of_result(op, *out, a[3])
    _assert_same(got, _expected(op, a, b), op, dtype)


def test_shared_pattern_parallel_with_cancellation():
    """``A - A`` above the serial threshold: every result is zero, none is stored."""
    m, n = 30000, 100
    r = np.random.default_rng(3)
    indptr = np.arange(m + 1, dtype=np.int32) * 5
    indices = np.tile(np.arange(0, 50, 10, dtype=np.int32), m)
    a = (r.standard_normal(indices.size), indices, indptr, (m, n))
    data, idx, ptr = E.binop("subtract", a, a, np.float64, canonical=True)
    assert data.size == 0 and idx.size == 0 and ptr.tolist() == [0] * (m + 1)
    data, idx, ptr = E.binop("add", a, a, np.float64, canonical=True)
    np.testing.assert_array_equal(data, 2 * a[0])
    np.testing.assert_array_equal(idx, indices)
    assert idx.base is None or not np.shares_memory(idx, indices)


@settings(max_examples=40)
@given(dtype=st.sampled_from([np.dtype(np.float64), np.dtype(np.int8), np.dtype(np.bool_),
                              np.dtype(np.complex128)]),
       op=st.sampled_from([o for o in OPS if o != "divide"]), shape=shapes,
       index_dtype=st.sampled_from([np.int32, np.int64]), data=st.data())
def test_equal_patterns_in_distinct_arrays(dtype, op, shape, index_dtype, data):
    """Canonical operands whose index arrays are distinct but equal (``B`` a copy
    of ``A``'s pattern), and operands that differ in one column only: as SciPy
    (small ones are merged; ``test_equal_patterns_parallel_check`` takes the
    entry-by-entry path of large equal patterns)."""
    a = data.draw(raw_csr(shape, dtype, index_dtype, specials=True, canonical=True), label="a")
    other = data.draw(raw_csr(shape, dtype, index_dtype, specials=True), label="b")[0]
    vals = np.resize(other, a[0].size) if other.size else np.zeros(a[0].size, dtype)
    b = (vals, a[1].copy(), a[2].copy(), a[3])
    cases = [b]
    m, n = shape
    if a[1].size and n > 1:  # move the last entry of a row one column where it is free
        row = int(np.searchsorted(a[2], a[1].size - 1, side="right")) - 1
        last = int(a[1][-1])
        prev = int(a[1][-2]) if a[1].size > 1 and a[2][row] < a[1].size - 1 else -1
        free = [c for c in range(n) if c != last and c > prev]
        if free:
            moved = a[1].copy()
            moved[-1] = free[0]
            cases.append((vals, moved, a[2].copy(), a[3]))
    rdt = _result_dtype(op, a, b)
    for b in cases:
        out = E.binop(op, a, b, rdt, canonical=True)
        _check_canonical(*out, a[3], rdt)
        _assert_same(_dense_of_result(op, *out, a[3]), _expected(op, a, b), op, dtype)


def test_equal_patterns_parallel_check():
    """The parallel equality check of large patterns: equal, and different only
    in the last column of the last row (every chunk but the last agrees)."""
    m, n = 40000, 50
    r = np.random.default_rng(5)
    indptr = np.arange(m + 1, dtype=np.int64) * 3
    indices = np.tile(np.array([1, 7, 20], np.int64), m)
    a = (r.standard_normal(indices.size), indices, indptr, (m, n))
    b = (r.standard_normal(indices.size), indices.copy(), indptr.copy(), (m, n))
    assert m + indices.size >= E.SERIAL_MAX_ITEMS
    assert E._same_pattern(a[2], a[1], b[2], b[1])
    assert not E._same_pattern(a[2], a[1], indptr[::-1].copy(), indices)
    moved = indices.copy()
    moved[-1] = 21
    assert not E._same_pattern(a[2], a[1], indptr, moved)
    for bb in (b, (b[0], moved, b[2], b[3])):
        for op in ("subtract", "lt"):
            out = E.binop(op, a, bb, _result_dtype(op, a, bb), canonical=True)
            expected = SCIPY[op](_scipy(a), _scipy(bb))
            np.testing.assert_array_equal(out[2], expected.indptr)
            np.testing.assert_array_equal(out[1], expected.indices)
            np.testing.assert_array_equal(out[0], expected.data)


@pytest.fixture
def tiny_blocks(monkeypatch):
    """Every input takes the parallel path, in blocks of a few rows (the same
    settings for every example: the fixture need not be reset between them)."""
    monkeypatch.setattr(E, "SERIAL_MAX_ITEMS", 0)
    monkeypatch.setattr(E, "_BLOCK_ITEMS", 3)
    monkeypatch.setattr(E, "_BLOCKS_PER_THREAD", 64)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dtype=st.sampled_from([np.dtype(np.float64), np.dtype(np.int8), np.dtype(np.bool_),
                              np.dtype(np.complex128)]),
       op=st.sampled_from(OPS), shape=st.tuples(st.integers(0, 12), st.integers(0, 6)),
       canonical=st.booleans(), index_dtype=st.sampled_from([np.int32, np.int64]),
       data=st.data())
def test_parallel_blocks_match_scipy(tiny_blocks, dtype, op, shape, canonical, index_dtype,
                                     data):
    """The one-pass parallel merge over many small blocks, with its gaps closed in
    place or by a copy (cancellations, shared columns, results of zero,
    duplicates, empty blocks), as SciPy computes it."""
    a = data.draw(raw_csr(shape, dtype, index_dtype, specials=True, canonical=canonical),
                  label="a")
    b = data.draw(raw_csr(shape, dtype, index_dtype, specials=True, canonical=canonical),
                  label="b")
    rdt = _result_dtype(op, a, b)
    got, out = _run(op, a, b, rdt, canonical=canonical)
    _assert_same(got, _expected(op, a, b), op, dtype)
    if out is not None:
        _check_canonical(*out, a[3], rdt)
        if op not in E.K.COMPLEMENTS:
            assert np.all(out[0] != 0), "zero results must not be stored"


@settings(max_examples=60)
@given(rows=st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=1,
                     max_size=12),
       cuts=st.lists(st.integers(0, 12), max_size=6))
def test_close_gaps_and_copy_blocks(rows, cuts):
    """The three ways of closing the gaps between blocks (in place on all threads,
    saving what the later blocks land on; in place on one; or into fresh arrays)
    give the packed layout, for any
    gap sizes (a shift longer than a block's own entries included)."""
    m = len(rows)
    blocks = np.array(sorted({0, m, *[min(c, m) for c in cuts]}), np.int64)
    cap = np.array([c for c, _ in rows], np.int64)  # each row's room
    used = np.minimum(np.array([u for _, u in rows], np.int64), cap)
    room = np.zeros(m + 1, np.int64)
    np.cumsum(cap, out=room[1:])
    # the layout merge_blocks leaves: block b from room[blocks[b]], rows packed
    ci = np.full(room[-1] + 1, -1, np.int64)
    cd = np.full(room[-1] + 1, np.nan)
    cp = np.zeros(m + 1, np.int64)
    expect_i, expect_d, expect_p = [], [], [0]
    written = np.zeros(blocks.size - 1, np.int64)
    for b in range(blocks.size - 1):
        pos = room[blocks[b]]
        for i in range(blocks[b], blocks[b + 1]):
            vals = [1000 * i + k for k in range(used[i])]
            ci[pos:pos + used[i]] = vals
            cd[pos:pos + used[i]] = np.array(vals) / 2
            pos += used[i]
            cp[i + 1] = pos
            expect_i += vals
            expect_p.append(len(expect_i))
        written[b] = pos - room[blocks[b]]
    starts = room[blocks[:-1]]
    dst = np.zeros(written.size, np.int64)
    np.cumsum(written[:-1], out=dst[1:])
    expect_d = np.array(expect_i) / 2
    total = int(written.sum())
    out_i, out_d, out_p = np.empty(total, np.int64), np.empty(total), cp.copy()
    E.K.copy_blocks(blocks, starts, written, dst, out_p, ci, cd, out_i, out_d)
    assert out_i.tolist() == expect_i and out_d.tolist() == expect_d.tolist()
    assert out_p.tolist() == expect_p
    ci2, cd2, cp2 = ci.copy(), cd.copy(), cp.copy()
    E.K.close_gaps_serial(blocks, starts, written, dst, cp2, ci2, cd2)
    assert ci2[:total].tolist() == expect_i and cd2[:total].tolist() == expect_d.tolist()
    assert cp2.tolist() == expect_p
    saved = np.minimum(starts - dst, written)
    saved_at = np.zeros(written.size, np.int64)
    np.cumsum(saved[:-1], out=saved_at[1:])
    n_saved = int(saved.sum())
    E.K.close_gaps(blocks, starts, written, dst, saved_at, cp, ci, cd,
                   np.empty(n_saved, np.int64), np.empty(n_saved))
    assert ci[:total].tolist() == expect_i and cd[:total].tolist() == expect_d.tolist()
    assert cp.tolist() == expect_p


def test_doctests():
    import doctest

    assert doctest.testmod(E, optionflags=doctest.ELLIPSIS).failed == 0


def test_negative_zero_reads_as_scipy_general_path():
    """Found by hypothesis in CI: when an operand is not canonical, SciPy computes every
    row from a dense accumulator starting at +0, so a stored -0.0 in a canonical row of
    it reads as +0.0 (1 / -0.0 is +inf there); with both operands canonical it stays -0.0."""
    import spla

    a = (np.array([0.0, 0.0, 1.0]), np.array([0, 0, 1], np.int32), np.array([0, 1, 3], np.int32))
    b = (np.array([0.0, 0.0, 0.0, 0.0, 0.0, -0.0]), np.array([0, 0, 0, 0, 0, 1], np.int32),
         np.array([0, 4, 6], np.int32))
    for dtype in (np.float64, np.complex128):
        A = spla.csr_array((a[0].astype(dtype), a[1], a[2]), shape=(2, 2))
        B = spla.csr_array((b[0].astype(dtype), b[1], b[2]), shape=(2, 2))
        SA = sp.csr_array((a[0].astype(dtype), a[1], a[2]), shape=(2, 2))
        SB = sp.csr_array((b[0].astype(dtype), b[1], b[2]), shape=(2, 2))
        with np.errstate(divide="ignore", invalid="ignore"):
            got, want = (A / B), (SA / SB)
        np.testing.assert_array_equal(np.asarray(got.toarray() if hasattr(got, "toarray") else got),
                                      np.asarray(want.toarray() if hasattr(want, "toarray") else want))
        with np.errstate(divide="ignore"):
            canonical = spla.csr_array(np.array([[1.0, 0.0], [0.0, -0.0]], dtype=dtype))
            Bc = spla.csr_array(([1.0, -0.0], [0, 1], [0, 1, 2]), shape=(2, 2))
            Sc = sp.csr_array(([1.0, -0.0], [0, 1], [0, 1, 2]), shape=(2, 2))
            got = canonical / Bc
            want = sp.csr_array(canonical.to_scipy()) / Sc
            np.testing.assert_array_equal(
                np.asarray(got.toarray() if hasattr(got, "toarray") else got),
                np.asarray(want.toarray() if hasattr(want, "toarray") else want))


_AFTER_A_FAST_MATH_KERNEL = r"""
import sys
import numpy as np
from numba import njit, prange

@njit(parallel=True, fastmath=True)
def fused(a, b, out):
    for i in prange(a.size):
        out[i] = a[i] * b[i] + a[i]

for dt in (np.complex64, np.complex128):
    x = np.ones(4, dt)
    fused(x, x, x.copy())  # Numba now holds a fast-math complex product for dt

from spla._backends.cpu import elementwise as E

operands = np.load(sys.argv[1])
results = {}
with np.errstate(all="ignore"):
    for name in ("c64", "c128"):
        data = [operands[f"{name}_{k}"] for k in "ab"]
        n = data[0].size
        cols, ptr = np.arange(n, dtype=np.int32), np.array([0, n], dtype=np.int32)
        a, b = ((d, cols, ptr, (1, n)) for d in data)
        results[name + "_same"] = E.binop("multiply", a, b, data[0].dtype, canonical=True)[0]
        b = (data[1][::-1].copy(), cols, ptr, (1, n))  # unsorted: the general path
        results[name + "_general"] = E.binop("multiply", a, b, data[0].dtype)[0]
np.savez(sys.argv[2], **results)
"""


def test_complex_multiply_is_strict_after_a_fast_math_kernel(tmp_path):
    """Numba caches its complex product per process and signature without the fast-math
    flags in the key: once a ``parallel=True, fastmath=True`` kernel multiplied complex
    values, a strict kernel compiled afterwards inherited fused multiply-adds. The
    elementwise product writes the product out, so it stays SciPy's, bit for bit, also
    at an overflow ((100+1j) * (-inf+1e38j) is -inf+nanj in complex64, not -inf-infj).
    Run in a fresh process with an empty Numba cache, so that the order is this one."""
    rng = np.random.default_rng(7)
    operands = {}
    for name, dt in (("c64", np.complex64), ("c128", np.complex128)):
        a = (rng.standard_normal(64) + 1j * rng.standard_normal(64)).astype(dt)
        b = (rng.standard_normal(64) + 1j * rng.standard_normal(64)).astype(dt)
        a[0], b[0] = 100 + 1j, complex(-np.inf, 1e38)
        operands[f"{name}_a"], operands[f"{name}_b"] = a, b
    np.savez(tmp_path / "in.npz", **operands)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    subprocess.run([sys.executable, "-c", _AFTER_A_FAST_MATH_KERNEL, str(tmp_path / "in.npz"),
                    str(tmp_path / "out.npz")], check=True, env=env, capture_output=True)
    got = np.load(tmp_path / "out.npz")
    for name in ("c64", "c128"):
        a, b = operands[f"{name}_a"], operands[f"{name}_b"]
        with np.errstate(all="ignore"):
            same = sp.csr_array(a[None]).multiply(sp.csr_array(b[None])).toarray()[0]
            general = sp.csr_array(a[None]).multiply(sp.csr_array(b[None, ::-1])).toarray()[0]
        if name == "c64":
            assert np.isnan(same[0].imag)  # 100 * 1e38 overflows float32 before the sum
        np.testing.assert_array_equal(got[name + "_same"], same)
        np.testing.assert_array_equal(got[name + "_general"], general)
