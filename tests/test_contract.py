"""The format contract: the same properties for every format, on every device.

One battery instead of a copy per format: each property below runs for CSR,
CSC, COO, N:M and banded arrays, on the CPU and on the GPU (the ``cuda`` cases
are skipped, with the reason, where CuPy or a GPU is missing; CI has neither).
Every array comes with an independent dense reference built from the raw input
the strategy drew (never from spla's own ``toarray``), so a property compares
spla with NumPy and SciPy, not with itself.

The per-format test modules keep what is specific to one format (its storage,
its constructors, its kernels' edge cases); a property that holds for every
format belongs here.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spla
from spla.testing import strategies as sst

FORMATS = ("csr", "csc", "coo", "nm", "banded")

# The module must stay well under 40 s on 2 cores: a few examples per property
# and format (the per-format modules run the deep searches).
CONTRACT = settings(
    max_examples=max(6, settings.default.max_examples // 8),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_CSR_DTYPES = st.sampled_from(
    [np.float64, np.float32, np.complex128, np.complex64, np.int64, np.int32]
)


def _cuda_reason():
    try:
        import cupy
    except ImportError:
        return "the cuda device needs CuPy: pip install 'spla[cuda]'"
    try:
        if cupy.cuda.runtime.getDeviceCount() == 0:
            return "the cuda device needs an NVIDIA GPU; CuPy sees none"
    except Exception as exc:  # CUDARuntimeError without a driver
        return f"the cuda device needs an NVIDIA GPU ({exc})"
    return None


_CUDA_SKIP = _cuda_reason()
DEVICES = (
    "cpu",
    pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(_CUDA_SKIP is not None,
                                                                    reason=_CUDA_SKIP or "")]),
)


# -- the arrays: (spla array on the CPU, dense reference) per format -------------------


def _dense_of_csr(data, indices, indptr, shape):
    """Dense reference of raw CSR storage (duplicates summed), without spla."""
    return sp.csr_array((data, indices, indptr), shape=shape).toarray()


@st.composite
def _csr_case(draw, max_side=8):
    A = draw(sst.csr_arrays(dtype=_CSR_DTYPES, max_side=max_side))
    ref = _dense_of_csr(A.data.copy(), A.indices.copy(), A.indptr.copy(), A.shape)
    return A, ref


@st.composite
def _case(draw, fmt, max_side=8):
    if fmt == "csr":
        return draw(_csr_case(max_side))
    if fmt == "csc":
        A, ref = draw(_csr_case(max_side))
        # the transpose's CSR storage read as CSC: an independent raw CSC input
        csc = spla.csc_array((A.data, A.indices, A.indptr), shape=A.shape[::-1])
        return csc, ref.T.copy()
    if fmt == "coo":
        data, (row, col), shape = draw(sst.coo_triplets(dtype=_CSR_DTYPES, max_side=max_side,
                                                        max_nnz=30))
        ref = sp.coo_array((data, (row, col)), shape=shape).toarray()
        return spla.coo_array((data, (row, col)), shape=shape), ref
    if fmt == "nm":
        dense, n, m = draw(sst.nm_dense_arrays(dtype=st.sampled_from([np.float32, np.float64]),
                                               max_side=max_side))
        return spla.nm_array(dense, n=n, m=m), dense.copy()
    if fmt == "banded":
        A = draw(sst.banded_arrays(max_side=max_side, max_diagonals=4))
        m, n = A.shape
        ref = np.zeros(A.shape, dtype=A.dtype)
        for d, k in enumerate(np.asarray(A.offsets)):
            i = np.arange(max(0, -k), min(m, n - k))
            ref[i, i + k] = np.asarray(A.data)[d, i]
        return A, ref
    raise AssertionError(fmt)


def _on(A, device):
    return A if device == "cpu" else A.to_device(device)


def _host(x):
    """A result brought to the CPU: spla arrays through to_device, CuPy through get()."""
    if isinstance(x, spla.SparseArray):
        return x.to_device("cpu")
    if hasattr(x, "get") and type(x).__module__.startswith("cupy"):
        return x.get()
    return x


def _dense(x):
    x = _host(x)
    if isinstance(x, spla.SparseArray):
        return x.toarray()
    return np.asarray(x)


def _tol(dtype):
    dt = np.dtype(dtype)
    if dt in (np.float16,):
        return 1e-2
    if dt in (np.float32, np.complex64):
        return 1e-4
    return 1e-10


def _close(got, ref, dtype=None):
    got = np.asarray(got)
    ref = np.asarray(ref)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    tol = _tol(dtype if dtype is not None else ref.dtype)
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)


def _fmt_param():
    return pytest.mark.parametrize("fmt", FORMATS)


def _dev_param():
    return pytest.mark.parametrize("device", DEVICES)


# -- construction, round trips, attributes ------------------------------------------


@_dev_param()
@_fmt_param()
@CONTRACT
@given(data=st.data())
def test_roundtrip_dense_and_scipy(fmt, device, data):
    A, ref = data.draw(_case(fmt))
    A = _on(A, device)
    assert isinstance(A, spla.SparseArray)
    assert spla.issparse(A)
    got = _dense(A)
    assert got.dtype == A.dtype
    _close(got, ref)
    S = _host(A).to_scipy()
    assert sp.issparse(S)
    assert S.shape == A.shape
    _close(S.toarray(), ref)
    # back from SciPy through the format's own constructor where it takes SciPy input
    back = spla.csr_array(S)
    _close(back.toarray(), ref)


@_dev_param()
@_fmt_param()
@CONTRACT
@given(data=st.data())
def test_attributes(fmt, device, data):
    A, ref = data.draw(_case(fmt))
    A = _on(A, device)
    assert A.shape == ref.shape
    assert A.ndim == 2
    assert A.size == A.nnz  # SciPy: the number of stored values
    assert A.dtype == ref.dtype
    assert isinstance(A.nnz, int)
    assert A.nnz >= np.count_nonzero(ref) or fmt in ("nm",)
    assert A.count_nonzero() == np.count_nonzero(ref)
    assert str(A.device) == ("cpu" if device == "cpu" else "cuda:0")
    assert isinstance(A.nbytes, int) and A.nbytes >= 0
    assert A.format == fmt


@_fmt_param()
@CONTRACT
@given(data=st.data())
def test_nnz_counts_stored_entries_as_scipy(fmt, data):
    A, ref = data.draw(_case(fmt))
    if fmt in ("csr", "csc", "coo"):
        # SciPy's nnz counts stored entries, duplicates and explicit zeros included
        assert A.nnz == A.data.size
    assert A.nnz >= np.count_nonzero(ref)


@_dev_param()
@_fmt_param()
@CONTRACT
@given(data=st.data())
def test_copy_is_independent(fmt, device, data):
    A, ref = data.draw(_case(fmt))
    A = _on(A, device)
    B = A.copy()
    assert type(B) is type(A)
    B *= 2
    _close(_dense(A), ref)
    _close(_dense(B), 2 * ref)


@_dev_param()
@_fmt_param()
@CONTRACT
@given(data=st.data())
def test_to_device_cpu(fmt, device, data):
    A, ref = data.draw(_case(fmt))
    A = _on(A, device)
    B = A.to_device("cpu")
    assert str(B.device) == "cpu"
    assert B.format == A.format
    _close(B.toarray(), ref)


# -- value-only operations -----------------------------------------------------------


@_dev_param()
@_fmt_param()
@CONTRACT
@given(data=st.data())
def test_transpose(fmt, device, data):
    A, ref = data.draw(_case(fmt))
    A = _on(A, device)
    _close(_dense(A.T), ref.T)
    _close(_dense(A.transpose()), ref.T)
    assert A.T.shape == ref.T.shape


@_dev_param()
@_fmt_param()
@CONTRACT
@given(data=st.data(), target=st.sampled_from([np.float64, np.complex128, np.float32]))
def test_astype(fmt, device, data, target):
    A, ref = data.draw(_case(fmt))
    A = _on(A, device)
    with warnings.catch_warnings():
        # complex to real discards the imaginary part, as NumPy warns
        warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
        B = A.astype(target)
        expect = ref.astype(target)
    assert B.dtype == np.dtype(target)
    # Duplicates may be summed before or after the cast (COO keeps them, as SciPy's
    # does): the tolerance is that of the narrower of the two dtypes.
    narrow = max((A.dtype, np.dtype(target)), key=lambda d: _tol(d) if d.kind in "fc" else 0)
    _close(_dense(B), expect, narrow if narrow.kind in "fc" else None)


@_dev_param()
@_fmt_param()
@CONTRACT
@given(data=st.data())
def test_conj(fmt, device, data):
    A, ref = data.draw(_case(fmt))
    A = _on(A, device)
    _close(_dense(A.conj()), np.conj(ref))
    _close(_dense(A.conjugate()), np.conjugate(ref))


@_dev_param()
@_fmt_param()
@CONTRACT
@given(data=st.data(), c=st.sampled_from([2, -0.5, 3.0]))
def test_scaling(fmt, device, data, c):
    A, ref = data.draw(_case(fmt))
    A = _on(A, device)
    expect = ref * c
    _close(_dense(A * c), expect, expect.dtype)
    _close(_dense(c * A), expect, expect.dtype)
    expect = ref / c
    _close(_dense(A / c), expect, expect.dtype)
    _close(_dense(-A), -ref)


@_dev_param()
@_fmt_param()
@CONTRACT
@given(data=st.data())
def test_abs(fmt, device, data):
    A, ref = data.draw(_case(fmt))
    A = _on(A, device)
    B = abs(A)
    got = _dense(B)
    assert got.dtype == np.abs(ref).dtype
    _close(got, np.abs(ref))


_COMPARISONS = {
    "lt": (lambda a, b: a < b),
    "le": (lambda a, b: a <= b),
    "gt": (lambda a, b: a > b),
    "ge": (lambda a, b: a >= b),
    "ne": (lambda a, b: a != b),
    "eq": (lambda a, b: a == b),
}


@_dev_param()
@_fmt_param()
@CONTRACT
@given(data=st.data(), name=st.sampled_from(sorted(_COMPARISONS)),
       c=st.sampled_from([0.5, -1.0, 0.0, 2.0]))
def test_comparison_with_scalar(fmt, device, data, name, c):
    A, ref = data.draw(_case(fmt))
    if ref.dtype.kind == "c" and name in ("lt", "le", "gt", "ge"):
        return  # ordering of complex values: SciPy and NumPy refuse or disagree
    A = _on(A, device)
    op = _COMPARISONS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sp.SparseEfficiencyWarning)
        got = op(A, c)
        expect_type = op(sp.csr_array(ref), c)
    assert _dense(got).dtype == np.bool_
    _close(_dense(got), op(ref, c))
    # sparse where SciPy gives sparse, dense where SciPy gives dense
    assert spla.issparse(_host(got)) == sp.issparse(expect_type)


# -- reductions ------------------------------------------------------------------------


@_dev_param()
@_fmt_param()
@CONTRACT
@given(data=st.data(), axis=st.sampled_from([None, 0, 1, -1, -2]))
def test_sum(fmt, device, data, axis):
    A, ref = data.draw(_case(fmt))
    A = _on(A, device)
    got = _host(A.sum(axis=axis))
    expect = sp.csr_array(ref).sum(axis=axis)
    got = np.asarray(got)
    assert got.shape == np.shape(expect)
    _close(got, expect, ref.dtype)


@_dev_param()
@_fmt_param()
@CONTRACT
@given(data=st.data(), axis=st.sampled_from([None, 0, 1, -1]), which=st.sampled_from(["max", "min"]))
def test_max_min(fmt, device, data, axis, which):
    A, ref = data.draw(_case(fmt))
    if ref.dtype.kind == "c":
        return  # SciPy orders complex values lexicographically only through NumPy; skip
    S = sp.csr_array(ref)
    A = _on(A, device)
    try:
        expect = getattr(S, which)(axis=axis)
    except ValueError:
        # SciPy refuses a reduction over an empty axis: so does spla
        with pytest.raises(ValueError):
            getattr(A, which)(axis=axis)
        return
    got = getattr(A, which)(axis=axis)
    if axis is None:
        _close(np.asarray(_host(got)), np.asarray(expect))
    else:
        assert spla.issparse(_host(got)) == sp.issparse(expect)
        _close(_dense(got), expect.toarray() if sp.issparse(expect) else expect)


# -- conversions -------------------------------------------------------------------------


@_dev_param()
@_fmt_param()
@CONTRACT
@given(data=st.data(), to=st.sampled_from(["tocsr", "tocsc", "tocoo", "toarray"]))
def test_conversions(fmt, device, data, to):
    A, ref = data.draw(_case(fmt))
    A = _on(A, device)
    B = getattr(A, to)()
    if to == "toarray":
        _close(_host(B), ref)
        return
    assert B.format == to[2:]
    assert str(B.device) == str(A.device)
    assert B.dtype == A.dtype
    _close(_dense(B), ref)


# -- products ------------------------------------------------------------------------------


@_dev_param()
@_fmt_param()
@CONTRACT
@given(data=st.data(), cols=st.sampled_from([None, 1, 3]))
def test_matmul_dense(fmt, device, data, cols):
    A, ref = data.draw(_case(fmt))
    dt = np.result_type(ref.dtype, np.float32)
    X = data.draw(sst.dense_operands(ref.shape[1], cols, dtype=dt))
    A = _on(A, device)
    if device != "cpu":
        import cupy

        Xd = cupy.asarray(X)
    else:
        Xd = X
    got = _host(A @ Xd)
    expect = ref @ X
    assert got.shape == expect.shape
    assert np.asarray(got).dtype == expect.dtype
    _close(got, expect, expect.dtype)


# -- operations with another format -------------------------------------------------------


@_dev_param()
@pytest.mark.parametrize("other", FORMATS)
@_fmt_param()
@CONTRACT
@given(data=st.data(), op=st.sampled_from(["add", "sub", "multiply", "maximum"]))
def test_elementwise_with_other_format(fmt, other, device, data, op):
    A, ref = data.draw(_case(fmt))
    B, ref_b = _case_with_shape(data, other, ref.shape)
    if op == "maximum" and (ref.dtype.kind == "c" or ref_b.dtype.kind == "c"):
        return
    A = _on(A, device)
    B = _on(B, device)
    if op == "add":
        got, expect = A + B, ref + ref_b
    elif op == "sub":
        got, expect = A - B, ref - ref_b
    elif op == "multiply":
        got, expect = A.multiply(B), ref * ref_b
    else:
        got, expect = A.maximum(B), np.maximum(ref, ref_b)
    assert spla.issparse(_host(got))
    # duplicates are summed in the operand's own precision by one side and after
    # promotion by the other: compare to the precision of the less precise operand
    low = min(ref.dtype, ref_b.dtype, key=lambda d: np.finfo(np.result_type(d, np.float16)).eps
              * -1)
    _close(_dense(got), expect, low)


def _case_with_shape(data, fmt, shape):
    m, n = shape
    if fmt == "csr":
        A = data.draw(sst.csr_arrays(shape=shape, dtype=_CSR_DTYPES))
        return A, _dense_of_csr(A.data.copy(), A.indices.copy(), A.indptr.copy(), shape)
    if fmt == "csc":
        A = data.draw(sst.csr_arrays(shape=(n, m), dtype=_CSR_DTYPES))
        ref = _dense_of_csr(A.data.copy(), A.indices.copy(), A.indptr.copy(), (n, m))
        return spla.csc_array((A.data, A.indices, A.indptr), shape=shape), ref.T.copy()
    if fmt == "coo":
        d, (r, c), _ = data.draw(sst.coo_triplets(shape=shape, dtype=_CSR_DTYPES, max_nnz=30))
        return spla.coo_array((d, (r, c)), shape=shape), sp.coo_array((d, (r, c)),
                                                                       shape=shape).toarray()
    if fmt == "nm":
        dense, n_, m_ = data.draw(sst.nm_dense_arrays(shape=shape,
                                                      dtype=st.sampled_from([np.float32,
                                                                             np.float64])))
        return spla.nm_array(dense, n=n_, m=m_), dense.copy()
    if fmt == "banded":
        A = data.draw(sst.banded_arrays(shape=shape, max_diagonals=4))
        ref = np.zeros(shape, dtype=A.dtype)
        for d, k in enumerate(np.asarray(A.offsets)):
            i = np.arange(max(0, -k), min(m, n - k))
            ref[i, i + k] = np.asarray(A.data)[d, i]
        return A, ref
    raise AssertionError(fmt)
