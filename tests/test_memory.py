"""The CPU backend's memory helpers: outputs, line-aligned gathered operands."""

import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import spla
from spla._backends.cpu import memory


def test_lines_per_row():
    # 16 float64 = 128 bytes: two lines from a line boundary, three from 16 bytes in.
    assert memory._lines_per_row(0, 128) == 2
    assert memory._lines_per_row(16, 128) == 3
    assert memory._lines_per_row(16, 64) == 2
    assert memory._lines_per_row(16, 32) == 1.5
    assert memory._lines_per_row(0, 0) == 0


@given(st.integers(0, 63), st.integers(1, 300))
def test_lines_per_row_counts_every_row(offset, row_bytes):
    starts = offset + row_bytes * np.arange(64 * 64)
    lines = (starts + row_bytes - 1) // 64 - starts // 64 + 1
    assert memory._lines_per_row(offset, row_bytes) == pytest.approx(lines.mean())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["C", "F", "strided", "int64"])
@pytest.mark.parametrize("k", [1, 7, 16, 33])
def test_gathered_rows(dtype, layout, k):
    rng = np.random.default_rng(k)
    X = rng.standard_normal((50, 2 * k))
    X = {"C": np.ascontiguousarray(X[:, :k]), "F": np.asfortranarray(X[:, :k]),
         "strided": X[:, ::2], "int64": (100 * X[:, :k]).astype(np.int64)}[layout]
    with memory.gathered_rows(X, dtype) as G:
        assert G.dtype == dtype and G.flags.c_contiguous
        assert G.shape == (50, memory.padded_width(k, np.dtype(dtype).itemsize))
        assert G.ctypes.data % memory.LINE == 0
        assert (G.strides[0] % memory.LINE) == 0
        np.testing.assert_array_equal(G[:, :k], X.astype(dtype))


def test_gathered_rows_of_concurrent_calls_do_not_share():
    """A call that finds the kept buffer in use gets a buffer of its own."""
    X = np.arange(64.0).reshape(8, 8)
    inner = []
    with memory.gathered_rows(X, np.float64) as G1:
        t = threading.Thread(target=lambda: inner.append(_copy_in_thread(2 * X)))
        t.start()
        t.join()
        np.testing.assert_array_equal(G1[:, :8], X)
    np.testing.assert_array_equal(inner[0], 2 * X)


def _copy_in_thread(X):
    with memory.gathered_rows(X, np.float64) as G:
        return G[:, :8].copy()


def test_saves_lines():
    X = np.empty((1000, 16))  # rows of 128 bytes
    offset = X.ctypes.data % 64
    assert memory.saves_lines(X, 8) == (offset not in (0,))


def test_free_workspace_and_empty_output():
    with memory.gathered_rows(np.ones((4, 4)), np.float64):
        pass
    spla.free_workspace()
    assert memory._kept is None
    Y = memory.empty_output((3000, 1000), np.float64)  # 24 MB: pages touched
    assert Y.shape == (3000, 1000) and Y.dtype == np.float64 and Y.flags.c_contiguous
    assert memory.empty_output((0, 5), np.float32).shape == (0, 5)


def test_zeroed_output_is_zero_after_the_touch():
    Z = memory.empty_output((3000, 1000), np.float32, zero=True)  # 12 MB: pages touched
    assert Z.dtype == np.float32 and not Z.any()
    assert not memory.empty_output((7, 3), np.float64, zero=True).any()


# -- the pool of reused outputs (pooled_empty) ------------------------------------------------


@pytest.fixture
def small_pool(monkeypatch):
    """A pool that takes outputs from 64 KiB on (quick tests), emptied before and after."""
    monkeypatch.setattr(memory, "POOL_MIN_BYTES", 1 << 16)
    memory.free_workspace()
    yield
    memory.free_workspace()


def test_pooled_empty_reuses_a_dropped_buffer(small_pool):
    a = memory.pooled_empty(1 << 15, np.float64)
    assert a.shape == (1 << 15,) and a.dtype == np.float64 and a.flags.c_contiguous
    address = a.ctypes.data
    view = a[10:20]
    del a
    assert memory._pool == []  # a view still holds the buffer
    del view
    assert len(memory._pool) == 1
    b = memory.pooled_empty(1 << 15, np.int64)  # same bytes, other dtype
    assert b.ctypes.data == address and memory._pool == []
    c = memory.pooled_empty(1 << 15, np.int64)  # the buffer is in use: a fresh one
    assert not np.shares_memory(b, c)


