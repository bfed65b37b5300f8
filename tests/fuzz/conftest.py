"""The fuzz suite: hostile inputs in subprocesses, differential properties against
SciPy, threads. ``SPLA_FUZZ=thorough`` selects the long profile (docs/testing.md)."""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

#: "default" (CI) or "thorough" (10^4 random corpus cases and 10^4 examples a property).
PROFILE = os.environ.get("SPLA_FUZZ", "default")
if PROFILE not in ("default", "thorough"):
    raise pytest.UsageError(f"SPLA_FUZZ must be 'default' or 'thorough', got {PROFILE!r}")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in str(item.fspath):
            item.add_marker(pytest.mark.fuzz)
