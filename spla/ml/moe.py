"""Mixture of experts on spla's CSR arrays: top-k routing, the load-balancing loss,
sparse dispatch of tokens to experts, and parameter counts.

A router gives each of ``T`` tokens logits over ``N`` experts. ``topk_route`` keeps
the ``k`` largest per token and returns the gating matrix ``G`` (T x N) as a
``csr_array`` with exactly ``k`` entries per row. ``moe_apply`` computes

    y_t = sum_i G[t, i] E_i(x_t)

running every expert once, on exactly the tokens routed to it: row ``i`` of
``G^T`` (as CSR) lists them. That is ``T k`` expert evaluations instead of
``T N`` for the dense sum over all experts.

Theorem 3 of the notes (parameters): an MoE layer of ``N`` experts of ``P_e``
parameters each and a router of ``P_r`` holds ``P_r + N P_e`` parameters but
uses ``P_r + k P_e`` per token (``param_counts``), so the compute per token is
that of a dense model of ``P_r + k P_e`` parameters (about 2 FLOPs each).

Theorem 4 of the notes (load balancing) is wrong as stated; see
``load_balancing_loss`` and ``docs/theory.md``.
"""

import collections
import math
import operator

import numpy as np

from .._base import SparseArray, _is_scipy_sparse
from .._dtypes import index_dtype_for
from .._formats.compressed import csr_array

__all__ = ["topk_route", "routing_statistics", "load_balancing_loss", "moe_apply",
           "param_counts", "MoEParams"]


def _logits(logits, what):
    if isinstance(logits, SparseArray) or _is_scipy_sparse(logits):
        raise TypeError(f"{what}: logits must be a dense array, got a sparse array")
    L = np.asarray(logits)
    if L.dtype.kind not in "biuf":
        raise TypeError(f"{what}: logits must be real numbers, got dtype {L.dtype}")
    if L.ndim != 2:
        raise ValueError(f"{what}: logits must be 2-D (tokens x experts), got shape {L.shape}")
    if L.dtype.kind != "f" or L.dtype == np.float16:
        L = L.astype(np.float64)
    if L.size and not np.isfinite(L).all():
        raise ValueError(f"{what}: logits must be finite (found NaN or inf)")
    return L


def _k(k, n_experts, what):
    try:
        k = operator.index(k)
    except TypeError:
        raise TypeError(f"{what}: k must be an integer, got {k!r}") from None
    if not 1 <= k <= n_experts:
        raise ValueError(f"{what}: need 1 <= k <= number of experts ({n_experts}), got k={k}")
    return k


def _softmax(L):
    """Row softmax in float64 (max subtracted first)."""
    Z = L.astype(np.float64) - L.max(axis=1, keepdims=True)
    E = np.exp(Z)
    return E / E.sum(axis=1, keepdims=True)


def _topk(L, k):
    """Sorted expert indices (T x k) of the k largest logits per row; among equal
    logits the lower expert index wins."""
    # A stable sort of -L puts larger logits first and, among ties, lower indices first.
    order = np.argsort(-L, axis=1, kind="stable")[:, :k]
    return np.sort(order, axis=1)


def topk_route(logits, k, normalize=False):
    """Top-k gating matrix of a router, as a ``csr_array`` with exactly ``k``
    entries per row.

    Parameters
    ----------
    logits : array_like, shape (T, N)
        Router logits of ``T`` tokens over ``N`` experts (real and finite;
        integers become float64).
    k : int
        Experts per token, ``1 <= k <= N``.
    normalize : bool
        ``False``: the kept entries are the softmax probabilities over all ``N``
        experts (they sum to at most 1). ``True``: the kept ``k`` are rescaled
        to sum to 1 (Mixtral's form: softmax over the top-k logits).

    Returns
    -------
    csr_array, shape (T, N)
        Canonical (sorted columns), ``k`` stored entries in every row, even
        where a probability underflows to 0, so that the structure is the
        routing. float32 for float32 logits, float64 otherwise.

    Notes
    -----
    Experts are ranked by logit (the softmax is monotone); among equal logits
    the lower expert index is chosen, so the routing is deterministic. The
    softmax runs in float64 with the row maximum subtracted.

    Examples
    --------
    >>> import numpy as np
    >>> from spla import moe
    >>> G = moe.topk_route(np.array([[1.0, 1.0, 0.0], [0.0, 2.0, 3.0]]), k=1)
    >>> G.indices, G.toarray().round(3)
    (array([0, 2], dtype=int32), array([[0.422, 0.   , 0.   ],
           [0.   , 0.   , 0.705]]))
    >>> moe.topk_route(np.array([[0.0, 1.0, 2.0]]), 2, normalize=True).toarray().round(3)
    array([[0.   , 0.269, 0.731]])
    """
    L = _logits(logits, "topk_route")
    T, N = L.shape
    k = _k(k, N, "topk_route")
    out_dtype = np.float32 if L.dtype == np.float32 else np.float64
    idx = index_dtype_for(max(N, T * k))
    cols = _topk(L, k)
    P = _softmax(L) if T else np.zeros((0, N))
    vals = np.take_along_axis(P, cols, axis=1)
    if normalize:
        # softmax over the kept logits: exact even where the full softmax underflows
        kept = np.take_along_axis(L, cols, axis=1).astype(np.float64)
        vals = _softmax(kept) if T else vals
    indptr = np.arange(0, T * k + 1, k, dtype=idx)
    return csr_array._from_parts(vals.reshape(-1).astype(out_dtype), cols.reshape(-1).astype(idx),
                                 indptr, (T, N), True)


