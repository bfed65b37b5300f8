"""
N:M pruning error against the Gaussian theory
=============================================

N:M pruning keeps the ``n`` largest magnitudes of every ``m`` consecutive
weights. For i.i.d. Gaussian weights the expected energy it removes has an
exact formula (``spla.theory.nm_energy_fraction``, the order statistics of
half-normal variables; see the user guide's theory page). This example prunes
random Gaussian matrices with ``spla.prune_nm`` and compares the fraction of
the energy removed, and the squared error per group, with the theory.
"""

import matplotlib.pyplot as plt
import numpy as np

import spla

rng = np.random.default_rng(0)
sigma = 0.02                      # a typical weight scale: the fraction does not depend on it
W = rng.normal(0.0, sigma, size=(512, 2048))
total = float(np.sum(W * W))

patterns = [(1, 2), (1, 4), (2, 4), (3, 4), (1, 8), (2, 8), (4, 8), (6, 8), (2, 16), (8, 16)]
measured, theory, per_group, per_group_theory = [], [], [], []
for n, m in patterns:
    P = spla.prune_nm(W, n=n, m=m)
    removed = float(np.sum((W - P) ** 2))
    measured.append(removed / total)
    theory.append(spla.theory.nm_energy_fraction(n, m))
    groups = W.size // m
    per_group.append(removed / groups)
    per_group_theory.append(spla.theory.nm_expected_error(n, m, sigma=sigma))

print(f"{'N:M':>6s} {'kept':>5s} {'measured':>9s} {'theory':>9s} {'naive':>6s}")
for (n, m), e, t in zip(patterns, measured, theory):
    print(f"{n:>3d}:{m:<2d} {n / m:5.2f} {e:9.4f} {t:9.4f} {1 - n / m:6.3f}")

# %%
# The measured fractions sit on the theory's line; the naive guess that
# removing a fraction ``1 - n/m`` of the weights removes that fraction of the
# energy is far off, because pruning removes the smallest ones.

fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(9, 3.8))
labels = [f"{n}:{m}" for n, m in patterns]
x = np.arange(len(patterns))
ax0.plot(x, theory, "k_", markersize=18, mew=2, label="theory (Gaussian)")
ax0.plot(x, measured, "o", label="measured, 512 x 2048")
ax0.plot(x, [1 - n / m for n, m in patterns], "x", color="grey", label="naive 1 - n/m")
ax0.set_xticks(x, labels)
ax0.set_xlabel("pattern N:M")
ax0.set_ylabel("fraction of the energy removed")
ax0.legend(fontsize=8)
ax0.grid(alpha=0.3)

rel = np.array(per_group) / np.array(per_group_theory) - 1.0
ax1.bar(x, 100 * rel)
ax1.axhline(0.0, color="k", lw=0.8)
ax1.set_xticks(x, labels)
ax1.set_xlabel("pattern N:M")
ax1.set_ylabel("error per group, measured vs theory (%)")
ax1.set_title(f"prune_nm on N(0, {sigma}²) weights", fontsize=9)
ax0.set_title("fraction removed", fontsize=9)
fig.tight_layout()
plt.show()
