"""PyTorch tensors both ways: ``torch.sparse_csr``, ``sparse_csc``, ``sparse_coo`` and
strided tensors, on the CPU (NumPy views of the tensors' memory) and on CUDA
(CuPy views through DLPack, ``spla_cuda.interop``); 2:4 ``nm_array`` and
``torch.sparse.SparseSemiStructuredTensor`` on CUDA, where PyTorch has them.

Memory is shared where the layouts agree: a CSR/CSC tensor's three arrays become
the spla array's storage (spla never writes to arrays it was given), and
``A.to_torch()`` of a canonical CSR/CSC array gives tensors over spla's arrays.
COO tensors hold one (2, nnz) int64 index matrix where spla holds one array per
dimension, so their indices are copied (values are shared).
"""

import sys

import numpy as np

from .._dtypes import BFLOAT16

SUPPORTED = ("torch.strided", "torch.sparse_coo", "torch.sparse_csr", "torch.sparse_csc",
             "torch.sparse.SparseSemiStructuredTensor (CUDA)")


def _torch():
    try:
        import torch
    except ImportError:
        raise ImportError("PyTorch is not installed: pip install torch") from None
    return torch


def is_tensor(obj):
    """Whether ``obj`` is a ``torch.Tensor`` (without importing torch)."""
    mod = sys.modules.get("torch")
    return mod is not None and isinstance(obj, mod.Tensor)


def is_torch_sparse(obj):
    """Whether ``obj`` is a PyTorch tensor of a sparse layout (the registry's test)."""
    return is_tensor(obj) and (obj.layout != sys.modules["torch"].strided
                               or _is_semi_structured(obj))


def _is_semi_structured(t):
    torch = sys.modules["torch"]
    cls = getattr(getattr(torch, "sparse", None), "SparseSemiStructuredTensor", None)
    return cls is not None and isinstance(t, cls)


def _host(t):
    """The NumPy array viewing CPU tensor ``t`` (bfloat16 through its bits)."""
    torch = sys.modules["torch"]
    t = t.detach()
    if t.dtype == torch.bfloat16:
        if BFLOAT16 is None:
            raise TypeError("bfloat16 tensors need ml-dtypes: pip install 'spla[bfloat16]'")
        return t.view(torch.int16).numpy().view(BFLOAT16)
    return t.numpy()


def _array(t):
    """A NumPy (CPU) or CuPy (CUDA) array viewing tensor ``t``."""
    if t.device.type == "cpu":
        return _host(t)
    if t.device.type == "cuda":
        from spla_cuda.interop import from_torch as cuda_view

        return cuda_view(t)
    raise TypeError(f"spla reads tensors on the CPU and CUDA, not on {t.device.type!r}")


def from_torch(t):
    """The spla array of PyTorch tensor ``t``.

    ``sparse_csr`` gives ``csr_array``, ``sparse_csc`` ``csc_array`` (sharing the
    tensor's memory), ``sparse_coo`` ``coo_array`` (of the tensor's number of
    dimensions; values shared), a strided 2-D tensor ``csr_array`` (its non-zeros),
    a strided 1-D tensor a 1-D ``coo_array``, and a CUDA
    ``SparseSemiStructuredTensor`` a 2:4 ``nm_array``. CUDA tensors give arrays
    on the GPU.

    Raises
    ------
    TypeError
        ``t`` is not a tensor, or its layout is none of those (the message lists them).
    ValueError
        Batched or hybrid sparse tensors (dense dimensions inside the sparse ones).

    Examples
    --------
    >>> import torch, spla
    >>> t = torch.tensor([[0.0, 1.0], [2.0, 0.0]]).to_sparse_csr()
    >>> spla.from_torch(t).toarray()
    array([[0., 1.],
           [2., 0.]], dtype=float32)
    """
    from .._formats.compressed import csc_array, csr_array
    from .._formats.coo import coo_array

    if not is_tensor(t):
        raise TypeError(f"from_torch expects a torch.Tensor, got {type(t).__name__}")
    torch = sys.modules["torch"]
    if _is_semi_structured(t):
        from .._formats.nm import nm_array

        dense = _array(t.to_dense())
        return nm_array(dense, n=2, m=4)
    layout = t.layout
    shape = tuple(int(s) for s in t.shape)
    if layout == torch.strided:
        if t.ndim == 2:
            return csr_array(_array(t.resolve_conj().contiguous()))
        if t.ndim == 1:
            if t.device.type != "cpu":
                raise ValueError("a 1-D CUDA tensor has no spla array on the GPU (coo_array "
                                 "lives on the CPU); move it with t.cpu()")
            return coo_array(_host(t))
        raise ValueError(f"from_torch: a strided tensor must be 1-D or 2-D, got {t.ndim}-D")
    if layout in (torch.sparse_csr, torch.sparse_csc):
        if t.ndim != 2 or t.values().ndim != 1:
            raise ValueError(f"from_torch: batched or hybrid {layout} tensors (shape "
                             f"{shape}, values of {t.values().ndim} dimensions) have no "
                             "spla format; spla reads 2-D ones")
        if layout == torch.sparse_csr:
            ptr, idx, cls = t.crow_indices(), t.col_indices(), csr_array
        else:
            ptr, idx, cls = t.ccol_indices(), t.row_indices(), csc_array
        values = t.values().resolve_conj()
        return cls((_array(values), _array(idx), _array(ptr)), shape=shape)
    if layout == torch.sparse_coo:
        if t.sparse_dim() != t.ndim:
            raise ValueError(f"from_torch: hybrid COO tensors ({t.dense_dim()} dense "
                             "dimensions) have no spla format")
        if t.device.type != "cpu":
            raise ValueError("coo_array lives on the CPU: convert the tensor with "
                             "t.to_sparse_csr() or move it with t.cpu()")
        coalesced = t.is_coalesced()
        idx = _host(t._indices())
        out = coo_array((_host(t._values().resolve_conj()), tuple(idx)), shape=shape)
        if coalesced:
            out.has_canonical_format = True
        return out
    raise TypeError(f"from_torch: unsupported tensor layout {layout}; spla reads "
                    f"{', '.join(SUPPORTED)}")