def routing_statistics(logits, k):
    """The two vectors of the load-balancing loss: ``f`` and ``P``.

    Parameters
    ----------
    logits : array_like, shape (T, N), T >= 1
    k : int

    Returns
    -------
    f : ndarray, shape (N,)
        Fraction of the ``T k`` routed (token, expert) assignments that go to
        each expert (sums to 1).
    P : ndarray, shape (N,)
        Mean router probability (softmax over all ``N``) of each expert (sums to 1).

    Examples
    --------
    >>> import numpy as np
    >>> from spla import moe
    >>> f, P = moe.routing_statistics(np.array([[2.0, 0.0], [3.0, 0.0]]), k=1)
    >>> f, P.round(3)
    (array([1., 0.]), array([0.917, 0.083]))
    """
    L = _logits(logits, "routing_statistics")
    T, N = L.shape
    k = _k(k, N, "routing_statistics")
    if T == 0:
        raise ValueError("routing_statistics: need at least one token (f and P are means over tokens)")
    cols = _topk(L, k)
    f = np.bincount(cols.reshape(-1), minlength=N) / float(T * k)
    P = _softmax(L).mean(axis=0)
    return f, P


def load_balancing_loss(logits, k, alpha=0.01):
    """Switch-style auxiliary loss ``alpha * N * sum_i f_i P_i``.

    Parameters
    ----------
    logits : array_like, shape (T, N), T >= 1
        Router logits.
    k : int
        Experts per token (``f`` counts the top-``k`` assignments).
    alpha : float
        Weight of the loss (0.01 in the Switch Transformer).

    Returns
    -------
    float

    Notes
    -----
    ``f`` and ``P`` are those of ``routing_statistics``. Uniform routing
    (``f_i = P_i = 1 / N``) gives exactly ``alpha``.

    **Correction to the notes (their Theorem 4).** They claim that "by
    Cauchy-Schwarz" the loss is minimised at ``f_i = P_i = 1/N``. With ``f``
    and ``P`` free on the simplex this is false: ``f = (1, 0)``, ``P = (0, 1)``
    gives 0 < alpha. It is false even for routings that real logits produce:
    three tokens with logits ``(1e-3, 0)`` and one with ``(-30, 0)`` (``k = 1``)
    give ``f = (3/4, 1/4)``, ``P ~ (3/8, 5/8)`` and a loss of about
    ``0.875 alpha``. What holds is the statement for ``f = P``:
    ``N sum_i P_i^2 >= 1`` with equality exactly at the uniform distribution
    (Cauchy-Schwarz against the all-ones vector). In training ``f`` is a
    constant of the gradient (counts are not differentiable), and the gradient
    ``alpha N f_i`` on ``P_i`` pushes probability away from overloaded experts;
    that, not a minimum at uniform, is why the loss balances load.

    Examples
    --------
    >>> import numpy as np
    >>> from spla import moe
    >>> float(moe.load_balancing_loss(np.zeros((4, 2)) + [[0.1, 0.0], [0.0, 0.1]] * 2, 1))
    0.01
    """
    f, P = routing_statistics(logits, k)
    alpha = float(alpha)
    if not math.isfinite(alpha):
        raise ValueError(f"load_balancing_loss: alpha must be finite, got {alpha}")
    return alpha * f.size * float(np.dot(f, P))


