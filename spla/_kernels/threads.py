"""Thread pools of spla's parallel kernels: safe launches, idle waiting, threadpoolctl.

Numba's OpenMP and TBB threading layers accept concurrent launches; its fallback
``workqueue`` layer does not (concurrent launches abort the process). When Numba
ends up on ``workqueue``, launches are serialised through one lock.

How idle OpenMP threads wait: see ``DEFAULT_GOMP_SPINCOUNT`` below and the
"Threads" section of docs/architecture.md.
"""

import contextlib
import ctypes
import os
import threading

import numba
import numpy as np
from numba import njit, prange

# -- how idle OpenMP threads wait --------------------------------------------------------
#
# After a parallel region, GNU OpenMP (libgomp, under Numba's ``omp`` layer on
# Linux) keeps its idle threads spinning for GOMP_SPINCOUNT rounds (300,000 by
# default) before they sleep. A program that calls spla between other work
# (NumPy's BLAS, its own Python, other processes) loses those cores to threads
# that have nothing to do: a user's loop of SpMV, BLAS-1 and a small GEMM ran at
# 0.67x SciPy with libgomp's default and 0.89x with GOMP_SPINCOUNT=0 (quiet
# machine), and on a loaded one a spinning pool made spla's own fused cg 7.5x
# slower than a sleeping one (benchmarks/RESULTS.md, "Thread waiting, session
# 13"). A sleeping pool costs a futex wake-up per launch, about 9 us here, and
# the small paths launch no threads at all. Spin counts between (10,000 and
# 100,000) were bimodal under load: some processes took 0.5-9 ms per launch.
# So the pool sleeps at once. libgomp reads the variable once, when it loads (at
# spla's first parallel kernel, not at ``import numba``). At import, unless the
# user chose a waiting (GOMP_SPINCOUNT or OMP_WAIT_POLICY set) or the libgomp
# Numba links is already loaded (then it has read its settings), spla sets
# GOMP_SPINCOUNT (read by GNU OpenMP alone, not by Intel's or LLVM's runtime)
# and removes it again once its pool has started, so that child processes and
# os.environ look as the user left them.

#: GOMP_SPINCOUNT that spla sets when the user set neither GOMP_SPINCOUNT nor
#: OMP_WAIT_POLICY: idle threads of the pool spin this many rounds, then sleep.
DEFAULT_GOMP_SPINCOUNT = "0"
#: Variables with which a user chooses how GNU OpenMP threads wait (spla then sets nothing).
WAIT_VARIABLES = ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")
#: The value spla put in ``os.environ["GOMP_SPINCOUNT"]`` at import (None: none).
_spincount_set = None


