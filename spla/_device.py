"""Where an array's storage lives: the ``Device`` object, decided once from the storage.

spla never keeps a flag that says where an array lives; it reads it from the
storage (NumPy arrays live on the CPU, CuPy arrays on a CUDA device with an
ordinal). ``device_of`` is the one place that looks at an array's type to
decide, and ``parse_device`` the one place that reads what a user writes
(``"cpu"``, ``"cuda"``, ``"cuda:1"`` or a ``Device``).
"""

import functools
import re

import numpy as np

_KINDS = ("cpu", "cuda")
_SPEC = re.compile(r"^(cpu|cuda)(?::(\d+))?$")


class Device:
    """A device: ``kind`` (``"cpu"`` or ``"cuda"``) and, for CUDA, an ``ordinal``.

    A ``Device`` compares equal to the string a user would write for it: the CPU
    to ``"cpu"``, CUDA device 1 to ``"cuda:1"`` and to ``"cuda"`` (any ordinal).

    Examples
    --------
    >>> from spla._device import Device, parse_device
    >>> d = parse_device("cuda:1")
    >>> d.kind, d.ordinal, str(d), d == "cuda", d == "cuda:0"
    ('cuda', 1, 'cuda:1', True, False)
    >>> Device("cpu") == "cpu"
    True
    """

    __slots__ = ("kind", "ordinal")

    def __getstate__(self):
        return (self.kind, self.ordinal)

    def __setstate__(self, state):
        self.kind, self.ordinal = state

    def __init__(self, kind, ordinal=None):
        if kind not in _KINDS:
            raise ValueError(f"unknown device kind {kind!r}; spla knows 'cpu' and 'cuda'")
        if kind == "cpu":
            ordinal = None
        elif ordinal is not None:
            ordinal = int(ordinal)
        self.kind = kind
        self.ordinal = ordinal

    def __str__(self):
        return self.kind if self.ordinal is None else f"{self.kind}:{self.ordinal}"

    def __repr__(self):
        return repr(str(self))

    def __eq__(self, other):
        if other == "cpu" or other == "cuda":  # the common comparisons, without parsing
            return self.kind == other
        if isinstance(other, str):
            try:
                other = parse_device(other)
            except ValueError:
                return False
            if other.ordinal is None:
                return self.kind == other.kind
        if not isinstance(other, Device):
            return NotImplemented
        return self.kind == other.kind and (
            self.ordinal is None or other.ordinal is None or self.ordinal == other.ordinal
        )

    def __hash__(self):
        return hash(self.kind)


CPU = Device("cpu")


@functools.lru_cache(maxsize=None)
def _cuda_device(ordinal):
    """The ``Device`` of GPU ``ordinal``, one object each (asked on every product)."""
    return Device("cuda", ordinal)


def parse_device(spec):
    """The ``Device`` a user names with ``spec`` (a string or a ``Device``).

    Raises ``ValueError`` for anything else than ``"cpu"``, ``"cuda"`` and
    ``"cuda:N"``.
    """
    if isinstance(spec, Device):
        return spec
    kind = getattr(spec, "kind", None)  # e.g. a CuPy or Array API device object
    if kind is None:
        match = _SPEC.match(str(spec).strip())
        if match is None or (match.group(1) == "cpu" and match.group(2) is not None):
            raise ValueError(f"unknown device {spec!r}; spla knows 'cpu', 'cuda' and 'cuda:N'")
        return Device(match.group(1), match.group(2))
    return Device(str(kind), getattr(spec, "ordinal", None))


def device_of(array):
    """The ``Device`` that holds ``array``: the CPU for NumPy, its GPU for CuPy."""
    if type(array) is np.ndarray:
        return CPU
    module = type(array).__module__.split(".")[0]
    if module == "numpy":
        return CPU
    if module in ("cupy", "cupyx"):
        dev = getattr(array, "device", None)
        return _cuda_device(getattr(dev, "id", None))
    raise TypeError(
        f"cannot tell the device of a {type(array).__module__}.{type(array).__name__}"
    )


def is_gpu_array(obj):
    """Whether ``obj`` is a CuPy array (without importing CuPy)."""
    return type(obj).__module__.split(".")[0] == "cupy"
