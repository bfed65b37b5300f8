"""Numba kernels: pure functions over raw arrays, one module per format.

Nothing here validates its input: the format classes check structure (index
ranges, monotone ``indptr``, shapes, dtypes) before any kernel sees it.
"""

from .cache_lock import lock_numba_cache_files

lock_numba_cache_files()
