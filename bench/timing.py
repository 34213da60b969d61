"""What the benchmarks share: a median wall time after a warm-up, and the process's peak memory."""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable


def timed(fn: Callable[[], object], repeats: int) -> float:
    """Median seconds of `repeats` calls of `fn`, after one warm-up call."""
    return timed_alternating({"fn": fn}, repeats)["fn"]


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MB (Linux reports ru_maxrss in KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed_alternating(fns: dict[str, Callable[[], object]], repeats: int, *, warm_up: bool = True,
                      sync: Callable[[], object] = lambda: None) -> dict[str, float]:
    """Median seconds of each of several functions, their calls interleaved (a, b, a, b, ...) so that a
    machine's drift during the run (heat, a neighbour's load) falls on all of them alike."""
    if warm_up:
        for fn in fns.values():
            fn()
        sync()
    runs: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            sync()
            runs[name].append(time.perf_counter() - start)
    return {name: statistics.median(times) for name, times in runs.items()}
