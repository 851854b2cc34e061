"""Runs a conformance function under the emulator and keeps the books: produced, exported,
dropped, response latency added, post-response time."""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from otel_lambda_processor.testing import (
    InvocationRecord,
    InvokeResult,
    LambdaEmulator,
    OTLPReceiver,
    ReceivedRequest,
    ShutdownResult,
    awslambdaric_command,
    minimal_runtime_command,
)
from otel_lambda_processor.testing.receiver import LOGS_PATH, METRICS_PATH, TRACES_PATH

FUNCTIONS = Path(__file__).resolve().parent / "functions"
_DROPPED_IN_ALL = re.compile(r"dropped \d+ spans since the last report, (\d+) in all")


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


# -- three signals: spans, log records and metric data points ----------------------------------
#: The function of ``functions/three_signals.py``.
THREE_SIGNALS = "three_signals.handler"
#: What that function prints before its books (JSON) whenever its tracer provider is flushed:
#: the coordinator does that at SIGTERM, once our processors and reader have exported.
BOOKS_PREFIX = "three-signals books: "
SIGNALS = ("spans", "logs", "metrics")
PATHS = {"spans": TRACES_PATH, "logs": LOGS_PATH, "metrics": METRICS_PATH}
#: The drop warning of each signal's processor: ``(noun, total in all)``.
_DROPS_IN_ALL = re.compile(
    r"dropped \d+ (spans|log records|metric data points) since the last report, (\d+) in all"
)
_NOUNS = {"spans": "spans", "log records": "logs", "metric data points": "metrics"}


@dataclass(frozen=True)
class Ledger:
    """One signal's books: produced (emitted, collected) = exported + dropped."""

    produced: int
    exported: int
    dropped: int

    @property
    def balanced(self) -> bool:
        return self.produced == self.exported + self.dropped


@dataclass
class ThreeSignalsRun(FunctionRun):
    """One execution environment running ``three_signals.handler``: spans (``produced``), log
    records (``logs``) and one counter increment per traced invocation (``increments``)."""

    logs: int = 0
    increments: int = 0
    sigterm_at: float | None = None  # time.monotonic() just before the emulator's SIGTERM

    def launch(self, *, runtime: str = "awslambdaric", **env: str) -> None:
        launch_function(
            self.emulator,
            self.receiver,
            THREE_SIGNALS,
            runtime=runtime,
            TEST_OTLP_LOGS_ENDPOINT=self.receiver.logs_endpoint,
            TEST_OTLP_METRICS_ENDPOINT=self.receiver.metrics_endpoint,
            LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE=self.mode,  # logs and metrics fall back to it
            **env,
        )

    def invoke(self, spans: int = 1, logs: int = 1, **event: Any) -> InvokeResult:
        """One traced invocation: ``spans`` spans (its invocation span included; the first one
        also ends the cold start's init span), ``logs`` records, one increment of the counter."""
        cold = self.increments == 0
        result = super().invoke(spans, logs=logs, **event)
        self.produced += 1 if cold else 0
        self.logs += logs
        self.increments += 1
        return result

    def report(self) -> tuple[dict[str, Any], InvocationRecord]:
        """The function's books now (an invocation that makes nothing of its own), and the
        record of that invocation: what arrived before it ``started`` is what they account for."""
        self.emulator.wait_idle(30)
        result = self.emulator.invoke({"report": True})
        self.emulator.wait_idle(30)
        assert result.status == "ok" and isinstance(result.payload, dict), self.emulator.output
        self.reports.add(result.request_id)
        (record,) = [r for r in self.emulator.invocations() if r.request_id == result.request_id]
        return result.payload, record

    def shutdown(self) -> ShutdownResult:
        """End the environment as Lambda does (SIGTERM, grace, SIGKILL), noting when."""
        self.emulator.wait_idle(30)
        self.sigterm_at = time.monotonic()
        return self.emulator.shutdown()

    def final_books(self) -> dict[str, Any]:
        """The last books the function printed (at SIGTERM), once its output is all read."""
        self.emulator.wait_output(10)
        lines = [ln for ln in self.emulator.output.splitlines() if BOOKS_PREFIX in ln]
        assert lines, f"the function printed no books:\n{self.emulator.output}"
        books: dict[str, Any] = json.loads(lines[-1].split(BOOKS_PREFIX, 1)[1])
        return books

    def drop_warnings(self) -> dict[str, int]:
        """The "in all" totals of the processors' last drop warnings, per signal (0: none)."""
        totals = dict.fromkeys(SIGNALS, 0)
        for noun, total in _DROPS_IN_ALL.findall(self.emulator.output):
            totals[_NOUNS[noun]] = max(totals[_NOUNS[noun]], int(total))
        return totals

    def accepted(self, signal: str, before: float | None = None) -> list[ReceivedRequest]:
        """The receiver's accepted requests for ``signal`` (arrived before ``before``)."""
        return [
            r
            for r in self.receiver.requests
            if r.path == PATHS[signal] and r.status == 200 and (before is None or r.at < before)
        ]

    def exported(self, signal: str = "spans", before: float | None = None) -> int:
        return sum(r.item_count for r in self.accepted(signal, before))

    def ledgers(self, books: dict[str, Any], before: float | None = None) -> dict[str, Ledger]:
        """Each signal's books: the function's counts against what the receiver accepted."""
        return {
            "spans": Ledger(
                books["spans_ended"], self.exported("spans", before), books["dropped_spans"]
            ),
            "logs": Ledger(
                books["logs_emitted"], self.exported("logs", before), books["dropped_records"]
            ),
            "metrics": Ledger(
                books["collected_points"],
                self.exported("metrics", before),
                books["dropped_points"],
            ),
        }

    def record_ledgers(self, scenario: str, ledgers: dict[str, Ledger]) -> list[Row]:
        """Three rows of the table, one per signal."""
        rows = [
            Row(
                f"{scenario}: {signal}",
                self.mode,
                ledger.produced,
                ledger.exported,
                ledger.dropped,
                self.added_ms(),
                self.post_response_ms(),
            )
            for signal, ledger in ledgers.items()
        ]
        RESULTS.extend(rows)
        return rows
