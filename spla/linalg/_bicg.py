"""``bicg`` and ``qmr``: SciPy's BiConjugate Gradients and Quasi-Minimal Residual
for spla arrays on the CPU, with fused Numba vector passes (``spla/_kernels/krylov.py``).

The iterations are those of ``scipy.sparse.linalg.bicg`` and ``qmr`` (SciPy
1.17): the same stopping tests, breakdown codes (``bicg``: ``-10`` for ``rho``,
``-11`` for ``ptilde . q = 0``; ``qmr``: ``-10`` rho, ``-11`` beta, ``-12``
gamma, ``-13`` delta, ``-14`` epsilon, ``-15`` xi), callbacks and ``info``
values, and the same order of operations in every update. Dot products and
norms are summed in a fixed chunked order instead of BLAS's, so the iterates
agree with SciPy's to rounding. Both methods need ``A^H`` products: for a CSR or
CSC array with a lane plan (``spla._backends.cpu.lanes``: local rows) ``A p`` and
``A^H z`` come from one sweep over the storage (``_Fused``), both with SciPy's
bits; otherwise through the array's ``rmatvec``, inside ``transposed.held(A)``
(the place where a solve may keep the transpose of ``A``'s storage). ``qmr`` with only
one of ``M1``, ``M2`` and any other ``A`` go to SciPy's (or CuPy's) function
with spla's products, as before.
"""


import contextlib

import numpy as np

from .._backends.cpu import lanes, transposed
from . import _convert
from ._gmres import _check_atol, _spla_cpu

__all__ = ["bicg", "qmr"]

#: Below this length the fused passes run their serial twins.
FUSED_PARALLEL_MIN = 50_000


def _system(name, A, b, x0, M, atol, callback):
    """``(M as an operator or None, x, b)`` after SciPy's ``make_system`` checks."""
    from scipy.sparse.linalg._isolve.utils import make_system

    _check_atol(name, atol)
    _convert.check_callback(name, callback)
    if _convert.is_spla(M):
        M = _convert.operator(M, "M")
    _, Mop, x, b = make_system(_convert.SplaOperator(A), M, x0, b)
    return (None if M is None else Mop), x, b


def _kernels(n):
    from .._kernels import krylov

    big = n >= FUSED_PARALLEL_MIN
    return ((krylov.BICG_PARALLEL if big else krylov.BICG_SERIAL),
            (krylov.CGS_PARALLEL if big else krylov.CGS_SERIAL)[0],
            krylov.dot if big else krylov.dot_serial, krylov.nchunks(n))


def _products(A, xtype):
    def product(v):
        return np.asarray(A @ v, dtype=xtype)

    def adjoint(v):
        return np.asarray(A.rmatvec(v), dtype=xtype)

    return product, adjoint


class _Fused:
    """``A x`` and ``A^H z`` in one sweep over A's CSR storage (``lanes.both``), for a
    CSR or CSC spla array whose rows split into lanes with narrow seams (a lane
    plan); each product has SciPy's bits. ``pair(x, y, z, w)`` writes ``y = A x``,
    ``w = A^H z`` and returns ``z^H y`` (None for CSC, whose storage sweeps ``A^H``'s
    rows: the dot is not at hand)."""

    def __init__(self, A, xtype):
        self.major = A._major()
        self.plan = lanes.plan(self.major)
        self.row_major = A.format == "csr"
        self.data = lanes.values(self.major, xtype) if self.plan is not None else None
        self.part = np.empty(lanes.LANES, dtype=xtype)
        from .._backends.cpu.csr import _is_small

        self.small = _is_small(self.major)

    def pair(self, x, y, z, w):
        if self.row_major:  # storage rows are A's: gather A x, scatter A^H z
            return lanes.both(self.major, self.plan, self.data, x, y, z, w, False, True,
                              self.part, self.small)
        # storage rows are A^T's: gather conj(A^T) z = A^H z, scatter (A^T)^T x = A x
        lanes.both(self.major, self.plan, self.data, z, w, x, y, True, False, self.part,
                   self.small)
        return None


