"""Eigen- and singular-value solvers of ``scipy.sparse.linalg`` on spla's products.

``eigsh`` (standard mode) and ``svds`` (``solver="arpack"``) on real float64 CPU
spla arrays run spla's own thick-restart Lanczos (``_lanczos.py``), ``eigs``
(standard problem) on float64 and complex128 CPU spla arrays spla's own
Krylov-Schur (``_arnoldi.py``); every other case runs SciPy's function as follows.
ARPACK (``eigsh``, ``eigs``, ``svds``) asks for one product at a time; LOBPCG
asks for blocks, which ``SplaOperator`` hands to spla's SpMM. In shift-invert
mode (``sigma`` given without ``OPinv``) SciPy factorises ``A - sigma M``: spla
then hands it SuperLU-ready CSC storage instead of an operator (SciPy would
otherwise invert with an inner GMRES).
"""

import functools
import inspect
import numbers
import warnings

import numpy as np
import scipy.sparse.linalg as sla

from . import _convert, _gpu
from ._threads import solver_threads

__all__ = ["eigs", "eigsh", "lobpcg", "svds"]


def _arpack(name):
    scipy_fn = getattr(sla, name)

    @functools.wraps(scipy_fn, assigned=("__name__", "__qualname__"))
    def solver(A, k=6, M=None, sigma=None, *args, **kwargs):
        if _gpu.is_gpu(A):
            if M is not None or sigma is not None or args:
                raise NotImplementedError(f"spla.linalg.{name} on GPU arrays: CuPy supports "
                                          "neither M, sigma nor positional options")
            return _gpu.call(name, A, k, **kwargs)
        spla_products = _convert.is_spla(A) or _convert.is_spla(M)
        if _convert.is_spla(A):
            _convert.check_square(A, name)
        shift_invert = sigma is not None and kwargs.get("OPinv") is None
        if shift_invert:
            A, M = _convert.scipy_view(A), _convert.scipy_view(M)
        else:
            A, M = _convert.operator(A), _convert.operator(M, "M")
        if _convert.is_spla(kwargs.get("Minv")):
            kwargs["Minv"] = _convert.operator(kwargs["Minv"], "Minv")
        with solver_threads(spla_products):
            return scipy_fn(A, k, M, sigma, *args, **kwargs)

    solver.__signature__ = inspect.signature(scipy_fn)
    solver.__module__ = "spla.linalg"
    return solver


_scipy_eigsh = _arpack("eigsh")


def _own_eigsh(A, M, sigma, Minv, OPinv, mode, k):
    """True when spla's Lanczos takes the call: a square float64 spla array on the
    CPU, standard mode (no ``M``, ``sigma``, ``Minv``, ``OPinv``), integer ``k``."""
    return (_convert.is_spla(A) and A.device == "cpu" and len(A.shape) == 2
            and A.shape[0] == A.shape[1] and A.dtype == np.float64
            and M is None and sigma is None and Minv is None and OPinv is None
            and isinstance(mode, str) and mode == "normal"
            and isinstance(k, numbers.Integral) and not isinstance(k, (bool, np.bool_)))


def eigsh(A, k=6, M=None, sigma=None, which="LM", v0=None, ncv=None, maxiter=None, tol=0,
          return_eigenvectors=True, Minv=None, OPinv=None, mode="normal", rng=None):
    if not _own_eigsh(A, M, sigma, Minv, OPinv, mode, k):
        # only the arguments given (CuPy's eigsh takes fewer than SciPy's)
        given = {"which": which, "v0": v0, "ncv": ncv, "maxiter": maxiter, "tol": tol,
                 "return_eigenvectors": return_eigenvectors, "Minv": Minv, "OPinv": OPinv,
                 "mode": mode, "rng": rng}
        defaults = {"which": "LM", "tol": 0, "return_eigenvectors": True, "mode": "normal"}
        kwargs = {name: v for name, v in given.items()
                  if v is not None and not (name in defaults and isinstance(v, (str, int, float))
                                            and type(v) is type(defaults[name])
                                            and v == defaults[name])}
        return _scipy_eigsh(A, k, M, sigma, **kwargs)
    from ._lanczos import blas_free, lanczos_eigsh

    n = A.shape[0]
    k = int(k)
    if k <= 0:
        raise ValueError("k must be greater than 0.")
    if k >= n:
        warnings.warn("k >= N for N * N square matrix. Attempting to use scipy.linalg.eigh "
                      "instead.", RuntimeWarning, stacklevel=2)
        raise TypeError("Cannot use scipy.linalg.eigh for sparse A with k >= N. Use "
                        "scipy.linalg.eigh(A.toarray()) or reduce k.")
    with solver_threads(not blas_free(n)):
        return lanczos_eigsh(A.__matmul__, n, k, which=which, v0=v0, ncv=ncv,
                             maxiter=maxiter, tol=tol,
                             return_eigenvectors=return_eigenvectors, rng=rng,
                             dense=A.toarray)


