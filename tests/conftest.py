"""Test configuration: hypothesis profiles, and a lock on Numba's kernel cache files.

``ci`` (the default) runs 100 examples per property (the suite holds over 2,000
tests and must stay well inside CI's time on 2 cores); ``thorough`` runs 3000;
``quick`` runs 25 and does not shrink failures (a fast first look while developing).
Pick one with ``python -m pytest --hypothesis-profile=thorough`` or with the
environment variable ``HYPOTHESIS_PROFILE=thorough``.
"""

import os

from hypothesis import HealthCheck, Phase, settings

settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough",
    max_examples=3000,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "quick",
    max_examples=25,
    deadline=None,
    print_blob=True,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Loaded when this conftest is imported, i.e. before the hypothesis pytest
# plugin applies --hypothesis-profile (which therefore wins over both).
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _lock_numba_cache_files():
    """Serialise Numba's on-disk cache between the processes of one test run.

    ``python -m pytest -n 2`` (pytest-xdist) runs two worker processes that share
    the cache of ``@njit(cache=True)`` kernels: what one compiled, the other loads
    instead of compiling again. Numba (0.59 to 0.68) writes each file atomically, but
    ``IndexDataCacheFile.save`` reads the index, picks the first free data file
    number and writes the index, then the data, unlocked: two processes saving two
    signatures of one kernel at the same moment can both pick ``<kernel>.1.nbc``,
    and the index can end up naming the other signature's machine code (a crash or
    wrong results in the next process that loads it, also in later runs; Numba's
    issue 10128 is the same kind of race for gufuncs, where its maintainers
    proposed a file lock). Here ``save`` holds an exclusive ``flock`` and ``load``
    a shared one on ``<index>.lock``, so that an index and its data files change
    together. Without ``fcntl`` (Windows) or with a Numba whose cache class
    differs, nothing changes.
    """
    try:
        import fcntl

        from numba.core.caching import IndexDataCacheFile
    except ImportError:  # pragma: no cover - depends on the platform
        return
    if getattr(IndexDataCacheFile, "_spla_locked", False) or not all(
            hasattr(IndexDataCacheFile, name)
            for name in ("save", "load", "_load_index", "_save_index")):
        return  # pragma: no cover - another Numba

    def locked(method, mode):
        def call(self, *args, **kwargs):
            path = getattr(self, "_index_path", None)
            if not isinstance(path, str):  # pragma: no cover - another Numba
                return method(self, *args, **kwargs)
            try:
                fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o666)
            except OSError:  # no cache folder yet: nothing to load
                return method(self, *args, **kwargs)
            try:
                fcntl.flock(fd, mode)
                return method(self, *args, **kwargs)
            finally:
                os.close(fd)  # closing it releases the lock

        call.__wrapped__ = method
        return call

    IndexDataCacheFile.save = locked(IndexDataCacheFile.save, fcntl.LOCK_EX)
    IndexDataCacheFile.load = locked(IndexDataCacheFile.load, fcntl.LOCK_SH)
    IndexDataCacheFile._spla_locked = True


_lock_numba_cache_files()
