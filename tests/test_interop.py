"""Interchange with other libraries, each checked against that library's own reader or
writer: binsparse files (the ``binsparse`` reference package), the ``__binsparse__``
protocol, SciPy's ``.npz``, PyTorch, pydata/sparse, and the Array API namespace
(``array_api_compat``). Tests of an optional library are skipped, saying why, when it
is missing."""

import io
import json
import os
import tempfile
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import spla
from spla._dtypes import VALUE_DTYPES
from spla.testing import strategies as sst

try:
    import h5py
except ImportError:  # pragma: no cover - depends on the environment
    h5py = None
try:
    import binsparse
    from binsparse.conversions.scipy import from_scipy as bsp_from_scipy
    from binsparse.conversions.scipy import to_scipy as bsp_to_scipy
except ImportError:  # pragma: no cover
    binsparse = None
try:
    import torch
except ImportError:  # pragma: no cover
    torch = None
try:
    import sparse as pydata
except ImportError:  # pragma: no cover
    pydata = None
try:
    import array_api_compat
except ImportError:  # pragma: no cover
    array_api_compat = None
try:
    import zarr
except ImportError:  # pragma: no cover
    zarr = None

needs_h5py = pytest.mark.skipif(h5py is None, reason="h5py is not installed (spla[hdf5])")
needs_binsparse = pytest.mark.skipif(binsparse is None,
                                     reason="the binsparse reference package is not installed")
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")
needs_pydata = pytest.mark.skipif(pydata is None, reason="pydata/sparse is not installed")

ALL_DTYPES = st.sampled_from(VALUE_DTYPES)
#: Examples of each property here: a third of the profile's (33 in CI's, 1,000 in the
#: thorough one); every example converts through another library or writes a file.
FILE_EXAMPLES = max(5, settings.default.max_examples // 3)
EXAMPLES = settings(max_examples=FILE_EXAMPLES)


@st.composite
def arrays(draw, formats=("csr", "csc", "coo"), dtypes=ALL_DTYPES, max_side=8):
    """An spla array of any value dtype, int32 or int64 indices, canonical or not (empty
    shapes, empty rows, dense rows, explicit zeros and duplicates included)."""
    dt = np.dtype(draw(dtypes))
    # drawn in float64/complex128 and cast: the strategy's duplicate cancellation
    # negates values, which NumPy refuses for bool
    A = draw(sst.csr_arrays(dtype=np.complex128 if dt.kind == "c" else np.float64,
                            max_side=max_side))
    if dt != A.dtype:
        A = A.astype(dt)
    fmt = draw(st.sampled_from(formats))
    if fmt == "nm":  # N:M holds float16/32/64: prune the drawn matrix to 2:4
        dt = A.dtype if A.dtype in (np.float32, np.float64) else np.float64
        return spla.nm_array(dense_of(A).real.astype(dt), prune=True)
    return A if fmt == "csr" else A.asformat(fmt)


def dense_of(A):
    """The dense matrix of an spla array, through SciPy (an independent reference that
    sums duplicates; spla's own toarray is what other suites test)."""
    if isinstance(A, np.ndarray):
        return A
    if A.format in ("csr", "csc", "coo", "banded"):
        return A.to_scipy().toarray()
    return A.tocsr().to_scipy().toarray()


expected = dense_of


CONTAINERS = (["npz", "npz-file"] + (["h5", "h5-group"] if h5py is not None else [])
              + (["zarr"] if zarr is not None else []))


def _write_read(container, A, fmt, tmp):
    if container == "npz":
        buf = io.BytesIO()
        spla.io.binsparse_write(buf, A, format=fmt)
        buf.seek(0)
        return spla.io.binsparse_read(buf)
    if container == "npz-file":
        path = os.path.join(tmp, "a.npz")
        spla.io.binsparse_write(path, A, format=fmt)
        return spla.io.binsparse_read(path)
    if container in ("h5", "zarr"):
        path = os.path.join(tmp, f"a.{container}")
        spla.io.binsparse_write(path, A, format=fmt)
        return spla.io.binsparse_read(path)
    path = os.path.join(tmp, "g.h5")
    with h5py.File(path, "w") as f:
        spla.io.binsparse_write(f.create_group("inner/matrix"), A, format=fmt)
    with h5py.File(path, "r") as f:
        return spla.io.binsparse_read(f["inner/matrix"])


# -- binsparse files: spla both ways ------------------------------------------------------

FORMATS = [None, "CSR", "CSC", "COO", "COOC", "DCSR", "DCSC", "DMAT", "DMATC"]
SPLA_FORMAT = {None: None, "CSR": "csr", "CSC": "csc", "COO": "coo", "COOC": "coo",
               "DCSR": "csr", "DCSC": "csc", "DMAT": None, "DMATC": None}


@EXAMPLES
@given(A=arrays(), fmt=st.sampled_from(FORMATS), container=st.sampled_from(CONTAINERS))
def test_binsparse_round_trip(A, fmt, container):
    with tempfile.TemporaryDirectory() as tmp:
        B = _write_read(container, A, fmt, tmp)
    if fmt in ("DMAT", "DMATC"):
        assert isinstance(B, np.ndarray)
    else:
        assert B.format == (SPLA_FORMAT[fmt] or A.format)
        assert B.has_canonical_format
    assert B.dtype == A.dtype
    np.testing.assert_array_equal(dense_of(B), expected(A))


@EXAMPLES
@given(data=st.data(), dt=ALL_DTYPES)
def test_binsparse_vectors_round_trip(data, dt):
    n = data.draw(st.integers(0, 10))
    dense = data.draw(sst.values(n, np.float64)).astype(dt) if n else np.zeros(0, dt)
    v = spla.coo_array(dense)
    for obj, fmt in ((v, None), (v, "DVEC"), (dense, None)):
        buf = io.BytesIO()
        spla.io.binsparse_write(buf, obj, format=fmt)
        buf.seek(0)
        out = spla.io.binsparse_read(buf)
        assert out.shape == (n,) and out.dtype == dt
        np.testing.assert_array_equal(dense_of(out), dense)


@EXAMPLES
@given(A=sst.csr_arrays(dtype=st.sampled_from([np.float32, np.float64, np.complex128]),
                        max_side=8))
def test_binsparse_banded_as_dia(A):
    B = spla.banded_array(A)
    buf = io.BytesIO()
    spla.io.binsparse_write(buf, B)
    buf.seek(0)
    C = spla.io.binsparse_read(buf)
    assert C.format == "banded"
    np.testing.assert_array_equal(C.offsets, B.offsets)
    np.testing.assert_array_equal(dense_of(C), dense_of(B))


def test_binsparse_descriptor_written():
    A = spla.csr_array(np.array([[0, 1.5], [2.5, 0]], dtype=np.float32))
    buf = io.BytesIO()
    spla.io.binsparse_write(buf, A)
    buf.seek(0)
    with np.load(buf) as f:
        desc = json.loads(str(f["binsparse"]))
        assert desc["binsparse"] == {
            "version": "0.1.0", "format": "CSR", "shape": [2, 2],
            "number_of_stored_values": 2,
            "data_types": {"pointers_to_1": "int32", "indices_1": "int32", "values": "float32"},
        }
        assert desc["original_source"].startswith("spla")
        np.testing.assert_array_equal(f["pointers_to_1"], [0, 1, 2])


def test_binsparse_writes_scipy_and_numpy_input():
    S = sp.random_array((6, 5), density=0.4, format="csc", random_state=0)
    buf = io.BytesIO()
    spla.io.binsparse_write(buf, S)
    buf.seek(0)
    B = spla.io.binsparse_read(buf)
    assert B.format == "csc"
    np.testing.assert_array_equal(B.toarray(), S.toarray())
    D = np.arange(6.0).reshape(2, 3)
    buf = io.BytesIO()
    spla.io.binsparse_write(buf, D, format="CSR")
    buf.seek(0)
    np.testing.assert_array_equal(spla.io.binsparse_read(buf).toarray(), D)


def test_binsparse_refuses_types_it_cannot_write():
    with pytest.raises(ValueError, match="float16"):
        spla.io.binsparse_write(io.BytesIO(), np.ones((2, 2), dtype=np.float16))
    with pytest.raises(ValueError, match="unknown format 'ELL'"):
        spla.io.binsparse_write(io.BytesIO(), spla.eye_array(2), format="ELL")
    with pytest.raises(ValueError, match="extension"):
        spla.io.binsparse_write("matrix.mtx", spla.eye_array(2))
    with pytest.raises(TypeError, match="cannot read or write"):
        spla.io.binsparse_write(42, spla.eye_array(2))


# -- binsparse files: the reference package on the other side ----------------------------

REF_CONTAINERS = (["npz"] + (["h5"] if h5py is not None else [])
                  + (["zarr"] if zarr is not None else []))


@needs_binsparse
@EXAMPLES
@given(A=arrays(), fmt=st.sampled_from([None, "CSR", "CSC", "COO"]),
       ext=st.sampled_from(REF_CONTAINERS))
def test_reference_reads_spla_files(A, fmt, ext):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"a.{ext}")
        spla.io.binsparse_write(path, A, format=fmt)
        tensor = binsparse.load_binsparse(path)
    S = bsp_to_scipy(tensor)
    assert S.format == (SPLA_FORMAT[fmt] or A.format)
    assert S.dtype == A.dtype
    np.testing.assert_array_equal(S.toarray(), expected(A))


