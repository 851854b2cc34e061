"""The local demo: where an invocation's time goes in each mode, against the usual setup.

An example function (``demo_function``) runs under the package's Lambda emulator with AWS's
runtime client (our minimal runtime loop where awslambdaric has no wheels), exporting through
the real OTLP/HTTP exporter to the embedded receiver, which answers after a simulated network
delay. For each setup it prints the response latency the caller saw, how long the invocation
stayed open after the response, and the span accounting; then the span tree of one invocation.
"""

from __future__ import annotations

import os
import statistics
import sys
from typing import NamedTuple

from .testing import (
    InvocationRecord,
    LambdaEmulator,
    OTLPReceiver,
    ReceivedSpan,
    awslambdaric_command,
    minimal_runtime_command,
)

INVOCATIONS = 6
SPANS_PER_INVOCATION = 7  # the invocation span and six inside it
COLLECTOR_LATENCY = 0.03  # seconds; a collector one region hop away


class Setup(NamedTuple):
    name: str
    demo_setup: str
    handler: str


SETUPS = (
    Setup("sync", "sync", "otel_lambda_processor.demo_function.handler"),
    Setup("async", "async", "otel_lambda_processor.demo_function.handler"),
    Setup(
        "finalize + BatchSpanProcessor",
        "finalize+batch",
        "otel_lambda_processor.demo_function.handler",
    ),
    Setup(
        "BatchSpanProcessor + force_flush",
        "batch+flush",
        "otel_lambda_processor.demo_function.batch_handler",
    ),
)


class Timeline(NamedTuple):
    """One invocation, in seconds from its start."""

    response: float
    exports: list[tuple[float, float]]  # (start, end) of each export request that carried it
    ended: float


class Row(NamedTuple):
    setup: str
    response_ms: list[float]
    post_response_ms: list[float]
    produced: int
    exported: int
    dropped: int
    timeline: Timeline | None
    spans: list[ReceivedSpan]


def _runtime() -> tuple[str, object]:
    if sys.platform == "linux":
        try:
            import awslambdaric  # noqa: F401

            return "AWS's runtime client (awslambdaric)", awslambdaric_command
        except ImportError:
            pass
    return (
        "the package's minimal runtime loop (awslambdaric is not installed)",
        minimal_runtime_command,
    )


def _run(setup: Setup, command: object, receiver: OTLPReceiver, batch: OTLPReceiver) -> Row:
    receiver.reset()
    batch.reset()
    with LambdaEmulator(handler=setup.handler, function_name="demo-orders", timeout=10) as emulator:
        emulator.launch(
            command(setup.handler),  # type: ignore[operator]
            env={
                "DEMO_SETUP": setup.demo_setup,
                "DEMO_OTLP_ENDPOINT": receiver.endpoint,
                "DEMO_BATCH_ENDPOINT": batch.endpoint,
                "PYTHONPATH": os.pathsep.join(sys.path),
            },
        )
        if not emulator.wait_ready(30):
            raise RuntimeError(f"{setup.name}: the function did not start:\n{emulator.output}")
        results = []
        for _ in range(INVOCATIONS):
            result = emulator.invoke({"order": 42})
            if result.status != "ok":
                raise RuntimeError(f"{setup.name}: {result}\n{emulator.output}")
            emulator.wait_idle(30)
            results.append(result)
        records = {r.request_id: r for r in emulator.invocations()}
        timeline = _timeline(records[results[-1].request_id], results[-1].request_id, receiver)
        emulator.shutdown()  # SIGTERM: what finalize has kept goes out now
    produced = INVOCATIONS * SPANS_PER_INVOCATION
    exported = len(receiver.spans)
    post = [
        (r.ended - r.response) * 1000
        for r in records.values()
        if r.ended is not None and r.response is not None
    ]
    return Row(
        setup.name,
        [r.latency * 1000 for r in results],
        post,
        produced,
        exported,
        produced - exported,
        timeline,
        receiver.spans,
    )


