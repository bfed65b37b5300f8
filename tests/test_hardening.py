"""Regression tests of issue 18 (hardening): each test is named after what it protects.

Items 1, 2 and 10 are fixed in the core classes (spla/_base.py, spla/_formats/compressed.py).
"""

import numpy as np
import pytest
import scipy.sparse as sp

import spla
from spla._formats.arguments import (
    check_axis,
    check_diagonal_offset,
    check_order,
    coo_coordinates,
)
from spla._device import Device, parse_device


# -- item 1: A - D with an unsigned or boolean dense D ---------------------------------

@pytest.mark.parametrize("ddtype", [np.uint8, np.uint16, np.uint32, np.uint64, np.bool_,
                                    np.int8, np.float32])
@pytest.mark.parametrize("fmt", ["csr", "csc", "banded", "nm"])
def test_subtract_unsigned_or_bool_dense_matches_scipy(ddtype, fmt):
    dense = np.array([[1.0, 0.0, 0.0, 2.0], [0.0, 3.0, 0.0, 0.0]])
    A = {"csr": spla.csr_array, "csc": spla.csc_array, "banded": spla.banded_array,
         "nm": spla.nm_array}[fmt](dense)
    D = np.array([[1, 0, 1, 1], [0, 1, 1, 0]], dtype=ddtype)
    S = sp.csr_array(dense)
    np.testing.assert_array_equal(np.asarray(A - D), np.asarray(S - D))
    np.testing.assert_array_equal(np.asarray(D - A), np.asarray(D - S))
    np.testing.assert_array_equal(np.asarray(A + D), np.asarray(S + D))
    np.testing.assert_array_equal(np.asarray(A.T - D.T), np.asarray(S.T - D.T))


def test_subtract_broadcast_unsigned_row():
    A = spla.csr_array(np.eye(3))
    d = np.array([1, 2, 3], dtype=np.uint8)
    np.testing.assert_array_equal(A - d, np.eye(3) - d.astype(float))


# -- item 2: SciPy rewriting storage it shares with an spla array -----------------------

@pytest.mark.filterwarnings("ignore::scipy.sparse.SparseEfficiencyWarning")
@pytest.mark.parametrize("scipy_op", ["sum", "max", "abs", "count_nonzero", "ne", "power"])
def test_scipy_work_on_to_scipy_leaves_spla_array_and_caller_arrays_alone(scipy_op):
    data = np.array([1.0, 2.0, 3.0, 4.0])
    indices = np.array([0, 0, 1, 1])
    indptr = np.array([0, 2, 4])
    copies = [a.copy() for a in (data, indices, indptr)]
    B = spla.csr_array((data, indices, indptr), shape=(2, 2))
    S = B.to_scipy()
    {"sum": S.sum, "max": S.max, "abs": lambda: abs(S), "count_nonzero": S.count_nonzero,
     "ne": lambda: S != 1.0, "power": lambda: S.power(2)}[scipy_op]()
    assert B.sum() == 10.0
    assert B.nnz == 4 and B.indptr.tolist() == [0, 2, 4]
    np.testing.assert_array_equal(B.toarray(), [[3.0, 0.0], [0.0, 7.0]])
    for before, after in zip(copies, (data, indices, indptr)):
        np.testing.assert_array_equal(before, after)


# -- item 5: sparsity of shapes whose size overflows int64 ------------------------------

@pytest.mark.parametrize("shape", [(2**62, 4), (4, 2**62), (2**63 - 1, 3), (3, 2**63 - 1)])
def test_sparsity_of_huge_shapes_is_a_number(shape):
    m, n = shape
    one = (np.ones(1), np.zeros(1, np.int64))
    if n < 10:  # columns are the compressed axis of CSC
        A = spla.csc_array(one + (np.r_[0, np.ones(n, np.int64)],), shape=shape)
    else:
        A = spla.csr_array(one + (np.r_[0, np.ones(m, np.int64)],), shape=shape)
    s = spla.sparsity(A)
    assert not np.isnan(s)
    assert s == 1.0 - 1.0 / (float(m) * float(n))
    assert spla.sparsity(A.T) == s


