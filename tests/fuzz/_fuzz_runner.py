"""Run the hostile corpus in subprocesses under a memory limit.

The parent (``run``) starts a worker (this file run as a script), sends it the
indices of the cases still to run and reads one line per case start and end.
A worker that dies (segfault, abort, ``os._exit``) or stays silent past the
time limit of one case is killed and recorded against the case it was running,
and a fresh worker goes on with the next case, so that one crash cannot hide
the cases after it.

Usage as a script (for the counts of a report):
``python tests/fuzz/_fuzz_runner.py [--random N] [--seed S]`` prints the outcome
counts per entry point and every failure.
"""

import collections
import json
import os
import select
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MARK = "@@fuzz "
#: Address-space limit of a worker: room for NumPy, SciPy, Numba, Dask and small
#: inputs, far below what a runaway allocation asks for.
MEMORY_LIMIT = 3 << 30
CASE_TIMEOUT = 60.0
START_TIMEOUT = 300.0

FAILURES = ("crash", "hang", "memory", "unexpected", "wrong", "mutated", "invalid", "corpus")


def run(selection="fixed", random_count=0, seed=0, memory_limit=MEMORY_LIMIT,
        case_timeout=CASE_TIMEOUT, indices=None, workers=1):
    """Run the cases of ``selection`` (``"fixed"``: the fixed corpus plus
    ``random_count`` random cases; ``"selftest"``: the runner's own checks), or
    only those at ``indices``, in ``workers`` worker processes at a time.

    Returns a list of ``(index, entry, label, status, detail)``.
    """
    import concurrent.futures as cf

    total = _count(selection, random_count, seed)
    everything = list(range(total)) if indices is None else list(indices)
    results = {}

    def drive(share):
        mine = {}
        pending = share
        while pending:
            _worker_round(pending, mine, selection, random_count, seed, memory_limit,
                          case_timeout)
            pending = [i for i in pending if i not in mine]
        return mine

    shares = [everything[w::workers] for w in range(workers)]
    with cf.ThreadPoolExecutor(max_workers=workers) as pool:
        for mine in pool.map(drive, [s for s in shares if s]):
            results.update(mine)
    return [results[i] for i in sorted(results)]


def default_indices(selection="fixed", random_count=0, seed=0):
    """The cases of CI's default profile: every case of the constructors, readers,
    writers and methods, and every other case of the binary operators (whose
    operands repeat across the eight operators)."""
    _count(selection, random_count, seed)
    import _fuzz_corpus as C

    cases = C.select(selection, random_count, seed)
    return [i for i, c in enumerate(cases) if "operand" not in c.entry or i % 2 == 0]


def _count(selection, random_count, seed):
    if ROOT not in sys.path:
        sys.path.append(ROOT)
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    import _fuzz_corpus as C

    return len(C.select(selection, random_count, seed))


def _worker_round(pending, results, selection, random_count, seed, memory_limit,
                  case_timeout):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.setdefault("NUMBA_NUM_THREADS", "2")
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker", selection,
             str(random_count), str(seed), str(memory_limit)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, cwd=ROOT, env=env)
        proc.stdin.write(json.dumps(pending).encode())
        proc.stdin.close()
        current, info, buf = None, {}, b""
        deadline = time.monotonic() + START_TIMEOUT
        try:
            while True:
                line, buf, eof = _read_line(proc.stdout, buf, deadline)
                if line is None and not eof:  # timed out
                    proc.kill()
                    proc.wait()
                    if current is None:
                        raise RuntimeError("the fuzz worker did not start: "
                                           + _tail(err))
                    results[current] = info[current] + ("hang", f"no answer within "
                                                                 f"{case_timeout:.0f} s")
                    return
                if eof:
                    code = proc.wait()
                    if current is None:
                        if not any(i not in results for i in pending):
                            return
                        raise RuntimeError(f"the fuzz worker exited ({code}) between cases: "
                                           + _tail(err))
                    how = f"signal {-code}" if code < 0 else f"exit status {code}"
                    results[current] = info[current] + ("crash", f"{how}: {_tail(err)}")
                    return
                msg = json.loads(line)
                if "start" in msg:
                    current = msg["start"]
                    info[current] = (current, msg["entry"], msg["label"])
                    deadline = time.monotonic() + case_timeout
                elif "done" in msg:
                    results[msg["done"]] = info[msg["done"]] + (msg["status"], msg["detail"])
                    current = None
                    deadline = time.monotonic() + case_timeout
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _read_line(stream, buf, deadline):
    """The next protocol line of ``stream`` (``None`` on timeout), the rest of the
    buffer, and whether the stream ended."""
    fd = stream.fileno()
    while True:
        while b"\n" in buf:
            raw, buf = buf.split(b"\n", 1)
            text = raw.decode("utf-8", "replace")
            if text.startswith(MARK):
                return text[len(MARK):], buf, False
        left = deadline - time.monotonic()
        if left <= 0:
            return None, buf, False
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            return None, buf, False
        chunk = os.read(fd, 65536)
        if not chunk:
            return None, buf, True
        buf += chunk