def _timeline(record: InvocationRecord, request_id: str, receiver: OTLPReceiver) -> Timeline | None:
    started, response, ended = record.started, record.response, record.ended
    if response is None or ended is None:
        return None
    arrivals = sorted(
        {
            s.received_at
            for s in receiver.spans
            if s.attributes.get("faas.invocation_id") == request_id
        }
    )
    exports = [(a - started, a - started + COLLECTOR_LATENCY) for a in arrivals]
    return Timeline(response - started, exports, ended - started)


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _tree(spans: list[ReceivedSpan]) -> list[str]:
    roots = [s for s in spans if s.scope_name == "otel_lambda_processor"]
    if not roots:
        return []
    root = roots[-1]
    trace_spans = [s for s in spans if s.span.trace_id == root.span.trace_id]
    by_parent: dict[bytes, list[ReceivedSpan]] = {}
    for s in trace_spans:
        by_parent.setdefault(s.span.parent_span_id, []).append(s)
    lines: list[str] = []

    def walk(span: ReceivedSpan, depth: int) -> None:
        ms = (span.span.end_time_unix_nano - span.span.start_time_unix_nano) / 1e6
        lines.append(f"{'  ' * depth}{span.name}  {ms:.1f} ms")
        for child in sorted(
            by_parent.get(span.span.span_id, []), key=lambda c: c.span.start_time_unix_nano
        ):
            walk(child, depth + 1)

    walk(root, 0)
    attributes = ", ".join(
        f"{k}={root.attributes[k]}"
        for k in ("faas.trigger", "faas.coldstart")
        if k in root.attributes
    )
    lines.append(f"  ({attributes}; service.name={root.resource.get('service.name')})")
    return lines


def _plot(rows: list[Row], path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(
            "\n--plot needs matplotlib: pip install 'otel-lambda-processor[plot]' "
            f"({path} not written)"
        )
        return
    figure, axis = plt.subplots(figsize=(9, 1 + 0.8 * len(rows)))
    for y, row in enumerate(reversed(rows)):
        t = row.timeline
        if t is None:
            continue
        axis.broken_barh(
            [(0, t.response * 1000)],
            (y - 0.3, 0.6),
            color="#4c72b0",
            label="handler" if y == 0 else None,
        )
        for start, end in t.exports:
            axis.broken_barh(
                [(start * 1000, (end - start) * 1000)],
                (y - 0.15, 0.3),
                color="#dd8452",
                label="export" if y == 0 else None,
            )
        axis.plot(
            [t.response * 1000], [y], "k|", markersize=22, label="response sent" if y == 0 else None
        )
        axis.plot([t.ended * 1000], [y], "g>", label="extension next" if y == 0 else None)
    axis.set_yticks(range(len(rows)), [r.setup for r in reversed(rows)])
    axis.set_xlabel("ms since the invocation started (last invocation of each setup)")
    axis.legend(loc="lower right", fontsize="small")
    figure.tight_layout()
    figure.savefig(path)
    print(f"\ntimeline written to {path}")


def main(plot: str | None = None) -> int:
    """Run the demo and print the table; returns a process exit code."""
    runtime, command = _runtime()
    print(
        f"otel-lambda-processor demo: {INVOCATIONS} invocations per setup, "
        f"{SPANS_PER_INVOCATION} spans each, collector latency {COLLECTOR_LATENCY * 1000:.0f} ms,\n"
        f"the function run by {runtime} under the local Lambda emulator,\n"
        "exporting with otel_lambda_processor.otlp.OTLPSpanExporter (the usual setup: the\n"
        "official OTLP/HTTP exporter)\n"
    )
    rows: list[Row] = []
    with OTLPReceiver(latency=COLLECTOR_LATENCY) as receiver, OTLPReceiver() as batch:
        for setup in SETUPS:
            rows.append(_run(setup, command, receiver, batch))
    header = (
        f"{'setup':<34} {'response p50':>12} {'p95':>8} {'post-response p50':>18} "
        f"{'produced':>9} {'exported':>9} {'dropped':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        post = (
            f"{statistics.median(r.post_response_ms):15.1f} ms"
            if r.post_response_ms
            else f"{'—':>18}"
        )
        print(
            f"{r.setup:<34} {statistics.median(r.response_ms):9.1f} ms "
            f"{_p(r.response_ms, 0.95):5.1f} ms {post} {r.produced:>9} {r.exported:>9} "
            f"{r.dropped:>8}"
        )
    print(
        "\nresponse: what the caller waited; post-response: how long the invocation stayed open "
        "after it\n(billed, but nobody waits). sync and the usual BatchSpanProcessor + force_flush "
        "make every caller\nwait for the export; async exports after the response; finalize "
        "exports only on force_flush\nor at shutdown (SIGTERM), beside the BatchSpanProcessor."
    )
    print("\nthe span tree of one invocation (async), as the receiver decoded it:")
    for line in _tree(rows[1].spans):
        print("  " + line)
    if plot:
        _plot(rows, plot)
    lost = [r.setup for r in rows if r.exported + r.dropped != r.produced or r.dropped]
    if lost:
        print(f"\nspans were lost in: {', '.join(lost)}")
    return 1 if lost else 0