# -- item 6: shapes beyond int64 refused at construction --------------------------------

@pytest.mark.parametrize("shape", [(2, 2**70), (2**63, 2), (2, 2**64)])
def test_shape_beyond_int64_is_refused_at_construction(shape):
    empty = (np.zeros(0), np.zeros(0, np.int64), np.zeros(3, np.int64))
    with pytest.raises(OverflowError, match="int64"):
        spla.csr_array(empty, shape=shape)
    with pytest.raises(OverflowError, match="int64"):
        spla.csc_array(empty, shape=shape)
    with pytest.raises(OverflowError, match="int64"):
        spla.csr_array((np.zeros(0), (np.zeros(0, int), np.zeros(0, int))), shape=shape)
    with pytest.raises(OverflowError, match="int64"):
        spla.banded_array((np.ones((1, 2)), [0]), shape=shape)


def test_largest_int64_shape_is_accepted():
    A = spla.csr_array((np.zeros(0), np.zeros(0, np.int64), np.zeros(3, np.int64)),
                       shape=(2, 2**63 - 1))
    assert A.shape == (2, 2**63 - 1) and A.nnz == 0


# -- item 9: every byte order accepted, stored native -----------------------------------

def _assert_native(A):
    for name in ("data", "indices", "indptr"):
        arr = getattr(A, name, None)
        if arr is not None:
            assert arr.dtype.isnative, (name, arr.dtype)
    assert A.dtype.isnative


@pytest.mark.parametrize("order", [">", "<"])
@pytest.mark.parametrize("kind", ["f4", "f8", "c8", "c16"])
def test_big_endian_input_is_accepted_and_stored_native(order, kind):
    dense = (np.arange(16.0).reshape(4, 4) % 3).astype(order + kind)
    ref = dense.astype(kind)
    for A in (spla.csr_array(dense), spla.csc_array(dense), spla.banded_array(dense),
              spla.csr_array(np.asarray(ref), dtype=order + kind),
              spla.csr_array(ref).astype(order + kind), spla.csc_array(ref).astype(order + kind),
              spla.csr_array((ref[ref != 0].astype(order + kind),
                              np.nonzero(ref)[1].astype(order + "i8"),
                              np.r_[0, np.cumsum((ref != 0).sum(1))].astype(order + "i4")),
                             shape=(4, 4))):
        _assert_native(A)
        assert A.dtype == np.dtype(kind)
        np.testing.assert_array_equal(A.toarray(), ref)


@pytest.mark.parametrize("kind", ["f4", "f8"])
def test_big_endian_nm_input_is_accepted_and_stored_native(kind):
    dense = np.array([[1.0, 0.0, 2.0, 0.0], [0.0, 3.0, 0.0, 4.0]])
    for A in (spla.nm_array(dense.astype(">" + kind)),
              spla.nm_array(dense, dtype=">" + kind),
              spla.nm_array(dense).astype(">" + kind)):
        assert A.dtype == np.dtype(kind) and A.dtype.isnative
        np.testing.assert_array_equal(A.toarray(), dense.astype(kind))


# -- item 10: == and != compare elementwise, never by identity -------------------------

@pytest.mark.parametrize("op", ["==", "!="])
def test_comparison_is_elementwise_or_typeerror_never_a_python_bool(op):
    A = spla.csr_array(np.eye(3))
    B = A.copy()
    try:
        r = (A == B) if op == "==" else (A != B)
    except TypeError:
        return  # acceptable until the array API issue builds comparisons
    assert not isinstance(r, (bool, np.bool_))
    dense = r.toarray() if hasattr(r, "toarray") else np.asarray(r)
    np.testing.assert_array_equal(dense, np.full((3, 3), op == "=="))


# -- item 11: (data, ij) accepted, (data, indices) refused -----------------------------

