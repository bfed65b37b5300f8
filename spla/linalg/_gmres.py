"""``gmres``: restarted GMRES with SciPy's signature and results, whose Arnoldi step
runs as fused Numba kernels (``spla/_kernels/krylov.py``) for spla arrays on the CPU.

The loop is that of ``scipy.sparse.linalg.gmres`` (SciPy 1.17): left
preconditioning (``w = M A v``), the inner tolerance of gh-8400, Givens rotations
with LAPACK's ``lartg``, the breakdown test ``h1 <= eps h0``, the callback types
and the ``info`` values. Only the Gram-Schmidt step differs in how it runs:
SciPy's modified Gram-Schmidt on column ``j`` is ``j + 1`` BLAS dots and ``j + 1``
NumPy axpys with temporaries (about six vector passes per basis vector); spla's
is ``j + 1`` fused parallel passes (``w -= t v_k`` together with the next dot
``v_{k+1} . w``), the same arithmetic up to the order of summation, so the
iterates agree with SciPy's to rounding. Classical Gram-Schmidt variants (CGS2,
DGKS) read the basis as a block but were slower here (see docs/linalg.md).
Any other ``A`` (SciPy matrices, operators, GPU and Dask
arrays) goes to SciPy's (or CuPy's) function as before.
"""

import numbers
import warnings

import numpy as np

from . import _convert

__all__ = ["gmres"]

#: The Gram-Schmidt variant of the Arnoldi step: "dgks" (classical Gram-Schmidt,
#: repeated when the first pass cancelled more than half of |w|^2 (the test of
#: Daniel, Gragg, Kaufman and Stewart), "cgs2" (classical, always twice), "mgs"
#: (modified Gram-Schmidt, one fused pass per basis vector: SciPy's own arithmetic),
#: "mgs2" (MGS with two basis vectors per pass, the second coefficient corrected by
#: their inner product) or "mgs2f" (the default since session 15: the same arithmetic
#: in one vectorised loop per sweep, ``krylov.mgs2f_column``; see docs/linalg.md).
ORTHOGONALIZATION = "mgs2f"
#: Below this many basis entries (``n * (j + 1)``) a CGS pass runs serially.
PARALLEL_MIN = 100_000
#: Below this length the MGS sweeps (one parallel region per basis vector) run serially.
MGS_PARALLEL_MIN = 50_000


def _spla_cpu(A):
    return (_convert.is_spla(A) and A.device == "cpu" and len(A.shape) == 2
            and A.shape[0] == A.shape[1])


def _check_atol(name, atol):
    """SciPy's ValueError for an ``atol`` that is not a non-negative number."""
    if atol is None or isinstance(atol, str) or not atol >= 0:
        raise ValueError(f"'spla.linalg.{name}' called with invalid `atol`={atol!r}; if set, "
                         "`atol` must be a real, non-negative number.")


