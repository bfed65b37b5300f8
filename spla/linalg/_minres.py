"""``minres``: SciPy's MINRES for real symmetric spla arrays on the CPU, with fused
Numba vector passes (``spla/_kernels/krylov.py``).

The iteration is that of ``scipy.sparse.linalg.minres`` (SciPy 1.17): the same
Lanczos recurrence, Givens rotations, stopping tests (``istop``), ``info``,
callbacks and errors (indefinite preconditioner, non-symmetric matrix), with the
scalar work line by line as SciPy's and the vector updates fused (three passes
per iteration besides the product and ``v = y / beta``). Complex dtypes (where
SciPy's unconjugated ``inner`` is used), float32 (whose iterates SciPy's float64
rotation scalars promote to float64), ``show=True``, ``check=True`` and any
``A`` other than a square spla array on the CPU go to SciPy's function with
spla's products.
"""

from math import sqrt

import numpy as np

from . import _convert
from ._gmres import _spla_cpu

__all__ = ["minres"]

#: Below this length the fused passes run their serial twins.
FUSED_PARALLEL_MIN = 50_000


def minres(A, b, x0=None, *, rtol=1e-5, shift=0.0, maxiter=None, M=None, callback=None,
           show=False, check=False):
    """Solve ``(A - shift I) x = b`` for a symmetric ``A`` with MINRES
    (``scipy.sparse.linalg.minres``).

    For a float64 square spla array on the CPU (without ``show`` or ``check``), spla
    runs SciPy's iteration with its own products and fused vector passes;
    anything else goes to SciPy's function (CuPy's for GPU arrays) with spla's
    products. Arguments, iteration and results are SciPy's.

    Parameters
    ----------
    A : spla array, SciPy sparse array, ndarray or LinearOperator
        The symmetric ``(n, n)`` matrix.
    b : ndarray, shape (n,) or (n, 1)
        Right-hand side.
    x0 : ndarray or ``"Mb"``, optional
        Starting guess (zeros by default).
    rtol : float
        SciPy's relative tolerance (on ``|r| / (|A| |x|)`` and ``|A r| / (|A| |r|)``).
    shift : float
        Solve ``(A - shift I) x = b``.
    maxiter : int, optional
        At most this many iterations (``5 n`` by default).
    M : spla array, SciPy sparse array, ndarray or LinearOperator, optional
        Symmetric positive definite preconditioner (an approximation of ``inv(A)``).
    callback : callable, optional
        Called as ``callback(xk)`` after each iteration.
    show, check : bool
        SciPy's printing and symmetry checks (these run SciPy's loop).

    Returns
    -------
    x : ndarray
        The solution (as far as it got).
    info : int
        0 on success, ``maxiter`` when the iteration limit was reached.

    Raises
    ------
    ValueError
        If ``A`` is not square, ``b``, ``x0`` or ``M`` do not match it, the
        preconditioner is indefinite or the matrix is found not symmetric.

    Examples
    --------
    >>> import numpy as np, spla
    >>> A = spla.csr_array(np.array([[4.0, 1.0], [1.0, -3.0]]))
    >>> x, info = spla.linalg.minres(A, np.array([1.0, 2.0]), rtol=1e-10)
    >>> info, np.allclose(A @ x, [1.0, 2.0])
    (0, True)
    """
    if (not _spla_cpu(A) or show or check
            or np.dtype(A.dtype).kind not in "biuf"
            or np.iscomplexobj(b) or np.iscomplexobj(x0)
            or (M is not None and np.dtype(getattr(M, "dtype", "d")).kind == "c")):
        from ._isolve import _scipy_minres

        return _scipy_minres(A, b, x0, rtol=rtol, shift=shift, maxiter=maxiter, M=M,
                             callback=callback, show=show, check=check)
    _convert.check_callback("minres", callback)

    from ._threads import solver_threads

    psolve, x, b = _convert.krylov_system(A, M, x0, b)
    if x.dtype != np.float64:  # complex M; float32 (SciPy's scalars promote to float64)
        from ._isolve import _scipy_minres

        return _scipy_minres(A, b, x0, rtol=rtol, shift=shift, maxiter=maxiter, M=M,
                             callback=callback)
    with solver_threads(True):
        return _minres(A, psolve, x, x0 is None, b, rtol, shift, maxiter, callback)