@pytest.mark.parametrize("cls", [spla.csr_array, spla.csc_array])
def test_data_ij_array_constructor_matches_scipy(cls):
    data = np.array([1.0, 2.0, 3.0])
    ij = np.array([[0, 1, 2], [2, 0, 1]])
    ref = sp.coo_array((data, ij), shape=(3, 3)).toarray()
    np.testing.assert_array_equal(cls((data, ij)).toarray(), ref)
    np.testing.assert_array_equal(cls((data, ij), shape=(3, 3)).toarray(), ref)
    np.testing.assert_array_equal(cls((data, ij.tolist())).toarray(), ref)


@pytest.mark.parametrize("cls", [spla.csr_array, spla.csc_array])
@pytest.mark.parametrize("second", [np.array([0, 2, 1]), [0, 2, 1]])
def test_data_indices_without_indptr_is_refused(cls, second):
    with pytest.raises(TypeError, match="indptr"):
        cls((np.array([1.0, 2.0, 3.0]), second))


def test_coo_coordinates_rules():
    with pytest.raises(ValueError):
        coo_coordinates((np.zeros(2, int),))
    with pytest.raises(TypeError):
        coo_coordinates(np.zeros((3, 2), int))
    with pytest.raises(TypeError):
        coo_coordinates(5)


# -- item 12: SciPy's and NumPy's argument rules -----------------------------------------

def _all_formats():
    dense = np.array([[1.0, 2.0, 0.0, 0.0], [0.0, 3.0, 4.0, 0.0], [0.0, 0.0, 5.0, 6.0],
                      [7.0, 0.0, 0.0, 8.0]])
    nm = np.array([[1.0, 2.0, 0.0, 0.0], [0.0, 3.0, 4.0, 0.0], [0.0, 0.0, 5.0, 6.0],
                   [7.0, 0.0, 0.0, 8.0]])
    return [("csr", spla.csr_array(dense), dense), ("csc", spla.csc_array(dense), dense),
            ("csr.T", spla.csr_array(dense).T, dense.T), ("banded", spla.banded_array(dense), dense),
            ("nm", spla.nm_array(nm), nm)]


@pytest.mark.parametrize("name,A,dense", _all_formats(), ids=lambda v: v if isinstance(v, str) else "")
def test_toarray_order_rules_match_scipy(name, A, dense):
    for order in ("K", "A"):
        with pytest.raises(ValueError, match="only 'C' or 'F'"):
            A.toarray(order=order)
    with pytest.raises(ValueError):
        A.toarray(order="X")
    with pytest.raises(TypeError):
        A.toarray(order=1)
    assert A.toarray(order="f").flags.f_contiguous
    assert A.toarray(order="C").flags.c_contiguous
    np.testing.assert_array_equal(A.todense(order="F"), dense)


@pytest.mark.parametrize("name,A,dense", _all_formats(), ids=lambda v: v if isinstance(v, str) else "")
def test_diagonal_offset_rules_match_scipy(name, A, dense):
    for k in (1.5, "1", None, 1.0):
        with pytest.raises(TypeError):
            A.diagonal(k)
    for k in (2**64, -2**64, 2**63, 4, -4, np.uint64(2**64 - 1)):
        out = A.diagonal(k)
        assert out.shape == (0,) and out.dtype == A.dtype
    for k in (True, np.int8(-1), np.int64(2), 0, -3, 3):
        np.testing.assert_array_equal(A.diagonal(k), np.diagonal(dense, int(k)))


@pytest.mark.parametrize("name,A,dense", _all_formats(), ids=lambda v: v if isinstance(v, str) else "")
def test_sum_axis_rules_match_numpy(name, A, dense):
    for axis in (1.0, True, False, "1", [0], np.float64(0)):
        with pytest.raises(TypeError):
            A.sum(axis=axis)
    for axis in (2, -3, (0, 2)):
        with pytest.raises(np.exceptions.AxisError):
            A.sum(axis=axis)
    for axis in ((0, 0), ()):
        with pytest.raises(ValueError):
            A.sum(axis=axis)
    for axis in (None, 0, 1, -1, -2, np.int64(1), (0,), (-1,), (0, 1), (1, 0)):
        np.testing.assert_allclose(A.sum(axis=axis), dense.sum(axis=axis))


