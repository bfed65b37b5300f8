"""A file lock around Numba's on-disk kernel cache (``lock_numba_cache_files``).

Applied when ``spla._kernels`` is imported, before any kernel is compiled or loaded.
"""

import os


def lock_numba_cache_files():
    """Serialise Numba's on-disk cache between processes.

    Processes that import spla at the same time (``pytest -n 2``, a
    ``multiprocessing`` pool, Dask workers, a benchmark beside a test run) share
    the cache of spla's ``@njit(cache=True)`` kernels: what one compiled, the others
    load instead of compiling again. Numba (0.59 to 0.68) writes each file atomically, but
    ``IndexDataCacheFile.save`` reads the index, picks the first free data file
    number and writes the index, then the data, unlocked: two processes saving two
    signatures of one kernel at the same moment can both pick ``<kernel>.1.nbc``,
    and the index can end up naming the other signature's machine code (a crash or
    wrong results in the next process that loads it, also in later runs; Numba's
    issue 10128 is the same kind of race for gufuncs, where its maintainers
    proposed a file lock). Here ``save`` holds an exclusive ``flock`` and ``load``
    a shared one on ``<index>.lock``, so that an index and its data files change
    together. Without ``fcntl`` (Windows) or with a Numba whose cache class
    differs, nothing changes. The lock applies to every Numba cache of the process
    (other libraries' too), which only makes their saves and loads wait for each other.
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
