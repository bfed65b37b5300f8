"""What the two device checks of the wgmma attention kernels share
(``attention_wg_check.py``, the forwards; ``attention_bwd_check.py``, the backwards):
the test patterns, their dense masks, the child-process canaries and the run's frame
(device line, sections that fail without stopping the run, exit status).
"""

import subprocess
import sys
import time
import traceback

import numpy as np

T_START = time.perf_counter()
#: How long a canary child may take before it counts as hung.
CANARY_TIMEOUT_S = 150


def elapsed():
    """Seconds since the check started (this module's import)."""
    return time.perf_counter() - T_START


def error_line(exc):
    """One line naming an exception: its type and the first line of its message."""
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:240]


def dense_mask(P):
    """Dense boolean mask of an element pattern (any spla format, or SciPy CSR)."""
    P = P.tocsr()  # local patterns are banded_array: no indptr of their own
    indptr, indices = np.asarray(P.indptr), np.asarray(P.indices)
    M = np.zeros(P.shape, dtype=bool)
    M[np.repeat(np.arange(P.shape[0]), np.diff(indptr)), indices] = True
    return M


def check_pattern(kind, n, causal):
    """The checks' element patterns: "local" (w = 256), "wide" (local w = 1024),
    "strided" (s = 128), "global_local" (w = 64, every fifth of the rows global) and
    "random" (CSR, 20 n draws, every third row empty)."""
    import scipy.sparse as sp

    from spla import attention as at

    if kind == "local":
        return at.local_pattern(n, 256, causal)
    if kind == "wide":
        return at.local_pattern(n, 1024, causal)
    if kind == "strided":
        return at.strided_pattern(n, 128, causal)
    if kind == "global_local":
        return at.global_local_pattern(n, 64, np.unique(np.r_[0, np.arange(0, n, max(1, n // 5))]), causal)
    if kind != "random":
        raise ValueError(f"unknown check pattern {kind!r}")
    rng = np.random.default_rng(n)
    nnz = 20 * n
    r, c = rng.integers(0, n, nnz), rng.integers(0, n, nnz)
    keep = (r % 3 != 0) & ((c <= r) if causal else True)
    return sp.csr_array((np.ones(int(keep.sum())), (r[keep], c[keep])), shape=(n, n)).tocsr()


def run_canaries(script, live, failures):
    """Run ``script --canary VARIANT`` for each variant in ``live``, in parallel child
    processes (a kernel fault leaves a process's CUDA context unusable for everything
    after it). A canary that exits non-zero is a failure; one that raised, faulted or
    hung (exit status other than 0 and 1) is also removed from ``live``."""
    procs = {v: subprocess.Popen([sys.executable, script, "--canary", v], stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True) for v in list(live)}
    for v, proc in procs.items():
        try:
            text, _ = proc.communicate(timeout=CANARY_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            text = f"timed out after {CANARY_TIMEOUT_S} s"
        lines = [ln for ln in (text or "").strip().splitlines() if ln.strip()]
        print("  " + (lines[-1] if lines else f"canary {v}: no output") + f" [rc {proc.returncode}]",
              flush=True)
        if proc.returncode != 0:
            failures.append(f"canary {v} (rc {proc.returncode})")
        if proc.returncode not in (0, 1):
            live.remove(v)
            print("  " + "\n  ".join(lines[-8:]), flush=True)


def run_check(script, what, canary, live, failures, sections):
    """The frame of a check: ``script --canary VARIANT`` runs ``canary(VARIANT)``
    (which exits); otherwise print the device, stop with status 2 on a GPU that is not
    Hopper, run the canaries, then each of ``sections(time_gpu)`` (one that raises is
    a failure and the next one runs), and exit 1 if anything failed, else 0."""
    if len(sys.argv) == 3 and sys.argv[1] == "--canary":
        canary(sys.argv[2])
    import cupy
    import torch

    dev = cupy.cuda.Device()
    print(f"device: {torch.cuda.get_device_name()} (cc {dev.compute_capability}); torch {torch.__version__}, "
          f"cupy {cupy.__version__}", flush=True)
    if dev.compute_capability != "90":
        print(f"not a Hopper GPU: the wgmma {what} cannot run here")
        sys.exit(2)
    print("== canaries (child processes)", flush=True)
    run_canaries(script, live, failures)
    for section in sections:
        try:
            section()
        except Exception as exc:  # noqa: BLE001 - printed, the next section runs
            print(f"section {section.__name__} failed: {error_line(exc)}", flush=True)
            traceback.print_exc(limit=4)
            failures.append(f"section {section.__name__}")
    print(f"== done in {elapsed():.0f} s; " + (f"FAILURES ({len(failures)}): " + "; ".join(failures)
                                               if failures else "all exactness checks passed"))
    sys.exit(1 if failures else 0)
