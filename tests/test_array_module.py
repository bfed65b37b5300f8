"""The array-module CSR algorithms (``spla._backends.array_module``), which the GPU
backend runs with CuPy for the dtypes cuSPARSE does not take, checked here with
NumPy against SciPy (no GPU needed)."""

import numpy as np
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spla._backends import array_module as xpa
from spla.testing import strategies as sst

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
DTYPES = st.sampled_from([np.int64, np.int32, np.bool_, np.float64, np.complex128])


def _scipy(A):
    return sp.csr_array((A.data, A.indices, A.indptr), shape=A.shape)


@SETTINGS
@given(A=sst.csr_arrays(dtype=DTYPES, max_side=9))
def test_transpose_keeps_every_entry(A):
    data, indices, indptr = xpa.transpose(A.indptr, A.indices, A.data, A.shape, np)
    T = sp.csr_array((data, indices, indptr), shape=A.shape[::-1])
    assert data.dtype == A.dtype and T.nnz == A.nnz  # duplicates and zeros kept
    np.testing.assert_array_equal(T.toarray(), _scipy(A).toarray().T)
    assert T.has_sorted_indices


@SETTINGS
@given(A=sst.csr_arrays(dtype=DTYPES, max_side=9), order=st.sampled_from([None, "C", "F"]),
       k=st.integers(-10, 10))
def test_dense_and_diagonal_of_canonical_storage(A, order, k):
    S = _scipy(A).copy()
    S.sum_duplicates()
    dense = xpa.to_dense(S.indptr, S.indices, S.data, S.shape, order, np)
    np.testing.assert_array_equal(dense, S.toarray())
    assert dense.dtype == A.dtype
    assert dense.flags.f_contiguous if order == "F" else dense.flags.c_contiguous
    diag = xpa.diagonal(S.indptr, S.indices, S.data, S.shape, k, np)
    np.testing.assert_array_equal(diag, np.diagonal(S.toarray(), k))


# -- writes into COO, N:M and banded storage (what the GPU runs with CuPy) -------------------

import pytest  # noqa: E402

import spla  # noqa: E402
from spla._indexing import assign as assign_mod  # noqa: E402


@st.composite
def _write_key(draw, shape):
    """A write key of any kind: (int | slice | int array with repeats and negatives |
    mask) per axis, two index arrays (points), a 2-D mask, an ``ix_`` grid."""
    m, n = shape

    def axis(size):
        kind = draw(st.sampled_from(["int", "slice", "array", "mask"]))
        if kind == "int" and size:
            return draw(st.integers(-size, size - 1))
        if kind == "array" and size:
            return np.array(draw(st.lists(st.integers(-size, size - 1), min_size=1,
                                          max_size=4)))
        if kind == "mask":
            return np.array(draw(st.lists(st.booleans(), min_size=size, max_size=size)),
                            dtype=bool)
        return slice(draw(st.one_of(st.none(), st.integers(-size, size))),
                     draw(st.one_of(st.none(), st.integers(-size, size))),
                     draw(st.sampled_from([None, 1, 2, -1])))

    form = draw(st.sampled_from(["axes", "points", "mask2d", "ix"]))
    if form == "points" and m and n:
        k = draw(st.integers(1, 6))
        return (np.array(draw(st.lists(st.integers(-m, m - 1), min_size=k, max_size=k))),
                np.array(draw(st.lists(st.integers(-n, n - 1), min_size=k, max_size=k))))
    if form == "mask2d":
        return np.array(draw(st.lists(st.booleans(), min_size=m * n, max_size=m * n)),
                        dtype=bool).reshape(m, n)
    if form == "ix" and m and n:
        return np.ix_(draw(st.lists(st.integers(0, m - 1), min_size=1, max_size=3)),
                      draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=3)))
    return (axis(m), axis(n))


def _write_value(draw, target_shape, dtype):
    kind = draw(st.sampled_from(["scalar", "zero", "dense"]))
    if kind == "zero":
        return dtype(0)
    if kind == "scalar":
        return dtype(draw(st.integers(1, 9)))
    size = int(np.prod(target_shape))
    vals = draw(st.lists(st.integers(0, 3), min_size=size, max_size=size))
    return np.array(vals, dtype=dtype).reshape(target_shape)


@SETTINGS
@given(data=st.data(), dtype=st.sampled_from([np.float64, np.int32, np.complex128]),
       idx=st.sampled_from([np.int32, np.int64]), m=st.integers(0, 6), n=st.integers(0, 6))
