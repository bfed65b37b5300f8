"""``lsqr`` and ``lsmr``: SciPy's least-squares solvers for spla arrays on the CPU,
with fused Numba vector passes (``spla/_kernels/krylov.py``) and the transposed
products on the cached transpose (``spla._backends.cpu.transposed``).

The iterations are those of ``scipy.sparse.linalg.lsqr`` and ``lsmr`` (SciPy
1.17): the same Golub-Kahan bidiagonalisation, plane rotations, estimates
(``anorm``, ``acond``, ``arnorm``, ``xnorm``, ``r1norm``, ``r2norm``, LSQR's
``var``), stopping tests and ``istop`` codes, with the scalar work step by step
as SciPy's and each vector update SciPy's expression element by element. Per
iteration, besides ``A @ v`` and ``A.T @ u``, four passes over the vectors and no
BLAS call: ``u = A v - alfa u`` with its norm, ``u /= beta``, ``v = A.T u - beta v``
with its norm, and one pass that scales ``v`` and updates the solution with its
norm (SciPy makes about fifteen, temporaries included). Norms are summed in a
fixed chunked order instead of BLAS's, so the iterates agree with SciPy's to
rounding and do not depend on the number of threads.

For the solve, a CSR or CSC ``A`` keeps the transpose of its storage
(``spla.set_transpose_cache``): ``A.T @ u`` is then a parallel gather with
SciPy's bits instead of a scatter. Anything else (float32, complex or integer
``b``/``x0``, complex ``A``, ``show=True``, an empty dimension, arrays that are not
spla CPU arrays) goes to SciPy's loop with spla's products.
"""

from math import sqrt

import numpy as np

from .._backends.cpu import transposed
from . import _convert

__all__ = ["lsmr", "lsqr"]

#: Below this length a vector pass runs its serial twin.
FUSED_PARALLEL_MIN = 50_000


def _sym_ortho(a, b):
    """``(c, s, r)`` of the plane rotation with ``c a + s b = r``, ``-s a + c b = 0``,
    by S.-C. Choi's stable recipe (SciPy's ``_sym_ortho``, the same operations)."""
    if b == 0:
        return np.sign(a), 0, abs(a)
    if a == 0:
        return 0, np.sign(b), abs(b)
    if abs(b) > abs(a):
        tau = a / b
        s = np.sign(b) / sqrt(1 + tau * tau)
        return s * tau, s, b / s
    tau = b / a
    c = np.sign(a) / sqrt(1 + tau * tau)
    return c, c * tau, a / c


def _real64(a):
    return a is not None and np.asarray(a).dtype == np.float64


def _fused(A, b, x0, show):
    """True when spla's own loop runs: a 2-D real spla CPU array with both
    dimensions, float64 ``b`` (and ``x0``), no printing."""
    if show or not _convert.is_spla(A) or A.device != "cpu" or len(A.shape) != 2:
        return False
    if A.shape[0] == 0 or A.shape[1] == 0 or A.dtype.kind not in "fiub":
        return False
    if isinstance(b, str) or not _real64(b) or not (x0 is None or _real64(x0)):
        return False
    return True


def _system(name, A, b, x0):
    """``(b, x)``: ``b`` as SciPy reads it (1-D, squeezed), checked against ``A``'s
    rows; ``x`` a float64 copy of ``x0`` (zeros without it), checked against its
    columns."""
    m, n = A.shape
    b = np.atleast_1d(np.asarray(b))
    if b.ndim > 1:
        b = b.squeeze().reshape(-1) if b.size == 1 else b.squeeze()  # (1, 1): one row
    if b.shape != (m,):
        raise ValueError(f"{name}: b has shape {np.shape(b)}, A has shape {A.shape} "
                         f"(b needs {m} entries)")
    b = np.ascontiguousarray(b, dtype=np.float64)
    if x0 is None:
        return b, None
    x = np.array(np.atleast_1d(x0), dtype=np.float64, order="C", copy=True)
    if x.shape != (n,):
        raise ValueError(f"{name}: x0 has shape {np.shape(x0)}, A has shape {A.shape} "
                         f"(x0 needs {n} entries)")
    return b, x


