"""GPU entries of the indexing reads and writes of CSR storage (CSC: its transpose).

The same contract as the CPU's (``spla._backends.cpu.index``): keys arrive
normalised and range-checked on the host, results stay on the GPU. The work is
CuPy array operations (``spla._indexing.gpu``: counts, running sums, binary
searches and one gather), so the output is allocated once.
"""

import cupy

from spla._dispatch import register
from spla._formats.compressed import csr_array
from spla._indexing import gpu


@register("getitem_select", "csr", "cuda")
def select(A, rows, cols):
    data, indices, indptr, shape, canonical = gpu.select(A, rows, cols, cupy)
    return csr_array._from_parts(data, indices, indptr, shape, canonical)


@register("getitem_points", "csr", "cuda")
def points(A, rows, cols):
    return gpu.points(A, rows, cols, cupy)


@register("getitem_scalar", "csr", "cuda")
def scalar(A, i, j):
    return gpu.scalar(A, i, j, cupy)


@register("row_order", "csr", "cuda")
def row_order(indptr, indices):
    return gpu.row_order(indptr, indices, cupy)


@register("write_entries", "csr", "cuda")
def write_entries(data, indices, indptr, shape, rows, cols, values, sorted_rows, writable):
    return gpu.write_entries(data, indices, indptr, shape, rows, cols, values, cupy, writable)


@register("zero_entries", "csr", "cuda")
def zero_entries(data, indices, indptr, shape, rows, cols, sorted_rows, writable):
    return gpu.zero_entries(data, indices, indptr, shape, rows, cols, cupy)