def test_coo_writes_on_the_array_module_match_the_cpu_kernels(data, dtype, idx, m, n):
    """``coo_write`` with ``xp`` (``coo_hits``: binary searches of flat positions, the
    GPU's path) builds exactly the storage of the CPU kernel's path, on storage with
    duplicates and explicit zeros, and both give NumPy's dense result."""
    k = data.draw(st.integers(0, 2 * m * n)) if m and n else 0
    row = np.array(data.draw(st.lists(st.integers(0, max(m - 1, 0)), min_size=k,
                                      max_size=k)), dtype=idx)
    col = np.array(data.draw(st.lists(st.integers(0, max(n - 1, 0)), min_size=k,
                                      max_size=k)), dtype=idx)
    vals = np.array(data.draw(st.lists(st.integers(0, 3), min_size=k, max_size=k)),
                    dtype=dtype)
    A = spla.coo_array((vals, (row, col)), shape=(m, n))
    D = A.toarray()
    for _ in range(data.draw(st.integers(1, 3))):
        key = data.draw(_write_key(A.shape))
        try:
            target = D[key]
        except IndexError:
            with pytest.raises(IndexError):
                assign_mod.assign_coo(A, key, 1, xp=np)
            continue
        x = _write_value(data.draw, np.shape(target), dtype)
        cpu = assign_mod.assign_coo(A, key, x)
        got = assign_mod.assign_coo(A, key, x, xp=np)
        D[key] = x
        if cpu is None:
            assert got is None
            continue
        for a, b in zip(cpu[0] + (cpu[1],), got[0] + (got[1],)):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)
        A = spla.coo_array((got[1], got[0]), shape=(m, n))
        np.testing.assert_array_equal(A.toarray(), D)


def test_coo_hits_of_empty_storage_and_targets():
    none = np.zeros(0, np.int64)
    assert assign_mod.coo_hits(none, none, np.array([1]), np.array([2]), (3, 3), np).size == 0
    hit = assign_mod.coo_hits(np.array([0, 2, 2]), np.array([1, 2, 2]), none, none, (3, 3), np)
    assert hit.tolist() == [False, False, False]


