"""spla benchmarks. Run ``python -m benchmarks --help`` from the repository root.

Importing the package (which ``python -m benchmarks.<suite>`` does first, before
NumPy, SciPy or a peer loads a thread pool) tells the thread pools of the
baselines to sleep as soon as a call returns. By default they spin: OpenBLAS's
worker for about 0.1 s after every BLAS call, the OpenMP threads of MKL (Intel
OpenMP) and GraphBLAS (GNU OpenMP) for up to ~0.2 s. Timed alternately on a
2-core machine, the next contender (spla, SciPy or another peer) would share a
core with those spinners and run up to 2x slower. Waking a sleeping thread costs
microseconds: nothing next to calls of milliseconds. A value already set in the
environment wins; the JSON reports record the values used.
"""

import os

#: Environment settings that make idle baseline threads sleep at once.
QUIET_THREADS = {
    "OPENBLAS_THREAD_TIMEOUT": "4",  # OpenBLAS: spin 2^4 cycles, the minimum
    "KMP_BLOCKTIME": "0",  # Intel OpenMP (MKL): sleep at once
    "OMP_WAIT_POLICY": "PASSIVE",  # GNU and Intel OpenMP (GraphBLAS)
}
#: The variables of ``QUIET_THREADS`` that this import set (the user had not).
SET_HERE = [name for name in QUIET_THREADS if name not in os.environ]
for _name, _value in QUIET_THREADS.items():
    os.environ.setdefault(_name, _value)


def thread_settings():
    """The values of ``QUIET_THREADS``' variables in this process (for reports)."""
    return {name: os.environ.get(name) for name in QUIET_THREADS}