def _gating(G, T, what):
    if _is_scipy_sparse(G):
        G = csr_array(G)
    if not isinstance(G, SparseArray):
        raise TypeError(f"{what}: G must be a sparse gating matrix (e.g. from topk_route), "
                        f"got {type(G).__name__}")
    if G.ndim != 2 or G.shape[0] != T:
        raise ValueError(f"{what}: G has shape {G.shape}, but x has {T} tokens (rows)")
    if G.device != "cpu":
        raise NotImplementedError(
            f"{what}: G must live on the CPU, got device {G.device!r}; move it with "
            "G.to_device('cpu') (the expert dispatch runs on the CPU)")
    if G.dtype.kind == "c":
        raise TypeError(f"{what}: gates must be real, got dtype {G.dtype}")
    G = G.tocsr()
    if not G.has_canonical_format:
        G = G.copy()
        G.sum_duplicates()
    return G


def moe_apply(x, G, experts, out_features=None):
    """``y = sum_i G[:, i] * E_i(x)``, each expert run once on exactly its tokens.

    Parameters
    ----------
    x : array_like, shape (T, d_in)
        Token representations.
    G : csr_array (or any spla or SciPy sparse array), shape (T, N)
        Gating matrix, e.g. from ``topk_route``. The stored entries of column
        ``i`` are the tokens routed to expert ``i`` (stored zeros included:
        such a token is routed but weighted 0); duplicates are summed.
    experts : sequence of N callables, or array_like of shape (N, d_in, d_out)
        Callables map a ``(t_i, d_in)`` array of the routed tokens to a
        ``(t_i, d_out)`` array. An array ``W`` means linear experts
        ``E_i(x) = x @ W[i]``.
    out_features : int, optional
        ``d_out``, needed only for callable experts when no token is routed
        at all; otherwise ``experts[0]`` is then called on a ``(0, d_in)`` array
        to learn it.

    Returns
    -------
    ndarray, shape (T, d_out)
        NumPy's promotion of the dtypes of ``x``, ``G`` and the expert outputs
        (float32 stays float32). Tokens with no stored gate give zeros.

    Notes
    -----
    ``G^T`` is built once as CSR (its row ``i`` lists expert ``i``'s tokens and
    gates); then expert ``i`` runs on ``x[tokens_i]`` and its output, scaled by
    the gates, is added to those rows of ``y``. Experts with no tokens are not
    called. Work: ``nnz(G)`` token evaluations (``T k`` for top-k routing)
    instead of ``T N``.

    Examples
    --------
    >>> import numpy as np
    >>> from spla import moe
    >>> x = np.arange(6.0).reshape(3, 2)
    >>> G = moe.topk_route(np.array([[5.0, 0.0], [0.0, 5.0], [5.0, 0.0]]), 1, normalize=True)
    >>> moe.moe_apply(x, G, [lambda t: 10 * t, lambda t: -t]).round(3)
    array([[ 0., 10.],
           [-2., -3.],
           [40., 50.]])
    """
    what = "moe_apply"
    if isinstance(x, SparseArray) or _is_scipy_sparse(x):
        raise TypeError(f"{what}: x must be a dense array")
    x = np.asarray(x)
    if x.dtype.kind not in "biufc":
        raise TypeError(f"{what}: x must be numeric, got dtype {x.dtype}")
    if x.ndim != 2:
        raise ValueError(f"{what}: x must be 2-D (tokens x features), got shape {x.shape}")
    T, d_in = x.shape
    G = _gating(G, T, what)
    N = G.shape[1]
    stacked = not callable(experts) and not isinstance(experts, (list, tuple))
    if stacked:
        W = np.asarray(experts)
        if W.dtype.kind not in "biufc":
            raise TypeError(f"{what}: stacked expert weights must be numeric, got dtype {W.dtype}")
        if W.ndim != 3 or W.shape[0] != N or W.shape[1] != d_in:
            raise ValueError(f"{what}: stacked expert weights must have shape (N, d_in, d_out) = "
                             f"({N}, {d_in}, d_out), got {W.shape}")
        call = lambda i, xs: xs @ W[i]  # noqa: E731
        d_out = W.shape[2]
    else:
        if callable(experts):
            raise TypeError(f"{what}: experts must be a sequence of callables or a weight array")
        if len(experts) != N:
            raise ValueError(f"{what}: G has {N} experts (columns) but {len(experts)} experts "
                             "were given")
        for i, e in enumerate(experts):
            if not callable(e):
                raise TypeError(f"{what}: experts[{i}] is not callable ({type(e).__name__})")
        call = lambda i, xs: experts[i](xs)  # noqa: E731
        d_out = None if out_features is None else operator.index(out_features)

    Gt = G.T.tocsr()._snap()  # expert-major: row i = tokens of expert i; one reading
    ptr = np.asarray(Gt.indptr, dtype=np.int64)
    tok = np.asarray(Gt.indices, dtype=np.intp)
    gates = Gt.data
    parts = []
    for i in range(N):
        a, b = ptr[i], ptr[i + 1]
        if a == b:
            continue
        rows = tok[a:b]
        out = np.asarray(call(i, x[rows]))
        if out.ndim != 2 or out.shape[0] != b - a:
            raise ValueError(f"{what}: expert {i} returned shape {out.shape} for {b - a} tokens "
                             f"(needs ({b - a}, d_out))")
        if d_out is None:
            d_out = out.shape[1]
        elif out.shape[1] != d_out:
            raise ValueError(f"{what}: expert {i} returned {out.shape[1]} features, expected "
                             f"{d_out}")
        if out.dtype.kind not in "biufc":
            raise TypeError(f"{what}: expert {i} returned dtype {out.dtype}")
        parts.append((rows, gates[a:b], out))
    if d_out is None:  # nothing routed, callable experts
        probe = np.asarray(experts[0](x[:0]))
        d_out = probe.shape[1] if probe.ndim == 2 else 0
        parts_dtypes = [probe.dtype]
    else:
        parts_dtypes = [p[2].dtype for p in parts] or ([W.dtype] if stacked else [])
    dt = np.result_type(x.dtype, G.dtype, *parts_dtypes)
    if dt.kind in "biu":
        dt = np.dtype(np.float64)
    y = np.zeros((T, d_out), dtype=dt)
    for rows, g, out in parts:
        # rows are distinct within one expert (G is canonical): plain fancy-index add
        y[rows] += g.astype(dt, copy=False)[:, None] * out
    return y


