"""The local demo: where an invocation's time goes in each mode, against the usual setup.

An example function (``demo_function``) that traces, logs and records metrics runs under the
package's Lambda emulator with AWS's runtime client (our minimal runtime loop where awslambdaric
has no wheels), exporting through real OTLP/HTTP exporters to the embedded receiver, which
answers after a simulated network delay. For each setup it prints the response latency the
caller saw, how long the invocation stayed open after the response, and the accounting of
spans, log records and metric points; then one invocation's span tree with its log records,
and the metrics.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
from typing import NamedTuple

from .testing import (
    InvocationRecord,
    LambdaEmulator,
    OTLPReceiver,
    ReceivedLogRecord,
    ReceivedMetricPoint,
    ReceivedSpan,
    awslambdaric_command,
    minimal_runtime_command,
)

ORDER_VALUES = (24.5, 12.0, 99.9, 5.25, 42.0, 18.35)  # one order per invocation, in USD
INVOCATIONS = len(ORDER_VALUES)
SPANS_PER_INVOCATION = 7  # the invocation span and six inside it
LOGS_PER_INVOCATION = 3
METRICS = ("orders", "order.value")  # a counter and a histogram: one point each per collection
COLLECTOR_LATENCY = 0.03  # seconds; a collector one region hop away


class Setup(NamedTuple):
    name: str
    demo_setup: str
    handler: str
    collections: int  # how often its metric reader collects in the run


SETUPS = (
    # Before each response; sync registers no extension, so there is no SIGTERM.
    Setup("sync", "sync", "otel_lambda_processor.demo_function.handler", INVOCATIONS),
    # After each response, and at SIGTERM.
    Setup("async", "async", "otel_lambda_processor.demo_function.handler", INVOCATIONS + 1),
    # At SIGTERM only.
    Setup(
        "finalize + BatchSpanProcessor",
        "finalize+batch",
        "otel_lambda_processor.demo_function.handler",
        1,
    ),
    # At each force_flush of the meter provider; the periodic timer never comes due.
    Setup(
        "BatchSpanProcessor + force_flush",
        "batch+flush",
        "otel_lambda_processor.demo_function.batch_handler",
        INVOCATIONS,
    ),
)


class Timeline(NamedTuple):
    """One invocation, in seconds from its start."""

    response: float
    exports: list[tuple[float, float]]  # (start, end) of each export request that carried it
    ended: float


class Count(NamedTuple):
    exported: int
    produced: int

    def __str__(self) -> str:
        return f"{self.exported}/{self.produced}"


class Totals(NamedTuple):
    """The metrics as the collector last heard them (cumulative)."""

    orders: float | None  # the counter
    value_count: int | None  # the order.value histogram
    value_sum: float | None


class Row(NamedTuple):
    setup: str
    response_ms: list[float]
    post_response_ms: list[float]
    spans: Count
    logs: Count
    points: Count
    totals: Totals
    timeline: Timeline | None
    received_spans: list[ReceivedSpan]
    received_logs: list[ReceivedLogRecord]

    def lost(self) -> bool:
        """Fewer items arrived than were produced, or the last metrics miss an order."""
        short = any(c.exported < c.produced for c in (self.spans, self.logs, self.points))
        orders, count, total = self.totals
        every_order = (
            orders == count == INVOCATIONS
            and total is not None
            and round(total, 2) == round(sum(ORDER_VALUES), 2)
        )
        return short or not every_order

    def extra(self) -> list[str]:
        """The signals of which more arrived than was produced."""
        counts = {"spans": self.spans, "log records": self.logs, "metric points": self.points}
        return [name for name, c in counts.items() if c.exported > c.produced]


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


def _launch(
    stack: contextlib.ExitStack,
    setup: Setup,
    command: object,
    receiver: OTLPReceiver,
    batch: OTLPReceiver,
) -> LambdaEmulator:
    emulator = stack.enter_context(
        LambdaEmulator(handler=setup.handler, function_name="demo-orders", timeout=10)
    )
    emulator.launch(
        command(setup.handler),  # type: ignore[operator]
        env={
            "DEMO_SETUP": setup.demo_setup,
            "DEMO_OTLP_ENDPOINT": receiver.base_endpoint,
            "DEMO_BATCH_ENDPOINT": batch.endpoint,
            # The default, pinned: one point per metric at every collection.
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "cumulative",
            "PYTHONPATH": os.pathsep.join(sys.path),
        },
    )
    return emulator


def _run(setup: Setup, emulator: LambdaEmulator, receiver: OTLPReceiver) -> Row:
    results = []
    for number, value in enumerate(ORDER_VALUES, 1001):
        result = emulator.invoke({"order": number, "amount": value})
        if result.status != "ok":
            raise RuntimeError(f"{setup.name}: {result}\n{emulator.output}")
        emulator.wait_idle(30)
        results.append(result)
    records = {r.request_id: r for r in emulator.invocations()}
    emulator.shutdown()  # SIGTERM: what finalize has kept goes out now
    spans, logs, points = receiver.spans, receiver.logs(), receiver.metric_points()
    post = [
        (r.ended - r.response) * 1000
        for r in records.values()
        if r.ended is not None and r.response is not None
    ]
    last = results[-1].request_id
    return Row(
        setup.name,
        [r.latency * 1000 for r in results],
        post,
        Count(len(spans), INVOCATIONS * SPANS_PER_INVOCATION),
        Count(len(logs), INVOCATIONS * LOGS_PER_INVOCATION),
        Count(len(points), setup.collections * len(METRICS)),
        _totals(points),
        _timeline(records[last], last, spans, logs, points),
        spans,
        logs,
    )


def _totals(points: list[ReceivedMetricPoint]) -> Totals:
    def last(name: str) -> ReceivedMetricPoint | None:
        found = [p for p in points if p.name == name]
        return max(found, key=lambda p: p.time_unix_nano) if found else None

    orders, values = last(METRICS[0]), last(METRICS[1])
    return Totals(
        orders.value if orders else None,
        values.count if values else None,
        values.sum if values else None,
    )


def _timeline(
    record: InvocationRecord,
    request_id: str,
    spans: list[ReceivedSpan],
    logs: list[ReceivedLogRecord],
    points: list[ReceivedMetricPoint],
) -> Timeline | None:
    started, response, ended = record.started, record.response, record.ended
    if response is None or ended is None:
        return None
    mine = [s for s in spans if s.attributes.get("faas.invocation_id") == request_id]
    traces = {s.span.trace_id for s in mine}
    arrivals = sorted(
        {s.received_at for s in mine}
        | {r.received_at for r in logs if r.trace_id in traces}
        | {p.received_at for p in points if started <= p.received_at <= ended}
    )
    exports = [(a - started, a - started + COLLECTOR_LATENCY) for a in arrivals]
    return Timeline(response - started, exports, ended - started)


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _tree(spans: list[ReceivedSpan], logs: list[ReceivedLogRecord]) -> list[str]:
    """The last invocation's spans, each with the log records emitted in it (by span id)."""
    roots = [s for s in spans if s.scope_name == "otel_lambda_processor"]
    if not roots:
        return []
    root = roots[-1]
    trace_id = root.span.trace_id
    children: dict[bytes, list[tuple[int, ReceivedSpan | ReceivedLogRecord]]] = {}
    for s in spans:
        if s.span.trace_id == trace_id:
            children.setdefault(s.span.parent_span_id, []).append((s.span.start_time_unix_nano, s))
    for r in logs:
        if r.trace_id == trace_id:
            children.setdefault(r.span_id, []).append((r.time_unix_nano, r))
    lines: list[str] = []

    def walk(span: ReceivedSpan, depth: int) -> None:
        ms = (span.span.end_time_unix_nano - span.span.start_time_unix_nano) / 1e6
        lines.append(f"{'  ' * depth}{span.name}  {ms:.1f} ms")
        for _, item in sorted(children.get(span.span.span_id, []), key=lambda c: c[0]):
            if isinstance(item, ReceivedSpan):
                walk(item, depth + 1)
            else:
                lines.append(f"{'  ' * (depth + 1)}[{item.severity_text}] {item.body}")

    walk(root, 0)
    attributes = ", ".join(
        f"{k}={root.attributes[k]}"
        for k in ("faas.trigger", "faas.coldstart")
        if k in root.attributes
    )
    lines.append(f"  ({attributes}; service.name={root.resource.get('service.name')})")
    return lines


