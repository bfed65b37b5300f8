"""spla: sparse linear algebra with fast multithreaded kernels.

The public API lives here and nowhere else.

Formats
    csr_array, csc_array (the transposed view of a CSR array)
Functions
    sparsity, formats, matmul, matrix_transpose, astype
Modules
    spla.io (Matrix Market), spla.testing (assertions and hypothesis strategies)
"""

from . import io, testing
from ._base import SparseArray
from ._formats.compressed import csc_array, csr_array
from ._formats.registry import formats
from ._functions import astype, matmul, matrix_transpose, sparsity

__version__ = "0.1.0"

__all__ = [
    "SparseArray",
    "astype",
    "csc_array",
    "csr_array",
    "formats",
    "io",
    "matmul",
    "matrix_transpose",
    "sparsity",
    "testing",
]
