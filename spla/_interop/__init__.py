"""Conversions between spla arrays and other libraries' sparse arrays: PyTorch
(``torch.py``), pydata/sparse (``pydata.py``); the binsparse protocol lives with the
binsparse files in ``spla.io.binsparse``.

Importing this package registers the foreign types with the format registry, so
``spla.csr_array(x)`` reads a pydata/sparse ``COO``/``GCXS`` array or a PyTorch sparse
tensor. Neither library is imported until such an object arrives.
"""

from .._formats import registry
from . import pydata, torch

registry.register_foreign(pydata.is_pydata, pydata.from_pydata)
registry.register_foreign(torch.is_torch_sparse, torch.from_torch)

__all__ = ["pydata", "torch"]
