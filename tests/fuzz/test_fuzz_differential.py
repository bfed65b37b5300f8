"""Differential properties: every operation of every format against SciPy on the
same storage (duplicates, unsorted rows, explicit zeros, empty rows, 0 x n and
n x 0, int32 and int64 indices, every value dtype, non-contiguous operands).

Each property draws the operation from a table, so that a new operation is one
more line. ``SPLA_FUZZ=thorough`` runs 10^4 examples a property; CI's default
runs 25; ``SPLA_FUZZ_EXAMPLES=N`` sets the number for both.
"""

import os

import numpy as np
import scipy.sparse as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import spla
from _fuzz_profile import PROFILE
from spla.testing import strategies as sst
from spla.testing._strategies_nm import nm_arrays

EXAMPLES = int(os.environ.get("SPLA_FUZZ_EXAMPLES", 10_000 if PROFILE == "thorough" else 25))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=PROFILE != "thorough",
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])


def _scipy_of(A):
    """SciPy's array over copies of A's storage (SciPy may canonicalise in place)."""
    if A.format == "csr":
        return sp.csr_array((A.data.copy(), A.indices.copy(), A.indptr.copy()), shape=A.shape)
    if A.format == "csc":
        return sp.csc_array((A.data.copy(), A.indices.copy(), A.indptr.copy()), shape=A.shape)
    return sp.csr_array(A.toarray())


def _as_format(A, fmt):
    """``A`` (a csr_array) in format ``fmt``, keeping its storage where the format
    has the same one."""
    if fmt == "csr":
        return A
    if fmt == "csc":  # the same arrays read as CSC storage: the transpose's matrix
        return spla.csc_array((A.data, A.indices, A.indptr), shape=A.shape[::-1])
    if fmt == "csr.T":
        return A.T
    if fmt == "banded":
        return spla.banded_array(A.toarray())
    raise AssertionError(fmt)


def _dense(r):
    return r.toarray() if hasattr(r, "toarray") else np.asarray(r)


def _close(got, ref, dtype, scale, what):
    got, ref = _dense(got), _dense(ref)
    assert got.shape == ref.shape, (what, got.shape, ref.shape)
    single = np.dtype(dtype) in (np.dtype(np.float32), np.dtype(np.complex64))
    tol = (1e-4 if single else 1e-10) * (1.0 + scale)
    np.testing.assert_allclose(got.astype(np.complex128), ref.astype(np.complex128),
                               rtol=1e-4 if single else 1e-10, atol=tol, equal_nan=True,
                               err_msg=what)


def _mag(*arrays):
    out = 1.0
    for a in arrays:
        a = _dense(a)
        if a.size:
            out *= 1.0 + float(np.abs(a).max())
    return out * max(1, max((_dense(a).shape[-1] for a in arrays if _dense(a).ndim), default=1))


FORMATS = st.sampled_from(["csr", "csc", "csr.T", "banded"])

PRODUCTS = {
    "A @ x": lambda A, S, d: (A @ d["x"], S @ d["x"]),
    "A @ X": lambda A, S, d: (A @ d["X"], S @ d["X"]),
    "y @ A": lambda A, S, d: (d["y"] @ A, d["y"] @ S),
    "A.T @ y": lambda A, S, d: (A.T @ d["y"], S.T @ d["y"]),
    "Y @ A": lambda A, S, d: (d["Y"] @ A, d["Y"] @ S),
    "A @ B.T": lambda A, S, d: (A @ d["B"].T, S @ d["SB"].T),
    "A.T @ B": lambda A, S, d: (A.T @ d["B"], S.T @ d["SB"]),
    "A @ stack": lambda A, S, d: (A @ d["stack"], np.stack([S @ m for m in d["stack"]])),
}