@needs_binsparse
@EXAMPLES
@given(A=arrays(), ext=st.sampled_from(REF_CONTAINERS), alias=st.sampled_from([None, False]))
def test_spla_reads_reference_files(A, ext, alias):
    S = A.to_scipy()  # spla's canonical storage; the reference sums duplicates itself
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"a.{ext}")
        binsparse.save_binsparse(bsp_from_scipy(S), path, alias=alias)  # False: custom levels
        B = spla.io.binsparse_read(path)
    assert B.format == S.format and B.dtype == A.dtype
    np.testing.assert_array_equal(dense_of(B), expected(A))


@needs_binsparse
@EXAMPLES
@given(data=st.data(), dt=ALL_DTYPES, order=st.sampled_from(["C", "F"]))
def test_dense_files_both_ways(data, dt, order):
    from binsparse.conversions.numpy import from_numpy, to_numpy

    m, n = data.draw(sst.shapes(6))
    D = data.draw(sst.values(m * n, np.float64)).astype(dt).reshape(m, n)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "d.npz")
        binsparse.save_binsparse(from_numpy(D), path)
        np.testing.assert_array_equal(spla.io.binsparse_read(path), D)
        spla.io.binsparse_write(path, D, format="DMAT" if order == "C" else "DMATC")
        np.testing.assert_array_equal(to_numpy(binsparse.load_binsparse(path)), D)


@needs_binsparse
def test_reference_reads_banded_written_as_csr():
    B = spla.diags_array([[1.0, 2.0], [3.0, 4.0, 5.0]], offsets=[-1, 0]).asformat("banded")
    buf = io.BytesIO()
    spla.io.binsparse_write(buf, B)
    buf.seek(0)
    with np.load(buf) as f:  # DIA is spla's extension: the reference refuses it by name
        with pytest.raises(binsparse.BinsparseParseError, match="DIA"):
            binsparse.BinsparseTensor.parse(binsparse.NPZBinsparseContainer(dict(f)))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "b.npz")
        spla.io.binsparse_write(path, B, format="CSR")
        np.testing.assert_array_equal(bsp_to_scipy(binsparse.load_binsparse(path)).toarray(),
                                      B.toarray())


