"""Numba kernels of transposed products over a cached transpose of CSR storage.

``A.T @ x`` on CSR storage is a scatter (``csr.rmatvec_windows``): every stored
entry adds into a random place of the output, which does not scale with
threads. Once the transpose's structure is known (``t_indptr``, ``t_indices``
and ``perm``, built by the counting sort of ``spla._backends.cpu.convert``), the
same product is a gather, one output entry per transposed row, as parallel as
an SpMV. The values are read through ``perm`` (``data[perm[q]]``), never
copied: a write into ``A.data`` in place is seen by the next product.

Bit for bit the scatter's result: the scatter splits A's rows into ``L`` lanes
(``bounds``), sums each lane in row order from +0.0 and adds the lanes in lane
order to +0.0. The transposed row ``j`` holds its entries in A's storage order
(the sort is stable), so the gather sums the entries of each lane, in the same
order, into a partial sum started at +0.0 and adds the partials in lane order.
A lane with no entry in column ``j`` adds +0.0 in the scatter, which changes no
sum started at +0.0 (such a sum is never -0.0), so the gather skips it.
"""

import numpy as np
from numba import njit, prange

from .twins import twin

U = np.uint64  # see spla._kernels.csr: unsigned indices skip the wraparound test


@njit(parallel=True, cache=True, nogil=True)
def gather_lanes(t_indptr, t_indices, perm, data, x, y, bounds, blocks, zero):
    """y[j] = sum over lanes of (sum of data[perm[q]] * x[t_indices[q]], q in row j
    of the transpose and in the lane), lanes ``bounds[l]:bounds[l+1]`` of A's rows;
    parallel over the blocks of transposed rows ``blocks[b]:blocks[b+1]``."""
    n_lanes = bounds.size - 1
    for b in prange(blocks.size - 1):
        for j in range(blocks[b], blocks[b + 1]):
            q = t_indptr[j]
            end = t_indptr[j + 1]
            acc = zero
            for l in range(n_lanes):
                stop = bounds[l + 1]
                if q < end and t_indices[q] < stop:
                    s = zero
                    while q < end and t_indices[q] < stop:
                        s += data[U(perm[q])] * x[U(t_indices[q])]
                        q += 1
                    acc += s
            y[j] = acc


@njit(parallel=True, cache=True, nogil=True)
def gather_lanes_mat(t_indptr, t_indices, perm, data, X, Y, bounds, blocks, zero):
    """``gather_lanes`` for a C-contiguous (m, k) ``X``: Y[j, :] of (n, k) ``Y``."""
    n_lanes = bounds.size - 1
    K = X.shape[1]
    for b in prange(blocks.size - 1):
        s = np.empty(K, dtype=Y.dtype)
        for j in range(blocks[b], blocks[b + 1]):
            yrow = Y[j]
            for c in range(K):
                yrow[c] = zero
            q = t_indptr[j]
            end = t_indptr[j + 1]
            for l in range(n_lanes):
                stop = bounds[l + 1]
                if q < end and t_indices[q] < stop:
                    for c in range(K):
                        s[c] = zero
                    while q < end and t_indices[q] < stop:
                        v = data[U(perm[q])]
                        xrow = X[U(t_indices[q])]
                        for c in range(K):
                            s[c] += v * xrow[c]
                        q += 1
                    for c in range(K):
                        yrow[c] += s[c]


def _serial_twin(dispatcher):
    name = dispatcher.py_func.__name__
    return twin(dispatcher, name + "_serial", dict(cache=True, nogil=True),
                doc=f"Serial version of ``{name}``.")


gather_lanes_serial = _serial_twin(gather_lanes)
gather_lanes_mat_serial = _serial_twin(gather_lanes_mat)
