"""The CPU backend: NumPy storage, Numba kernels.

Importing this package registers, in ``spla._dispatch``, the CPU implementation
of every operation of every format, one module per format.
"""

from . import csr  # noqa: F401
from . import banded  # noqa: F401,E402
from . import nm  # noqa: F401,E402