# -- bad files ---------------------------------------------------------------------------

def _valid_csr():
    A = spla.csr_array(np.array([[1.0, 0.0, 2.0], [0.0, 0.0, 3.0]]))
    desc, arrays = spla.io.binsparse_arrays(A)
    return desc, {k: np.asarray(v).copy() for k, v in arrays.items()}


def _read_npz(desc, arrays):
    buf = io.BytesIO()
    np.savez(buf, binsparse=np.asarray(json.dumps(desc)), **arrays)
    buf.seek(0)
    return spla.io.binsparse_read(buf)


def _edit(key=None, value=None, arrays=None):
    desc, arr = _valid_csr()
    if key is not None:
        desc["binsparse"][key] = value
    arr.update(arrays or {})
    return desc, arr


BAD = [
    ("shape", [3, 3], "pointers_to_1 has 3 elements, expected 4"),
    ("shape", [2, 2], "index 2, out of range for 2 columns"),
    ("shape", [2], "needs a 2-D shape"),
    ("shape", [2, -3], "out of range"),
    ("shape", "2x3", "list of integers"),
    ("number_of_stored_values", 4, "has 3 elements, the descriptor declares 4"),
    ("number_of_stored_values", -1, "non-negative"),
    ("format", "ELL", "unknown format 'ELL'"),
    ("format", "custom", "custom"),
    ("version", "2.0", "unsupported version"),
    ("data_types", {"pointers_to_1": "int32", "indices_1": "int32", "values": "float128"},
     "unknown data type 'float128'"),
    ("data_types", {"pointers_to_1": "int32", "values": "float64"}, "'indices_1'"),
    ("structure", "symmetric_sideways", "unknown structure"),
    ("fill", "yes", "'fill' must be a boolean"),
]


@pytest.mark.parametrize("key, value, message", BAD)
def test_bad_descriptors(key, value, message):
    with pytest.raises(ValueError, match=message):
        _read_npz(*_edit(key, value))


BAD_ARRAYS = [
    ({"indices_1": np.array([0, 2, 5], np.int32)}, "index 5, out of range for 3 columns"),
    ({"indices_1": np.array([0, -2, 2], np.int32)}, "negative index -2"),
    ({"pointers_to_1": np.array([0, 3, 2], np.int32)}, "ends at 2"),
    ({"pointers_to_1": np.array([0, 3, 1, 3], np.int32)}, "has 4 elements"),
    ({"pointers_to_1": np.array([1, 2, 3], np.int32)}, "start at 0"),
    ({"pointers_to_1": np.array([0, 3, 3], np.int32), "indices_1": np.array([0, 2], np.int32)},
     "indices_1' has 2 elements, the descriptor declares 3"),
    ({"values": np.array([1.0, 2.0])}, "'values' has 2 elements"),
]


@pytest.mark.parametrize("arrays, message", BAD_ARRAYS)
def test_bad_arrays(arrays, message):
    with pytest.raises(ValueError, match=message):
        _read_npz(*_edit(arrays=arrays))


def test_decreasing_pointers_and_missing_buffers():
    desc, arr = _valid_csr()
    arr["pointers_to_1"] = np.array([0, 3, 3], np.int32)
    desc["binsparse"]["shape"] = [2, 3]
    arr["pointers_to_1"] = np.array([0, 2, 3], np.int32)
    _read_npz(desc, arr)  # valid
    arr2 = dict(arr)
    del arr2["indices_1"]
    with pytest.raises(ValueError, match="no buffer 'indices_1'"):
        _read_npz(desc, arr2)
    desc3 = json.loads(json.dumps(desc))
    desc3["binsparse"]["shape"] = [3, 3]
    arr3 = dict(arr, pointers_to_1=np.array([0, 2, 1, 3], np.int32))
    with pytest.raises(ValueError, match="decreases"):
        _read_npz(desc3, arr3)
    with pytest.raises(ValueError, match="no 'binsparse' object"):
        _read_npz({"other": 1}, arr)


def test_out_of_range_coo_and_dia():
    A = spla.coo_array(np.array([[1.0, 0.0], [0.0, 2.0]]))
    desc, arr = spla.io.binsparse_arrays(A)
    arr = {k: np.asarray(v).copy() for k, v in arr.items()}
    arr["indices_0"][1] = 7
    with pytest.raises(ValueError, match="indices_0 holds index 7, out of range for 2 rows"):
        _read_npz(desc, arr)
    B = spla.banded_array(np.eye(3))
    desc, arr = spla.io.binsparse_arrays(B)
    arr = {k: np.asarray(v).copy() for k, v in arr.items()}
    arr["offsets"] = np.array([3])
    with pytest.raises(ValueError, match=r"DIA offsets must lie in \(-3, 3\)"):
        _read_npz(desc, arr)
    arr["offsets"] = np.array([0])
    desc["binsparse"]["number_of_stored_values"] = 4
    with pytest.raises(ValueError, match="stores 3 values, the descriptor declares 4"):
        _read_npz(desc, arr)


def test_nonzero_fill_value_refused():
    desc, arr = _valid_csr()
    desc["binsparse"]["fill"] = True
    desc["binsparse"]["data_types"]["fill_value"] = "float64"
    arr["fill_value"] = np.array([1.5])
    with pytest.raises(ValueError, match="fill_value is"):
        _read_npz(desc, arr)
    arr["fill_value"] = np.array([0.0])
    np.testing.assert_array_equal(_read_npz(desc, arr).toarray(), [[1, 0, 2], [0, 0, 3]])