def _fused(A, xtype):
    """A ``_Fused`` for ``A`` (a CPU spla array), or None (another format, no
    entries, no lane plan)."""
    if getattr(A, "format", None) not in ("csr", "csc") or A.ndim != 2 or A.nnz == 0:
        return None
    fused = _Fused(A, xtype)
    return fused if fused.plan is not None else None


def _pair(fused, product, adjoint, dot, part, like):
    """``pair(x, z) -> (A x, A^H z, z^H A x)``: by ``fused``'s one sweep into two arrays
    kept across calls (the dot from the sweep, or a chunked ``dot`` for CSC), or without
    it by ``product`` and ``adjoint`` (new arrays) and ``dot``. ``like`` gives the
    arrays' shape and dtype."""
    if fused is None:
        def pair(x, z):
            y = product(x)
            w = adjoint(z)
            return y, w, dot(z, y, part)
        return pair
    y = np.empty_like(like)
    w = np.empty_like(like)

    def pair(x, z):
        d = fused.pair(x, y, z, w)
        return y, w, (dot(z, y, part) if d is None else d)
    return pair


def _solve_context(A, fused):
    """Where the loop runs: BLAS on one thread, and A's transpose held for the
    transposed products unless the fused sweep makes them."""
    from ._threads import solver_threads

    stack = contextlib.ExitStack()
    stack.enter_context(solver_threads(True))
    if fused is None:
        stack.enter_context(transposed.held(A))
    return stack


def bicg(A, b, x0=None, *, rtol=1e-5, atol=0., maxiter=None, M=None, callback=None):
    """Solve ``A @ x = b`` with BIConjugate Gradients (``scipy.sparse.linalg.bicg``).

    For a square spla array on the CPU, spla runs SciPy's iteration with its own
    products (``A @ p`` and ``A^H @ ptilde``) and fused vector passes (three per
    iteration besides the products, no BLAS call); anything else goes to SciPy's
    function (CuPy's for GPU arrays) with spla's products. Arguments, iteration
    and results are SciPy's.

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
        Preconditioner, an approximation of ``inv(A)``; its ``rmatvec`` (``M^H``)
        preconditions the shadow residual, as in SciPy.
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
    >>> x, info = spla.linalg.bicg(A, np.array([1.0, 2.0]), rtol=1e-10)
    >>> info, np.allclose(A @ x, [1.0, 2.0])
    (0, True)
    """
    if not _spla_cpu(A):
        from ._isolve import _scipy_bicg

        return _scipy_bicg(A, b, x0, rtol=rtol, atol=atol, maxiter=maxiter, M=M,
                           callback=callback)
    Mop, x, b = _system("bicg", A, b, x0, M, atol, callback)
    fused = _fused(A, x.dtype)
    with _solve_context(A, fused):
        return _bicg(A, Mop, x, b, rtol, atol, maxiter, callback, fused)


def _bicg(A, Mop, x, b, rtol, atol, maxiter, callback, fused=None):
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
    (directions, update, *_), norm_dot, dot, chunks = _kernels(n)
    part1 = np.zeros(chunks, dtype=xtype)
    part2 = np.zeros((chunks, 2), dtype=xtype)
    product, adjoint = _products(A, xtype)
    if Mop is not None:
        def psolve(v):
            return np.asarray(Mop.matvec(v), dtype=xtype)

        def rpsolve(v):
            return np.asarray(Mop.rmatvec(v), dtype=xtype)

    r = b - product(x) if x.any() else b.copy()
    rtilde = r.copy()
    rr, rho_next = norm_dot(r, rtilde, part2)
    rho_prev = p = ptilde = None
    pair = _pair(fused, product, adjoint, dot, part1, r)
    for iteration in range(maxiter):
        if np.sqrt(R(rr)) < atol:
            return x, 0
        if Mop is None:
            z, ztilde = r, rtilde
            rho_cur = T(rho_next)
        else:
            z = psolve(r)
            ztilde = rpsolve(rtilde)
            rho_cur = T(dot(rtilde, z, part1))
        if np.abs(rho_cur) < rhotol:
            return x, -10
        if iteration > 0:
            beta = rho_cur / rho_prev
            directions(p, ptilde, z, ztilde, beta, beta.conj())
        else:
            p = z.copy()
            ptilde = ztilde.copy()
        q, qtilde, rv = pair(p, ptilde)
        rv = T(rv)
        if rv == 0:
            return x, -11
        alpha = rho_cur / rv
        rr, rho_next = update(x, r, rtilde, p, q, qtilde, alpha, alpha.conj(), Mop is None,
                              part2)
        rho_prev = rho_cur
        if callback:
            callback(x)
    return x, maxiter


