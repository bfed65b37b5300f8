"""
Activation sparsity: speed-up against density
=============================================

After a ReLU most activations are zero. ``spla.activation_matvec(W, h)``
computes ``W @ h`` from the columns of ``W`` where ``h`` is non-zero only: at
density ``alpha`` it reads a fraction ``alpha`` of the weights, so the ideal
speed-up over the dense product is ``1 / alpha``. Storing ``W`` column-major
makes every active column one contiguous read.
"""

import os
import time

import matplotlib.pyplot as plt
import numpy as np

import spla


def median_times(funcs, reps=11):
    for f in funcs.values():
        f()
    times = {k: [] for k in funcs}
    for _ in range(reps):
        for k, f in funcs.items():
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) for k, v in times.items()}


rng = np.random.default_rng(0)
m, n = 2048, 4096
if os.environ.get("SPLA_DOCS_QUICK"):  # the CI build: smaller, same code paths
    m, n = 256, 512
W = rng.standard_normal((m, n)).astype(np.float32)
WF = np.asfortranarray(W)
densities = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]
speedup_F, speedup_C = [], []
for alpha in densities:
    h = rng.standard_normal(n).astype(np.float32)
    h[rng.random(n) >= alpha] = 0.0
    np.testing.assert_allclose(spla.activation_matvec(WF, h), W @ h, rtol=1e-4, atol=1e-3)
    t = median_times({"dense": lambda: W @ h,
                      "F": lambda: spla.activation_matvec(WF, h),
                      "C": lambda: spla.activation_matvec(W, h)})
    speedup_F.append(t["dense"] / t["F"])
    speedup_C.append(t["dense"] / t["C"])
    print(f"density {alpha:5.2f}: dense {1e6 * t['dense']:8.1f} us, column-major "
          f"{speedup_F[-1]:5.2f}x, row-major {speedup_C[-1]:5.2f}x")

# %%
# Speed-up over the dense GEMV (NumPy's ``W @ h``, BLAS) against activation
# sparsity, beside the ideal ``1 / alpha``.

sparsity = [100 * (1 - a) for a in densities]
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(sparsity, [1 / a for a in densities], "k--", label="ideal 1 / alpha")
ax.plot(sparsity, speedup_F, "o-", label="activation_matvec, W column-major")
ax.plot(sparsity, speedup_C, "s-", label="activation_matvec, W row-major")
ax.axhline(1.0, color="grey", lw=0.8)
ax.set_yscale("log")
ax.set_xlabel("activation sparsity 1 - alpha (%)")
ax.set_ylabel("speed-up over dense GEMV (median)")
ax.set_title(f"W {m} x {n} float32, load average {os.getloadavg()[0]:.1f}", fontsize=9)
ax.legend(fontsize=8)
ax.grid(True, which="both", alpha=0.3)
fig.tight_layout()
plt.show()