def _libgomp_loaded():
    """Whether the GNU OpenMP runtime Numba's ``omp`` layer links is loaded already."""
    try:
        ctypes.CDLL("libgomp.so.1", mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
    except (OSError, AttributeError):  # not loaded (or no RTLD_NOLOAD on this system)
        return False
    return True


def _default_wait():
    """Set ``DEFAULT_GOMP_SPINCOUNT`` for the pool unless the user chose a waiting."""
    global _spincount_set
    if any(name in os.environ for name in WAIT_VARIABLES) or _libgomp_loaded():
        return None
    os.environ["GOMP_SPINCOUNT"] = DEFAULT_GOMP_SPINCOUNT
    _spincount_set = DEFAULT_GOMP_SPINCOUNT
    return _spincount_set


def _forget_default_wait():
    """Remove spla's GOMP_SPINCOUNT from the environment once the pool has read it."""
    global _spincount_set
    if _spincount_set is not None and os.environ.get("GOMP_SPINCOUNT") == _spincount_set:
        del os.environ["GOMP_SPINCOUNT"]
    _spincount_set = None


def wait_policy():
    """How the idle threads of spla's pool wait, for reports and tests.

    Returns
    -------
    dict
        ``"layer"``: Numba's threading layer (None before the first parallel
        kernel); ``"spla_spincount"``: the GOMP_SPINCOUNT spla gave the pool at
        import (None when the user's settings or an already loaded libgomp
        decided); ``"GOMP_SPINCOUNT"`` and ``"OMP_WAIT_POLICY"``: the values in
        ``os.environ`` now (spla's own value only until its pool has started).

    Examples
    --------
    >>> from spla._kernels.threads import wait_policy
    >>> sorted(wait_policy())
    ['GOMP_SPINCOUNT', 'OMP_WAIT_POLICY', 'layer', 'spla_spincount']
    """
    try:
        layer = numba.threading_layer()
    except ValueError:
        layer = None
    return {"layer": layer, "spla_spincount": _chosen_at_import,
            **{name: os.environ.get(name) for name in WAIT_VARIABLES}}


_chosen_at_import = _default_wait()

_init_lock = threading.Lock()
_launch_lock = threading.Lock()
_serialize = None


@njit(parallel=True, cache=True)
def _probe(x):
    s = 0.0
    for i in prange(x.size):
        s += x[i]
    return s


def parallel_section():
    """Context manager to wrap every parallel kernel launch in."""
    global _serialize
    if _serialize is None:
        with _init_lock:
            if _serialize is None:
                _probe(np.ones(4))  # loads the threading layer (libgomp reads its settings)
                _serialize = numba.threading_layer() == "workqueue"
                _forget_default_wait()
    return _launch_lock if _serialize else contextlib.nullcontext()


# -- threadpoolctl sees Numba's pool ------------------------------------------------------
#
# threadpoolctl finds thread pools by the shared libraries a process has loaded
# and knows BLAS and OpenMP runtimes, not Numba: ``threadpool_limits(1)`` left
# spla's kernels on every core (Numba passes its own thread count to each
# parallel region, so limiting the OpenMP runtime under it changes nothing).
# The controller below makes Numba's pool one of threadpoolctl's pools. It is
# found through ``numba/_helperlib`` (loaded whenever Numba is: the threading
# layer itself loads only at the first parallel launch, which may come after
# the ``threadpool_limits`` block has started) and drives
# ``numba.get_num_threads``/``numba.set_num_threads``, which apply to the
# calling thread (Numba's thread count is thread-local).


def _numba_controller_class():
    """threadpoolctl's ``LibController`` for Numba's pool (None without threadpoolctl)."""
    try:
        import threadpoolctl
    except ImportError:  # pragma: no cover - a declared dependency
        return None
    if not hasattr(threadpoolctl, "register") or not hasattr(threadpoolctl, "LibController"):
        return None  # pragma: no cover - threadpoolctl < 3

    class NumbaController(threadpoolctl.LibController):
        """Numba's thread pool (the one spla's parallel kernels run on)."""

        user_api = "numba"
        internal_api = "numba"
        filename_prefixes = ("_helperlib",)

        def set_additional_attributes(self):
            import os

            import numba._helperlib

            here = os.path.realpath(os.path.dirname(numba._helperlib.__file__))
            if os.path.realpath(os.path.dirname(self.filepath)) != here:
                raise OSError("not Numba's _helperlib")  # threadpoolctl skips the library
            try:  # the layer in use once Numba launched its threads, else the one asked for
                self.threading_layer = numba.threading_layer()
            except ValueError:
                self.threading_layer = numba.config.THREADING_LAYER

        def get_num_threads(self):
            return numba.get_num_threads()

        def set_num_threads(self, num_threads):
            numba.set_num_threads(max(1, min(int(num_threads), numba.config.NUMBA_NUM_THREADS)))

        def get_version(self):
            return numba.__version__

    return NumbaController


def _register_with_threadpoolctl():
    """Register the Numba controller with threadpoolctl (once per process)."""
    import sys

    threadpoolctl = sys.modules.get("threadpoolctl")
    if threadpoolctl is None:
        try:
            import threadpoolctl
        except ImportError:  # pragma: no cover - a declared dependency
            return False
    if getattr(threadpoolctl, "_spla_numba_registered", False):
        return True
    cls = _numba_controller_class()
    if cls is None:  # pragma: no cover
        return False
    threadpoolctl.register(cls)
    threadpoolctl._spla_numba_registered = True
    return True


_register_with_threadpoolctl()
