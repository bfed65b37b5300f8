"""What every benchmark reports about the machine, and its bandwidth ceiling."""

import platform

from numba import njit, prange


def cpu_model():
    """The CPU model name from /proc/cpuinfo (or what ``platform`` knows)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


@njit(parallel=True, cache=True)
def triad(a, b, c, s):
    """a = b + s c over all threads: the memory bandwidth the kernels compete with
    (24 bytes moved per element)."""
    for i in prange(a.size):
        a[i] = b[i] + s * c[i]
