"""Test configuration: hypothesis profiles (and spla's lock on Numba's cache files, for
the processes that tests start themselves).

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


# Every process of a test run imports spla, whose kernel package locks Numba's cache
# files (spla/_kernels/cache_lock.py); importing it here covers the processes that
# tests start themselves (tests/test_numba_cache_lock.py's writers).
import spla._kernels  # noqa: E402,F401
