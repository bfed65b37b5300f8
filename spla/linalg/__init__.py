"""spla.linalg: the solvers and eigensolvers of ``scipy.sparse.linalg`` on spla arrays.

Same names, signatures and results as ``scipy.sparse.linalg``. Where SciPy's
algorithm is the one to run, the function hands SciPy an operator whose products
are spla's kernels (``SplaOperator``) under spla's thread policy (BLAS on one
thread meanwhile, see ``set_blas_policy`` and docs/linalg.md); direct solvers get
spla's CSR/CSC storage without a copy and return spla arrays where SciPy returns
sparse ones. spla's own algorithms: ``cg`` (also over Dask arrays of spla
blocks), ``eigsh`` and ``svds`` (thick-restart Lanczos, float64), ``solve_banded`` (LAPACK), ``spsolve_triangular`` (a level-scheduled
parallel Numba kernel), ``norm`` (spla reductions), and PARDISO
(``pip install "spla[pardiso]"``) behind ``spsolve``/``factorized`` and
``PardisoFactorization``.

Operators
    LinearOperator, aslinearoperator, SplaOperator
Iterative solvers
    cg, bicg, bicgstab, cgs, gcrotmk, gmres, lgmres, minres, qmr, tfqmr, lsqr, lsmr
Eigenvalues and singular values
    eigsh, eigs, svds, lobpcg
Matrix functions and norms
    expm_multiply, norm, onenormest
Direct solvers
    spsolve, spsolve_triangular, splu, spilu, factorized, inv, SuperLU,
    PardisoFactorization, pardiso_available, solve_banded
Exceptions and warnings (SciPy's)
    ArpackNoConvergence, ArpackError, MatrixRankWarning
Policy
    set_blas_policy
"""

import importlib

from ._banded import solve_banded
from ._cg import cg

# Everything else loads on first use: importing scipy.sparse.linalg costs ~0.3 s,
# which ``import spla`` should not pay.
_LAZY = {
    "ArpackError": "scipy.sparse.linalg", "ArpackNoConvergence": "scipy.sparse.linalg",
    "LinearOperator": "scipy.sparse.linalg", "MatrixRankWarning": "scipy.sparse.linalg",
    "SplaOperator": "._convert",
    "SuperLU": "._dsolve", "factorized": "._dsolve", "inv": "._dsolve", "spilu": "._dsolve",
    "splu": "._dsolve", "spsolve": "._dsolve",
    "eigs": "._eigen", "eigsh": "._eigen", "lobpcg": "._eigen", "svds": "._eigen",
    "bicg": "._isolve", "bicgstab": "._isolve", "cgs": "._isolve", "gcrotmk": "._isolve",
    "gmres": "._isolve", "lgmres": "._isolve", "lsmr": "._isolve", "lsqr": "._isolve",
    "minres": "._isolve", "qmr": "._isolve", "tfqmr": "._isolve",
    "expm_multiply": "._matfuncs", "norm": "._matfuncs", "onenormest": "._matfuncs",
    "PARDISO_MIN_NNZ": "._pardiso", "PardisoFactorization": ("._pardiso", "Factorization"),
    "pardiso_available": ("._pardiso", "available"),
    "set_blas_policy": "._threads",
    "spsolve_triangular": "._triangular",
}


def __getattr__(name):
    where = _LAZY.get(name)
    if where is None:
        raise AttributeError(f"module 'spla.linalg' has no attribute {name!r}")
    module, attr = where if isinstance(where, tuple) else (where, name)
    value = getattr(importlib.import_module(module, __name__), attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


def aslinearoperator(A):
    """``A`` as a ``LinearOperator``; spla arrays become ``SplaOperator`` objects (spla's products).

    SciPy's ``aslinearoperator`` also accepts spla arrays (it reads their
    ``matvec``, ``rmatvec`` and ``rmatmat``), but builds ``matmat`` from one
    ``matvec`` per column; this one hands blocks to spla's SpMM.

    Parameters
    ----------
    A : spla array, SciPy sparse array, ndarray, LinearOperator, or an object with
        ``shape`` and ``matvec``

    Returns
    -------
    LinearOperator

    Raises
    ------
    TypeError
        If ``A`` is none of these.

    Examples
    --------
    >>> import numpy as np, spla
    >>> op = spla.linalg.aslinearoperator(spla.csr_array(np.eye(3)))
    >>> op.matmat(np.ones((3, 2))).tolist()
    [[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]]
    """
    from scipy.sparse.linalg import aslinearoperator as scipy_aslinearoperator

    from ._convert import is_spla, operator

    if is_spla(A):
        return operator(A)
    return scipy_aslinearoperator(A)


__all__ = [
    "ArpackError", "ArpackNoConvergence", "LinearOperator", "MatrixRankWarning",
    "PARDISO_MIN_NNZ", "PardisoFactorization", "SplaOperator", "SuperLU",
    "aslinearoperator", "bicg", "bicgstab", "cg", "cgs", "eigs", "eigsh", "expm_multiply",
    "factorized", "gcrotmk", "gmres", "inv", "lgmres", "lobpcg", "lsmr", "lsqr", "minres",
    "norm", "onenormest", "pardiso_available", "qmr", "set_blas_policy", "solve_banded",
    "spilu", "splu", "spsolve", "spsolve_triangular", "svds", "tfqmr",
]
