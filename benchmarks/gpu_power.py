"""SM clock and power draw of the GPU while one contender runs (for the 2:4 suite:
is a kernel held back by the board's power limit?).

``PowerSampler.open()`` starts a background reader, NVML through ``pynvml`` if it
imports (PyTorch installs it) or else ``nvidia-smi --query-gpu=... -lms``; it returns
None, silently, where neither works (no GPU, no driver tools), and every caller then
records nothing. ``measure(fn, seconds)`` runs ``fn`` back to back for ``seconds`` and
returns the medians of the samples taken after the first ``settle`` seconds (the power
figure of the driver may be an average over the last second or so, so the samples of
the start still see the contender before).
"""

import statistics
import subprocess
import threading
import time

#: NVML's clock-event (throttle) reason bit for the software power cap.
_SW_POWER_CAP = 0x4


class PowerSampler:
    """Samples ``(time, SM MHz, watts, power-capped or None)`` into ``self.samples``
    from ``read`` (one sample per call) every ``period`` seconds in a thread, or from a
    process that prints them (``proc``, read by ``parse``)."""

    def __init__(self, limit_w, read=None, period=0.02, proc=None, parse=None, close=None):
        self.limit_w = limit_w
        self.samples = []
        self._stop = threading.Event()
        self._close = close
        self._proc = proc
        if proc is not None:
            target = self._read_lines
            self._parse = parse
        else:
            target = self._poll
            self._read, self._period = read, period
        self._thread = threading.Thread(target=target, daemon=True)
        self._thread.start()

    def _poll(self):
        while not self._stop.is_set():
            try:
                s = self._read()
            except Exception:  # noqa: BLE001 - a failed read is a missing sample
                s = None
            if s is not None:
                self.samples.append((time.perf_counter(),) + s)
            self._stop.wait(self._period)

    def _read_lines(self):
        for line in self._proc.stdout:
            if self._stop.is_set():
                break
            s = self._parse(line)
            if s is not None:
                self.samples.append((time.perf_counter(),) + s)

    @classmethod
    def open(cls, pci_bus_id=None, period=0.02):
        """A running sampler of the GPU at ``pci_bus_id`` (else the first), or None."""
        try:
            return cls._open_nvml(pci_bus_id, period)
        except Exception:  # noqa: BLE001 - no pynvml, no driver: try nvidia-smi
            pass
        try:
            return cls._open_smi(pci_bus_id, period)
        except Exception:  # noqa: BLE001 - no tools: record nothing
            return None

    @classmethod
    def _open_nvml(cls, pci_bus_id, period):
        import pynvml

        pynvml.nvmlInit()
        try:
            try:
                h = pynvml.nvmlDeviceGetHandleByPciBusId(pci_bus_id)
            except Exception:  # noqa: BLE001 - no id, or a spelling NVML does not take
                if pci_bus_id and pynvml.nvmlDeviceGetCount() != 1:
                    raise
                h = pynvml.nvmlDeviceGetHandleByIndex(0)
            limit_w = pynvml.nvmlDeviceGetEnforcedPowerLimit(h) / 1000
            reasons = (getattr(pynvml, "nvmlDeviceGetCurrentClocksEventReasons", None)
                       or getattr(pynvml, "nvmlDeviceGetCurrentClocksThrottleReasons", None))

            def read():
                capped = None
                if reasons is not None:
                    try:
                        capped = bool(reasons(h) & _SW_POWER_CAP)
                    except Exception:  # noqa: BLE001 - not supported: unknown
                        capped = None
                return (pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_SM),
                        pynvml.nvmlDeviceGetPowerUsage(h) / 1000, capped)

            read()  # fails here, not in the thread, where NVML cannot read this GPU
        except Exception:
            pynvml.nvmlShutdown()
            raise
        return cls(limit_w, read=read, period=period, close=pynvml.nvmlShutdown)

    @classmethod
    def _open_smi(cls, pci_bus_id, period):
        cmd = ["nvidia-smi", "--query-gpu=clocks.sm,power.draw,power.limit",
               "--format=csv,noheader,nounits", f"--loop-ms={max(10, int(period * 1000))}"]
        # The GPU by its PCI id; without it (an id nvidia-smi does not take), the
        # first GPU, which is the one on a machine of one.
        for ids in ([f"--id={pci_bus_id}"], []) if pci_bus_id else ([],):
            proc = subprocess.Popen(cmd + ids, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                    text=True)
            parsed = parse_smi_line(proc.stdout.readline())  # the first sample, or EOF
            if parsed is not None:
                break
            proc.kill()
            proc.wait()
        else:
            raise RuntimeError("nvidia-smi gave no sample")
        limit = [parsed[2]]

        def parse(line):
            p = parse_smi_line(line)
            return None if p is None else (p[0], p[1], None)

        def close():
            proc.kill()
            proc.wait()

        return cls(limit[0], proc=proc, parse=parse, close=close)

    def close(self):
        self._stop.set()
        if self._close is not None:
            try:
                self._close()
            except Exception:  # noqa: BLE001
                pass
        self._thread.join(timeout=1.0)

    def window(self, t0, t1):
        """Medians of the samples taken in ``[t0, t1]`` (None if none)."""
        return summarize([s[1:] for s in list(self.samples) if t0 <= s[0] <= t1], self.limit_w)

    def measure(self, fn, seconds=1.5, settle=0.5, mark=None, batch=8):
        """Run ``fn`` back to back for ``seconds`` and summarise the samples after
        ``settle`` seconds. ``mark()`` (e.g. a recorded CUDA event) returns an object
        whose ``synchronize()`` waits for the calls issued before it: after every
        ``batch`` calls the host waits for the batch before, so that its clock follows
        the GPU's work while one batch stays queued (the GPU never idles on the host)."""
        t0 = time.perf_counter()
        n, pending = 0, None
        while time.perf_counter() - t0 < seconds:
            fn()
            n += 1
            if mark is not None and n % batch == 0:
                event = mark()
                if pending is not None:
                    pending.synchronize()
                pending = event
        if mark is not None:
            mark().synchronize()
        return self.window(t0 + settle, time.perf_counter())


def parse_smi_line(line):
    """``(SM MHz, draw W, limit W)`` from one line of ``nvidia-smi --query-gpu=
    clocks.sm,power.draw,power.limit --format=csv,noheader,nounits``, or None."""
    parts = [p.strip() for p in line.split(",")]
    if len(parts) != 3:
        return None
    try:
        return float(parts[0]), float(parts[1]), float(parts[2])
    except ValueError:  # "[N/A]", "[Not Supported]"
        return None


def summarize(samples, limit_w):
    """Median SM clock and power of ``(MHz, W, capped)`` samples, the power limit, and
    the fraction of samples with the software power cap active (None where unknown)."""
    if not samples:
        return None
    capped = [c for _, _, c in samples if c is not None]
    return {"sm_mhz": statistics.median(s[0] for s in samples),
            "power_w": statistics.median(s[1] for s in samples),
            "limit_w": limit_w, "samples": len(samples),
            "power_capped": (sum(capped) / len(capped)) if capped else None}


def describe(stats):
    """One short text of ``summarize``'s result (empty for None)."""
    if not stats:
        return ""
    text = f"{stats['sm_mhz']:.0f} MHz, {stats['power_w']:.0f} W"
    if stats.get("limit_w"):
        text += f" of {stats['limit_w']:.0f}"
    if stats.get("power_capped") is not None:
        text += f", power-capped {100 * stats['power_capped']:.0f}%"
    return text
