"""Owns the registration question: ms from constructing the coordinator to its registration.
Must not change the coordinator or the emulator it registers with; urllib3 is imported first.
"""

from __future__ import annotations

import statistics

from harness import Answer, Counts, Goal, Question, Rounds, Row, fmt

GOAL = Goal(10, " ms")


def _register() -> float:
    """Seconds from constructing a coordinator to its registration, against a fresh emulator."""
    import time

    from otel_lambda_processor.config import LambdaEnvironment
    from otel_lambda_processor.coordinator import Coordinator
    from otel_lambda_processor.signals import SignalHub
    from otel_lambda_processor.testing.emulator import LambdaEmulator

    with LambdaEmulator() as emulator:
        environment = LambdaEnvironment(emulator.runtime_api, "on-demand", None, False)
        start = time.perf_counter()
        coordinator = Coordinator(
            environment, events=["INVOKE"], hub=SignalHub(), handle_sigterm=False
        )
        coordinator.start()
        seconds = time.perf_counter() - start
        assert coordinator.registered
        coordinator.close()
    return seconds


def run(rounds: Rounds, quick: bool) -> Answer:
    import urllib3  # noqa: F401 - the figure is defined with urllib3 already imported

    samples = rounds.interleave({"registration": _register})["registration"]
    row = Row(
        "coordinator construction + registration (urllib3 imported)",
        fmt(samples, "ms", 1e3),
        goal=GOAL,
        value=statistics.median(samples) * 1e3,
    )
    return Answer([row])


QUESTION = Question(
    name="registration",
    measures="ms to construct the coordinator and register it, urllib3 already imported",
    goals=(GOAL,),
    rounds=Counts(quick=5, full=20),
    run=run,
)