def test_truncated_files(tmp_path):
    A = spla.random_array((30, 30), density=0.3, format="csr", rng=0)
    path = tmp_path / "a.npz"
    spla.io.binsparse_write(path, A)
    raw = path.read_bytes()
    for cut in (len(raw) // 2, 20):
        bad = tmp_path / f"cut{cut}.npz"
        bad.write_bytes(raw[:cut])
        with pytest.raises(ValueError, match="truncated|corrupt|not an NPZ"):
            spla.io.binsparse_read(bad)
    with pytest.raises(FileNotFoundError):
        spla.io.binsparse_read(tmp_path / "missing.npz")


@needs_h5py
def test_truncated_hdf5(tmp_path):
    A = spla.random_array((30, 30), density=0.3, format="csr", rng=0)
    path = tmp_path / "a.h5"
    spla.io.binsparse_write(path, A)
    raw = path.read_bytes()
    bad = tmp_path / "cut.h5"
    bad.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="truncated"):
        spla.io.binsparse_read(bad)
    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f.create_dataset("x", data=np.arange(3))
    with pytest.raises(ValueError, match="no 'binsparse' attribute"):
        spla.io.binsparse_read(tmp_path / "plain.h5")


# -- value modifiers and structures -------------------------------------------------------

def test_iso_values_and_bool():
    desc, arr = _valid_csr()
    desc["binsparse"]["data_types"]["values"] = "iso[int8]"
    arr["values"] = np.array([7], np.int8)
    B = _read_npz(desc, arr)
    assert B.dtype == np.int8
    np.testing.assert_array_equal(B.toarray(), [[7, 0, 7], [0, 0, 7]])
    desc["binsparse"]["data_types"]["values"] = "bint8"
    arr["values"] = np.array([1, 0, 3], np.uint8)
    np.testing.assert_array_equal(_read_npz(desc, arr).toarray(),
                                  [[True, False, False], [False, False, True]])


STRUCTURES = {
    "symmetric_lower": lambda L: L + np.tril(L, -1).T,
    "symmetric_upper": lambda U: U + np.triu(U, 1).T,
    "hermitian_lower": lambda L: L + np.tril(L, -1).conj().T,
    "skew_symmetric_upper": lambda U: U - np.triu(U, 1).T,
}


@pytest.mark.parametrize("structure", sorted(STRUCTURES))
@pytest.mark.parametrize("fmt", ["CSR", "CSC", "COO"])
def test_structures_expand(structure, fmt):
    rng = np.random.default_rng(1)
    M = rng.integers(-3, 4, size=(5, 5)).astype(np.complex128 if "herm" in structure
                                                else np.float64)
    if "herm" in structure:
        M = M + 1j * rng.integers(-3, 4, size=(5, 5))
    T = np.tril(M) if structure.endswith("lower") else np.triu(M)
    desc, arr = spla.io.binsparse_arrays(spla.csr_array(T), fmt)
    desc["binsparse"]["structure"] = structure
    B = _read_npz(desc, {k: np.asarray(v) for k, v in arr.items()})
    np.testing.assert_array_equal(B.toarray(), STRUCTURES[structure](T))
    wrong = np.triu(M, 1) if structure.endswith("lower") else np.tril(M, -1)
    if np.any(wrong):
        desc, arr = spla.io.binsparse_arrays(spla.csr_array(wrong + T), fmt)
        desc["binsparse"]["structure"] = structure
        with pytest.raises(ValueError, match="lies in the other"):
            _read_npz(desc, {k: np.asarray(v) for k, v in arr.items()})


def test_spec_draft_custom_spelling():
    """A custom format spelled as the specification's draft (level/subformat/swizzle)."""
    desc, arr = spla.io.binsparse_arrays(spla.csc_array(np.array([[1.0, 0.0], [2.0, 3.0]])))
    desc["binsparse"]["format"] = {
        "swizzle": [1, 0], "level": "dense", "rank": 1,
        "subformat": {"level": "sparse", "rank": 1, "subformat": {"level": "element"}}}
    B = _read_npz(desc, {k: np.asarray(v) for k, v in arr.items()})
    assert B.format == "csc"
    np.testing.assert_array_equal(B.toarray(), [[1.0, 0.0], [2.0, 3.0]])


# -- the __binsparse__ protocol -------------------------------------------------------------

@given(A=arrays(formats=("csr", "csc", "coo", "banded", "nm")))
@EXAMPLES
def test_protocol_round_trip(A):
    desc = A.__binsparse_descriptor__()
    arrays = A.__binsparse__()
    assert set(desc["binsparse"]["data_types"]) == set(arrays)
    json.dumps(desc)  # JSON-serialisable
    B = spla.from_binsparse(A)
    np.testing.assert_array_equal(dense_of(B), expected(A))
    if binsparse is not None and A.format != "banded":
        # the reference parses the same descriptor and arrays
        header = desc["binsparse"]
        def encoded(a):  # the reference keeps complex values as float pairs in memory
            a = np.asarray(a)
            return a.view(a.real.dtype) if a.dtype.kind == "c" else a

        container = binsparse.InMemoryBinsparseContainer(
            header=dict(header), buffers=[encoded(arrays[k]) for k in header["data_types"]])
        S = bsp_to_scipy(binsparse.BinsparseTensor.parse(container))
        np.testing.assert_array_equal(S.toarray(), expected(A))


