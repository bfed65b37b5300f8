"""spla.linalg for CuPy-backed spla arrays: ``cupyx.scipy.sparse.linalg`` driven by
spla's GPU products.

Iterative solvers and eigensolvers get a ``cupyx`` ``LinearOperator`` whose
``matvec``/``matmat`` (and adjoints) are spla's CUDA kernels; direct solvers get
a ``cupyx.scipy.sparse.csr_matrix`` over spla's CSR storage (no copy). A
function CuPy does not have raises ``NotImplementedError`` naming it.

Written against CuPy 13/14's ``cupyx.scipy.sparse.linalg``; run by
tests/test_linalg_gpu.py on a machine with an NVIDIA GPU.
"""

from . import _convert

#: The functions of cupyx.scipy.sparse.linalg that take an operator.
OPERATOR_FUNCTIONS = {"cg", "gmres", "cgs", "minres", "lsmr", "eigsh", "svds"}
#: Those that need sparse storage.
STORAGE_FUNCTIONS = {"spsolve", "spsolve_triangular", "splu", "spilu", "factorized",
                     "lsqr"}  # CuPy 14's lsqr takes a sparse matrix, not an operator


def is_gpu(*arrays):
    return any(_convert.is_spla(a) and a.device == "cuda" for a in arrays)


def _operator(A):
    import cupyx.scipy.sparse.linalg as csla

    return csla.LinearOperator(A.shape, matvec=A.matvec, rmatvec=A.rmatvec, matmat=A.matmat,
                               dtype=A.dtype)


def _storage(A):
    """``cupyx.scipy.sparse.csr_matrix`` over the CSR storage of ``A`` (canonical)."""
    return A.to_cupyx("csr")


def _from_cupyx(S):
    import cupyx.scipy.sparse as csp

    if not csp.issparse(S):
        return S
    from .._formats.compressed import csr_array

    S = S.tocsr()
    return csr_array((S.data, S.indices, S.indptr), shape=S.shape)


def _scipy_names_to_cupy(fn, kwargs):
    """SciPy's ``rtol`` as ``tol`` where a CuPy function still has the old name
    (CuPy 14's ``minres``), so that one call works on both devices."""
    import inspect

    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return kwargs
    if "rtol" in kwargs and "rtol" not in params and "tol" in params and "tol" not in kwargs:
        kwargs = dict(kwargs)
        kwargs["tol"] = kwargs.pop("rtol")
    return kwargs


def _is_default(value, default):
    if value is default:
        return True
    if isinstance(value, (bool, int, float, complex, str)) and type(value) is type(default):
        return value == default
    return False


def _drop_scipy_defaults(name, fn, kwargs):
    """``kwargs`` without the arguments CuPy's ``fn`` does not take whose value is
    SciPy's default (spla's own solvers pass every argument on); a non-default
    value of such an argument raises ``NotImplementedError`` naming it."""
    import inspect

    import scipy.sparse.linalg as sla

    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return kwargs
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return kwargs
    scipy_params = inspect.signature(getattr(sla, name)).parameters
    kept = {}
    for key, value in kwargs.items():
        if key in params:
            kept[key] = value
            continue
        default = scipy_params[key].default if key in scipy_params else inspect.Parameter.empty
        if default is inspect.Parameter.empty or not _is_default(value, default):
            raise NotImplementedError(
                f"spla.linalg.{name} on GPU arrays: CuPy's {name} has no argument "
                f"{key!r} (given {value!r}); leave it at SciPy's default or move the "
                "array with A.to_device('cpu')")
    return kept


def call(name, A, *args, **kwargs):
    """``cupyx.scipy.sparse.linalg.<name>`` with spla GPU arrays converted (see module doc)."""
    try:
        import cupyx.scipy.sparse.linalg as csla
    except ImportError as e:  # pragma: no cover - CuPy arrays imply CuPy
        raise ImportError("spla.linalg on GPU arrays needs CuPy: pip install 'spla[cuda]'") from e
    fn = getattr(csla, name, None)
    if fn is None or name not in OPERATOR_FUNCTIONS | STORAGE_FUNCTIONS:
        raise NotImplementedError(
            f"spla.linalg.{name}: CuPy's cupyx.scipy.sparse.linalg has no {name} for GPU "
            "arrays; move the array with A.to_device('cpu')"
        )
    convert = _operator if name in OPERATOR_FUNCTIONS else _storage
    A = convert(A) if _convert.is_spla(A) else A
    for key in ("M", "M1", "M2"):
        if _convert.is_spla(kwargs.get(key)):
            kwargs[key] = _operator(kwargs[key])
    if name == "spsolve" and args and _convert.is_spla(args[0]):
        args = (args[0].toarray(),) + args[1:]
    kwargs = _scipy_names_to_cupy(fn, kwargs)
    kwargs = _drop_scipy_defaults(name, fn, kwargs)
    result = fn(A, *args, **kwargs)
    if name in ("splu", "spilu"):
        return result
    return _from_cupyx(result)
