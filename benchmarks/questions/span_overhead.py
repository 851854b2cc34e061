"""Owns the span-overhead question: ns a ``start_as_current_span`` block costs per processor over
none, round by round. Must not time anything itself (hotpath's pyperf workers do).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fixtures import DequeProcessor, NullExporter, lambda_otel_lite
from harness import Answer, Counts, Goal, Question, Rounds, Row, fmt, installed, minus, ratio
from hotpath import HotPath, TimeFunc, loop
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_lambda_processor import LambdaSpanProcessor

FLOOR = Goal(1.5)
CAPACITY = 2048  # the default: buffers run full and evict, as in a long handler
OURS = "LambdaSpanProcessor"


def _setups() -> dict[str, Callable[[], SpanProcessor | None]]:
    setups: dict[str, Callable[[], SpanProcessor | None]] = {
        "none": lambda: None,
        "deque": lambda: DequeProcessor(CAPACITY),
        OURS: lambda: LambdaSpanProcessor(NullExporter(), mode="finalize", max_queue_size=CAPACITY),
        "BatchSpanProcessor": lambda: BatchSpanProcessor(NullExporter(), max_queue_size=CAPACITY),
        "lambda-otel-lite": lambda: lambda_otel_lite(CAPACITY),
    }
    if not installed("lambda_otel_lite"):
        del setups["lambda-otel-lite"]
    return setups


def timer(setup: str) -> TimeFunc:
    """Worker side: one provider with the setup's processor for the worker's life; spans are
    freed at the same rate with every setup, and memory does not grow with the loops."""
    provider = TracerProvider()  # shut down when the worker exits
    processor = _setups()[setup]()
    if processor is not None:
        provider.add_span_processor(processor)
    tracer = provider.get_tracer("bench")

    def one(_: Any) -> None:
        with tracer.start_as_current_span("s"):
            pass

    return loop(one, None)


def run(rounds: Rounds, quick: bool) -> Answer:
    ns = HotPath("span_overhead", quick).measure(rounds, list(_setups()))
    over = {name: minus(samples, ns["none"]) for name, samples in ns.items() if name != "none"}
    ours = over[OURS]
    references = [("deque", FLOOR), ("BatchSpanProcessor", None)]
    if "lambda-otel-lite" in over:
        references.insert(0, ("lambda-otel-lite", None))
    rows = [
        Row(
            "span overhead (`start_as_current_span`)",
            fmt(ours, "ns"),
            f"{name} {fmt(over[name], 'ns')}",
            f"{ratio(ours, over[name]):.2f}×",
            goal,
            ratio(ours, over[name]),
        )
        for name, goal in references
    ]
    return Answer(rows)


QUESTION = Question(
    name="span_overhead",
    measures="ns a start_as_current_span block costs with each processor, over no processor",
    goals=(FLOOR,),
    rounds=Counts(quick=3, full=15),
    run=run,
)
