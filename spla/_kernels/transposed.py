"""Numba kernels of transposed products over a cached transpose of CSR storage.

``A.T @ x`` on CSR storage is a scatter (``csr.rmatvec_windows``): every stored
entry adds into a random place of the output, which does not scale with
threads. Once the transpose's structure is known (``t_indptr``, ``t_indices``
and ``t_data``, built by the counting sort of ``spla._backends.cpu.convert``), the
same product is a gather, one output entry per transposed row, as parallel as
an SpMV. (Reading the values through a permutation instead of a copy,
``data[perm[q]]``, was measured 2.3x (Laplacian) to 7x (random) slower than the
copy on one thread: a second random read per entry.)

Bit for bit the scatter's result in one lane (``csr.scatter(A, x, one_lane=True)``)
and SciPy's: the one-lane scatter adds the entries of column ``j`` into ``y[j]``
(zeroed) in A's row order, and row ``j`` of the transpose holds them in that
order (the sort is stable), summed from zero. Above the parallel size spla's
uncached scatter runs in four lanes, added in a fixed order, which the gather
does not repeat (splitting each transposed row by lanes and summing the lanes
apart was measured about 4x slower on a random matrix, one thread: short rows
crossing the lanes cost a loop each).
"""

import numpy as np
from numba import njit, prange

from .twins import twin

U = np.uint64  # see spla._kernels.csr: unsigned indices skip the wraparound test


@njit(parallel=True, cache=True, nogil=True)
def gather(t_indptr, t_indices, t_data, x, y, blocks, zero):
    """y[j] = zero + the sum, in order, of t_data[q] * x[t_indices[q]] over row j
    of the transpose; parallel over the blocks of rows ``blocks[b]:blocks[b+1]``."""
    for b in prange(blocks.size - 1):
        for j in range(blocks[b], blocks[b + 1]):
            s = zero
            for p in range(U(t_indptr[j]), U(t_indptr[j + 1])):
                s += t_data[p] * x[U(t_indices[p])]
            y[j] = s


@njit(parallel=True, cache=True, nogil=True)
def gather_mat(t_indptr, t_indices, t_data, X, Y, blocks, zero):
    """``gather`` for a C-contiguous (m, k) ``X``: Y[j, :] of (n, k) ``Y``."""
    K = X.shape[1]
    for b in prange(blocks.size - 1):
        for j in range(blocks[b], blocks[b + 1]):
            yrow = Y[j]
            for c in range(K):
                yrow[c] = zero
            for p in range(U(t_indptr[j]), U(t_indptr[j + 1])):
                v = t_data[p]
                xrow = X[U(t_indices[p])]
                for c in range(K):
                    yrow[c] += v * xrow[c]


def _serial_twin(dispatcher):
    name = dispatcher.py_func.__name__
    return twin(dispatcher, name + "_serial", dict(cache=True, nogil=True),
                doc=f"Serial version of ``{name}``.")


gather_serial = _serial_twin(gather)
gather_mat_serial = _serial_twin(gather_mat)
