"""nm_array: construction, exact round trips, the padding rule, and validation."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import spla
from spla.testing._strategies_nm import nm_arrays, nm_dense_arrays

# A quarter of the profile's examples: these properties build many small arrays and
# the whole suite must stay within a few minutes (ci: 75, thorough: 750).
CHEAP = settings(max_examples=max(20, settings.default.max_examples // 4))


def _groups_of(cols, m):
    return -(-cols // m)


@CHEAP
@given(nm_dense_arrays())
def test_dense_round_trip_is_exact(case):
    D, n, m = case
    A = spla.nm_array(D, n=n, m=m)
    R, C = D.shape
    G = _groups_of(C, m)
    assert (A.n, A.m, A.shape, A.dtype, A.format) == (n, m, D.shape, D.dtype, "nm")
    assert A.values.shape == (R, G * n) and A.nnz == R * G * n
    pos = A.positions
    assert pos.dtype == np.uint8 and pos.shape == A.values.shape
    assert (pos < m).all()
    # Canonical: positions strictly increasing inside every group.
    if pos.size:
        assert (np.diff(pos.reshape(R, G, n).astype(int), axis=-1) > 0).all()
    out = A.toarray()
    assert out.dtype == D.dtype
    np.testing.assert_array_equal(out, D)
    assert A.count_nonzero() == np.count_nonzero(D)
    # Storage size: values plus 2-bit (m = 4) or 8-bit positions.
    pos_bytes = R * (-(-G * n // 4)) if m == 4 else R * G * n
    assert A.packed_positions.nbytes == pos_bytes
    assert A.nbytes == A.values.nbytes + pos_bytes


@CHEAP
@given(nm_arrays())
def test_packed_round_trip_is_exact(A):
    B = spla.nm_array((A.values, A.positions), n=A.n, m=A.m, shape=A.shape)
    np.testing.assert_array_equal(B.values, A.values)
    np.testing.assert_array_equal(B.positions, A.positions)
    np.testing.assert_array_equal(B.packed_positions, A.packed_positions)
    assert B.dtype == A.dtype


@CHEAP
@given(nm_arrays(), st.randoms(use_true_random=False))
def test_unsorted_positions_in_a_group_are_accepted(A, rnd):
    R, S = A.values.shape
    perm = np.arange(S).reshape(-1, A.n) if S else np.zeros((0, A.n), int)
    for g in perm:
        rnd.shuffle(g)
    perm = perm.ravel()
    B = spla.nm_array((A.values[:, perm], A.positions[:, perm]), n=A.n, m=A.m, shape=A.shape)
    np.testing.assert_array_equal(B.toarray(), A.toarray())
    # Re-packing from dense gives the canonical (sorted) storage back.
    C = spla.nm_array(B.toarray(), n=A.n, m=A.m)
    np.testing.assert_array_equal(C.positions, A.positions)


@CHEAP
@given(nm_arrays())
def test_conversions(A):
    D = A.toarray().astype(np.float64)
    C = A.tocsr()
    assert C.format == "csr" and C.has_canonical_format
    assert C.dtype == (np.float32 if A.dtype == np.float16 else A.dtype)
    assert C.nnz == np.count_nonzero(D)
    np.testing.assert_array_equal(C.toarray(), D)
    np.testing.assert_array_equal(spla.csr_array(A).toarray(), D)
    np.testing.assert_array_equal(A.to_scipy().toarray(), D)
    np.testing.assert_array_equal(A.T.toarray(), D.T)
    np.testing.assert_array_equal(A.tocsc().toarray(), D)
    # Back from CSR, SciPy and another spla array: the same canonical storage.
    for src in (C, A.to_scipy(), sp.coo_array(D)):
        B = spla.nm_array(src, n=A.n, m=A.m, dtype=A.dtype)
        np.testing.assert_array_equal(B.values, A.values)
        np.testing.assert_array_equal(B.positions, A.positions)
    assert A.asformat("nm") is A
    for dt in (np.float16, np.float32, np.float64):
        B = A.astype(dt)
        assert B.dtype == dt
        np.testing.assert_array_equal(B.positions, A.positions)
    assert A.astype(A.dtype, copy=False) is A
    assert A.to_device("cpu") is A
    E = A.copy()
    assert E.values is not A.values
    np.testing.assert_array_equal(E.toarray(), A.toarray())


@CHEAP
@given(nm_arrays(), st.sampled_from([2, -1, 0.5, 3.25, np.float16(2), np.float32(-3),
                                     np.float64(0.1), True]))
def test_scaling_keeps_the_nm_format(A, s):
    """``A * s``, ``s * A``, ``A / s`` and ``-A`` are N:M arrays of NumPy's result
    dtype with the same positions, and equal the dense results; A is untouched."""
    D = A.toarray()
    before = A.values.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        cases = [(A * s, D * s), (s * A, s * D), (A / s, D / s), (-A, -D)]
    for B, ref in cases:
        assert B.format == "nm" and (B.n, B.m, B.shape) == (A.n, A.m, A.shape)
        assert B.dtype == ref.dtype
        np.testing.assert_array_equal(B.positions, A.positions)
        assert B.packed_positions is not A.packed_positions
        np.testing.assert_array_equal(B.toarray(), ref)
    np.testing.assert_array_equal(A.values, before)


def test_complex_scaling_gives_csr():
    A = spla.nm_array(np.arange(8.0).reshape(2, 4) - 3, prune=True)
    B = A * 1j
    assert B.format == "csr" and B.dtype == np.complex128
    np.testing.assert_array_equal(B.toarray(), A.toarray() * 1j)


def test_examples():
    W = np.array([[1.0, 0.0, 0.0, 2.0, 0.0, 3.0, 0.0, 0.0]])
    A = spla.nm_array(W)
    np.testing.assert_array_equal(A.values, [[1.0, 2.0, 0.0, 3.0]])
    np.testing.assert_array_equal(A.positions, [[0, 3, 0, 1]])
    # 2-bit fields: slot s in bits 2 (s % 4) of the byte.
    assert A.packed_positions.tolist() == [[0 | 3 << 2 | 0 << 4 | 1 << 6]]
    assert "2:4" in repr(A)
    assert spla.csr_array(A).nnz == 3
    assert spla.csr_array(np.eye(4)).asformat("nm").n == 2


def test_padding_rule():
    # 6 columns, 2:4: groups [0..3] and [4, 5] + 2 zero padding columns.
    W = np.array([[1.0, 0.0, 2.0, 0.0, 0.0, 5.0]])
    A = spla.nm_array(W)
    np.testing.assert_array_equal(A.values, [[1.0, 2.0, 0.0, 5.0]])
    np.testing.assert_array_equal(A.positions, [[0, 2, 0, 1]])
    # 5 columns, 3:4: the last group has one real column; fill-in slots point into
    # the padding with value 0.
    A = spla.nm_array(np.array([[1.0, 2.0, 3.0, 0.0, 7.0]]), n=3, m=4)
    np.testing.assert_array_equal(A.values, [[1.0, 2.0, 3.0, 7.0, 0.0, 0.0]])
    np.testing.assert_array_equal(A.positions, [[0, 1, 2, 0, 1, 2]])
    np.testing.assert_array_equal(A.toarray(), [[1.0, 2.0, 3.0, 0.0, 7.0]])
    np.testing.assert_array_equal(A @ np.ones(5), [13.0])
    # Raw storage pointing into the padding with a non-zero value is rejected.
    with pytest.raises(ValueError, match="padding"):
        spla.nm_array((np.array([[1.0, 2.0, 3.0, 7.0, 1.0, 0.0]]), A.positions), n=3, m=4,
                      shape=(1, 5))


def test_not_nm_names_row_and_group():
    W = np.zeros((3, 8))
    W[2, 4:7] = 1.0
    with pytest.raises(ValueError, match=r"row 2, group 1 \(columns 4 to 7\) has 3 non-zeros"):
        spla.nm_array(W)
    with pytest.raises(ValueError, match="row 2, group 1"):
        spla.nm_array(sp.csr_array(W))
    A = spla.nm_array(W, prune=True)
    np.testing.assert_array_equal(A.toarray(), spla.prune_nm(W))
    with pytest.raises(ValueError, match="row 0, group 0"):
        spla.nm_array(np.ones((1, 4)), n=1, m=4)


@pytest.mark.parametrize("values, positions, shape, match", [
    (np.ones((1, 2)), np.array([[0, 4]]), (1, 4), r"position 4 of row 0, slot 1.*\[0, 4\)"),
    (np.ones((1, 2)), np.array([[0, -1]]), (1, 4), "out of range"),
    (np.ones((2, 4)), np.array([[0, 1, 2, 3], [1, 3, 2, 2]]), (2, 8),
     r"row 1, group 1 \(columns 4 to 7\) repeats a position"),
    (np.ones((1, 3)), np.array([[0, 1, 2]]), (1, 4), r"values has shape \(1, 3\), expected \(1, 2\)"),
    (np.ones((1, 2)), np.array([[0, 1, 2]]), (1, 4), "positions has shape"),
    (np.ones(2), np.array([0, 1]), (1, 4), "values has shape"),
    (np.ones((2, 2)), np.array([[0, 1], [0, 1]]), (1, 4), "values has shape"),
])
def test_malformed_packed_input_raises(values, positions, shape, match):
    with pytest.raises(ValueError, match=match):
        spla.nm_array((values, positions), shape=shape)


def test_malformed_types_raise():
    with pytest.raises(TypeError, match="positions must hold integers"):
        spla.nm_array((np.ones((1, 2)), np.array([[0.0, 1.0]])), shape=(1, 4))
    with pytest.raises(TypeError, match="complex128"):
        spla.nm_array(np.ones((2, 4), dtype=complex), prune=True)
    with pytest.raises(TypeError, match="int32"):
        spla.nm_array(np.eye(4), dtype=np.int32)
    with pytest.raises(TypeError):
        spla.nm_array(np.array([[object()]]))
    with pytest.raises(ValueError, match="needs shape"):
        spla.nm_array((np.ones((1, 2)), np.array([[0, 1]])))
    with pytest.raises(ValueError, match="pair"):
        spla.nm_array((np.ones((1, 2)), np.array([[0, 1]]), 3), shape=(1, 4))
    with pytest.raises(ValueError, match="2-D"):
        spla.nm_array(np.ones(4))
    with pytest.raises(ValueError, match="1 <= n < m <= 16"):
        spla.nm_array(np.eye(4), n=4, m=4)
    with pytest.raises(ValueError, match="does not match"):
        spla.nm_array(np.eye(4), shape=(4, 5))


def test_integer_and_bool_input_become_float64():
    A = spla.nm_array(np.array([[1, 0, 0, 2]]))
    assert A.dtype == np.float64
    assert spla.nm_array(np.eye(4, dtype=bool)).dtype == np.float64


def test_nan_counts_as_non_zero():
    with pytest.raises(ValueError, match="non-zeros"):
        spla.nm_array(np.array([[np.nan, np.nan, 1.0, 0.0]]))
    A = spla.nm_array(np.array([[np.nan, 0.0, 1.0, 0.0]]))
    np.testing.assert_array_equal(A.toarray(), [[np.nan, 0.0, 1.0, 0.0]])


def test_empty_shapes():
    for shape in [(0, 0), (0, 5), (3, 0)]:
        A = spla.nm_array(np.zeros(shape))
        assert A.shape == shape and A.toarray().shape == shape
        assert (A @ np.ones(shape[1])).shape == (shape[0],)
        assert (A @ np.ones((shape[1], 3))).shape == (shape[0], 3)
        assert A.tocsr().nnz == 0


def test_raw_positions_are_copied():
    # The kernels index with the positions: changing the caller's array afterwards
    # must not reach the validated storage.
    for m in (4, 8):
        pos = np.array([[0, 1]], dtype=np.uint8)
        A = spla.nm_array((np.ones((1, 2)), pos), n=2, m=m, shape=(1, m))
        pos[0, 1] = 200
        np.testing.assert_array_equal(A.positions, [[0, 1]])
        np.testing.assert_array_equal(A @ np.ones(m), [2.0])


def test_from_nm_array_other_pattern_and_dtype():
    A = spla.nm_array(np.array([[1.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 3.0]]))
    # Another pattern re-packs (and re-checks) through the dense matrix: 3 in 8.
    with pytest.raises(ValueError, match="row 0, group 0"):
        spla.nm_array(A, n=2, m=8)
    B = spla.nm_array(A, n=1, m=2, dtype=np.float32)
    assert (B.n, B.m, B.dtype) == (1, 2, np.float32)
    np.testing.assert_array_equal(B.toarray(), A.toarray())
    C = spla.nm_array(A, copy=True)
    assert C.values is not A.values
    assert spla.nm_array(A).values is A.values
    with pytest.raises(ValueError, match="does not match"):
        spla.nm_array(A, shape=(2, 8))
