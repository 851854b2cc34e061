"""Owns the ``emit`` question: ns a log record costs with ours over the bare SDK, and with batch's.
Must not time anything itself (hotpath's pyperf workers run ``timer(setup)``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness import Answer, Counts, Goal, Question, Rounds, Row, fmt, minus, ratio
from hotpath import HotPath, TimeFunc, loop
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    LogRecordExporter,
    LogRecordExportResult,
)

from otel_lambda_processor import LambdaLogRecordProcessor

GOAL = Goal(0.5)
BARE, OURS, BATCH = "bare SDK", "LambdaLogRecordProcessor", "BatchLogRecordProcessor"
ATTRIBUTES: dict[str, Any] = {
    "code.function.name": "process_order",
    "order.id": "ord-1",
    "retry": 1,
}


class NullLogExporter(LogRecordExporter):
    def export(self, batch: Any) -> LogRecordExportResult:
        return LogRecordExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True

    def shutdown(self) -> None:
        pass


SETUPS: dict[str, Callable[[], LogRecordProcessor | None]] = {
    # default sizes: buffers run full and evict, or export on their thread, as in a long handler
    BARE: lambda: None,
    OURS: lambda: LambdaLogRecordProcessor(NullLogExporter(), mode="finalize", max_queue_size=2048),
    BATCH: lambda: BatchLogRecordProcessor(NullLogExporter()),
}


def timer(setup: str) -> TimeFunc:
    """Worker side: one provider with the setup's processor for the worker's life."""
    provider = LoggerProvider()  # shut down when the worker exits
    processor = SETUPS[setup]()
    if processor is not None:
        provider.add_log_record_processor(processor)
    logger = provider.get_logger("orders", "2.3.1")

    def emit(_: Any) -> None:
        logger.emit(
            severity_number=SeverityNumber.INFO,
            severity_text="INFO",
            body="order processed",
            attributes=ATTRIBUTES,
        )

    return loop(emit, None)


def run(rounds: Rounds, quick: bool) -> Answer:
    ns = HotPath("log_emit", quick).measure(rounds, list(SETUPS))
    ours, batch = minus(ns[OURS], ns[BARE]), minus(ns[BATCH], ns[BARE])
    rows = [
        Row(
            "`emit` of a log record, cost added to the bare SDK's",
            fmt(ours, "ns"),
            f"BatchLogRecordProcessor adds {fmt(batch, 'ns')}",
            f"{ratio(ours, batch):.2f}×",
            GOAL,
            ratio(ours, batch),
        ),
        Row(
            "`emit` of a log record (`Logger.emit`, whole)",
            fmt(ns[OURS], "ns"),
            f"bare SDK (no processor) {fmt(ns[BARE], 'ns')}",
            f"{ratio(ns[OURS], ns[BARE]):.2f}×",
        ),
    ]
    return Answer(rows)


QUESTION = Question(
    name="log_emit",
    measures="ns a log record's emit costs with ours over the bare SDK, against the batch one",
    goals=(GOAL,),
    rounds=Counts(quick=3, full=15),
    run=run,
)
