"""The general formulas of the notes that docs/theory.md lists and no other test file
checks: sparsity ratio, CSR storage, SpMV work and its ideal speedup, N:M storage and
work, sliding-window attention's work and n/w, linear attention's memory."""

import tracemalloc

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import spla
from spla import attention
from spla.testing import strategies as sst

from _util import ref_dense, scaled_examples


@given(sst.csr_arrays())
def test_sparsity_ratio(A):
    """s = 1 - nnz / (m n), for the sparse array and for its dense matrix."""
    m, n = A.shape
    if m * n == 0:
        assert np.isnan(spla.sparsity(A))
        return
    assert spla.sparsity(A) == 1 - A.nnz / (m * n)
    D = ref_dense(A)
    assert spla.sparsity(D) == 1 - np.count_nonzero(D) / (m * n)


@given(sst.csr_arrays())
def test_csr_storage_is_nnz_plus_n(A):
    """CSR memory: nnz values and nnz column indices plus m + 1 row pointers:
    O(nnz + m), against m n values dense."""
    m, _ = A.shape
    v = np.dtype(A.dtype).itemsize
    i = np.dtype(A.indices.dtype).itemsize
    assert A.nbytes == A.nnz * (v + i) + (m + 1) * i


def _counted_spmv(A, x):
    """Reference SpMV that counts its floating-point operations."""
    D = A.tocsr()
    y = np.zeros(A.shape[0], dtype=np.result_type(A.dtype, x.dtype))
    flops = 0
    for r in range(A.shape[0]):
        for p in range(D.indptr[r], D.indptr[r + 1]):
            y[r] += D.data[p] * x[D.indices[p]]
            flops += 2  # one multiply, one add
    return y, flops


@scaled_examples(0.3)
@given(sst.csr_arrays(dtype="float64"), st.integers(0, 2**32 - 1))
def test_spmv_flops_and_ideal_speedup(A, seed):
    """SpMV costs 2 nnz FLOPs against 2 m n dense: ideal speedup m n / nnz = 1 / (1 - s)."""
    m, n = A.shape
    x = np.random.default_rng(seed).standard_normal(n)
    y, flops = _counted_spmv(A, x)
    assert flops == 2 * A.nnz
    np.testing.assert_allclose(A @ x, y, rtol=1e-12, atol=1e-12)
    if A.nnz and m * n:
        assert (2 * m * n) / flops == (m * n) / A.nnz
        np.testing.assert_allclose((m * n) / A.nnz, 1 / (1 - spla.sparsity(A)), rtol=1e-12)


def test_two_four_halves_work_and_storage():
    """2:4 keeps exactly half the weights (half the multiply-adds: the 2x of sparse
    tensor cores) and stores values plus a 2-bit position per kept value."""
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        W = rng.standard_normal((64, 128)).astype(dtype)
        A = spla.nm_array(W, n=2, m=4, prune=True)
        assert A.nnz == W.size // 2
        assert spla.csr_array(A).nnz == W.size // 2
        assert A.nbytes == A.nnz * np.dtype(dtype).itemsize + A.nnz * 2 // 8
        assert A.nbytes / W.nbytes == 0.5 + 1 / (8 * np.dtype(dtype).itemsize)


@given(st.integers(1, 300), st.integers(0, 64))
def test_local_attention_connections_and_ideal_speedup(n, w):
    """Sliding window of width w: c = 2 floor(w/2) + 1 keys per query away from the
    ends, nnz = n c - h (h + 1) in all, so the work is O(n w d) against O(n^2 d)
    and the ideal speedup n^2 / nnz tends to n / (w + 1) (n / w for large w)."""
    P = attention.local_pattern(n, w)
    h = min(w // 2, n - 1)
    c = 2 * h + 1
    assert spla.csr_array(P).nnz == n * c - h * (h + 1)
    if n >= 4 * (c + 1):  # ends matter less than a quarter
        ratio = n * n / spla.csr_array(P).nnz
        assert n / c <= ratio <= 4 / 3 * n / c


def test_linear_attention_memory_is_linear_in_n():
    """Linear attention never forms an n x n array: its peak memory at n = 4096 is a
    small fraction of one n x n float64 matrix (128 MiB), and grows linearly in n."""
    rng = np.random.default_rng(0)
    d = 16
    peaks = {}
    for n in (2048, 4096):
        Q, K, V = (rng.standard_normal((n, d)) for _ in range(3))
        attention.linear_attention(Q, K, V)  # warm up
        tracemalloc.start()
        attention.linear_attention(Q, K, V)
        attention.linear_attention(Q, K, V, causal=True)
        peaks[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peaks[4096] < 0.05 * 4096 * 4096 * 8
    assert peaks[4096] < 3 * peaks[2048]
