"""The GPU benchmarks' timer (``benchmarks.gpu.time_gpu``): queued samples time the
GPU's work and not the host's, and a call that waits on the GPU is reported as
starving its sample. Skipped without CuPy or a GPU."""

import time

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


def test_queued_samples_time_the_gpu_not_the_host():
    x = cupy.zeros(1, dtype=np.float32)

    def slow_host_fast_gpu():     # 2 ms of host work, a few microseconds of GPU work
        time.sleep(2e-3)
        x.fill(1.0)

    def gpu_1ms():
        _spin(1e-3)

    plain = time_gpu({"host": slow_host_fast_gpu, "gpu": gpu_1ms}, repeat=5, inner=3, warmup=2)
    queued = time_gpu({"host": slow_host_fast_gpu, "gpu": gpu_1ms}, repeat=5, inner=3, warmup=2,
                      queued=True)
    assert plain["host"]["median"] > 1.5e-3            # the host's sleep shows without queueing
    assert queued["host"]["median"] < 0.5e-3           # and is hidden behind the spin with it
    assert queued["host"]["starved"] == 0
    assert 0.7e-3 < queued["gpu"]["median"] < 1.4e-3   # the GPU's own work is still timed
    assert 0.7e-3 < plain["gpu"]["median"] < 1.6e-3


def test_a_call_that_waits_on_the_gpu_starves_its_samples():
    def waits():
        _spin(1e-4)
        cupy.cuda.Device().synchronize()

    got = time_gpu({"waits": waits}, repeat=4, inner=3, warmup=1, queued=True)
    assert got["waits"]["starved"] == 4
