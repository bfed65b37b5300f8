"""SpGEMM ``A @ A`` against SciPy and Intel MKL: ``python -m benchmarks.spgemm``.

Two products from issue 17, each timed alternately with SciPy's ``S @ S`` and
``sparse_dot_mkl.dot_product_mkl(S, S)`` in one run (``timing.time_alternating``,
medians compared):

* ``uniform``: the uniform 10-per-row matrix of ``benchmarks.matrices``
  (n = 2,000,000 by default: 20 M entries; ``A @ A`` has about 200 M entries,
  2.4 GB, and takes seconds a call);
* ``corner``: its ``n / 10`` x ``n / 10`` leading corner (about one entry a row;
  the square has about one entry a row too): a hypersparse product, where any
  work per row or per column beyond the entries shows.

MKL is loaded through ``MKL_RT`` as in ``benchmarks.cpu``; it is skipped (and
said so) when ``sparse_dot_mkl`` is missing (``pip install spla[bench]``). On a
shared machine run it under the lock: ``flock /tmp/spla-cpu.lock python -m
benchmarks.spgemm``.
"""

import argparse
import os
import platform
import sys

_MKL_RT = os.path.join(sys.prefix, "lib", "libmkl_rt.so.3")
if "MKL_RT" not in os.environ and os.path.exists(_MKL_RT):
    os.environ["MKL_RT"] = _MKL_RT

import numba  # noqa: E402
import numpy as np  # noqa: E402
import scipy  # noqa: E402
import scipy.sparse as sp  # noqa: E402

import spla  # noqa: E402

from .machine import cpu_model  # noqa: E402
from .matrices import uniform  # noqa: E402
from .timing import time_alternating  # noqa: E402


def _mkl():
    try:
        import sparse_dot_mkl as sdm
    except Exception as e:  # noqa: BLE001 - any failure to load MKL means "skip it"
        print(f"MKL skipped: {type(e).__name__}: {e}")
        return None
    sdm.mkl_set_num_threads(numba.get_num_threads())
    print(f"sparse_dot_mkl {sdm.__version__}, {sdm.mkl_get_version_string()}, "
          f"{sdm.mkl_get_max_threads()} MKL threads")
    return sdm.dot_product_mkl


def products(n):
    """(name, SciPy csr_array) of the two products' operand."""
    d, i, p, shape = uniform(n)
    S = sp.csr_array((d, i, p), shape=shape)
    m = max(1, n // 10)
    yield "corner", S[:m, :m].tocsr()
    yield "uniform", S


def check(S, dot, rows=50_000):
    """spla's product equals SciPy's (structure and values), and MKL's values, on
    the first ``rows`` rows of the left operand (the same kernels as the whole
    product, without holding three products of gigabytes at once)."""
    L = S[:rows].tocsr()
    C, R = (spla.csr_array(L) @ spla.csr_array(S)).to_scipy(), L @ S
    R.sort_indices()
    ok = (C.nnz == R.nnz and np.array_equal(C.indptr, R.indptr)
          and np.array_equal(C.indices, R.indices) and np.allclose(C.data, R.data))
    if dot is not None:
        M = dot(L, S)
        ok = ok and abs(M - R).max() <= 1e-12 * max(1.0, abs(R).max())
    if not ok:
        raise AssertionError("spla's (or MKL's) product differs from SciPy's")


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.spgemm",
                                description=__doc__.split("\n")[0])
    p.add_argument("-n", type=int, default=2_000_000, help="rows and columns (default 2e6)")
    p.add_argument("--repeat", type=int, default=5, help="alternating repeats (median shown)")
    p.add_argument("-k", dest="select", help="only the product of this name")
    p.add_argument("--no-mkl", action="store_true", help="leave MKL out")
    p.add_argument("--no-check", action="store_true", help="skip the equality check")
    args = p.parse_args(argv)
    print(f"spla {spla.__version__}, SciPy {scipy.__version__}, NumPy {np.__version__}, "
          f"Numba {numba.__version__} ({numba.get_num_threads()} threads), "
          f"{cpu_model()}, {platform.machine()}")
    dot = None if args.no_mkl else _mkl()
    print("| product  | n         | nnz(A)     | nnz(A@A)    | spla ms   | SciPy ms  | MKL ms    "
          "| SciPy/spla | MKL/spla |")
    print("|----------|-----------|------------|-------------|-----------|-----------|-----------"
          "|------------|----------|")
    for name, S in products(args.n):
        if args.select and args.select != name:
            continue
        A = spla.csr_array(S)
        if not args.no_check:
            check(S, dot)
        nnz_c = (A @ A).nnz
        contenders = {"spla": lambda: A @ A, "scipy": lambda: S @ S}
        if dot is not None:
            contenders["mkl"] = lambda: dot(S, S)
        big = S.nnz > 1_000_000
        t = time_alternating(contenders, repeat=args.repeat if big else 5 * args.repeat,
                             warmup=2, min_sample_s=0.0 if big else 0.05)
        ms = {k: 1e3 * v["median"] for k, v in t.items()}
        mkl = ms.get("mkl", float("nan"))
        print(f"| {name:<8} | {S.shape[0]:>9,} | {S.nnz:>10,} | {nnz_c:>11,} | "
              f"{ms['spla']:9.2f} | {ms['scipy']:9.2f} | {mkl:9.2f} | "
              f"{ms['scipy'] / ms['spla']:9.2f}x | {mkl / ms['spla']:7.2f}x |", flush=True)


if __name__ == "__main__":
    main()
