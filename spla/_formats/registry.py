"""The formats that spla knows, by name, and how to convert into them.

Each format registers a converter (any spla array -> that format) when its
module is imported, so ``A.asformat("nm")`` works once the N:M format exists
without any change to the other formats, and the base class reaches other
formats only through here (it names none itself). SciPy's formats map to the
spla format that reads them (``from_foreign``).
"""

_CONVERTERS = {}
_FOREIGN = {}
_FOREIGN_TYPES = []


def register_format(name, converter, *, scipy_formats=()):
    """Make ``A.asformat(name)`` call ``converter(A)``; SciPy arrays of any format
    in ``scipy_formats`` are read by ``converter`` too."""
    _CONVERTERS[name] = converter
    for fmt in scipy_formats:
        _FOREIGN[fmt] = converter


def converter(name):
    """The converter into format ``name`` (``ValueError`` naming the known ones)."""
    try:
        return _CONVERTERS[name]
    except KeyError:
        raise ValueError(
            f"unknown format {name!r}; spla knows {', '.join(sorted(_CONVERTERS))}"
        ) from None


def to_format(array, name):
    """``array`` (spla or SciPy) in the spla format ``name``."""
    return converter(name)(array)


def register_foreign(recognise, convert):
    """Make ``from_foreign`` (and the constructors) read the objects for which
    ``recognise(obj)`` is true with ``convert(obj)`` (other libraries' sparse arrays)."""
    _FOREIGN_TYPES.append((recognise, convert))


def foreign_converter(obj):
    """The converter registered for a non-SciPy foreign object, or None."""
    for recognise, convert in _FOREIGN_TYPES:
        if recognise(obj):
            return convert
    return None


def from_foreign(obj):
    """A SciPy sparse array or matrix as the spla array of its format (CSR when spla
    has no format of that name); another library's array through its registered
    converter."""
    convert = foreign_converter(obj)
    if convert is not None:
        return convert(obj)
    convert = _FOREIGN.get(getattr(obj, "format", None), _CONVERTERS["csr"])
    return convert(obj)


def formats():
    """Names of the registered formats."""
    return tuple(sorted(_CONVERTERS))
