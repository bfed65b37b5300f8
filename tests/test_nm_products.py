"""nm_array products (SpMV, SpMM, transposed) against the dense float64 reference."""

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import spla
from spla._backends.cpu import nm as backend
from spla._kernels import nm as K
from spla._kernels import simd
from spla.testing._strategies_nm import nm_arrays

from _util import assert_product

# A quarter of the profile's examples (ci: 75, thorough: 750): each example runs
# several products, and the suite must stay within a few minutes.
CHEAP = settings(max_examples=max(20, settings.default.max_examples // 4))

OPERAND_DTYPES = st.sampled_from([np.float64, np.float32, np.float16, np.int64, np.complex64])
ELEMENTS = st.integers(-16, 16).map(lambda v: v / 4.0)


def _refs(A):
    D = A.toarray().astype(np.float64)
    return D, np.abs(D), max(1, A.values.shape[1])


def _operand(draw, shape, dtype):
    X = draw(hnp.arrays(np.float64, shape, elements=ELEMENTS))
    if np.dtype(dtype).kind == "c":
        X = X + 0.5j * draw(hnp.arrays(np.float64, shape, elements=ELEMENTS))
    return X.astype(dtype)


@CHEAP
@given(nm_arrays(), OPERAND_DTYPES, st.data())
def test_spmv(A, dtype, data):
    D, Dabs, nterms = _refs(A)
    x = _operand(data.draw, A.shape[1], dtype)
    y = A @ x
    assert y.shape == (A.shape[0],)
    assert y.dtype == spla._dtypes.result_dtype(A.dtype, x.dtype)
    assert_product(y, D, Dabs, x, nterms, "nm @ x")
    np.testing.assert_array_equal(A @ x, y)  # the same bits every call


#: The CPU code paths: the AVX-512 and the AVX2 kernels (each where this CPU has
#: the instructions; an AVX-512 CPU runs both) and the portable ones, which
#: every CPU runs otherwise.
SIMD_PATHS = [
    pytest.param("avx512", id="avx512",
                 marks=pytest.mark.skipif(not simd.HAVE_AVX512, reason="no AVX-512F here")),
    pytest.param("avx2", id="avx2",
                 marks=pytest.mark.skipif(not simd.HAVE_AVX2, reason="no AVX2 here")),
    pytest.param(None, id="portable"),
]


class _simd_path:
    """Context manager: products use the SIMD kernels of ``isa`` ("avx512",
    "avx2") or the portable ones (None)."""

    def __init__(self, isa):
        self.isa = isa

    def __enter__(self):
        self.saved = backend._SIMD
        backend._SIMD = self.isa

    def __exit__(self, *exc):
        backend._SIMD = self.saved


#: 2:4 and 1:4 arrays wide enough for several 16-slot chunks (and the unrolled
#: blocks of four) plus a tail, of every column count modulo 32.
WIDE_M4 = nm_arrays(n=st.sampled_from([2, 1, 3]), m=4,
                    shape=st.tuples(st.integers(0, 7), st.integers(0, 300)))


@st.composite
def _shuffled_positions(draw, A):
    """The same matrix as ``A`` from raw input that lists each group's slots in a
    drawn order (raw input need not be canonical)."""
    R, S = A.values.shape
    if A.nnz == 0:
        return A
    n = A.n
    perm = draw(st.permutations(range(n)))
    order = (np.arange(S) // n) * n + np.array(perm)[np.arange(S) % n]
    return spla.nm_array((A.values[:, order], A.positions[:, order]), n=n, m=A.m,
                         shape=A.shape)


@pytest.mark.parametrize("isa", SIMD_PATHS)
@CHEAP
@given(WIDE_M4, st.sampled_from([np.float32, np.float16, np.float64]), st.booleans(),
       st.booleans(), st.data())
def test_spmv_wide(isa, A, dtype, shuffle, strided, data):
    if shuffle:
        A = data.draw(_shuffled_positions(A))
    D, Dabs, nterms = _refs(A)
    x = _operand(data.draw, 2 * A.shape[1] if strided else A.shape[1], dtype)
    if strided:
        x = x[::2]
    with _simd_path(isa):
        y = A @ x
        assert y.dtype == spla._dtypes.result_dtype(A.dtype, x.dtype)
        assert_product(y, D, Dabs, x, nterms, "nm @ x")
        np.testing.assert_array_equal(A @ x, y)  # the same bits every call


#: Column counts around the 32-column chunks of the AVX-512 SpMV (16 slots of
#: 2:4) and its unrolled blocks of four chunks (128 columns).
EDGE_COLS = [1, 3, 31, 32, 33, 63, 64, 127, 128, 129, 130, 160, 255, 256, 257, 301]


@pytest.mark.parametrize("isa", SIMD_PATHS)
@pytest.mark.parametrize("n", [2, 1, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.float64])
def test_spmv_chunk_edges(isa, n, dtype):
    rng = np.random.default_rng(n)
    for C in EDGE_COLS:
        A = spla.nm_array(rng.standard_normal((5, C)).astype(dtype), n=n, m=4, prune=True)
        D = A.toarray().astype(np.float64)
        x = rng.standard_normal(C).astype(np.float32)
        with _simd_path(isa):
            y = A @ x
        assert_product(y, D, np.abs(D), x, A.values.shape[1], f"cols={C}")


@pytest.mark.parametrize("isa", SIMD_PATHS)
@pytest.mark.parametrize("n", [2, 1])
def test_spmv_bits_do_not_depend_on_thread_count(isa, n):
    """The AVX2 SpMV sums rows in fixed quads (the R % 4 last rows one by one):
    the same bits with one thread as with all, for row counts of every residue."""
    saved = numba.get_num_threads()
    if saved < 2:
        pytest.skip("needs at least 2 Numba threads")
    rng = np.random.default_rng(7 + n)
    for R in (1, 3, 4, 6, 61):
        A = spla.nm_array(rng.standard_normal((R, 333)).astype(np.float32), n=n, m=4,
                          prune=True)
        x = rng.standard_normal(333).astype(np.float32)
        with _simd_path(isa):
            try:
                numba.set_num_threads(1)
                one = A @ x
            finally:
                numba.set_num_threads(saved)
            many = A @ x
        np.testing.assert_array_equal(one, many, err_msg=f"R={R}")
        D = A.toarray().astype(np.float64)
        assert_product(many, D, np.abs(D), x, A.values.shape[1], f"R={R}")


#: Operand widths around the SpMM vector widths (16 floats) and column tiles
#: of the AVX-512 kernel (64 and 128 columns).
EDGE_K = [2, 5, 16, 17, 33, 48, 63, 64, 65, 80, 127, 128, 129, 192, 257]


@pytest.mark.parametrize("isa", SIMD_PATHS)
@pytest.mark.parametrize("n, m", [(2, 4), (1, 4), (3, 4), (2, 8), (1, 2), (5, 16)])
def test_spmm_tile_edges(isa, n, m):
    rng = np.random.default_rng(10 * n + m)
    R, C = 37, 203  # C not a multiple of m
    A = spla.nm_array(rng.standard_normal((R, C)).astype(np.float32), n=n, m=m, prune=True)
    D = A.toarray().astype(np.float64)
    for k in EDGE_K:
        X = rng.standard_normal((C, k)).astype(np.float32)
        with _simd_path(isa):
            Y = A @ X
            np.testing.assert_array_equal(A @ X, Y)
        assert Y.dtype == np.float32 and Y.flags.c_contiguous
        assert_product(Y, D, np.abs(D), X, A.values.shape[1], f"k={k}")


@pytest.mark.parametrize("isa", SIMD_PATHS[:2])
@pytest.mark.parametrize("n, m", [(2, 4), (1, 4), (3, 8)])
def test_spmm_simd_any_blocking(isa, n, m):
    """The SIMD SpMM kernels with small, odd blockings (partial row blocks, slot
    blocks that end inside a 16-slot chunk, tiles of every width)."""
    rng = np.random.default_rng(n + m)
    R, C, Kc = 23, 150, 150
    A = spla.nm_array(rng.standard_normal((R, C)).astype(np.float32), n=n, m=m, prune=True)
    X = rng.standard_normal((C, Kc)).astype(np.float32)
    ref = A.toarray().astype(np.float64) @ X.astype(np.float64)
    base = A._slot_bases().astype(np.int32)
    kernel = backend._SPMM_SIMD[isa]
    for row_block, k_tile, slot_block in [(1, 16, 16), (5, 128, 32), (23, 64, 48),
                                          (7, 37, 4096), (4, 150, 16), (3, 9, 32)]:
        if k_tile > backend._SIMD_K_TILE[isa]:
            continue
        Xp = backend._packed_operand(A, X, k_tile)
        Y = np.zeros((R, Kc), np.float32)
        kernel(A.values, A.packed_positions, 2 if m == 4 else 8, m, base, Xp, Y,
                          row_block, k_tile, slot_block)
        np.testing.assert_allclose(Y, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


@pytest.mark.parametrize("isa", SIMD_PATHS)
@CHEAP
@given(WIDE_M4, st.sampled_from([np.float32, np.float16]), st.integers(2, 140),
       st.sampled_from(["C", "F", "strided"]), st.data())
def test_spmm_wide(isa, A, dtype, k, layout, data):
    D, Dabs, nterms = _refs(A)
    X = _operand(data.draw, (A.shape[1], 2 * k if layout == "strided" else k), dtype)
    if layout == "F":
        X = np.asfortranarray(X)
    elif layout == "strided":
        X = X[:, ::2]
    with _simd_path(isa):
        Y = A @ X
    assert Y.shape == (A.shape[0], k)
    assert_product(Y, D, Dabs, X, nterms, "nm @ X")


@CHEAP
@given(nm_arrays(), OPERAND_DTYPES, st.integers(0, 20), st.sampled_from(["C", "F", "strided"]),
       st.data())
def test_spmm(A, dtype, k, layout, data):
    D, Dabs, nterms = _refs(A)
    X = _operand(data.draw, (A.shape[1], 2 * k if layout == "strided" else k), dtype)
    if layout == "F":
        X = np.asfortranarray(X)
    elif layout == "strided":
        X = X[:, ::2]
    Y = A @ X
    assert Y.shape == (A.shape[0], k)
    assert_product(Y, D, Dabs, X, nterms, "nm @ X")


@CHEAP
@given(nm_arrays(max_side=6), st.integers(1, 3), st.data())
def test_stacked_and_transposed(A, k, data):
    D, Dabs, nterms = _refs(A)
    R, C = A.shape
    if C > 0:  # SparseArray.__matmul__ cannot reshape a stack with 0 inner rows (_base.py)
        S = _operand(data.draw, (2, C, k), np.float64)
        Y = A @ S
        assert Y.shape == (2, R, k)
        for i in range(2):
            assert_product(Y[i], D, Dabs, S[i], nterms, "nm @ stack")
    x = _operand(data.draw, R, np.float64)
    assert_product(x @ A, D.T, Dabs.T, x, max(1, R), "x @ nm")
    assert_product(A.T @ x, D.T, Dabs.T, x, max(1, R), "nm.T @ x")
    Xl = _operand(data.draw, (k, R), np.float64)
    assert_product((Xl @ A).T, D.T, Dabs.T, Xl.T, max(1, R), "X @ nm")


@pytest.mark.parametrize("n, m", [(2, 4), (1, 4), (3, 4), (2, 8), (4, 8), (1, 2), (5, 16)])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_larger_products_use_every_tile(n, m, dtype):
    rng = np.random.default_rng(n * 100 + m)
    R, C = 70, 301  # C not a multiple of m: padding in every row
    A = spla.nm_array(rng.standard_normal((R, C)).astype(dtype), n=n, m=m, prune=True)
    D = A.toarray().astype(np.float64)
    nterms = A.values.shape[1]
    x = rng.standard_normal(C)
    assert_product(A @ x.astype(np.float32), D, np.abs(D), x.astype(np.float32), nterms)
    for k in (1, 2, 7, 300):  # 300 > the 256-wide column tile: two tiles, one partial
        X = rng.standard_normal((C, k)).astype(np.float32)
        Y = A @ X
        assert Y.dtype == (np.float64 if dtype == np.float64 else np.float32)
        assert_product(Y, D, np.abs(D), X, nterms, f"k={k}")
        np.testing.assert_array_equal(A @ X, Y)
    # SpMM is the same sum whatever the blocking: small, odd tiles agree with the default.
    X = rng.standard_normal((C, 37))
    Xp = np.zeros((A.values.shape[1] // n * m, 37))
    Xp[:C] = X
    vals = A.values.astype(np.float64)
    ref = A @ X
    for row_block, k_tile, slot_block in [(1, 1, 4), (3, 5, 8), (70, 37, 4096), (64, 16, 12)]:
        Y = np.zeros((R, 37))
        K.spmm(vals, A.packed_positions, 2 if m == 4 else 8, A._slot_bases(), Xp, Y,
               row_block, k_tile, slot_block)
        np.testing.assert_allclose(Y, ref, rtol=1e-12, atol=1e-12)


def test_blocking_parameters():
    rb, kt, sb = backend.spmm_blocking(4096, 4096, 4, 2, 4, threads=2)
    assert (rb, kt, sb) == (64, 256, 128)  # 128 slots: 256 columns x 256 x 4 B = 256 KiB
    rb, kt, sb = backend.spmm_blocking(10, 3, 16, 1, 8, threads=8)
    assert rb == 1 and kt == 3 and sb % 4 == 0 and sb >= 4


@pytest.mark.parametrize("isa, widest", [("avx512", 128), ("avx2", 64)])
def test_simd_blocking_parameters(isa, widest):
    for R, Kc, m, n in [(4096, 4096, 4, 2), (4096, 16, 4, 2), (3, 70, 16, 1), (100, 1, 2, 1)]:
        rb, kt, sb = backend.spmm_simd_blocking(R, Kc, m, n, threads=2, isa=isa)
        assert 1 <= rb <= R and 1 <= kt <= min(Kc, widest)
        assert sb >= 16 and sb % 16 == 0
    assert backend.spmm_simd_blocking(4096, 4096, 4, 2, threads=2, isa="avx512") == (256, 128, 32)
    # The task's tile of Y is 128 KiB for either ISA: 256 x 128 or 512 x 64 floats.
    assert backend.spmm_simd_blocking(4096, 4096, 4, 2, threads=2, isa="avx2") == (512, 64, 64)


def _packed_reference(X, k_tile, rows):
    C, Kc = X.shape
    n_kt = -(-Kc // k_tile)
    ld = -(-k_tile // 16) * 16
    out = np.zeros((n_kt, rows, ld), np.float32)
    for t in range(n_kt):
        w = min(Kc, (t + 1) * k_tile) - t * k_tile
        out[t, :C, :w] = X[:, t * k_tile:t * k_tile + w]
    return out


@pytest.mark.parametrize("layout", ["C", "F", "strided"])
def test_pack_column_tiles(layout):
    """The parallel packing of X for the SIMD SpMM: every element, the zero
    padding of short tiles and of the rows past X, any layout of X."""
    rng = np.random.default_rng(3)
    for C, Kc, k_tile, rows in [(5, 3, 64, 8), (37, 150, 64, 40), (37, 150, 128, 37),
                                (1, 1, 16, 4), (0, 5, 64, 0), (0, 5, 64, 4), (9, 64, 64, 9)]:
        X = rng.standard_normal((C, 2 * Kc)).astype(np.float32)
        if layout == "strided":
            X = X[:, ::2]
        elif layout == "F":
            X = np.asfortranarray(X[:, :Kc])
        else:
            X = np.ascontiguousarray(X[:, :Kc])
        ref = _packed_reference(X, k_tile, rows)
        out = np.full(ref.shape, np.nan, np.float32)  # every element must be written
        K.pack_column_tiles(X, k_tile, out)
        np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("isa", SIMD_PATHS[:2])
def test_spmm_with_parallel_packing(isa, monkeypatch):
    """SpMM through the parallel packing of X (used above _SERIAL_PACK_MAX
    elements) equals the dense product."""
    monkeypatch.setattr(backend, "_SERIAL_PACK_MAX", 0)
    rng = np.random.default_rng(4)
    A = spla.nm_array(rng.standard_normal((33, 70)).astype(np.float32), prune=True)
    X = rng.standard_normal((70, 150))
    ref = A.toarray().astype(np.float64) @ X
    for operand in (X.astype(np.float32), np.asfortranarray(X.astype(np.float16))):
        with _simd_path(isa):
            Y = A @ operand
        np.testing.assert_allclose(Y, A.toarray().astype(np.float64) @ operand.astype(np.float64),
                                   rtol=1e-4, atol=1e-4 * np.abs(ref).max())


def test_products_leave_the_array_alone():
    A = spla.nm_array(np.random.default_rng(0).standard_normal((9, 13)), prune=True)
    vals, pos = A.values.copy(), A.packed_positions.copy()
    A @ np.ones(13)
    A @ np.ones((13, 4))
    A @ np.ones(13, dtype=np.float32)
    np.testing.assert_array_equal(A.values, vals)
    np.testing.assert_array_equal(A.packed_positions, pos)


def test_operand_errors():
    A = spla.nm_array(np.eye(8))
    with pytest.raises(ValueError, match="dimension mismatch"):
        A @ np.ones(7)
    with pytest.raises(ValueError, match="dimension mismatch"):
        A @ np.ones((9, 2))
    with pytest.raises(TypeError):
        A @ np.array(["a"] * 8)
    B = A @ spla.csr_array(np.eye(8))  # sparse @ sparse goes through CSR
    np.testing.assert_array_equal(B.toarray(), np.eye(8))


@pytest.mark.parametrize("n", [1, 2])
def test_avx2_gather_order(n):
    """The AVX2 SpMV's layout of x: a permutation of each block of 32 / n columns
    that puts group k in the low half of vector k, group k + 4 / n in its high half."""
    order = simd.avx2_gather_order(n)
    block = 32 // n
    assert sorted(order) == list(range(block))
    per = 4 // n
    for k in range(per):
        vec = order[8 * k:8 * k + 8]
        assert vec[:4] == list(range(4 * k, 4 * k + 4))
        assert vec[4:] == list(range(4 * (k + per), 4 * (k + per) + 4))
    x = np.arange(block * 3 + 5, dtype=np.float32)  # a partial last block stays as it is
    xg = K.avx2_gather(x, n)
    np.testing.assert_array_equal(xg[:3 * block].reshape(3, block),
                                  x[:3 * block].reshape(3, block)[:, order])
    np.testing.assert_array_equal(xg[3 * block:], x[3 * block:])
