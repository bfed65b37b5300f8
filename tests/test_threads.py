"""Thread safety and determinism of the parallel kernels."""

import concurrent.futures as cf
import itertools

import numba
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

import spla
from spla.testing import strategies as sst

from _util import assert_within


def power_law(m, n, seed, dtype=np.float64, index_dtype=np.int32, big_rows=(3000, 2000, 1000),
              scale=8, cap=500):
    """Random CSR with a heavy-tailed row length distribution and a few very long rows."""
    rng = np.random.default_rng(seed)
    lens = (rng.zipf(2.0, size=m) * scale).clip(1, cap)
    lens[rng.choice(m, size=len(big_rows), replace=False)] = big_rows
    lens[rng.choice(m, size=m // 20, replace=False)] = 0  # and some empty rows
    rows = np.repeat(np.arange(m), lens)
    cols = rng.integers(0, n, size=rows.size)
    vals = rng.uniform(-1, 1, size=rows.size)
    if np.dtype(dtype).kind == "c":
        vals = vals + 1j * rng.uniform(-1, 1, size=rows.size)
    S = sp.csr_array((vals.astype(dtype), (rows, cols)), shape=(m, n))
    S.sum_duplicates()
    A = spla.csr_array((S.data, S.indices.astype(index_dtype), S.indptr.astype(index_dtype)),
                       shape=S.shape)
    return A, S


def _key(result):
    """Everything about a result that must be bitwise reproducible."""
    if isinstance(result, spla.SparseArray):
        return (result.format, result.shape, result.dtype.str, result.data.tobytes(),
                result.indices.tobytes(), result.indptr.tobytes())
    r = np.asarray(result)
    return (r.shape, r.dtype.str, np.ascontiguousarray(r).tobytes())


@pytest.fixture(scope="module", params=[(np.float64, np.int32), (np.complex64, np.int64)],
                ids=["float64-int32", "complex64-int64"])
def operands(request):
    dtype, idx = request.param
    A, S = power_law(3000, 2500, seed=5, dtype=dtype, index_dtype=idx)
    B, _ = power_law(2500, 2000, seed=6, dtype=dtype, index_dtype=idx, big_rows=(50,), scale=1, cap=4)
    C, _ = power_law(3000, 2500, seed=7, dtype=dtype, index_dtype=idx)
    rng = np.random.default_rng(8)
    x = rng.uniform(-1, 1, 2500).astype(dtype)
    y = rng.uniform(-1, 1, 3000).astype(dtype)
    X = rng.uniform(-1, 1, (2500, 8)).astype(dtype)
    Y = rng.uniform(-1, 1, (3000, 5)).astype(dtype)
    assert A.nnz > 1 << 15  # big enough for every parallel path
    return dict(A=A, S=S, B=B, C=C, x=x, y=y, X=X, Y=Y)


OPS = {
    "spmv": lambda o: o["A"] @ o["x"],
    "spmm": lambda o: o["A"] @ o["X"],
    "spmm_F": lambda o: o["A"] @ np.asfortranarray(o["X"]),
    "rmatvec": lambda o: o["A"].T @ o["y"],
    "rmatmat": lambda o: o["A"].T @ o["Y"],
    "vec_matmul": lambda o: o["y"] @ o["A"],
    "spgemm": lambda o: o["A"] @ o["B"],
    "add": lambda o: o["A"] + o["C"],
    "sub": lambda o: o["A"] - o["C"],
    "multiply": lambda o: o["A"].multiply(o["C"]),
    "add_dense": lambda o: o["A"] + o["x"],
    "sum0": lambda o: o["A"].sum(axis=0),
    "sum1": lambda o: o["A"].sum(axis=1),
    "toarray": lambda o: o["A"].toarray(),
    "tocsc": lambda o: o["A"].tocsc(),
}


def _dense_of(result):
    return result.toarray() if isinstance(result, spla.SparseArray) else np.asarray(result)


def assert_same_bits(a, b, what):
    if _key(a) != _key(b):
        da, db = _dense_of(a), _dense_of(b)
        diff = (np.abs(da - db).max() if da.shape == db.shape and da.size else "n/a")
        raise AssertionError(f"{what}: results differ bitwise (max abs difference {diff})")


def test_concurrent_calls_match_serial(operands):
    expected = {name: op(operands) for name, op in OPS.items()}
    tasks = [name for _, name in itertools.product(range(6), OPS)]
    np.random.default_rng(0).shuffle(tasks)
    with cf.ThreadPoolExecutor(max_workers=8) as pool:
        futures = [(name, pool.submit(OPS[name], operands)) for name in tasks]
        for name, fut in futures:
            assert_same_bits(fut.result(), expected[name], f"{name} from 8 threads")


def test_results_match_scipy(operands):
    o = operands
    S = o["S"]
    absS = abs(S)
    dt = o["A"].dtype
    terms = int(np.diff(S.indptr).max())
    cols = int(np.bincount(S.indices).max())
    assert_within(o["A"] @ o["x"], S @ o["x"].astype(np.complex128), absS @ np.abs(o["x"]),
                  terms, dt, what="A @ x")
    assert_within(o["A"] @ o["X"], S @ o["X"].astype(np.complex128), absS @ np.abs(o["X"]),
                  terms, dt, what="A @ X")
    assert_within(o["A"].T @ o["y"], S.T @ o["y"].astype(np.complex128),
                  absS.T @ np.abs(o["y"]), cols, dt, what="A.T @ y")


def test_results_do_not_depend_on_thread_count(operands):
    """spla/_kernels/partition.py: work is cut into chunks that depend only on the
    matrix, "so the order of every floating-point addition, and with it every result
    bit, is the same on any machine with any number of threads"."""
    saved = numba.get_num_threads()
    # the whole pool, whatever count an earlier test in this process left set
    pool = numba.config.NUMBA_NUM_THREADS
    if pool < 2:
        pytest.skip("needs a pool of at least 2 Numba threads")
    ops = ["spmv", "spmm", "rmatvec", "rmatmat", "vec_matmul", "spgemm", "add", "multiply",
           "sum0", "sum1"]
    differ = []
    try:
        for op in ops:
            numba.set_num_threads(1)
            one = OPS[op](operands)
            numba.set_num_threads(pool)
            many = OPS[op](operands)
            if _key(one) != _key(many):
                differ.append(f"{op} (max abs difference "
                              f"{np.abs(_dense_of(one) - _dense_of(many)).max():.3g})")
    finally:
        numba.set_num_threads(saved)
    assert not differ, f"1 thread and {pool} threads give different bits: {', '.join(differ)}"


@given(sst.csr_arrays(), st.data())
def test_repeatable_bits(A, data):
    x = data.draw(sst.dense_operands(A.shape[1]), label="x")
    X = data.draw(sst.dense_operands(A.shape[1], st.integers(0, 4)), label="X")
    y = data.draw(sst.dense_operands(A.shape[0]), label="y")
    for f in (lambda: A @ x, lambda: A @ X, lambda: A.T @ y, lambda: y @ A, lambda: A @ A.T,
              lambda: A + A, lambda: A.sum(0)):
        assert_same_bits(f(), f(), "computed twice")


def test_large_power_law_deterministic_and_matches_scipy():
    A, S = power_law(20000, 20000, seed=11, big_rows=(8000, 5000, 3000, 2000, 2000),
                     scale=2)
    x = np.random.default_rng(12).uniform(-1, 1, 20000)
    y1 = A @ x
    y2 = A @ x
    assert_same_bits(y1, y2, "A @ x twice")
    t1 = A.T @ x
    assert_same_bits(t1, A.T @ x, "A.T @ x twice")
    terms = int(np.diff(S.indptr).max())
    assert terms >= 5000
    assert_within(y1, S @ x, abs(S) @ np.abs(x), terms, np.float64, what="A @ x")
    assert_within(t1, S.T @ x, abs(S).T @ np.abs(x), int(np.bincount(S.indices).max()) + 1,
                  np.float64, what="A.T @ x")
    # float32: accumulates in double, so the result is the float64 one rounded (nearly)
    A32 = A.astype(np.float32)
    x32 = x.astype(np.float32)
    y32 = A32 @ x32
    assert y32.dtype == np.float32
    assert_same_bits(y32, A32 @ x32, "float32 A @ x twice")
    ref = A32.to_scipy().astype(np.float64) @ x32.astype(np.float64)
    mag = abs(A32.to_scipy().astype(np.float64)) @ np.abs(x32.astype(np.float64))
    assert_within(y32, ref, mag, terms, np.float32, what="float32 A @ x")


# -- threadpoolctl controls Numba's pool (spla/_kernels/threads.py) -------------------------


def _numba_pools():
    from threadpoolctl import threadpool_info

    return [i for i in threadpool_info() if i["internal_api"] == "numba"]


def test_threadpoolctl_sees_numba_pool():
    pools = _numba_pools()
    assert len(pools) == 1
    assert pools[0]["user_api"] == "numba"
    assert pools[0]["num_threads"] == numba.get_num_threads()
    assert pools[0]["version"] == numba.__version__


def test_threadpool_limits_limit_spla_kernels(operands):
    """``threadpool_limits(1)`` (every pool) puts spla's kernels on one thread, and
    the user's count comes back afterwards; results do not change."""
    from threadpoolctl import threadpool_limits

    saved = numba.get_num_threads()
    expected = OPS["spmv"](operands)
    with threadpool_limits(limits=1):
        assert numba.get_num_threads() == 1
        assert _numba_pools()[0]["num_threads"] == 1
        assert_same_bits(OPS["spmv"](operands), expected, "spmv under threadpool_limits(1)")
    assert numba.get_num_threads() == saved
    with threadpool_limits(limits=1, user_api="blas"):  # BLAS only: Numba untouched
        assert numba.get_num_threads() == saved
    with threadpool_limits(limits=1, user_api="numba"):
        assert numba.get_num_threads() == 1
    with threadpool_limits(limits=10_000):  # beyond the pool: Numba's most
        assert numba.get_num_threads() == numba.config.NUMBA_NUM_THREADS
    assert numba.get_num_threads() == saved


def test_threadpool_limits_are_per_thread_for_numba():
    """Numba's thread count belongs to the calling thread: a limit set in one
    thread does not reach kernels launched by another (docs/architecture.md)."""
    from threadpoolctl import threadpool_limits

    saved = numba.get_num_threads()
    seen = []
    with threadpool_limits(limits=1):
        with cf.ThreadPoolExecutor(max_workers=1) as pool:
            seen.append(pool.submit(numba.get_num_threads).result())
    assert seen == [numba.config.NUMBA_NUM_THREADS]
    assert numba.get_num_threads() == saved


# -- how idle OpenMP threads wait (spla._kernels.threads.DEFAULT_GOMP_SPINCOUNT) ----------

_WAIT_PROBE = r"""
import json, os, sys
if sys.argv[1] == "preload":
    import ctypes
    ctypes.CDLL("libgomp.so.1")  # another library brought GNU OpenMP in first
import numpy as np
import spla
from spla._kernels import threads
at_import = os.environ.get("GOMP_SPINCOUNT")
A = spla.csr_array(np.ones((600, 600)))  # 360,600 items: the parallel SpMV
A @ np.ones(600)
print(json.dumps({"at_import": at_import, "after": os.environ.get("GOMP_SPINCOUNT"),
                  "policy": threads.wait_policy(), "default": threads.DEFAULT_GOMP_SPINCOUNT}))
"""


def _wait_probe(env_extra, mode="plain"):
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items()
           if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY", "NUMBA_THREADING_LAYER")}
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-c", _WAIT_PROBE, mode], env=env, check=True,
                         capture_output=True, text=True, timeout=300).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_default_wait_sets_spincount_until_the_pool_starts():
    """With no setting of the user's, spla gives GNU OpenMP its spin count at import
    and removes it from the environment once its pool has read it."""
    r = _wait_probe({})
    assert r["at_import"] == r["default"]
    assert r["policy"]["spla_spincount"] == r["default"]
    assert r["after"] is None  # children and os.environ see the user's environment
    assert r["policy"]["GOMP_SPINCOUNT"] is None
    if r["policy"]["layer"] != "omp":
        pytest.skip(f"Numba runs on {r['policy']['layer']}, not GNU OpenMP")


@pytest.mark.parametrize("env", [{"GOMP_SPINCOUNT": "123"}, {"OMP_WAIT_POLICY": "active"}],
                         ids=["spincount", "policy"])
def test_user_wait_setting_wins(env):
    r = _wait_probe(env)
    assert r["policy"]["spla_spincount"] is None
    assert r["at_import"] == env.get("GOMP_SPINCOUNT")
    assert r["after"] == env.get("GOMP_SPINCOUNT")
    assert r["policy"]["OMP_WAIT_POLICY"] == env.get("OMP_WAIT_POLICY")


def test_no_default_wait_once_libgomp_is_loaded():
    """A libgomp loaded before spla has read its settings: spla sets nothing."""
    import ctypes

    try:
        ctypes.CDLL("libgomp.so.1")
    except OSError:
        pytest.skip("no libgomp.so.1 on this system")
    r = _wait_probe({}, mode="preload")
    assert r["at_import"] is None and r["after"] is None
    assert r["policy"]["spla_spincount"] is None