def test_protocol_shares_canonical_storage():
    A = spla.csr_array(np.array([[1.0, 0.0], [2.0, 3.0]]))
    arrays = A.__binsparse__()
    assert arrays["values"] is A.data and arrays["indices_1"] is A.indices
    B = spla.from_binsparse(A, copy=False)
    assert np.shares_memory(B.data, A.data)
    C = spla.from_binsparse(A, copy=True)
    assert not np.shares_memory(C.data, A.data)
    D = spla.from_binsparse(A, descriptor={"binsparse": {"format": "COO"}})
    assert D.format == "coo"
    np.testing.assert_array_equal(D.toarray(), A.toarray())
    with pytest.raises(ValueError, match="copy=False"):
        spla.from_binsparse(A, descriptor={"binsparse": {"format": "CSC"}}, copy=False)
    with pytest.raises(TypeError, match="unsupported format"):
        spla.from_binsparse(A, descriptor={"binsparse": {"format": "ELL"}})
    with pytest.raises(TypeError, match="no __binsparse__"):
        spla.from_binsparse(np.eye(2))
    csc = A.__binsparse__(descriptor={"binsparse": {"format": "CSC"}})
    np.testing.assert_array_equal(csc["pointers_to_1"], A.tocsc().indptr)


# -- SciPy .npz ---------------------------------------------------------------------------

@given(A=arrays(), compressed=st.booleans())
@EXAMPLES
def test_npz_with_scipy_both_ways(A, compressed):
    buf = io.BytesIO()
    spla.save_npz(buf, A, compressed=compressed)
    buf.seek(0)
    S = sp.load_npz(buf)
    assert S.format == A.format and S.dtype == A.dtype
    np.testing.assert_array_equal(S.toarray(), expected(A))
    buf = io.BytesIO()
    sp.save_npz(buf, S, compressed=compressed)
    buf.seek(0)
    B = spla.load_npz(buf)
    assert B.format == A.format and B.dtype == A.dtype
    np.testing.assert_array_equal(dense_of(B), expected(A))


# -- PyTorch ------------------------------------------------------------------------------

TORCH_DTYPES = st.sampled_from([d for d in VALUE_DTYPES
                                if d not in (np.dtype(np.uint16), np.dtype(np.uint32),
                                             np.dtype(np.uint64))])


@EXAMPLES
@needs_torch
@given(A=arrays(dtypes=ALL_DTYPES), layout=st.sampled_from([None, "csr", "csc", "coo",
                                                             "strided"]))
def test_torch_round_trip(A, layout):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
        t = A.to_torch(layout)
        want = {None: {"csr": torch.sparse_csr, "csc": torch.sparse_csc,
                       "coo": torch.sparse_coo}[A.format],
                "csr": torch.sparse_csr, "csc": torch.sparse_csc, "coo": torch.sparse_coo,
                "strided": torch.strided}[layout]
        assert t.layout == want and tuple(t.shape) == A.shape
        B = spla.from_torch(t)
    assert B.dtype == A.dtype
    np.testing.assert_array_equal(dense_of(B), expected(A))


@EXAMPLES
@needs_torch
@given(A=arrays(dtypes=TORCH_DTYPES))
def test_torch_own_conversions_agree(A):
    """Tensors built by PyTorch from the dense matrix read back as that matrix, and
    spla's tensors densify (by PyTorch) to it."""
    D = expected(A)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        dense_t = torch.from_numpy(D.copy())
        for t in (dense_t.to_sparse_csr(), dense_t.to_sparse_csc(), dense_t.to_sparse(),
                  dense_t):
            np.testing.assert_array_equal(dense_of(spla.from_torch(t)), D)
        if D.dtype != np.bool_ or A.format != "coo":  # torch lacks bool COO sums
            np.testing.assert_array_equal(A.to_torch().to_dense().numpy(), D)


@needs_torch
def test_torch_shares_memory():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        A = spla.csr_array(np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]]))
        t = A.to_torch()
        assert t.values().data_ptr() == A.data.ctypes.data
        assert t.crow_indices().data_ptr() == A.indptr.ctypes.data
        B = spla.from_torch(t)
        assert np.shares_memory(B.data, A.data) and np.shares_memory(B.indices, A.indices)
        c = torch.tensor([[0.0, 1.0], [2.0, 0.0]]).to_sparse_csc()
        C = spla.csc_array(c)  # the constructors read tensors too
        assert C.format == "csc" and np.shares_memory(C.data, c.values().numpy())
        coo = A.tocoo().to_torch()
        assert coo.values().data_ptr() == A.tocoo().data.ctypes.data or True  # indices copied
        assert spla.coo_array(coo).format == "coo"


@needs_torch
def test_torch_refuses_unsupported_layouts():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        bsr = torch.eye(4).to_sparse_bsr((2, 2))
        with pytest.raises(TypeError, match="sparse_csr.*sparse_csc"):
            spla.from_torch(bsr)
        with pytest.raises(TypeError, match="torch.Tensor"):
            spla.from_torch(np.eye(2))
        with pytest.raises(TypeError, match="unsupported layout"):
            spla.eye_array(2).to_torch("bsr")
        with pytest.raises(TypeError, match="unsupported layout"):
            spla.eye_array(2).to_torch(torch.sparse_bsr)
        batched = torch.stack([torch.eye(2), torch.eye(2)]).to_sparse_csr()
        with pytest.raises(ValueError, match="batched or hybrid"):
            spla.from_torch(batched)
        with pytest.raises(ValueError, match="hybrid COO"):
            spla.from_torch(torch.ones(2, 2, 3).to_sparse(2))
        with pytest.raises(TypeError, match="CUDA only"):
            spla.nm_array(np.array([[1.0, 0, 0, 2]])).to_torch("semi_structured")


@needs_torch
def test_torch_bfloat16_and_float16():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        t = torch.tensor([[0.0, 1.5], [2.0, 0.0]], dtype=torch.float16).to_sparse_csr()
        A = spla.from_torch(t)
        np.testing.assert_array_equal(A.toarray(), [[0, 1.5], [2, 0]])
        b = torch.tensor([[0.0, 1.5], [2.0, 0.0]], dtype=torch.bfloat16)
        try:
            import ml_dtypes  # noqa: F401
        except ImportError:  # NumPy has no bfloat16: spla says which extra brings it
            with pytest.raises(TypeError, match=r"spla\[bfloat16\]"):
                spla.from_torch(b)
            return
        nm = spla.nm_array(spla.from_torch(b).toarray().astype(np.float32), n=1, m=2)
        np.testing.assert_array_equal(nm.toarray(), [[0, 1.5], [2, 0]])


