"""Indexing reads on CuPy-backed arrays (issue 19's GPU sentence).

Two parts:

- the array-module algorithms of ``spla._indexing.gpu`` (what the GPU backend
  runs with ``xp = cupy``) run here with ``xp = numpy`` against a dense NumPy
  reference, so CI checks their logic without a GPU;
- on a GPU (marked ``gpu``; skipped, with the reason, without CuPy or a GPU),
  every key form read from an array moved with ``to_device("cuda")`` gives the
  result the CPU path gives for the same key: same kind (sparse or dense), same
  format, shape and dtype, same values, and the result lives on the GPU;
  writes into CSR, CSC, COO, N:M and banded arrays on the GPU (NumPy, CuPy and
  sparse values) leave the storage the CPU path leaves, and refuse what it
  refuses with the same message (the array-module forms of the COO, N:M and
  banded writes are checked with NumPy in tests/test_array_module.py).
"""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spla
from spla._indexing import gpu
from spla.testing import strategies as sst

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
DTYPES = st.sampled_from([np.float64, np.float32, np.complex128, np.int64, np.int32, np.bool_])


def _dense(A):
    return sp.csr_array((A.data, A.indices, A.indptr), shape=A.shape).toarray()


@st.composite
def _selection(draw, n):
    """A ``range`` (a resolved slice) or an int array with repeats, in any order."""
    if draw(st.booleans()):
        step = draw(st.sampled_from([1, 2, 3, -1, -2]))
        if step < 0 and n == 0:
            return range(0)
        start = draw(st.integers(0, n if step > 0 else n - 1))
        stop = draw(st.integers(0 if step > 0 else -1, n))
        return range(start, stop, step)
    if n == 0:
        return np.zeros(0, dtype=np.intp)
    return np.array(draw(st.lists(st.integers(0, n - 1), max_size=12)), dtype=np.intp)


# -- the array-module algorithms, with NumPy ------------------------------------------------


@SETTINGS
@given(data=st.data())
def test_select_matches_dense(data):
    A = data.draw(sst.csr_arrays(dtype=DTYPES, max_side=9))
    ref = _dense(A)
    m, n = A.shape
    rows, cols = data.draw(_selection(m)), data.draw(_selection(n))
    values, indices, indptr, shape, _ = gpu.select(A, rows, cols, np)
    got = sp.csr_array((values, indices, indptr), shape=shape).toarray()
    expect = ref[np.ix_(np.asarray(list(rows) if type(rows) is range else rows, dtype=np.intp),
                        np.asarray(list(cols) if type(cols) is range else cols, dtype=np.intp))]
    assert shape == expect.shape
    assert values.dtype == A.dtype
    np.testing.assert_array_equal(got, expect)


@SETTINGS
@given(data=st.data())
def test_row_slice_matches_dense(data):
    """``gpu.row_slice`` (the GPU's step-1 row slices) with NumPy: the rows' entries in
    storage order, new arrays, the index dtype of the row kernels' rule."""
    A = data.draw(sst.csr_arrays(dtype=DTYPES, max_side=9))
    m, n = A.shape
    start, stop = data.draw(st.integers(0, m)), data.draw(st.integers(0, m))
    indptr, indices, values = gpu.row_slice(A.indptr, A.indices, A.data, start, stop, n, np)
    rows = max(stop - start, 0)
    got = sp.csr_array((values, indices, indptr), shape=(rows, n)).toarray()
    np.testing.assert_array_equal(got, _dense(A)[start:start + rows])
    lo, hi = (A.indptr[start], A.indptr[stop]) if rows else (0, 0)
    np.testing.assert_array_equal(indices, A.indices[lo:hi])
    np.testing.assert_array_equal(values, A.data[lo:hi])
    assert indptr.shape == (rows + 1,) and indptr[0] == 0
    assert values.dtype == A.dtype
    assert indptr.dtype == indices.dtype == A.indices.dtype
    for out in (indptr, indices, values):
        for src in (A.indptr, A.indices, A.data):
            assert not np.shares_memory(out, src)


def test_row_slice_of_mixed_index_dtypes_is_int64():
    indptr, indices = np.array([0, 1, 3], np.int64), np.array([2, 0, 1], np.int32)
    p, i, v = gpu.row_slice(indptr, indices, np.ones(3), 1, 2, 3, np)
    assert p.dtype == i.dtype == np.int64
    assert p.tolist() == [0, 2] and i.tolist() == [0, 1]


@SETTINGS
@given(data=st.data())
def test_points_and_scalar_match_dense(data):
    A = data.draw(sst.csr_arrays(dtype=DTYPES, max_side=9))
    ref = _dense(A)
    m, n = A.shape
    if m == 0 or n == 0:
        return
    k = data.draw(st.integers(0, 10))
    rows = np.array(data.draw(st.lists(st.integers(0, m - 1), min_size=k, max_size=k)),
                    dtype=np.intp)
    cols = np.array(data.draw(st.lists(st.integers(0, n - 1), min_size=k, max_size=k)),
                    dtype=np.intp)
    got = gpu.points(A, rows, cols, np)
    assert got.dtype == A.dtype
    np.testing.assert_array_equal(got, ref[rows, cols])
    i, j = data.draw(st.integers(0, m - 1)), data.draw(st.integers(0, n - 1))
    s = gpu.scalar(A, i, j, np)
    assert s.shape == () and s.dtype == A.dtype
    assert s == ref[i, j]


