"""Tools for testing code that uses spla, as spla tests itself.

``assert_allclose`` compares any mix of spla, SciPy sparse and dense arrays.
``spla.testing.strategies`` (needs hypothesis) has the hypothesis strategies
that generate the arrays spla's own property tests run on.
"""

from ._assertions import assert_allclose, default_tolerance, to_dense

__all__ = ["assert_allclose", "default_tolerance", "to_dense"]
