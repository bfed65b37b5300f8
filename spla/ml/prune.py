"""Sparse training: magnitude masks, the straight-through estimator, and the
cubic gradual pruning schedule.

- ``magnitude_mask(W, sparsity)``: unstructured, keeps the largest magnitudes,
  exactly ``round(sparsity * W.size)`` zeros;
- ``nm_mask(W, n, m)``, ``prune_nm``: N:M structured masks (the same functions as
  ``spla.nm_mask`` and ``spla.prune_nm``);
- ``ste_grad(grad, mask, variant)``: the gradient for the dense weights ``W`` of a
  model that computes with ``M * W``;
- ``gradual_schedule(step, start, end, final_sparsity, initial_sparsity)``: the
  sparsity at a training step (Zhu & Gupta, "To prune, or not to prune", 2017).

A training step with the straight-through estimator (see ``docs/sparse_training.md``)::

    M = prune.nm_mask(W)                       # or magnitude_mask(W, s_t)
    loss, g = loss_and_grad(M * W)             # g = dL / d(M * W)
    W -= lr * prune.ste_grad(g, M)             # "ste": pruned weights may come back
"""

import math
import numbers

import numpy as np

from .._device import is_gpu_array
from .masks import _magnitude, nm_mask, prune_nm

__all__ = ["magnitude_mask", "nm_mask", "prune_nm", "ste_grad", "gradual_schedule"]

_VARIANTS = ("ste", "masked")


