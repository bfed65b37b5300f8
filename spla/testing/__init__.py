"""Tools for testing code that uses spla, as spla tests itself.

``assert_allclose`` compares any mix of spla, SciPy sparse and dense arrays.
``spla.testing.strategies`` (needs hypothesis) has the hypothesis strategies
that generate the arrays spla's own property tests run on; import it with
``from spla.testing import strategies`` (``import spla`` does not import
hypothesis: the submodule is loaded on first use).
"""

from ._assertions import assert_allclose, default_tolerance, to_dense

__all__ = ["assert_allclose", "default_tolerance", "to_dense"]


def __getattr__(name):
    # ``spla.testing.strategies`` without an explicit import: load it on first
    # access only, so that hypothesis stays an optional dependency.
    if name == "strategies":
        import importlib

        return importlib.import_module(f"{__name__}.strategies")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
