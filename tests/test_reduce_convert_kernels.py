"""Reductions, conversions and value maps over raw CSR storage
(``spla._backends.cpu.reduce``, ``convert``, ``values``) against SciPy 1.17
and dense NumPy.

Matrices are drawn as raw storage with every edge the kernels must handle:
empty rows, all-zero and full matrices, 0 x n and n x 0, one dense row,
duplicates (also cancelling ones) and explicit zeros, unsorted rows, NaNs,
negative values, ties, int32 and int64 indices, every value dtype, and
non-contiguous arrays. Values are small integers and halves, so that sums of
duplicates are exact in every order and SciPy's results can be compared
exactly. SciPy sums duplicates in place, so each SciPy call gets a fresh copy.
"""

import operator
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from spla._backends.cpu import convert, reduce, values

DTYPES = [np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
          np.uint64, np.float32, np.float64, np.complex64, np.complex128]
AXES = [None, 0, 1, -1, -2]
EXAMPLES = settings(max_examples=60, deadline=None)


def _values(rng, size, dtype, nan):
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, size).astype(bool)
    if dtype.kind == "u":
        return rng.integers(0, 4, size).astype(dtype)
    v = rng.integers(-3, 4, size)
    if dtype.kind in "fc":
        v = v + 0.5 * rng.integers(0, 2, size)
        if nan:
            v = np.where(rng.random(size) < 0.15, np.nan, v)
    if dtype.kind == "c":
        w = rng.integers(-2, 3, size)
        return (v + 1j * w).astype(dtype)
    return v.astype(dtype)