eigsh.__signature__ = inspect.signature(sla.eigsh)
eigsh.__module__ = "spla.linalg"
eigsh.__doc__ = """Eigenvalues and eigenvectors of a Hermitian ``A``.

    SciPy's ``eigsh``: same arguments, errors and results. For a real symmetric
    float64 spla array on the CPU without ``M``, ``sigma`` (or ``Minv``,
    ``OPinv``, another ``mode``), spla runs its own thick-restart Lanczos with
    full reorthogonalisation in fused Numba passes (``spla/linalg/_lanczos.py``):
    eigenvalues in SciPy's order and to SciPy's ``tol`` (relative accuracy of
    the Ritz values, machine precision by default), eigenvectors up to sign,
    ``ArpackNoConvergence`` with the converged pairs after ``maxiter`` restarts.
    Problems of order at most 128 are solved densely. Everything else
    (float32, complex Hermitian, shift-invert, generalized problems, other
    operators) is SciPy's ARPACK with spla's products; ``A`` and ``M`` may be
    spla arrays of any format, factorised by SuperLU in shift-invert mode.

    Parameters
    ----------
    A : spla array, SciPy sparse array, ndarray or LinearOperator
        Square Hermitian matrix.
    k : int
        Number of eigenpairs, ``0 < k < n``.
    M, sigma, *args, **kwargs
        SciPy's other arguments, unchanged.

    Returns
    -------
    w : ndarray
        ``k`` eigenvalues.
    v : ndarray
        Eigenvectors as columns (unless ``return_eigenvectors=False``).

    Raises
    ------
    ValueError
        If ``A`` is not square or ``k`` is out of range.

    Examples
    --------
    >>> import numpy as np, spla
    >>> A = spla.csr_array(np.diag([1.0, 2.0, 3.0, 4.0, 5.0]))
    >>> w = spla.linalg.eigsh(A, k=2, return_eigenvectors=False)
    >>> np.sort(w).round(8).tolist()
    [4.0, 5.0]
"""

_scipy_eigs = _arpack("eigs")


#: The ``which`` that spla's Krylov-Schur takes: the exterior of the spectrum. For SM, LI
#: and SI (interior targets in general) it converged, on a 29 x 29 complex SM case found
#: by hypothesis, to genuine eigenpairs other than the wanted ones where ARPACK found
#: them (cause not found): those stay on ARPACK, except at orders up to
#: ``_arnoldi.DENSE_MAX``, where every ``which`` is solved densely (exactly, where
#: ARPACK's random start may stall on ties of the wanted quantity).
OWN_WHICH = ("LM", "LR", "SR")


def _own_eigs(A, M, sigma, Minv, OPinv, OPpart, k, which):
    """True when spla's Krylov-Schur (or its dense solve) takes the call: a square
    float64 or complex128 spla array on the CPU, the standard problem (no ``M``,
    ``sigma``, ``Minv``, ``OPinv``, ``OPpart``), integer ``k``, ``which`` in
    ``OWN_WHICH`` (any ``which`` at orders up to ``_arnoldi.DENSE_MAX``)."""
    from . import _arnoldi

    if which not in OWN_WHICH and not (which in _arnoldi.WHICH and _convert.is_spla(A)
                                       and len(A.shape) == 2
                                       and A.shape[0] <= _arnoldi.DENSE_MAX):
        return False
    return (_convert.is_spla(A) and A.device == "cpu"
            and len(A.shape) == 2
            and A.shape[0] == A.shape[1] and A.dtype in (np.float64, np.complex128)
            and M is None and sigma is None and Minv is None and OPinv is None
            and OPpart is None
            and isinstance(k, numbers.Integral) and not isinstance(k, (bool, np.bool_)))


