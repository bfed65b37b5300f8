"""Alternating (round-robin) timing of several contenders in one run.

On a shared, noisy machine, timing A for a while and then B for a while lets
a burst of load land on one side only. Here every repeat runs each contender
once, in a freshly shuffled order (seeded), so slow phases hit all sides alike
and no contender always runs right after the same one (cache state); the median over
repeats is the figure to compare, the minimum is reported alongside.
"""

import gc
import random
import statistics
import time


def _calibrate(fn, min_sample_s):
    """Calls per sample so that one sample lasts at least ``min_sample_s``."""
    if not min_sample_s:
        return 1
    number = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        dt = time.perf_counter() - t0
        if dt >= min_sample_s or number >= 1 << 20:
            return number
        number = max(number * 2, int(number * 1.2 * min_sample_s / max(dt, 1e-9)))


def time_alternating(contenders, repeat, warmup=2, min_sample_s=0.0):
    """Time callables alternately.

    Parameters
    ----------
    contenders : dict name -> zero-argument callable
    repeat : int
        Samples per contender.
    warmup : int
        Untimed calls per contender first (at least 2: the first spla call
        compiles or loads its Numba kernels).
    min_sample_s : float
        When > 0, a sample runs the callable ``number`` times in a row, with
        ``number`` chosen so that a sample lasts at least this long (for small
        matrices, where one call is microseconds); times are per call.

    Returns
    -------
    dict name -> {"median", "min", "mean", "times", "number"} (seconds per call)
    """
    names = list(contenders)
    order_rng = random.Random(0)
    warmup = max(2, warmup)
    for name in names:
        for _ in range(warmup):
            contenders[name]()
    numbers = {name: _calibrate(contenders[name], min_sample_s) for name in names}
    times = {name: [] for name in names}
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeat):
            order = names[:]
            order_rng.shuffle(order)
            for name in order:
                fn, number = contenders[name], numbers[name]
                t0 = time.perf_counter()
                for _ in range(number):
                    fn()
                times[name].append((time.perf_counter() - t0) / number)
    finally:
        if gc_was_enabled:
            gc.enable()
    return {
        name: {
            "median": statistics.median(ts),
            "min": min(ts),
            "mean": statistics.fmean(ts),
            "times": ts,
            "number": numbers[name],
        }
        for name, ts in times.items()
    }
