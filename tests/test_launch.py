"""spla_cuda/_launch.py without a GPU: the argument buffer's layout, what ``struct``
refuses, and the check of a parameter list against the kernel's (the driver's list is
replaced by a stand-in here; tests/test_attention_gpu.py checks it on a GPU).

The module is loaded from its file: importing the package needs CuPy.
"""

import importlib.util
import pathlib
import struct

import numpy as np
import pytest

_spec = importlib.util.spec_from_file_location(
    "_spla_launch", pathlib.Path(__file__).parents[1] / "spla_cuda" / "_launch.py")
launch = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(launch)


class FakeFunction:
    ptr = 0x1234


@pytest.mark.parametrize("signature", ["", "p", "i", "ipq", "fT", "pppppppppppTiqqqf",
                                       "p" * 9 + "p" * 6 + "T" + "p" * 6 + "T" + "iiif"])
def test_layout_aligns_each_value(signature):
    fmt, offsets = launch.layout(signature)
    size = {"p": 8, "i": 4, "q": 8, "f": 4, "T": 256}
    align = {"p": 8, "i": 4, "q": 8, "f": 4, "T": 64}
    assert len(offsets) == len(signature)
    end = 0
    for code, off in zip(signature, offsets):
        assert off % align[code] == 0 and off >= end     # aligned, no overlap
        assert off - end < align[code]                   # no more padding than needed
        end = off + size[code]
    assert struct.calcsize(fmt) == end


def test_values_land_at_their_offsets():
    signature = "ipTfq"
    fmt, offsets = launch.layout(signature)
    maps = bytes(range(256))
    buf = bytearray(struct.calcsize(fmt))
    struct.pack_into(fmt, buf, 0, -7, 0xDEADBEEF00, maps, np.float32(0.1), -(1 << 40))
    at = dict(zip(signature, offsets))
    assert struct.unpack_from("<i", buf, at["i"])[0] == -7
    assert struct.unpack_from("<Q", buf, at["p"])[0] == 0xDEADBEEF00
    assert bytes(buf[at["T"]:at["T"] + 256]) == maps
    assert np.float32(struct.unpack_from("<f", buf, at["f"])[0]) == np.float32(0.1)
    assert struct.unpack_from("<q", buf, at["q"])[0] == -(1 << 40)


def test_unknown_code():
    with pytest.raises(ValueError, match="unknown parameter code 'x'"):
        launch.layout("pxi")


@pytest.mark.parametrize("bad", [(-1, 0), (0, 1 << 31)])
def test_struct_refuses_what_does_not_fit(bad):
    """A negative address or an int beyond 32 bits is an error, not a truncated value."""
    fmt, _ = launch.layout("pi")
    with pytest.raises(struct.error):
        struct.pack(fmt, *bad)


def test_launcher_checks_the_kernels_parameter_sizes(monkeypatch):
    monkeypatch.setattr(launch, "kernel_param_sizes", lambda ptr: [8, 8, 4])
    launch.Launcher(FakeFunction(), "pqi", "k")            # matches
    with pytest.raises(ValueError, match=r"k: the parameter list 'pii' has sizes \[8, 4, 4\]"):
        launch.Launcher(FakeFunction(), "pii", "k")
    with pytest.raises(ValueError, match="the kernel's are"):
        launch.Launcher(FakeFunction(), "pqiT", "k")     # one too many


def test_launcher_without_the_drivers_list(monkeypatch):
    """An older driver (no cuFuncGetParamInfo): no check, the launcher is still made."""
    monkeypatch.setattr(launch, "kernel_param_sizes", lambda ptr: None)
    made = launch.Launcher(FakeFunction(), "pT", "k")
    assert made._params.size == 2
    assert made._params[1] - made._params[0] == 64
    assert made._params[0] % 64 == 0


def test_launchers_are_made_once(monkeypatch):
    monkeypatch.setattr(launch, "kernel_param_sizes", lambda ptr: None)
    f = FakeFunction()
    assert launch.launcher(f, "pi") is launch.launcher(f, "pi")
    assert launch.launcher(f, "pi") is not launch.launcher(f, "pq")


def test_docstring_examples():
    import doctest

    result = doctest.testmod(launch)
    assert result.attempted and result.failed == 0


def test_a_launch_hands_the_driver_each_value(monkeypatch):
    """What cuLaunchKernel would read: through each of kernelParams' pointers, the
    parameter's bytes (read here by a stand-in for the driver call)."""
    import ctypes

    monkeypatch.setattr(launch, "kernel_param_sizes", lambda ptr: None)
    made = launch.Launcher(FakeFunction(), "pTiqf", "k")
    seen = {}

    def driver(f, gx, gy, gz, bx, by, bz, smem, stream, params, extra):
        ptrs = np.ctypeslib.as_array((ctypes.c_uint64 * 5).from_address(params))
        seen["grid"] = (f, gx, gy, gz, bx, by, bz, smem, stream, extra)
        seen["bytes"] = [ctypes.string_at(int(p), n) for p, n in zip(ptrs, (8, 256, 4, 8, 4))]

    made._launch = driver
    maps = bytes(range(256))
    made(7, 3, 128, 1024, 0xABC, (0x7F0000001000, maps, 64, 1 << 33, np.float32(0.5)))
    assert seen["grid"] == (FakeFunction.ptr, 7, 3, 1, 128, 1, 1, 1024, 0xABC, 0)
    assert seen["bytes"] == [struct.pack("<Q", 0x7F0000001000), maps, struct.pack("<i", 64),
                             struct.pack("<q", 1 << 33), struct.pack("<f", 0.5)]


def test_a_kernel_without_parameters(monkeypatch):
    monkeypatch.setattr(launch, "kernel_param_sizes", lambda ptr: [])
    made = launch.Launcher(FakeFunction(), "", "k")
    seen = []
    made._launch = lambda *args: seen.append(args)
    made(1, 1, 32, 0, 0, ())
    assert seen == [(FakeFunction.ptr, 1, 1, 1, 32, 1, 1, 0, 0, 0, 0)]


@pytest.mark.parametrize("current, sets", [(0, [3]), (0xC0FFEE, [])])
def test_ensure_context_sets_the_device_only_where_no_context_is_current(monkeypatch, current,
                                                                          sets):
    """A thread with no current context (the driver's cuCtxGetCurrent gives 0) gets
    the device's through cudaSetDevice; one that has a context keeps it (stand-ins for
    CuPy's driver and runtime here; the GPU test runs launches from a fresh thread)."""
    import sys
    import types

    calls = []
    cuda = types.SimpleNamespace(driver=types.SimpleNamespace(ctxGetCurrent=lambda: current),
                                 runtime=types.SimpleNamespace(setDevice=calls.append))
    monkeypatch.setitem(sys.modules, "cupy", types.SimpleNamespace(cuda=cuda))
    monkeypatch.setitem(sys.modules, "cupy.cuda", cuda)
    launch.ensure_context(3)
    assert calls == sets