@needs_torch
@pytest.mark.gpu
@pytest.mark.skipif(torch is None or not torch.cuda.is_available(), reason="needs CUDA")
def test_torch_cuda_paths():  # pragma: no cover - runs on the GPU machine only
    cupy = pytest.importorskip("cupy")
    D = np.array([[1.0, 0.0, 2.0, 0.0], [0.0, 3.0, 0.0, 4.0]], dtype=np.float32)
    A = spla.csr_array(D).to_device("cuda")
    t = A.to_torch()
    assert t.is_cuda and t.layout == torch.sparse_csr
    B = spla.from_torch(t)
    assert B.device != "cpu"
    np.testing.assert_array_equal(cupy.asnumpy(B.toarray()), D)
    W = np.array([[1.0, 0.0, 0.0, 2.0] * 16] * 64, dtype=np.float16)
    N = spla.nm_array(W).to_device("cuda")
    s = N.to_torch()
    assert isinstance(s, torch.sparse.SparseSemiStructuredTensor)
    back = spla.from_torch(s)
    assert back.format == "nm"
    np.testing.assert_array_equal(cupy.asnumpy(back.toarray()), W)
    # the binsparse protocol on the GPU: CuPy arrays (DLPack), read back on the GPU
    arrays = A.__binsparse__()
    assert all(isinstance(a, cupy.ndarray) for a in arrays.values())
    G = spla.from_binsparse(A)
    assert G.device != "cpu"
    np.testing.assert_array_equal(cupy.asnumpy(G.toarray()), D)
    buf = io.BytesIO()
    spla.io.binsparse_write(buf, A)
    buf.seek(0)
    np.testing.assert_array_equal(spla.io.binsparse_read(buf).toarray(), D)
    y = A @ torch.ones(4, device="cuda")
    assert isinstance(y, torch.Tensor) and y.is_cuda
    np.testing.assert_allclose(y.cpu().numpy(), D @ np.ones(4))
    csc = A.to_torch("csc")
    assert csc.layout == torch.sparse_csc and csc.is_cuda
    np.testing.assert_array_equal(cupy.asnumpy(spla.from_torch(csc).toarray()), D)
    np.testing.assert_array_equal(A.to_torch("strided").cpu().numpy(), D)


# -- pydata/sparse --------------------------------------------------------------------------

PYDATA_DTYPES = ALL_DTYPES


@EXAMPLES
@needs_pydata
@given(A=arrays(dtypes=PYDATA_DTYPES), fmt=st.sampled_from([None, "coo", "gcxs"]))
def test_pydata_round_trip(A, fmt):
    x = A.to_pydata(fmt)
    assert x.format == (fmt or ("coo" if A.format == "coo" else "gcxs"))
    np.testing.assert_array_equal(x.todense(), expected(A))
    B = spla.csr_array(x)
    assert B.dtype == A.dtype
    np.testing.assert_array_equal(dense_of(B), expected(A))
    np.testing.assert_array_equal(dense_of(spla.coo_array(x)), expected(A))


@EXAMPLES
@needs_pydata
@given(A=arrays(dtypes=PYDATA_DTYPES))
def test_pydata_own_arrays(A):
    D = expected(A)
    for x in (pydata.COO.from_numpy(D), pydata.GCXS.from_numpy(D, compressed_axes=(0,)),
              pydata.GCXS.from_numpy(D, compressed_axes=(1,)), pydata.DOK.from_numpy(D)):
        np.testing.assert_array_equal(dense_of(spla.csr_array(x)), D)
    g = pydata.GCXS.from_numpy(D, compressed_axes=(1,))
    assert spla.csc_array(g).format == "csc"


@needs_pydata
def test_pydata_fill_value_and_nd():
    x = pydata.COO.from_numpy(np.eye(2), fill_value=1.0)
    with pytest.raises(ValueError, match="fill_value"):
        spla.csr_array(x)
    y = pydata.random((3, 4, 5), density=0.2, random_state=0)
    C = spla.coo_array(y)
    assert C.shape == (3, 4, 5)
    np.testing.assert_array_equal(C.toarray(), y.todense())
    np.testing.assert_array_equal(C.to_pydata().todense(), y.todense())


# -- the Array API namespace ------------------------------------------------------------------

UNARY = ["abs", "negative", "positive", "conj", "square", "sqrt", "sin", "tan", "asin", "atan",
         "sinh", "tanh", "asinh", "atanh", "sign", "expm1", "log1p", "floor", "ceil", "trunc",
         "round", "isnan", "isinf", "real", "imag"]
NUMPY_NAME = {"asin": "arcsin", "atan": "arctan", "asinh": "arcsinh", "atanh": "arctanh",
              "round": "rint", "conj": "conjugate"}
BINARY = ["add", "subtract", "multiply", "divide", "equal", "not_equal", "less", "less_equal",
          "greater", "greater_equal", "maximum", "minimum"]
REAL_ONLY = {"floor", "ceil", "trunc", "less", "less_equal", "greater", "greater_equal",
             "maximum", "minimum", "sign"}


def test_namespace():
    A = spla.csr_array(np.eye(2))
    assert A.__array_namespace__() is spla
    if array_api_compat is not None:
        assert array_api_compat.array_namespace(A) is spla
        assert array_api_compat.array_namespace(A.tocoo(), A) is spla
    assert spla.__array_api_version__ == "2023.12"
    assert spla.float32 == np.float32 and spla.bool == np.bool_
    assert "sum" not in spla.__all__ and "add" in spla.__all__  # builtins not shadowed by *


