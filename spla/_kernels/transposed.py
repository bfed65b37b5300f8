"""Numba kernels of transposed products over a cached transpose of CSR storage.

``A.T @ x`` on CSR storage is a scatter (``csr.rmatvec_windows``): every stored
entry adds into a random place of the output, which does not scale with
threads. Once the transpose's structure is known (``t_indptr``, ``t_indices``
and ``t_data``, built by the counting sort of ``spla._backends.cpu.convert``), the
same product is a gather, one output entry per transposed row, as parallel as
an SpMV. (Reading the values through a permutation instead of a copy,
``data[perm[q]]``, was measured 2.3x (Laplacian) to 7x (random) slower than the
copy on one thread: a second random read per entry.)

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


@njit(cache=True, nogil=True)
def _lane_end(t_indices, q, end, bounds, lane):
    """The lane of entry ``q`` (searched from ``lane`` on) and one past the last
    entry of the row in that lane."""
    i = t_indices[q]
    while bounds[lane + 1] <= i:
        lane += 1
    stop = bounds[lane + 1]
    if t_indices[end - U(1)] < stop:  # the rest of the row is in this lane (usual)
        return lane, end
    e = q + U(1)
    while t_indices[e] < stop:
        e += U(1)
    return lane, e


@njit(parallel=True, cache=True, nogil=True)
def gather_lanes(t_indptr, t_indices, t_data, x, y, bounds, blocks, zero):
    """y[j] = sum over lanes of (sum of t_data[q] * x[t_indices[q]], q in row j of
    the transpose and in the lane), lanes ``bounds[l]:bounds[l+1]`` of A's rows;
    parallel over the blocks of transposed rows ``blocks[b]:blocks[b+1]``."""
    for b in prange(blocks.size - 1):
        for j in range(blocks[b], blocks[b + 1]):
            q = U(t_indptr[j])
            end = U(t_indptr[j + 1])
            acc = zero
            lane = 0
            while q < end:
                lane, e = _lane_end(t_indices, q, end, bounds, lane)
                s = zero
                for p in range(q, e):
                    s += t_data[p] * x[U(t_indices[p])]
                acc += s
                q = e
            y[j] = acc


@njit(parallel=True, cache=True, nogil=True)
def gather_lanes_mat(t_indptr, t_indices, t_data, X, Y, bounds, blocks, zero):
    """``gather_lanes`` for a C-contiguous (m, k) ``X``: Y[j, :] of (n, k) ``Y``."""
    K = X.shape[1]
    for b in prange(blocks.size - 1):
        s = np.empty(K, dtype=Y.dtype)
        for j in range(blocks[b], blocks[b + 1]):
            yrow = Y[j]
            for c in range(K):
                yrow[c] = zero
            q = U(t_indptr[j])
            end = U(t_indptr[j + 1])
            lane = 0
            while q < end:
                lane, e = _lane_end(t_indices, q, end, bounds, lane)
                for c in range(K):
                    s[c] = zero
                for p in range(q, e):
                    v = t_data[p]
                    xrow = X[U(t_indices[p])]
                    for c in range(K):
                        s[c] += v * xrow[c]
                for c in range(K):
                    yrow[c] += s[c]
                q = e


def _serial_twin(dispatcher):
    name = dispatcher.py_func.__name__
    return twin(dispatcher, name + "_serial", dict(cache=True, nogil=True),
                doc=f"Serial version of ``{name}``.")


gather_lanes_serial = _serial_twin(gather_lanes)
gather_lanes_mat_serial = _serial_twin(gather_lanes_mat)
