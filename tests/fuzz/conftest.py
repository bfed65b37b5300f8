"""The fuzz suite: hostile inputs in subprocesses, differential properties against
SciPy, threads. ``SPLA_FUZZ=thorough`` selects the long profile (docs/testing.md)."""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import _fuzz_profile  # noqa: E402,F401  (checks SPLA_FUZZ at collection)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in str(item.fspath):
            item.add_marker(pytest.mark.fuzz)
