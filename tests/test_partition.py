"""The merge-path partition and the chunked kernels' carry logic.

Real chunks hold 16384 items, so small property-test matrices would only ever
see one chunk; these tests shrink the chunk size to a few items so that rows are
split over many chunks and every carry path runs.
"""

import contextlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import spla
from spla._kernels import partition

from spla.testing import strategies as sst


@contextlib.contextmanager
def chunk_items(items):
    """Make the product kernels cut their work into chunks of ``items`` items."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(partition, "CHUNK_ITEMS", items)
        yield


def _indptr(lengths):
    return np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


@given(
    lengths=st.lists(st.integers(0, 30), min_size=0, max_size=40),
    n_chunks=st.integers(1, 50),
)
def test_partition_covers_the_merge_path(lengths, n_chunks):
    indptr = _indptr(lengths)
    m = indptr.size - 1
    rows, nzs = partition.merge_path_partition(indptr, n_chunks)
    assert rows[0] == 0 and nzs[0] == 0
    assert rows[-1] == m and nzs[-1] == indptr[-1]
    assert np.all(np.diff(rows) >= 0) and np.all(np.diff(nzs) >= 0)
    # Each start lies on the path: inside (or at the end of) its row.
    for r, k in zip(rows[:-1], nzs[:-1]):
        if r < m:
            assert indptr[r] <= k <= indptr[r + 1]
    # Chunks are balanced: every chunk has ceil or floor of the average work.
    work = np.diff(rows) + np.diff(nzs)
    total = m + indptr[-1]
    assert work.max() - work.min() <= 1 or total < n_chunks
    assert work.sum() == total


@settings(max_examples=200)
@given(A=sst.csr_arrays(max_side=16), items=st.integers(1, 7), data=st.data())
def test_products_with_many_chunks(A, items, data):
    dense = A.toarray().astype(np.complex128)
    x = data.draw(sst.dense_operands(A.shape[1], dtype=np.float64))
    X = data.draw(sst.dense_operands(A.shape[1], 3, dtype=np.float64))
    z = data.draw(sst.dense_operands(A.shape[0], dtype=np.float64))
    tol = 1e-4 if A.dtype in (np.float32, np.complex64) else 1e-10
    scale = 1 + np.abs(dense).sum()
    with chunk_items(items):
        y, Y, w = A @ x, A @ X, A.T @ z
    np.testing.assert_allclose(y, dense @ x, atol=tol * scale * (1 + np.abs(x).max(initial=0)))
    np.testing.assert_allclose(Y, dense @ X, atol=tol * scale * (1 + np.abs(X).max(initial=0)))
    np.testing.assert_allclose(w, dense.T @ z, atol=tol * scale * (1 + np.abs(z).max(initial=0)))


def test_one_long_row_split_over_chunks_is_bitwise_repeatable():
    rng = np.random.default_rng(1)
    n = 3000
    dense = np.zeros((5, n))
    dense[2] = rng.standard_normal(n)  # one dense row among empty ones
    A = spla.csr_array(dense)
    x = rng.standard_normal(n)
    with chunk_items(64):
        first = A @ x
        second = A @ x
    assert np.array_equal(first, second)
    np.testing.assert_allclose(first, dense @ x, rtol=1e-12, atol=1e-12)