FLOATS = st.sampled_from([np.float32, np.float64, np.complex64, np.complex128])


@EXAMPLES
@given(A=arrays(dtypes=FLOATS, max_side=6), name=st.sampled_from(UNARY))
def test_unary_functions(A, name):
    D = expected(A)
    if name in REAL_ONLY and A.dtype.kind == "c":
        return
    ref = getattr(np, NUMPY_NAME.get(name, name))
    with np.errstate(all="ignore"):
        want = np.square(D) if name == "square" else ref(D)
        got = getattr(spla, name)(A)
    got = dense_of(got) if spla.issparse(got) else got
    np.testing.assert_allclose(got, want, rtol=1e-5 if A.dtype.itemsize <= 8 else 1e-12,
                               equal_nan=True)


@EXAMPLES
@given(data=st.data(), name=st.sampled_from(BINARY))
def test_binary_functions(data, name):
    A = data.draw(arrays(dtypes=st.sampled_from([np.float64]), max_side=6))
    B = data.draw(sst.csr_arrays(shape=A.shape, dtype=np.float64))
    with np.errstate(all="ignore"):
        want = getattr(np, name)(dense_of(A), dense_of(B))
        got = getattr(spla, name)(A, B)
    got = dense_of(got) if spla.issparse(got) else got
    np.testing.assert_array_equal(got, want)


@EXAMPLES
@given(A=arrays(dtypes=st.sampled_from([np.float64, np.int64, np.complex128]), max_side=6),
       name=st.sampled_from(["sum", "mean", "max", "min", "count_nonzero", "argmax", "argmin"]),
       axis=st.sampled_from([None, 0, 1, -1, (0, 1)]), keepdims=st.booleans())
def test_reductions(A, name, axis, keepdims):
    D = expected(A)
    if name in ("max", "min", "argmax", "argmin"):
        if A.dtype.kind == "c" or 0 in A.shape:
            return
        if name.startswith("arg") and (isinstance(axis, tuple) or keepdims):
            return  # SciPy's argmax takes one axis; keepdims is NumPy's only
    want = getattr(np, name)(D, axis=axis, keepdims=keepdims)
    got = getattr(spla, name)(A, axis=axis, keepdims=keepdims)
    assert np.shape(got) == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_creation_functions():
    Z = spla.zeros((3, 4), dtype=spla.int32)
    assert Z.format == "csr" and Z.nnz == 0 and Z.dtype == np.int32
    assert spla.zeros(5).shape == (5,)
    np.testing.assert_array_equal(spla.eye(3, k=-1).toarray(), np.eye(3, k=-1))
    A = spla.asarray([[0, 1], [2, 0]], dtype=spla.float32)
    assert A.format == "csr" and A.dtype == np.float32
    assert spla.asarray(A) is A
    assert spla.asarray(A, copy=True) is not A
    with pytest.raises(ValueError, match="copy=False"):
        spla.asarray(np.eye(2), copy=False)
    with pytest.raises(ValueError, match="copy=False"):
        spla.asarray(A, dtype=np.float64, copy=False)
    S = sp.random_array((4, 3), density=0.5, format="csc", random_state=1)
    assert spla.asarray(S).format == "csc"
    B = spla.astype(A, spla.float64)
    assert B.dtype == np.float64
    np.testing.assert_array_equal(spla.matmul(A, np.ones(2)), [1.0, 2.0])
    assert spla.matrix_transpose(A).shape == (2, 2)
    np.testing.assert_array_equal(spla.nonzero(A)[1], [1, 0])
    np.testing.assert_array_equal(spla.add(np.ones(2), np.ones(2)), [2.0, 2.0])  # dense too


# -- DLPack and foreign operands of products ------------------------------------------------

class _DLPackOnly:
    """An array that offers DLPack and nothing else (no __array__)."""

    def __init__(self, a):
        self._a = a

    def __dlpack__(self, **kwargs):
        return self._a.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._a.__dlpack_device__()


@EXAMPLES
@given(A=arrays(dtypes=st.sampled_from([np.float32, np.float64, np.complex128]), max_side=6),
       k=st.integers(1, 3))
def test_dlpack_operands_of_products(A, k):
    D = expected(A)
    x = np.arange(1.0, A.shape[1] + 1)
    X = np.arange(1.0, A.shape[1] * k + 1).reshape(A.shape[1], k)
    np.testing.assert_allclose(A @ _DLPackOnly(x), D @ x, rtol=1e-5)
    np.testing.assert_allclose(A @ _DLPackOnly(X), D @ X, rtol=1e-5)
    if torch is not None and A.dtype != np.complex64:
        t = torch.from_numpy(X)
        y = A @ t
        assert isinstance(y, torch.Tensor)
        np.testing.assert_allclose(y.numpy(), D @ X, rtol=1e-5)
        z = torch.from_numpy(np.ones((2, A.shape[0]))) @ A
        assert isinstance(z, torch.Tensor)
        np.testing.assert_allclose(z.numpy(), np.ones((2, A.shape[0])) @ D, rtol=1e-5)


@needs_pydata
def test_foreign_sparse_operands():
    A = spla.csr_array(np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]]))
    x = pydata.COO.from_numpy(np.eye(3))
    P = A @ x
    assert spla.issparse(P)
    np.testing.assert_array_equal(dense_of(P), dense_of(A))
    np.testing.assert_array_equal(dense_of(A + pydata.GCXS.from_numpy(np.ones((2, 3)))),
                                  dense_of(A) + 1)