class _Passes:
    """The fused passes for vectors of ``m`` (``u``) and ``n`` (``v``, ``x``)
    entries, serial below ``FUSED_PARALLEL_MIN``, with their scratch."""

    def __init__(self, m, n):
        from .._kernels import krylov

        big_m, big_n = m >= FUSED_PARALLEL_MIN, n >= FUSED_PARALLEL_MIN
        km = krylov.LSQ_PARALLEL if big_m else krylov.LSQ_SERIAL
        kn = krylov.LSQ_PARALLEL if big_n else krylov.LSQ_SERIAL
        self._bidiag_m, self._scale_m = km[0], km[1]
        self._bidiag_n, self._scale_n, self._lsqr, self._lsmr = kn
        self._dot_m = krylov.dot if big_m else krylov.dot_serial
        self._dot_n = krylov.dot if big_n else krylov.dot_serial
        self.part_m = np.empty(krylov.nchunks(m), dtype=np.float64)
        self.part_n = np.empty(krylov.nchunks(n), dtype=np.float64)

    def norm_m(self, u):
        return np.float64(sqrt(self._dot_m(u, u, self.part_m)))

    def norm_n(self, v):
        return np.float64(sqrt(self._dot_n(v, v, self.part_n)))

    def bidiag_m(self, u, y, a):
        """``u = y - a u``; returns ``|u|``."""
        return np.float64(sqrt(self._bidiag_m(u, y, a, self.part_m)))

    def bidiag_n(self, v, z, a):
        return np.float64(sqrt(self._bidiag_n(v, z, a, self.part_n)))

    def scale_m(self, u, s):
        self._scale_m(u, s)

    def scale_n(self, v, s):
        self._scale_n(v, s)

    def lsqr_step(self, v, sv, x, w, t1, t2, inv_rho, var, with_var):
        return self._lsqr(v, sv, x, w, t1, t2, inv_rho, var, with_var, self.part_n)

    def lsmr_step(self, v, sv, hbar, h, x, c_hbar, c_x, c_h):
        return self._lsmr(v, sv, hbar, h, x, c_hbar, c_x, c_h, self.part_n)


def _owned(y):
    """A product's result as a writable float64 C-contiguous array of its own."""
    if y.dtype == np.float64 and y.flags.c_contiguous and y.flags.writeable and y.base is None:
        return y
    return np.array(y, dtype=np.float64, order="C")


def _f64(y):
    """A product's result as a float64 C-contiguous array (read only by the passes)."""
    return np.ascontiguousarray(y, dtype=np.float64)


def _solve(A, run):
    """Run ``run()`` under spla's thread policy, with ``A``'s transpose kept."""
    from ._threads import solver_threads

    with solver_threads(True), transposed.held(A):
        return run()


def lsqr(A, b, damp=0.0, atol=1e-6, btol=1e-6, conlim=1e8, iter_lim=None, show=False,
         calc_var=False, x0=None):
    """Least-squares solution of ``A @ x = b`` with LSQR (``scipy.sparse.linalg.lsqr``).

    Solves ``A x = b``, or ``min |A x - b|^2``, or with ``damp`` the regularised
    problem ``min |A x - b|^2 + damp^2 |x - x0|^2``. For a real spla array on the
    CPU with float64 ``b`` (and ``x0``), spla runs SciPy's iteration with its own
    products and fused vector passes (see the module notes); anything else goes to
    SciPy's function (CuPy's for GPU arrays) with spla's products. Arguments,
    iteration and results are SciPy's.

    Parameters
    ----------
    A : spla array, SciPy sparse array, ndarray or LinearOperator
        The ``(m, n)`` matrix.
    b : ndarray, shape (m,) or (m, 1)
        Right-hand side.
    damp : float
        Damping coefficient.
    atol, btol : float
        Stopping tolerances (SciPy's tests ``istop`` 1 and 2).
    conlim : float
        Stop when the estimate of ``cond(Abar)`` exceeds it (``istop`` 3).
    iter_lim : int, optional
        At most this many iterations (``2 n`` by default).
    show : bool
        Print SciPy's log (runs SciPy's loop).
    calc_var : bool
        Estimate the diagonal of ``(A^T A + damp^2 I)^{-1}`` in ``var``.
    x0 : ndarray, shape (n,), optional
        Starting guess (zeros by default).

    Returns
    -------
    x : ndarray
        The solution.
    istop : int
        Why the iteration stopped (SciPy's codes 0-7).
    itn : int
        Iterations done.
    r1norm, r2norm, anorm, acond, arnorm, xnorm : float
        SciPy's estimates: ``|b - A x|``, ``sqrt(r1norm^2 + damp^2 |x - x0|^2)``,
        Frobenius norm and condition of ``Abar``, ``|Abar^T rbar|``, ``|x|``.
    var : ndarray
        The diagonal estimate when ``calc_var``, else zeros.

    Raises
    ------
    ValueError
        If ``b`` does not have ``m`` entries or ``x0`` ``n``.

    Examples
    --------
    >>> import numpy as np, spla
    >>> A = spla.csr_array(np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]))
    >>> out = spla.linalg.lsqr(A, np.array([1.0, 3.0, 1.0]), atol=1e-12, btol=1e-12)
    >>> np.round(out[0], 6), out[1]
    (array([1.333333, 1.333333]), 2)
    """
    if not _fused(A, b, x0, show):
        from ._isolve import _scipy_lsqr

        return _scipy_lsqr(A, b, damp=damp, atol=atol, btol=btol, conlim=conlim,
                           iter_lim=iter_lim, show=show, calc_var=calc_var, x0=x0)
    b, x = _system("lsqr", A, b, x0)
    return _solve(A, lambda: _lsqr(A, b, x, damp, atol, btol, conlim, iter_lim, calc_var))