def gmres(A, b, x0=None, *, rtol=1e-5, atol=0., restart=None, maxiter=None, M=None,
          callback=None, callback_type=None):
    """Solve ``A @ x = b`` with restarted GMRES (``scipy.sparse.linalg.gmres``).

    For a square spla array on the CPU, spla runs SciPy's iteration with its own
    products and fused Gram-Schmidt kernels (see Notes); anything else goes to
    SciPy's function (CuPy's for GPU arrays) with spla's products. Arguments,
    iteration and results are SciPy's.

    Parameters
    ----------
    A : spla array, SciPy sparse array, ndarray or LinearOperator
        The ``(n, n)`` matrix.
    b : ndarray, shape (n,) or (n, 1)
        Right-hand side.
    x0 : ndarray or ``"Mb"``, optional
        Starting guess (zeros by default; ``"Mb"`` starts from ``M @ b``).
    rtol, atol : float
        Converged when ``norm(b - A @ x) <= max(rtol * norm(b), atol)``.
    restart : int, optional
        Inner iterations between restarts (``min(20, n)`` by default).
    maxiter : int, optional
        Restart cycles (``10 n`` by default); inner iterations with
        ``callback_type="legacy"``.
    M : spla array, SciPy sparse array, ndarray or LinearOperator, optional
        Approximate inverse of ``A``, applied on the left (``M A x = M b``);
        the preconditioned residual is minimised.
    callback : callable, optional
        Called as ``callback(arg)``: ``arg`` is the relative preconditioned
        residual norm after each inner iteration (``"pr_norm"``, ``"legacy"``)
        or the iterate after each restart cycle (``"x"``).
    callback_type : {"x", "pr_norm", "legacy"}, optional
        See ``callback``; ``"legacy"`` (default, with a DeprecationWarning as in
        SciPy when a callback is given) also makes ``maxiter`` count inner
        iterations.

    Returns
    -------
    x : ndarray
        The solution (as far as it got).
    info : int
        0 on convergence, else ``maxiter``.

    Raises
    ------
    ValueError
        If ``A`` is not square, ``b``, ``x0`` or ``M`` do not match it,
        ``callback_type`` is unknown, ``atol`` is negative or ``restart`` < 1.

    Notes
    -----
    Column ``j`` of the Arnoldi step is one product ``A v_j`` (and ``M``), then
    modified Gram-Schmidt over the ``j + 1`` basis vectors as ``j + 1`` fused
    parallel passes (each subtracts one basis vector and takes the next dot
    product). BLAS stays on one thread meanwhile
    (``spla.linalg.set_blas_policy``).

    Examples
    --------
    >>> import numpy as np, spla
    >>> A = spla.csr_array(np.array([[3.0, 2.0, 0.0], [1.0, -1.0, 0.0], [0.0, 5.0, 1.0]]))
    >>> x, info = spla.linalg.gmres(A, np.array([2.0, 4.0, -1.0]), atol=1e-10)
    >>> info, np.allclose(A @ x, [2.0, 4.0, -1.0])
    (0, True)
    """
    if not _spla_cpu(A):
        from ._isolve import _scipy_gmres

        return _scipy_gmres(A, b, x0, rtol=rtol, atol=atol, restart=restart, maxiter=maxiter,
                            M=M, callback=callback, callback_type=callback_type)
    if callback is not None and callback_type is None:
        warnings.warn(
            "spla.linalg.gmres called without specifying `callback_type` (as SciPy's gmres, "
            "whose default will change): pass callback_type='pr_norm', or 'legacy' to keep "
            "the old meaning of maxiter", DeprecationWarning, stacklevel=2)
    if callback_type is None:
        callback_type = "legacy"
    if callback_type not in ("x", "pr_norm", "legacy"):
        raise ValueError(f"Unknown callback_type: {callback_type!r}")
    if callback is None:
        callback_type = None
    elif not callable(callback):
        raise TypeError(f"gmres: callback must be callable, got {type(callback).__name__}")
    _check_atol("gmres", atol)
    for name, v in (("restart", restart), ("maxiter", maxiter)):
        if v is not None and (isinstance(v, (bool, np.bool_))
                              or not isinstance(v, numbers.Integral)):
            raise TypeError(f"gmres: {name} must be an integer, got {v!r}")
    if restart is not None and restart < 1:
        raise ValueError(f"gmres: restart must be >= 1, got {restart}")
    if maxiter is not None and maxiter < 1:
        raise ValueError(f"gmres: maxiter must be >= 1, got {maxiter}")

    from ._threads import solver_threads

    psolve, x, b = _convert.krylov_system(A, M, x0, b)
    with solver_threads(True):
        return _gmres(A, psolve, x, b, rtol, atol, restart, maxiter, callback, callback_type)