def test_expand_of_empty_and_zero_counts():
    seg, off, total = gpu.expand(np.zeros(0, dtype=np.int64), np)
    assert total == 0 and seg.size == 0 and off.size == 0
    seg, off, total = gpu.expand(np.array([0, 0]), np)
    assert total == 0 and seg.size == 0


def _assert_written_exactly(got, expect, A, rows, cols):
    """The written entries ``(rows, cols)`` of the dense ``got`` equal ``expect``'s
    exactly; the others are A's, whose duplicates the write and the dense reference
    may sum in different orders (1 ulp apart seen in float32): within 4 ulps of the
    sum of A's magnitudes for inexact dtypes, exactly otherwise."""
    written = np.zeros(A.shape, dtype=bool)
    written[rows, cols] = True
    np.testing.assert_array_equal(got[written], expect[written])
    if np.issubdtype(A.dtype, np.inexact):
        eps = np.finfo(A.dtype).eps
        scale = np.abs(A.data).sum() if A.data.size else 0.0
        np.testing.assert_allclose(got[~written], expect[~written], rtol=4 * eps,
                                   atol=4 * eps * scale)
    else:
        np.testing.assert_array_equal(got[~written], expect[~written])


@SETTINGS
@given(data=st.data())
def test_write_and_zero_entries_match_dense(data):
    A = data.draw(sst.csr_arrays(dtype=DTYPES, max_side=9))
    ref = _dense(A)
    m, n = A.shape
    if m == 0 or n == 0:
        return
    k = data.draw(st.integers(0, 12))
    rows = np.array(data.draw(st.lists(st.integers(0, m - 1), min_size=k, max_size=k)),
                    dtype=np.int64)
    cols = np.array(data.draw(st.lists(st.integers(0, n - 1), min_size=k, max_size=k)),
                    dtype=np.int64)
    values = np.arange(1, k + 1).astype(A.dtype)
    d, i, p, status = gpu.write_entries(A.data, A.indices, A.indptr, A.shape, rows, cols,
                                        values, np)
    expect = ref.copy()
    expect[rows, cols] = values  # NumPy: the last write to an entry wins
    _assert_written_exactly(sp.csr_array((d, i, p), shape=A.shape).toarray(), expect, A, rows, cols)
    assert d.dtype == A.dtype
    if status == "inserted":
        assert gpu.row_order(p, i, np)[0]  # the merge gives sorted rows
    else:  # every target stored once: values scattered, the structure kept
        assert i is A.indices and p is A.indptr
    d, i, p, _ = gpu.zero_entries(A.data, A.indices, A.indptr, A.shape, rows, cols, np)
    expect = ref.copy()
    expect[rows, cols] = 0
    np.testing.assert_array_equal(sp.csr_array((d, i, p), shape=A.shape).toarray(), expect)
    assert i.size == A.nnz  # nothing inserted


@SETTINGS
@given(data=st.data(), writable=st.booleans())
def test_writes_to_stored_entries_scatter_the_values(data, writable):
    """Targets that are all stored once take the short path (a scatter, no merge):
    the values land in place when the storage is writable, in a copy otherwise; a
    target stored twice (non-canonical storage) or absent takes the merge."""
    A = data.draw(sst.csr_arrays(dtype=DTYPES, max_side=9))
    S = _dense(A)
    if A.nnz == 0:
        return
    entry_rows = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))
    picks = np.array(data.draw(st.lists(st.integers(0, A.nnz - 1), min_size=1, max_size=6)))
    rows, cols = entry_rows[picks].astype(np.int64), A.indices[picks].astype(np.int64)
    values = np.arange(1, picks.size + 1).astype(A.dtype)
    key = rows * A.shape[1] + cols
    once = all(np.count_nonzero(entry_rows * A.shape[1] + A.indices == k) == 1 for k in key)
    before = A.data.copy()
    d, i, p, status = gpu.write_entries(A.data, A.indices, A.indptr, A.shape, rows, cols,
                                        values, np, writable)
    expect = S.copy()
    expect[rows, cols] = values
    _assert_written_exactly(sp.csr_array((d, i, p), shape=A.shape).toarray(), expect, A, rows, cols)
    assert status == ("values" if once else "inserted")
    if once:
        assert (d is A.data) == writable and i is A.indices and p is A.indptr
        if not writable:
            np.testing.assert_array_equal(A.data, before)


@SETTINGS
@given(data=st.data())
def test_row_order_matches_the_cpu_flags(data):
    A = data.draw(sst.csr_arrays(dtype=DTYPES, max_side=9))
    S = sp.csr_array((A.data, A.indices, A.indptr), shape=A.shape)
    sorted_rows, canonical = gpu.row_order(A.indptr, A.indices, np)
    assert sorted_rows == bool(S.has_sorted_indices)
    assert canonical == bool(S.has_canonical_format)


