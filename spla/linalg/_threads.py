"""The thread policy of spla.linalg: BLAS runs on one thread while spla's kernels
drive a solver.

A Krylov iteration alternates one sparse product (spla's Numba thread pool, all
cores) with a few vector operations (NumPy's ``dot``, ``axpy`` and ``nrm2``,
which go to BLAS). OpenBLAS keeps its threads spinning for a while after each
call, so on a small machine they take the cores from Numba's threads and the
next product waits for them. On vectors of a Krylov method the BLAS-1 calls are
memory-bound: one thread streams them about as fast as several. spla therefore
limits BLAS to one thread (``threadpoolctl``) around every SciPy solver that it
drives with spla's products, and restores the user's setting afterwards. The
measurements behind this choice are in ``docs/linalg.md``.

``spla.linalg.set_blas_policy("limit" | "leave")`` switches the policy for the
process (``"leave"`` keeps whatever BLAS threads the user set).
"""

import contextlib
import sys

_POLICY = {"blas": "limit"}
#: [controller, len(sys.modules) when it was made]
_CONTROLLER = []


def set_blas_policy(policy):
    """Choose what spla.linalg does with BLAS threads while its solvers run.

    Parameters
    ----------
    policy : {"limit", "leave"}
        ``"limit"`` (the default): one BLAS thread while a solver driven by spla's
        products runs, the user's setting restored afterwards. ``"leave"``: keep
        BLAS as it is.

    Returns
    -------
    str
        The previous policy.

    Examples
    --------
    >>> import spla
    >>> old = spla.linalg.set_blas_policy("leave")
    >>> spla.linalg.set_blas_policy(old)
    'leave'
    """
    if policy not in ("limit", "leave"):
        raise ValueError(f"set_blas_policy: policy must be 'limit' or 'leave', got {policy!r}")
    old = _POLICY["blas"]
    _POLICY["blas"] = policy
    return old


def _controller():
    """threadpoolctl's view of the loaded thread pools (~1 ms to build, so kept).

    It is rebuilt when modules were imported since (they may have loaded another
    BLAS) or when spla loaded one itself (``invalidate``, called after PARDISO
    loads MKL).
    """
    if not _CONTROLLER or _CONTROLLER[1] != len(sys.modules):
        from threadpoolctl import ThreadpoolController

        _CONTROLLER[:] = [ThreadpoolController(), len(sys.modules)]
    return _CONTROLLER[0]


def invalidate():
    """Forget the thread pools seen so far (a library was loaded with ctypes)."""
    _CONTROLLER.clear()


@contextlib.contextmanager
def solver_threads(active=True):
    """Context of one solver call: BLAS limited to one thread under the "limit" policy.

    ``active`` is False when no spla product takes part (nothing to protect).
    """
    if not active or _POLICY["blas"] != "limit":
        yield
        return
    try:
        limiter = _controller().limit(limits=1, user_api="blas")
    except Exception:  # threadpoolctl could not inspect the libraries: leave BLAS alone
        limiter = contextlib.nullcontext()
    with limiter:
        yield