def eigs(A, k=6, M=None, sigma=None, which="LM", v0=None, ncv=None, maxiter=None, tol=0,
         return_eigenvectors=True, Minv=None, OPinv=None, OPpart=None, rng=None):
    if not _own_eigs(A, M, sigma, Minv, OPinv, OPpart, k, which):
        # only the arguments given (CuPy's eigs takes fewer than SciPy's)
        given = {"which": which, "v0": v0, "ncv": ncv, "maxiter": maxiter, "tol": tol,
                 "return_eigenvectors": return_eigenvectors, "Minv": Minv, "OPinv": OPinv,
                 "OPpart": OPpart, "rng": rng}
        defaults = {"which": "LM", "tol": 0, "return_eigenvectors": True}
        kwargs = {name: v for name, v in given.items()
                  if v is not None and not (name in defaults and isinstance(v, (str, int, float))
                                            and type(v) is type(defaults[name])
                                            and v == defaults[name])}
        return _scipy_eigs(A, k, M, sigma, **kwargs)
    from ._arnoldi import arnoldi_eigs

    n = A.shape[0]
    k = int(k)
    if k <= 0:
        raise ValueError(f"k={k} must be greater than 0.")
    if k >= n - 1:
        warnings.warn("k >= N - 1 for N * N square matrix. Attempting to use scipy.linalg.eig "
                      "instead.", RuntimeWarning, stacklevel=2)
        raise TypeError("Cannot use scipy.linalg.eig for sparse A with k >= N - 1. Use "
                        "scipy.linalg.eig(A.toarray()) or reduce k.")
    with solver_threads(True):
        return arnoldi_eigs(A.__matmul__, n, k, dtype=A.dtype, which=which, v0=v0, ncv=ncv,
                            maxiter=maxiter, tol=tol,
                            return_eigenvectors=return_eigenvectors, rng=rng,
                            dense=A.toarray)


eigs.__signature__ = inspect.signature(sla.eigs)
eigs.__module__ = "spla.linalg"
eigs.__doc__ = """Eigenvalues and eigenvectors of a square ``A``.

    SciPy's ``eigs``: same arguments, errors and results. For a float64 or
    complex128 spla array on the CPU without ``M``, ``sigma`` (or ``Minv``,
    ``OPinv``, ``OPpart``) and ``which`` LM, LR or SR (the exterior of the
    spectrum), spla runs its own Krylov-Schur method (Stewart's
    restart of the Arnoldi process, in real arithmetic for real ``A``;
    ``spla/linalg/_arnoldi.py``): complex eigenvalues as SciPy returns them,
    to SciPy's ``tol`` (ARPACK's relative residual test, machine precision by
    default), unit eigenvectors up to a complex phase, ``ArpackNoConvergence``
    with the converged pairs after ``maxiter`` restarts. Problems of order at
    most 128 are solved densely (``scipy.linalg.eig``), for every ``which``.
    Everything else (SM, LI, SI above order 128, float32, complex64,
    shift-invert, generalized problems, other operators) is SciPy's ARPACK with
    spla's products; ``A`` and ``M`` may be spla arrays of any format,
    factorised by SuperLU in shift-invert mode.

    Parameters
    ----------
    A : spla array, SciPy sparse array, ndarray or LinearOperator
        Square matrix.
    k : int
        Number of eigenpairs, ``0 < k < n - 1``.
    M, sigma, *args, **kwargs
        SciPy's other arguments, unchanged.

    Returns
    -------
    w : ndarray
        ``k`` (complex) eigenvalues.
    v : ndarray
        Eigenvectors as columns (unless ``return_eigenvectors=False``).

    Raises
    ------
    ValueError
        If ``A`` is not square or ``k`` is out of range.

    Examples
    --------
    >>> import numpy as np, spla
    >>> A = spla.csr_array(np.diag([1.0, 2.0, 3.0, 4.0, 5.0]))
    >>> w = spla.linalg.eigs(A, k=2, return_eigenvectors=False)
    >>> np.sort(w.real).round(8).tolist()
    [4.0, 5.0]
"""


