"""Fixtures for the conformance suite, and the table it prints at the end."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator

import pytest

from otel_lambda_processor.testing import LambdaEmulator, OTLPReceiver

from .harness import RESULTS, FunctionRun, table

#: Scenarios that run AWS's runtime client mark themselves with this: it has Linux wheels only.
needs_awslambdaric = pytest.mark.skipif(
    sys.platform != "linux", reason="awslambdaric (AWS's runtime client) ships Linux wheels only"
)


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as r:
        yield r


@pytest.fixture
def run_function(receiver: OTLPReceiver) -> Iterator[Callable[..., FunctionRun]]:
    """Start an execution environment for ``traced.handler`` in a mode; stopped after the test."""
    emulators: list[LambdaEmulator] = []

    def start(
        mode: str,
        *,
        timeout: float = 3.0,
        runtime: str = "awslambdaric",
        refuse_registration: bool = False,
        **env: str,
    ) -> FunctionRun:
        emulator = LambdaEmulator(handler="traced.handler", timeout=timeout).start()
        emulator.refuse_registration = refuse_registration
        emulators.append(emulator)
        run = FunctionRun(emulator, receiver, mode)
        run.launch(runtime=runtime, **env)
        return run

    yield start
    for emulator in emulators:
        emulator.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if RESULTS:
        terminalreporter.section("conformance: produced = exported + dropped, per scenario")
        terminalreporter.write_line(table(RESULTS))
