"""CPU implementations of the machine-learning workloads (``spla.ml``).

The workloads validate their operands and ask the dispatch table for
``(operation, format of the pattern, device)``, as the formats do; these are the
``"cpu"`` rows (``spla_cuda.attention`` has the ``"cuda"`` ones, with the same
signatures):

- ``("sddmm", "csr" | "banded", "cpu")(Q, K, P, dt)``: the scores of ``Q K^T``
  on the stored positions of ``P``, an array of ``P``'s format;
- ``("softmax", "csr" | "banded", "cpu")(P)``: row-wise softmax over the stored
  entries;
- ``("sparse_attention", "csr" | "banded", "cpu")(Q, K, V, P, scale)``: the fused
  attention of ``B`` flattened batch elements (``Q`` is ``(B, m, d)``, ``K`` and
  ``V`` are ``(B, n, d)`` and ``(B, n, dv)``, contiguous, in the compute dtype);
  returns ``(B, m, dv)`` in that dtype;
- ``("activation_matvec", "dense", "cpu")(W, idx, v, dt)``: ``W[:, idx] @ v`` for
  a dense NumPy ``W`` (the active columns ``idx`` of an activation vector and
  their values ``v``, already in the compute dtype ``dt``).

Each allocates its output and launches one kernel of ``spla._kernels.attention``
or ``spla._kernels.activation`` inside ``parallel_section()``.
"""

import numpy as np

from ..._dispatch import register
from ..._kernels import activation as _A
from ..._kernels import attention as _K
from ..._kernels.threads import parallel_section


def _banded_class():
    from ..._formats.banded import banded_array

    return banded_array


@register("sddmm", "csr", "cpu")
def sddmm_csr(Q, K, P, dt):
    P = P._snap()  # one reading of the pattern's storage (another thread may write)
    Q = np.ascontiguousarray(Q, dtype=dt)
    K = np.ascontiguousarray(K, dtype=dt)
    zero = np.result_type(dt, np.float64).type(0)
    out = np.empty(P.nnz, dtype=dt)
    if P.nnz:
        with parallel_section():
            _K.sddmm_csr(P.indptr, P.indices, Q, K, out, zero)
    return P._with_data(out)


@register("sddmm", "banded", "cpu")
def sddmm_banded(Q, K, P, dt):
    Q = np.ascontiguousarray(Q, dtype=dt)
    K = np.ascontiguousarray(K, dtype=dt)
    zero = np.result_type(dt, np.float64).type(0)
    out = np.empty((P.offsets.size, P.shape[0]), dtype=dt)
    if out.size:
        with parallel_section():
            _K.sddmm_banded(P.offsets, Q, K, out, zero)
    return _banded_class()._from_parts(out, P.offsets.copy(), P.shape)


@register("softmax", "csr", "cpu")
def softmax_csr(P):
    P = P._snap()
    out = np.empty_like(P.data)
    if out.size:
        with parallel_section():
            _K.softmax_csr(P.indptr, P.data, out)
    return P._with_data(out)


@register("softmax", "banded", "cpu")
def softmax_banded(P):
    out = np.empty_like(P.data)
    if out.size:
        with parallel_section():
            _K.softmax_banded(P.offsets, P.data, P.shape[1], out)
    return _banded_class()._from_parts(out, P.offsets.copy(), P.shape)


def _attention_out(Q, P, V):
    return np.empty((Q.shape[0], P.shape[0], V.shape[-1]), dtype=Q.dtype)


@register("sparse_attention", "csr", "cpu")
def sparse_attention_csr(Q, K, V, P, scale):
    P = P._snap()
    out = _attention_out(Q, P, V)
    if out.size:
        m = P.shape[0]
        max_row = int(np.diff(P.indptr).max()) if m else 0
        with parallel_section():
            _K.attend_csr(P.indptr, P.indices, Q, K, V, scale, out, max_row)
    return out


@register("sparse_attention", "banded", "cpu")
def sparse_attention_banded(Q, K, V, P, scale):
    out = _attention_out(Q, P, V)
    if out.size:
        off = P.offsets
        with parallel_section():
            if off.size and off[-1] - off[0] + 1 == off.size:
                # contiguous offsets: one band, no per-diagonal bookkeeping
                _K.attend_band(int(off[0]), int(off[-1]), Q, K, V, scale, out)
            else:
                _K.attend_banded(off, Q, K, V, scale, out)
    return out


@register("activation_matvec", "dense", "cpu")
def activation_matvec(W, idx, v, dt):
    m = W.shape[0]
    if dt.kind == "f" and m and idx.size and (W.flags.f_contiguous or W.flags.c_contiguous):
        Wc = W.astype(dt, copy=False, order="K")
        y = np.empty(m, dtype=dt)
        with parallel_section():
            if Wc.flags.f_contiguous:
                _A.gemv_cols_f(Wc, idx, v, y)
            else:
                _A.gemv_cols_c(Wc, idx, v, y, dt.type(0))
        return y
    if not idx.size:
        return np.zeros(m, dtype=dt)
    return np.take(W, idx, axis=1).astype(dt, copy=False) @ v
