"""Owns the counter ``add`` question: ns per call with ours, the SDK's periodic reader and none.
Must not time anything itself (hotpath's pyperf workers run ``timer(setup)``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness import Answer, Counts, Goal, Question, Rounds, Row, fmt, ratio
from hotpath import HotPath, TimeFunc, loop
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricReader,
    PeriodicExportingMetricReader,
)

from otel_lambda_processor import LambdaMetricReader

GOAL = Goal(1.1)
BARE, OURS, PERIODIC = "bare SDK", "LambdaMetricReader", "PeriodicExportingMetricReader"
ATTRIBUTES = {"http.route": "/orders/{id}", "outcome": "ok"}


class NullMetricExporter(MetricExporter):
    def export(self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> Any:
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass


SETUPS: dict[str, Callable[[], MetricReader | None]] = {
    BARE: lambda: None,
    OURS: lambda: LambdaMetricReader(NullMetricExporter(), mode="finalize"),
    PERIODIC: lambda: PeriodicExportingMetricReader(
        NullMetricExporter(), export_interval_millis=3_600_000
    ),
}


def timer(setup: str) -> TimeFunc:
    """Worker side: one provider with the setup's reader for the worker's life."""
    reader = SETUPS[setup]()
    provider = MeterProvider(metric_readers=[reader] if reader else [])  # shut down at exit
    counter = provider.get_meter("orders", "2.3.1").create_counter("orders.processed")

    def add(_: Any) -> None:
        counter.add(1, ATTRIBUTES)

    return loop(add, None)


def run(rounds: Rounds, quick: bool) -> Answer:
    ns = HotPath("metric_add", quick).measure(rounds, list(SETUPS))
    ours = ns[OURS]
    rows = [
        Row(
            "counter `add`",
            fmt(ours, "ns"),
            f"PeriodicExportingMetricReader {fmt(ns[PERIODIC], 'ns')}",
            f"{ratio(ours, ns[PERIODIC]):.2f}×",
            GOAL,
            ratio(ours, ns[PERIODIC]),
        ),
        Row(
            "counter `add`",
            fmt(ours, "ns"),
            f"bare SDK (no reader) {fmt(ns[BARE], 'ns')}",
            f"{ratio(ours, ns[BARE]):.2f}×",
        ),
    ]
    return Answer(rows)


QUESTION = Question(
    name="metric_add",
    measures="ns per counter add with ours, against the SDK's periodic reader and no reader",
    goals=(GOAL,),
    rounds=Counts(quick=3, full=15),
    run=run,
)