def _metrics_lines(totals: Totals) -> list[str]:
    def shown(value: float | None, spec: str) -> str:
        return "—" if value is None else format(value, spec)

    return [
        f"metrics after the last invocation: orders = {shown(totals.orders, 'g')}; order.value "
        f"count {shown(totals.value_count, 'd')}, sum {shown(totals.value_sum, '.2f')} USD",
        f"  ({INVOCATIONS} orders placed, worth {sum(ORDER_VALUES):.2f} USD)",
    ]


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
        for i, (start, end) in enumerate(t.exports):
            axis.broken_barh(
                [(start * 1000, (end - start) * 1000)],
                (y - 0.15, 0.3),
                color="#dd8452",
                label="export" if y == 0 and i == 0 else None,
            )
        axis.plot(
            [t.response * 1000], [y], "k|", markersize=22, label="response sent" if y == 0 else None
        )
        axis.plot([t.ended * 1000], [y], "g>", label="extension next" if y == 0 else None)
    axis.set_yticks(range(len(rows)), [r.setup for r in reversed(rows)])
    axis.set_xlabel("ms since the invocation started (last invocation of each setup)")
    axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    figure.tight_layout()
    figure.savefig(path)
    print(f"\ntimeline written to {path}")


def main(plot: str | None = None) -> int:
    """Run the demo and print the table; returns a process exit code."""
    runtime, command = _runtime()
    print(
        f"otel-lambda-processor demo: {INVOCATIONS} invocations per setup, each with "
        f"{SPANS_PER_INVOCATION} spans, {LOGS_PER_INVOCATION} log records and an\norder counted "
        f"(a counter and a histogram), collector latency {COLLECTOR_LATENCY * 1000:.0f} ms; "
        f"the function run by\n{runtime} under the local Lambda emulator,\nexporting with "
        "otel_lambda_processor.otlp's OTLP/HTTP exporters (the usual setup: the official ones)\n"
    )
    with contextlib.ExitStack() as stack:  # on the way out, every process is stopped
        batch = stack.enter_context(OTLPReceiver())
        receivers = [stack.enter_context(OTLPReceiver(latency=COLLECTOR_LATENCY)) for _ in SETUPS]
        # The runtimes start side by side (init is not measured); each setup then runs alone.
        emulators = [
            _launch(stack, setup, command, receiver, batch)
            for setup, receiver in zip(SETUPS, receivers, strict=True)
        ]
        for setup, emulator in zip(SETUPS, emulators, strict=True):
            if not emulator.wait_ready(30):
                raise RuntimeError(f"{setup.name}: the function did not start:\n{emulator.output}")
        rows = [_run(*setup) for setup in zip(SETUPS, emulators, receivers, strict=True)]
    header = (
        f"{'setup':<32} {'response p50':>12} {'p95':>8} {'post-response p50':>17} "
        f"{'spans':>7} {'logs':>7} {'points':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        post = (
            f"{statistics.median(r.post_response_ms):14.1f} ms"
            if r.post_response_ms
            else f"{'—':>17}"
        )
        print(
            f"{r.setup:<32} {statistics.median(r.response_ms):9.1f} ms "
            f"{_p(r.response_ms, 0.95):5.1f} ms {post} {r.spans!s:>7} {r.logs!s:>7} "
            f"{r.points!s:>7}"
        )
    print(
        "\nresponse: what the caller waited; post-response: how long the invocation stayed open "
        "after it\n(billed, but nobody waits). sync and the usual setup make every caller wait "
        "for the export;\nasync exports after the response; finalize exports only on force_flush "
        "or at shutdown\n(SIGTERM), beside the BatchSpanProcessor. The usual setup flushes the "
        "tracer, meter and logger\nproviders in turn (the AWS Lambda instrumentation flushes the "
        "first two only, which would leave\nthe log records in memory, waiting for a timer that "
        "a frozen environment does not run).\nspans, logs (log records), points (metric "
        "points): exported/produced. A metric reader makes a\npoint per metric at each "
        "collection: after every invocation (sync, async, the usual flush) and\nat SIGTERM "
        "(async, finalize)."
    )
    print(
        "\nthe span tree of one invocation (async) with its log records (matched by span id),\n"
        "as the receiver decoded it:"
    )
    for line in _tree(rows[1].received_spans, rows[1].received_logs):
        print("  " + line)
    for line in _metrics_lines(rows[1].totals):
        print("  " + line)
    if plot:
        _plot(rows, plot)
    extra = [f"{r.setup} ({', '.join(r.extra())})" for r in rows if r.extra()]
    if extra:
        print(f"\nmore arrived than was produced in: {'; '.join(extra)}")
    lost = [r.setup for r in rows if r.lost()]
    if lost:
        print(f"\ntelemetry was lost in: {', '.join(lost)}")
    return 1 if lost else 0