ELEMENTWISE = {
    "A + B": lambda A, S, d: (A + d["B"], S + d["SB"]),
    "A - B": lambda A, S, d: (A - d["B"], S - d["SB"]),
    "A.multiply(B)": lambda A, S, d: (A.multiply(d["B"]), S.multiply(d["SB"])),
    "A + D": lambda A, S, d: (A + d["D"], S + d["D"]),
    "A - D": lambda A, S, d: (A - d["D"], S - d["D"]),
    "D - A": lambda A, S, d: (d["D"] - A, d["D"] - S),
    "A.multiply(D)": lambda A, S, d: (A.multiply(d["D"]), S.multiply(d["D"])),
    "A.multiply(row)": lambda A, S, d: (A.multiply(d["row"]), S.multiply(d["row"])),
    "A.multiply(col)": lambda A, S, d: (A.multiply(d["col"]), S.multiply(d["col"])),
    "A * s": lambda A, S, d: (A * d["s"], S * d["s"]),
    "s * A": lambda A, S, d: (d["s"] * A, d["s"] * S),
    "A / s": lambda A, S, d: (A / d["s"], S / d["s"]),
    "-A": lambda A, S, d: (-A, -S),
    "A + 0": lambda A, S, d: (A + 0, S),
}

def _in_place(A, method):
    """``A`` after its in-place ``method`` (which returns None, as SciPy's does)."""
    assert getattr(A, method)() is None, method
    return A


UNARY = {
    "sum()": lambda A, S: (A.sum(), S.sum()),
    "sum(0)": lambda A, S: (A.sum(axis=0), S.sum(axis=0)),
    "sum(1)": lambda A, S: (A.sum(axis=1), S.sum(axis=1)),
    "sum(-1)": lambda A, S: (A.sum(axis=-1), S.sum(axis=-1)),
    "sum((0, 1))": lambda A, S: (A.sum(axis=(0, 1)), S.sum()),
    "diagonal(0)": lambda A, S: (A.diagonal(), S.diagonal()),
    "diagonal(1)": lambda A, S: (A.diagonal(1), S.diagonal(1)),
    "diagonal(-2)": lambda A, S: (A.diagonal(-2), S.diagonal(-2)),
    "diagonal(huge)": lambda A, S: (A.diagonal(2**64), S.diagonal(2**64)),
    "toarray()": lambda A, S: (A.toarray(), S.toarray()),
    "toarray('F')": lambda A, S: (A.toarray(order="F"), S.toarray(order="F")),
    "todense()": lambda A, S: (A.todense(), S.todense()),
    "T": lambda A, S: (A.T, S.T),
    "tocsr()": lambda A, S: (A.tocsr(), S.tocsr()),
    "tocsc()": lambda A, S: (A.tocsc(), S.tocsc()),
    "astype(complex128)": lambda A, S: (A.astype(np.complex128), S.astype(np.complex128)),
    "astype(float32)": lambda A, S: (A.astype(np.complex64 if A.dtype.kind == "c"
                                               else np.float32),
                                     S.astype(np.complex64 if S.dtype.kind == "c"
                                              else np.float32)),
    "conj()": lambda A, S: (A.conj(), S.conj()),
    "copy()": lambda A, S: (A.copy(), S.copy()),
    "sum_duplicates()": lambda A, S: (_in_place(A, "sum_duplicates"), S),
    "eliminate_zeros()": lambda A, S: (_in_place(A, "eliminate_zeros"), S),
    "abs via multiply": lambda A, S: (A.multiply(A.conj()), S.multiply(S.conj())),
    "count_nonzero()": lambda A, S: (np.float64(A.count_nonzero()) if A.format != "banded"
                                     else np.float64(np.count_nonzero(A.toarray())),
                                     np.float64(S.count_nonzero()) if A.format != "banded"
                                     else np.float64(np.count_nonzero(S.toarray()))),
    "mmwrite/mmread": lambda A, S: (_mm_round_trip(A), S),
}


def _mm_round_trip(A):
    import io

    buf = io.BytesIO()
    spla.io.mmwrite(buf, A)
    buf.seek(0)
    return spla.io.mmread(buf)


@st.composite
def _problem(draw):
    fmt = draw(FORMATS)
    A = draw(sst.csr_arrays(max_side=9))
    A = _as_format(A, fmt)
    m, n = A.shape
    B = _as_format(draw(sst.csr_arrays(shape=A.shape if fmt in ("csr", "banded") else
                                        A.shape[::-1], max_side=9)), fmt)
    return fmt, A, B, draw(st.data())


