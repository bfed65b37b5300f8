"""Direct solvers: SuperLU through SciPy on spla's storage, PARDISO when installed,
and spla's own triangular solve.

SciPy's SuperLU takes CSC (or CSR, solved as the transposed system) storage;
``_convert.scipy_view`` hands it spla's arrays without a copy when they are
canonical. Sparse results come back as spla arrays.
"""

import numpy as np
import scipy.sparse.linalg as sla

from . import _convert, _gpu, _pardiso
from ._threads import solver_threads

__all__ = ["factorized", "inv", "spilu", "splu", "spsolve"]

_SOLVERS = ("auto", "superlu", "pardiso")


def _check_rhs(A, b, what):
    """Shape checks of SciPy's ``spsolve``, before anything is factorised."""
    n = A.shape[0]
    if _convert.is_spla(b) or _convert.sp.issparse(b):
        if b.shape[0] != n:
            raise ValueError(f"{what}: matrix - rhs dimension mismatch ({A.shape} - {b.shape[0]})")
        return
    shape = np.shape(b)
    if len(shape) not in (1, 2) or shape[0] != n:
        raise ValueError(f"{what}: matrix - rhs dimension mismatch ({A.shape} - {shape})")


def spsolve(A, b, permc_spec=None, use_umfpack=True, *, solver="auto"):
    """Solve the sparse system ``A @ x = b`` directly.

    ``scipy.sparse.linalg.spsolve`` on spla arrays (SuperLU, one core), or Intel
    MKL PARDISO (multithreaded, real matrices) when the ``pardiso`` extra is
    installed (``pip install "spla[pardiso]"``).

    Parameters
    ----------
    A : spla array or SciPy sparse array
        Square ``(n, n)`` matrix.
    b : ndarray, spla array or SciPy sparse array, shape (n,) or (n, k)
        Right-hand side(s).
    permc_spec, use_umfpack
        SciPy's SuperLU options (ignored by PARDISO).
    solver : {"auto", "superlu", "pardiso"}
        ``"auto"``: PARDISO when installed and ``A`` is real with at least
        ``spla.linalg.PARDISO_MIN_NNZ`` stored entries, else SuperLU.

    Returns
    -------
    x : ndarray or spla array
        Shape of ``b``; an spla array when ``b`` is sparse.

    Raises
    ------
    ValueError
        If ``A`` is not square, ``b`` does not match, or ``solver`` is unknown or
        not installed (the message names the extra that installs it).

    Warns
    -----
    scipy.sparse.linalg.MatrixRankWarning
        If ``A`` is singular (SuperLU; ``x`` is then NaN, as in SciPy).

    Examples
    --------
    >>> import numpy as np, spla
    >>> A = spla.csr_array(np.array([[4.0, 1.0], [1.0, 3.0]]))
    >>> x = spla.linalg.spsolve(A, np.array([1.0, 2.0]), solver="superlu")
    >>> np.allclose(A @ x, [1.0, 2.0])
    True
    """
    if solver not in _SOLVERS:
        raise ValueError(f"spsolve: solver must be one of {_SOLVERS}, got {solver!r}")
    if _gpu.is_gpu(A):
        return _gpu.call("spsolve", A, b)
    if not (_convert.is_spla(A) or _convert.sp.issparse(A)):
        return sla.spsolve(A, b, permc_spec=permc_spec, use_umfpack=use_umfpack)
    _convert.check_square(A, "spsolve")
    _check_rhs(A, b, "spsolve")
    use_pardiso = _pardiso.choose(A, b, solver, "spsolve")
    if use_pardiso:
        return _pardiso.solve(A, b)
    sparse_b = _convert.is_spla(b)
    bb, _ = _convert.dense_or_sparse_rhs(b)
    # CSR goes to SuperLU as the transposed system, without a copy; a sparse b
    # makes SciPy factorise once (splu), which needs CSC.
    fmt = "csr" if getattr(A, "format", None) == "csr" and not sparse_b else "csc"
    x = sla.spsolve(_convert.scipy_view(A, fmt), bb, permc_spec=permc_spec,
                    use_umfpack=use_umfpack)
    if _convert.sp.issparse(x) and (sparse_b or _convert.is_spla(A)):
        return _convert.from_scipy(x)
    return x


class SuperLU:
    """An LU factorisation of a sparse matrix (SciPy's ``SuperLU``, spla factors).

    ``solve`` and the permutations are SciPy's; ``L`` and ``U`` are spla
    ``csc_array`` objects.

    Examples
    --------
    >>> import numpy as np, spla
    >>> lu = spla.linalg.splu(spla.csr_array(np.array([[2.0, 1.0], [1.0, 3.0]])))
    >>> np.allclose(lu.solve(np.array([3.0, 4.0])), [1.0, 1.0])
    True
    >>> lu.L.format
    'csc'
    """

    def __init__(self, lu):
        self._lu = lu

    def solve(self, rhs, trans="N"):
        """Solve with the factorisation (``trans`` in ``"N"``, ``"T"``, ``"H"``)."""
        return self._lu.solve(rhs, trans)

    @property
    def L(self):
        return _convert.from_scipy(self._lu.L)

    @property
    def U(self):
        return _convert.from_scipy(self._lu.U)

    def __getattr__(self, name):  # shape, nnz, perm_r, perm_c
        if name == "_lu":
            raise AttributeError(name)
        return getattr(self._lu, name)

    def __repr__(self):
        return f"<spla.linalg.SuperLU shape={self._lu.shape}, nnz={self._lu.nnz}>"


