"""What every benchmark module shares: timing loops, medians and how figures are written."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def median_spread(samples: list[float]) -> tuple[float, float]:
    """Median and half the interquartile range, in the samples' unit."""
    med = statistics.median(samples)
    if len(samples) < 4:
        return med, (max(samples) - min(samples)) / 2
    q = statistics.quantiles(samples, n=4)
    return med, (q[2] - q[0]) / 2


def per_call_ns(fn: Callable[[Any], None], arg: Any, calls: int) -> float:
    """Nanoseconds per ``fn(arg)``, timed in a tight loop with the collector off."""
    gc.disable()
    try:
        start = time.perf_counter_ns()
        for _ in range(calls):
            fn(arg)
        return (time.perf_counter_ns() - start) / calls
    finally:
        gc.enable()


def fmt(samples: list[float], unit: str, scale: float = 1.0) -> str:
    med, spread = median_spread([s * scale for s in samples])
    return f"{med:,.1f} ± {spread:,.1f} {unit}"


def ratio(a: list[float], b: list[float]) -> float:
    return statistics.median(a) / statistics.median(b)