def test_index_kernels_cover_every_value_dtype():
    """Every value dtype spla stores has a type the index kernels move (by size) and
    one they sum (point reads of non-canonical storage), and every expression
    ``spla_cuda.index`` forms from them is in the list of the kernels to prebuild."""
    from spla._dtypes import VALUE_DTYPES
    from spla._kernels import cuda_index as ci

    listed = ci.instantiations()
    assert len(listed) == len(set(listed))
    for dt in VALUE_DTYPES:
        for I in ci.INDEX_CTYPES.values():
            for O in ci.INDEX_CTYPES.values():
                assert f"idx_rows_fill<{I}, {O}, {ci.carrier(dt)}>" in listed
                assert f"idx_select_fill<{I}, {O}, {ci.carrier(dt)}>" in listed
            assert f"idx_points<{I}, {ci.ARITH_CTYPES[dt]}>" in listed
            assert f"idx_points<{I}, {ci.carrier(dt)}>" in listed or dt.itemsize == 16


# -- on the GPU: the CPU path's answers, on the device ----------------------------------------


def _cuda_reason():
    try:
        import cupy
    except ImportError:
        return "the GPU indexing tests need CuPy: pip install 'spla[cuda]'"
    try:
        if cupy.cuda.runtime.getDeviceCount() == 0:
            return "the GPU indexing tests need an NVIDIA GPU; CuPy sees none"
    except Exception as exc:  # CUDARuntimeError without a driver
        return f"the GPU indexing tests need an NVIDIA GPU ({exc})"
    return None


_SKIP = _cuda_reason()

_DENSE = np.array([[0.0, 1.5, 0.0, 2.0, 0.0, 0.0],
                   [3.0, 0.0, 0.0, 0.0, -1.0, 0.0],
                   [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                   [4.0, 0.0, 5.0, 6.0, 0.0, 7.0],
                   [0.0, -2.0, 0.0, 0.0, 8.0, 0.0]])

_MASK_ROWS = np.array([True, False, True, True, False])
_MASK_COLS = np.array([False, True, True, False, True, True])

KEYS = {
    "row": 3,
    "negative row": -2,
    "row, all": (1, slice(None)),
    "row slice": slice(1, 4),
    "row slice with step": slice(None, None, -2),
    "column": (slice(None), 3),
    "negative column": (slice(None), -1),
    "fancy rows": [4, 0, 0, 2],
    "fancy rows int32": np.array([1, 3], dtype=np.int32),
    "row mask": _MASK_ROWS,
    "column mask": (slice(None), _MASK_COLS),
    "fancy columns": (slice(None), [5, 1, 1, 0]),
    "scalar": (3, 2),
    "scalar zero": (2, 4),
    "negative scalar": (-1, -2),
    "points": ([0, 3, 4, 3], [1, 5, 4, 5]),
    "2-D mask": _DENSE > 1.0,
    "ix_": np.ix_([4, 1, 3], [0, 4, 5]),
    "row and column slices": (slice(0, 5, 2), slice(1, 6, 2)),
    "rows and column slice": ([3, 0], slice(2, None)),
}


def _make(fmt):
    if fmt == "csr":
        return spla.csr_array(_DENSE)
    if fmt == "csc":
        return spla.csc_array(_DENSE)
    if fmt == "coo":
        return spla.coo_array(_DENSE)
    if fmt == "coo-duplicates":
        r, c = np.nonzero(_DENSE)
        v = _DENSE[r, c]
        # every entry stored as two halves: the reads must add them up
        return spla.coo_array((np.concatenate([v / 2, v / 2]),
                               (np.concatenate([r, r]), np.concatenate([c, c]))),
                              shape=_DENSE.shape)
    raise AssertionError(fmt)


def _host(x):
    if isinstance(x, spla.SparseArray):
        assert str(x.device).startswith("cuda"), x.device
        return x.to_device("cpu")
    import cupy

    assert isinstance(x, cupy.ndarray), type(x)
    return cupy.asnumpy(x)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "coo-duplicates"])
@pytest.mark.parametrize("name", sorted(KEYS))
@pytest.mark.gpu
@pytest.mark.skipif(_SKIP is not None, reason=_SKIP or "")
def test_read_on_gpu_matches_cpu(fmt, name):
    key = KEYS[name]
    A = _make(fmt)
    expect = A[key]
    got = _host(A.to_device("cuda")[key])
    if isinstance(expect, spla.SparseArray):
        assert isinstance(got, spla.SparseArray)
        assert got.format == expect.format
        assert got.shape == expect.shape
        assert got.dtype == expect.dtype
        np.testing.assert_array_equal(got.toarray(), expect.toarray())
    else:
        got = np.asarray(got)
        assert got.shape == np.shape(expect)
        assert got.dtype == np.asarray(expect).dtype
        np.testing.assert_array_equal(got, expect)