def _minres(A, psolve, x, zero_start, b, rtol, shift, maxiter, callback):
    from .._kernels import krylov

    n = len(b)
    xtype = x.dtype
    T = xtype.type
    eps = np.finfo(xtype).eps
    if maxiter is None:
        maxiter = 5 * n
    big = n >= FUSED_PARALLEL_MIN
    lanczos, orth, solution, scaled = krylov.MINRES_PARALLEL if big else krylov.MINRES_SERIAL
    dot = krylov.dot if big else krylov.dot_serial
    part = np.zeros(krylov.nchunks(n), dtype=xtype)

    def product(v):
        return np.asarray(A @ v, dtype=xtype)

    def precondition(v):
        return v if psolve is None else np.asarray(psolve(v), dtype=xtype)

    istop = 0
    itn = 0
    r1 = b.copy() if zero_start else b - product(x)
    y = precondition(r1)
    beta1 = T(dot(r1, y, part))
    if beta1 < 0:
        raise ValueError('indefinite preconditioner')
    elif beta1 == 0:
        return (x, 0)
    bnorm = np.linalg.norm(b)
    if bnorm == 0:
        return (b, 0)
    beta1 = sqrt(beta1)
    oldb = 0
    beta = beta1
    dbar = 0
    epsln = 0
    phibar = beta1
    rhs1 = beta1
    rhs2 = 0
    tnorm2 = 0
    gmax = 0
    gmin = np.finfo(xtype).max
    cs = -1
    sn = 0
    w = np.zeros(n, dtype=xtype)
    w2 = np.zeros(n, dtype=xtype)
    v = np.empty(n, dtype=xtype)
    x = x.copy()
    r2 = r1
    shift_t = T(shift)
    while itn < maxiter:
        itn += 1
        s = 1.0 / beta
        scaled(v, T(s), y)
        y = product(v)
        alfa = T(lanczos(y, v, r1, shift_t, T(beta / oldb) if itn >= 2 else T(0), itn >= 2,
                         part))
        yy = orth(y, r2, T(alfa / beta), part)
        r1 = r2
        r2 = y
        oldb = beta
        if psolve is None:
            beta = T(yy)
        else:
            y = precondition(r2)
            beta = T(dot(r2, y, part))
        if beta < 0:
            raise ValueError('non-symmetric matrix')
        beta = sqrt(beta)
        tnorm2 += alfa ** 2 + oldb ** 2 + beta ** 2
        if itn == 1:
            if beta / beta1 <= 10 * eps:
                istop = -1
        oldeps = epsln
        delta = cs * dbar + sn * alfa
        gbar = sn * dbar - cs * alfa
        epsln = sn * beta
        dbar = - cs * beta
        root = np.linalg.norm([gbar, dbar])
        gamma = np.linalg.norm([gbar, beta])
        gamma = max(gamma, eps)
        cs = gbar / gamma
        sn = beta / gamma
        phi = cs * phibar
        phibar = sn * phibar
        denom = 1.0 / gamma
        # w1, w2, w = w2, w, new: the new w over the old w2 (no longer needed)
        xx = solution(w2, w, v, x, T(oldeps), T(delta), T(denom), T(phi), part)
        w2, w = w, w2
        gmax = max(gmax, gamma)
        gmin = min(gmin, gamma)
        z = rhs1 / gamma
        rhs1 = rhs2 - delta * z
        rhs2 = - epsln * z
        Anorm = sqrt(tnorm2)
        ynorm = np.sqrt(T(xx))
        epsx = Anorm * ynorm * eps
        rnorm = phibar
        test1 = np.inf if (ynorm == 0 or Anorm == 0) else rnorm / (Anorm * ynorm)
        test2 = np.inf if Anorm == 0 else root / Anorm
        Acond = gmax / gmin
        if istop == 0:
            if 1 + test2 <= 1:
                istop = 2
            if 1 + test1 <= 1:
                istop = 1
            if itn >= maxiter:
                istop = 6
            if Acond >= 0.1 / eps:
                istop = 4
            if epsx >= beta1:
                istop = 3
            if test2 <= rtol:
                istop = 2
            if test1 <= rtol:
                istop = 1
        if callback is not None:
            callback(x)
        if istop != 0:
            break
    return (x, maxiter if istop == 6 else 0)
