"""
SpMV and SpMM speed-up over SciPy, per matrix class
===================================================

``A @ x`` (SpMV) and ``A @ X`` with 16 columns (SpMM) in spla against
``scipy.sparse`` (and Intel MKL through ``sparse_dot_mkl`` where it is
installed), on four classes of matrices: uniformly random columns, the 2-D
Laplacian, a band of 33 diagonals and power-law row lengths.

The matrices are small (about 60,000 rows and 0.6 million stored entries) so
that the site builds quickly; ``python -m benchmarks`` measures the same at
2 million rows. Each product is timed alternately with its baselines and the
median of the repetitions is kept, so that a machine busy with other work
slows both sides alike.
"""

import os
import sys
import time

import matplotlib.pyplot as plt
import numba
import numpy as np
import scipy.sparse as sp

import spla

# %%
# The matrices
# ------------
# Each class is built with SciPy and converted once: spla's ``csr_array``
# takes a SciPy array (or its ``data``, ``indices``, ``indptr``) directly.

n = 60_000
if os.environ.get("SPLA_DOCS_QUICK"):  # the CI build: smaller, same code paths
    n = 2_000
rng = np.random.default_rng(0)


def uniform(n, per_row=10):
    cols = rng.integers(0, n, size=(n, per_row))
    rows = np.repeat(np.arange(n), per_row)
    return sp.csr_array((rng.random(n * per_row) + 0.5, (rows, cols.ravel())), shape=(n, n))


def laplacian2d(n):
    k = int(np.sqrt(n))
    T = sp.diags_array([-1.0, 2.0, -1.0], offsets=[-1, 0, 1], shape=(k, k))
    return (sp.kronsum(T, T)).tocsr()


def band33(n):
    return sp.diags_array([rng.random(n) + 0.5 for _ in range(33)],
                          offsets=list(range(-16, 17)), shape=(n, n)).tocsr()


def powerlaw(n, mean=10.0):
    lengths = np.minimum(rng.pareto(1.2, n) + 1.0, n)
    lengths = np.maximum(1, (lengths * mean / lengths.mean()).astype(np.int64))
    lengths = np.minimum(lengths, n)
    rows = np.repeat(np.arange(n), lengths)
    cols = rng.integers(0, n, size=rows.size)
    return sp.csr_array((rng.random(rows.size) + 0.5, (rows, cols)), shape=(n, n))


matrices = {"uniform": uniform(n), "laplacian2d": laplacian2d(n),
            "band33": band33(n), "powerlaw": powerlaw(n)}
for name, S in matrices.items():
    S.sum_duplicates()
    print(f"{name:12s} {S.shape[0]:>7d} rows {S.nnz:>9d} stored entries")

# %%
# Intel MKL, when installed
# -------------------------
# ``sparse_dot_mkl`` (the ``bench`` extra) finds MKL through ``MKL_RT``; the
# ``mkl`` wheel puts the library into the environment's ``lib``.

mkl = None
_rt = os.path.join(sys.prefix, "lib", "libmkl_rt.so.3")
if "MKL_RT" not in os.environ and os.path.exists(_rt):
    os.environ["MKL_RT"] = _rt
try:
    import sparse_dot_mkl as mkl
except Exception as exc:  # ImportError, or MKL's library not found
    print(f"MKL not available here ({type(exc).__name__}); plotting spla and SciPy only")
else:
    print("MKL:", mkl.mkl_get_version_string())

# %%
# Timing
# ------
# One warm-up call each (the first spla call compiles its Numba kernel), then
# ``reps`` rounds that time every contender once, in turn.


def median_times(funcs, reps=9):
    for f in funcs.values():
        f()
    times = {k: [] for k in funcs}
    for _ in range(reps):
        for k, f in funcs.items():
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) for k, v in times.items()}


results = {}
for name, S in matrices.items():
    A = spla.csr_array(S)
    x = np.ones(S.shape[1])
    X = np.ones((S.shape[1], 16))
    np.testing.assert_allclose(A @ x, S @ x, rtol=1e-12)
    np.testing.assert_allclose(A @ X, S @ X, rtol=1e-12)
    for op, operand in (("SpMV", x), ("SpMM", X)):
        funcs = {"spla": lambda: A @ operand, "SciPy": lambda: S @ operand}
        if mkl is not None:
            funcs["MKL"] = lambda: mkl.dot_product_mkl(S, operand)
        results[name, op] = median_times(funcs)

print(f"{'matrix':12s} {'op':5s} {'SciPy ms':>9s} {'spla ms':>8s} {'speed-up':>8s}")
for (name, op), t in results.items():
    print(f"{name:12s} {op:5s} {1e3 * t['SciPy']:9.3f} {1e3 * t['spla']:8.3f} "
          f"{t['SciPy'] / t['spla']:7.2f}x")

# %%
# The plot
# --------
# Speed-up is SciPy's median time over the contender's: above 1 is faster than
# SciPy. MKL's bars, where present, are MKL against SciPy. The title gives the
# machine's load average while the example ran: spla's and MKL's kernels split
# each product over all threads, and on a machine busy with other processes
# (a load above the number of CPUs) every product waits for its slowest
# thread, while SciPy's serial loop does not. Such a machine says little about
# speed; ``python -m benchmarks`` on an idle one does.

names = list(matrices)
fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), sharey=True)
contenders = ["spla"] + (["MKL"] if mkl is not None else [])
width = 0.8 / len(contenders)
for ax, op in zip(axes, ("SpMV", "SpMM")):
    for i, c in enumerate(contenders):
        speedup = [results[m, op]["SciPy"] / results[m, op][c] for m in names]
        pos = np.arange(len(names)) + (i - (len(contenders) - 1) / 2) * width
        bars = ax.bar(pos, speedup, width, label=c)
        ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xticks(np.arange(len(names)), names)
    ax.set_title(f"{op} ({'x: 1 column' if op == 'SpMV' else 'X: 16 columns'})")
axes[0].set_ylabel("speed-up over SciPy (median)")
axes[1].legend()
fig.suptitle(f"n = {n:,}, float64, {numba.get_num_threads()} Numba thread(s) on "
             f"{os.cpu_count()} logical CPU(s), load average {os.getloadavg()[0]:.1f}",
             fontsize=9)
fig.tight_layout()
plt.show()