def _lsqr(A, b, x, damp, atol, btol, conlim, iter_lim, calc_var):
    m, n = A.shape
    if iter_lim is None:
        iter_lim = 2 * n
    eps = np.finfo(np.float64).eps
    P = _Passes(m, n)
    var = np.zeros(n)
    itn = 0
    istop = 0
    ctol = 1 / conlim if conlim > 0 else 0
    anorm = 0
    acond = 0
    dampsq = damp ** 2
    ddnorm = 0
    res2 = 0
    xnorm = 0
    xxnorm = 0
    z = 0
    cs2 = -1
    sn2 = 0

    # the first vectors of the bidiagonalisation: beta u = b - A x, alfa v = A^T u
    bnorm = P.norm_m(b)
    if x is None:
        x = np.zeros(n)
        u = b.copy()
        beta = bnorm
    else:
        u = _owned(A @ x)
        beta = P.bidiag_m(u, b, 1.0)  # u = b - A x
    if beta > 0:
        P.scale_m(u, 1 / beta)
        v = _owned(A.rmatvec(u))
        alfa = P.norm_n(v)
    else:
        v = x.copy()
        alfa = 0
    if alfa > 0:
        P.scale_n(v, 1 / alfa)
    w = v.copy()
    rhobar = alfa
    phibar = beta
    rnorm = beta
    r1norm = rnorm
    r2norm = rnorm
    arnorm = alfa * beta
    if arnorm == 0:
        return x, istop, itn, r1norm, r2norm, anorm, acond, arnorm, xnorm, var

    while itn < iter_lim:
        itn = itn + 1
        # beta u = A v - alfa u, alfa v = A^T u - beta v
        beta = P.bidiag_m(u, _f64(A @ v), alfa)
        sv = 1.0
        if beta > 0:
            P.scale_m(u, 1 / beta)
            anorm = sqrt(anorm ** 2 + alfa ** 2 + beta ** 2 + dampsq)
            alfa = P.bidiag_n(v, _f64(A.rmatvec(u)), beta)
            if alfa > 0:
                sv = 1 / alfa  # v = (1 / alfa) v, in the update pass below
        # a rotation eliminates the damping, then one the subdiagonal beta
        if damp > 0:
            rhobar1 = sqrt(rhobar ** 2 + dampsq)
            cs1 = rhobar / rhobar1
            sn1 = damp / rhobar1
            psi = sn1 * phibar
            phibar = cs1 * phibar
        else:
            rhobar1 = rhobar
            psi = 0.
        cs, sn, rho = _sym_ortho(rhobar1, beta)
        theta = sn * alfa
        rhobar = -cs * alfa
        phi = cs * phibar
        phibar = sn * phibar
        tau = sn * phi
        # x and w, and |dk|^2 with dk = w / rho (the old w)
        t1 = phi / rho
        t2 = -theta / rho
        dk2 = P.lsqr_step(v, sv, x, w, t1, t2, 1 / rho, var, calc_var)
        ddnorm = ddnorm + sqrt(dk2) ** 2
        # a rotation on the right eliminates theta; estimate |x| from it
        delta = sn2 * rho
        gambar = -cs2 * rho
        rhs = phi - delta * z
        zbar = rhs / gambar
        xnorm = sqrt(xxnorm + zbar ** 2)
        gamma = sqrt(gambar ** 2 + theta ** 2)
        cs2 = gambar / gamma
        sn2 = theta / gamma
        z = rhs / gamma
        xxnorm = xxnorm + z ** 2
        # the estimates and the tests
        acond = anorm * sqrt(ddnorm)
        res1 = phibar ** 2
        res2 = res2 + psi ** 2
        rnorm = sqrt(res1 + res2)
        arnorm = alfa * abs(tau)
        if damp > 0:
            r1sq = rnorm ** 2 - dampsq * xxnorm
            r1norm = sqrt(abs(r1sq))
            if r1sq < 0:
                r1norm = -r1norm
        else:
            r1norm = rnorm
        r2norm = rnorm
        test1 = rnorm / bnorm
        test2 = arnorm / (anorm * rnorm + eps)
        test3 = 1 / (acond + eps)
        t1 = test1 / (1 + anorm * xnorm / bnorm)
        rtol = btol + atol * anorm * xnorm / bnorm
        istop = _istop(itn, iter_lim, test1, test2, test3, t1, rtol, atol, ctol)
        if istop != 0:
            break
    return x, istop, itn, r1norm, r2norm, anorm, acond, arnorm, xnorm, var


