"""The written-out complex products of ``spla._kernels.complex_arith``, and that spla's
fast-math kernels leave Numba's complex product to later kernels as they found it."""

import os
import subprocess
import sys

import numpy as np
import pytest
from numba import njit

from spla._kernels.complex_arith import abs2, conj_multiply, multiply, times_real


@njit
def _fill(a, b, s, prod, cprod, scaled, sq):
    for i in range(a.size):
        prod[i] = multiply(a[i], b[i])
        cprod[i] = conj_multiply(a[i], b[i])
        scaled[i] = times_real(a[i], s)
        sq[i] = abs2(a[i])


def _apply_all(a, b, s):
    prod = np.empty(a.size, dtype=np.result_type(a.dtype, b.dtype))
    out = (prod, np.empty_like(prod), np.empty_like(a), np.empty(a.size, dtype=a.real.dtype))
    _fill(a, b, a.real.dtype.type(s), *out)
    return out


def _textbook(a, b):
    """``(ac - bd) + (ad + bc)i`` in NumPy's real arithmetic (one rounding a product)."""
    a = np.asarray(a, dtype=np.result_type(a.dtype, b.dtype))
    b = np.asarray(b, dtype=a.dtype)
    ar, ai, br, bi = a.real, a.imag, b.real, b.imag
    if a.dtype.kind != "c":
        return a * b
    out = np.empty(a.shape, dtype=a.dtype)
    out.real = ar * br - ai * bi
    out.imag = ar * bi + ai * br
    return out


@pytest.mark.parametrize("da,db", [(np.complex64, np.complex64), (np.complex128, np.complex128),
                                   (np.float64, np.complex128), (np.complex64, np.float32),
                                   (np.float64, np.float64), (np.float32, np.float32)])
def test_products_are_the_textbook_ones(da, db):
    rng = np.random.default_rng(3)

    def values(dt, n=257):
        v = rng.standard_normal(n) * 10.0 ** rng.integers(-30, 30, n)
        if np.dtype(dt).kind == "c":
            v = v + 1j * rng.standard_normal(n) * 10.0 ** rng.integers(-30, 30, n)
        v[:6] = [np.inf, -np.inf, np.nan, 0.0, -0.0, 1e38]
        return v.astype(dt)

    a, b = values(da), values(db)
    with np.errstate(all="ignore"):
        prod, cprod, scaled, sq = _apply_all(a, b, 2.5)
        np.testing.assert_array_equal(prod, _textbook(a, b))
        np.testing.assert_array_equal(cprod, _textbook(np.conj(a), b))
        expect_scaled = a * a.real.dtype.type(2.5)
        if a.dtype.kind == "c":  # two real products: an infinite part keeps the other finite
            expect_scaled = (a.real * 2.5 + 1j * (a.imag * 2.5)).astype(a.dtype)
        np.testing.assert_array_equal(scaled, expect_scaled)
        np.testing.assert_array_equal(sq, a.real * a.real + a.imag * a.imag)


def test_complex64_overflow_is_scipys():
    """``(100+1j) * (-inf+1e38j)`` in complex64: 100 * 1e38 overflows before the sum,
    ``-inf+nanj`` (SciPy's sparsetools); a fused multiply-add would give ``-inf-infj``."""
    a = np.array([100 + 1j], dtype=np.complex64)
    b = np.array([complex(-np.inf, 1e38)], dtype=np.complex64)
    with np.errstate(all="ignore"):
        prod = _apply_all(a, b, 1.0)[0][0]
    assert prod.real == -np.inf and np.isnan(prod.imag)