def _nm_dense(draw, R, C, n, m, dtype):
    """A dense R x C array that is n:m sparse (zero columns padded)."""
    G = -(-C // m)
    D = np.zeros((R, G * m), dtype=dtype)
    for r in range(R):
        for g in range(G):
            picks = draw(st.lists(st.integers(0, m - 1), max_size=n, unique=True))
            for p in picks:
                D[r, g * m + p] = draw(st.integers(1, 5))
    return D[:, :C]


def _nm_violation(D, n, m):
    R, C = D.shape
    G = -(-C // m)
    padded = np.zeros((R, G * m), dtype=D.dtype)
    padded[:, :C] = D
    counts = (padded.reshape(R, G, m) != 0).sum(axis=2)
    bad = np.argwhere(counts > n)
    return None if bad.size == 0 else (int(bad[0][0]), int(bad[0][1]), counts)


@SETTINGS
@given(data=st.data(), nm=st.sampled_from([(2, 4), (1, 4), (1, 2), (3, 8), (2, 5)]),
       dtype=st.sampled_from([np.float64, np.float32]), R=st.integers(0, 5),
       C=st.integers(0, 11))
def test_nm_writes_repack_the_touched_groups_or_name_the_group(data, nm, dtype, R, C):
    """Random write sequences into N:M arrays: each result equals NumPy's dense result
    and is stored exactly as ``nm_array`` packs that dense result (canonical packing of
    the touched groups; the others were canonical already); a write that breaks the
    rule raises ``ValueError`` naming the first such row and group, and changes
    nothing. ``nm_write`` runs on the array module of the storage (CuPy on a GPU)."""
    n, m = nm
    D = _nm_dense(data.draw, R, C, n, m, dtype)
    A = spla.nm_array(D, n=n, m=m)
    for _ in range(data.draw(st.integers(1, 3))):
        key = data.draw(_write_key(A.shape))
        try:
            target = D[key]
        except IndexError:
            with pytest.raises(IndexError):
                A[key] = 1.0
            continue
        x = _write_value(data.draw, np.shape(target), dtype)
        expected = D.copy()
        expected[key] = x
        broken = _nm_violation(expected, n, m)
        if broken is not None:
            r, g, counts = broken
            with pytest.raises(ValueError, match=rf"in row {r}, columns {g * m}\.\..*"
                                                 rf"\(group {g}\), breaking the {n}:{m} rule"):
                A[key] = x
            np.testing.assert_array_equal(A.toarray(), D)
            continue
        A[key] = x
        D = expected
        np.testing.assert_array_equal(A.toarray(), D)
        ref = spla.nm_array(D, n=n, m=m)
        np.testing.assert_array_equal(A.values, ref.values)
        np.testing.assert_array_equal(A.positions, ref.positions)
        np.testing.assert_array_equal(A.packed_positions, ref.packed_positions)
        assert A.dtype == np.dtype(dtype)


def test_nm_write_of_nothing_keeps_the_storage():
    A = spla.nm_array(np.array([[1.0, 0, 0, 2]]))
    values, packed = assign_mod.nm_write(A.values, A.packed_positions, 2, 4, A.shape, [])
    assert values is A.values and packed is A.packed_positions
    A[0, []] = 5.0
    np.testing.assert_array_equal(A.toarray(), [[1.0, 0, 0, 2]])


def test_nm_write_counts_nan_as_a_non_zero():
    A = spla.nm_array(np.array([[1.0, 0, 0, 2]]))
    with pytest.raises(ValueError, match="3 non-zeros in row 0, columns 0..3"):
        A[0, 1] = np.nan


@SETTINGS
@given(data=st.data(), dtype=st.sampled_from([np.float64, np.int64, np.complex128]),
       R=st.integers(1, 6), C=st.integers(1, 6))
def test_banded_writes_inside_the_band_or_name_the_entry(data, dtype, R, C):
    """Random write sequences into banded arrays: inside the band (and zeros outside)
    the result is NumPy's, still banded with the same offsets; a non-zero outside
    raises ``ValueError`` naming the entry and its diagonal, and changes nothing. The
    last write to a repeated target wins (one scatter of deduplicated targets, the
    same on NumPy and CuPy storage)."""
    offsets = sorted(data.draw(st.lists(st.integers(-R + 1, C - 1), min_size=1, max_size=3,
                                        unique=True)))
    D = np.zeros((R, C), dtype=dtype)
    for k in offsets:
        i = np.arange(max(0, -k), min(R, C - k))
        D[i, i + k] = np.array(data.draw(st.lists(st.integers(0, 4), min_size=i.size,
                                                  max_size=i.size)), dtype=dtype)
    A = spla.banded_array(D, offsets=offsets)
    inside = np.zeros((R, C), dtype=bool)
    for k in offsets:
        i = np.arange(max(0, -k), min(R, C - k))
        inside[i, i + k] = True
    for _ in range(data.draw(st.integers(1, 3))):
        key = data.draw(_write_key(A.shape))
        try:
            target = D[key]
        except IndexError:
            with pytest.raises(IndexError):
                A[key] = 1
            continue
        x = _write_value(data.draw, np.shape(target), dtype)
        expected = D.copy()
        expected[key] = x
        if (expected[~inside] != 0).any():
            with pytest.raises(ValueError, match=r"outside the band"):
                A[key] = x
            np.testing.assert_array_equal(A.toarray(), D)
            continue
        A[key] = x
        D = expected
        np.testing.assert_array_equal(A.toarray(), D)
        assert A.offsets.tolist() == offsets and A.dtype == np.dtype(dtype)


class _FakeCupy:
    """Stands in for a CuPy array (its module is cupy's; ``get()`` copies to the host)."""

    __module__ = "cupy._core.core"

    def __init__(self, a):
        self._a = np.asarray(a)
        self.shape = self._a.shape

    def get(self):
        return self._a


@pytest.mark.parametrize("fmt", [spla.csr_array, spla.csc_array, spla.coo_array,
                                 spla.banded_array, spla.nm_array])
def test_gpu_values_into_a_cpu_array_raise_type_error(fmt):
    A = fmt(np.eye(4))
    with pytest.raises(TypeError, match=r"x\.get\(\)"):
        A[0, 0] = _FakeCupy(3.0)
    with pytest.raises(TypeError, match=r"x\.get\(\)"):
        A[[0, 1], [0, 1]] = _FakeCupy([3.0, 4.0])
    np.testing.assert_array_equal(A.toarray(), np.eye(4))


def test_gpu_values_for_a_gpu_array_come_to_the_host():
    x = _FakeCupy([[1.0, 2.0]])
    np.testing.assert_array_equal(assign_mod.host_values(x, "cuda"), [[1.0, 2.0]])
    assert assign_mod.host_values([1, 2], "cpu") == [1, 2]


@pytest.mark.parametrize("fmt", [spla.csr_array, spla.csc_array, spla.coo_array])
def test_gpu_index_arrays_on_a_cpu_array_raise_type_error(fmt):
    from spla._indexing.keys import host_key

    A = fmt(np.eye(4))
    with pytest.raises(TypeError, match=r"idx\.get\(\)"):
        A[_FakeCupy([0, 2])]
    with pytest.raises(TypeError, match=r"idx\.get\(\)"):
        A[_FakeCupy([0, 2]), 1] = 5.0
    key = host_key((_FakeCupy([0, 2]), slice(None), _FakeCupy([True])), "cuda")
    assert type(key[0]) is np.ndarray and key[0].tolist() == [0, 2]
    assert key[1] == slice(None) and key[2].tolist() == [True]
    assert host_key(3, "cuda") == 3