def test_pooled_empty_sizes_and_limits(small_pool, monkeypatch):
    a = memory.pooled_empty(3 << 20, np.uint8)  # 3 MiB, in a buffer of whole 2 MiB units
    assert a.base.base.__array_interface__["shape"] == (4 << 20,)
    del a
    small = memory.pooled_empty(1 << 16, np.uint8)  # far smaller: not given the 4 MiB
    assert len(memory._pool) == 1
    again = memory.pooled_empty(7 << 19, np.uint8)  # 3.5 MiB: takes it
    assert len(memory._pool) == 0
    del again
    tiny = memory.pooled_empty(100, np.float64)  # under POOL_MIN_BYTES: plain NumPy
    assert tiny.base is None
    del small, tiny
    memory.free_workspace()
    monkeypatch.setattr(memory, "POOL_KEEP_BYTES", 3 << 20)  # room for one more 2 MiB
    x, y = memory.pooled_empty(1 << 20, np.uint8), memory.pooled_empty(1 << 20, np.uint8)
    assert len(memory._pool) == 0
    del x, y  # one is kept (2 + 2 <= 3 MiB fails for the second)
    assert len(memory._pool) == 1
    memory.free_workspace()
    assert memory._pool == []
    monkeypatch.setattr(memory, "POOL_KEEP_BYTES", 0)  # no pool: plain NumPy arrays
    assert memory.pooled_empty(1 << 20, np.uint8).base is None


def test_value_maps_and_copies_from_the_pool_never_alias(small_pool):
    """Live results of abs, power, tocoo and copies hold distinct memory, also when
    their buffers come from results dropped before, and keep their values."""
    import scipy.sparse as sp

    rng = np.random.default_rng(0)
    m, nnz = 20_000, 200_000
    rows = np.sort(rng.integers(0, m, nnz))
    vals, cols = rng.random(nnz) - 0.5, rng.integers(0, m, nnz)
    A = spla.csr_array((vals, (rows, cols)), shape=(m, m))
    # SciPy's array as the reference, compared entry by entry without densifying: a
    # dense 20,000 x 20,000 reference takes 3.2 GB a copy (three at once, 117 s in CI)
    ref = sp.csr_array((vals, (rows, cols)), shape=(m, m))

    def assert_same_entries(X, want):
        got = X.to_scipy()
        assert got.shape == want.shape
        assert (got != want).nnz == 0  # exact, explicit zeros equal to absent ones

    for _ in range(3):
        B, C, D = abs(A), A.power(2), A.tocoo()
        arrays = [B.data, B.indices, C.data, C.indices, D.coords[0], A.data, A.indices]
        for i, x in enumerate(arrays):
            for y in arrays[i + 1:]:
                assert not np.shares_memory(x, y)
        assert_same_entries(B, abs(ref))
        assert_same_entries(C, ref.power(2))
        assert_same_entries(D, ref)
        del B, C, D
    assert memory._pool  # the dropped results' buffers came back


def test_coo_to_csr_outputs_from_the_pool_never_alias(small_pool, monkeypatch):
    """COO -> CSR through the buckets with pooled outputs: live results hold
    distinct memory and SciPy's canonical arrays, call after call."""
    import scipy.sparse as sp

    from spla._backends.cpu import convert

    monkeypatch.setattr(convert, "BUCKET_MIN_NNZ", 1000)
    rng = np.random.default_rng(2)
    m, nnz = 30_000, 300_000
    rows, cols = rng.integers(0, m, nnz), rng.integers(0, m, nnz)
    data = rng.integers(-3, 4, nnz).astype(np.float64)
    S = sp.coo_array((data, (rows, cols)), shape=(m, m)).tocsr()
    kept = []
    for _ in range(3):
        A = spla.csr_array((data, (rows, cols)), shape=(m, m))
        for B in kept:
            assert not np.shares_memory(A.data, B.data)
            assert not np.shares_memory(A.indices, B.indices)
        kept.append(A)
        np.testing.assert_array_equal(A.indptr, S.indptr)
        np.testing.assert_array_equal(A.indices, S.indices)
        np.testing.assert_array_equal(A.data, S.data)
        spla.csr_array((data, (rows, cols)), shape=(m, m))  # dropped at once: back to the pool
