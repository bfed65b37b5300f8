"""spla: sparse linear algebra with fast multithreaded kernels.

The public API lives here and nowhere else.

Formats
    csr_array, csc_array (the transposed view of a CSR array),
    coo_array (coordinates, 1-D to n-D),
    nm_array (N:M structured sparsity), banded_array (diagonal storage)
Constructors (as scipy.sparse)
    eye_array, identity, diags_array, random_array, kron, kronsum, hstack,
    vstack, block_array, block_diag, tril, triu, find, issparse, save_npz,
    load_npz
Interchange
    from_torch / A.to_torch() (PyTorch), A.to_pydata() and spla.csr_array(x) of a
    pydata/sparse array, from_binsparse / A.__binsparse__() (the binsparse protocol),
    spla.io.binsparse_read / binsparse_write (binsparse files)
Array API namespace (A.__array_namespace__() is spla)
    asarray, zeros, eye, add, multiply, equal, sum, max, mean, ... (docs/api.md lists them)
Functions
    sparsity, formats, nm_mask, prune_nm, matmul, matrix_transpose, astype,
    activation_matvec, activation_matmul (products with sparse activations),
    free_workspace (release the scratch buffer the CPU products keep),
    set_transpose_cache, drop_transpose (the transpose kept for A.T @ x)
Modules
    spla.io (Matrix Market), spla.linalg (scipy.sparse.linalg's solvers on spla arrays),
    spla.dask (Dask arrays of spla blocks; imported on first use, needs
    ``pip install "spla[dask]"``), spla.attention (sparse and linear attention),
    spla.moe (mixture-of-experts routing), spla.prune (sparse training),
    spla.theory (verified formulas of the notes),
    spla.testing (assertions and hypothesis strategies)
"""

# First: importing the kernel package locks Numba's cache files between processes
# (spla/_kernels/cache_lock.py) before any kernel is compiled or loaded.
from . import _kernels  # noqa: F401
from . import io, linalg, testing
from ._backends.cpu.memory import free_workspace
from ._backends.cpu.transposed import drop_transpose, set_transpose_cache
from ._base import SparseArray
from ._construct import (
    block_array,
    block_diag,
    diags_array,
    eye_array,
    find,
    hstack,
    identity,
    issparse,
    kron,
    kronsum,
    load_npz,
    random_array,
    save_npz,
    tril,
    triu,
    vstack,
)
from ._formats.banded import banded_array
from ._formats.compressed import csc_array, csr_array
from ._formats.coo import coo_array
from ._formats.nm import nm_array
from ._formats.registry import formats
from ._functions import astype, matmul, matrix_transpose, sparsity
from . import _array_api, _interop
from ._interop.torch import from_torch
from .io.binsparse import from_binsparse

# The Array API namespace (A.__array_namespace__() is this module): spla._array_api.
globals().update({_name: getattr(_array_api, _name) for _name in _array_api.NAMES})
from .ml import activation, attention, masks, moe, prune, theory
from .ml.activation import activation_matmul, activation_matvec
from .ml.masks import nm_mask, prune_nm

__version__ = "0.1.0"


def __getattr__(name):
    # spla.dask imports Dask, an optional dependency: load it on first use only.
    if name == "dask":
        import importlib

        return importlib.import_module(".dask", __name__)
    raise AttributeError(f"module 'spla' has no attribute {name!r}")


__all__ = [
    "SparseArray",
    "activation_matmul",
    "activation_matvec",
    "astype",
    "attention",
    "banded_array",
    "block_array",
    "block_diag",
    "coo_array",
    "csc_array",
    "csr_array",
    "diags_array",
    "drop_transpose",
    "eye_array",
    "find",
    "formats",
    "free_workspace",
    "from_binsparse",
    "from_torch",
    "hstack",
    "identity",
    "io",
    "issparse",
    "kron",
    "kronsum",
    "linalg",
    "load_npz",
    "matmul",
    "matrix_transpose",
    "moe",
    "nm_array",
    "nm_mask",
    "prune",
    "prune_nm",
    "random_array",
    "save_npz",
    "set_transpose_cache",
    "sparsity",
    "testing",
    "theory",
    "tril",
    "triu",
    "vstack",
] + [_name for _name in _array_api.NAMES
     if _name not in _array_api.SHADOWING and not _name.startswith("__")]
