"""Merge-path partitioning of CSR work into chunks of equal size.

A CSR product walks a path through ``m`` row ends and ``nnz`` non-zeros. Cutting
that path into pieces of equal length gives every chunk the same amount of work
whatever the row lengths are: a row of a million entries is split over many
chunks, and a run of empty rows costs what it should (Merrill and Garland,
"Merge-based parallel sparse matrix-vector multiplication", SC 2016).

The number of chunks depends only on the matrix, never on the thread count, so
the order of every floating-point addition, and with it every result bit, is the
same on any machine with any number of threads.
"""

import numpy as np
from numba import njit

#: Items (row ends plus non-zeros) per chunk. Large enough that the per-chunk
#: bookkeeping is negligible, small enough that 2-64 threads get many chunks each
#: on the matrices where threading pays off.
CHUNK_ITEMS = 16384


def num_chunks(n_rows, nnz, items_per_chunk=None):
    """Number of merge-path chunks for a matrix with ``n_rows`` rows and ``nnz`` entries."""
    per_chunk = CHUNK_ITEMS if items_per_chunk is None else items_per_chunk
    total = int(n_rows) + int(nnz)
    return max(1, -(-total // per_chunk))


@njit(cache=True, nogil=True)
def merge_path_partition(indptr, n_chunks):
    """Start coordinates of ``n_chunks`` equal pieces of the merge path of ``indptr``.

    Returns ``(rows, nzs)``, both of length ``n_chunks + 1``: chunk ``c`` starts at row
    ``rows[c]`` and non-zero ``nzs[c]`` and ends where chunk ``c + 1`` starts. Rows
    ``rows[c] .. rows[c+1]-1`` are completed inside chunk ``c``; the non-zeros
    ``indptr[rows[c+1]] .. nzs[c+1]-1`` are a partial row carried to the next chunk.
    """
    m = indptr.size - 1
    nnz = np.int64(indptr[m])
    total = m + nnz
    rows = np.empty(n_chunks + 1, dtype=np.int64)
    nzs = np.empty(n_chunks + 1, dtype=np.int64)
    for c in range(n_chunks + 1):
        diag = (total * c) // n_chunks
        lo = max(np.int64(0), diag - nnz)
        hi = min(diag, np.int64(m))
        while lo < hi:
            mid = (lo + hi) >> 1
            if indptr[mid + 1] <= diag - mid - 1:
                lo = mid + 1
            else:
                hi = mid
        rows[c] = lo
        nzs[c] = diag - lo
    return rows, nzs


@njit(cache=True, nogil=True)
def row_blocks(indptr, n_blocks):
    """Row boundaries of ``n_blocks`` blocks of whole rows with about equal rows + nnz."""
    rows, _ = merge_path_partition(indptr, n_blocks)
    return rows