def qmr(A, b, x0=None, *, rtol=1e-5, atol=0., maxiter=None, M1=None, M2=None,
        callback=None):
    """Solve ``A @ x = b`` with Quasi-Minimal Residual (``scipy.sparse.linalg.qmr``).

    For a square spla array on the CPU, spla runs SciPy's iteration with its own
    products (``A @ p`` and ``A^H @ q``) and fused vector passes (four per
    iteration besides the products without preconditioners, no BLAS call); for
    any other ``A`` SciPy's function (CuPy's for GPU arrays) runs with spla's
    products. Arguments, iteration and results are SciPy's.

    Parameters
    ----------
    A : spla array, SciPy sparse array, ndarray or LinearOperator
        The ``(n, n)`` matrix.
    b : ndarray, shape (n,) or (n, 1)
        Right-hand side.
    x0 : ndarray, optional
        Starting guess (zeros by default).
    rtol, atol : float
        Converged when ``norm(b - A @ x) <= max(rtol * norm(b), atol)``.
    maxiter : int, optional
        At most this many iterations (``10 n`` by default).
    M1, M2 : LinearOperator or spla array, optional
        Left and right preconditioners (both or neither, as in SciPy); their
        ``matvec`` and ``rmatvec`` are called.
    callback : callable, optional
        Called as ``callback(xk)`` after each iteration.

    Returns
    -------
    x : ndarray
        The solution (as far as it got).
    info : int
        0 on convergence, ``maxiter`` without it, -10 to -15 on breakdown.

    Raises
    ------
    ValueError
        If ``A`` is not square, ``b`` or ``x0`` do not match it, or ``atol``
        is negative.

    Examples
    --------
    >>> import numpy as np, spla
    >>> A = spla.csr_array(np.array([[4.0, 1.0], [2.0, 3.0]]))
    >>> x, info = spla.linalg.qmr(A, np.array([1.0, 2.0]), rtol=1e-10)
    >>> info, np.allclose(A @ x, [1.0, 2.0])
    (0, True)
    """
    if not _spla_cpu(A) or (M1 is None) != (M2 is None):
        # (SciPy's loop needs both preconditioners or neither: it fails on the one missing)
        from ._isolve import _scipy_qmr

        return _scipy_qmr(A, b, x0, rtol=rtol, atol=atol, maxiter=maxiter, M1=M1, M2=M2,
                          callback=callback)
    _, x, b = _system("qmr", A, b, x0, None, atol, callback)
    # SciPy calls M1.matvec, M1.rmatvec, M2.matvec and M2.rmatvec as they are
    M1, M2 = (_convert.operator(M, name) if _convert.is_spla(M) else M
              for M, name in ((M1, "M1"), (M2, "M2")))
    fused = _fused(A, x.dtype)
    with _solve_context(A, fused):
        return _qmr(A, M1, M2, x, b, rtol, atol, maxiter, callback, fused)


