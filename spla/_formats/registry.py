"""The formats that ``asformat`` knows, by name.

Each format registers a converter (any spla array -> that format) when its
module is imported, so ``A.asformat("nm")`` works once the N:M format exists
without any change to the other formats.
"""

_CONVERTERS = {}


def register_format(name, converter):
    """Make ``A.asformat(name)`` call ``converter(A)``."""
    _CONVERTERS[name] = converter


def converter(name):
    try:
        return _CONVERTERS[name]
    except KeyError:
        raise ValueError(
            f"unknown format {name!r}; spla knows {', '.join(sorted(_CONVERTERS))}"
        ) from None


def formats():
    """Names of the registered formats."""
    return tuple(sorted(_CONVERTERS))
