"""Runs a conformance function under the emulator and keeps the books: produced, exported,
dropped, response latency added, post-response time."""

from __future__ import annotations

import os
import re
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from otel_lambda_processor.testing import (
    InvokeResult,
    LambdaEmulator,
    OTLPReceiver,
    awslambdaric_command,
    minimal_runtime_command,
)

FUNCTIONS = Path(__file__).resolve().parent / "functions"
_DROPPED_IN_ALL = re.compile(r"dropped \d+ spans since the last report \((\d+) in all\)")


@dataclass
class Row:
    """One line of the table the suite prints at the end."""

    scenario: str
    mode: str
    produced: int
    exported: int
    dropped: int
    added_ms: float | None
    post_response_ms: float | None

    @property
    def balanced(self) -> bool:
        return self.produced == self.exported + self.dropped


RESULTS: list[Row] = []


def launch_function(
    emulator: LambdaEmulator,
    receiver: OTLPReceiver,
    handler: str,
    *,
    runtime: str = "awslambdaric",
    **env: str,
) -> None:
    """Start ``handler`` (a module of ``functions/``) under AWS's runtime client, or our minimal
    runtime loop, and wait for init."""
    command = awslambdaric_command if runtime == "awslambdaric" else minimal_runtime_command
    emulator.launch(
        command(handler),
        cwd=str(FUNCTIONS),
        env={
            "TEST_OTLP_ENDPOINT": receiver.endpoint,
            "PYTHONPATH": os.pathsep.join(sys.path),
            **env,
        },
    )
    assert emulator.wait_ready(30), emulator.output


@dataclass
class FunctionRun:
    """One execution environment running ``traced.handler`` in one mode."""

    emulator: LambdaEmulator
    receiver: OTLPReceiver
    mode: str
    produced: int = 0
    results: list[InvokeResult] = field(default_factory=list)
    reports: set[str] = field(default_factory=set)  # invocations that only read the books

    def launch(self, *, runtime: str = "awslambdaric", **env: str) -> None:
        launch_function(
            self.emulator,
            self.receiver,
            "traced.handler",
            runtime=runtime,
            LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE=self.mode,
            **env,
        )

    def invoke(self, spans: int = 1, **event: Any) -> InvokeResult:
        result = self.emulator.invoke({"spans": spans, **event})
        self.results.append(result)
        self.produced += spans
        return result

    def dropped(self) -> int:
        """The processor's own ``dropped_spans``: asked of the running function, or, once the
        environment has ended, read from the warning it logs at each flush with drops."""
        process = self.emulator.process
        if process is not None and process.poll() is None:
            self.emulator.wait_idle(30)
            report = self.emulator.invoke({"report": True})
            self.emulator.wait_idle(30)
            if report.status == "ok" and isinstance(report.payload, dict):
                self.reports.add(report.request_id)
                return int(report.payload["dropped"])
        self.emulator.wait_output(10)
        totals = [int(m) for m in _DROPPED_IN_ALL.findall(self.emulator.output)]
        return max(totals, default=0)

    def exported(self) -> int:
        return len(self.receiver.spans)

    def added_ms(self) -> float | None:
        """Median of (caller's latency - the handler's own time) over answered invocations."""
        added = [
            r.latency * 1000 - r.payload["handler_ms"]
            for r in self.results
            if r.status == "ok" and isinstance(r.payload, dict) and "handler_ms" in r.payload
        ]
        return statistics.median(added) if added else None

    def post_response_ms(self) -> float | None:
        post = [
            r.post_response * 1000
            for r in self.emulator.invocations()
            if r.post_response is not None
        ]
        return statistics.median(post) if post else None

    def record(self, scenario: str, *, dropped: int | None = None) -> Row:
        dropped = self.dropped() if dropped is None else dropped
        row = Row(
            scenario,
            self.mode,
            self.produced,
            self.exported(),
            dropped,
            self.added_ms(),
            self.post_response_ms(),
        )
        RESULTS.append(row)
        return row


def table(rows: list[Row]) -> str:
    head = (
        f"{'scenario':<44} {'mode':<9} {'produced':>9} {'exported':>9} {'dropped':>8} "
        f"{'added ms':>9} {'post-resp ms':>12}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        added = f"{r.added_ms:9.1f}" if r.added_ms is not None else f"{'—':>9}"
        post = f"{r.post_response_ms:12.1f}" if r.post_response_ms is not None else f"{'—':>12}"
        flag = "" if r.balanced else "  <- produced != exported + dropped"
        lines.append(
            f"{r.scenario:<44} {r.mode:<9} {r.produced:>9} {r.exported:>9} {r.dropped:>8} "
            f"{added} {post}{flag}"
        )
    return "\n".join(lines)