MoEParams = collections.namedtuple("MoEParams", ["total", "active"])
MoEParams.__doc__ = "Parameter counts of an MoE model: all stored, and used per token."


def param_counts(router_params, expert_params, n_experts, k, shared_params=0):
    """Total and active parameters of a mixture of experts (the notes' Theorem 3).

    ``total = shared + router + N * expert`` and
    ``active = shared + router + k * expert``: every token passes through the
    shared layers (attention, embeddings, norms) and the router, and through
    ``k`` of the ``N`` experts.

    Parameters
    ----------
    router_params : int
        Parameters of the router(s), summed over layers.
    expert_params : int
        Parameters of one expert in every MoE layer, summed over layers (one
        "expert slot": e.g. 32 layers x one SwiGLU FFN).
    n_experts : int
        ``N``, experts per MoE layer.
    k : int
        Experts per token, ``1 <= k <= N``.
    shared_params : int
        Everything else (attention, embeddings, norms, output head).

    Returns
    -------
    MoEParams(total, active) of ints

    Notes
    -----
    Compute per token is about ``2 * active`` FLOPs (one multiply-add per
    active weight), the cost of a dense model of ``active`` parameters, while
    memory holds ``total``.

    Examples
    --------
    >>> from spla import moe
    >>> moe.param_counts(router_params=10, expert_params=100, n_experts=8, k=2,
    ...                  shared_params=1000)
    MoEParams(total=1810, active=1210)
    """
    vals = []
    for name, v in (("router_params", router_params), ("expert_params", expert_params),
                    ("n_experts", n_experts), ("k", k), ("shared_params", shared_params)):
        try:
            v = operator.index(v)
        except TypeError:
            raise TypeError(f"param_counts: {name} must be an integer, got {v!r}") from None
        if v < 0:
            raise ValueError(f"param_counts: {name} must be >= 0, got {v}")
        vals.append(v)
    r, e, n, k, s = vals
    if not 1 <= k <= n:
        raise ValueError(f"param_counts: need 1 <= k <= n_experts, got k={k}, n_experts={n}")
    return MoEParams(total=s + r + n * e, active=s + r + k * e)
