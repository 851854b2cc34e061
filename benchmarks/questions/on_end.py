"""Owns the ``on_end`` question: ns per span, buffer not full and full, ours against the deque
floor, BatchSpanProcessor and lite. Must not time anything itself (hotpath's workers do).
"""

from __future__ import annotations

from collections.abc import Callable

from fixtures import DequeProcessor, NullExporter, lambda_otel_lite, one_span
from harness import Answer, Counts, Goal, Question, Rounds, Row, fmt, installed, ratio
from hotpath import HotPath, TimeFunc, loop
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_lambda_processor import LambdaSpanProcessor

FLOOR = Goal(3)
BATCH = Goal(0.35)
STATES = ("not full", "full")
FULL = 2048  # a full buffer's size (the default), filled twice over before timing


def _makers() -> dict[str, Callable[[int], SpanProcessor | None]]:
    """Processor name: how to make one of a given capacity."""
    makers: dict[str, Callable[[int], SpanProcessor | None]] = {
        "deque": DequeProcessor,
        "LambdaSpanProcessor": lambda cap: LambdaSpanProcessor(
            NullExporter(), mode="finalize", max_queue_size=cap
        ),
        "lambda-otel-lite": lambda_otel_lite,
        "BatchSpanProcessor": lambda cap: BatchSpanProcessor(
            NullExporter(),
            max_queue_size=cap,
            schedule_delay_millis=3_600_000,
            max_export_batch_size=cap,
        ),
    }
    if not installed("lambda_otel_lite"):
        del makers["lambda-otel-lite"]
    return makers


def timer(setup: str) -> TimeFunc:
    """Worker side, for ``"NAME, STATE"``: a fresh processor per value, twice the calls' size
    when not full (it never fills), filled before timing when full (every call evicts). Its first
    span is handed over untimed: ours installs its steady hot path then, as the SDK finds it
    from the second span on."""
    name, state = setup.rsplit(", ", 1)
    make = _makers()[name]
    span = one_span()

    def time_func(loops: int) -> float:
        full = state == "full"
        processor = make(FULL if full else max(2 * loops, 4096))
        assert processor is not None
        processor.on_end(span)
        if full:
            for _ in range(2 * FULL):
                processor.on_end(span)
        elapsed = loop(processor.on_end, span)(loops)
        processor.shutdown()
        return elapsed

    return time_func


def run(rounds: Rounds, quick: bool) -> Answer:
    names = list(_makers())
    setups = [f"{name}, {state}" for state in STATES for name in names]
    ns = HotPath("on_end", quick).measure(rounds, setups)
    rows = []
    for state in STATES:
        ours = ns[f"LambdaSpanProcessor, {state}"]
        for reference, goal in (("deque", FLOOR), ("BatchSpanProcessor", BATCH)):
            theirs = ns[f"{reference}, {state}"]
            rows.append(
                Row(
                    f"`on_end`, buffer {state}",
                    fmt(ours, "ns"),
                    f"{reference} {fmt(theirs, 'ns')}",
                    f"{ratio(ours, theirs):.2f}×",
                    goal,
                    ratio(ours, theirs),
                )
            )
    if "lambda-otel-lite" in names:
        for state in STATES:
            ours, lite = ns[f"LambdaSpanProcessor, {state}"], ns[f"lambda-otel-lite, {state}"]
            rows.append(
                Row(
                    f"`on_end`, buffer {state}",
                    fmt(ours, "ns"),
                    f"lambda-otel-lite {fmt(lite, 'ns')}",
                    f"{ratio(ours, lite):.2f}×",
                )
            )
    return Answer(rows)


QUESTION = Question(
    name="on_end",
    measures="ns per LambdaSpanProcessor.on_end, buffer not full and full",
    goals=(FLOOR, BATCH),
    rounds=Counts(quick=3, full=15),
    run=run,
)