@pytest.mark.parametrize("fmt", ["nm", "banded"])
@pytest.mark.parametrize("name", ["row", "row slice", "column", "fancy rows", "scalar", "ix_"])
@pytest.mark.gpu
@pytest.mark.skipif(_SKIP is not None, reason=_SKIP or "")
def test_read_through_csr_on_gpu(fmt, name):
    key = KEYS[name]
    if fmt == "nm":
        A = spla.nm_array(np.array([[1.0, 0.0, 2.0, 0.0], [0.0, 3.0, 0.0, 4.0],
                                    [5.0, 6.0, 0.0, 0.0], [0.0, 0.0, 7.0, 8.0],
                                    [9.0, 0.0, 0.0, 1.0]]), n=2, m=4)
    else:
        A = spla.banded_array(np.diag(np.arange(1.0, 6.0)) + np.diag(np.ones(4), 1))
    if name == "ix_":
        key = np.ix_([2, 0], [1, 3])
    expect = A[key]
    got = _host(A.to_device("cuda")[key])
    if isinstance(expect, spla.SparseArray):
        np.testing.assert_array_equal(got.toarray(), expect.toarray())
        assert got.shape == expect.shape
    else:
        np.testing.assert_array_equal(np.asarray(got), expect)


def _as_slice(r):
    return slice(r.start, None if r.stop < 0 else r.stop, r.step)


@SETTINGS
@given(data=st.data())
@pytest.mark.gpu
@pytest.mark.skipif(_SKIP is not None, reason=_SKIP or "")
def test_random_row_column_reads_on_gpu(data):
    A = data.draw(sst.csr_arrays(dtype=DTYPES, max_side=9))
    m, n = A.shape
    rows, cols = data.draw(_selection(m)), data.draw(_selection(n))
    rkey = _as_slice(rows) if type(rows) is range else rows
    ckey = _as_slice(cols) if type(cols) is range else cols
    key = (rkey, ckey) if type(rows) is range or type(cols) is range else np.ix_(rows, cols)
    expect = A[key]
    got = _host(A.to_device("cuda")[key])
    assert got.shape == expect.shape and got.format == expect.format
    np.testing.assert_array_equal(got.toarray(), expect.toarray())


WRITES = {
    "scalar existing": ((3, 2), 9.0),
    "scalar new": ((2, 4), 9.0),
    "scalar zero": ((0, 1), 0.0),
    "row": (1, np.arange(6.0)),
    "row slice scalar": (slice(1, 4), 2.5),
    "column": ((slice(None), 3), [1.0, 2.0, 3.0, 4.0, 5.0]),
    "points with repeats": (([0, 4, 0], [5, 1, 5]), [1.0, 2.0, 3.0]),
    "mask": (_DENSE > 1.0, -1.0),
    "ix_": (np.ix_([4, 1], [0, 2, 5]), np.ones((2, 3))),
    "sparse value": ((slice(0, 2), slice(0, 3)), "sparse"),
}


def _write_value(value):
    if isinstance(value, str):
        return spla.csr_array(np.array([[0.0, 7.0, 0.0], [8.0, 0.0, 0.0]]))
    return value


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "coo-duplicates"])
@pytest.mark.parametrize("name", sorted(WRITES))
@pytest.mark.gpu
@pytest.mark.skipif(_SKIP is not None, reason=_SKIP or "")
def test_write_on_gpu_matches_cpu(fmt, name):
    key, value = WRITES[name]
    value = _write_value(value)
    A = _make(fmt)
    B = A.to_device("cuda")
    A[key] = value
    B[key] = value
    assert str(B.device).startswith("cuda")
    assert B.format == A.format
    assert B.nnz == A.nnz  # the same stored entries (COO: SciPy's rules) on both devices
    np.testing.assert_array_equal(B.to_device("cpu").toarray(), A.toarray())
    # the products see the write (cached plans forgotten)
    import cupy

    x = np.arange(1.0, 7.0)
    np.testing.assert_allclose(cupy.asnumpy(B @ cupy.asarray(x)), A @ x)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.parametrize("name", sorted(WRITES))
@pytest.mark.gpu
@pytest.mark.skipif(_SKIP is not None, reason=_SKIP or "")
def test_cupy_values_write_as_numpy_values(fmt, name):
    """``A_gpu[key] = cupy_values`` (dense CuPy values, spla values on the GPU) gives
    what the same NumPy values give."""
    import cupy

    key, value = WRITES[name]
    value = _write_value(value)
    A = _make(fmt)
    B = A.to_device("cuda")
    A[key] = value
    B[key] = value.to_device("cuda") if isinstance(value, spla.SparseArray) \
        else cupy.asarray(value)
    np.testing.assert_array_equal(B.to_device("cpu").toarray(), A.toarray())
    assert B.nnz == A.nnz


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.parametrize("name", ["fancy rows", "row mask", "fancy columns", "points",
                                  "2-D mask", "ix_", "rows and column slice"])
