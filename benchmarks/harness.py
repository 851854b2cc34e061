"""Owns what every question shares: rows and goals, rounds run interleaved, medians, ratios, noise.
Must not import OpenTelemetry or the package, nor decide what a question times.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: A series whose spread (half the interquartile range) passes this share of its median is noisy,
#: as pyperf's own check calls a benchmark unstable past 10% (of the mean, for the deviation).
NOISY = 0.10


# -- figures ------------------------------------------------------------------------------------
def median_spread(samples: Sequence[float]) -> tuple[float, float]:
    """Median and half the interquartile range, in the samples' unit."""
    med = statistics.median(samples)
    if len(samples) < 4:
        return med, (max(samples) - min(samples)) / 2
    q = statistics.quantiles(samples, n=4)
    return med, (q[2] - q[0]) / 2


def fmt(samples: Sequence[float], unit: str, scale: float = 1.0) -> str:
    """``median ± spread unit``, the samples scaled first (seconds to ms: ``scale=1e3``)."""
    med, spread = median_spread([s * scale for s in samples])
    return f"{med:,.1f} ± {spread:,.1f} {unit}"


def ratio(a: Sequence[float], b: Sequence[float]) -> float:
    """The ratio of two series' medians (of one run: both measured in the same rounds)."""
    return statistics.median(a) / statistics.median(b)


def minus(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """Round by round, ``a - b``: a setup's cost over its baseline measured in the same round."""
    return [x - y for x, y in zip(a, b, strict=True)]


def timed(call: Callable[[], object]) -> float:
    """Seconds one ``call()`` takes (for work long enough to time one call at a time)."""
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def installed(module: str) -> bool:
    """Whether ``module`` can be imported here (an optional comparison's package)."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # its parent package is missing
        return False


def quiet_logs() -> None:
    """Full buffers are the point of some setups: their drop warnings are not news."""
    logging.getLogger("otel_lambda_processor").setLevel(logging.ERROR)
    logging.getLogger("opentelemetry.sdk._shared_internal").setLevel(logging.ERROR)  # BSP drops


# -- what a question answers --------------------------------------------------------------------
@dataclass(frozen=True)
class Goal:
    """A row's target: its figure (usually a ratio) at most, or at least, ``limit``."""

    limit: float
    unit: str = "×"
    at_most: bool = True

    def __str__(self) -> str:
        return f"{'≤' if self.at_most else '≥'} {self.limit:g}{self.unit}"

    def met(self, value: float) -> bool:
        return value <= self.limit if self.at_most else value >= self.limit


@dataclass(frozen=True)
class Row:
    """One row of the results table; ``value`` is the figure the goal is checked against."""

    measurement: str
    ours: str
    reference: str = "—"
    ratio: str = "—"
    goal: Goal | str | None = None  # a string is a remark in the goal column
    value: float | None = None

    def markdown(self) -> str:
        goal = "—" if self.goal is None else str(self.goal)
        return f"| {self.measurement} | {self.ours} | {self.reference} | {self.ratio} | {goal} |"

    def missed(self) -> bool:
        """Whether the row has a goal and a figure, and the figure misses it."""
        return (
            isinstance(self.goal, Goal) and self.value is not None and not self.goal.met(self.value)
        )


@dataclass
class Answer:
    """What a question found: rows for the main table, sections (lines) to print after it."""

    rows: list[Row] = field(default_factory=list)
    sections: list[list[str]] = field(default_factory=list)


@dataclass(frozen=True)
class Counts:
    """Rounds a question runs in a quick (smoke) run and in a full one."""

    quick: int
    full: int


@dataclass(frozen=True)
class Question:
    """One measured question: its name (``--only NAME``), what it measures, its goals, how many
    rounds it runs, and ``run(rounds, quick)``, which measures and returns the rows."""

    name: str
    measures: str
    goals: tuple[Goal, ...]
    rounds: Counts
    run: Callable[[Rounds, bool], Answer]


# -- rounds -------------------------------------------------------------------------------------
class Rounds:
    """A question's rounds: every setup once per round, the order rotated each round, so that
    drift on a shared machine hits every setup alike and ratios of one run compare like with like.
    Every series measured is recorded for the noise note."""

    def __init__(self, count: int, noise: Noise | None = None, question: str = "") -> None:
        self.count = count
        self._noise = noise
        self._question = question

    def interleave(
        self,
        setups: Mapping[str, Callable[[], float]],
        *,
        warmups: int = 0,
        label: str = "",
    ) -> dict[str, list[float]]:
        """Per setup, what each of its calls returned (a figure it measured), round by round;
        ``warmups`` first rounds are run the same way and dropped. ``label`` tells series of the
        same names apart in the noise note (a workload, a span count)."""
        names = list(setups)
        out: dict[str, list[float]] = {name: [] for name in names}
        for round_ in range(warmups + self.count):
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:
                figure = setups[name]()
                if round_ >= warmups:
                    out[name].append(figure)
        for name, samples in out.items():
            self.record(f"{label}, {name}" if label else name, samples)
        return out

    def record(self, name: str, samples: Sequence[float]) -> None:
        """Keep a series measured some other way (one after another) for the noise note."""
        if self._noise is not None:
            self._noise.add(f"{self._question}: {name}" if self._question else name, samples)


class Noise:
    """Whether the machine was noisy: how many series spread wider than :data:`NOISY` of their
    median, the widest, and the load average when the run started."""

    def __init__(self) -> None:
        self.load_before = _load()
        self._spreads: list[tuple[float, str]] = []

    def add(self, name: str, samples: Sequence[float]) -> None:
        positive = [s for s in samples if s > 0]
        if len(positive) >= 2 and len(positive) == len(samples):
            med, spread = median_spread(positive)
            self._spreads.append((spread / med, name))

    def note(self) -> str | None:
        """One line for the report when some series were noisy, else None."""
        noisy = sorted((s for s in self._spreads if s[0] > NOISY), reverse=True)
        if not noisy:
            return None
        share, name = noisy[0]
        when = (
            ""
            if self.load_before is None
            else f" (load average {self.load_before:.2f} on {os.cpu_count()} cores at the start)"
        )
        return (
            f"Noise: {len(noisy)} of {len(self._spreads)} timed series spread over {NOISY:.0%} "
            f"of their median, the widest {name} at {share:.0%}{when}: rerun on a quiet machine "
            "before quoting a figure."
        )


def _load() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # not on every platform
        return None
