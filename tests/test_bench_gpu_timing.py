"""The GPU benchmarks' timer (``benchmarks.gpu.time_gpu``) in its queued mode: what it
reports, and that a call which waits on the GPU is reported as starving its samples
(an ordering, not a timing: no figure is asserted, as the GPU may be shared). Skipped
without CuPy or a GPU."""

import numpy as np
import pytest

cupy = pytest.importorskip("cupy", reason="the GPU tests need CuPy: pip install 'spla[cuda]'")
try:
    _GPUS = cupy.cuda.runtime.getDeviceCount()
except cupy.cuda.runtime.CUDARuntimeError:
    _GPUS = 0
if not _GPUS:
    pytest.skip("the GPU tests need an NVIDIA GPU; CuPy sees none", allow_module_level=True)

from benchmarks.gpu import _spin, time_gpu  # noqa: E402

pytestmark = pytest.mark.gpu


def test_queued_timing_reports_each_contender():
    # no timing is asserted (the GPU may be shared with other tests): the figures' form
    x = cupy.zeros(1, dtype=np.float32)
    got = time_gpu({"fill": lambda: x.fill(1.0), "spin": lambda: _spin(1e-4)}, repeat=3, inner=2,
                   warmup=1, queued=True)
    assert set(got) == {"fill", "spin"}
    for v in got.values():
        assert set(v) == {"median", "min", "starved"}
        assert 0 < v["min"] <= v["median"] and 0 <= v["starved"] <= 3
    assert float(x[0]) == 1.0


def test_a_call_that_waits_on_the_gpu_starves_its_samples():
    def waits():
        _spin(1e-4)
        cupy.cuda.Device().synchronize()

    got = time_gpu({"waits": waits}, repeat=4, inner=3, warmup=1, queued=True)
    assert got["waits"]["starved"] == 4
