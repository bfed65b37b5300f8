"""``cg``: conjugate gradients with SciPy's conventions, for spla arrays (CPU or
GPU), SciPy sparse matrices and ``LinearOperator``s, and Dask arrays of spla blocks."""

import numbers

import numpy as np

from .._device import is_gpu_array

__all__ = ["cg"]

# SciPy's rule for the working precision of an iterative solve (``coerce`` in
# scipy.sparse.linalg._isolve.utils): single or double, real or complex.
_COERCE = {("f", "f"): "f", ("f", "d"): "d", ("f", "F"): "F", ("f", "D"): "D",
           ("d", "f"): "d", ("d", "d"): "d", ("d", "F"): "D", ("d", "D"): "D",
           ("F", "f"): "F", ("F", "d"): "D", ("F", "F"): "F", ("F", "D"): "D",
           ("D", "f"): "D", ("D", "d"): "D", ("D", "F"): "D", ("D", "D"): "D"}


def _coerce(a, b):
    a = a if a in "fdFD" else "d"
    b = b if b in "fdFD" else "d"
    return _COERCE[a, b]


def _check_tolerances(rtol, atol, maxiter):
    for name, v in (("rtol", rtol), ("atol", atol)):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
            raise TypeError(f"cg: {name} must be a real number, got {v!r}")
        if not v >= 0:
            raise ValueError(f"cg: {name} must be a non-negative number, got {v!r}")
    if maxiter is not None:
        if isinstance(maxiter, (bool, np.bool_)) or not isinstance(maxiter, numbers.Integral):
            raise TypeError(f"cg: maxiter must be an integer, got {maxiter!r}")
        if maxiter < 0:
            raise ValueError(f"cg: maxiter must be >= 0, got {maxiter}")


def _operator(A, what, n=None):
    """``(matvec, shape, dtype char or None, array module)`` of a matrix or operator."""
    from .._base import SparseArray, _is_scipy_sparse
    from .. import _dispatch

    if isinstance(A, SparseArray):
        return (lambda v: A @ v), A.shape, A.dtype.char, _dispatch.array_module(A.device)
    if callable(getattr(A, "matvec", None)) and hasattr(A, "shape") and not isinstance(
            A, np.ndarray) and not _is_scipy_sparse(A):
        dt = getattr(A, "dtype", None)
        return A.matvec, tuple(A.shape), (np.dtype(dt).char if dt is not None else None), np
    if _is_scipy_sparse(A) or isinstance(A, np.ndarray):
        if A.ndim != 2:
            raise ValueError(f"cg: {what} must be 2-D, got shape {A.shape}")
        return (lambda v: A @ v), A.shape, A.dtype.char, np
    if type(A).__module__.split(".")[0] in ("cupy", "cupyx"):
        import cupy

        return (lambda v: A @ v), A.shape, A.dtype.char, cupy
    raise TypeError(
        f"cg: {what} must be an spla array, a SciPy sparse matrix, a dense array or a "
        f"LinearOperator, got {type(A).__name__}"
    )