def _gmres(A, psolve, x, b, rtol, atol, restart, maxiter, callback, callback_type):
    from scipy.linalg import get_lapack_funcs

    from .._kernels import krylov

    n = len(b)
    xtype = x.dtype
    bnrm2 = np.linalg.norm(b)
    atol = max(float(atol), float(rtol) * float(bnrm2))
    if bnrm2 == 0:
        return b, 0
    eps = np.finfo(xtype.char).eps

    def matvec(v):
        return A @ v

    if psolve is None:
        def psolve(v):
            return v
    if maxiter is None:
        maxiter = n * 10
    if restart is None:
        restart = 20
    restart = min(restart, n)
    Mb_nrm2 = np.linalg.norm(psolve(b))
    ptol_max_factor = 1.
    ptol = Mb_nrm2 * min(ptol_max_factor, atol / bnrm2)
    presid = 0.
    lartg = get_lapack_funcs("lartg", dtype=xtype)

    chunks = krylov.nchunks(n)
    rtype = np.finfo(xtype).dtype
    part = np.zeros((chunks, max(restart + 2, 4)), dtype=xtype)
    rpart = np.zeros(chunks, dtype=rtype)
    if ORTHOGONALIZATION not in ("dgks", "cgs2", "mgs", "mgs2", "mgs2f"):
        raise ValueError(f"gmres: unknown ORTHOGONALIZATION {ORTHOGONALIZATION!r}")
    mgs = ORTHOGONALIZATION in ("mgs", "mgs2", "mgs2f")
    if ORTHOGONALIZATION == "mgs2f":
        mgs_kernel = (krylov.MGS2F_PARALLEL if n >= MGS_PARALLEL_MIN
                      else krylov.MGS2F_SERIAL)[0]
    elif ORTHOGONALIZATION == "mgs2":
        mgs_kernel = krylov.MGS2_PARALLEL if n >= MGS_PARALLEL_MIN else krylov.MGS2_SERIAL
    else:
        mgs_kernel = None
    dgks = ORTHOGONALIZATION == "dgks"

    def kernels(m, per_row=False):
        big = n >= MGS_PARALLEL_MIN if per_row else n * m >= PARALLEL_MIN
        return krylov.GS_PARALLEL if big else krylov.GS_SERIAL

    v = np.empty([restart + 1, n], dtype=xtype)
    h = np.zeros([restart, restart + 1], dtype=xtype)
    givens = np.zeros([restart, 2], dtype=xtype)
    inner_iter = 0
    for iteration in range(maxiter):
        if iteration == 0:
            r = b - matvec(x) if x.any() else b.copy()
            if np.linalg.norm(r) < atol:
                return x, 0
        v[0, :] = psolve(r)
        tmp = np.linalg.norm(v[0, :])
        kernels(1)[3](v[0], xtype.type(1 / tmp))
        S = np.zeros(restart + 1, dtype=xtype)
        S[0] = tmp
        breakdown = False
        for col in range(restart):
            w = v[col + 1]
            w[:] = psolve(matvec(v[col, :]))
            m = col + 1
            gs_dots, gs_sub_dots, gs_sub_norm, scale, _, _ = kernels(m)
            if mgs:
                if mgs_kernel is None:
                    h0sq, h1sq = kernels(1, True)[5](v, m, w, h[col], part)
                else:
                    h0sq, h1sq = mgs_kernel(v, m, w, h[col], part)
                h0, h1 = np.sqrt(h0sq), np.sqrt(h1sq)
            else:
                gs_dots(v, m, w, part)
                sums = part[:, :m + 1].sum(axis=0)
                h0 = np.sqrt(sums[m].real)
                c1 = sums[:m].copy()
                # |w - V h|^2 = |w|^2 - |h|^2 for an orthonormal V: without heavy
                # cancellation (DGKS: the norm keeps more than 1/sqrt(2)) one pass is enough
                kept = sums[m].real - np.vdot(c1, c1).real
                if dgks and kept > 0.5 * sums[m].real:
                    gs_sub_norm(v, m, w, c1, rpart)
                    h[col, :m] = c1
                else:
                    gs_sub_dots(v, m, w, c1, part)
                    c2 = part[:, :m].sum(axis=0)
                    gs_sub_norm(v, m, w, c2, rpart)
                    h[col, :m] = c1 + c2
                h1 = np.sqrt(rpart.sum())
            h[col, col + 1] = h1
            if h1 <= eps * h0:
                h[col, col + 1] = 0
                breakdown = True
            else:
                scale(w, xtype.type(1 / h1))
            for k in range(col):
                c, s = givens[k, 0], givens[k, 1]
                n0, n1 = h[col, [k, k + 1]]
                h[col, [k, k + 1]] = [c * n0 + s * n1, -s.conj() * n0 + c * n1]
            c, s, mag = lartg(h[col, col], h[col, col + 1])
            givens[col, :] = [c, s]
            h[col, [col, col + 1]] = mag, 0
            tmp = -np.conjugate(s) * S[col]
            S[[col, col + 1]] = [c * S[col], tmp]
            presid = np.abs(tmp)
            inner_iter += 1
            if callback_type in ("legacy", "pr_norm"):
                callback(presid / bnrm2)
            if callback_type == "legacy" and inner_iter == maxiter:
                break
            if presid <= ptol or breakdown:
                break
        if h[col, col] == 0:
            S[col] = 0
        y = np.zeros([col + 1], dtype=xtype)
        y[:] = S[:col + 1]
        for k in range(col, 0, -1):
            if y[k] != 0:
                y[k] /= h[k, k]
                tmp = y[k]
                y[:k] -= tmp * h[k, :k]
        if y[0] != 0:
            y[0] /= h[0, 0]
        kernels(col + 1)[4](v, col + 1, y, x)
        r = b - matvec(x)
        rnorm = np.linalg.norm(r)
        if callback_type == "legacy" and inner_iter == maxiter:
            return x, 0 if rnorm <= atol else maxiter
        if callback_type == "x":
            callback(x)
        if rnorm <= atol:
            break
        elif breakdown:
            break
        elif presid <= ptol:
            ptol_max_factor = max(eps, 0.25 * ptol_max_factor)
        else:
            ptol_max_factor = min(1.0, 1.5 * ptol_max_factor)
        ptol = presid * min(ptol_max_factor, atol / rnorm)
    info = 0 if (rnorm <= atol) else maxiter
    return x, info
