"""Numba's on-disk kernel cache shared by the processes of ``pytest -n 2``.

spla locks ``numba.core.caching.IndexDataCacheFile`` when it is imported
(``spla/_kernels/cache_lock.py`` says why): here two processes save many signatures
of one kernel into one cache folder at the same time, and every signature must load
back its own data.
"""

import os
import subprocess
import sys

import pytest

caching = pytest.importorskip("numba.core.caching")
if not hasattr(caching, "IndexDataCacheFile"):  # pragma: no cover - another Numba
    pytest.skip("this Numba has no IndexDataCacheFile", allow_module_level=True)

TESTS = os.path.dirname(os.path.abspath(__file__))

# argv: tests folder, cache folder, writer name, signatures to save
_WRITER = """
import sys
sys.path.insert(0, sys.argv[1])
import conftest  # noqa: F401  (imports spla, which locks Numba's cache files)
from numba.core.caching import IndexDataCacheFile

cache = IndexDataCacheFile(sys.argv[2], "kernel", "stamp")
name = sys.argv[3]
sys.stdin.readline()  # both writers start together
for i in range(int(sys.argv[4])):
    cache.save((name, i), ("machine code of", name, i))
"""


def test_two_processes_saving_signatures_of_one_kernel_keep_index_and_data_together(tmp_path):
    n = 150
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER, TESTS, str(tmp_path), name,
                                 str(n)], stdin=subprocess.PIPE, text=True)
               for name in ("gw0", "gw1")]
    for w in writers:
        w.stdin.write("go\n")
        w.stdin.flush()
    for w in writers:
        w.stdin.close()
        assert w.wait(timeout=120) == 0
    cache = caching.IndexDataCacheFile(str(tmp_path), "kernel", "stamp")
    wrong = [(name, i) for name in ("gw0", "gw1") for i in range(n)
             if cache.load((name, i)) != ("machine code of", name, i)]
    assert not wrong, f"{len(wrong)} of {2 * n} signatures lost or loading another's data"
    assert len(list(tmp_path.glob("kernel.*.nbc"))) == 2 * n


def test_the_lock_keeps_save_and_load_working_in_this_process(tmp_path):
    assert hasattr(caching.IndexDataCacheFile.save, "__wrapped__")  # spla locked it
    cache = caching.IndexDataCacheFile(str(tmp_path), "k", "stamp")
    assert cache.load(("sig", 1)) is None
    cache.save(("sig", 1), "one")
    cache.save(("sig", 2), "two")
    cache.save(("sig", 1), "one again")  # an existing signature keeps its file
    assert [cache.load(("sig", i)) for i in (1, 2, 3)] == ["one again", "two", None]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.1.nbc", "k.2.nbc", "k.nbi",
                                                          "k.nbi.lock"]
    # no cache folder at all: loading finds nothing (and creates no lock file)
    assert caching.IndexDataCacheFile(str(tmp_path / "none"), "k", "stamp").load("x") is None
    assert not (tmp_path / "none").exists()


def test_importing_spla_locks_the_cache():
    """A user's process (no conftest) is locked by ``import spla`` alone."""
    code = ("import numba.core.caching as c; before = hasattr(c.IndexDataCacheFile.save, "
            "'__wrapped__'); import spla; "
            "print(before, hasattr(c.IndexDataCacheFile.save, '__wrapped__'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=os.path.dirname(TESTS), check=True).stdout.split()
    assert out == ["False", "True"]
