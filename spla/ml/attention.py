"""Sparse and linear attention on spla's sparse formats.

Masks (n x n; ``M[i, j] = 1`` means query ``i`` attends to key ``j``):

- local (sliding window): ``|i - j| <= window / 2`` -> a ``banded_array``;
- strided: ``j mod stride == 0`` -> a ``csr_array``;
- global + local: local, or ``i`` in ``G``, or ``j`` in ``G`` -> a ``csr_array``.

With ``causal=True`` every mask is intersected with ``j <= i``.

Attention restricted to a mask ``M`` is ``softmax(Q K^T * scale on M) V``: the
scores are computed only at the stored positions of the pattern (SDDMM), the
softmax runs over each row's stored positions, and the weighted sum reads only
those rows of ``V``: O(n c d) time and O(n c) memory (O(c) per row when fused, as
``sparse_attention`` does) for ``c`` connections per query, against O(n^2 d) for
dense masked attention.

``linear_attention`` replaces ``exp(q . k)`` by a kernel ``phi(q) . phi(k)`` and
computes ``phi(Q) (phi(K)^T V)`` in O(n D d) without forming any n x n array.

Everything here is real-valued (float32 or float64; integers become float64),
except ``sddmm``, which also takes complex operands.
"""

import math
import operator

import numpy as np

from .. import _dispatch
from .._device import is_gpu_array
from .._dtypes import result_dtype
from .._formats.banded import banded_array
from .._formats.compressed import csr_array

__all__ = [
    "feature_map",
    "global_local_pattern",
    "linear_attention",
    "local_pattern",
    "random_projection",
    "sddmm",
    "softmax",
    "sparse_attention",
    "strided_pattern",
]


# -- patterns ------------------------------------------------------------------------


def _count(value, name, minimum=0):
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r}") from None
    if v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    return v


def local_pattern(n, window, causal=False):
    """Sliding-window mask ``|i - j| <= window / 2`` as a ``banded_array``.

    Parameters
    ----------
    n : int
        Sequence length (the mask is n x n).
    window : int
        Window width ``w >= 0``; query ``i`` sees keys ``i - h .. i + h`` with
        ``h = w // 2``.
    causal : bool
        Keep only ``j <= i`` (keys ``i - h .. i``).

    Returns
    -------
    banded_array
        float64 ones on the diagonals ``-h .. h`` (``-h .. 0`` when causal) that
        fit in the matrix.

    Notes
    -----
    Connections per query: ``2 h + 1`` (``= w + 1`` for even ``w``, ``w`` for odd
    ``w``), ``h + 1`` when causal; fewer for the ``h`` queries nearest each end,
    and never more than ``n``. nnz about ``n (2 h + 1)``.

    Examples
    --------
    >>> from spla import attention
    >>> P = attention.local_pattern(5, 2)
    >>> P.offsets, P.toarray().astype(int)
    (array([-1,  0,  1]), array([[1, 1, 0, 0, 0],
           [1, 1, 1, 0, 0],
           [0, 1, 1, 1, 0],
           [0, 0, 1, 1, 1],
           [0, 0, 0, 1, 1]]))
    """
    n = _count(n, "n")
    h = _count(window, "window") // 2
    top = 0 if causal else h
    offsets = np.arange(-h, top + 1, dtype=np.int64)
    offsets = offsets[(offsets > -n) & (offsets < n)]
    return banded_array._from_parts(np.ones((offsets.size, n)), offsets, (n, n))


def _csr_from_counts(n, counts, cols):
    from .._dtypes import index_dtype_for

    idx = index_dtype_for(max(n, cols.size))
    indptr = np.zeros(n + 1, dtype=idx)
    np.cumsum(counts, out=indptr[1:])
    return csr_array._from_parts(np.ones(cols.size), cols.astype(idx), indptr, (n, n), True)