# Runs in a fresh process with an empty Numba cache (a kernel loaded from the cache has no
# LLVM IR to inspect). spla's fast-math kernels that can see complex values run first: N:M
# products; gmres, lgmres (every orthogonalisation) and gcrotmk, serial and parallel;
# lobpcg. Then (1) no fast-math kernel of ``spla._kernels`` may hold Numba's complex
# product, quotient or modulus in any signature it was compiled for (the set of kernels
# seen with complex signatures must include the ones named, so that the check is not
# empty), and (2) a caller's strict Numba kernels, one serial and one parallel, must
# compute the textbook product, as they do when nothing ran before them.
_FAST_KERNELS_FIRST = r"""
import importlib
import pkgutil

import numpy as np
import scipy.sparse as sp
from numba import njit, prange
from numba.core.registry import CPUDispatcher

import spla
import spla._kernels
import spla.linalg
from spla.linalg import _gmres, _lgmres

rng = np.random.default_rng(1)
n = 4000
dt = np.complex128
dense = rng.standard_normal((64, 64))
dense[:, 2::4] = 0.0
dense[:, 3::4] = 0.0
A = spla.nm_array(dense)
z = (rng.standard_normal((64, 8)) + 1j * rng.standard_normal((64, 8))).astype(dt)
A @ z[:, 0]
A @ z
band = sp.diags_array([rng.standard_normal(n - 1), 4.0 + rng.standard_normal(n),
                       rng.standard_normal(n - 1)], offsets=[-1, 0, 1]) * (1 + 0.5j)
M = spla.csr_array(band.astype(dt))
b = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(dt)
for parallel in (True, False):
    _gmres.MGS_PARALLEL_MIN = 0 if parallel else 10 ** 9
    _lgmres.PARALLEL_MIN = 0 if parallel else 10 ** 9
    spla.linalg.gmres(M, b, restart=8, maxiter=2)
    for orth in ("fused", "mgsg", "mgs2f"):
        _lgmres.ORTHOGONALIZATION = orth
        spla.linalg.lgmres(M, b, inner_m=6, maxiter=2)
        spla.linalg.gcrotmk(M, b, m=6, k=2, maxiter=3)
H = spla.csr_array((band + band.conj().T).astype(dt))
spla.linalg.lobpcg(H, rng.standard_normal((n, 3)).astype(dt), maxiter=3)

NUMBA_COMPLEX = ("complex_mul_impl", "complex_div_impl", "complex_abs_impl")
complex_seen, holding = set(), set()
for info in pkgutil.iter_modules(spla._kernels.__path__):
    module = importlib.import_module("spla._kernels." + info.name)
    for name, obj in vars(module).items():
        for kernel in (obj if isinstance(obj, tuple) else (obj,)):
            if not (isinstance(kernel, CPUDispatcher) and kernel.targetoptions.get("fastmath")):
                continue
            for sig in kernel.signatures:
                if "complex" in str(sig):
                    complex_seen.add(kernel.py_func.__name__)
                ir = kernel.inspect_llvm(sig)
                if any(impl in ir for impl in NUMBA_COMPLEX):
                    holding.add(f"{info.name}.{kernel.py_func.__name__}")
expected = {"spmv_b2", "spmm", "mgs2f_column", "combine_rows", "scale_vec", "combine2_rows",
            "mgsg_column", "lgmres_sweep", "residual"}
problems = []
if not expected <= complex_seen:
    problems.append(f"not run with complex values: {sorted(expected - complex_seen)}")
if holding:
    problems.append(f"Numba's complex arithmetic in: {sorted(holding)}")


@njit
def serial(a, b):
    out = np.empty_like(a)
    for i in range(a.size):
        out[i] = a[i] * b[i]
    return out


@njit(parallel=True)
def parallel(a, b):
    out = np.empty_like(a)
    for i in prange(a.size):
        out[i] = a[i] * b[i]
    return out


for cdt in (np.complex64, np.complex128):
    a = (rng.standard_normal(4096) + 1j * rng.standard_normal(4096)).astype(cdt)
    c = (rng.standard_normal(4096) + 1j * rng.standard_normal(4096)).astype(cdt)
    expect = np.empty_like(a)
    expect.real = a.real * c.real - a.imag * c.imag
    expect.imag = a.real * c.imag + a.imag * c.real
    for kernel in (serial, parallel):
        differ = int(np.sum(kernel(a, c) != expect))
        if differ:
            problems.append(f"{kernel.__name__} {np.dtype(cdt).name}: {differ} of 4096 differ")
print("; ".join(problems) or "ok")
"""


def test_fast_math_kernels_leave_numbas_complex_product_alone(tmp_path):
    """Numba compiles its complex ``*`` once per process (per signature, serial or
    parallel) with the fast-math flags of the first kernel that used it. spla's fast-math
    kernels write their complex products out, so a caller's strict kernel compiled after
    them still rounds each product (before: 1,740-1,850 of 4,096 products differed, fused
    multiply-adds, after N:M products and gmres, lgmres or gcrotmk on complex data)."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    done = subprocess.run([sys.executable, "-c", _FAST_KERNELS_FIRST], env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "ok", done.stdout
