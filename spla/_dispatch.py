"""Which implementation runs an operation, keyed by (operation, format, device).

A format class never calls a kernel directly: it asks this table for the
implementation registered for its format and for the device its storage lives
on, and calls that. A backend adds entries (``spla._backends.cpu`` for NumPy
storage; ``spla_cuda`` for CuPy storage), so a new format or device adds rows
to the table, not branches to the format classes.

The device comes from the storage itself (the module of its arrays), never from
a flag: an array whose ``data`` is a CuPy array runs on the GPU.
"""

import importlib

from . import _device

_IMPLEMENTATIONS = {}

#: device name -> module that registers its implementations when imported.
_BACKEND_MODULES = {"cpu": "spla._backends.cpu", "cuda": "spla_cuda"}
_LOADED = set()


def register(operation, fmt, device):
    """Decorator: register ``func`` as the implementation of ``operation`` for
    arrays of format ``fmt`` whose storage lives on ``device``."""

    def decorator(func):
        _IMPLEMENTATIONS[(operation, fmt, device)] = func
        return func

    return decorator


def device_of(array):
    """The ``Device`` of an array's storage (``"cpu"`` for NumPy, ``"cuda:N"`` for CuPy)."""
    return _device.device_of(array)


def _kind(device):
    return getattr(device, "kind", device)


def array_module(device):
    """The array library that holds storage on ``device`` (numpy or cupy)."""
    device = _kind(device)
    if device == "cpu":
        import numpy

        return numpy
    if device == "cuda":
        try:
            import cupy
        except ImportError as exc:  # pragma: no cover - depends on the machine
            raise RuntimeError('device "cuda" needs CuPy: pip install "spla[cuda]"') from exc
        return cupy
    raise ValueError(f"unknown device {device!r}; spla knows 'cpu' and 'cuda'")


def _load_backend(device):
    device = _kind(device)
    if device in _LOADED:
        return
    name = _BACKEND_MODULES.get(device)
    if name is None:
        raise ValueError(f"unknown device {device!r}; spla knows {sorted(_BACKEND_MODULES)}")
    try:
        importlib.import_module(name)
    except ImportError as exc:
        raise RuntimeError(
            f"the {device!r} backend ({name}) cannot be imported: {exc}"
        ) from exc
    _LOADED.add(device)


def lookup(operation, fmt, device):
    """The implementation of ``operation`` for format ``fmt`` on ``device``.

    ``fmt`` may be a pair of format names for operations between two arrays
    (``("csr", "csc")``). Raises ``NotImplementedError`` naming all three when
    there is none.
    """
    device = getattr(device, "kind", device)  # _kind, inlined: this runs on every call
    func = _IMPLEMENTATIONS.get((operation, fmt, device))
    if func is not None:  # registered, so its backend is loaded (the common case, first)
        return func
    _load_backend(device)
    try:
        return _IMPLEMENTATIONS[(operation, fmt, device)]
    except KeyError:
        raise NotImplementedError(
            f"spla has no implementation of {operation!r} for {fmt!r} arrays on device {device!r}"
        ) from None


def has(operation, fmt, device):
    """Whether ``lookup(operation, fmt, device)`` would succeed."""
    device = _kind(device)
    try:
        _load_backend(device)
    except (ValueError, RuntimeError):
        return False
    return (operation, fmt, device) in _IMPLEMENTATIONS