def strided_pattern(n, stride, causal=False):
    """Strided mask ``j mod stride == 0`` as a ``csr_array``.

    Parameters
    ----------
    n : int
        Sequence length.
    stride : int
        ``s >= 1``: every query attends to keys ``0, s, 2 s, ...``.
    causal : bool
        Keep only ``j <= i``.

    Returns
    -------
    csr_array
        float64 ones, canonical (sorted rows).

    Notes
    -----
    Connections per query: ``ceil(n / s)``; causal: ``i // s + 1`` for query
    ``i``. No row is empty (key 0 is always in).

    Examples
    --------
    >>> from spla import attention
    >>> attention.strided_pattern(4, 2).toarray().astype(int)
    array([[1, 0, 1, 0],
           [1, 0, 1, 0],
           [1, 0, 1, 0],
           [1, 0, 1, 0]])
    """
    n = _count(n, "n")
    s = _count(stride, "stride", 1)
    i = np.arange(n, dtype=np.int64)
    if causal:
        counts = i // s + 1
    else:
        counts = np.full(n, -(-n // s), dtype=np.int64)
    total = int(counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    cols = (np.arange(total, dtype=np.int64) - starts) * s
    return _csr_from_counts(n, counts, cols)


def global_local_pattern(n, window, global_tokens, causal=False):
    """Global + local mask as a ``csr_array``: ``|i - j| <= window / 2``, or ``i`` in
    ``G``, or ``j`` in ``G`` (then ``j <= i`` as well when causal).

    Parameters
    ----------
    n : int
        Sequence length.
    window : int
        Local window width (as in ``local_pattern``).
    global_tokens : array_like of int
        The global tokens ``G`` (indices in ``[0, n)``; duplicates ignored).
    causal : bool
        Keep only ``j <= i``.

    Returns
    -------
    csr_array
        float64 ones, canonical.

    Notes
    -----
    Connections per query: ``n`` for a global query (``i + 1`` when causal); for
    the others, their local window plus the global tokens outside it: at most
    ``2 h + 1 + |G|`` (``h + 1 + |{g in G: g < i - h}|`` when causal). nnz is
    about ``n (2 h + 1 + 2 |G|)``.

    Examples
    --------
    >>> from spla import attention
    >>> attention.global_local_pattern(5, 0, [0]).toarray().astype(int)
    array([[1, 1, 1, 1, 1],
           [1, 1, 0, 0, 0],
           [1, 0, 1, 0, 0],
           [1, 0, 0, 1, 0],
           [1, 0, 0, 0, 1]])
    """
    import scipy.sparse as sp

    n = _count(n, "n")
    h = _count(window, "window") // 2
    G = np.asarray(global_tokens)
    if G.dtype == object or (G.size and G.dtype.kind not in "iu"):
        raise TypeError(f"global_tokens must hold integers, got dtype {G.dtype.name}")
    G = np.unique(G.reshape(-1).astype(np.int64))
    if G.size and (G[0] < 0 or G[-1] >= n):
        bad = int(G[0] if G[0] < 0 else G[-1])
        raise ValueError(f"global token {bad} is out of range for n = {n}")
    rows, cols = [], []
    i = np.arange(n, dtype=np.int64)
    hh = min(h, max(n - 1, 0))
    for k in range(-hh, hh + 1):
        lo, hi = max(0, -k), min(n, n - k)
        rows.append(i[lo:hi])
        cols.append(i[lo:hi] + k)
    if G.size:
        rows.append(np.repeat(i, G.size))
        cols.append(np.tile(G, n))
        rows.append(np.repeat(G, n))
        cols.append(np.tile(i, G.size))
    r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    if causal:
        keep = c <= r
        r, c = r[keep], c[keep]
    M = sp.coo_array((np.ones(r.size), (r, c)), shape=(n, n)).tocsr()
    M.sum_duplicates()
    M.sort_indices()
    counts = np.diff(M.indptr)
    return _csr_from_counts(n, counts, M.indices.astype(np.int64))


# -- SDDMM and softmax -----------------------------------------------------------------


def _as_pattern(pattern, what):
    """A banded_array as it is, anything else as a canonical csr_array (on the CPU)."""
    from .._base import SparseArray, _is_scipy_sparse

    if isinstance(pattern, banded_array):
        P = pattern
    elif isinstance(pattern, SparseArray) or _is_scipy_sparse(pattern):
        P = pattern if isinstance(pattern, csr_array) else csr_array(pattern)
        if not P.has_canonical_format:
            P = P.copy()
            P.sum_duplicates()
    else:
        raise TypeError(
            f"{what}: pattern must be a banded_array, a csr_array or a SciPy sparse array, "
            f"got {type(pattern).__name__}"
        )
    return P


def _dense(x, name, what, ndim=None, real=True, device="cpu"):
    """``x`` as an array of ``device`` (NumPy or CuPy), checked; never moved between devices."""
    on_gpu = is_gpu_array(x)
    if device == "cpu" and on_gpu:
        raise ValueError(
            f"{what}: {name} is a CuPy (GPU) array but the pattern is on the CPU; "
            "move the pattern with .to_device('cuda') or the array with .get()")
    if device != "cpu" and not on_gpu:
        raise ValueError(
            f"{what}: {name} is not a CuPy array but the pattern is on the GPU; "
            "move it with cupy.asarray() or the pattern with .to_device('cpu')")
    a = _dispatch.array_module(device).asarray(x)
    if a.dtype == object:
        raise TypeError(f"{what}: {name} must be a numeric array")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{what}: {name} must be {ndim}-D, got shape {a.shape}")
    if ndim is None and a.ndim < 2:
        raise ValueError(f"{what}: {name} must have shape (..., n, d), got shape {a.shape}")
    if real and a.dtype.kind == "c":
        raise TypeError(f"{what}: {name} must be real, got dtype {a.dtype.name}")
    if a.dtype.kind not in "biufc":
        raise TypeError(f"{what}: unsupported dtype {a.dtype.name} for {name}")
    return a


def sddmm(Q, K, pattern):
    """``Q @ K.T`` computed only at the stored positions of ``pattern``.

    Parameters
    ----------
    Q : array_like, shape (m, d)
    K : array_like, shape (n, d)
    pattern : banded_array, csr_array or SciPy sparse, shape (m, n)
        Only its structure is used (every stored position, zeros included).

    Returns
    -------
    banded_array or csr_array
        In the pattern's format (banded stays banded; any other becomes a canonical
        CSR), with the pattern's structure and values ``Q[i] . K[j]`` (no complex
        conjugation). Dtype: NumPy's promotion of ``Q`` and ``K`` (float32, float64,
        complex64, complex128). Banded padding is 0.

    Notes
    -----
    O(nnz d) time, O(nnz) memory: O(n c d) and O(n c) for ``c`` connections per query.

    Examples
    --------
    >>> import numpy as np
    >>> from spla import attention
    >>> Q = np.arange(6.0).reshape(3, 2); K = np.ones((3, 2))
    >>> S = attention.sddmm(Q, K, attention.local_pattern(3, 0))
    >>> S.toarray()
    array([[1., 0., 0.],
           [0., 5., 0.],
           [0., 0., 9.]])
    """
    P = _as_pattern(pattern, "sddmm")
    Q = _dense(Q, "Q", "sddmm", 2, real=False, device=P.device)
    K_ = _dense(K, "K", "sddmm", 2, real=False, device=P.device)
    m, n = P.shape
    if Q.shape[0] != m or K_.shape[0] != n:
        raise ValueError(
            f"sddmm: Q {Q.shape} and K {K_.shape} do not fit a pattern of shape {P.shape} "
            f"(needs Q with {m} rows and K with {n} rows)"
        )
    if Q.shape[1] != K_.shape[1]:
        raise ValueError(
            f"sddmm: Q and K must have the same number of columns, got {Q.shape} and {K_.shape}")
    dt = result_dtype(Q.dtype, K_.dtype)
    return _dispatch.lookup("sddmm", P.format, P.device)(Q, K_, P, dt)


def softmax(S):
    """Row-wise softmax over the stored entries of a sparse array.

    Each row's maximum is subtracted before ``exp`` (no overflow for large
    logits); the stored entries of a row then sum to 1. **A row with no stored
    entries gives zeros** (it stays empty), and so does a row whose entries are
    all ``-inf``. Unstored positions are not part of the softmax (they are
    ``-inf``, not 0).

    Parameters
    ----------
    S : banded_array, csr_array or SciPy sparse
        Real-valued scores (e.g. from ``sddmm``).

    Returns
    -------
    banded_array or csr_array
        Same format and structure as ``S`` (any non-banded input becomes a
        canonical CSR; duplicates are summed first), same dtype.

    Examples
    --------
    >>> import numpy as np, spla
    >>> from spla import attention
    >>> S = spla.csr_array(np.array([[1000.0, 1000.0], [0.0, 0.0]]))
    >>> attention.softmax(S).toarray()
    array([[0.5, 0.5],
           [0. , 0. ]])
    """
    P = _as_pattern(S, "softmax")
    if P.dtype.kind == "c":
        raise TypeError(f"softmax: scores must be real, got dtype {P.dtype.name}")
    return _dispatch.lookup("softmax", P.format, P.device)(P)


def sparse_attention(Q, K, V, pattern, scale=None):
    """``softmax(Q K^T * scale on the pattern) V``, fused: never stores the scores.

    Parameters
    ----------
    Q : array_like, shape (..., m, d)
    K : array_like, shape (..., n, d)
    V : array_like, shape (..., n, dv)
        Leading (batch, head, ...) dimensions broadcast against each other.
    pattern : banded_array, csr_array or SciPy sparse, shape (m, n)
        Which keys each query attends to (its stored positions, whatever their
        values); e.g. from ``local_pattern``, ``strided_pattern`` or
        ``global_local_pattern``. Shared by every batch element.
    scale : float, optional
        Multiplies the scores; ``1 / sqrt(d)`` by default.

    Returns
    -------
    ndarray, shape (..., m, dv)
        NumPy's promotion of the inputs' dtypes where it is a float type of
        16 or 32 bits (float16 inputs compute in float32 and return float16;
        float32 ones return float32), float64 otherwise. A query with no
        connections gives a row of zeros.

    Notes
    -----
    Each query's scores, their maximum, ``exp`` and the weighted sum of ``V`` run
    in float64, on one thread: O(n c (d + dv)) time and O(c) scratch per query for
    ``c`` connections per query, against O(n^2 d) time and O(n^2) memory for dense
    masked attention. Large logits do not overflow (the row maximum is subtracted).

    Examples
    --------
    >>> import numpy as np
    >>> from spla import attention
    >>> rng = np.random.default_rng(0)
    >>> Q, K, V = (rng.standard_normal((2, 6, 4)) for _ in range(3))   # 2 heads
    >>> out = attention.sparse_attention(Q, K, V, attention.local_pattern(6, 2))
    >>> out.shape
    (2, 6, 4)
    """
    P = _as_pattern(pattern, "sparse_attention")
    Q = _dense(Q, "Q", "sparse_attention", device=P.device)
    K_ = _dense(K, "K", "sparse_attention", device=P.device)
    V = _dense(V, "V", "sparse_attention", device=P.device)
    m, n = P.shape
    if Q.shape[-2] != m or K_.shape[-2] != n or V.shape[-2] != n:
        raise ValueError(
            f"sparse_attention: Q {Q.shape}, K {K_.shape}, V {V.shape} do not fit a pattern "
            f"of shape {P.shape} (needs Q with {m} rows, K and V with {n} rows)"
        )
    d = Q.shape[-1]
    if K_.shape[-1] != d:
        raise ValueError(
            f"sparse_attention: Q and K must share the last dimension, got {Q.shape} and {K_.shape}")
    try:
        lead = np.broadcast_shapes(Q.shape[:-2], K_.shape[:-2], V.shape[:-2])
    except ValueError:
        raise ValueError(
            f"sparse_attention: the leading dimensions of Q {Q.shape}, K {K_.shape} and "
            f"V {V.shape} do not broadcast"
        ) from None
    # NumPy's promotion of the inputs gives the result's dtype; the kernels compute in
    # float32 (float16 and float32 inputs) or float64 (everything else).
    promoted = np.result_type(Q.dtype, K_.dtype, V.dtype)
    dt = np.dtype(np.float32) if promoted in (np.float16, np.float32) else np.dtype(np.float64)
    out_dt = promoted if promoted == np.float16 else dt
    if scale is None:
        scale = 1.0 / math.sqrt(d) if d else 1.0
    scale = float(scale)
    B = int(np.prod(lead)) if lead else 1
    dv = V.shape[-1]

    xp = _dispatch.array_module(P.device)

    def flat(a, rows):
        a = xp.broadcast_to(a, lead + a.shape[-2:])
        return xp.ascontiguousarray(a.reshape((B, rows, a.shape[-1])), dtype=dt)

    Qf, Kf, Vf = flat(Q, m), flat(K_, n), flat(V, n)
    out = _dispatch.lookup("sparse_attention", P.format, P.device)(Qf, Kf, Vf, P, scale)
    return out.reshape(lead + (m, dv)).astype(out_dt, copy=False)


# -- linear attention -------------------------------------------------------------------

_FEATURE_MAPS = ("elu", "relu", "random")


def random_projection(d, num_features, seed=None):
    """The Gaussian projection ``W`` (``num_features x d``, i.i.d. N(0, 1)) of the
    ``"random"`` feature map.

    Parameters
    ----------
    d : int
        Head dimension.
    num_features : int
        Number of random features ``D >= 1``.
    seed : int or numpy.random.Generator, optional

    Returns
    -------
    ndarray, shape (num_features, d), float64

    Examples
    --------
    >>> from spla import attention
    >>> attention.random_projection(4, 8, seed=0).shape
    (8, 4)
    """
    d = _count(d, "d")
    D = _count(num_features, "num_features", 1)
    rng = np.random.default_rng(seed)
    return rng.standard_normal((D, d))


def _default_num_features(d):
    return max(16, int(math.ceil(d * math.log(max(d, 2)))))


def feature_map(X, kind="elu", projection=None):
    """The feature map ``phi`` of ``linear_attention``, applied to the last axis of ``X``.

    Parameters
    ----------
    X : array_like, shape (..., d)
    kind : {"elu", "relu", "random"}
        ``"elu"``: ``elu(x) + 1`` (positive); ``"relu"``: ``max(x, 0)``;
        ``"random"``: positive random features of the softmax kernel,
        ``phi(x) = exp(W x' - |x'|^2 / 2) / sqrt(D)`` with ``x' = x / d**(1/4)``,
        so that ``E[phi(q) . phi(k)] = exp(q . k / sqrt(d))`` (Choromanski et al.,
        "Rethinking attention with Performers", 2021).
    projection : ndarray, shape (D, d)
        ``W`` for ``"random"`` (see ``random_projection``).

    Returns
    -------
    ndarray, shape (..., d) or (..., D) for ``"random"``

    Examples
    --------
    >>> import numpy as np
    >>> from spla import attention
    >>> attention.feature_map(np.array([-1.0, 0.0, 2.0]), "elu")
    array([0.36787944, 1.        , 3.        ])
    """
    X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        raise TypeError(f"feature_map: X must be real, got dtype {X.dtype.name}")
    if X.dtype.kind != "f":
        X = X.astype(np.float64)
    if kind == "elu":
        return np.where(X > 0, X + 1, np.exp(np.minimum(X, 0)))
    if kind == "relu":
        return np.maximum(X, 0)
    if kind == "random":
        return _random_features(X, projection, None)
    raise ValueError(f"unknown feature map {kind!r}; choose from {_FEATURE_MAPS}")


_phi = feature_map  # linear_attention's parameter of the same name shadows it


def _random_features(X, W, stabilise):
    """phi(X) for the random map; ``stabilise`` subtracts, inside ``exp``, the maximum
    over the last axis ("row") or over the last two axes ("block"), a factor that
    cancels in linear attention's ratio."""
    if W is None:
        raise ValueError("feature map 'random' needs a projection (see random_projection)")
    W = np.asarray(W)
    d = X.shape[-1]
    if W.ndim != 2 or W.shape[1] != d:
        raise ValueError(f"projection must have shape (D, {d}), got {W.shape}")
    Xs = X / (d ** 0.25 if d else 1.0)
    z = Xs @ W.T.astype(X.dtype, copy=False) - 0.5 * np.sum(Xs * Xs, axis=-1, keepdims=True)
    if stabilise == "row":
        z = z - z.max(axis=-1, keepdims=True)
    elif stabilise == "block":
        z = z - z.max(axis=(-2, -1), keepdims=True)
    return np.exp(z) / math.sqrt(W.shape[0])


def linear_attention(Q, K, V, feature_map="elu", causal=False, num_features=None, seed=None,
                     chunk=128):
    """Linear attention ``phi(Q) (phi(K)^T V) / (phi(Q) (phi(K)^T 1))`` in O(n D dv).

    Parameters
    ----------
    Q : array_like, shape (..., m, d)
    K : array_like, shape (..., n, d)
    V : array_like, shape (..., n, dv)
        Leading dimensions broadcast. Real (float32 stays float32, else float64).
    feature_map : {"elu", "relu", "random"}
        ``phi`` (see ``spla.attention.feature_map``).
    causal : bool
        Query ``i`` sees keys ``j <= i`` only (needs ``m == n``): prefix sums of
        ``phi(K_j) V_j^T`` computed chunk by chunk.
    num_features : int, optional
        ``D`` for ``"random"``; ``max(16, ceil(d ln d))`` by default.
    seed : int or numpy.random.Generator, optional
        Seed of the random projection (``random_projection(d, D, seed)``).
    chunk : int
        Rows per chunk of the causal form (time O(n chunk D + n D dv), memory
        O(chunk^2 + D dv) per batch element).

    Returns
    -------
    ndarray, shape (..., m, dv)
        A query whose denominator is 0 (possible with ``"relu"``) gives zeros.

    Notes
    -----
    No n x n array is formed: O(n D dv) time and O(D dv) state (``D = d`` for
    ``"elu"`` and ``"relu"``). For ``"random"`` the result approximates softmax
    attention; the error of ``phi(Q) phi(K)^T`` against ``exp(Q K^T / sqrt(d))``
    shrinks like ``1 / sqrt(D)``. The maxima subtracted inside the random
    features' ``exp`` (per query row, per key block) cancel in the ratio.

    Examples
    --------
    >>> import numpy as np
    >>> from spla import attention
    >>> rng = np.random.default_rng(0)
    >>> Q, K, V = (rng.standard_normal((8, 4)) for _ in range(3))
    >>> attention.linear_attention(Q, K, V, causal=True).shape
    (8, 4)
    """
    what = "linear_attention"
    Q = _dense(Q, "Q", what)
    K_ = _dense(K, "K", what)
    V = _dense(V, "V", what)
    m, d = Q.shape[-2:]
    n = K_.shape[-2]
    if K_.shape[-1] != d:
        raise ValueError(
            f"{what}: Q and K must share the last dimension, got {Q.shape} and {K_.shape}")
    if V.shape[-2] != n:
        raise ValueError(f"{what}: K {K_.shape} and V {V.shape} must have the same number of rows")
    if causal and m != n:
        raise ValueError(f"{what}: causal attention needs as many queries as keys, got {m} and {n}")
    try:
        lead = np.broadcast_shapes(Q.shape[:-2], K_.shape[:-2], V.shape[:-2])
    except ValueError:
        raise ValueError(
            f"{what}: the leading dimensions of Q {Q.shape}, K {K_.shape} and V {V.shape} "
            "do not broadcast"
        ) from None
    chunk = _count(chunk, "chunk", 1)
    dt = np.result_type(Q.dtype, K_.dtype, V.dtype)
    dt = np.dtype(np.float32) if dt == np.float32 else np.dtype(np.float64)
    Q, K_, V = (a.astype(dt, copy=False) for a in (Q, K_, V))
    if feature_map == "random":
        if num_features is None:
            D = _default_num_features(d)
        else:
            D = _count(num_features, "num_features", 1)
        W = random_projection(d, D, seed)
        fq = _random_features(Q, W, "row")
        fk = _random_features(K_, W, "block")
    elif feature_map in ("elu", "relu"):
        fq = _phi(Q, feature_map)
        fk = _phi(K_, feature_map)
    else:
        raise ValueError(f"unknown feature map {feature_map!r}; choose from {_FEATURE_MAPS}")
    fq = np.broadcast_to(fq, lead + fq.shape[-2:])
    fk = np.broadcast_to(fk, lead + fk.shape[-2:])
    V = np.broadcast_to(V, lead + V.shape[-2:])
    if not causal:
        kv = np.swapaxes(fk, -1, -2) @ V                     # (..., D, dv)
        z = fk.sum(axis=-2)                                  # (..., D)
        num = fq @ kv
        den = np.einsum("...nD,...D->...n", fq, z)
        return _divide(num, den).astype(dt, copy=False)
    D = fq.shape[-1]
    dv = V.shape[-1]
    out = np.empty(lead + (m, dv), dtype=dt)
    state = np.zeros(lead + (D, dv), dtype=dt)
    zsum = np.zeros(lead + (D,), dtype=dt)
    for c0 in range(0, m, chunk):
        c1 = min(m, c0 + chunk)
        q, k, v = fq[..., c0:c1, :], fk[..., c0:c1, :], V[..., c0:c1, :]
        A = np.tril(q @ np.swapaxes(k, -1, -2))              # intra-chunk, j <= i
        num = q @ state + A @ v
        den = np.einsum("...nD,...D->...n", q, zsum) + A.sum(axis=-1)
        out[..., c0:c1, :] = _divide(num, den)
        state += np.swapaxes(k, -1, -2) @ v
        zsum += k.sum(axis=-2)
    return out


def _divide(num, den):
    """num / den[..., None], with zeros where den is 0."""
    safe = np.where(den == 0, 1, den)
    return np.where((den == 0)[..., None], 0, num / safe[..., None])
