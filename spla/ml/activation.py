"""Activation sparsity: ``W h`` reading only the columns of ``W`` where ``h`` is non-zero.

After a ReLU a fraction ``1 - alpha`` of the activations is exactly zero
(``spla.theory.relu_sparsity``: ``Phi(-mu / sigma)`` for Gaussian
pre-activations), and the next layer's product ``W h`` needs only the ``alpha n``
columns of ``W`` that meet a non-zero: ``2 alpha m n`` FLOPs and ``alpha m n``
weights read instead of ``2 m n`` and ``m n``, an ideal speedup of ``1 / alpha``.

The functions here are array-module generic: NumPy input runs on the CPU (Numba
kernels for the matrix-vector form), CuPy input runs on the GPU with CuPy's own
operations. The module of the inputs decides (as ``cupy.get_array_module`` does);
CuPy is imported only when a CuPy array is passed, never otherwise.
"""

import numpy as np

from .._base import SparseArray, _is_scipy_sparse
from .._device import is_gpu_array
from .. import _dispatch

__all__ = ["activation_matvec", "activation_matmul"]


def _namespace(what, *arrays):
    """numpy or cupy, from the inputs' types; mixing the two raises ValueError."""
    mods = set()
    for a in arrays:
        if isinstance(a, SparseArray) or _is_scipy_sparse(a):
            raise TypeError(f"{what}: W and h must be dense arrays, got {type(a).__name__} "
                            "(for a sparse W use W @ h)")
        mods.add("cupy" if is_gpu_array(a) else "numpy")
    if mods == {"cupy"}:
        import cupy

        return cupy
    if "cupy" in mods:
        raise ValueError(f"{what}: inputs live on different devices (some NumPy, some CuPy)")
    return np


def _operands(what, W, h, ndim):
    xp = _namespace(what, W, h)
    W = xp.asarray(W)
    h = xp.asarray(h)
    for name, a in (("W", W), ("h" if ndim == 1 else "H", h)):
        if a.dtype.kind not in "biufc":
            raise TypeError(f"{what}: {name} must be numeric, got dtype {a.dtype}")
    if W.ndim != 2:
        raise ValueError(f"{what}: W must be 2-D, got shape {W.shape}")
    if h.ndim != ndim:
        if ndim == 1:
            hint = " (for a matrix of activations use activation_matmul)" if h.ndim == 2 else ""
            raise ValueError(f"{what}: h must be 1-D, got shape {h.shape}{hint}")
        raise ValueError(f"{what}: H must be 2-D (features x batch), got shape {h.shape}")
    if W.shape[1] != h.shape[0]:
        raise ValueError(f"{what}: W {W.shape} and {'h' if ndim == 1 else 'H'} {h.shape} do "
                         f"not fit (W has {W.shape[1]} columns, needs as many rows/entries)")
    dt = np.result_type(W.dtype, h.dtype)
    if dt.kind in "biu":
        dt = np.dtype(np.float64)
    elif dt == np.float16:
        dt = np.dtype(np.float32)
    return xp, W, h, dt


def activation_matvec(W, h):
    """``W @ h`` using only the columns of ``W`` where ``h`` is non-zero.

    Parameters
    ----------
    W : array, shape (m, n)
        Weights (NumPy or CuPy). Store it column-major
        (``np.asfortranarray(W)``) for the full benefit: each active column is
        then one contiguous read. Row-major ``W`` works too but gains only at
        low densities; any other strides are gathered column by column.
    h : array, shape (n,)
        Activations, mostly zero (e.g. after a ReLU). Same array module as ``W``.

    Returns
    -------
    array, shape (m,)
        NumPy's promotion of the two dtypes (integers give float64); on the
        device of the inputs.

    Notes
    -----
    Work is ``2 m nnz(h)`` FLOPs and ``m nnz(h)`` weights read, against
    ``2 m n`` and ``m n`` for the dense GEMV: ideal speedup ``1 / alpha`` at
    density ``alpha = nnz(h) / n``. Columns where ``h`` is 0 are not read, so
    an ``inf`` or NaN there does not reach the result (a dense product would
    give NaN from ``inf * 0``). NaN in ``h`` counts as non-zero.

    Examples
    --------
    >>> import numpy as np, spla
    >>> W = np.asfortranarray(np.arange(12.0).reshape(3, 4))
    >>> spla.activation_matvec(W, np.array([0.0, 2.0, 0.0, -1.0]))
    array([-1.,  3.,  7.])
    """
    what = "activation_matvec"
    xp, W, h, dt = _operands(what, W, h, 1)
    m = W.shape[0]
    idx = xp.flatnonzero(h)
    v = h[idx].astype(dt, copy=False)
    device = "cpu" if xp is np else "cuda"
    if _dispatch.has("activation_matvec", "dense", device):
        return _dispatch.lookup("activation_matvec", "dense", device)(W, idx, v, dt)
    # no entry for the device (the GPU): the gather and the array module's GEMV
    if not idx.size:
        return xp.zeros(m, dtype=dt)
    return xp.take(W, idx, axis=1).astype(dt, copy=False) @ v


def activation_matmul(W, H):
    """``W @ H`` for a batch of activation vectors (the columns of ``H``), using
    only the columns of ``W`` whose row of ``H`` has a non-zero.

    Parameters
    ----------
    W : array, shape (m, n)
        Weights (NumPy or CuPy); column-major storage makes the gather of the
        active columns contiguous.
    H : array, shape (n, b)
        ``b`` activation vectors as columns (for activations stored as rows,
        ``X`` of shape (b, n), use ``activation_matmul(W, X.T).T``).

    Returns
    -------
    array, shape (m, b)

    Notes
    -----
    A column ``j`` of ``W`` is skipped when unit ``j`` is zero for every vector
    of the batch, so the benefit is set by the density of the *union* of the
    active units, ``alpha_b``; for independent vectors of density ``alpha``,
    ``alpha_b = 1 - (1 - alpha)^b``. The active columns are gathered once into
    a dense ``(m, alpha_b n)`` block and multiplied by the matching rows of
    ``H`` with the array module's GEMM (BLAS or cuBLAS).

    Examples
    --------
    >>> import numpy as np, spla
    >>> W = np.arange(6.0).reshape(2, 3)
    >>> H = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 2.0]])   # unit 1 is off in both
    >>> spla.activation_matmul(W, H)
    array([[ 0.,  4.],
           [ 3., 10.]])
    """
    what = "activation_matmul"
    xp, W, H, dt = _operands(what, W, H, 2)
    m, b = W.shape[0], H.shape[1]
    active = xp.flatnonzero((H != 0).any(axis=1)) if b else xp.zeros(0, dtype=np.intp)
    if not active.size:
        return xp.zeros((m, b), dtype=dt)
    if W.flags.f_contiguous and not W.flags.c_contiguous:
        Wa = W.T[active].T.astype(dt, copy=False)   # contiguous column copies
    else:
        Wa = xp.take(W, active, axis=1).astype(dt, copy=False)
    return Wa @ H[active].astype(dt, copy=False)