def test_check_axis_normalises():
    assert check_axis(None) is None and check_axis((1, 0)) is None
    assert check_axis(-2) == 0 and check_axis(np.int32(1)) == 1 and check_axis((-1,)) == 1
    with pytest.raises(TypeError):
        check_axis(np.bool_(True))


def test_check_diagonal_offset_and_order():
    assert check_diagonal_offset(np.int16(-3)) == -3
    assert check_diagonal_offset(-(2**70), shape=(5, 2)) == -5
    assert check_order(None) is None and check_order("c") == "C"


def test_parse_device_rules():
    d = parse_device("cuda:3")
    assert (d.kind, d.ordinal) == ("cuda", 3) and isinstance(d, Device)
    assert (parse_device("cuda").kind, parse_device("cuda").ordinal) == ("cuda", None)
    for bad in ("gpu", "cuda:", "cuda:x", "cpu:0", "cuda:-1"):
        with pytest.raises(ValueError):
            parse_device(bad)


def test_to_device_rejects_malformed_names():
    A = spla.csr_array(np.eye(2))
    for bad in ("gpu", "cuda:x", "cpu:1"):
        with pytest.raises(ValueError):
            A.to_device(bad)
    assert A.to_device("cpu") is A


# -- item 3: one Matrix Market parser, one answer ---------------------------------------

