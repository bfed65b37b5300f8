"""CPU reshape of CSR storage: ("reshape", "csr", "cpu").

The new coordinates come from ``spla._kernels.reshape``; in C order a canonical
input gives rows that are already sorted (the flat positions increase), so the
new ``indptr`` is a count of the rows; in Fortran order the coordinates are
compressed by the COO->CSR counting sort.
"""

import numpy as np

from ..._dispatch import lookup, register
from ..._dtypes import index_dtype_for
from ..._kernels import reshape as K


@register("reshape", "csr", "cpu")
def reshape(A, new_shape, order):
    """Canonical CSR storage ``(data, indices, indptr)`` of the canonical CSR array
    ``A`` reshaped to the 2-D ``new_shape`` in ``order`` ("C" or "F")."""
    p, q = new_shape
    idx = index_dtype_for(max(p, q), A.nnz)
    row, col = K.new_coordinates(A.indptr, A.indices, A.shape, new_shape, order, idx)
    if order == "C":
        indptr = np.zeros(p + 1, dtype=idx)
        if row.size:
            np.cumsum(np.bincount(row, minlength=p), out=indptr[1:])
        return A.data.copy(), col, indptr
    return lookup("coo_to_csr", "coo", "cpu")(A.data, row, col, (p, q))