_LAYOUTS = ("csr", "csc", "coo", "strided", "semi_structured")


def _tensor(a):
    """The tensor viewing NumPy or CuPy array ``a``."""
    torch = _torch()
    if type(a).__module__.split(".")[0] == "cupy":
        from spla_cuda.interop import to_torch as cuda_tensor

        return cuda_tensor(a)
    a = np.asarray(a)
    if BFLOAT16 is not None and a.dtype == BFLOAT16:
        return torch.from_numpy(np.ascontiguousarray(a).view(np.int16)).view(torch.bfloat16)
    if not a.flags.writeable:
        a = a.copy()  # torch.from_numpy warns on read-only memory
    return torch.from_numpy(a)


def to_torch(A, layout=None):
    """``A`` as a PyTorch tensor (see ``SparseArray.to_torch``)."""
    torch = _torch()
    if layout is not None and not isinstance(layout, str):
        names = {torch.sparse_csr: "csr", torch.sparse_csc: "csc", torch.sparse_coo: "coo",
                 torch.strided: "strided"}
        if layout not in names:
            raise TypeError(f"to_torch: unsupported layout {layout}; spla writes "
                            f"{', '.join(SUPPORTED)}")
        layout = names[layout]
    if layout is None:
        if A.format == "nm" and (A.n, A.m) == (2, 4) and A.device != "cpu":
            layout = "semi_structured"
        else:
            layout = {"csr": "csr", "csc": "csc", "coo": "coo"}.get(A.format, "csr")
    if layout not in _LAYOUTS:
        raise TypeError(f"to_torch: unsupported layout {layout!r}; choose one of "
                        f"{', '.join(_LAYOUTS)}")
    if layout == "strided":
        return _tensor(A.toarray())
    if layout == "semi_structured":
        if A.device == "cpu":
            raise TypeError("to_torch: PyTorch's SparseSemiStructuredTensor exists on CUDA "
                            "only; move the array with A.to_device('cuda') or pick another "
                            "layout")
        if A.format != "nm" or (A.n, A.m) != (2, 4):
            raise TypeError("to_torch: layout 'semi_structured' needs a 2:4 nm_array")
        return torch.sparse.to_sparse_semi_structured(_tensor(A.toarray()))
    if A.ndim != 2 and layout != "coo":
        raise ValueError(f"to_torch: a {A.ndim}-D array converts to layout 'coo' only")
    if layout == "coo":
        if A.device != "cpu":
            A = A.to_device("cpu")
        C = A.tocoo()._snap()  # one reading of the storage
        canonical = C.has_canonical_format
        idx = np.stack([np.asarray(c, dtype=np.int64) for c in C.coords]) if C.coords \
            else np.zeros((0, C.nnz), dtype=np.int64)
        # spla validated the storage: PyTorch's invariant checks would only repeat that
        out = torch.sparse_coo_tensor(_tensor(idx), _tensor(C.data), size=A.shape,
                                      is_coalesced=canonical or None, check_invariants=False)
        return out
    C = A if A.format == layout else A.asformat(layout)
    C = C._deduped()
    make = torch.sparse_csr_tensor if layout == "csr" else torch.sparse_csc_tensor
    return make(_tensor(C.indptr), _tensor(C.indices), _tensor(C.data), size=A.shape,
                check_invariants=False)  # canonical and validated by spla


def on_cpu_tensor(product, t):
    """``product`` of the NumPy view of strided CPU tensor ``t``, as a tensor (the
    operand and the result share memory with their NumPy arrays: no copies)."""
    torch = sys.modules["torch"]
    if t.layout != torch.strided:
        raise TypeError(f"a dense operand must be strided; this tensor is {t.layout}")
    if t.device.type != "cpu":
        raise ValueError(f"operand is a PyTorch tensor on {t.device} but this spla array "
                         "lives on the CPU; move one of them (t.cpu() or A.to_device())")
    return _tensor(product(_host(t.resolve_conj())))