@pytest.mark.gpu
@pytest.mark.skipif(_SKIP is not None, reason=_SKIP or "")
def test_cupy_index_arrays_read_and_write_as_numpy_ones(fmt, name):
    """CuPy index arrays and masks (what a CuPy user holds) in reads and writes of a
    GPU array give what the same NumPy keys give."""
    import cupy

    key = KEYS[name]
    parts = key if isinstance(key, tuple) else (key,)
    gkey = tuple(cupy.asarray(np.asarray(p)) if isinstance(p, (list, np.ndarray)) else p
                 for p in parts)
    gkey = gkey if isinstance(key, tuple) else gkey[0]
    A = _make(fmt)
    B = A.to_device("cuda")
    expect, got = A[key], _host(B[gkey])
    if isinstance(expect, spla.SparseArray):
        np.testing.assert_array_equal(got.toarray(), expect.toarray())
    else:
        np.testing.assert_array_equal(np.asarray(got), expect)
    A[key] = 9.0
    B[gkey] = cupy.asarray(9.0)
    np.testing.assert_array_equal(B.to_device("cpu").toarray(), A.toarray())


@pytest.mark.parametrize("key", [[3, 0, 3, -1], [True, False] * 4, slice(1, None, 2), -2])
@pytest.mark.gpu
@pytest.mark.skipif(_SKIP is not None, reason=_SKIP or "")
def test_cupy_keys_index_a_one_dimensional_gpu_array(key):
    """A 1-D array on the GPU takes CuPy index arrays and masks, in reads and writes,
    as a 2-D one does, with the results of the same NumPy keys."""
    import cupy

    v = spla.csr_array(np.array([0.0, 1.5, 0.0, 3.0, 0.0, 0.0, 7.0, 2.0]))
    g = v.to_device("cuda")
    gkey = cupy.asarray(np.asarray(key)) if isinstance(key, list) else key
    expect, got = v[key], g[gkey]
    if isinstance(expect, spla.SparseArray):
        assert got.shape == expect.shape
        np.testing.assert_array_equal(_host(got).toarray(), expect.toarray())
    else:
        np.testing.assert_array_equal(np.asarray(_host(got)), expect)
    v[key] = 9.0
    g[gkey] = 9.0
    np.testing.assert_array_equal(g.to_device("cpu").toarray(), v.toarray())


@pytest.mark.parametrize("fmt", ["csr", "coo", "nm", "banded"])
@pytest.mark.gpu
@pytest.mark.skipif(_SKIP is not None, reason=_SKIP or "")
def test_cupy_values_into_a_cpu_array_raise_type_error(fmt):
    import cupy

    A = _NM_BANDED[fmt]() if fmt in _NM_BANDED else _make(fmt)
    before = A.toarray()
    with pytest.raises(TypeError, match=r"x\.get\(\)"):
        A[0, 0] = cupy.asarray(1.0)
    with pytest.raises(TypeError, match=r"to_device"):
        A[0:2, 0:2] = spla.csr_array(np.eye(2)).to_device("cuda")
    np.testing.assert_array_equal(A.toarray(), before)


_NM_BANDED = {
    "nm": lambda: spla.nm_array(np.array([[1.0, 0.0, 2.0, 0.0, 0.0, 0.0],
                                          [0.0, 3.0, 0.0, 4.0, 5.0, 0.0],
                                          [5.0, 6.0, 0.0, 0.0, 0.0, 0.0],
                                          [0.0, 0.0, 7.0, 8.0, 0.0, 1.0]]), n=2, m=4),
    "banded": lambda: spla.banded_array(np.diag(np.arange(1.0, 6.0))
                                        + np.diag(np.ones(4), 1) + np.diag(np.ones(4), -1)),
}

#: writes that keep the structure (N:M rule, band) and ones that break it
STRUCTURED_WRITES = {
    "nm": {
        "scalar into a free slot": ((0, 4), 9.0),
        "zero a stored value": ((1, 4), 0.0),
        "row slice": ((2, slice(0, 4)), [0.0, 1.0, 0.0, 2.0]),
        "points with repeats": (([3, 3, 0], [4, 4, 2]), [1.0, 2.0, 3.0]),
        "cupy values": (([0, 1], [5, 0]), "cupy"),
        "breaks the rule": ((1, 0), 1.0),
        "breaks the rule in a slice": ((2, slice(1, 4)), [1.0, 1.0, 0.0]),
        "the last (padded) group": ((1, 5), 1.0),
    },
    "banded": {
        "diagonal": ((2, 2), 9.0),
        "zero outside": ((0, 4), 0.0),
        "block": ((slice(1, 3), slice(1, 3)), [[7.0, 8.0], [9.0, 10.0]]),
        "points with repeats": (([4, 4, 0], [3, 3, 1]), [1.0, 2.0, 3.0]),
        "cupy values": ((slice(0, 2), 1), "cupy"),
        "outside": ((0, 3), 1.0),
    },
}


@pytest.mark.parametrize("fmt,name", [(f, n) for f in STRUCTURED_WRITES
                                      for n in sorted(STRUCTURED_WRITES[f])])
