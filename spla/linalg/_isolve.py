"""The Krylov solvers of ``scipy.sparse.linalg`` driven by spla's products.

Each function has SciPy's name, signature and results: it wraps an spla ``A``
(and ``M``) as a ``SplaOperator`` and calls SciPy's function under spla's thread
policy (``_threads.solver_threads``). SciPy's own arguments pass unchanged.
"""

import functools
import inspect

import scipy.sparse.linalg as sla

from .._backends.cpu import transposed
from . import _convert, _gpu
from ._threads import solver_threads

__all__ = ["bicg", "bicgstab", "cgs", "gcrotmk", "gmres", "lgmres", "lsmr", "lsqr", "minres",
           "qmr", "tfqmr"]

_SQUARE = {"bicg", "bicgstab", "cgs", "gcrotmk", "gmres", "lgmres", "minres", "qmr", "tfqmr"}
_PRECONDITIONERS = ("M", "M1", "M2")
#: Solvers that make a transposed product per iteration: an spla ``A`` keeps the
#: transpose of its storage for the solve (``transposed.prepare``/``release``;
#: ``spla.set_transpose_cache``).
_TRANSPOSED = {"bicg", "lsmr", "lsqr", "qmr"}

_DOC = """{summary}

    ``scipy.sparse.linalg.{name}`` with spla's products: ``A`` (and the
    preconditioner{s}) may be spla arrays of any format, which SciPy then applies
    with spla's kernels (BLAS on one thread meanwhile; see
    ``spla.linalg.set_blas_policy``). Every argument, the iteration and the
    results are SciPy's: see its documentation for the parameters.

    Parameters
    ----------
    A : spla array, SciPy sparse array, ndarray or LinearOperator
        The matrix{shape}.
    b : ndarray
        The right-hand side.
    *args, **kwargs
        SciPy's other arguments, unchanged.

    Returns
    -------
    {returns}

    Raises
    ------
    ValueError
        {raises}

    Examples
    --------
    >>> import numpy as np, spla
    >>> A = spla.csr_array(np.array([[4.0, 1.0], [1.0, 3.0]]))
    >>> x = spla.linalg.{name}(A, np.array([1.0, 2.0]){example_args})[0]
    >>> np.allclose(A @ x, [1.0, 2.0], atol=1e-6)
    True
"""


def _wrap(name, summary, example_args=""):
    scipy_fn = getattr(sla, name)
    signature = inspect.signature(scipy_fn)
    square = name in _SQUARE

    @functools.wraps(scipy_fn, assigned=("__name__", "__qualname__"))
    def solver(A, b, *args, **kwargs):
        if _gpu.is_gpu(A):
            return _gpu.call(name, A, b, *args, **kwargs)
        if square and (_convert.is_spla(A) or _convert.is_sparse_dask(A)):
            _convert.check_square(A, name)
        spla_products = _convert.is_spla(A) or _convert.is_sparse_dask(A)
        op = _convert.operator(A)
        for key in _PRECONDITIONERS:
            if _convert.is_spla(kwargs.get(key)):
                spla_products = True
                kwargs[key] = _convert.operator(kwargs[key], key)
        hold = transposed.prepare(A) if name in _TRANSPOSED and _convert.is_spla(A) else None
        try:
            with solver_threads(spla_products):
                return scipy_fn(op, b, *args, **kwargs)
        finally:
            transposed.release(hold)

    solver.__signature__ = signature
    solver.__module__ = "spla.linalg"
    least_squares = name in ("lsqr", "lsmr")
    solver.__doc__ = _DOC.format(
        summary=summary, name=name,
        s="" if least_squares else "s ``M``" if name not in ("qmr",) else "s ``M1``, ``M2``",
        shape=" ``(m, n)``" if least_squares else " ``(n, n)``",
        returns=("x : ndarray\n        The least-squares solution, then SciPy's diagnostics "
                 "(``istop``, ``itn``, norms, ...)." if least_squares else
                 "x : ndarray\n        The solution (as far as it got).\n    info : int\n"
                 "        0 on convergence, > 0 iterations done without it, < 0 breakdown."),
        raises=("If ``b`` does not have ``m`` rows." if least_squares else
                "If ``A`` is not square or ``b`` does not match it."),
        example_args=example_args,
    )
    return solver


_scipy_bicg = _wrap("bicg", "Solve ``A @ x = b`` with BIConjugate Gradients.", ", rtol=1e-10")
_scipy_bicgstab = _wrap("bicgstab", "Solve ``A @ x = b`` with BIConjugate Gradients STABilized.",
                 ", rtol=1e-10")
_scipy_cgs = _wrap("cgs", "Solve ``A @ x = b`` with Conjugate Gradients Squared.", ", rtol=1e-10")
_scipy_gcrotmk = _wrap("gcrotmk", "Solve ``A @ x = b`` with flexible GCROT(m, k).", ", rtol=1e-10")
# SciPy's gmres with spla's products: what spla.linalg.gmres (``_gmres.py``) calls for
# anything but a square spla array on the CPU.
_scipy_gmres = _wrap("gmres", "Solve ``A @ x = b`` with restarted GMRES.", ", rtol=1e-10")
_scipy_lgmres = _wrap("lgmres", "Solve ``A @ x = b`` with LGMRES.", ", rtol=1e-10")
_scipy_minres = _wrap("minres", "Solve ``A @ x = b`` for symmetric ``A`` with MINRES.", ", rtol=1e-10")
_scipy_qmr = _wrap("qmr", "Solve ``A @ x = b`` with Quasi-Minimal Residual.", ", rtol=1e-10")
_scipy_tfqmr = _wrap("tfqmr", "Solve ``A @ x = b`` with Transpose-Free QMR.", ", rtol=1e-10")
# SciPy's lsqr and lsmr with spla's products: what spla.linalg.lsqr/lsmr (``_lsq.py``) call
# for anything but a real spla array on the CPU with float64 vectors.
_scipy_lsqr = _wrap("lsqr", "Least-squares solution of ``A @ x = b`` with LSQR.",
                    ", atol=1e-12, btol=1e-12")
_scipy_lsmr = _wrap("lsmr", "Least-squares solution of ``A @ x = b`` with LSMR.",
                    ", atol=1e-12, btol=1e-12")

# spla's own loops for spla arrays on the CPU (they call the wrappers above otherwise)
from ._bicg import bicg, qmr  # noqa: E402
from ._bicgstab import bicgstab  # noqa: E402
from ._cgs import cgs, tfqmr  # noqa: E402
from ._minres import minres  # noqa: E402
from ._gmres import gmres  # noqa: E402
from ._lsq import lsmr, lsqr  # noqa: E402
from ._lgmres import gcrotmk, lgmres  # noqa: E402
