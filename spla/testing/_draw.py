"""Helpers shared by the strategy modules (one per format)."""

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy


def resolve(value, default):
    """``value`` as a strategy: itself if it is one, ``default`` if None, else ``just``."""
    if value is None:
        return default
    if isinstance(value, SearchStrategy):
        return value
    return st.just(value)


def side(max_side):
    """Sizes 0..max_side, with 0 and 1 (the edges kernels get wrong) weighted well
    above a uniform draw."""
    if max_side <= 1:
        return st.integers(0, max_side)
    return st.one_of(
        st.integers(0, 1),
        st.integers(0, max_side),
        st.integers(2, max_side),
        st.integers(2, max_side),
    )
