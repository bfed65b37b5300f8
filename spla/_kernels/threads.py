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
