"""PyTorch CUDA tensors as operands of GPU spla arrays, through DLPack (no copy).

``A @ T`` with ``A`` on the GPU and ``T`` a CUDA ``torch.Tensor`` runs spla's
product on ``T``'s memory and returns a ``torch.Tensor`` sharing the result's
memory; a CuPy operand returns CuPy. PyTorch stays optional: this module imports
it only when such an operand arrives.
"""

import cupy
import numpy as np

from spla._dtypes import BFLOAT16


def is_torch(obj):
    """Whether ``obj`` is a ``torch.Tensor`` (without importing torch)."""
    return type(obj).__module__.split(".")[0] == "torch" and hasattr(obj, "__dlpack__")


def from_torch(t):
    """The CuPy array viewing CUDA tensor ``t`` (no copy); ``ValueError`` for a CPU tensor."""
    if not t.is_cuda:
        raise ValueError("operand is a PyTorch CPU tensor but this spla array lives on the GPU "
                         "('cuda'); move one of them (tensor.cuda() or A.to_device('cpu'))")
    import torch

    if t.dtype == torch.bfloat16:
        # Through its bits: DLPack's bfloat16 needs a recent CuPy with ml-dtypes.
        if BFLOAT16 is None:
            raise TypeError("bfloat16 operands need ml-dtypes: pip install 'spla[bfloat16]'")
        return cupy.from_dlpack(t.detach().view(torch.int16)).view(BFLOAT16)
    return cupy.from_dlpack(t.detach())


def to_torch(a):
    """The torch tensor viewing CuPy array ``a`` (no copy)."""
    import torch

    if BFLOAT16 is not None and a.dtype == BFLOAT16:
        return torch.from_dlpack(a.view(np.int16)).view(torch.bfloat16)
    return torch.from_dlpack(a)
