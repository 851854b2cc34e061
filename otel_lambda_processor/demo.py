"""The local demo: where an invocation's time goes in each mode, against the usual setup.

It runs a small traced "handler" several times per setup, exporting through the real OTLP/HTTP
exporter to the package's receiver (answering after a simulated network delay), and prints
the response latency the caller would see, when the spans arrived, and the span accounting.
Outside Lambda there is no coordinator: ``handler_done()`` drives every mode.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import NamedTuple

from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

from . import LambdaSpanProcessor, ProcessorMode, handler_done
from .testing import OTLPReceiver, ReceivedSpan

INVOCATIONS = 8
CHILD_SPANS = 20
COLLECTOR_LATENCY = 0.03  # seconds; a collector one region hop away
BASELINE = "BatchSpanProcessor + force_flush"


class Row(NamedTuple):
    setup: str
    response_ms: list[float]
    arrived_ms: list[float]  # empty: exported only at shutdown
    produced: int
    exported: int
    dropped: int


def _handler(provider: TracerProvider, invocation: int) -> None:
    tracer = provider.get_tracer("demo")
    with tracer.start_as_current_span("handler", attributes={"invocation": invocation}):
        for i in range(CHILD_SPANS):
            with tracer.start_as_current_span(f"step-{i}"):
                time.sleep(0.0002)  # a little work


def _run_setup(
    name: str,
    receiver: OTLPReceiver,
    make: Callable[[str], SpanProcessor],
    after_handler: Callable[[TracerProvider], object],
    per_invocation_export: bool = True,
) -> Row:
    from opentelemetry.sdk.resources import Resource

    provider = TracerProvider(
        resource=Resource.create({"service.name": f"demo-{name}"}), shutdown_on_exit=False
    )
    processor = make(receiver.endpoint)
    provider.add_span_processor(processor)
    receiver.reset()
    response, arrived = [], []
    per_invocation = CHILD_SPANS + 1
    for n in range(INVOCATIONS):
        start = time.perf_counter()
        _handler(provider, n)
        after_handler(provider)  # what the runtime waits for before it sends the response
        response.append((time.perf_counter() - start) * 1e3)
        if per_invocation_export:
            receiver.wait_for_spans(per_invocation * (n + 1), timeout=30)
            arrived.append((time.perf_counter() - start) * 1e3)
    provider.shutdown()
    exported = len(receiver.spans)
    dropped = getattr(processor, "dropped_spans", 0)
    return Row(name, response, arrived, per_invocation * INVOCATIONS, exported, dropped)


def _exporter(endpoint: str):  # type: ignore[no-untyped-def]
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=endpoint, timeout=10)


def _lambda(mode: ProcessorMode) -> Callable[[str], SpanProcessor]:
    return lambda endpoint: LambdaSpanProcessor(_exporter(endpoint), mode=mode)


def _batch(endpoint: str) -> SpanProcessor:
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    return BatchSpanProcessor(_exporter(endpoint))


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _tree(spans: list[ReceivedSpan]) -> list[str]:
    by_parent: dict[bytes, list[ReceivedSpan]] = {}
    for s in spans:
        by_parent.setdefault(s.span.parent_span_id, []).append(s)
    lines: list[str] = []

    def walk(parent: bytes, depth: int) -> None:
        children = sorted(by_parent.get(parent, []), key=lambda x: x.span.start_time_unix_nano)
        for s in children[:3]:
            ms = (s.span.end_time_unix_nano - s.span.start_time_unix_nano) / 1e6
            lines.append(f"{'  ' * depth}{s.name}  {ms:.2f} ms")
            walk(s.span.span_id, depth + 1)
        if len(children) > 3:
            lines.append(f"{'  ' * depth}... and {len(children) - 3} more")

    walk(b"", 0)
    return lines


def main() -> int:
    """Run the demo and print the table; returns a process exit code."""
    print(
        f"otel-lambda-processor local demo: {INVOCATIONS} invocations per setup, "
        f"{CHILD_SPANS + 1} spans each, collector latency {COLLECTOR_LATENCY * 1e3:.0f} ms\n"
        "(no Lambda here: handler_done() plays the runtime's part)\n"
    )
    rows = []
    with OTLPReceiver(latency=COLLECTOR_LATENCY) as receiver:
        rows.append(
            _run_setup("sync", receiver, _lambda(ProcessorMode.SYNC), lambda p: handler_done())
        )
        rows.append(
            _run_setup("async", receiver, _lambda(ProcessorMode.ASYNC), lambda p: handler_done())
        )
        rows.append(
            _run_setup(
                "finalize",
                receiver,
                _lambda(ProcessorMode.FINALIZE),
                lambda p: handler_done(),
                per_invocation_export=False,
            )
        )
        rows.append(_run_setup(BASELINE, receiver, _batch, lambda p: p.force_flush()))
        tree = _tree(receiver.spans[: CHILD_SPANS + 1])
    header = (
        f"{'setup':<34} {'response p50':>12} {'p95':>8} {'spans arrived p50':>18} "
        f"{'produced':>9} {'exported':>9} {'dropped':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        arrived = (
            f"{statistics.median(r.arrived_ms):>15.1f} ms"
            if r.arrived_ms
            else f"{'at shutdown':>18}"
        )
        print(
            f"{r.setup:<34} {statistics.median(r.response_ms):>9.1f} ms "
            f"{_p(r.response_ms, 0.95):>5.1f} ms {arrived} {r.produced:>9} {r.exported:>9} "
            f"{r.dropped:>8}"
        )
    print(
        "\nresponse: handler start until the runtime could send the response; spans arrived: "
        "until the\nreceiver had the invocation's spans. sync makes the caller wait for the "
        "export, async\ndoes not; finalize exports only on force_flush or at shutdown."
    )
    print("\nspans of one invocation, as the receiver decoded them:")
    for line in tree:
        print("  " + line)
    ok = all(r.exported + r.dropped == r.produced for r in rows)
    if not ok:
        print("\nspans were lost: exported + dropped != produced")
    return 0 if ok else 1
