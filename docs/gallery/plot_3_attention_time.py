"""
Attention time against sequence length (CPU)
============================================

Dense attention ``softmax(Q K^T / sqrt(d)) V`` costs time and memory
quadratic in the sequence length ``L``. ``spla.attention.sparse_attention``
with a sliding window (``local_pattern``) computes only the scores inside the
window, fused, without storing them; ``spla.attention.linear_attention``
replaces the softmax by a feature map and costs time linear in ``L``.

The sizes are small (one head, ``d = 64``, ``L`` up to 4,096) so that the site
builds quickly.
"""

import os
import time

import matplotlib.pyplot as plt
import numpy as np

import spla


def dense_attention(Q, K, V):
    S = (Q @ K.T) / np.sqrt(Q.shape[-1])
    S -= S.max(axis=1, keepdims=True)
    np.exp(S, out=S)
    S /= S.sum(axis=1, keepdims=True)
    return S @ V


def median_time(f, reps):
    f()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


rng = np.random.default_rng(0)
d, window = 64, 128
lengths = [256, 512, 1024, 2048, 4096]
if os.environ.get("SPLA_DOCS_QUICK"):  # the CI build: smaller, same code paths
    lengths = [128, 256]
t_dense, t_local, t_linear = [], [], []
for L in lengths:
    Q, K, V = (rng.standard_normal((L, d)).astype(np.float32) for _ in range(3))
    pattern = spla.attention.local_pattern(L, window)
    reps = 5 if L <= 1024 else 3
    t_dense.append(median_time(lambda: dense_attention(Q, K, V), reps))
    t_local.append(median_time(lambda: spla.attention.sparse_attention(Q, K, V, pattern), reps))
    t_linear.append(median_time(lambda: spla.attention.linear_attention(Q, K, V), reps))
    print(f"L = {L:5d}: dense {1e3 * t_dense[-1]:8.2f} ms, sliding window "
          f"{1e3 * t_local[-1]:7.2f} ms, linear {1e3 * t_linear[-1]:7.2f} ms")

# %%
# With a full window the sliding-window result is dense attention's: a check
# that the fast path computes the same thing.

L = 256
Q, K, V = (rng.standard_normal((L, d)) for _ in range(3))
full = spla.attention.local_pattern(L, 2 * L)
np.testing.assert_allclose(spla.attention.sparse_attention(Q, K, V, full),
                           dense_attention(Q, K, V), rtol=1e-10, atol=1e-12)

fig, ax = plt.subplots(figsize=(6, 4))
ax.loglog(lengths, t_dense, "o-", label="dense softmax attention (NumPy)")
ax.loglog(lengths, t_local, "s-", label=f"sparse_attention, window {window}")
ax.loglog(lengths, t_linear, "^-", label="linear_attention (elu feature map)")
ax.set_xticks(lengths, [str(L) for L in lengths], minor=False)
ax.set_xticks([], minor=True)
ax.set_xlabel("sequence length L")
ax.set_ylabel("time (s, median)")
ax.set_title(f"one head, d = {d}, float32, load average {os.getloadavg()[0]:.1f}",
             fontsize=9)
ax.legend(fontsize=8)
ax.grid(True, which="both", alpha=0.3)
fig.tight_layout()
plt.show()