def cg(A, b, x0=None, *, rtol=1e-5, atol=0.0, maxiter=None, M=None, callback=None):
    """Solve ``A @ x = b`` for a Hermitian positive definite ``A`` with conjugate gradients.

    The iteration, stopping test and return values are those of
    ``scipy.sparse.linalg.cg``: the same ``A`` and ``b`` give the same iterates
    (bit for bit when ``A`` is a SciPy ``LinearOperator``; with an spla or Dask
    matrix the products round differently, so the iterates agree to rounding).

    Parameters
    ----------
    A : spla array, SciPy sparse matrix, ndarray, LinearOperator or Dask matrix
        The ``(n, n)`` matrix: anything with ``A @ v`` or ``A.matvec(v)``, or a Dask
        array of spla blocks (``spla.dask.from_spla`` and friends), with which the
        vectors stay distributed (see Notes). spla arrays on the GPU take and
        return CuPy vectors.
    b : array_like, shape (n,) or (n, 1)
        Right-hand side. Integer input is solved in float64.
    x0 : array_like, shape (n,) or (n, 1), or ``"Mb"``, optional
        Starting guess (zero by default; ``"Mb"`` starts from ``M @ b``).
    rtol, atol : float
        Stop when ``norm(r) < max(atol, rtol * norm(b))`` for the residual ``r``.
    maxiter : int, optional
        At most this many iterations (``10 n`` by default).
    M : same kinds as A, optional
        Preconditioner: an approximation of ``inv(A)``, applied as ``M @ r``.
    callback : callable, optional
        Called as ``callback(xk)`` after each iteration.

    Returns
    -------
    x : ndarray (CuPy array for GPU input; Dask array for a Dask matrix)
        The solution (as far as it got).
    info : int
        0 on convergence, else the number of iterations done (``maxiter``).

    Raises
    ------
    ValueError
        If ``A`` is not square, or ``b``, ``x0`` or ``M`` do not match its shape.
    TypeError
        If ``A`` or ``M`` is not a matrix or operator, or a tolerance is not a number.

    Notes
    -----
    With a Dask matrix, ``x``, ``r``, ``p`` and ``q`` are Dask arrays chunked like
    the matrix's rows and persisted every iteration; each product ``A @ p`` runs
    as ``spla.dask.matvec``, so a block reads only the part of ``p`` its column
    window covers. Each iteration waits for two small reductions (``p . q``, and
    ``norm(r)`` with ``r . z``), i.e. two scheduler round trips. ``M`` must then be
    ``None`` or a Dask matrix as well; the matrix is persisted first.

    Examples
    --------
    >>> import numpy as np, spla
    >>> A = spla.csr_array(np.array([[4.0, 1.0], [1.0, 3.0]]))
    >>> x, info = spla.linalg.cg(A, np.array([1.0, 2.0]), rtol=1e-10)
    >>> info, np.allclose(A @ x, [1.0, 2.0])
    (0, True)
    """
    _check_tolerances(rtol, atol, maxiter)
    if callback is not None and not callable(callback):
        raise TypeError(f"cg: callback must be callable, got {type(callback).__name__}")
    if _is_sparse_dask(A):
        return _cg_dask(A, b, x0, rtol, atol, maxiter, M, callback)
    if _is_sparse_dask(M):
        raise TypeError("cg: a Dask preconditioner M needs a Dask matrix A")
    matvec, shape, achar, xp = _operator(A, "A")
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ValueError(f"cg: A must be square, got shape {shape}")
    n = shape[0]
    if is_gpu_array(b):
        import cupy as xp  # noqa: F811 - b decides for operators of unknown device
    b = xp.asarray(b)
    if b.dtype == object:
        raise TypeError("cg: b must be a numeric array")
    if b.shape not in ((n,), (n, 1)):
        raise ValueError(f"cg: shapes of A {shape} and b {b.shape} are incompatible")
    if b.dtype.char not in "fdFD":
        b = b.astype("d")
    if achar is None:
        achar = matvec(b).dtype.char
    xtype = _coerce(achar, b.dtype.char)
    b = b.astype(xtype, copy=False).ravel()
    if M is None:
        psolve = lambda r: r  # noqa: E731
    else:
        psolve, mshape, _, _ = _operator(M, "M")
        if tuple(mshape) != tuple(shape):
            raise ValueError(f"cg: A {shape} and the preconditioner M {tuple(mshape)} "
                             "have different shapes")
    if x0 is None:
        x = xp.zeros(n, dtype=xtype)
    elif isinstance(x0, str):
        if x0 != "Mb":
            raise ValueError(f"cg: x0 must be an array or 'Mb', got {x0!r}")
        x = xp.asarray(psolve(b.copy())).astype(xtype).ravel()
    else:
        x = xp.array(x0, dtype=xtype)
        if x.shape not in ((n,), (n, 1)):
            raise ValueError(f"cg: shapes of A {shape} and x0 {x.shape} are incompatible")
        x = x.ravel()

    bnrm2 = xp.linalg.norm(b)
    atol = max(float(atol), float(rtol) * float(bnrm2))
    if bnrm2 == 0:
        return b, 0
    if maxiter is None:
        maxiter = n * 10
    from .._base import SparseArray
    from ._threads import solver_threads

    spla_cpu = isinstance(A, SparseArray) and A.device == "cpu"
    with solver_threads(spla_cpu):
        r = b - matvec(x) if x.any() else b.copy()
        if spla_cpu and M is None and xp is np:
            return _cg_fused(matvec, x, r, atol, maxiter, callback)
        return _cg_loop(matvec, psolve, x, r, atol, maxiter, callback, xp, xtype)


def _cg_loop(matvec, psolve, x, r, atol, maxiter, callback, xp, xtype):
    """SciPy's CG loop with array-module operations (any device, any preconditioner)."""
    dotprod = xp.vdot if xtype in "FD" else xp.dot
    rho_prev, p = None, None
    for iteration in range(maxiter):
        if xp.linalg.norm(r) < atol:
            return x, 0
        z = psolve(r)
        rho_cur = dotprod(r, z)
        if iteration > 0:
            beta = rho_cur / rho_prev
            p *= beta
            p += z
        else:
            p = xp.empty_like(r)
            p[:] = z[:]
        q = matvec(p)
        alpha = rho_cur / dotprod(p, q)
        x += alpha * p
        r -= alpha * q
        rho_prev = rho_cur
        if callback:
            callback(x)
    return x, maxiter