def _qmr(A, M1, M2, x, b, rtol, atol, maxiter, callback, fused=None):
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
    tol = np.finfo(xtype.char).eps  # SciPy's rho, beta, gamma, delta, epsilon, xi tolerance
    ((_, _, scale, directions, lanczos, update, scale_pre, sqnorms), norm_dot, dot,
     chunks) = _kernels(n)
    part1 = np.zeros(chunks, dtype=xtype)
    part2 = np.zeros((chunks, 2), dtype=xtype)
    part2r = np.zeros((chunks, 2), dtype=R)
    product, adjoint = _products(A, xtype)

    pre = M1 is not None
    if pre:
        def solve(M, v, adjoint=False):
            return np.asarray(M.rmatvec(v) if adjoint else M.matvec(v), dtype=xtype)

    r = b - product(x) if x.any() else b.copy()
    vtilde = r.copy()
    wtilde = r.copy()
    rr, _ = norm_dot(r, r, part2)
    if pre:
        y = solve(M1, vtilde)
        z = solve(M2, wtilde, True)
        yy, zz = sqnorms(y, z, part2r)
        rho, xi = np.sqrt(R(yy)), np.sqrt(R(zz))
    else:  # SciPy's identity preconditioners: y is vtilde, z is wtilde
        rho = xi = np.sqrt(R(rr))
    gamma, eta, theta = 1, -1, 0
    v = np.empty_like(vtilde)
    w = np.empty_like(wtilde)
    p = np.empty_like(vtilde)
    q = np.empty_like(vtilde)
    d = np.empty_like(vtilde)
    s = np.empty_like(vtilde)
    epsilon = delta = None
    pair = _pair(fused, product, adjoint, dot, part1, vtilde)
    for iteration in range(maxiter):
        if np.sqrt(R(rr)) < atol:
            return x, 0
        if np.abs(rho) < tol:
            return x, -10
        if np.abs(xi) < tol:
            return x, -15
        if pre:
            delta = T(scale_pre(v, vtilde, y, 1 / rho, w, wtilde, z, 1 / xi, part1))
        elif iteration == 0:
            delta = T(scale(v, vtilde, 1 / rho, w, wtilde, 1 / xi, part1))
        # else: v, w and delta = w . v came with the previous update
        if np.abs(delta) < tol:
            return x, -13
        ytilde, ztilde = (solve(M2, y), solve(M1, z, True)) if pre else (v, w)
        if iteration > 0:
            directions(p, q, ytilde, ztilde, xi * delta / epsilon,
                       rho * (delta / epsilon).conj(), False)
        else:
            directions(p, q, ytilde, ztilde, T(0), T(0), True)
        ptilde, aq, epsilon = pair(p, q)
        epsilon = T(epsilon)
        if np.abs(epsilon) < tol:
            return x, -14
        beta = epsilon / delta
        if np.abs(beta) < tol:
            return x, -11
        vv, ww = lanczos(vtilde, ptilde, v, beta, wtilde, w, aq, -beta.conj(), part2r)
        if pre:
            y = solve(M1, vtilde)
            z = solve(M2, wtilde, True)
            vv, ww = sqnorms(y, z, part2r)
        rho_prev = rho
        rho = np.sqrt(R(vv))
        xi = np.sqrt(R(ww))
        gamma_prev = gamma
        theta_prev = theta
        theta = rho / (gamma_prev * np.abs(beta))
        gamma = 1 / np.sqrt(1 + theta ** 2)
        if np.abs(gamma) < tol:
            return x, -12
        eta *= -(rho_prev / beta) * (gamma / gamma_prev) ** 2
        k = (theta_prev * gamma) ** 2
        # without M1, M2 the next v, w and delta come with this pass (unless it stops)
        go_on = not (pre or np.abs(rho) < tol or np.abs(xi) < tol)
        rr, delta = update(d, s, p, ptilde, x, r, R(k), T(eta), iteration == 0, go_on,
                           v, vtilde, 1 / rho if go_on else R(0), w, wtilde,
                           1 / xi if go_on else R(0), part2)
        delta = T(delta)
        if callback:
            callback(x)
    return x, maxiter