def _mtx(tmp_path, text, name="m.mtx"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("entry", ["1.5 2 3.0", "1.0 2 3.0", "1e0 2 3", "x 2 3"])
def test_non_integer_coordinates_raise_in_every_reader(tmp_path, entry):
    pytest.importorskip("dask")
    import spla.dask

    path = _mtx(tmp_path, f"%%MatrixMarket matrix coordinate real general\n2 3 1\n{entry}\n")
    with pytest.raises(ValueError):
        spla.io.mmread(path)
    with pytest.raises(ValueError, match="Invalid integer value|could not convert"):
        spla.dask.read_matrix_market(path, row_chunks=1)


def test_non_integer_column_raises_in_the_dask_reader(tmp_path):
    """SciPy (and so spla.io.mmread) reads "1 2.5 3.0" as column 2, value 0.5 and
    ignores the rest of the line; the chunk parser refuses it."""
    pytest.importorskip("dask")
    import spla.dask

    path = _mtx(tmp_path, "%%MatrixMarket matrix coordinate real general\n2 3 1\n1 2.5 3.0\n")
    with pytest.raises(ValueError, match="Invalid integer value"):
        spla.dask.read_matrix_market(path, row_chunks=1)


@pytest.mark.parametrize("symmetry", ["general", "symmetric"])
def test_integer_file_with_fractions_reads_the_same_through_dask_and_spla_io(tmp_path, symmetry):
    pytest.importorskip("dask")
    import spla.dask

    path = _mtx(tmp_path, f"%%MatrixMarket matrix coordinate integer {symmetry}\n"
                          "3 3 4\n1 1 1.5\n2 1 -2.5\n3 2 2.9\n3 3 7\n")
    ref = spla.io.mmread(path).toarray()
    got = spla.dask.read_matrix_market(path, row_chunks=(1, 2)).compute()
    got = got.toarray() if hasattr(got, "toarray") else np.asarray(got)
    np.testing.assert_array_equal(got, ref)
    assert ref[0, 0] == 1.0 and ref[1, 0] == -2.0


def test_matrix_market_chunk_parser_lives_in_spla_io():
    pytest.importorskip("dask")
    import spla.dask
    from spla.io import _mmchunks

    assert spla.dask._mmchunks is _mmchunks
    i, j, v = _mmchunks.parse_entries(b"1 2 3.5\n% comment\n2 1 -1\n", "real")
    assert i.tolist() == [0, 1] and j.tolist() == [1, 0] and v.tolist() == [3.5, -1.0]


# -- item 6 in the readers: size lines beyond int64 --------------------------------------

def test_matrix_market_size_beyond_int64_is_refused(tmp_path):
    pytest.importorskip("dask")
    import spla.dask

    path = _mtx(tmp_path, "%%MatrixMarket matrix coordinate real general\n"
                          "100000000000000000000 2 0\n")
    with pytest.raises(OverflowError):
        spla.io.mmread(path)
    with pytest.raises(OverflowError, match="int64"):
        spla.dask.read_matrix_market(path, row_chunks=1)


# -- item 7: mmwrite raises OSError on every bad path, writes atomically ----------------

_WRITE_INPUTS = {"entries": lambda: spla.csr_array(np.eye(3)),
                 "empty": lambda: spla.csr_array(np.zeros((2, 3)))}


@pytest.mark.parametrize("what", sorted(_WRITE_INPUTS))
def test_mmwrite_into_missing_directory_raises_oserror(tmp_path, what):
    with pytest.raises(FileNotFoundError):
        spla.io.mmwrite(tmp_path / "missing" / "a.mtx", _WRITE_INPUTS[what]())
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("what", sorted(_WRITE_INPUTS))
def test_mmwrite_onto_a_directory_raises_oserror(tmp_path, what):
    (tmp_path / "d.mtx").mkdir()
    for target in (tmp_path / "d.mtx", tmp_path):
        with pytest.raises(IsADirectoryError):
            spla.io.mmwrite(target, _WRITE_INPUTS[what]())
    assert list((tmp_path / "d.mtx").iterdir()) == []


def test_mmwrite_into_unwritable_directory_raises_oserror(tmp_path):
    import os

    if os.geteuid() == 0:
        pytest.skip("root writes everywhere")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(PermissionError):
            spla.io.mmwrite(locked / "a.mtx", spla.csr_array(np.eye(2)))
    finally:
        locked.chmod(0o700)


def test_mmwrite_failing_part_way_keeps_the_old_file(tmp_path):
    """A file-size limit stops the write part way: OSError, the earlier file intact,
    no temporary file left behind (run in a subprocess: the limit is per process)."""
    import subprocess
    import sys
    import textwrap

    path = tmp_path / "a.mtx"
    spla.io.mmwrite(path, spla.csr_array(np.eye(2)))
    old = path.read_bytes()
    code = textwrap.dedent(f"""
        import resource, signal, sys
        import numpy as np, spla
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        A = spla.csr_array(np.random.default_rng(0).random((300, 300)))
        resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))
        try:
            spla.io.mmwrite({str(path)!r}, A)
        except OSError:
            sys.exit(0)
        sys.exit(3)
    """)
    import os

    env = dict(os.environ, PYTHONPATH=os.getcwd())
    done = subprocess.run([sys.executable, "-c", code], env=env, timeout=120)
    assert done.returncode == 0
    assert path.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mtx"]


def test_mmwrite_to_an_empty_path_raises_instead_of_writing_dot_mtx(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for A in _WRITE_INPUTS.values():
        with pytest.raises(FileNotFoundError):
            spla.io.mmwrite("", A())
    assert list(tmp_path.iterdir()) == []


def test_mmwrite_appends_mtx_like_scipy_on_both_paths(tmp_path):
    spla.io.mmwrite(tmp_path / "full", spla.csr_array(np.eye(2)))
    spla.io.mmwrite(tmp_path / "empty", spla.csr_array(np.zeros((2, 2))))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.mtx", "full.mtx"]
    assert spla.io.mmread(tmp_path / "empty.mtx").shape == (2, 2)


# -- item 8: header validation, comments, lists, warnings for lossy writes ------------

@pytest.mark.parametrize("what", sorted(_WRITE_INPUTS))
def test_mmwrite_refuses_unknown_field_and_symmetry(what):
    import io

    A = _WRITE_INPUTS[what]()
    with pytest.raises(ValueError, match="Invalid field"):
        spla.io.mmwrite(io.BytesIO(), A, field="bogus")
    with pytest.raises(ValueError, match="Invalid symmetry"):
        spla.io.mmwrite(io.BytesIO(), A, symmetry="bogus")


@pytest.mark.parametrize("what", sorted(_WRITE_INPUTS))
def test_mmwrite_non_ascii_comment_round_trips(tmp_path, what):
    A = _WRITE_INPUTS[what]()
    spla.io.mmwrite(tmp_path / "c.mtx", A, comment="température\nzweite Zeile")
    text = (tmp_path / "c.mtx").read_bytes().decode("utf-8")
    assert "%température\n%zweite Zeile\n" in text
    np.testing.assert_array_equal(spla.io.mmread(tmp_path / "c.mtx").toarray(), A.toarray())


def test_mmwrite_accepts_lists(tmp_path):
    spla.io.mmwrite(tmp_path / "l.mtx", [[1.0, 0], [0, 2]])
    np.testing.assert_array_equal(spla.io.mmread(tmp_path / "l.mtx").toarray(),
                                  [[1.0, 0.0], [0.0, 2.0]])


@pytest.mark.filterwarnings("ignore::numpy.exceptions.ComplexWarning")
@pytest.mark.parametrize("dense", [False, True])
def test_mmwrite_warns_when_symmetry_or_field_change_the_data(dense):
    import io

    M = np.array([[1.5, 2.0], [0.0, 1.0]])
    A = M if dense else spla.csr_array(M)
    with pytest.warns(spla.io.LossyWriteWarning, match="symmetric"):
        spla.io.mmwrite(io.BytesIO(), A, symmetry="symmetric")
    with pytest.warns(spla.io.LossyWriteWarning, match="integer"):
        spla.io.mmwrite(io.BytesIO(), A, field="integer")
    with pytest.warns(spla.io.LossyWriteWarning, match="imaginary"):
        spla.io.mmwrite(io.BytesIO(), A * 1j, field="real")


def test_mmwrite_lossless_symmetry_and_field_do_not_warn():
    import io
    import warnings

    S = np.array([[2.0, 1.0], [1.0, 3.0]])
    K = np.array([[0.0, 1.0], [-1.0, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spla.io.mmwrite(io.BytesIO(), spla.csr_array(S), symmetry="symmetric", field="integer")
        spla.io.mmwrite(io.BytesIO(), spla.csr_array(K), symmetry="skew-symmetric")
        spla.io.mmwrite(io.BytesIO(), spla.csr_array(S + 1j * K), symmetry="hermitian")
        spla.io.mmwrite(io.BytesIO(), S, symmetry="symmetric")


# -- item 13 on the CPU: the float16 rule of sparse_attention ---------------------------

@pytest.mark.parametrize("dtypes,expected", [
    (("f2", "f2", "f2"), "f2"), (("f2", "f4", "f2"), "f4"), (("f4", "f4", "f4"), "f4"),
    (("f8", "f4", "f4"), "f8"), (("f2", "f2", "f8"), "f8"), (("i8", "i8", "i8"), "f8")])
def test_sparse_attention_dtype_follows_numpy_promotion(dtypes, expected):
    from spla import attention

    rng = np.random.default_rng(0)
    Q, K, V = (rng.standard_normal((6, 4)).round(1).astype(d) for d in dtypes)
    P = attention.local_pattern(6, 2)
    out = attention.sparse_attention(Q, K, V, P)
    assert out.dtype == np.dtype(expected)
    ref = attention.sparse_attention(*(a.astype(np.float64) for a in (Q, K, V)), P)
    tol = 2e-3 if expected == "f2" else 1e-5
    np.testing.assert_allclose(out.astype(np.float64), ref, rtol=tol, atol=tol)


def test_nm_array_without_cupy_input_is_unchanged():
    from spla._formats.nm import _cupy_input

    assert _cupy_input(np.eye(4)) is None and _cupy_input((np.ones(2), np.zeros(2))) is None
