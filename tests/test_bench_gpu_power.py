"""The clock and power sampler of the GPU benchmarks (``benchmarks/gpu_power.py``):
its parsing and medians, and that it records nothing, silently, without the tools."""

import sys

from benchmarks import gpu_power


def test_parse_smi_line():
    assert gpu_power.parse_smi_line("1980, 345.67, 700.00\n") == (1980.0, 345.67, 700.0)
    assert gpu_power.parse_smi_line("[N/A], 345.67, 700.00") is None
    assert gpu_power.parse_smi_line("1980, 345.67") is None
    assert gpu_power.parse_smi_line("") is None


def test_summarize_medians_and_capped_fraction():
    assert gpu_power.summarize([], 700.0) is None
    s = gpu_power.summarize([(1980, 500.0, True), (1755, 690.0, True), (1830, 650.0, False),
                             (1900, 600.0, None)], 700.0)
    assert s["sm_mhz"] == 1865 and s["power_w"] == 625.0 and s["limit_w"] == 700.0
    assert s["samples"] == 4 and abs(s["power_capped"] - 2 / 3) < 1e-12
    assert gpu_power.summarize([(1980, 500.0, None)], None)["power_capped"] is None
    assert "1980 MHz, 500 W" in gpu_power.describe(gpu_power.summarize([(1980, 500.0, None)], None))
    assert gpu_power.describe(None) == ""


def test_measure_with_a_fake_reader():
    calls = []
    sampler = gpu_power.PowerSampler(700.0, read=lambda: (1500, 321.0, False), period=0.005)
    try:
        waits = []

        class Event:
            def synchronize(self):
                waits.append(len(calls))

        stats = sampler.measure(lambda: calls.append(1), seconds=0.2, settle=0.05, mark=Event, batch=3)
    finally:
        sampler.close()
    assert waits and waits[-1] == len(calls)      # the last wait covers every call
    assert calls and stats["sm_mhz"] == 1500 and stats["power_w"] == 321.0
    assert stats["power_capped"] == 0 and stats["samples"] >= 1


def test_failing_reader_gives_no_figures():
    def read():
        raise RuntimeError("no GPU")

    sampler = gpu_power.PowerSampler(None, read=read, period=0.005)
    try:
        assert sampler.measure(lambda: None, seconds=0.05, settle=0.0) is None
    finally:
        sampler.close()


def test_open_without_pynvml_or_nvidia_smi_is_none(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pynvml", None)   # import pynvml raises ImportError
    monkeypatch.setenv("PATH", str(tmp_path))          # no nvidia-smi on the path
    assert gpu_power.PowerSampler.open("0000:00:00.0") is None


def test_open_reads_nvidia_smi_without_pynvml(monkeypatch, tmp_path):
    """The nvidia-smi fallback (a stand-in script that refuses the PCI id, as an
    nvidia-smi that does not take its spelling would): the first GPU's samples."""
    smi = tmp_path / "nvidia-smi"
    smi.write_text('#!/bin/sh\nfor a in "$@"; do case "$a" in --id=*) exit 6;; esac; done\n'
                   'while true; do echo "1755, 612.3, 700.00"; sleep 0.01; done\n')
    smi.chmod(0o755)
    monkeypatch.setitem(sys.modules, "pynvml", None)
    monkeypatch.setenv("PATH", str(tmp_path) + ":/bin:/usr/bin")
    sampler = gpu_power.PowerSampler.open("0000:18:00.0")
    assert sampler is not None
    try:
        stats = sampler.measure(lambda: None, seconds=0.3, settle=0.05)
    finally:
        sampler.close()
    assert stats["sm_mhz"] == 1755 and stats["power_w"] == 612.3 and stats["limit_w"] == 700.0
    assert stats["power_capped"] is None