@pytest.mark.gpu
@pytest.mark.skipif(_SKIP is not None, reason=_SKIP or "")
def test_write_into_nm_and_banded_on_gpu_matches_cpu(fmt, name):
    """N:M and banded arrays on the GPU take the writes the CPU takes (same packed
    storage) and refuse the same ones with the same message."""
    import cupy

    key, value = STRUCTURED_WRITES[fmt][name]
    gpu_value = value
    if isinstance(value, str):
        value = np.array([4.0, 0.0])
        gpu_value = cupy.asarray(value)
    A = _NM_BANDED[fmt]()
    B = A.to_device("cuda")
    try:
        A[key] = value
    except ValueError as exc:
        with pytest.raises(ValueError) as caught:
            B[key] = gpu_value
        assert str(caught.value) == str(exc)
        np.testing.assert_array_equal(B.to_device("cpu").toarray(), A.toarray())
        return
    B[key] = gpu_value
    assert str(B.device).startswith("cuda") and B.format == A.format
    host = B.to_device("cpu")
    np.testing.assert_array_equal(host.toarray(), A.toarray())
    if fmt == "nm":
        np.testing.assert_array_equal(host.values, A.values)
        np.testing.assert_array_equal(host.packed_positions, A.packed_positions)
    else:
        np.testing.assert_array_equal(host.data, A.data)
    x = np.arange(1.0, 7.0)[:A.shape[1]]
    np.testing.assert_allclose(cupy.asnumpy(B @ cupy.asarray(x)), A @ x)


@pytest.mark.gpu
@pytest.mark.skipif(_SKIP is not None, reason=_SKIP or "")
def test_write_after_product_forgets_the_plan():
    import cupy

    A = spla.csr_array(_DENSE)
    B = A.to_device("cuda")
    x = cupy.arange(1.0, 7.0)
    B @ x  # builds and caches the GPU plan
    A[2, 3] = 10.0
    B[2, 3] = 10.0
    np.testing.assert_allclose(cupy.asnumpy(B @ x), A @ np.arange(1.0, 7.0))


# -- the device-key reads (kernels/index.cu): every edge against the CPU path -----------------

ALL_DTYPES = st.sampled_from([np.float64, np.float32, np.complex128, np.complex64, np.int64,
                              np.int32, np.int16, np.uint8, np.bool_])


def _cpu_or_error(f):
    try:
        return f(), None
    except IndexError as exc:
        return None, str(exc)


def _entries(S):
    """The stored entries of a CSR, CSC or COO array as (coordinates..., value) rows,
    sorted: duplicates and explicit zeros kept, in no particular storage order."""
    if S.format in ("csr", "csc") and S.ndim == 2:
        major = np.repeat(np.arange(S.indptr.size - 1), np.diff(S.indptr))
        cols = [major, np.asarray(S.indices)]
    else:
        cols = [np.asarray(c) for c in S.coords]
    data = np.asarray(S.data)
    order = np.lexsort([data.imag, data.real] + cols[::-1]) if data.dtype.kind == "c" else \
        np.lexsort([data] + cols[::-1])
    return [c[order].astype(np.int64) for c in cols], data[order]


def _same_read(got, expect):
    if isinstance(expect, spla.SparseArray):
        got = _host(got)
        assert got.format == expect.format and got.shape == expect.shape
        assert got.dtype == expect.dtype
        (gc, gd), (ec, ed) = _entries(got), _entries(expect)
        assert len(gc) == len(ec)
        for a, b in zip(gc, ec):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(gd, ed)  # the same stored entries, in any order
    else:
        got = np.asarray(_host(got))
        assert got.shape == np.shape(expect) and got.dtype == np.asarray(expect).dtype
        np.testing.assert_array_equal(got, expect)


