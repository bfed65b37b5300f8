"""python -m benchmarks.plot_activation: measured activation-sparse GEMV speedup against
activation sparsity, beside the ideal 1 / alpha, from the JSON of benchmarks.activation.

Needs matplotlib (``pip install ".[bench]"``); nothing else in spla does.
"""

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.plot_activation")
    ap.add_argument("json", nargs="?", default=str(ROOT / "benchmarks" / "out" / "activation.json"))
    ap.add_argument("--png", default=str(ROOT / "docs" / "activation_speedup.png"))
    args = ap.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rep = json.loads(Path(args.json).read_text())
    rows = sorted(rep["results"]["rows"], key=lambda r: r["density"])
    sparsity = [100 * (1 - r["density"]) for r in rows]
    mch = rep["machine"]
    fig, ax = plt.subplots(figsize=(6.0, 4.0), dpi=100)
    ax.plot(sparsity, [r["ideal"] for r in rows], "k--", label="ideal 1/alpha")
    ax.plot(sparsity, [r["speedup_F"] for r in rows], "o-", label="activation_matvec, W column-major")
    ax.plot(sparsity, [r["speedup_C"] for r in rows], "s-", label="activation_matvec, W row-major")
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("activation sparsity 1 - alpha (%)")
    ax.set_ylabel("speedup over dense GEMV (median)")
    res = rep["results"]
    ax.set_title(f"W {res['m']} x {res['n']} float32, {mch.get('cpu_model', '?')}, "
                 f"{mch.get('numba_threads')} thread(s)", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.png)
    print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
