"""``cgs`` and ``tfqmr``: SciPy's Conjugate Gradients Squared and Transpose-Free QMR
for spla arrays on the CPU, with fused Numba vector passes (``spla/_kernels/krylov.py``).

The iterations are those of ``scipy.sparse.linalg.cgs`` and ``tfqmr`` (SciPy
1.17): the same stopping tests, breakdown codes (``cgs``: ``info = -10`` for
``rho``, ``-11`` for ``rtilde . vhat = 0``; ``tfqmr``: ``-1`` for
``rstar . v = 0``), callbacks and ``info`` values, and the same order of
operations in every update. The dot products and norms are summed in a fixed
chunked order instead of BLAS's, so the iterates agree with SciPy's to
rounding. Any other ``A`` goes to SciPy's (or CuPy's) function with spla's
products, as before.
"""

import numpy as np

from . import _convert
from ._gmres import _check_atol, _spla_cpu

__all__ = ["cgs", "tfqmr"]

#: Below this length the fused passes run their serial twins.
FUSED_PARALLEL_MIN = 50_000

_EXAMPLE_A = "np.array([[4.0, 1.0], [2.0, 3.0]])"


def _setup(name, A, b, x0, M, atol, callback):
    _check_atol(name, atol)
    _convert.check_callback(name, callback)
    return _convert.krylov_system(A, M, x0, b)


def _helpers(A, psolve, xtype):
    def product(v):
        return np.asarray(A @ v, dtype=xtype)

    def precondition(v):
        return v if psolve is None else np.asarray(psolve(v), dtype=xtype)

    return product, precondition


def _kernels(n):
    from .._kernels import krylov

    big = n >= FUSED_PARALLEL_MIN
    return (krylov.CGS_PARALLEL if big else krylov.CGS_SERIAL), (
        krylov.dot if big else krylov.dot_serial), krylov.nchunks(n)


def cgs(A, b, x0=None, *, rtol=1e-5, atol=0., maxiter=None, M=None, callback=None):
    """Solve ``A @ x = b`` with Conjugate Gradients Squared (``scipy.sparse.linalg.cgs``).

    For a square spla array on the CPU, spla runs SciPy's iteration with its own
    products and fused vector passes (four per iteration besides the two
    products, no BLAS call); anything else goes to SciPy's function (CuPy's for
    GPU arrays) with spla's products. Arguments, iteration and results are SciPy's.

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
    maxiter : int, optional
        At most this many iterations (``10 n`` by default).
    M : spla array, SciPy sparse array, ndarray or LinearOperator, optional
        Preconditioner, an approximation of ``inv(A)`` (``phat = M p``,
        ``uhat = M (u + q)`` as in SciPy).
    callback : callable, optional
        Called as ``callback(xk)`` after each iteration.

    Returns
    -------
    x : ndarray
        The solution (as far as it got).
    info : int
        0 on convergence, ``maxiter`` without it, -10 or -11 on breakdown.

    Raises
    ------
    ValueError
        If ``A`` is not square, ``b``, ``x0`` or ``M`` do not match it, or
        ``atol`` is negative.

    Examples
    --------
    >>> import numpy as np, spla
    >>> A = spla.csr_array(np.array([[4.0, 1.0], [2.0, 3.0]]))
    >>> x, info = spla.linalg.cgs(A, np.array([1.0, 2.0]), rtol=1e-10)
    >>> info, np.allclose(A @ x, [1.0, 2.0])
    (0, True)
    """
    if not _spla_cpu(A):
        from ._isolve import _scipy_cgs

        return _scipy_cgs(A, b, x0, rtol=rtol, atol=atol, maxiter=maxiter, M=M,
                          callback=callback)
    from ._threads import solver_threads

    psolve, x, b = _setup("cgs", A, b, x0, M, atol, callback)
    with solver_threads(True):
        return _cgs(A, psolve, x, b, rtol, atol, maxiter, callback)


def _cgs(A, psolve, x, b, rtol, atol, maxiter, callback):
    bnrm2 = np.linalg.norm(b)
    atol = max(float(atol), float(rtol) * float(bnrm2))
    if bnrm2 == 0:
        return b, 0
    n = len(b)
    xtype = x.dtype
    T = xtype.type
    R = np.finfo(xtype).dtype.type
    if maxiter is None:
        maxiter = n * 10
    rhotol = np.finfo(xtype.char).eps ** 2
    (norm_dot, residual_norm_dot, directions, update, axpy, *_), dot, chunks = _kernels(n)
    part1 = np.zeros(chunks, dtype=xtype)
    part2 = np.zeros((chunks, 2), dtype=xtype)
    product, precondition = _helpers(A, psolve, xtype)

    r = b - product(x) if x.any() else b.copy()
    rtilde = r.copy()
    rr, rho_cur = norm_dot(r, rtilde, part2)
    rho_prev = None
    p = u = q = uq = None
    for iteration in range(maxiter):
        if np.sqrt(R(rr)) < atol:
            return x, 0
        rho_cur = T(rho_cur)
        if np.abs(rho_cur) < rhotol:
            return x, -10
        if iteration > 0:
            beta = rho_cur / rho_prev
            directions(u, p, r, q, beta)
        else:
            p = r.copy()
            u = r.copy()
            q = np.empty_like(r)
            uq = np.empty_like(r) if psolve is not None else q
        phat = precondition(p)
        vhat = product(phat)
        rv = T(dot(rtilde, vhat, part1))
        if rv == 0:
            return x, -11
        alpha = rho_cur / rv
        if psolve is None:
            update(q, u, vhat, x, uq, alpha, True)
        else:
            update(q, u, vhat, x, uq, alpha, False)
            axpy(x, alpha, precondition(uq))
        rho_prev = rho_cur
        rr, rho_cur = residual_norm_dot(r, b, product(x), rtilde, part2)
        if callback:
            callback(x)
    return x, maxiter


