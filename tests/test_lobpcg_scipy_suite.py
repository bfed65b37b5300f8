"""SciPy's own lobpcg tests, run with ``spla.linalg.lobpcg`` in place of SciPy's.

Every test function of ``scipy/sparse/linalg/_eigen/lobpcg/tests/test_lobpcg.py`` is
collected here (with its marks and parameters); an autouse fixture swaps the module's
``lobpcg`` for spla's while it runs. Their operators are SciPy sparse arrays, dense
arrays, LinearOperators and callables, so both spla's own loop and the cases it hands
to SciPy's are exercised.
"""

import pytest

import spla.linalg as L

_suite = pytest.importorskip("scipy.sparse.linalg._eigen.lobpcg.tests.test_lobpcg")


@pytest.fixture(autouse=True)
def _spla_lobpcg(monkeypatch):
    monkeypatch.setattr(_suite, "lobpcg", L.lobpcg)


globals().update({name: getattr(_suite, name) for name in dir(_suite)
                  if name.startswith("test_") and callable(getattr(_suite, name))})