def _istop(itn, iter_lim, test1, test2, test3, t1, rtol, atol, ctol):
    """SciPy's stopping code: the last test that holds wins (the user's tolerances
    after the machine's, the iteration limit first)."""
    istop = 0
    if itn >= iter_lim:
        istop = 7
    if 1 + test3 <= 1:
        istop = 6
    if 1 + test2 <= 1:
        istop = 5
    if 1 + t1 <= 1:
        istop = 4
    if test3 <= ctol:
        istop = 3
    if test2 <= atol:
        istop = 2
    if test1 <= rtol:
        istop = 1
    return istop


def lsmr(A, b, damp=0.0, atol=1e-6, btol=1e-6, conlim=1e8, maxiter=None, show=False,
         x0=None):
    """Least-squares solution of ``A @ x = b`` with LSMR (``scipy.sparse.linalg.lsmr``).

    Solves ``A x = b``, or ``min |A x - b|^2``, or with ``damp`` the regularised
    problem ``min |A x - b|^2 + damp^2 |x|^2``. For a real spla array on the CPU
    with float64 ``b`` (and ``x0``), spla runs SciPy's iteration with its own
    products and fused vector passes (see the module notes); anything else goes to
    SciPy's function (CuPy's for GPU arrays) with spla's products. Arguments,
    iteration and results are SciPy's.

    Parameters
    ----------
    A : spla array, SciPy sparse array, ndarray or LinearOperator
        The ``(m, n)`` matrix.
    b : ndarray, shape (m,) or (m, 1)
        Right-hand side.
    damp : float
        Damping coefficient.
    atol, btol : float
        Stopping tolerances (SciPy's tests ``istop`` 1 and 2).
    conlim : float
        Stop when the estimate of ``cond(Abar)`` exceeds it (``istop`` 3).
    maxiter : int, optional
        At most this many iterations (``min(m, n)`` by default).
    show : bool
        Print SciPy's log (runs SciPy's loop).
    x0 : ndarray, shape (n,), optional
        Starting guess (zeros by default).

    Returns
    -------
    x : ndarray
        The solution.
    istop : int
        Why the iteration stopped (SciPy's codes 0-7).
    itn : int
        Iterations done.
    normr, normar, norma, conda, normx : float
        SciPy's estimates of ``|b - A x|``, ``|A^T (b - A x)|``, the Frobenius norm
        and condition of ``Abar``, and ``|x|``.

    Raises
    ------
    ValueError
        If ``b`` does not have ``m`` entries or ``x0`` ``n``.

    Examples
    --------
    >>> import numpy as np, spla
    >>> A = spla.csr_array(np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]))
    >>> out = spla.linalg.lsmr(A, np.array([1.0, 3.0, 1.0]), atol=1e-12, btol=1e-12)
    >>> np.round(out[0], 6), out[1]
    (array([1.333333, 1.333333]), 2)
    """
    if not _fused(A, b, x0, show):
        from ._isolve import _scipy_lsmr

        return _scipy_lsmr(A, b, damp=damp, atol=atol, btol=btol, conlim=conlim,
                           maxiter=maxiter, show=show, x0=x0)
    b, x = _system("lsmr", A, b, x0)
    return _solve(A, lambda: _lsmr(A, b, x, damp, atol, btol, conlim, maxiter))


