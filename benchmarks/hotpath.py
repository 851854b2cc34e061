"""Owns the pyperf protocol: per setup, loops calibrated once, then one worker process per round.
Must not know what is timed (each question's ``timer(setup)``) nor turn timings into rows.

Worker side (spawned here, never by hand): ``python hotpath.py QUESTION SETUP [pyperf options]``.
"""

from __future__ import annotations

import functools
import gc
import importlib
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import HERE, Rounds, quiet_logs

#: pyperf's time function: seconds for ``loops`` calls of the setup's hot path.
TimeFunc = Callable[[int], float]


@dataclass(frozen=True)
class Pace:
    """pyperf's settings for one worker: values kept, warm-up values dropped before them, and
    the least time one value takes (pyperf doubles the loops until a value takes that long)."""

    values: int
    warmups: int
    min_time: float

    def options(self) -> list[str]:
        return [
            f"--values={self.values}",
            f"--warmups={self.warmups}",
            f"--min-time={self.min_time}",
        ]


QUICK = Pace(values=2, warmups=1, min_time=0.01)
FULL = Pace(values=3, warmups=1, min_time=0.02)


def loop(call: Callable[[Any], object], arg: Any) -> TimeFunc:
    """A time function: ``loops`` calls of ``call(arg)`` with the collector off while they run
    (as ``timeit`` does: a collection would land on whichever setup happened to trigger it)."""

    def time_func(loops: int) -> float:
        repeat = range(loops)
        gc.disable()
        try:
            start = time.perf_counter()
            for _ in repeat:
                call(arg)
            return time.perf_counter() - start
        finally:
            gc.enable()

    return time_func


class HotPath:
    """Times one question's setups in pyperf worker processes."""

    def __init__(self, question: str, quick: bool) -> None:
        self.question = question
        self.pace = QUICK if quick else FULL
        self._serial = itertools.count()

    def measure(self, rounds: Rounds, setups: Sequence[str]) -> dict[str, list[float]]:
        """Nanoseconds per call, per setup and round: the median of one worker's values. Each
        setup's loops are calibrated first, in a worker of their own, and kept for its rounds."""
        with tempfile.TemporaryDirectory(prefix="otel-lambda-bench-") as scratch:
            directory = Path(scratch)
            loops = {setup: self._calibrate(directory, setup) for setup in setups}
            return rounds.interleave(
                {
                    setup: functools.partial(self._median, directory, setup, loops[setup])
                    for setup in setups
                }
            )

    def _calibrate(self, directory: Path, setup: str) -> int:
        run = self._worker(directory, setup, ["--calibrate-loops"]).get_runs()[0]
        return int(run.get_loops())

    def _median(self, directory: Path, setup: str, loops: int) -> float:
        values = self._worker(directory, setup, [f"--loops={loops}"]).get_values()
        return float(statistics.median(values)) * 1e9

    def _worker(self, directory: Path, setup: str, options: list[str]) -> Any:
        import pyperf

        output = directory / f"{next(self._serial)}.json"
        command = [
            sys.executable,
            str(HERE / "hotpath.py"),
            self.question,
            setup,
            "--worker",
            "--worker-task=0",
            "--quiet",
            f"--output={output}",
            *self.pace.options(),
            *options,
        ]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if done.returncode:
            raise RuntimeError(
                f"{self.question}, {setup}: the pyperf worker failed ({done.returncode})\n"
                f"{done.stdout}{done.stderr}"
            )
        return pyperf.Benchmark.load(str(output))


def worker(argv: list[str]) -> None:
    """Run one setup's time function under pyperf's worker protocol (options after the names)."""
    import pyperf

    question, setup, *options = argv
    quiet_logs()
    runner = pyperf.Runner()
    runner.parse_args(options)
    time_func = importlib.import_module(f"questions.{question}").timer(setup)
    runner.bench_time_func(f"{question}: {setup}", time_func)


if __name__ == "__main__":
    worker(sys.argv[1:])