def tfqmr(A, b, x0=None, *, rtol=1e-5, atol=0., maxiter=None, M=None, callback=None,
          show=False):
    """Solve ``A @ x = b`` with Transpose-Free QMR (``scipy.sparse.linalg.tfqmr``).

    For a square spla array on the CPU, spla runs SciPy's iteration with its own
    products and fused vector passes (two or three per half step besides the
    product, no BLAS call); anything else goes to SciPy's function (CuPy's for
    GPU arrays) with spla's products. Arguments, iteration and results are SciPy's.

    Parameters
    ----------
    A : spla array, SciPy sparse array, ndarray or LinearOperator
        The ``(n, n)`` matrix.
    b : ndarray, shape (n,) or (n, 1)
        Right-hand side.
    x0 : ndarray or ``"Mb"``, optional
        Starting guess (zeros by default).
    rtol, atol : float
        Converged when the QMR bound ``tau * sqrt(k + 1)`` drops below
        ``max(rtol * norm(r0), atol)`` (SciPy's test: ``r0`` is the initial
        residual).
    maxiter : int, optional
        At most this many (half) iterations (``min(10000, 10 n)`` by default).
    M : spla array, SciPy sparse array, ndarray or LinearOperator, optional
        Preconditioner, an approximation of ``inv(A)`` (SciPy's ``M A``).
    callback : callable, optional
        Called as ``callback(xk)`` after each (half) iteration.
    show : bool
        Print SciPy's convergence message.

    Returns
    -------
    x : ndarray
        The solution (as far as it got).
    info : int
        0 on convergence, ``maxiter`` without it, -1 on breakdown.

    Raises
    ------
    ValueError
        If ``A`` is not square, ``b``, ``x0`` or ``M`` do not match it, or
        ``atol`` is negative.

    Examples
    --------
    >>> import numpy as np, spla
    >>> A = spla.csr_array(np.array([[4.0, 1.0], [2.0, 3.0]]))
    >>> x, info = spla.linalg.tfqmr(A, np.array([1.0, 2.0]), rtol=1e-10)
    >>> info, np.allclose(A @ x, [1.0, 2.0])
    (0, True)
    """
    if not _spla_cpu(A):
        from ._isolve import _scipy_tfqmr

        return _scipy_tfqmr(A, b, x0, rtol=rtol, atol=atol, maxiter=maxiter, M=M,
                            callback=callback, show=show)
    from ._threads import solver_threads

    psolve, x, b = _setup("tfqmr", A, b, x0, M, atol, callback)
    with solver_threads(True):
        return _tfqmr(A, psolve, x, x0 is None, b, rtol, atol, maxiter, callback, show)


def _tfqmr(A, psolve, x, zero_start, b, rtol, atol, maxiter, callback, show):
    if np.linalg.norm(b) == 0.:
        return b.copy(), 0
    n = len(b)
    xtype = x.dtype
    T = xtype.type
    R = np.finfo(xtype).dtype.type
    if maxiter is None:
        maxiter = min(10000, n * 10)
    (norm_dot, _, _, _, axpy, step, directions, add_dot), dot, chunks = _kernels(n)
    part1 = np.zeros(chunks, dtype=xtype)
    part2 = np.zeros((chunks, 2), dtype=xtype)
    product, precondition = _helpers(A, psolve, xtype)

    rstar = b.copy() if zero_start else b - product(x)
    u = rstar.copy()
    unext = np.empty_like(u)
    w = rstar.copy()
    d = np.zeros_like(u)
    v = precondition(product(rstar))
    uhat = v
    v = v.copy()
    theta = eta = R(0)
    rr, _ = norm_dot(rstar, rstar, part2)
    rho = T(R(rr))
    rhoLast = rho
    r0norm = np.sqrt(R(rr))
    tau = r0norm
    if r0norm == 0:
        return x, 0
    atol = max(float(atol), float(rtol) * float(r0norm))
    lazy = psolve is None and callback is None  # x += eta d folded into the next step
    pending = False
    vtrstar = T(dot(rstar, v, part1))
    alpha = T(0)
    for it in range(maxiter):
        even = it % 2 == 0
        if even:
            if vtrstar == 0.:
                if pending:
                    axpy(x, eta, d)
                return x, -1
            alpha = rho / vtrstar
        coef = T((theta ** 2 / alpha) * eta)
        ww, rho_w = step(unext, u, v, w, uhat, d, x, rstar, alpha, coef, T(eta), even,
                         pending, part2)
        theta = np.sqrt(R(ww)) / tau
        c = np.sqrt(1. / (1 + theta ** 2))
        tau *= theta * c
        eta = (c ** 2) * alpha
        if lazy:
            pending = True
        else:
            axpy(x, T(eta), precondition(d))
            if callback is not None:
                callback(x)
        if tau * np.sqrt(it + 1) < atol:
            if pending:
                axpy(x, T(eta), d)
            if show:
                print(f"TFQMR: Linear solve converged due to reach TOL iterations {it + 1}")
            return x, 0
        if not even:
            rho = T(rho_w)
            beta = rho / rhoLast
            directions(u, v, w, uhat, beta)
            uhat = precondition(product(u))
            vtrstar = T(add_dot(v, uhat, rstar, part1))
        else:
            uhat = precondition(product(unext))
            u, unext = unext, u
            rhoLast = rho
    if pending:
        axpy(x, T(eta), d)
    if show:
        print(f"TFQMR: Linear solve not converged due to reach MAXIT iterations {it + 1}")
    return x, maxiter
