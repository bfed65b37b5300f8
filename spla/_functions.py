"""Functions of the spla namespace that act on any sparse (or dense) array."""

import numpy as np

from ._base import SparseArray, _is_scipy_sparse


def sparsity(A):
    """Fraction of the entries of ``A`` that are not stored: ``1 - nnz / (m n)``.

    ``A`` may be an spla array, a SciPy sparse array (stored entries count, explicit
    zeros included) or a dense array (non-zero entries count). An array with no
    entries at all (m n = 0) has sparsity ``nan``.

    Examples
    --------
    >>> import spla, numpy as np
    >>> spla.sparsity(spla.csr_array(np.eye(4)))
    0.75
    """
    if isinstance(A, SparseArray) or _is_scipy_sparse(A):
        nnz, shape = A.nnz, A.shape
    else:
        arr = np.asarray(A)
        nnz, shape = int(np.count_nonzero(arr)), arr.shape
    # Python integers: m * n overflows int64 for shapes such as (2**62, 4).
    size = 1
    for d in shape:
        size *= int(d)
    if size == 0:
        return float("nan")
    return 1.0 - nnz / size


def matmul(x1, x2, /):
    """``x1 @ x2`` (Array API name); either operand may be sparse."""
    return x1 @ x2


def matrix_transpose(x, /):
    """Transpose of a 2-D array (Array API name)."""
    return x.mT


def astype(x, dtype, /, *, copy=True):
    """``x`` with values cast to ``dtype`` (Array API name)."""
    return x.astype(dtype, copy=copy)