@st.composite
def raw_csr(draw, dtypes=DTYPES, max_side=7):
    """(data, indices, indptr, shape) of a CSR matrix with the edges above."""
    m = draw(st.integers(0, max_side))
    n = draw(st.integers(0, max_side))
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    idx = np.dtype(draw(st.sampled_from([np.int32, np.int64])))
    kind = draw(st.sampled_from(["random", "random", "sorted", "full", "dense_row", "empty"]))
    nan = draw(st.booleans())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if m == 0 or n == 0 or kind == "empty":
        rows = np.zeros(0, np.int64)
        cols = np.zeros(0, np.int64)
    elif kind == "full":
        rows, cols = np.divmod(np.arange(m * n), n)
        extra = rng.integers(0, m * n, rng.integers(0, 4))  # duplicates on top
        rows = np.r_[rows, extra // n]
        cols = np.r_[cols, extra % n]
    elif kind == "dense_row":
        r = rng.integers(0, m)
        cols = np.r_[np.arange(n), rng.integers(0, n, rng.integers(0, 4))]
        rows = np.full(cols.size, r)
    else:
        nnz = int(rng.integers(0, 3 * m * n + 1))
        rows = rng.integers(0, m, nnz)
        cols = rng.integers(0, n, nnz)
        if kind == "sorted":
            key = np.unique(rows * n + cols)
            rows, cols = np.divmod(key, n)
    data = _values(rng, rows.size, dtype, nan)
    if data.size and draw(st.booleans()):
        # a cancelling duplicate (signed types) and an explicit zero
        k = int(rng.integers(0, data.size))
        neg = -data[k] if dtype.kind in "ifc" else data[k]
        rows = np.r_[rows, rows[k], rows[-1]]
        cols = np.r_[cols, cols[k], cols[-1]]
        data = np.r_[data, np.array([neg, 0], dtype=dtype)]
    order = rng.permutation(rows.size)
    if kind == "sorted":
        order = np.arange(rows.size)
    rows, cols, data = rows[order], cols[order], data[order]
    order = np.argsort(rows, kind="stable")
    rows, cols, data = rows[order], cols[order], data[order]
    indptr = np.zeros(m + 1, np.int64)
    np.add.at(indptr, rows + 1, 1)
    indptr = np.cumsum(indptr).astype(idx)
    indices = cols.astype(idx)
    if draw(st.booleans()) and data.size:  # non-contiguous operands
        big = np.repeat(data, 2)
        data = big[::2]
        big_i = np.repeat(indices, 2)
        indices = big_i[::2]
    return data, indices, indptr, (m, n)


def scipy_of(args):
    data, indices, indptr, shape = args
    return sp.csr_array((data.copy(), indices.copy(), indptr.copy()), shape=shape)


def dense_of(args):
    """Dense matrix with duplicates summed (in the values' dtype)."""
    data, indices, indptr, (m, n) = args
    D = np.zeros((m, n), dtype=data.dtype)
    rows = np.repeat(np.arange(m), np.diff(indptr))
    for r, c, v in zip(rows, indices, data):
        D[r, c] = D[r, c] + v
    return D


def outcome(fn):
    """(result, None) or (None, (type, message)) of ``fn()``, warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return fn(), None
        except Exception as e:  # noqa: BLE001 - compared with SciPy's
            return None, (type(e), str(e))


def assert_same(ours, theirs, exact=True):
    a, b = np.asarray(ours), np.asarray(theirs)
    assert a.shape == b.shape
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    if exact or a.dtype.kind in "biu":
        np.testing.assert_array_equal(a, b)
    else:
        tol = 1e-5 if a.dtype in (np.float32, np.complex64) else 1e-12
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def coo_dense(coo):
    vals, (coords,), (length,) = coo
    out = np.zeros(length, vals.dtype)
    out[coords] = vals
    return out


# ---------------------------------------------------------------------------
# Reductions
# ---------------------------------------------------------------------------


@EXAMPLES
@given(args=raw_csr(), axis=st.sampled_from(AXES))
def test_sum_and_mean(args, axis):
    for fn, name in ((reduce.sum_, "sum"), (reduce.mean, "mean")):
        ours, err = outcome(lambda: fn(*args, axis=axis))
        theirs, serr = outcome(lambda: getattr(scipy_of(args), name)(axis=axis))
        assert (err is None) == (serr is None), (err, serr)
        if err:
            assert err[0] is serr[0]
            continue
        assert_same(ours, theirs, exact=args[0].dtype.kind in "biu" and name == "sum")
        if axis is None:
            assert np.ndim(ours) == 0


@EXAMPLES
@given(args=raw_csr(dtypes=[np.int8, np.uint8, np.float32, np.complex64, np.bool_]),
       axis=st.sampled_from(AXES),
       dtype=st.sampled_from([np.float64, np.int64, np.complex128, np.float32, np.int8]))
def test_sum_dtype_and_out(args, axis, dtype):
    ours, err = outcome(lambda: reduce.sum_(*args, axis=axis, dtype=dtype))
    theirs, serr = outcome(lambda: scipy_of(args).sum(axis=axis, dtype=dtype))
    assert (err is None) == (serr is None), (err, serr)
    if err is None:
        assert_same(ours, theirs, exact=False)
    if axis is not None and err is None:
        m, n = args[3]
        out = np.zeros((m, n)[1 - axis % 2], dtype=dtype)
        res = reduce.sum_(*args, axis=axis, dtype=dtype, out=out)
        assert res is out
        assert_same(out, theirs, exact=False)
        with pytest.raises(ValueError, match="out dimensions"):
            reduce.sum_(*args, axis=axis, out=np.zeros(out.size + 1))


@EXAMPLES
@given(args=raw_csr(), axis=st.sampled_from(AXES), explicit=st.booleans(),
       op=st.sampled_from(["max", "min", "nanmax", "nanmin"]))
def test_minmax(args, axis, explicit, op):
    dense_before = dense_of(args)
    ours, err = outcome(lambda: reduce.minmax(*args, op, axis=axis, explicit=explicit))
    theirs, serr = outcome(lambda: getattr(scipy_of(args), op)(axis=axis, explicit=explicit))
    assert err == serr
    if err:
        return
    if axis is None:
        assert_same(ours, theirs)
        assert type(ours) is type(theirs)
    else:
        vals, (coords,), shape = ours
        assert shape == theirs.shape
        assert vals.dtype == theirs.dtype
        np.testing.assert_array_equal(coords, theirs.coords[0])
        np.testing.assert_array_equal(vals, theirs.data)
        assert coords.dtype == theirs.coords[0].dtype
    np.testing.assert_array_equal(dense_of(args), dense_before)  # input untouched


@EXAMPLES
@given(args=raw_csr(), axis=st.sampled_from(AXES), explicit=st.booleans(),
       op=st.sampled_from(["argmax", "argmin"]))
def test_argminmax(args, axis, explicit, op):
    ours, err = outcome(lambda: reduce.argminmax(*args, op, axis=axis, explicit=explicit))
    theirs, serr = outcome(lambda: getattr(scipy_of(args), op)(axis=axis, explicit=explicit))
    assert err == serr
    if err:
        return
    if axis is None:
        assert type(ours) is int and ours == theirs
    else:
        assert_same(ours, theirs)


@settings(max_examples=40, deadline=None)
@given(args=raw_csr(dtypes=[np.float64, np.int64, np.int8, np.uint16, np.bool_]),
       axis=st.sampled_from([None, 0, 1]), op=st.sampled_from(["argmax", "argmin"]))
def test_argminmax_matches_dense_numpy(args, axis, op):
    """Without NaNs, SciPy's answers are NumPy's on the dense matrix."""
    data = args[0]
    if data.dtype.kind == "f":
        args = (np.nan_to_num(data, nan=1.0),) + args[1:]
    D = dense_of(args)
    if 0 in D.shape:
        return
    np.testing.assert_array_equal(reduce.argminmax(*args, op, axis=axis),
                                  getattr(np, op)(D, axis=axis))


@EXAMPLES
@given(args=raw_csr(), axis=st.sampled_from([None, 0, 1, -1, -2]))
def test_count_nonzero(args, axis):
    ours = reduce.count_nonzero(*args, axis=axis)
    theirs = scipy_of(args).count_nonzero(axis=axis)
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(ours, np.count_nonzero(dense_of(args), axis=axis))


@settings(max_examples=30, deadline=None)
@given(args=raw_csr(dtypes=[np.float64, np.int32, np.complex128]),
       axis=st.sampled_from([None, 0, 1]))
def test_csc_storage(args, axis):
    """CSC storage (CSR of the transpose) with ``fmt="csc"`` answers for A."""
    data, indices, indptr, (m, n) = args
    A = scipy_of(args).T.tocsc()  # the matrix whose CSC storage is ``args``
    csc = (data, indices, indptr, (n, m))
    for name in ("argmax", "argmin"):
        ours, err = outcome(lambda: reduce.argminmax(*csc, name, axis=axis, fmt="csc"))
        theirs, serr = outcome(lambda: getattr(A.copy(), name)(axis=axis))
        assert err == serr
        if not err:
            np.testing.assert_array_equal(ours, theirs)
    ours, err = outcome(lambda: reduce.minmax(*csc, "max", axis=axis, fmt="csc"))
    theirs, serr = outcome(lambda: A.copy().max(axis=axis))
    assert err == serr
    if not err:
        got = ours if axis is None else coo_dense(ours)
        want = theirs if axis is None else theirs.toarray()
        np.testing.assert_array_equal(got, want)
    assert_same(reduce.sum_(*csc, axis=axis, fmt="csc"), A.copy().sum(axis=axis), exact=False)
    np.testing.assert_array_equal(reduce.count_nonzero(*csc, axis=axis, fmt="csc"),
                                  A.copy().count_nonzero(axis=axis))


def test_float_axis_refused():
    """NumPy refuses a float axis; so do these (SciPy's ``sum`` lets 1.0 through)."""
    args = (np.array([1.0]), np.array([0]), np.array([0, 1]), (1, 2))
    with pytest.raises(TypeError, match="axis"):
        reduce.sum_(*args, axis=1.0)
    with pytest.raises(TypeError, match="axis"):
        reduce.argminmax(*args, "argmin", axis=1.0)


@pytest.mark.parametrize("axis", [2, -3, "0", (0, 0), ()])
def test_bad_axis(axis):
    args = (np.array([1.0]), np.array([0]), np.array([0, 1]), (1, 2))
    for fn, name in ((lambda a: reduce.sum_(*args, axis=a), "sum"),
                     (lambda a: reduce.mean(*args, axis=a), "mean"),
                     (lambda a: reduce.minmax(*args, "max", axis=a), "max"),
                     (lambda a: reduce.argminmax(*args, "argmax", axis=a), "argmax")):
        ours, err = outcome(lambda: fn(axis))
        theirs, serr = outcome(lambda: getattr(scipy_of(args), name)(axis=axis))
        assert err is not None and serr is not None
        # the same exception class, or a subclass (NumPy's AxisError is a ValueError)
        assert issubclass(err[0], serr[0]), (name, err, serr)


def test_out_refused_and_bad_op():
    args = (np.array([1.0]), np.array([0]), np.array([0, 1]), (1, 2))
    with pytest.raises(ValueError, match="'out'"):
        reduce.minmax(*args, "max", out=np.zeros(1))
    with pytest.raises(ValueError, match="'out'"):
        reduce.argminmax(*args, "argmax", axis=0, out=np.zeros(2))
    with pytest.raises(ValueError, match="op must"):
        reduce.minmax(*args, "maximum")
    with pytest.raises(TypeError, match="dtype"):
        reduce.sum_(np.array([1], dtype=np.longdouble), *args[1:])
    with pytest.raises(ValueError, match="indptr"):
        reduce.sum_(args[0], args[1], np.array([0, 1, 1]), (1, 2))


def test_float16_values():
    """float16 (which SciPy refuses and Numba does not compile) is widened for
    the kernels and comes back as float16, against dense NumPy."""
    d = np.array([1.5, -2.0, 0.5], np.float16)
    args = (d, np.array([0, 1, 0]), np.array([0, 2, 3]), (2, 2))
    D = dense_of(args)
    assert_same(reduce.minmax(*args, "max"), D.max())
    assert_same(reduce.sum_(*args, axis=0), D.sum(axis=0))
    np.testing.assert_array_equal(reduce.argminmax(*args, "argmin", axis=1), D.argmin(axis=1))
    vals, (coords,), shape = reduce.minmax(*args, "min", axis=0)
    assert vals.dtype == np.float16 and shape == (2,)
    np.testing.assert_array_equal(coo_dense((vals, (coords,), shape)), D.min(axis=0))


def test_parallel_paths_large():
    """Inputs large enough for the parallel kernels, lanes and transposes."""
    rng = np.random.default_rng(1)
    m, n, per_row = 40_000, 30_000, 4
    nnz = m * per_row
    rows = np.sort(rng.integers(0, m, nnz))
    cols = rng.integers(0, n, nnz)
    indptr = np.searchsorted(rows, np.arange(m + 1)).astype(np.int32)
    data = rng.integers(-5, 6, nnz).astype(np.float64)
    args = (data, cols.astype(np.int32), indptr, (m, n))
    S = scipy_of(args)
    for axis in (None, 0, 1):
        assert_same(reduce.sum_(*args, axis=axis), S.copy().sum(axis=axis), exact=False)
        np.testing.assert_array_equal(reduce.argminmax(*args, "argmax", axis=axis),
                                      S.copy().argmax(axis=axis))
        got = reduce.minmax(*args, "min", axis=axis)
        want = S.copy().min(axis=axis)
        if axis is None:
            assert got == want
        else:
            np.testing.assert_array_equal(coo_dense(got), want.toarray())
        np.testing.assert_array_equal(reduce.count_nonzero(*args, axis=axis),
                                      S.copy().count_nonzero(axis=axis))
    C = S.copy()
    C.sum_duplicates()
    d, j, p, _ = convert.canonicalize(*args)
    np.testing.assert_array_equal(p, C.indptr)
    np.testing.assert_array_equal(j, C.indices)
    np.testing.assert_array_equal(d, C.data)
    T = S.tocsc()
    d, j, p, s = convert.csr_tocsc(*args)
    np.testing.assert_array_equal(p, T.indptr)
    np.testing.assert_array_equal(j, T.indices)
    np.testing.assert_array_equal(d, T.data)
    perm = rng.permutation(nnz)
    d, j, p, s = convert.coo_tocsr(rows[perm], cols[perm], data[perm], (m, n))
    np.testing.assert_array_equal(p, C.indptr)
    np.testing.assert_array_equal(j, C.indices)
    np.testing.assert_array_equal(d, C.data)
    mask = data > 0.5
    d, j, p, s = values.compare_scalar(*convert.canonicalize(*args), ">", 0.5)
    G = (C > 0.5)
    np.testing.assert_array_equal(p, G.indptr)
    np.testing.assert_array_equal(j, G.indices)
    assert d.all() and d.size == G.nnz and mask.any()


# ---------------------------------------------------------------------------
# Conversions
# ---------------------------------------------------------------------------


@st.composite
def coo_triplets(draw, max_side=7):
    m = draw(st.integers(0, max_side))
    n = draw(st.integers(0, max_side))
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    idx = draw(st.sampled_from([np.int32, np.int64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    nnz = 0 if m * n == 0 else int(rng.integers(0, 3 * m * n + 1))
    rows = rng.integers(0, max(m, 1), nnz).astype(idx)
    cols = rng.integers(0, max(n, 1), nnz).astype(idx)
    return rows, cols, _values(rng, nnz, dtype, draw(st.booleans())), (m, n)


@EXAMPLES
@given(t=coo_triplets())
def test_coo_tocsr(t):
    rows, cols, data, shape = t
    d, j, p, s = convert.coo_tocsr(rows, cols, data, shape)
    S = sp.coo_array((data.copy(), (rows.copy(), cols.copy())), shape=shape).tocsr()
    assert s == shape
    assert j.dtype == S.indices.dtype and p.dtype == S.indptr.dtype
    np.testing.assert_array_equal(p, S.indptr)
    np.testing.assert_array_equal(j, S.indices)
    assert_same(d, S.data)
    d, j, p, s = convert.coo_tocsr(rows, cols, data, shape, sum_duplicates=False)
    np.testing.assert_array_equal(np.diff(p), np.bincount(rows, minlength=shape[0]))
    for i in range(shape[0]):  # rows keep their triplets in input order
        np.testing.assert_array_equal(j[p[i]:p[i + 1]], cols[rows == i])


def test_coo_tocsr_bad_input():
    r, c, d = np.array([0, 2]), np.array([0, 1]), np.array([1.0, 2.0])
    with pytest.raises(ValueError, match="row index 2 out of range"):
        convert.coo_tocsr(r, c, d, (2, 2))
    with pytest.raises(ValueError, match="negative column"):
        convert.coo_tocsr(np.array([0, 1]), np.array([0, -1]), d, (2, 2))
    with pytest.raises(ValueError, match="same length"):
        convert.coo_tocsr(r, c[:1], d, (3, 3))
    with pytest.raises(TypeError, match="integer"):
        convert.coo_tocsr(r.astype(float), c, d, (3, 3))
    with pytest.raises(ValueError, match="non-negative"):
        convert.coo_tocsr(r, c, d, (-1, 3))


@EXAMPLES
@given(args=raw_csr())
def test_transpose_canonicalize_tocoo_nonzero(args):
    S = scipy_of(args)
    T = S.tocsc()
    d, j, p, s = convert.csr_tocsc(*args)
    assert s == S.shape
    np.testing.assert_array_equal(p, T.indptr)
    np.testing.assert_array_equal(j, T.indices)
    assert_same(d, T.data)
    C = S.copy()
    C.sum_duplicates()
    for in_place in (False, True):
        a = tuple(x.copy() if isinstance(x, np.ndarray) else x for x in args)
        d, j, p, s = convert.canonicalize(*a, in_place=in_place)
        np.testing.assert_array_equal(p, C.indptr)
        np.testing.assert_array_equal(j, C.indices)
        assert_same(d, C.data)
    assert convert.is_canonical(d, j, p, s)
    assert convert.is_canonical(*args) == scipy_of(args).has_canonical_format
    d, (r, c), s = convert.csr_tocoo(*args, copy=True)
    O = scipy_of(args).tocoo()
    np.testing.assert_array_equal(r, O.row)
    np.testing.assert_array_equal(c, O.col)
    assert r.dtype == O.row.dtype
    assert_same(d, O.data)
    r, c = convert.nonzero(*args)
    R, Cc = scipy_of(args).nonzero()
    np.testing.assert_array_equal(r, R)
    np.testing.assert_array_equal(c, Cc)


@EXAMPLES
@given(args=raw_csr(), k=st.integers(-8, 8))
def test_tril_triu(args, k):
    for fn, ref in ((convert.tril, sp.tril), (convert.triu, sp.triu)):
        d, j, p, s = fn(*args, k=k)
        R = ref(scipy_of(args), k=k)  # COO, stored order, duplicates kept
        np.testing.assert_array_equal(np.repeat(np.arange(s[0]), np.diff(p)), R.row)
        np.testing.assert_array_equal(j, R.col)
        assert_same(d, R.data)
        assert p.dtype == args[2].dtype and j.dtype == args[1].dtype


# ---------------------------------------------------------------------------
# Value maps
# ---------------------------------------------------------------------------


@EXAMPLES
@given(args=raw_csr(), fn=st.sampled_from(["abs", "power2", "sqrt", "sign", "neg", "astype"]))
def test_map_values(args, fn):
    data = args[0]
    if fn == "sqrt" and data.dtype.kind in "b":
        return
    funcs = {"abs": (np.abs, ()), "power2": (np.power, (2,)), "sqrt": (np.sqrt, ()),
             "sign": (np.sign, ()), "neg": (np.negative, ()),
             "astype": (lambda x: x.astype(np.float32), ())}
    func, extra = funcs[fn]
    if fn in ("neg", "sign") and data.dtype.kind == "b":
        return
    ours, err = outcome(lambda: values.map_values(func, *args, *extra))
    want, werr = outcome(lambda: func(data, *extra))
    assert (err is None) == (werr is None)
    if err:
        return
    d, j, p, s = ours
    assert_same(d, want)
    np.testing.assert_array_equal(j, args[1])
    np.testing.assert_array_equal(p, args[2])
    assert not np.shares_memory(j, args[1]) and not np.shares_memory(p, args[2])


@EXAMPLES
@given(args=raw_csr(), op=st.sampled_from([">", "<", "!=", ">=", "<=", "=="]),
       scalar=st.sampled_from([0.5, -0.5, 1, -1, 2]))
def test_compare_scalar(args, op, scalar):
    ufunc = {">": np.greater, "<": np.less, "!=": np.not_equal, ">=": np.greater_equal,
             "<=": np.less_equal, "==": np.equal}[op]
    if args[0].dtype.kind == "c" and op not in ("!=", "=="):
        return
    if ufunc(0, scalar):
        with pytest.raises(ValueError, match="not sparse"):
            values.compare_scalar(*args, op, scalar)
        return
    d, j, p, s = values.compare_scalar(*args, op, scalar)
    S = scipy_of(args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        R = {">": operator.gt, "<": operator.lt, "!=": operator.ne, ">=": operator.ge,
             "<=": operator.le, "==": operator.eq}[op](S, scalar)
    R = sp.csr_array(R)
    R.sum_duplicates()
    assert d.dtype == np.bool_ and d.all()
    np.testing.assert_array_equal(p, R.indptr)
    np.testing.assert_array_equal(j, R.indices)


def test_parallel_map_pieces():
    """Large maps go through the thread pool; results equal NumPy's, and a
    function that is not elementwise is refused."""
    x = np.linspace(-3, 3, 300_001)
    np.testing.assert_array_equal(values.K.parallel_map(np.abs, x), np.abs(x))
    np.testing.assert_array_equal(values.K.parallel_map(np.power, x, 2, threads=3),
                                  np.power(x, 2))
    np.testing.assert_array_equal(values.K.parallel_map(lambda v: v > 0.5, x, threads=2),
                                  x > 0.5)
    # functions that are not ufuncs map cache-sized chunks of each piece
    assert x.size > 3 * values.K.MAP_CHUNK
    for threads in (1, 2, 3):
        np.testing.assert_array_equal(
            values.K.parallel_map(lambda v: v ** 2, x[1:], threads=threads), x[1:] ** 2)
    with pytest.raises(ValueError, match="elementwise"):
        values.K.parallel_map(lambda v: v.sum(), x, threads=2)
    assert values.K.piece_bounds(10, 3) == [0, 0, 0, 10]


# ---------------------------------------------------------------------------
# COO -> CSR through buckets of rows; comparisons with a scalar, large
# ---------------------------------------------------------------------------


@st.composite
def bucket_triplets(draw):
    """Triplets with the edges of the bucketed scatter: duplicates, one dense row,
    empty rows and buckets, int32 and int64 coordinates, every value dtype."""
    rows, cols, _, (m, n) = draw(coo_triplets(max_side=40))
    if rows.size and draw(st.booleans()):  # one dense row on top (a bucket much fuller)
        r = rows[0]
        rows = np.r_[rows, np.full(n, r, dtype=rows.dtype)]
        cols = np.r_[cols, np.arange(n, dtype=cols.dtype)]
    # a few value dtypes (each one compiles the three bucket kernels twice)
    dtype = draw(st.sampled_from([np.bool_, np.int64, np.float64, np.complex128]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return rows, cols, _values(rng, rows.size, dtype, draw(st.booleans())), (m, n)


@settings(max_examples=30, deadline=None)
@given(t=bucket_triplets(), per_bucket=st.sampled_from([1, 3, 16, 1 << 16]),
       serial=st.booleans())
def test_coo_tocsr_buckets_matches_scipy(t, per_bucket, serial):
    """The two-level COO -> CSR (buckets of 2**shift rows, then rows) gives SciPy's
    canonical CSR and, without summing, the direct scatter's stable order; many
    small buckets and one bucket, serial and parallel kernels."""
    rows, cols, data, shape = t
    m, n = shape
    nnz = rows.size
    idx = convert._index_dtype((rows, cols) if nnz else (), max(nnz, n) if nnz else max(m, n))
    d, j, p, s = convert._coo_tocsr_buckets(rows, cols, data, shape, idx, True, serial,
                                            per_bucket=per_bucket)
    S = sp.coo_array((data.copy(), (rows.copy(), cols.copy())), shape=shape).tocsr()
    assert s == shape
    assert j.dtype == S.indices.dtype and p.dtype == S.indptr.dtype
    np.testing.assert_array_equal(p, S.indptr)
    np.testing.assert_array_equal(j, S.indices)
    assert_same(d, S.data)
    d, j, p, s = convert._coo_tocsr_buckets(rows, cols, data, shape, idx, False, serial,
                                            per_bucket=per_bucket)
    d0, j0, p0, _ = convert.coo_tocsr(rows, cols, data, shape, sum_duplicates=False)
    np.testing.assert_array_equal(p, p0)
    np.testing.assert_array_equal(j, j0)
    assert_same(d, d0)


@pytest.mark.parametrize("serial", [False, True])
def test_coo_tocsr_buckets_rows_beyond_16_bits(serial):
    """Hypersparse triplets ask for buckets of more than 2**16 rows: the bucket
    shift is capped (rows within a bucket are stored in 16 bits), so rows far
    apart still land in their own buckets and rows."""
    from spla._kernels.buckets import MAX_SHIFT

    rng = np.random.default_rng(11)
    m, n, nnz = 5 << MAX_SHIFT, 70_000, 300
    rows = np.r_[rng.integers(0, m, nnz - 3), [0, m - 1, m - 1]].astype(np.int64)
    cols = np.r_[rng.integers(0, n, nnz - 3), [n - 1, 0, 0]].astype(np.int64)
    data = rng.integers(-3, 4, nnz).astype(np.float64)
    assert convert._bucket_shift(m, nnz, convert.BUCKET_ENTRIES) > MAX_SHIFT
    d, j, p, s = convert._coo_tocsr_buckets(rows, cols, data, (m, n), np.dtype(np.int64), True,
                                            serial)
    S = sp.coo_array((data, (rows, cols)), shape=(m, n)).tocsr()
    np.testing.assert_array_equal(p, S.indptr)
    np.testing.assert_array_equal(j, S.indices)
    np.testing.assert_array_equal(d, S.data)


@pytest.mark.parametrize("idx", [np.int32, np.int64, np.uint32, np.uint64])
def test_coo_tocsr_buckets_public_path(monkeypatch, idx):
    """``csr_array((data, (row, col)))`` takes the bucketed path above
    BUCKET_MIN_NNZ (lowered here): shuffled triplets with duplicates."""
    import spla

    monkeypatch.setattr(convert, "BUCKET_MIN_NNZ", 1000)
    rng = np.random.default_rng(4)
    m, n, nnz = 30_000, 20_000, 200_000
    rows = rng.integers(0, m, nnz).astype(idx)
    cols = rng.integers(0, n, nnz).astype(idx)
    rows[:50], cols[:50] = 7, np.arange(50)  # a longer row, beside random duplicates
    data = rng.integers(-3, 4, nnz).astype(np.float64)
    A = spla.csr_array((data, (rows, cols)), shape=(m, n))
    S = sp.coo_array((data, (rows, cols)), shape=(m, n)).tocsr()
    np.testing.assert_array_equal(A.indptr, S.indptr)
    np.testing.assert_array_equal(A.indices, S.indices)
    np.testing.assert_array_equal(A.data, S.data)
    assert A.has_canonical_format


BUCKET_DTYPES = [np.bool_, np.int64, np.float64, np.complex128]


@settings(max_examples=30, deadline=None)
@given(args=raw_csr(dtypes=BUCKET_DTYPES, max_side=40),
       per_bucket=st.sampled_from([1, 3, 16, 1 << 16]), serial=st.booleans(),
       n_lanes=st.sampled_from([1, 3, 8]))
def test_transpose_buckets_matches_scipy(args, per_bucket, serial, n_lanes):
    """CSR -> CSC through buckets of columns gives SciPy's ``tocsc`` (duplicates
    kept in stored order, rows increasing within a column): many small buckets
    and one bucket, lanes of rows that split or skip rows, serial and parallel."""
    data, indices, indptr, shape = args
    m, n = shape
    nnz = int(indptr[-1])
    data, indices = np.ascontiguousarray(data), np.ascontiguousarray(indices)
    idx = convert._index_dtype((indices, indptr), max(nnz, m))
    d, j, p = convert._transpose_buckets(data, indices, indptr, shape, idx, serial,
                                         per_bucket=per_bucket, n_lanes=n_lanes)
    T = scipy_of(args).tocsc()
    assert p.dtype == idx and j.dtype == idx
    np.testing.assert_array_equal(p, T.indptr)
    np.testing.assert_array_equal(j, T.indices)
    assert_same(d, T.data)


@pytest.mark.parametrize("serial", [False, True])
def test_transpose_buckets_columns_beyond_16_bits(serial):
    """Hypersparse columns ask for buckets of more than 2**16 columns: the shift
    is capped (the column within a bucket is stored in 16 bits)."""
    from spla._kernels.buckets import MAX_SHIFT

    rng = np.random.default_rng(12)
    m, n, nnz = 300, 5 << MAX_SHIFT, 900
    rows = np.sort(rng.integers(0, m, nnz))
    cols = np.r_[rng.integers(0, n, nnz - 3), [n - 1, 0, n - 1]].astype(np.int64)
    rows[-3:] = m - 1
    indptr = np.searchsorted(rows, np.arange(m + 1)).astype(np.int64)
    data = rng.integers(-3, 4, nnz).astype(np.float64)
    assert convert._bucket_shift(n, nnz, convert.TRANSPOSE_BUCKET_ENTRIES) > MAX_SHIFT
    d, j, p = convert._transpose_buckets(data, cols, indptr, (m, n), np.dtype(np.int64),
                                         serial)
    T = sp.csr_array((data, cols, indptr), shape=(m, n)).tocsc()
    np.testing.assert_array_equal(p, T.indptr)
    np.testing.assert_array_equal(j, T.indices)
    np.testing.assert_array_equal(d, T.data)


@pytest.mark.parametrize("dtype", [np.float64, np.int64])
def test_transpose_buckets_public_path(monkeypatch, dtype):
    """``A.tocsc()`` and ``convert.transpose`` take the bucketed path above the
    thresholds (lowered here); float16 values move as their bits."""
    import spla

    monkeypatch.setattr(convert, "BUCKET_MIN_NNZ", 1000)
    monkeypatch.setattr(convert, "TRANSPOSE_BUCKET_MIN_COLS", 100)
    rng = np.random.default_rng(6)
    m, n, per_row = 30_000, 20_000, 5
    cols = rng.integers(0, n, m * per_row).astype(np.int32)
    cols[:50] = np.arange(50)  # a longer column 0..49 block in the first rows
    indptr = np.arange(0, m * per_row + 1, per_row, dtype=np.int32)
    data = rng.integers(-3, 4, m * per_row).astype(dtype)
    A = spla.csr_array((data, cols, indptr), shape=(m, n))
    T = sp.csr_array((data, cols, indptr), shape=(m, n)).tocsc()
    C = A.tocsc()
    np.testing.assert_array_equal(C.indptr, T.indptr)
    np.testing.assert_array_equal(C.indices, T.indices)
    np.testing.assert_array_equal(C.data, T.data)
    assert C.data.dtype == np.dtype(dtype)
    # float16 values (which spla's arrays store as float32) move as their bits
    d, j, p, s = convert.transpose(data.astype(np.float16), cols, indptr, (m, n))
    assert d.dtype == np.float16 and s == (n, m)
    np.testing.assert_array_equal(p, T.indptr)
    np.testing.assert_array_equal(j, T.indices)
    np.testing.assert_array_equal(d, T.data.astype(np.float16))


@pytest.mark.parametrize("scalar", [0.5, -2.0, 5.0])
def test_compare_scalar_large(scalar):
    """The parallel count and copy of a comparison (nothing, some or everything
    dropped); the result never shares the source's structure."""
    import spla

    rng = np.random.default_rng(6)
    m, n, nnz = 20_000, 5_000, 150_000
    rows = np.sort(rng.integers(0, m, nnz))
    cols = rng.integers(0, n, nnz).astype(np.int32)
    indptr = np.searchsorted(rows, np.arange(m + 1)).astype(np.int32)
    data = rng.integers(-4, 5, nnz) / 2.0
    args = convert.canonicalize(data, cols, indptr, (m, n))
    S = scipy_of(args)
    for op in (operator.gt, operator.ge, operator.lt, operator.le, operator.ne):
        if op(0, scalar):
            continue
        d, j, p, s = values.compare_scalar(*args, op, scalar)
        R = op(S, scalar)
        np.testing.assert_array_equal(p, R.indptr)
        np.testing.assert_array_equal(j, R.indices)
        assert d.dtype == np.bool_ and d.all() and d.size == R.nnz
        for A in (spla.csr_array(args[:3], shape=(m, n)),
                  spla.csc_array(args[:3], shape=(n, m))):
            B = op(A, scalar)
            T = op(S if A.format == "csr" else S.T.tocsc(), scalar)
            assert B.format == A.format and B.dtype == np.bool_
            np.testing.assert_array_equal(B.indptr, T.indptr)
            np.testing.assert_array_equal(B.indices, T.indices)
            assert not np.shares_memory(B.indices, A.indices)
            assert not np.shares_memory(B.indptr, A.indptr)


def test_keep_where_mask_is_data():
    mask = np.array([True, False, True])
    d, j, p, s = values.keep_where(mask, np.array([0, 1, 0]), np.array([0, 2, 3]), (2, 2),
                                   mask, mask_is_data=True)
    assert d.tolist() == [True, True] and j.tolist() == [0, 0] and p.tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="mask_is_data"):
        values.keep_where(mask.copy(), np.array([0, 1, 0]), np.array([0, 2, 3]), (2, 2), mask,
                          mask_is_data=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128,
                                   np.int8, np.int64, np.uint16, np.bool_])
def test_power_two_large(dtype):
    """``A.power(2)`` and ``A ** 2`` (the ufunc path for float and complex values,
    as NumPy's ``v ** 2``) give SciPy's values bit for bit, on the thread pool."""
    import spla

    rng = np.random.default_rng(8)
    m, n, nnz = 10_000, 10_000, 100_000
    rows = rng.integers(0, m, nnz)
    cols = rng.integers(0, n, nnz)
    raw = rng.standard_normal(nnz) * 1e3
    data = (raw + 1j * raw[::-1]).astype(dtype) if np.dtype(dtype).kind == "c" \
        else raw.astype(dtype)
    S = sp.coo_array((data, (rows, cols)), shape=(m, n)).tocsr()
    A = spla.csr_array(S)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for got, want in ((A.power(2), S.power(2)), (A ** 2, S ** 2),
                          (A.power(2.0), S.power(2.0))):
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got.indptr, want.indptr)
            np.testing.assert_array_equal(got.indices, want.indices)
            assert np.array_equal(got.data.view(np.uint8), want.data.view(np.uint8))
