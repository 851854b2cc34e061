"""Owns the import-time question: ms ``import otel_lambda_processor`` adds to the SDK's tracing.
Must not import the package in this process: fresh interpreters only, timed inside themselves.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys

from harness import Answer, Counts, Goal, Question, Rounds, Row, fmt, minus

GOAL = Goal(5, " ms")
SDK = "import opentelemetry.sdk.trace"
OURS = "+ otel_lambda_processor"


def _seconds(code: str, env: dict[str, str]) -> float:
    """How long ``code`` takes in a fresh interpreter, timed inside it."""
    script = f"import time; t=time.perf_counter(); {code}; print(time.perf_counter()-t)"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env
    )
    return float(done.stdout.strip())


def run(rounds: Rounds, quick: bool) -> Answer:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    _seconds("import otel_lambda_processor", env)  # writes the bytecode caches, as an install does
    times = rounds.interleave(
        {
            SDK: lambda: _seconds(SDK, env),
            "+ otel_lambda_processor": lambda: _seconds(
                f"{SDK}; import otel_lambda_processor", env
            ),
        }
    )
    added = minus(times[OURS], times[SDK])
    row = Row(
        "import time added over `opentelemetry.sdk.trace`",
        fmt(added, "ms", 1e3),
        f"sdk alone {fmt(times[SDK], 'ms', 1e3)}",
        "—",
        GOAL,
        statistics.median(added) * 1e3,
    )
    return Answer([row])


QUESTION = Question(
    name="import_time",
    measures="ms that importing the package adds to importing the SDK's tracing",
    goals=(GOAL,),
    rounds=Counts(quick=5, full=15),
    run=run,
)