@FUZZ
@given(_problem(), st.sampled_from(sorted(PRODUCTS)))
def test_products_match_scipy(problem, op):
    fmt, A, B, data = problem
    m, n = A.shape
    k = data.draw(st.integers(1, 4), label="k")
    d = {"x": data.draw(sst.dense_operands(n), label="x"),
         "X": data.draw(sst.dense_operands(n, k), label="X"),
         "y": data.draw(sst.dense_operands(m), label="y"),
         "Y": data.draw(sst.dense_operands(k, m), label="Y"),
         "stack": data.draw(sst.dense_operands(n, k), label="s0")[None].repeat(2, axis=0),
         "B": B, "SB": _scipy_of(B)}
    S = _scipy_of(A)
    got, ref = PRODUCTS[op](A, S, d)
    _close(got, ref, np.result_type(A.dtype, np.float32), _mag(A, d.get("X")), op)


@FUZZ
@given(_problem(), st.sampled_from(sorted(ELEMENTWISE)),
       st.sampled_from(["float64", "float32", "complex128", "int64", "uint8", "uint64",
                        "bool", ">f8"]),
       st.sampled_from([2, -1.5, 0.25, 3j, np.float32(2), np.int64(-3), True]))
def test_elementwise_match_scipy(problem, op, ddtype, s):
    fmt, A, B, data = problem
    m, n = A.shape
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    D = (rng.integers(0, 3, (m, n)) * (rng.random((m, n)) < 0.5)).astype(ddtype)
    d = {"B": B, "SB": _scipy_of(B), "D": D, "s": s,
         "row": rng.integers(-2, 3, (1, n)).astype(ddtype),
         "col": rng.integers(-2, 3, (m, 1)).astype(ddtype)}
    S = _scipy_of(A)
    got, ref = ELEMENTWISE[op](A, S, d)
    _close(got, ref, A.dtype, _mag(A, B), op)


@FUZZ
@given(_problem(), st.sampled_from(sorted(UNARY)))
def test_reductions_and_conversions_match_scipy(problem, op):
    fmt, A, _, _ = problem
    # banded_array has no duplicates to sum (SciPy's dia_array neither)
    assume(not (fmt == "banded" and op in ("sum_duplicates()", "eliminate_zeros()")))
    S = _scipy_of(A)
    got, ref = UNARY[op](A, S)
    _close(got, ref, A.dtype, _mag(A), op)


@FUZZ
@given(nm_arrays(), st.data())
def test_nm_products_and_conversions_match_scipy(A, data):
    m, n = A.shape
    S = sp.csr_array(A.toarray().astype(np.float64))
    x = data.draw(sst.dense_operands(n), label="x")
    X = data.draw(sst.dense_operands(n, 3), label="X")
    y = data.draw(sst.dense_operands(m), label="y")
    dt = np.float32 if A.dtype != np.float64 else np.float64
    for what, got, ref in (("A @ x", A @ x, S @ x), ("A @ X", A @ X, S @ X),
                           ("y @ A", y @ A, y @ S), ("sum(0)", A.sum(axis=0), S.sum(axis=0)),
                           ("tocsr", A.tocsr(), S), ("T", A.T, S.T),
                           ("diagonal(1)", A.diagonal(1), S.diagonal(1)),
                           ("A * 2", A * 2, S * 2)):
        _close(got, ref, dt, _mag(A, X), what)


@FUZZ
@given(sst.coo_triplets(), st.sampled_from(["csr_array", "csc_array"]),
       st.sampled_from(["tuple", "ij array", "ij list"]))
def test_coo_constructors_match_scipy(triplets, cls_name, form):
    data, (row, col), shape = triplets
    coords = {"tuple": (row, col), "ij array": np.vstack([row, col]),
              "ij list": [list(row), list(col)]}[form]
    got = getattr(spla, cls_name)((data, coords), shape=shape)
    ref = getattr(sp, cls_name)((data, (row, col)), shape=shape)
    _close(got, ref, data.dtype, _mag(data), f"{cls_name} from {form}")