@functools.wraps(sla.svds, assigned=("__name__", "__qualname__"))
def svds(A, k=6, *args, **kwargs):
    """Largest (or smallest) singular values and vectors of a sparse matrix.

    SciPy's ``svds``: same arguments, errors and results. With ``solver="arpack"``
    (the default) on a real float64 spla array on the CPU, the eigenproblem of
    ``A^T A`` (``A A^T`` when ``A`` is wide) that SciPy hands to ARPACK is solved by
    spla's thick-restart Lanczos (see ``eigsh``), with ``A^T`` stored once as CSR.
    Otherwise SciPy's function runs with spla's products (``A @ X`` and ``A^H @ X``
    for the block solvers ``"lobpcg"`` and ``"propack"``).

    Parameters
    ----------
    A : spla array, SciPy sparse array, ndarray or LinearOperator
        The ``(m, n)`` matrix.
    k : int
        Number of singular triplets, ``0 < k < min(m, n)``.
    *args, **kwargs
        SciPy's other arguments, unchanged.

    Returns
    -------
    u, s, vh : ndarray
        As SciPy's (``s`` alone with ``return_singular_vectors=False``).

    Raises
    ------
    ValueError
        If ``k`` is out of range.

    Examples
    --------
    >>> import numpy as np, spla
    >>> A = spla.csr_array(np.diag([1.0, 2.0, 3.0, 4.0]))
    >>> s = spla.linalg.svds(A, k=2, return_singular_vectors=False)
    >>> np.sort(s).round(8).tolist()
    [3.0, 4.0]
    """
    if _gpu.is_gpu(A):
        return _gpu.call("svds", A, k, *args, **kwargs)
    if not args and _own_svds(A, kwargs):
        return _lanczos_svds(A, k, **kwargs)
    spla_products = _convert.is_spla(A)
    with solver_threads(spla_products):
        return sla.svds(_convert.operator(A), k, *args, **kwargs)


_SVDS_KEYWORDS = {"ncv", "tol", "which", "v0", "maxiter", "return_singular_vectors", "solver",
                  "rng", "options"}


@functools.lru_cache(maxsize=None)
def _scipy_svds_validation():
    """SciPy's private ``svds`` argument check, when it has the signature spla calls
    (SciPy 1.15+: ten arguments ending in ``rng``); else None, and ``svds`` stays
    SciPy's function on spla's products."""
    try:
        from scipy.sparse.linalg._eigen._svds import _iv
    except ImportError:
        return None
    names = list(inspect.signature(_iv).parameters)
    return _iv if len(names) == 10 and names[-1] == "rng" else None


def _own_svds(A, kwargs):
    """True when spla's Lanczos takes ``svds``: a 2-D float64 spla array on the CPU,
    ARPACK's solver (the default), SciPy's keywords only, and SciPy's validation
    helper of the expected signature."""
    solver = kwargs.get("solver", "arpack")
    return (_convert.is_spla(A) and A.device == "cpu" and len(A.shape) == 2
            and A.dtype == np.float64 and set(kwargs) <= _SVDS_KEYWORDS
            and (solver is None or str(solver).lower() == "arpack")
            and _scipy_svds_validation() is not None)


