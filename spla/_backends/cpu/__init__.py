"""The CPU backend: NumPy storage, Numba kernels.

Importing this package registers, in ``spla._dispatch``, the CPU implementation
of every operation of every format, one module per format.
"""

from . import banded, csr, index, insert, ml, nm, reshape  # noqa: F401