def _fraction(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {v}")
    return v


def magnitude_mask(W, sparsity):
    """Boolean mask keeping the largest-magnitude elements of ``W``, with exactly
    ``round(sparsity * W.size)`` of them dropped.

    Parameters
    ----------
    W : array_like
        Numeric array of any shape (complex values are ranked by modulus).
    sparsity : float in [0, 1]
        Fraction to drop. The count is ``round(sparsity * W.size)`` (Python's
        ``round``: halves go to the even count).

    Returns
    -------
    numpy.ndarray of bool, the shape of ``W``
        ``False`` at the dropped positions.

    Notes
    -----
    Unstructured pruning over the whole array (one global threshold). Ties are
    deterministic: among equal magnitudes the element later in C order is
    dropped first (the lower flat index is kept, as in ``nm_mask``). NaN counts
    as the largest magnitude (kept). Dropping the smallest magnitudes
    minimises the removed energy ``sum((W - M * W)**2)`` over all masks of that
    count.

    Examples
    --------
    >>> import numpy as np
    >>> from spla import prune
    >>> prune.magnitude_mask(np.array([[0.5, -3.0], [1.0, 1.0]]), 0.5)
    array([[False,  True],
           [ True, False]])
    """
    s = _fraction(sparsity, "sparsity")
    W = np.asarray(W)
    if W.dtype == object:
        raise TypeError("magnitude_mask needs a numeric array, got dtype object")
    key = _magnitude(W).reshape(-1)
    drop = int(round(s * key.size))
    keep = key.size - drop
    mask = np.zeros(key.size, dtype=bool)
    if keep:
        order = np.argsort(-key, kind="stable")  # larger first; ties: lower index first
        mask[order[:keep]] = True
    return mask.reshape(W.shape)


def _array_module(a):
    if is_gpu_array(a):
        import cupy

        return cupy
    return np


def ste_grad(grad, mask, variant="ste", weights=None, decay=0.0):
    """Gradient for the dense weights ``W`` of a layer that computes with ``M * W``.

    Parameters
    ----------
    grad : array
        ``dL / d(M * W)``, the gradient with respect to the masked weights.
        NumPy or CuPy; the result lives where it does.
    mask : array of bool (or 0/1), the shape of ``grad``
        ``M``.
    variant : {"ste", "masked"}
        ``"ste"`` (default): the straight-through estimator,
        ``dL/dW := dL/d(M * W)``: the mask is treated as the identity in the
        backward pass, so pruned weights keep receiving gradient and can grow
        back into the mask when it is recomputed from magnitudes (SR-STE, the
        NVIDIA 2:4 recipes, RigL-style regrowth). ``"masked"``: the exact
        gradient of ``L(M * W)`` for a fixed mask,
        ``dL/dW = dL/d(M * W) * M`` (the notes' form): pruned weights are frozen,
        which is what fine-tuning after one-shot pruning uses.
    weights : array, optional
        The dense weights ``W``; needed only with ``decay``.
    decay : float
        SR-STE's decay of the pruned weights (Zhou et al., "Learning N:M
        fine-grained structured sparse neural networks from scratch", 2021):
        ``"ste"`` returns ``grad + decay * (1 - M) * W``. Plain STE lets the
        pruned weights drift under a gradient that never vanishes for them,
        so the mask keeps flipping; the decay pulls them back towards 0
        (``docs/sparse_training.md`` shows the difference). Ignored by
        ``"masked"`` (pruned weights get no gradient there).

    Returns
    -------
    array, the shape and dtype of ``grad`` (a new array)

    Examples
    --------
    >>> import numpy as np
    >>> from spla import prune
    >>> g = np.array([1.0, 2.0, 3.0, 4.0]); M = np.array([True, False, True, False])
    >>> prune.ste_grad(g, M), prune.ste_grad(g, M, "masked")
    (array([1., 2., 3., 4.]), array([1., 0., 3., 0.]))
    """
    if variant not in _VARIANTS:
        raise ValueError(f"ste_grad: unknown variant {variant!r}; choose from {_VARIANTS}")
    xp = _array_module(grad)
    g = xp.asarray(grad)
    M = xp.asarray(mask)
    if g.dtype.kind not in "fc":
        raise TypeError(f"ste_grad: grad must be floating point, got dtype {g.dtype}")
    if M.shape != g.shape:
        raise ValueError(f"ste_grad: mask shape {M.shape} differs from grad shape {g.shape}")
    if M.dtype != bool:
        if M.dtype.kind not in "biuf" or bool(((M != 0) & (M != 1)).any()):
            raise ValueError("ste_grad: mask must be boolean (or hold only 0 and 1)")
        M = M != 0
    decay = float(decay)
    if not (decay >= 0 and decay != float("inf")):
        raise ValueError(f"ste_grad: decay must be finite and >= 0, got {decay}")
    if variant == "ste":
        if decay == 0:
            return g.copy()
        if weights is None:
            raise ValueError("ste_grad: decay needs the dense weights (weights=W)")
        Wt = xp.asarray(weights)
        if Wt.shape != g.shape:
            raise ValueError(f"ste_grad: weights shape {Wt.shape} differs from grad shape {g.shape}")
        return (g + decay * xp.where(M, xp.zeros((), dtype=Wt.dtype), Wt)).astype(g.dtype, copy=False)
    return xp.where(M, g, xp.zeros((), dtype=g.dtype))


def gradual_schedule(step, start, end, final_sparsity, initial_sparsity=0.0):
    """Sparsity at a training step under the cubic gradual pruning schedule.

    ``s_t = s_f + (s_i - s_f) (1 - (t - t_0) / (t_end - t_0))^3`` for
    ``t_0 <= t <= t_end``; ``s_i`` before ``t_0`` and ``s_f`` after ``t_end``
    (Zhu & Gupta, 2017). Pruning is fast at first, while the network has many
    redundant weights, and slows down as it nears the target.

    Parameters
    ----------
    step : int, float or array_like
        Training step(s) ``t``.
    start, end : int or float
        ``t_0 <= t_end``. With ``start == end`` the sparsity jumps from ``s_i``
        to ``s_f`` at ``start``.
    final_sparsity : float in [0, 1]
        ``s_f``.
    initial_sparsity : float in [0, 1]
        ``s_i`` (default 0).

    Returns
    -------
    float, or ndarray of float64 for array input

    Examples
    --------
    >>> from spla import prune
    >>> [round(prune.gradual_schedule(t, 0, 100, 0.8), 4) for t in (-5, 0, 50, 100, 200)]
    [0.0, 0.0, 0.7, 0.8, 0.8]
    """
    sf = _fraction(final_sparsity, "final_sparsity")
    si = _fraction(initial_sparsity, "initial_sparsity")
    for name, v in (("start", start), ("end", end)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            raise TypeError(f"gradual_schedule: {name} must be a finite real number, got {v!r}")
    if end < start:
        raise ValueError(f"gradual_schedule: need start <= end, got start={start}, end={end}")
    t = np.asarray(step)
    if t.dtype.kind not in "biuf":
        raise TypeError(f"gradual_schedule: step must be a real number, got {step!r}")
    t = t.astype(np.float64)
    if np.isnan(t).any():
        raise ValueError("gradual_schedule: step is NaN")
    if end == start:
        s = np.where(t >= start, sf, si)
    else:
        frac = np.clip((t - start) / float(end - start), 0.0, 1.0)
        s = sf + (si - sf) * (1.0 - frac) ** 3
        s = np.where(frac <= 0.0, si, np.where(frac >= 1.0, sf, s))   # exact ends
    if s.ndim == 0:
        return float(s)
    return s