def _lanczos_svds(A, k=6, ncv=None, tol=0, which="LM", v0=None, maxiter=None,
                  return_singular_vectors=True, solver="arpack", rng=None, options=None):
    """SciPy's ``svds`` with ``solver="arpack"``, its eigenproblem of ``A^T A`` (or
    ``A A^T`` when ``A`` is wide) solved by spla's Lanczos: the same validation (SciPy's
    own), starting vector, tolerance (``tol**2`` on the eigenvalues), QR of the
    eigenvectors and dense SVD of ``A V`` that give ``u``, ``s``, ``vh``. The
    transpose is stored once as CSR, so both products of ``A^T A x`` are gathers."""
    from scipy.linalg import svd

    _iv = _scipy_svds_validation()
    from ._lanczos import lanczos_eigsh

    (_, k, ncv, tol, which, v0, maxiter, return_singular_vectors, _, rng) = _iv(
        A, k, ncv, tol, which, v0, maxiter, return_singular_vectors, solver, rng)
    m, n = A.shape
    At = A.T.tocsr()
    X, Xh = (A, At) if m >= n else (At, A)  # X is tall: X^H X is the smaller Gram matrix
    p = min(m, n)
    with solver_threads(True):
        if v0 is None:
            v0 = rng.standard_normal(size=(p,))
        _, eigvec = lanczos_eigsh(lambda x: Xh @ (X @ x), p, k, which=which, v0=v0,
                                  ncv=ncv, maxiter=maxiter, tol=tol ** 2,
                                  return_eigenvectors=True, rng=rng,
                                  dense=lambda: Xh @ (X @ np.eye(p)))
        eigvec, _ = np.linalg.qr(eigvec)
        Av = np.asarray(X @ eigvec)
        if not return_singular_vectors:
            return svd(Av, compute_uv=False, overwrite_a=True)[::-1]
        u, s, vh = svd(Av, full_matrices=False, overwrite_a=True)
    u, s, vh = u[:, ::-1], s[::-1], vh[::-1]
    want_u = return_singular_vectors in (True, "u")
    want_vh = return_singular_vectors in (True, "vh")
    if m >= n:
        return (u if want_u else None), s, (vh @ eigvec.T.conj() if want_vh else None)
    return (eigvec @ vh.T.conj() if want_u else None), s, (u.T.conj() if want_vh else None)


svds.__signature__ = inspect.signature(sla.svds)
svds.__module__ = "spla.linalg"


@functools.wraps(sla.lobpcg, assigned=("__name__", "__qualname__"))
def lobpcg(A, X, B=None, M=None, *args, **kwargs):
    """Extreme eigenpairs of a Hermitian pencil with LOBPCG (blocks through spla's SpMM).

    ``scipy.sparse.linalg.lobpcg``: every argument and result is SciPy's (see its
    documentation); ``A``, ``B`` and ``M`` may be spla arrays, whose products with
    the block of vectors run as one SpMM each. spla runs its own loop
    (``spla/linalg/_lobpcg.py``: SciPy's steps, the block work shared over one row
    slab per thread, no block allocated inside the loop) where ``X`` is a 2-D float32,
    float64, complex64 or complex128 array, ``A``, ``B``, ``M`` have ``X``'s dtype
    (a declared ``dtype``), ``Y`` is ``None`` or a 2-D array of that dtype, and
    ``n - sizeY >= 5 k``; otherwise SciPy's ``lobpcg`` runs on spla's operators.
    Unlike SciPy's, the loop never writes into ``X``.

    Parameters
    ----------
    A : spla array, SciPy sparse array, ndarray, LinearOperator or callable
        The Hermitian ``(n, n)`` matrix.
    X : ndarray, shape (n, k)
        Initial block of ``k`` vectors.
    B, M, *args, **kwargs
        SciPy's other arguments, unchanged.

    Returns
    -------
    lambda : ndarray
        ``k`` eigenvalues.
    v : ndarray
        Eigenvectors as columns (and histories when asked).

    Raises
    ------
    ValueError
        If the shapes of ``A`` and ``X`` disagree.

    Examples
    --------
    >>> import numpy as np, spla
    >>> A = spla.csr_array(np.diag(np.arange(1.0, 21.0)))
    >>> X = np.random.default_rng(0).standard_normal((20, 2))
    >>> w, _ = spla.linalg.lobpcg(A, X, largest=True, tol=1e-9, maxiter=200)
    >>> np.sort(w).round(6).tolist()
    [19.0, 20.0]
    """
    from ._lobpcg import lobpcg_fast, supported

    spla_products = any(_convert.is_spla(op) for op in (A, B, M))
    A, B, M = (_convert.operator(op, what) for op, what in ((A, "A"), (B, "B"), (M, "M")))
    bound = lobpcg.__signature__.bind(A, X, B, M, *args, **kwargs)
    bound.apply_defaults()
    a = bound.arguments
    if not supported(A, X, B, M, a["Y"]):
        with solver_threads(spla_products):
            return sla.lobpcg(A, X, B, M, *args, **kwargs)
    with solver_threads(True):
        return lobpcg_fast(**a)


lobpcg.__signature__ = inspect.signature(sla.lobpcg)
lobpcg.__module__ = "spla.linalg"
