"""``bicgstab``: BiCGSTAB with SciPy's signature and results, whose vector updates
run as fused Numba passes (``spla/_kernels/krylov.py``) for spla arrays on the CPU.

The iteration is that of ``scipy.sparse.linalg.bicgstab`` (SciPy 1.17), with the
same breakdown tests (``info = -10`` for ``rho``, ``-11`` for ``omega`` or
``rtilde . v = 0``), the same early exit on ``|s|`` and the same order of
operations in every update; the dot products are summed in a fixed chunked
order instead of BLAS's, so the iterates agree with SciPy's to rounding. Any
other ``A`` goes to SciPy's (or CuPy's) function with spla's products as before.
"""

import numpy as np

from . import _convert
from ._gmres import _check_atol, _spla_cpu

__all__ = ["bicgstab"]

#: Below this length the fused passes run their serial twins.
FUSED_PARALLEL_MIN = 50_000


def bicgstab(A, b, x0=None, *, rtol=1e-5, atol=0., maxiter=None, M=None, callback=None):
    """Solve ``A @ x = b`` with BIConjugate Gradients STABilized
    (``scipy.sparse.linalg.bicgstab``).

    For a square spla array on the CPU, spla runs SciPy's iteration with its own
    products and fused vector passes (five per iteration besides the two
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
        Preconditioner: an approximation of ``inv(A)`` (applied as SciPy does,
        ``phat = M p`` and ``shat = M s``).
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
    >>> x, info = spla.linalg.bicgstab(A, np.array([1.0, 2.0]), rtol=1e-10)
    >>> info, np.allclose(A @ x, [1.0, 2.0])
    (0, True)
    """
    if not _spla_cpu(A):
        from ._isolve import _scipy_bicgstab

        return _scipy_bicgstab(A, b, x0, rtol=rtol, atol=atol, maxiter=maxiter, M=M,
                               callback=callback)
    _check_atol("bicgstab", atol)
    _convert.check_callback("bicgstab", callback)

    from ._threads import solver_threads

    psolve, x, b = _convert.krylov_system(A, M, x0, b)
    with solver_threads(True):
        return _bicgstab(A, psolve, x, b, rtol, atol, maxiter, callback)


def _bicgstab(A, psolve, x, b, rtol, atol, maxiter, callback):
    from .._kernels import krylov

    bnrm2 = np.linalg.norm(b)
    atol = max(float(atol), float(rtol) * float(bnrm2))
    if bnrm2 == 0:
        return b, 0
    n = len(b)
    xtype = x.dtype
    T = xtype.type
    if maxiter is None:
        maxiter = n * 10
    rhotol = np.finfo(xtype.char).eps ** 2
    omegatol = rhotol
    big = n >= FUSED_PARALLEL_MIN
    residual_s, dots_ts, update, direction = (krylov.BICGSTAB_PARALLEL if big
                                              else krylov.BICGSTAB_SERIAL)
    dot = krylov.dot if big else krylov.dot_serial
    chunks = krylov.nchunks(n)
    part1 = np.zeros(chunks, dtype=xtype)
    part2 = np.zeros((chunks, 2), dtype=xtype)
    rpart = np.zeros(chunks, dtype=np.finfo(xtype).dtype)

    def product(v):
        return np.asarray(A @ v, dtype=xtype)

    def precondition(v):
        return v if psolve is None else np.asarray(psolve(v), dtype=xtype)

    r = b - product(x) if x.any() else b.copy()
    rtilde = r.copy()
    rnorm = np.linalg.norm(r)
    rho = T(dot(rtilde, r, part1))
    s = np.empty_like(r)
    rho_prev = omega = alpha = p = v = None
    for iteration in range(maxiter):
        if rnorm < atol:
            return x, 0
        if np.abs(rho) < rhotol:
            return x, -10
        if iteration > 0:
            if np.abs(omega) < omegatol:
                return x, -11
            beta = (rho / rho_prev) * (alpha / omega)
            direction(p, r, v, omega, beta)
        else:
            p = r.copy()
        phat = precondition(p)
        v = product(phat)
        rv = T(dot(rtilde, v, part1))
        if rv == 0:
            return x, -11
        alpha = rho / rv
        if np.sqrt(residual_s(s, r, v, alpha, rpart)) < atol:
            x += alpha * phat
            return x, 0
        shat = precondition(s)
        t = product(shat)
        ts, tt = dots_ts(t, s, part2)
        omega = T(ts) / T(tt)
        rr, rho_next = update(x, r, s, t, phat, shat, rtilde, alpha, omega, part2)
        rnorm = np.sqrt(rr)
        rho_prev, rho = rho, T(rho_next)
        if callback:
            callback(x)
    return x, maxiter
