"""spla_cuda: the GPU backend of spla (NVIDIA GPUs, CuPy storage).

Importing this package registers, in ``spla._dispatch``, the ``"cuda"``
implementation of the operations of every format; spla imports it by itself the
first time an array with CuPy storage needs one, so users never import it:

>>> import cupy, numpy as np, spla                      # doctest: +SKIP
>>> A = spla.csr_array(np.eye(3)).to_device("cuda")     # doctest: +SKIP
>>> A @ cupy.ones(3)                                    # doctest: +SKIP
array([1., 1., 1.])

Kernels are CUDA C (``kernels/*.cu``) compiled by NVRTC through CuPy's
``RawModule``, once per template instantiation (dtype, index type, tiling) and
cached on disk by CuPy. Modules:

- ``csr``: SpMV and SpMM balanced by stored entries (tasks of short rows, long
  rows split into segments); other CSR operations through cuSPARSE (cupyx).
- ``coo``: COO's canonical form, conversions, sums and products (through CSR).
- ``index``: indexing reads of CSR/CSC storage (``kernels/index.cu``; keys checked on
  the device) and writes (``spla._indexing.gpu``, CuPy operations).
- ``banded``: SpMV and SpMM that stream the diagonals (no index loads).
- ``nm``: N:M SpMV and SpMM for any n:m on the CUDA cores.
- ``sparse24``: 2:4 float16 and bfloat16 SpMM on the sparse tensor cores (``mma.sp``, ``wgmma``, TMA).
- ``interop``: PyTorch CUDA tensors as operands (DLPack).
- ``attention``: SDDMM, row softmax and fused sparse attention.
"""

from . import attention, banded, coo, csr, index, nm  # noqa: F401  (registration)


def available():
    """Whether CuPy can see a CUDA GPU."""
    import cupy

    try:
        return cupy.cuda.runtime.getDeviceCount() > 0
    except cupy.cuda.runtime.CUDARuntimeError:
        return False