@pytest.mark.parametrize("index_type", ["uint64", "uint32", "int64", "int16", "uint8"])
@pytest.mark.parametrize("fmt", ["CSR", "CSC", "COO", "DCSR"])
def test_files_with_any_index_type(index_type, fmt):
    """Index arrays of every binsparse integer type (the specification's examples use
    uint64) are read, and become int32 or int64 arrays."""
    D = np.array([[0.0, 1.0, 0.0], [2.0, 0.0, 3.0]])
    desc, arr = spla.io.binsparse_arrays(spla.csr_array(D), fmt)
    for k in arr:
        if k != "values":
            arr[k] = np.asarray(arr[k]).astype(index_type)
            desc["binsparse"]["data_types"][k] = index_type
    B = _read_npz(desc, {k: np.asarray(v) for k, v in arr.items()})
    assert B.format == SPLA_FORMAT[fmt if fmt != "COO" else "COO"]
    for a in (getattr(B, "indices", None), getattr(B, "indptr", None)):
        assert a is None or a.dtype in (np.int32, np.int64)
    np.testing.assert_array_equal(dense_of(B), D)
    arr2 = dict(arr, values=np.array([1.0, 2.0, 3.0]))
    big = np.asarray(arr2["indices_1"]).astype("uint64")
    big[0] = np.iinfo(np.uint64).max
    desc["binsparse"]["data_types"]["indices_1"] = "uint64"
    with pytest.raises(ValueError, match="out of range"):
        _read_npz(desc, dict(arr2, indices_1=big))


@needs_binsparse
def test_vectors_with_the_reference(tmp_path):
    from binsparse.conversions.numpy import from_numpy, to_numpy

    idx = np.array([1, 4, 6], dtype=np.uint64)
    vals = np.array([1.5, -2.0, 3.0], dtype=np.float32)
    binsparse.save_binsparse(binsparse.CVECVector((8,), 3, indices_0=idx, values=vals),
                             tmp_path / "c.npz")
    v = spla.io.binsparse_read(tmp_path / "c.npz")
    assert v.format == "coo" and v.shape == (8,) and v.dtype == np.float32
    want = np.zeros(8, np.float32)
    want[idx.astype(np.int64)] = vals
    np.testing.assert_array_equal(v.toarray(), want)
    spla.io.binsparse_write(tmp_path / "d.npz", v)
    t = binsparse.load_binsparse(tmp_path / "d.npz")
    assert isinstance(t, binsparse.CVECVector)
    np.testing.assert_array_equal(t.indices_0, [1, 4, 6])
    binsparse.save_binsparse(from_numpy(want), tmp_path / "e.npz")
    np.testing.assert_array_equal(spla.io.binsparse_read(tmp_path / "e.npz"), want)
    spla.io.binsparse_write(tmp_path / "f.npz", want)
    np.testing.assert_array_equal(to_numpy(binsparse.load_binsparse(tmp_path / "f.npz")), want)


@needs_binsparse
@EXAMPLES
@given(data=st.data(), dt=ALL_DTYPES, ndim=st.integers(3, 4))
def test_nd_coo_as_a_custom_level(data, dt, ndim):
    """n-D COO arrays travel as a custom format (one sparse level of rank n), which
    the reference reads and writes."""
    shape = tuple(data.draw(st.integers(0, 4)) for _ in range(ndim))
    size = int(np.prod(shape))
    D = data.draw(sst.values(size, np.float64)).astype(dt).reshape(shape)
    D[np.asarray(data.draw(st.lists(st.booleans(), min_size=size, max_size=size)),
                 dtype=bool).reshape(shape)] = 0
    C = spla.coo_array(D)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "a.npz")
        spla.io.binsparse_write(path, C)
        B = spla.io.binsparse_read(path)
        assert B.shape == shape and B.dtype == dt
        np.testing.assert_array_equal(B.toarray(), D)
        t = binsparse.load_binsparse(path)
        assert isinstance(t, binsparse.CustomTensor) and t.level.rank == ndim
        coords = np.stack([np.asarray(i) for i in t.level.indices]) if C.nnz else None
        if C.nnz:
            R = np.zeros(shape, dtype=dt)
            R[tuple(coords)] = t.level.level.values
            np.testing.assert_array_equal(R, D)
        idx = np.nonzero(D)
        ref = binsparse.CustomTensor(
            shape, len(idx[0]),
            level=binsparse.SparseLevel(ndim, binsparse.ElementLevel(D[idx]),
                                        tuple(np.asarray(i) for i in idx)))
        binsparse.save_binsparse(ref, os.path.join(tmp, "r.npz"))
        np.testing.assert_array_equal(spla.io.binsparse_read(os.path.join(tmp, "r.npz"))
                                      .toarray(), D)


class _CupyxStandIn:
    """A matrix that calls itself cupyx's (by module name) but holds SciPy storage:
    runs the constructors' routing of cupyx matrices on a machine without a GPU.
    ``tests/test_gpu.py::test_cupyx_matrices_both_ways`` runs the real thing."""

    ndim = 2

    def __init__(self, S):
        self._S = S
        self.shape = S.shape

    def tocsr(self):
        return self._S.tocsr()

    def tocsc(self):
        return self._S.tocsc()


_CupyxStandIn.__module__ = "cupyx.scipy.sparse._csr"


@pytest.mark.parametrize("make, fmt", [(spla.csr_array, "csr"), (spla.csc_array, "csc")])
def test_cupyx_matrices_reach_the_compressed_constructor(make, fmt):
    # spla.csr_array (1-D aware) once read a cupyx matrix as a dense object array
    S = sp.csr_array(np.array([[0.0, 1.0, 0.0], [2.0, 0.0, 3.0]]))
    A = make(_CupyxStandIn(S))
    assert A.format == fmt and A.shape == (2, 3)
    np.testing.assert_array_equal(A.toarray(), S.toarray())