#: Below this length the fused CG kernels run their serial twins.
FUSED_PARALLEL_MIN = 50_000


def _cg_fused(matvec, x, r, atol, maxiter, callback):
    """Unpreconditioned CG on spla's SpMV and the fused kernels of ``_kernels/krylov.py``:
    one SpMV and three vector passes per iteration, no BLAS call. The same iteration
    as ``_cg_loop`` with ``z = r`` (``rho = r . r`` comes out of the update pass)."""
    from .._kernels import krylov

    n = r.size
    if n >= FUSED_PARALLEL_MIN:
        dot, update, direction = krylov.dot, krylov.update, krylov.direction
    else:
        dot, update, direction = krylov.dot_serial, krylov.update_serial, krylov.direction_serial
    chunks = krylov.nchunks(n)
    part = np.zeros(chunks, dtype=r.dtype)
    rpart = np.zeros(chunks, dtype=r.real.dtype)
    atol2 = atol * atol
    rho = dot(r, r, part).real
    p = r.copy()
    for iteration in range(maxiter):
        if rho < atol2:  # (a NaN residual continues, as in SciPy)
            return x, 0
        if iteration > 0:
            direction(p, r, r.dtype.type(rho / rho_prev))
        q = matvec(p)
        alpha = r.dtype.type(rho / dot(p, q, part))
        rho_prev = rho
        rho = update(x, r, p, q, alpha, rpart)
        if callback:
            callback(x)
    return x, maxiter


def _is_sparse_dask(A):
    if type(A).__module__.split(".")[0] != "dask":
        return False
    from ..dask import is_sparse_dask

    return is_sparse_dask(A)


def _cg_dask(A, b, x0, rtol, atol, maxiter, M, callback):
    """``cg`` with the vectors as Dask arrays chunked like A's rows (see ``cg``)."""
    import dask
    import dask.array as da

    from ..dask import column_windows, is_sparse_dask, matvec

    m, n = A.shape
    if m != n:
        raise ValueError(f"cg: A must be square, got shape {A.shape}")
    rows = A.chunks[0]
    A = A.persist()
    windows = column_windows(A)
    if M is None:
        psolve = lambda r: r  # noqa: E731
    elif is_sparse_dask(M):
        if M.shape != A.shape:
            raise ValueError(f"cg: A {A.shape} and the preconditioner M {M.shape} "
                             "have different shapes")
        M = M.persist()
        mwin = column_windows(M)
        psolve = lambda r: matvec(M, r, windows=mwin).rechunk((rows,))  # noqa: E731
    else:
        raise TypeError("cg: with a Dask matrix, M must be None or a Dask matrix too, got "
                        f"{type(M).__name__}")

    def vector(v, what):
        v = v if isinstance(v, da.Array) else da.asarray(np.asarray(v) if not hasattr(
            v, "__array_namespace__") else v)
        if v.shape not in ((n,), (n, 1)):
            raise ValueError(f"cg: shapes of A {A.shape} and {what} {v.shape} are incompatible")
        return v.reshape(n).rechunk((rows,))

    b = vector(b, "b")
    if b.dtype.char not in "fdFD":
        b = b.astype("d")
    xtype = _coerce(A.dtype.char, b.dtype.char)
    b = b.astype(xtype)
    if x0 is None:
        x = da.zeros(n, dtype=xtype, chunks=(rows,))
    elif isinstance(x0, str):
        if x0 != "Mb":
            raise ValueError(f"cg: x0 must be an array or 'Mb', got {x0!r}")
        x = psolve(b).astype(xtype)
    else:
        x = vector(x0, "x0").astype(xtype)
    b, x = dask.persist(b, x)
    complex_ = xtype in "FD"

    def dot(u, v):
        return da.vdot(u, v) if complex_ else da.dot(u, v)

    bnrm2, xany = dask.compute(da.linalg.norm(b), x.any())
    atol = max(float(atol), float(rtol) * float(bnrm2))
    if bnrm2 == 0:
        return b, 0
    if maxiter is None:
        maxiter = n * 10
    r = b - matvec(A, x, windows=windows) if xany else b
    r = r.persist()
    rho_prev, p = None, None
    for iteration in range(maxiter):
        z = psolve(r)
        rnorm, rho_cur = dask.compute(da.linalg.norm(r), dot(r, z))
        if rnorm < atol:
            return x, 0
        p = z if iteration == 0 else z + (rho_cur / rho_prev) * p
        p = p.astype(xtype, copy=False).persist()
        q = matvec(A, p, windows=windows).astype(xtype, copy=False).persist()
        alpha = rho_cur / dot(p, q).compute()
        x, r = dask.persist(x + alpha * p, r - alpha * q)
        rho_prev = rho_cur
        if callback:
            callback(x)
    return x, maxiter