def _factor_input(A, what):
    if _convert.is_spla(A):
        _convert.check_square(A, what)
        return _convert.scipy_view(A, "csc")
    return A


def splu(A, permc_spec=None, diag_pivot_thresh=None, relax=None, panel_size=None, options=None):
    """LU factorisation of a sparse square matrix with SuperLU (``scipy.sparse.linalg.splu``).

    Parameters
    ----------
    A : spla array or SciPy sparse array
        Square matrix (handed to SuperLU as CSC storage shared with spla when
        ``A`` is a canonical ``csc_array``).
    permc_spec, diag_pivot_thresh, relax, panel_size, options
        SciPy's SuperLU options.

    Returns
    -------
    SuperLU
        ``solve(rhs)``, ``L``, ``U`` (spla csc_arrays), ``perm_r``, ``perm_c``.

    Raises
    ------
    ValueError
        If ``A`` is not square.
    RuntimeError
        If ``A`` is singular (SciPy's "Factor is exactly singular").

    Examples
    --------
    >>> import numpy as np, spla
    >>> lu = spla.linalg.splu(spla.csr_array(np.array([[2.0, 0.0], [0.0, 4.0]])))
    >>> lu.solve(np.array([2.0, 4.0])).tolist()
    [1.0, 1.0]
    """
    if _gpu.is_gpu(A):
        return _gpu.call("splu", A, permc_spec=permc_spec, diag_pivot_thresh=diag_pivot_thresh,
                         relax=relax, panel_size=panel_size, options=options or {})
    return SuperLU(sla.splu(_factor_input(A, "splu"), permc_spec=permc_spec,
                            diag_pivot_thresh=diag_pivot_thresh, relax=relax,
                            panel_size=panel_size, options=options))


def spilu(A, drop_tol=None, fill_factor=None, drop_rule=None, permc_spec=None,
          diag_pivot_thresh=None, relax=None, panel_size=None, options=None):
    """Incomplete LU factorisation (``scipy.sparse.linalg.spilu``), e.g. a preconditioner.

    Parameters
    ----------
    A : spla array or SciPy sparse array
        Square matrix.
    drop_tol, fill_factor, drop_rule, permc_spec, diag_pivot_thresh, relax, panel_size, options
        SciPy's ILU options.

    Returns
    -------
    SuperLU
        The incomplete factorisation; ``L`` and ``U`` are spla arrays.

    Raises
    ------
    ValueError
        If ``A`` is not square.

    Examples
    --------
    >>> import numpy as np, spla
    >>> ilu = spla.linalg.spilu(spla.csr_array(np.array([[2.0, 1.0], [1.0, 3.0]])))
    >>> np.allclose(ilu.solve(np.array([3.0, 4.0])), [1.0, 1.0])
    True
    """
    if _gpu.is_gpu(A):
        return _gpu.call("spilu", A, drop_tol=drop_tol, fill_factor=fill_factor,
                         drop_rule=drop_rule, permc_spec=permc_spec,
                         diag_pivot_thresh=diag_pivot_thresh, relax=relax,
                         panel_size=panel_size, options=options or {})
    return SuperLU(sla.spilu(_factor_input(A, "spilu"), drop_tol=drop_tol,
                             fill_factor=fill_factor, drop_rule=drop_rule,
                             permc_spec=permc_spec, diag_pivot_thresh=diag_pivot_thresh,
                             relax=relax, panel_size=panel_size, options=options))


def factorized(A, *, solver="auto"):
    """Factorise ``A`` once; return a function that solves ``A @ x = b`` for any ``b``.

    Parameters
    ----------
    A : spla array or SciPy sparse array
        Square matrix.
    solver : {"auto", "superlu", "pardiso"}
        As in ``spsolve`` (SciPy's UMFPACK is not used).

    Returns
    -------
    callable
        ``solve(b)`` for ``b`` of shape ``(n,)`` or ``(n, k)``.

    Raises
    ------
    ValueError
        If ``A`` is not square, or ``solver`` is unknown or not installed.

    Examples
    --------
    >>> import numpy as np, spla
    >>> solve = spla.linalg.factorized(spla.csr_array(np.array([[2.0, 1.0], [1.0, 3.0]])))
    >>> np.allclose(solve(np.array([3.0, 4.0])), [1.0, 1.0])
    True
    """
    if solver not in _SOLVERS:
        raise ValueError(f"factorized: solver must be one of {_SOLVERS}, got {solver!r}")
    if _gpu.is_gpu(A):
        return _gpu.call("factorized", A)
    if _convert.is_spla(A):
        _convert.check_square(A, "factorized")
    if _pardiso.choose(A, None, solver, "factorized"):
        return _pardiso.Factorization(A).solve
    return splu(A).solve


def inv(A):
    """Inverse of a sparse square matrix, as a sparse array (``scipy.sparse.linalg.inv``).

    Dense in general: meant for small matrices or tests. Solves ``A X = I``
    with SuperLU.

    Parameters
    ----------
    A : spla array or SciPy sparse array
        Square matrix.

    Returns
    -------
    spla csc_array (SciPy sparse for SciPy input)

    Raises
    ------
    ValueError
        If ``A`` is not square.

    Examples
    --------
    >>> import numpy as np, spla
    >>> spla.linalg.inv(spla.csr_array(np.array([[2.0, 0.0], [0.0, 4.0]]))).toarray().tolist()
    [[0.5, 0.0], [0.0, 0.25]]
    """
    if not _convert.is_spla(A):
        return sla.inv(A)
    _convert.check_square(A, "inv")
    with solver_threads(False):
        return _convert.from_scipy(sla.inv(_convert.scipy_view(A, "csc")))
