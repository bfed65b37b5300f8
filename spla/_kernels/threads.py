"""Make parallel kernels safe to call from several Python threads at once.

Numba's OpenMP and TBB threading layers accept concurrent launches; its fallback
``workqueue`` layer does not (concurrent launches abort the process). When Numba
ends up on ``workqueue``, launches are serialised through one lock.
"""

import contextlib
import threading

import numba
import numpy as np
from numba import njit, prange

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
                _probe(np.ones(4))
                _serialize = numba.threading_layer() == "workqueue"
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