@st.composite
def _device_key(draw, shape):
    """A key of one of the forms the GPU short path takes, with negative, repeated and
    (sometimes) out-of-range indices, int32 or int64 or uint8 (NumPy arrays; the test
    also sends them as CuPy arrays)."""
    m, n = shape
    kd = draw(st.sampled_from([np.int32, np.int64, np.uint8]))

    def idx(size_hi, k, out_ok):
        lo = -size_hi - (2 if out_ok else 0)
        hi = size_hi + (1 if out_ok else -1)
        if kd == np.uint8:
            lo = 0
        if hi < lo:
            return np.zeros(0, dtype=kd)
        vals = draw(st.lists(st.integers(lo, hi), min_size=k, max_size=k))
        vals = [v for v in vals if kd != np.uint8 or v < 256]
        return np.array(vals, dtype=np.int64).astype(kd)

    out_ok = draw(st.integers(0, 4)) == 0
    form = draw(st.sampled_from(["rows", "points", "ix_", "rows_slice", "slice_cols", "mask",
                                 "scalar", "column"]))
    k = draw(st.integers(0, 9))
    if form == "rows":
        return idx(m, k, out_ok)
    if form == "points":
        k = max(k, 1)
        r, c = idx(m, k, out_ok), idx(n, k, out_ok)
        if r.size != c.size or r.size == 0:
            return None
        return (r, c)
    if form == "ix_":
        r, c = idx(m, k, out_ok), idx(n, draw(st.integers(0, 9)), out_ok)
        return (r[:, None], c[None, :])
    sl = slice(draw(st.integers(-12, 12)), draw(st.integers(-12, 12)),
               draw(st.sampled_from([None, 1, 2, -1, -3])))
    if form == "rows_slice":
        return (idx(m, k, out_ok), sl)
    if form == "slice_cols":
        return (sl, idx(n, k, out_ok))
    if form == "mask":
        return np.array(draw(st.lists(st.booleans(), min_size=m, max_size=m)), dtype=bool)
    if m == 0 or n == 0:
        return None
    if form == "column":
        return (slice(None), draw(st.integers(-n, n - 1)))
    return (draw(st.integers(-m, m - 1)), draw(st.integers(-n, n - 1)))


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
@pytest.mark.gpu
@pytest.mark.skipif(_SKIP is not None, reason=_SKIP or "")
def test_device_key_reads_match_the_cpu(data):
    """Every key form the kernels answer, on CSR and CSC arrays of every value dtype,
    int32 and int64 storage, canonical or not (duplicates, unsorted rows), with NumPy
    and CuPy keys of several integer dtypes: the CPU path's result, or its IndexError
    with the same message."""
    import cupy

    A = data.draw(sst.csr_arrays(dtype=ALL_DTYPES, max_side=9))
    if data.draw(st.booleans()):
        A = A.tocsc()
    key = data.draw(_device_key(A.shape))
    if key is None:
        return
    expect, error = _cpu_or_error(lambda: A[key])
    G = A.to_device("cuda")
    parts = key if isinstance(key, tuple) else (key,)
    for on_gpu in (False, True):
        gparts = tuple(cupy.asarray(p) if on_gpu and isinstance(p, np.ndarray) else p
                       for p in parts)
        gkey = gparts if isinstance(key, tuple) else gparts[0]
        if error is not None:
            with pytest.raises(IndexError) as caught:
                G[gkey]
            assert str(caught.value) == error
        elif isinstance(expect, spla.SparseArray) or not _sums_in_another_order(A, key, expect):
            _same_read(G[gkey], expect)
        else:
            _same_read(G[gkey], _in_storage_order(A)[key])


def _in_storage_order(A):
    """A's dense values with the duplicates of each position summed one after the
    other in storage order (SciPy's order for a scalar read and the kernels'); spla's
    CPU path sums them with NumPy's pairwise sum, which can round differently from
    eight duplicates of one position on."""
    S = A.tocsr() if A.format == "csr" else A
    out = np.zeros(A.shape, dtype=A.dtype)
    major = np.repeat(np.arange(S.indptr.size - 1), np.diff(S.indptr))
    for p, (a, b) in enumerate(zip(major, S.indices)):
        at = (a, b) if A.format == "csr" else (b, a)
        out[at] = out[at] + S.data[p] if A.dtype != np.bool_ else out[at] | S.data[p]
    return out


def _sums_in_another_order(A, key, expect):
    """Whether a dense read of non-canonical inexact storage may differ from the
    CPU's in the last bits (see ``_in_storage_order``)."""
    if A.has_canonical_format or np.dtype(A.dtype).kind not in "fc":
        return False
    return not np.array_equal(np.asarray(_in_storage_order(A)[key]), np.asarray(expect))


@pytest.mark.gpu
@pytest.mark.skipif(_SKIP is not None, reason=_SKIP or "")
def test_device_key_reads_of_a_larger_matrix():
    """Rows of many lengths (lanes per row vary), a long row, repeated columns (the
    sorted column map), empty selections, int32 and int64 keys."""
    import cupy

    rng = np.random.default_rng(3)
    S = sp.random(3000, 2500, density=0.01, format="csr", random_state=rng)
    S = sp.vstack([S, sp.csr_array(np.ones((1, 2500)))]).tocsr()
    A = spla.csr_array(S)
    G = A.to_device("cuda")
    rows = rng.integers(-3001, 3001, 5000)
    cols = rng.integers(-2500, 2500, 700)
    for kd in (np.int32, np.int64):
        r, c = cupy.asarray(rows.astype(kd)), cupy.asarray(cols.astype(kd))
        _same_read(G[r], A[rows])
        _same_read(G[:, c], A[:, cols])
        _same_read(G[r][:, c], A[rows][:, cols])
        _same_read(G[r[:300, None], c[None, :]], A[rows[:300, None], cols[None, :]])
        _same_read(G[r[:700], c], A[rows[:700], cols])
        _same_read(G[r, 10:2000:7], A[rows, 10:2000:7])
        _same_read(G[r[:0]], A[rows[:0]])
        _same_read(G[:, c[:0]], A[:, cols[:0]])
    mask = rng.random(3001) < 0.3
    _same_read(G[cupy.asarray(mask)], A[mask])
    _same_read(G[100:2900:3], A[100:2900:3])
    _same_read(G[:, 17], A[:, 17])
    for bad, named in (([0, 3001], 3001), ([-3002, 5], -3002), ([3005, -3010], 3005)):
        with pytest.raises(IndexError, match=rf"^index \({named}\) out of range$"):
            G[cupy.asarray(bad)]
        with pytest.raises(IndexError, match=rf"^index \({named}\) out of range$"):
            A[np.array(bad)]