def _tail(f, size=1500):
    f.flush()
    f.seek(0, os.SEEK_END)
    n = f.tell()
    f.seek(max(0, n - size))
    return f.read().decode("utf-8", "replace").strip()


def summarize(results):
    """``{entry: Counter(status)}``."""
    table = collections.defaultdict(collections.Counter)
    for _, entry, _, status, _ in results:
        table[entry][status] += 1
    return table


def failures(results):
    return [r for r in results if r[3] in FAILURES]


# -- the worker ------------------------------------------------------------------------------

def _worker(selection, random_count, seed, memory_limit):
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    sys.path.insert(0, HERE)
    import numpy as np

    import _fuzz_corpus as C
    import spla  # noqa: F401

    import shutil

    indices = json.loads(sys.stdin.read())
    cases = C.select(selection, random_count, seed)
    out = sys.stdout
    # Every file the cases write goes under one directory, removed at the end.
    scratch = tempfile.mkdtemp(prefix="spla-fuzz-run-")
    tempfile.tempdir = scratch
    try:
        _run_all(cases, indices, out, np)
    finally:
        os.chdir(ROOT)
        shutil.rmtree(scratch, ignore_errors=True)


def _run_all(cases, indices, out, np):
    for i in indices:
        case = cases[i]
        out.write(MARK + json.dumps({"start": i, "entry": case.entry, "label": case.label})
                  + "\n")
        out.flush()
        status, detail = _run_case(case, np)
        out.write(MARK + json.dumps({"done": i, "status": status, "detail": detail}) + "\n")
        out.flush()


def _run_case(case, np):
    import warnings

    try:
        args, kwargs = case.make()
    except Exception as exc:  # a bug of the corpus itself
        return "corpus", f"make() raised {type(exc).__name__}: {exc}"
    saved = _snapshot((args, kwargs))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = case.call(*args, **kwargs)
    except MemoryError as exc:
        status = ("refused", f"MemoryError: {exc}") if case.huge else (
            "memory", f"MemoryError on a small input: {exc}")
    except case.allowed as exc:
        status = ("refused", f"{type(exc).__name__}: {exc}"[:300])
    except Exception as exc:
        status = ("unexpected", f"{type(exc).__module__}.{type(exc).__name__}: {exc}"[:500])
    else:
        status = _check_result(case, args, kwargs, result, np)
    if not _unchanged(saved, (args, kwargs)):
        return "mutated", "the call changed an array of its arguments"
    return status


def _check_result(case, args, kwargs, result, np):
    try:
        _validate(result, np)
    except Exception as exc:
        return "invalid", f"{type(exc).__name__}: {exc}"[:500]
    if case.reference is None:
        return "ok", ""
    try:
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ref = case.reference(*args, **kwargs)
    except Exception:
        return "ok", "SciPy refuses it"
    got = result[0] if isinstance(result, tuple) else result
    got = got.toarray() if hasattr(got, "toarray") else got
    try:
        got = np.asarray(got)
        ref = np.asarray(ref)
        if got.shape != ref.shape:
            return "wrong", f"shape {got.shape}, SciPy {ref.shape}"
        if ref.dtype.kind not in "biufc" or got.dtype.kind not in "biufc":
            return "ok", "not numeric"
        if not np.allclose(got.astype(np.complex128), ref.astype(np.complex128), rtol=1e-5,
                           atol=1e-6, equal_nan=True):
            return "wrong", f"values differ from SciPy's: {got!r} vs {ref!r}"[:500]
    except Exception as exc:
        return "ok", f"not comparable ({type(exc).__name__})"
    return "ok", "matches SciPy"


