"""python -m benchmarks: the CPU benchmark suite (see benchmarks/README.md)."""

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
from .matrices import CLASSES  # noqa: E402  (NumPy only: cheap)


def _default_matrices_dir():
    for cand in (ROOT.parent / "shared" / "matrices", ROOT / "tests" / "data"):
        if cand.is_dir():
            return cand
    return None


def _classes(values):
    out = []
    for v in values:
        for c in v.split(","):
            c = c.strip()
            if not c:
                continue
            if c not in CLASSES:
                raise argparse.ArgumentTypeError(f"unknown class {c!r}; choose from {CLASSES}")
            if c not in out:
                out.append(c)
    return out


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="spla CPU benchmark: SpMV and SpMM against SciPy, MKL and GraphBLAS.",
    )
    p.add_argument("--n", type=int, default=None,
                   help="size of the synthetic matrices (default 2,000,000; 200,000 with --quick)")
    p.add_argument("--repeat", type=int, default=None,
                   help="alternating timed repeats per contender (default 15; 5 with --quick)")
    p.add_argument("--classes", nargs="+", default=None, metavar="CLASS",
                   help=f"subset of {', '.join(CLASSES)} (space- or comma-separated)")
    p.add_argument("--spmm-cols", type=int, default=16, help="dense columns for SpMM (default 16)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "cpu.json",
                   help="JSON report path (default benchmarks/out/cpu.json)")
    p.add_argument("--markdown", type=Path, default=ROOT / "benchmarks" / "out" / "cpu.md",
                   help="Markdown table path (default benchmarks/out/cpu.md)")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: n = 200,000 and fewer repeats")
    p.add_argument("--matrices-dir", default="auto",
                   help="directory of .mtx/.mtx.gz matrices; 'none' to skip (default: "
                        "../shared/matrices if it exists, else tests/data if it exists)")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic matrices")
    p.add_argument("--gpu", action="store_true",
                   help="the GPU suite instead (spla_cuda against cuSPARSE, cuBLAS and "
                        "cuSPARSELt; needs CuPy, PyTorch and an NVIDIA GPU; default n = 8,000,000)")
    p.add_argument("--gpu-suites", nargs="+", default=["spmv", "spmm", "sparse24"],
                   choices=["spmv", "spmm", "sparse24", "attention", "indexing"],
                   help="GPU suites to run (default spmv, spmm, sparse24; indexing: issue 19's "
                        "reads and writes against cupyx.scipy.sparse at n <= 2,000,000)")
    a = p.parse_args(argv)
    try:
        a.classes = _classes(a.classes) if a.classes else list(CLASSES)
    except argparse.ArgumentTypeError as e:
        p.error(str(e))
    if a.n is None:
        a.n = (200_000 if a.quick else 8_000_000) if a.gpu else (200_000 if a.quick else 2_000_000)
    if a.gpu:
        if a.out.name == "cpu.json":
            a.out = a.out.with_name("gpu.json")
        if a.markdown.name == "cpu.md":
            a.markdown = a.markdown.with_name("gpu.md")
    if a.repeat is None:
        a.repeat = 5 if a.quick else 15
    if a.n < 16 or a.repeat < 1 or a.spmm_cols < 0:
        p.error("need --n >= 16, --repeat >= 1, --spmm-cols >= 0")
    if a.matrices_dir == "auto":
        a.matrices_dir = _default_matrices_dir()
    elif a.matrices_dir.lower() in ("none", ""):
        a.matrices_dir = None
    else:
        a.matrices_dir = Path(a.matrices_dir)
        if not a.matrices_dir.is_dir():
            p.error(f"--matrices-dir {a.matrices_dir} is not a directory")
    # Real matrices are small: many more, longer (batched) samples.
    a.real_repeat = max(10, a.repeat) if a.quick else max(50, 4 * a.repeat)
    a.real_min_sample_s = 0.002 if a.quick else 0.005
    return a


def _clean(o):
    """JSON-safe: NaN/inf become null."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    return o


def main(argv=None):
    args = parse_args(argv)
    if args.gpu:
        from . import gpu as suite  # heavy imports only after argument checks
    else:
        from . import cpu as suite

    report = suite.run(args)
    for path in (args.out, args.markdown):
        path.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(_clean(report), indent=1, default=str) + "\n")
    args.markdown.write_text(suite.markdown(report))
    print(f"\nwrote {args.out} and {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