@pytest.mark.parametrize("times", [2, 32, 33, 500])
@pytest.mark.gpu
@pytest.mark.skipif(_SKIP is not None, reason=_SKIP or "")
def test_repeated_columns_keep_the_order_of_their_positions(times):
    """``A[:, cols]`` with a column asked for ``times`` times (lists of at most 32
    positions are counted and sorted in place, longer ones go through a sort of the
    keys): each row's entries come out in the order of the CPU path, a column's
    copies in increasing position order (negative keys among them)."""
    import cupy

    rng = np.random.default_rng(times)
    S = sp.random(40, 300, density=0.2, format="csr", random_state=rng)
    A = spla.csr_array(S)
    cols = rng.integers(0, 300, max(400, 2 * times))
    cols[cols == 7] = 8
    at = rng.choice(cols.size, times, replace=False)
    cols[at] = 7
    cols[at[::2]] = 7 - 300
    expect = A[:, cols]
    got = A.to_device("cuda")[:, cupy.asarray(cols)]
    for part in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(cupy.asnumpy(getattr(got, part)), getattr(expect, part))


@pytest.mark.parametrize("balance", [None, -1])
@pytest.mark.gpu
@pytest.mark.skipif(_SKIP is not None, reason=_SKIP or "")
def test_row_reads_with_a_long_row(balance, monkeypatch):
    """``A[rows]`` where one row holds most entries (the fill balanced by output
    entries; ``balance=-1`` forces it on every selection, empty rows, repeats and
    empty selections included)."""
    import cupy

    from spla_cuda import index as gpu_index

    if balance is not None:
        monkeypatch.setattr(gpu_index, "_BALANCE", balance)
    rng = np.random.default_rng(4)
    S = sp.random(500, 40_000, density=0.0005, format="lil", random_state=rng)
    S[7, :] = np.arange(1.0, 40_001.0)
    S[9, :] = 0.0
    A = spla.csr_array(sp.csr_array(S))
    G = A.to_device("cuda")
    for rows in ([7], [7, 7, 0, 9, -493], rng.integers(-500, 500, 3000), [], [9, 9]):
        rows = np.asarray(rows, dtype=np.int64)
        _same_read(G[cupy.asarray(rows)], A[rows])
    mask = rng.random(500) < 0.5
    mask[7] = True
    _same_read(G[cupy.asarray(mask)], A[mask])
    _same_read(G[3:400:2], A[3:400:2])


def _noncanonical(index_dtype):
    """A 7 x 6 CSR array with unsorted rows, duplicates and empty rows."""
    indptr = np.array([0, 3, 3, 6, 7, 7, 10, 12], dtype=index_dtype)
    indices = np.array([4, 1, 4, 5, 0, 0, 2, 3, 3, 1, 5, 0], dtype=index_dtype)
    return spla.csr_array((np.arange(1.0, 13.0), indices, indptr), shape=(7, 6))


ROW_SLICES = [slice(None), slice(3, 3), slice(0, 0), slice(5, 2), slice(-4, -1), slice(-100, 100),
              slice(2, None), slice(None, -2), slice(6, 7), slice(1, 6, 1), slice(-1, -3)]


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("canonical", [True, False])
@pytest.mark.gpu
@pytest.mark.skipif(_SKIP is not None, reason=_SKIP or "")
def test_row_slices_on_gpu_match_cpu(index_dtype, canonical):
    """Step-1 row slices (``gpu.row_slice`` on the device, no row kernel): empty, full,
    negative bounds, ``lo > hi``, bounds past the ends; int32 and int64 storage,
    canonical or not; CSR rows and CSC columns; the result shares no memory with A."""
    A = _noncanonical(index_dtype)
    if canonical:
        A = spla.csr_array(A.toarray()).astype(A.dtype)
        A = spla.csr_array((A.data, A.indices.astype(index_dtype), A.indptr.astype(index_dtype)),
                           shape=A.shape)
    assert A.indices.dtype == index_dtype
    for B in (A, A.tocsc()):
        G = B.to_device("cuda")
        for sl in ROW_SLICES:
            key = sl if B.format == "csr" else (slice(None), sl)
            expect = B[key]
            got = G[key]
            _same_read(got, expect)
            assert _host(got).indices.dtype == expect.indices.dtype
            if B.format == "csr":
                _same_read(G[sl, :], B[sl, :])
            if got.nnz:
                got.data.fill(-1)  # a copy: A's values stay
                got.indices.fill(0)
        _same_read(G, B)


@pytest.mark.gpu
@pytest.mark.skipif(_SKIP is not None, reason=_SKIP or "")
def test_row_slices_of_a_larger_matrix_match_the_row_kernel():
    """A step-1 slice equals the same rows read by the row kernels (an index array)."""
    import cupy

    rng = np.random.default_rng(5)
    A = spla.csr_array(sp.random(4000, 300, density=0.02, format="csr", random_state=rng))
    G = A.to_device("cuda")
    for lo, hi in ((0, 4000), (17, 3999), (-2500, -3), (1000, 1001), (2000, 1000)):
        _same_read(G[lo:hi], A[lo:hi])
        rows = cupy.arange(*slice(lo, hi).indices(4000), dtype=np.int64)
        _same_read(G[lo:hi], _host(G[rows]))
