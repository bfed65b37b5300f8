"""Indexing reads on CuPy-backed arrays (issue 19's GPU sentence).

Two parts:

- the array-module algorithms of ``spla._indexing.gpu`` (what the GPU backend
  runs with ``xp = cupy``) run here with ``xp = numpy`` against a dense NumPy
  reference, so CI checks their logic without a GPU;
- on a GPU (marked ``gpu``; skipped, with the reason, without CuPy or a GPU),
  every key form read from an array moved with ``to_device("cuda")`` gives the
  result the CPU path gives for the same key: same kind (sparse or dense), same
  format, shape and dtype, same values, and the result lives on the GPU.
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
    got = sp.csr_array((d, i, p), shape=A.shape)
    np.testing.assert_array_equal(got.toarray(), expect)
    assert d.dtype == A.dtype
    if k:
        assert gpu.row_order(p, i, np)[0]  # rows come out sorted
    d, i, p, _ = gpu.zero_entries(A.data, A.indices, A.indptr, A.shape, rows, cols, np)
    expect = ref.copy()
    expect[rows, cols] = 0
    np.testing.assert_array_equal(sp.csr_array((d, i, p), shape=A.shape).toarray(), expect)
    assert i.size == A.nnz  # nothing inserted


@SETTINGS
@given(data=st.data())
def test_row_order_matches_the_cpu_flags(data):
    A = data.draw(sst.csr_arrays(dtype=DTYPES, max_side=9))
    S = sp.csr_array((A.data, A.indices, A.indptr), shape=A.shape)
    sorted_rows, canonical = gpu.row_order(A.indptr, A.indices, np)
    assert sorted_rows == bool(S.has_sorted_indices)
    assert canonical == bool(S.has_canonical_format)


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


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("name", sorted(WRITES))
@pytest.mark.gpu
@pytest.mark.skipif(_SKIP is not None, reason=_SKIP or "")
def test_write_on_gpu_matches_cpu(fmt, name):
    key, value = WRITES[name]
    if isinstance(value, str):
        value = spla.csr_array(np.array([[0.0, 7.0, 0.0], [8.0, 0.0, 0.0]]))
    A = _make(fmt)
    B = A.to_device("cuda")
    A[key] = value
    B[key] = value
    assert str(B.device).startswith("cuda")
    assert B.format == A.format
    np.testing.assert_array_equal(B.to_device("cpu").toarray(), A.toarray())
    # the products see the write (cached plans forgotten)
    import cupy

    x = np.arange(1.0, 7.0)
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


@pytest.mark.parametrize("fmt", ["coo"])
@pytest.mark.gpu
@pytest.mark.skipif(_SKIP is not None, reason=_SKIP or "")
def test_write_into_gpu_coo_says_how(fmt):
    B = _make(fmt).to_device("cuda")
    with pytest.raises(NotImplementedError, match="tocsr"):
        B[0, 0] = 1.0
