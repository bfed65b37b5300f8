"""Indexing reads (issue 19): the key normaliser (``spla._indexing.keys``) against
SciPy 1.17's ``_validate_indices``, and ``A[key]`` on every format against SciPy and
a dense NumPy copy."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse._index import _validate_indices

import spla
from spla._indexing.keys import is_full, normalize_key

INT_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint32, np.uint64]


# -- strategies -----------------------------------------------------------------------


@st.composite
def axis_entries(draw, n, *, arrays=True, ndim_arrays=(1,)):
    """One key entry for an axis of length ``n`` (may be out of range when asked)."""
    kinds = ["int", "slice"] + (["array", "list", "mask"] if arrays else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "int":
        if n == 0:
            return draw(st.sampled_from([slice(None), slice(1, 0)]))
        i = draw(st.integers(-n, n - 1))
        return draw(st.sampled_from([i, np.int64(i), np.intp(i)])) if i >= 0 else i
    if kind == "slice":
        lim = n + 2
        start = draw(st.none() | st.integers(-lim, lim))
        stop = draw(st.none() | st.integers(-lim, lim))
        step = draw(st.none() | st.integers(-3, 3).filter(lambda s: s != 0))
        return slice(start, stop, step)
    if kind == "mask":
        return np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    if n == 0:
        return np.zeros(0, dtype=np.int64) if kind == "array" else []
    vals = draw(st.lists(st.integers(-n, n - 1), min_size=0, max_size=6))
    if kind == "list":
        return vals
    dtype = draw(st.sampled_from([np.int32, np.int64, np.intp]))
    arr = np.array(vals, dtype=dtype)
    if draw(st.sampled_from(ndim_arrays)) == 2 and arr.size:
        arr = arr.reshape(-1, 1) if draw(st.booleans()) else arr.reshape(1, -1)
    return arr


@st.composite
def keys_2d(draw, shape, ndim_arrays=(1,)):
    m, n = shape
    form = draw(st.sampled_from(["one", "two", "two", "ix", "ellipsis", "none", "mask2d"]))
    if form == "one":
        return draw(axis_entries(m, ndim_arrays=ndim_arrays))
    if form == "two":
        return (draw(axis_entries(m, ndim_arrays=ndim_arrays)),
                draw(axis_entries(n, ndim_arrays=ndim_arrays)))
    if form == "ix":
        r = draw(st.lists(st.integers(-m, m - 1), max_size=5)) if m else []
        c = draw(st.lists(st.integers(-n, n - 1), max_size=5)) if n else []
        return np.ix_(np.array(r, dtype=np.intp), np.array(c, dtype=np.intp))
    if form == "ellipsis":
        e = draw(axis_entries(n if draw(st.booleans()) else m, arrays=False))
        if isinstance(e, slice):
            return (Ellipsis, e) if draw(st.booleans()) else (e, Ellipsis)
        return (Ellipsis, slice(None)) if m == 0 else (e if -m <= e < m else 0, Ellipsis)
    if form == "none":
        a = draw(axis_entries(m, arrays=False))
        b = draw(axis_entries(n, arrays=False))
        where = draw(st.integers(0, 2))
        key = [a, b]
        key.insert(where, None)
        return tuple(key)
    mask = np.array(draw(st.lists(st.booleans(), min_size=m * n, max_size=m * n)), dtype=bool)
    return mask.reshape(m, n)


shapes_2d = st.tuples(st.integers(0, 6), st.integers(0, 6))


def _same_entry(ours, theirs, n):
    if isinstance(ours, int):
        assert type(ours) is int and ours == theirs
    elif isinstance(ours, range):
        assert isinstance(theirs, slice)
        assert ours == range(*theirs.indices(n))
    else:
        assert ours.dtype == np.intp
        np.testing.assert_array_equal(ours, np.asarray(theirs))


# -- the normaliser ---------------------------------------------------------------------


@settings(max_examples=60)
@given(data=st.data(), shape=shapes_2d, fmt=st.sampled_from(["csr", "coo"]))
def test_normalize_key_matches_scipy(data, shape, fmt):
    key = data.draw(keys_2d(shape, ndim_arrays=(1, 2)))
    try:
        index, new_shape, arr_int_pos, none_pos = _validate_indices(key, shape, fmt)
    except (IndexError, ValueError, TypeError) as exc:
        with pytest.raises(type(exc)):
            normalize_key(key, shape, fmt)
        return
    k = normalize_key(key, shape, fmt)
    assert k.shape == tuple(new_shape)
    assert len(k.index) == len(index) == len(shape)
    for ours, theirs, n in zip(k.index, index, shape):
        _same_entry(ours, theirs, n)
    assert list(k.arr_int_pos) == list(arr_int_pos)
    assert list(k.none_pos) == list(none_pos)


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_normalize_key_integer_dtypes(dtype):
    k = normalize_key(np.array([3, 0, 3], dtype=dtype), (4, 2))
    assert k.index[0].dtype == np.intp
    np.testing.assert_array_equal(k.index[0], [3, 0, 3])
    assert is_full(k.index[1], 2)
    if np.dtype(dtype).kind == "i":
        k = normalize_key((slice(None), np.array([-1, -2], dtype=dtype)), (4, 2))
        np.testing.assert_array_equal(k.index[1], [1, 0])


def test_normalize_key_does_not_write_the_callers_array():
    rows = np.array([-1, 0])
    k = normalize_key(rows, (3, 3))
    np.testing.assert_array_equal(rows, [-1, 0])
    np.testing.assert_array_equal(k.index[0], [2, 0])


@pytest.mark.parametrize("key, exc, match", [
    ((1, 2, 3), IndexError, "Too many indices"),
    (7, IndexError, r"index \(7\) out of range"),
    (-6, IndexError, r"index \(-6\) out of range"),
    ((1, -7), IndexError, r"index \(-7\) out of range"),
    ([0, 5], IndexError, r"index \(5\) out of range"),
    ([0, -6], IndexError, r"index \(-6\) out of range"),
    (np.array([0, 2**63], dtype=np.uint64), IndexError, "out of range"),
    (1.0, ValueError, "Inexact indices"),
    ((np.float64(2.0), 1), ValueError, "Inexact indices"),
    ((1.5, 2), IndexError, "Index dimension"),
    (np.array([1.0, 2.0]), IndexError, "integer"),
    (np.array([1, 2], dtype=object), IndexError, "integer"),
    (np.array([True, False]), IndexError, "bool index 0 has shape"),
    ((slice(None), np.ones(5, bool)), IndexError, "bool index 1 has shape"),
    (np.ones((2, 6), bool), IndexError, "bool index 0 has shape"),
    ((Ellipsis, Ellipsis), IndexError, "single ellipsis"),
    (np.array([[[1]]]), IndexError, "Index dimension must be 1 or 2"),
    (([1, 2], [1, 2, 3]), IndexError, "could not be broadcast"),
    ("a", IndexError, "Index dimension"),
    ((slice(1.5, 3),), TypeError, "slice indices"),
])
def test_normalize_key_errors(key, exc, match):
    with pytest.raises(exc, match=match):
        normalize_key(key, (5, 6), "csr")


def test_normalize_key_sparse_masks():
    dense = np.array([[True, False, True], [False, False, True]])
    want = normalize_key(dense, dense.shape)
    for mask in (sp.csr_array(dense), sp.coo_array(dense), spla.csr_array(dense),
                 spla.csc_array(dense), spla.coo_array(dense)):
        k = normalize_key(mask, dense.shape)
        assert k.shape == want.shape == (3,)
        for a, b in zip(k.index, want.index):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(IndexError, match="sparse matrices"):
        normalize_key(sp.csr_array(np.eye(2)), (2, 2))
    with pytest.raises(IndexError, match="sparse matrices"):
        normalize_key(spla.csr_array(np.eye(2)), (2, 2))


# -- reads: A[key] against SciPy on every format ------------------------------------------

VALUE_DTYPES = [np.float64, np.float32, np.complex128, np.int64, np.int32, np.bool_,
                np.float16]
_SCIPY_DTYPES = {np.dtype(t) for t in (np.float64, np.float32, np.complex128, np.int64,
                                       np.int32, np.bool_)}


@st.composite
def sparse_cases(draw, max_dim=6):
    """(dense reference, spla CSR, CSC and COO of it; storage possibly non-canonical)."""
    m = draw(st.integers(0, max_dim))
    n = draw(st.integers(0, max_dim))
    dtype = np.dtype(draw(st.sampled_from(VALUE_DTYPES)))
    idx = draw(st.sampled_from([np.int32, np.int64]))
    nnz = draw(st.integers(0, min(3 * m * n, 40))) if m and n else 0
    rows = np.array(draw(st.lists(st.integers(0, m - 1), min_size=nnz, max_size=nnz))
                    if nnz else [], dtype=idx)
    cols = np.array(draw(st.lists(st.integers(0, n - 1), min_size=nnz, max_size=nnz))
                    if nnz else [], dtype=idx)
    vals = np.array(draw(st.lists(st.integers(-3, 3), min_size=nnz, max_size=nnz)),
                    dtype=np.float64)
    if dtype == np.bool_:
        # duplicates of a bool array sum as logical or: keep them all true
        vals = vals != 0
    vals = vals.astype(dtype)
    dense = np.zeros((m, n), dtype=dtype)
    np.add.at(dense, (rows, cols), vals)
    arrays = {}
    for fmt, major, minor, nmaj in (("csr", rows, cols, m), ("csc", cols, rows, n)):
        order = np.argsort(major, kind="stable")  # sorted by major, minor order random
        indptr = np.zeros(nmaj + 1, dtype=idx)
        np.cumsum(np.bincount(major, minlength=nmaj), out=indptr[1:])
        cls = spla.csr_array if fmt == "csr" else spla.csc_array
        arrays[fmt] = cls((vals[order], minor[order].copy(), indptr), shape=(m, n))
    arrays["coo"] = spla.coo_array((vals, (rows, cols)), shape=(m, n))
    if draw(st.booleans()):
        for a in arrays.values():
            a.sum_duplicates()
    return dense, arrays


def _reference(dense, fmt):
    ref = dense if dense.dtype in _SCIPY_DTYPES else dense.astype(np.float64)
    return sp.csr_array(ref).asformat(fmt)


def _dense_of(x):
    return x.toarray() if hasattr(x, "toarray") else np.asarray(x)


def check_read(ours, theirs, dtype):
    """``ours`` (spla) is what SciPy gave: same kind, format, shape, dtype, values."""
    if isinstance(theirs, np.generic):
        assert isinstance(ours, np.generic), type(ours)
    elif isinstance(theirs, np.ndarray):
        assert type(ours) is np.ndarray, type(ours)
    else:
        assert isinstance(ours, spla.SparseArray), type(ours)
        assert ours.format == theirs.format, (ours.format, theirs.format)
    assert np.shape(ours) == np.shape(theirs)
    assert ours.dtype == dtype, (ours.dtype, dtype)
    want = _dense_of(theirs).astype(dtype)
    got = _dense_of(ours)
    if dtype == np.float16:
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), atol=1e-2)
    else:
        np.testing.assert_array_equal(got, want)


def _scipy_bug_rows_by_stepped_slice(ref, key):
    """SciPy 1.17's csr_array fails on ``A[rows, a:b:step]`` with ``step != 1`` (it
    samples points instead of a rectangle: ``cannot reshape``, or a dense result when
    ``rows`` is empty); its csc_array gets it right, so the reference is that one."""
    return (ref.format == "csr" and isinstance(key, tuple) and len(key) == 2
            and not isinstance(key[0], (slice, int, np.integer)) and key[0] is not None
            and isinstance(key[1], slice) and key[1].step not in (None, 1))


def _read_both(ours_array, ref, key):
    if _scipy_bug_rows_by_stepped_slice(ref, key):
        try:
            got = ref.tocsc()[key]
        except (IndexError, ValueError, TypeError) as exc:
            with pytest.raises(type(exc)):
                ours_array[key]
            return None, None
        return ours_array[key], (got.asformat("csr") if sp.issparse(got) else got)
    try:
        theirs = ref[key]
    except (IndexError, ValueError, TypeError) as exc:
        with pytest.raises(type(exc)):
            ours_array[key]
        return None, None
    return ours_array[key], theirs


@settings(max_examples=80)
@given(case=sparse_cases(), fmt=st.sampled_from(["csr", "csc", "coo"]), data=st.data())
def test_getitem_matches_scipy(case, fmt, data):
    dense, arrays = case
    A = arrays[fmt]
    key = data.draw(keys_2d(dense.shape, ndim_arrays=(1, 2) if fmt != "coo" else (1,)))
    ours, theirs = _read_both(A, _reference(dense, fmt), key)
    if theirs is not None:
        check_read(ours, theirs, A.dtype)


@settings(max_examples=30)
@given(case=sparse_cases(), data=st.data())
def test_getitem_coo_1d_matches_scipy(case, data):
    dense, arrays = case
    if dense.shape[0] == 0:
        return
    row = dense[0]
    A = spla.coo_array(arrays["coo"].toarray()[0])
    ref = sp.coo_array(row if row.dtype in _SCIPY_DTYPES else row.astype(np.float64))
    key = data.draw(axis_entries(row.size) | st.just(Ellipsis) | st.just((None, slice(None))))
    ours, theirs = _read_both(A, ref, key)
    if theirs is not None:
        check_read(ours, theirs, A.dtype)


def test_getitem_storage_not_modified():
    indptr = np.array([0, 3, 3, 4])
    indices = np.array([2, 0, 2, 1])
    data = np.array([1.0, 2.0, 3.0, 4.0])
    A = spla.csr_array((data, indices, indptr), shape=(3, 3))
    before = [a.copy() for a in (data, indices, indptr)]
    assert A[0, 2] == 4.0  # duplicates summed, as SciPy
    A[:, [2, 0]], A[[2, 0, 0]], A[::-1, ::-2], A[[0, 0], [2, 2]]
    for a, b in zip((data, indices, indptr), before):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_getitem_empty_shapes(fmt):
    for shape in [(0, 4), (4, 0), (0, 0)]:
        A = spla.csr_array(shape).asformat(fmt)
        S = sp.csr_array(shape).asformat(fmt)
        for key in [slice(None), (slice(None), slice(1, 3)), ([], slice(None)),
                    (Ellipsis, slice(None, None, -1))]:
            check_read(A[key], S[key], np.dtype(np.float64))


def test_getitem_nm_and_banded_read_through_csr():
    dense = np.array([[1.0, 0, 2, 0], [0, 3, 0, 4], [5, 0, 0, 6]])
    nm = spla.csr_array(dense).asformat("nm") if "nm" in spla.formats() else None
    band = spla.csr_array(np.triu(np.tril(dense, 1), -1)).asformat("banded")
    for A, ref in ((nm, dense), (band, np.triu(np.tril(dense, 1), -1))):
        if A is None:
            continue
        S = sp.csr_array(ref)
        for key in [(1, 3), 1, (slice(None), 1), ([2, 0], slice(1, None)), ([0, 2], [1, 3])]:
            check_read(A[key], S[key], np.dtype(np.float64))


def test_iter_rows():
    dense = np.array([[1.0, 0, 2], [0, 0, 0]])
    for fmt in ("csr", "csc", "coo"):
        rows = list(spla.csr_array(dense).asformat(fmt))
        assert len(rows) == 2
        for got, want in zip(rows, dense):
            assert got.format == "coo" and got.shape == (3,)
            np.testing.assert_array_equal(got.toarray(), want)
    assert list(spla.coo_array(np.array([0.0, 5.0]))) == [0.0, 5.0]


def test_getitem_large_column_gather_paths():
    # a wide array: a hash table of the request instead of a column map
    rng = np.random.default_rng(0)
    m, n = 50, 1 << 40
    rows = rng.integers(0, m, 300)
    cols = rng.integers(0, n, 300)
    cols[:50] = 7
    vals = np.arange(1.0, 301.0)
    A = spla.coo_array((vals, (rows, cols)), shape=(m, n)).tocsr()
    want_cols = np.concatenate([[7, 7], cols[100:140], [5, -1]])
    got = A[:, want_cols]
    assert got.shape == (m, want_cols.size)
    for j, c in enumerate(want_cols % n):
        ref = np.zeros(m)
        np.add.at(ref, rows[cols == c], vals[cols == c])
        np.testing.assert_array_equal(got[:, j].toarray(), ref)
        np.testing.assert_array_equal(A[:, int(c)].toarray(), ref)


def test_getitem_parallel_kernels(monkeypatch):
    """The parallel kernels (the small inputs above run the serial twins)."""
    from spla._backends.cpu import convert

    monkeypatch.setattr(convert, "SERIAL_MAX_ITEMS", 0)
    rng = np.random.default_rng(1)
    S = sp.random_array((300, 200), density=0.05, format="csr", rng=rng)
    keep = np.ones(300)
    keep[::7] = 0  # empty rows
    S = (sp.diags_array(keep) @ S).tocsr()
    S.eliminate_zeros()
    for fmt in ("csr", "csc"):
        A = spla.csr_array(S).asformat(fmt)
        ref = S.asformat(fmt)
        rows = rng.integers(-300, 300, 500)
        cols = rng.integers(-200, 200, 400)
        for key in [slice(10, 250), slice(None, None, -3), rows, rng.random(300) < 0.3,
                    (slice(None), 17), (slice(None), cols), (slice(None), np.sort(cols % 200)),
                    (slice(5, 290, 2), slice(150, 3, -4)), (rows[:, None], cols[None, :50]),
                    (rows[:400], cols), np.ix_(rows[:40], cols[:30])]:
            check_read(A[key], ref[key], A.dtype)


# -- row views: the one implementation of A[r0:r1] (spla.dask cuts blocks with it) -----


@settings(max_examples=40)
@given(case=sparse_cases(), data=st.data())
def test_row_view_shares_storage_and_slice_copies(case, data):
    from spla._indexing.views import row_view

    dense, arrays = case
    A = arrays["csr"]
    m = dense.shape[0]
    r0 = data.draw(st.integers(0, m))
    r1 = data.draw(st.integers(r0, m))
    V = row_view(A, r0, r1)
    assert V.format == "csr" and V.shape == (r1 - r0, dense.shape[1])
    assert V.indices.dtype == A.indices.dtype and V.indptr.dtype == A.indptr.dtype
    check_read(V, _reference(dense[r0:r1], "csr"), A.dtype)
    if V.nnz:
        assert np.shares_memory(V.data, A.data) and np.shares_memory(V.indices, A.indices)
    S = A[r0:r1]
    assert S.format == "csr" and S.shape == V.shape
    for ours, view in zip((S.data, S.indices, S.indptr), (V.data, V.indices, V.indptr)):
        np.testing.assert_array_equal(ours, view)
    for ours, source in zip((S.data, S.indices, S.indptr), (A.data, A.indices, A.indptr)):
        assert not np.shares_memory(ours, source)
    if S.nnz:  # a write into the slice leaves A alone (SciPy's copy semantics)
        before = A.toarray()
        S.data[:] = 0
        np.testing.assert_array_equal(A.toarray(), before)


def test_row_view_other_formats_and_errors():
    from spla._indexing.views import row_view

    dense = np.array([[1.0, 0, 2, 0], [0, 3, 0, 4], [5, 0, 0, 6], [0, 7, 8, 0]])
    band = spla.banded_array(np.triu(np.tril(dense, 1), -1))
    for r0, r1 in [(0, 4), (1, 3), (2, 2), (3, 4), (0, 1)]:
        V = row_view(band, r0, r1)
        assert V.format == "banded" and V.shape == (r1 - r0, 4)
        np.testing.assert_array_equal(V.toarray(), band.toarray()[r0:r1])
        if "nm" in spla.formats():
            nm = spla.csr_array(dense).asformat("nm")
            W = row_view(nm, r0, r1)
            assert W.format == "nm" and W.shape == (r1 - r0, 4)
            np.testing.assert_array_equal(W.toarray(), dense[r0:r1])
            if r1 > r0:
                assert np.shares_memory(W.values, nm.values)
    A = spla.csr_array(dense)
    for r0, r1 in [(-1, 2), (3, 2), (0, 5)]:
        with pytest.raises(ValueError, match="row block"):
            row_view(A, r0, r1)
    with pytest.raises(TypeError, match="csc"):
        row_view(A.tocsc(), 0, 1)


# -- the short paths of the common key forms and their parallel kernels ------------------


def _thresholds(mp, parallel):
    """Force the serial twins (``parallel`` False) or the parallel kernels, in many
    pieces, on small inputs."""
    from spla._backends.cpu import convert
    from spla._backends.cpu import index as cpu_index

    mp.setattr(convert, "SERIAL_MAX_ITEMS", 0 if parallel else 1 << 60)
    mp.setattr(cpu_index, "PIECE_ITEMS", 1 if parallel else 1 << 60)
    mp.setattr(cpu_index, "POINTS_SERIAL", 0 if parallel else 1 << 60)


@st.composite
def raw_index(draw, n, size=None):
    """A 1-D intp array of indices into an axis of n, negatives and (rarely) out of
    range ones included."""
    size = draw(st.integers(1, 8)) if size is None else size
    hi = n + (1 if draw(st.integers(0, 9)) == 0 else 0)
    vals = draw(st.lists(st.integers(-n - (hi > n), max(hi - 1, 0)), min_size=size,
                         max_size=size))
    return np.array(vals, dtype=np.intp)


@pytest.mark.parametrize("parallel", [False, True])
@settings(max_examples=30)
@given(case=sparse_cases(), fmt=st.sampled_from(["csr", "csc"]), data=st.data())
def test_short_paths_match_scipy(parallel, case, fmt, data):
    dense, arrays = case
    A = arrays[fmt]
    m, n = dense.shape
    ref = _reference(dense, fmt)
    rows = data.draw(raw_index(m))
    keys = [rows, (rows, data.draw(raw_index(n, rows.size))),
            np.array(data.draw(st.lists(st.booleans(), min_size=m, max_size=m)), dtype=bool),
            (rows[::-1].copy(), slice(None)), (slice(None), data.draw(raw_index(n))),
            (slice(None), int(data.draw(raw_index(n, 1))[0]))]
    with pytest.MonkeyPatch.context() as mp:
        _thresholds(mp, parallel)
        for key in keys:
            ours, theirs = _read_both(A, ref, key)
            if theirs is not None:
                check_read(ours, theirs, A.dtype)
                if isinstance(ours, spla.SparseArray):
                    assert not np.shares_memory(ours.data, A.data)


@pytest.mark.parametrize("parallel", [False, True])
def test_row_gather_of_skewed_rows_matches_scipy(parallel):
    """A[rows] through the piece counts of ``row_spans`` and the blocks of
    ``copy_spans``: rows of very different lengths (one row holds most entries,
    many are empty), gathered with repeats and negative indices, fewer rows than
    pieces, and an out-of-range row (SciPy's IndexError)."""
    rng = np.random.default_rng(3)
    m, n = 3000, 7000
    lengths = np.zeros(m, dtype=np.int64)
    lengths[rng.integers(0, m, 400)] = rng.integers(1, 30, 400)
    lengths[17] = 6000
    rows_of = np.repeat(np.arange(m), lengths)
    cols = np.concatenate([rng.choice(n, k, replace=False) for k in lengths if k])
    S = sp.csr_array((rng.random(rows_of.size), (rows_of, cols)), shape=(m, n))
    A = spla.csr_array(S)
    keys = [rng.integers(-m, m, 5000), np.full(40, 17), np.array([17, -1, 0, 17]),
            np.concatenate([np.full(3, 17), rng.integers(0, m, 20000)]),
            np.sort(rng.integers(0, m, 900))]
    with pytest.MonkeyPatch.context() as mp:
        _thresholds(mp, parallel)
        for key in keys:
            ours = A[key]
            check_read(ours, S[key], A.dtype)
            assert ours.indices.dtype == S[key].indices.dtype
            assert ours.indptr.dtype == S[key].indptr.dtype
        for bad in (np.array([0, m]), np.array([-m - 1, 3])):
            with pytest.raises(IndexError):
                S[bad]
            with pytest.raises(IndexError):
                A[bad]


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("skewed", [False, True])
def test_column_gather_paths_match_scipy(skewed, parallel):
    """A[:, cols] and A[rows, cols-array] through the two-pass kernels (the first
    records the matching entries, the second expands them), with the column map
    and with the hash table (unscreened, and screened by a hashed filter of the
    request: of 32 bits a column, and of 1, which lets many other columns
    through), serial and parallel, with entries crowded into a few columns and
    repeats in the request (also more than 255 of one column)."""
    from spla._backends.cpu import convert
    from spla._backends.cpu import index as cpu_index

    rng = np.random.default_rng(7)
    m = n = 5000
    nnz = 30000
    rows = rng.integers(0, m, nnz)
    cols = rng.integers(0, 6, nnz) if skewed else rng.integers(0, n, nnz)
    S = sp.csr_array((rng.random(nnz), (rows, cols)), shape=(m, n))
    S.sum_duplicates()
    A = spla.csr_array(S)
    requests = [rng.integers(0, n, 300), np.array([0, 3, 3, 5, 2999, 1]),
                np.concatenate([np.full(300, 2), rng.integers(0, n, 40)])]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(convert, "SERIAL_MAX_ITEMS", 0 if parallel else 1 << 60)
        mp.setattr(cpu_index, "_SMALL_COLS", 0)
        for factor, keys, bits in [(1 << 20, 8192, 32), (0, 0, 32), (0, 8192, 32),
                                   (0, 8192, 1)]:  # the column map, then the hash table
            mp.setattr(cpu_index, "_MAP_FACTOR", factor)
            mp.setattr(cpu_index, "_HASHED_FILTER_MAX_KEYS", keys)
            mp.setattr(cpu_index, "_HASHED_FILTER_BITS", bits)
            for want in requests:
                for key in [(slice(None), want), (slice(7, 2500), want),
                            (slice(None, None, -3), want), (rng.integers(0, m, 50), want[:, None]),
                            np.ix_(rng.integers(0, m, 40), want)]:
                    check_read(A[key], S[key], A.dtype)


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("skewed", [False, True])
def test_filtered_column_hash_matches_scipy(skewed, parallel):
    """Large column requests through the hash table filtered by the bit set of the
    columns stored in the rows read (``mark_columns``, ``count_marked``, the
    screen in the gather passes): requests with repeats, of columns stored
    nowhere (all filtered out), and of every column; rows as a slice, a stepped
    slice, an array with repeats."""
    from spla._backends.cpu import convert
    from spla._backends.cpu import index as cpu_index

    rng = np.random.default_rng(11)
    m = n = 5000
    nnz = 30000
    rows = rng.integers(0, m, nnz)
    cols = rng.integers(0, 6, nnz) if skewed else rng.integers(0, n // 2, nnz)
    S = sp.csr_array((rng.random(nnz), (rows, cols)), shape=(m, n))
    A = spla.csr_array(S)
    requests = [rng.integers(0, n, 3000), rng.integers(n // 2, n, 500),
                np.concatenate([np.full(300, 2), rng.integers(0, n, 400)]),
                np.arange(n)[::-1].copy()]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(convert, "SERIAL_MAX_ITEMS", 0 if parallel else 1 << 60)
        mp.setattr(cpu_index, "_SMALL_COLS", 0)
        mp.setattr(cpu_index, "_MAP_FACTOR", 0)
        mp.setattr(cpu_index, "_FILTER_MIN", 0)
        mp.setattr(cpu_index, "_BITS_FACTOR", 1 << 20)
        for want in requests:
            for key in [(slice(None), want), (slice(7, 2500), want),
                        (slice(None, None, -3), want), (rng.integers(0, m, 50), want[:, None]),
                        np.ix_(rng.integers(0, m, 40), want)]:
                check_read(A[key], S[key], A.dtype)


def _row_mask(kind, m, rng):
    if kind == "random":
        return rng.random(m) < 0.3
    if kind == "none":
        return np.zeros(m, dtype=bool)
    if kind == "all":
        return np.ones(m, dtype=bool)
    mask = np.zeros(m, dtype=bool)  # one run of rows: all the work in one piece
    lo = int(rng.integers(0, max(m, 1)))
    mask[lo:lo + max(1, m // 7)] = True
    return mask


@pytest.mark.parametrize("parallel", [False, True])
@settings(max_examples=25)
@given(case=sparse_cases(max_dim=40), kind=st.sampled_from(["random", "none", "all", "run"]),
       strided=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_row_mask_passes_match_scipy(parallel, case, kind, strided, seed):
    """``A[mask]`` of CSR through ``mask_counts`` and ``mask_fill``: serial, and
    parallel with a piece per mask entry (blocks of many pieces, empty pieces,
    all the rows in one block), on random, empty, full and one-run masks,
    contiguous or strided, every value dtype, int32 and int64 indices."""
    from spla._backends.cpu import index as cpu_index

    dense, arrays = case
    A = arrays["csr"]
    m = dense.shape[0]
    mask = _row_mask(kind, m, np.random.default_rng(seed))
    if strided:
        mask = np.repeat(mask, 2)[::2]
    with pytest.MonkeyPatch.context() as mp:
        _thresholds(mp, parallel)
        mp.setattr(cpu_index, "MASK_PIECE_ITEMS", 1)
        ours = A[mask]
    check_read(ours, _reference(dense, "csr")[mask], A.dtype)
    assert ours.indptr[0] == 0 and ours.indptr[-1] == ours.nnz
    assert not np.shares_memory(ours.data, A.data)


@pytest.mark.parametrize("parallel", [False, True])
def test_row_mask_longer_than_a_chunk(parallel):
    """Masks of many rows (the fill compacts ``MASK_CHUNK`` mask entries at a time):
    the rows at the chunk boundaries, empty rows, long rows, int64 indices."""
    from spla._backends.cpu import index as cpu_index
    from spla._kernels import index as K

    rng = np.random.default_rng(4)
    m = 3 * K.MASK_CHUNK + 5
    lengths = rng.integers(0, 4, m)
    lengths[rng.integers(0, m, 5)] = 300
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    indices = rng.integers(0, 700, int(indptr[-1])).astype(np.int64)
    S = sp.csr_array((rng.random(indices.size), indices, indptr), shape=(m, 700))
    A = spla.csr_array((S.data, S.indices, S.indptr), shape=S.shape)
    edges = np.zeros(m, dtype=bool)
    edges[[0, K.MASK_CHUNK - 1, K.MASK_CHUNK, 2 * K.MASK_CHUNK, m - 1]] = True
    with pytest.MonkeyPatch.context() as mp:
        _thresholds(mp, parallel)
        mp.setattr(cpu_index, "MASK_PIECE_ITEMS", 100)
        for mask in (rng.random(m) < 0.5, edges, _row_mask("run", m, rng)):
            check_read(A[mask], S[mask], A.dtype)