def _validate(result, np):
    """Every spla array in ``result`` holds storage that passes the full checks."""
    import spla
    from spla._formats.validation import check_compressed

    items = result if isinstance(result, tuple) else (result,)
    for r in items:
        if not isinstance(r, spla.SparseArray):
            continue
        shape = r.shape
        if not r.dtype.isnative:
            raise AssertionError(f"non-native dtype {r.dtype}")
        if r.format == "coo":  # SciPy's COO is 1-D, 2-D or n-D
            _validate_coo(r, np)
            continue
        if r.format == "csr" and len(shape) == 1:  # SciPy's 1-D csr_array: one row
            shape = (1,) + tuple(shape)
        if len(shape) != 2 or min(shape) < 0:
            raise AssertionError(f"bad shape {r.shape}")
        if r.format in ("csr", "csc"):
            if r.indices.dtype not in (np.int32, np.int64) or r.indptr.dtype != r.indices.dtype:
                raise AssertionError(f"index dtypes {r.indices.dtype}, {r.indptr.dtype}")
            layout = shape if r.format == "csr" else shape[::-1]
            check_compressed(np, r.indptr, r.indices, r.data, layout, full=True,
                             kind=type(r).__name__)
        if shape[0] * shape[1] <= 10**6:
            d = r.toarray()
            if d.shape != r.shape:
                raise AssertionError(f"toarray gave {d.shape} for shape {r.shape}")


def _validate_coo(r, np):
    """A COO array's coordinates: one integer array per axis, as long as ``data``,
    every entry inside the shape."""
    shape, coords = r.shape, r.coords
    if len(shape) < 1 or min(shape) < 0:
        raise AssertionError(f"bad shape {shape}")
    if len(coords) != len(shape):
        raise AssertionError(f"{len(coords)} coordinate arrays for shape {shape}")
    for axis, (c, n) in enumerate(zip(coords, shape)):
        if c.dtype.kind not in "iu" or c.shape != r.data.shape:
            raise AssertionError(f"coords[{axis}] {c.dtype} {c.shape}, data {r.data.shape}")
        if c.size and (c.min() < 0 or c.max() >= n):
            raise AssertionError(f"coords[{axis}] outside 0..{n}")
    if int(np.prod(shape, dtype=object)) <= 10**6:
        d = r.toarray()
        if d.shape != shape:
            raise AssertionError(f"toarray gave {d.shape} for shape {shape}")


def _leaves(obj, out):
    import numpy as np

    if isinstance(obj, np.ndarray):
        out.append(obj)
    elif isinstance(obj, (tuple, list)):
        for o in obj:
            _leaves(o, out)
    elif isinstance(obj, dict):
        for o in obj.values():
            _leaves(o, out)
    else:
        for name in ("data", "indices", "indptr", "values", "positions", "offsets"):
            try:
                a = getattr(obj, name, None)
            except Exception:
                a = None
            if isinstance(a, np.ndarray):
                out.append(a)
        coords = getattr(obj, "coords", None) if hasattr(type(obj), "coords") else None
        if isinstance(coords, tuple):  # a COO array's index arrays
            out.extend(c for c in coords if isinstance(c, np.ndarray))
    return out


def _snapshot(obj):
    return [(a, a.copy()) for a in _leaves(obj, [])]


def _unchanged(saved, obj):
    import numpy as np

    now = _leaves(obj, [])
    if len(now) != len(saved):
        return False
    for (a, copy), b in zip(saved, now):
        if a is not b and not (a.shape == b.shape):
            return False
        if a.dtype.kind == "O" or a.dtype.kind in "UV":
            same = a.shape == copy.shape and bool(np.all(a == copy)) if a.size else True
        else:
            same = a.tobytes() == copy.tobytes()
        if not same:
            return False
    return True


def main(argv):
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("--random", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--selection", default="fixed")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--default-profile", action="store_true",
                   help="only the cases of CI's default profile")
    a = p.parse_args(argv)
    t0 = time.time()
    indices = default_indices(a.selection, a.random, a.seed) if a.default_profile else None
    results = run(a.selection, a.random, a.seed, indices=indices, workers=a.workers)
    table = summarize(results)
    print(f"{len(results)} cases in {time.time() - t0:.0f} s")
    for entry in sorted(table):
        print(f"  {entry:45s} {sum(table[entry].values()):5d}  {dict(table[entry])}")
    for r in failures(results):
        print("FAIL", r)
    return 1 if failures(results) else 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _worker(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    else:
        sys.exit(main(sys.argv[1:]))