def _lsmr(A, b, x, damp, atol, btol, conlim, maxiter):
    m, n = A.shape
    if maxiter is None:
        maxiter = min(m, n)
    P = _Passes(m, n)

    normb = P.norm_m(b)
    if x is None:
        x = np.zeros(n)
        u = b.copy()
        beta = normb
    else:
        u = _owned(A @ x)
        beta = P.bidiag_m(u, b, 1.0)  # u = b - A x
    if beta > 0:
        P.scale_m(u, 1 / beta)
        v = _owned(A.rmatvec(u))
        alpha = P.norm_n(v)
    else:
        v = np.zeros(n)
        alpha = 0
    if alpha > 0:
        P.scale_n(v, 1 / alpha)

    itn = 0
    zetabar = alpha * beta
    alphabar = alpha
    rho = 1
    rhobar = 1
    cbar = 1
    sbar = 0
    h = v.copy()
    hbar = np.zeros(n)
    # the estimates of |r|
    betadd = beta
    betad = 0
    rhodold = 1
    tautildeold = 0
    thetatilde = 0
    zeta = 0
    d = 0
    # the estimates of |A| and cond(A)
    normA2 = alpha * alpha
    maxrbar = 0
    minrbar = 1e+100
    normA = sqrt(normA2)
    condA = 1
    normx = 0
    istop = 0
    ctol = 1 / conlim if conlim > 0 else 0
    normr = beta
    normar = alpha * beta
    if normar == 0:
        return x, istop, itn, normr, normar, normA, condA, normx
    if normb == 0:
        x[()] = 0
        return x, istop, itn, normr, normar, normA, condA, normx

    while itn < maxiter:
        itn = itn + 1
        # beta u = A v - alpha u, alpha v = A^T u - beta v
        beta = P.bidiag_m(u, _f64(A @ v), alpha)
        sv = 1.0
        if beta > 0:
            P.scale_m(u, 1 / beta)
            alpha = P.bidiag_n(v, _f64(A.rmatvec(u)), beta)
            if alpha > 0:
                sv = 1 / alpha  # v *= 1 / alpha, in the update pass below
        # the rotations Qhat (damp), Q (beta), Qbar (thetanew)
        chat, shat, alphahat = _sym_ortho(alphabar, damp)
        rhoold = rho
        c, s, rho = _sym_ortho(alphahat, beta)
        thetanew = s * alpha
        alphabar = c * alpha
        rhobarold = rhobar
        zetaold = zeta
        thetabar = sbar * rho
        rhotemp = cbar * rho
        cbar, sbar, rhobar = _sym_ortho(cbar * rho, thetanew)
        zeta = cbar * zetabar
        zetabar = - sbar * zetabar
        # h, hbar and x in one pass, with |x|
        normx = np.float64(sqrt(P.lsmr_step(
            v, sv, hbar, h, x, -(thetabar * rho / (rhoold * rhobarold)),
            zeta / (rho * rhobar), -(thetanew / rho))))
        # the estimate of |r|: the rotations Qhat, Q and Qtilde applied to beta e1
        betaacute = chat * betadd
        betacheck = -shat * betadd
        betahat = c * betaacute
        betadd = -s * betaacute
        thetatildeold = thetatilde
        ctildeold, stildeold, rhotildeold = _sym_ortho(rhodold, thetabar)
        thetatilde = stildeold * rhobar
        rhodold = ctildeold * rhobar
        betad = - stildeold * betad + ctildeold * betahat
        tautildeold = (zetaold - thetatildeold * tautildeold) / rhotildeold
        taud = (zeta - thetatilde * tautildeold) / rhodold
        d = d + betacheck * betacheck
        normr = sqrt(d + (betad - taud) ** 2 + betadd * betadd)
        # the estimates of |A| and cond(A)
        normA2 = normA2 + beta * beta
        normA = sqrt(normA2)
        normA2 = normA2 + alpha * alpha
        maxrbar = max(maxrbar, rhobarold)
        if itn > 1:
            minrbar = min(minrbar, rhobarold)
        condA = max(maxrbar, rhotemp) / min(minrbar, rhotemp)
        # the tests
        normar = abs(zetabar)
        test1 = normr / normb
        if (normA * normr) != 0:
            test2 = normar / (normA * normr)
        else:
            test2 = np.inf
        test3 = 1 / condA
        t1 = test1 / (1 + normA * normx / normb)
        rtol = btol + atol * normA * normx / normb
        istop = _istop(itn, maxiter, test1, test2, test3, t1, rtol, atol, ctol)
        if istop > 0:
            break
    return x, istop, itn, normr, normar, normA, condA, normx
