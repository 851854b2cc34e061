"""The local demo: where an invocation's time goes in each mode, against the usual setup.

An example function (``demo_function``) that traces, logs and records metrics runs under the
package's Lambda emulator with AWS's runtime client (where awslambdaric is missing, our minimal
runtime loop with the same hooks, and a line that says so), exporting through real OTLP/HTTP
exporters to the embedded receiver, which answers after a simulated network delay. For each
setup it prints the response latency the caller saw, how long the invocation stayed open after
the response, and the accounting of spans, log records and metric points; then one invocation's
span tree with its log records, the metrics, the first invocation's trace with the init span of
its cold start (each environment starts when its setup runs, as Lambda starts one for a
request), and which invocations per-invocation sampling kept and why (``async + sampling``: one
slow order, one failing order, the rest ordinary; its accounting adds the processor's
``sampled_out_spans`` and ``dropped_spans``, which the function reports as metrics).
``--plot FILE`` draws the last invocation of each setup but ``async + sampling`` (its timing is
async's): when the response left and when each export request went out.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from opentelemetry.proto.trace.v1.trace_pb2 import Status

from .export.config import KEEP_SLOWER_THAN_ENV, SAMPLE_RATIO_ENV
from .instrumentation.cold_start import INIT_SPAN
from .testing import (
    InvocationRecord,
    LambdaEmulator,
    OTLPReceiver,
    ReceivedLogRecord,
    ReceivedMetricPoint,
    ReceivedSpan,
    awslambdaric_command,
)
from .testing.runtime import runtime_command

ORDER_VALUES = (24.5, 12.0, 99.9, 5.25, 42.0, 18.35)  # one order per invocation, in USD
INVOCATIONS = len(ORDER_VALUES)
SPANS_PER_INVOCATION = 7  # the invocation span and six inside it
INIT_SPANS = 1  # the first invocation's trace also holds the cold start's init span
LOGS_PER_INVOCATION = 3
METRICS = ("orders", "order.value")  # a counter and a histogram: one point each per collection
COLLECTOR_LATENCY = 0.03  # seconds; a collector one region hop away
PLOT_FORMATS = ("png", "svg", "pdf")
#: Which signal an export request carried, as the plot names it.
SIGNALS = ("spans", "log records", "metric points")
#: The span processor's counters, as ``demo_function.COUNTERS`` reports them (with sampling).
COUNTERS = ("spans.sampled_out", "spans.dropped")
SAMPLE_RATIO = 0.2  # async + sampling keeps about one ordinary invocation in five
KEEP_SLOWER_THAN_MS = 100  # and every invocation slower than this
SLOW_ORDER, FAILING_ORDER = 1003, 1005  # in async + sampling only
SLOW_QUERY_MS = 150  # how long the slow order's last query takes


class Order(NamedTuple):
    """One invocation's event."""

    number: int
    amount: float  # USD
    slow_ms: int = 0  # its last query takes this long
    fails: bool = False  # rendering its receipt raises, after it was counted: the invocation fails

    def event(self) -> dict[str, Any]:
        event: dict[str, Any] = {"order": self.number, "amount": self.amount}
        if self.slow_ms:
            event["slow_ms"] = self.slow_ms
        if self.fails:
            event["fails"] = True
        return event


ORDERS = tuple(Order(number, value) for number, value in enumerate(ORDER_VALUES, 1001))
#: The same orders, one slow and one failing: what sampling must keep whatever the ratio.
SAMPLED_ORDERS = tuple(
    order._replace(slow_ms=SLOW_QUERY_MS)
    if order.number == SLOW_ORDER
    else order._replace(fails=True)
    if order.number == FAILING_ORDER
    else order
    for order in ORDERS
)


class Setup(NamedTuple):
    name: str
    demo_setup: str
    handler: str
    collections: int  # how often its metric reader collects in the run
    orders: tuple[Order, ...] = ORDERS
    #: Per-invocation sampling (LAMBDA_SPAN_PROCESSOR_SAMPLE_RATIO); ``None``: off.
    sample_ratio: float | None = None
    keep_slower_than_ms: float | None = None  # LAMBDA_SPAN_PROCESSOR_KEEP_SLOWER_THAN_MS

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metrics its function reports: with sampling, the processor's counters too."""
        return METRICS if self.sample_ratio is None else METRICS + COUNTERS

    def environment(self) -> dict[str, str]:
        """Its sampling configuration, as Lambda gives a function its own; pinned off in the
        other setups, so that the variables of the shell the demo runs in change nothing."""
        ratio, slower = self.sample_ratio, self.keep_slower_than_ms
        return {
            SAMPLE_RATIO_ENV: "1" if ratio is None else f"{ratio:g}",
            KEEP_SLOWER_THAN_ENV: "" if slower is None else f"{slower:g}",
        }


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
    # async, sampled per invocation: an export after each response, and at SIGTERM.
    Setup(
        "async + sampling",
        "async+sampling",
        "otel_lambda_processor.demo_function.handler",
        INVOCATIONS + 1,
        SAMPLED_ORDERS,
        SAMPLE_RATIO,
        KEEP_SLOWER_THAN_MS,
    ),
)


class Export(NamedTuple):
    """One export request that carried the invocation's telemetry, in seconds from its start."""

    signal: str  # one of SIGNALS
    start: float  # when it reached the collector
    end: float  # when the collector answered


class Timeline(NamedTuple):
    """One invocation, in seconds from its start."""

    response: float
    exports: list[Export]
    ended: float  # the runtime, and every extension subscribed to INVOKE, called next again
    sigterm: float | None  # when the environment was shut down with SIGTERM, if it was


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


class Outcome(NamedTuple):
    """What the collector got of one invocation in a setup that samples."""

    order: Order
    ended: int  # the spans it made
    arrived: int  # the spans of its trace at the receiver
    error: bool  # one of those has status ERROR
    duration_ms: float | None  # its invocation span's, if that arrived

    @property
    def kept(self) -> bool:
        return self.arrived > 0


class Sampling(NamedTuple):
    """What a sampling setup did: its settings, the processor's counters as their last metric
    points said (``None``: none arrived), each invocation's outcome, and the spans that arrived
    in the trace of none of its invocations."""

    ratio: float
    keep_slower_than_ms: float | None
    sampled_out: int | None
    dropped: int | None
    outcomes: list[Outcome]
    strays: int

    def why(self, outcome: Outcome) -> str:
        """Why a kept invocation was kept, as far as the collector can tell."""
        slower, ms = self.keep_slower_than_ms, outcome.duration_ms
        if outcome.error:
            return "error"
        if slower is not None and ms is not None and ms > slower:
            return f"slow: {ms:.0f} ms"
        return "ordinary, by chance" if self.ratio < 1 else "ordinary"

    def problems(self, spans: Count) -> list[str]:
        """Where the run breaks sampling's promises: exported + dropped + sampled out ==
        ended; the processor's count matches the invocations missing at the collector; each
        invocation whole or not at all; failed and slow ones kept."""
        found = []
        if self.sampled_out is None or self.dropped is None:
            found.append("the processor's counters did not arrive")
        else:
            total = spans.exported + self.dropped + self.sampled_out
            if total != spans.produced:
                found.append(
                    f"exported + dropped + sampled out = {total}, but {spans.produced} ended"
                )
            missing = sum(v.ended for v in self.outcomes if not v.kept)
            if missing != self.sampled_out:
                found.append(
                    f"{missing} spans of invocations that did not arrive, "
                    f"but {self.sampled_out} counted as sampled out"
                )
        for v in self.outcomes:
            if v.kept and v.arrived != v.ended:
                found.append(f"order {v.order.number}: {v.arrived} of its {v.ended} spans arrived")
            if not v.kept and (v.order.fails or v.order.slow_ms):
                what = "failed" if v.order.fails else "slow"
                found.append(f"order {v.order.number} ({what}) was sampled out")
        if self.strays:
            found.append(f"{self.strays} spans arrived outside the trace of any invocation")
        return found


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
    extensions: list[tuple[str, list[str]]]  # (name, events) of each extension that registered
    key: str  # the setup's DEMO_SETUP
    sampling: Sampling | None = None  # where the setup samples per invocation

    def spans_accounted(self) -> int:
        """Spans exported, or sampled out by the processor's count: never lost."""
        sampled_out = self.sampling.sampled_out if self.sampling else None
        return self.spans.exported + (sampled_out or 0)

    def lost(self) -> bool:
        """Fewer items arrived (or were sampled out) than were produced, or the last metrics
        miss an order."""
        short = self.spans_accounted() < self.spans.produced or any(
            c.exported < c.produced for c in (self.logs, self.points)
        )
        orders, count, total = self.totals
        every_order = (
            orders == count == INVOCATIONS
            and total is not None
            and round(total, 2) == round(sum(ORDER_VALUES), 2)
        )
        return short or not every_order

    def extra(self) -> list[str]:
        """The signals of which more arrived than was produced."""
        extra = ["spans"] if self.spans_accounted() > self.spans.produced else []
        counts = {"log records": self.logs, "metric points": self.points}
        return extra + [name for name, c in counts.items() if c.exported > c.produced]


class Runtime(NamedTuple):
    name: str  # what runs the function, for the header
    command: Callable[[str], list[str]]
    fallback: str | None  # why AWS's runtime client is not used, and how to get it


def _hooked_minimal_runtime(handler: str) -> list[str]:
    return runtime_command(handler, hooks=True)


def _runtime() -> Runtime:
    """AWS's runtime client where it is installed (Linux only), else our minimal loop with the
    same hooks: the coordinator hears "response sent" from either, as on Lambda."""
    if sys.platform == "linux":
        # The package and its native part; neither is imported here.
        if all(importlib.util.find_spec(name) for name in ("awslambdaric", "runtime_client")):
            return Runtime("AWS's runtime client (awslambdaric)", awslambdaric_command, None)
        fallback = (
            "no awslambdaric: using the minimal runtime loop instead "
            "(pip install 'otel-lambda-processor[demo]')"
        )
    else:
        fallback = (
            "awslambdaric runs on Linux only ([demo] extra): using the minimal runtime loop "
            f"on {sys.platform}"
        )
    return Runtime(
        "the package's minimal runtime loop (hooked like AWS's)",
        _hooked_minimal_runtime,
        fallback,
    )


def _launch(
    stack: contextlib.ExitStack,
    setup: Setup,
    command: Callable[[str], list[str]],
    receiver: OTLPReceiver,
    batch: OTLPReceiver,
) -> LambdaEmulator:
    emulator = stack.enter_context(
        LambdaEmulator(handler=setup.handler, function_name="demo-orders", timeout=10)
    )
    emulator.launch(
        command(setup.handler),
        env={
            "DEMO_SETUP": setup.demo_setup,
            "DEMO_OTLP_ENDPOINT": receiver.base_endpoint,
            "DEMO_BATCH_ENDPOINT": batch.endpoint,
            # The default, pinned: one point per metric at every collection.
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "cumulative",
            "PYTHONPATH": os.pathsep.join(sys.path),
            **setup.environment(),
        },
    )
    return emulator


def _run(setup: Setup, emulator: LambdaEmulator, receiver: OTLPReceiver) -> Row:
    results = []
    for order in setup.orders:
        result = emulator.invoke(order.event())
        if result.status != ("error" if order.fails else "ok"):
            raise RuntimeError(f"{setup.name}: {result}\n{emulator.output}")
        emulator.wait_idle(30)
        results.append(result)
    records = {r.request_id: r for r in emulator.invocations()}
    extensions = emulator.extensions()
    shutdown_at = time.monotonic()
    # SIGTERM (only where an extension registered): what finalize has kept goes out now.
    sigterm = shutdown_at if emulator.shutdown().sigterm_sent else None
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
        Count(len(spans), INVOCATIONS * SPANS_PER_INVOCATION + INIT_SPANS),
        Count(len(logs), INVOCATIONS * LOGS_PER_INVOCATION),
        Count(len(points), setup.collections * len(setup.metrics)),
        _totals(points),
        _timeline(records[last], last, spans, logs, points, sigterm),
        spans,
        logs,
        extensions,
        setup.demo_setup,
        _sampling(setup, [r.request_id for r in results], spans, points),
    )


def _last_point(points: list[ReceivedMetricPoint], name: str) -> ReceivedMetricPoint | None:
    found = [p for p in points if p.name == name]
    return max(found, key=lambda p: p.time_unix_nano) if found else None


def _sampling(
    setup: Setup,
    request_ids: list[str],
    spans: list[ReceivedSpan],
    points: list[ReceivedMetricPoint],
) -> Sampling | None:
    """What became of each invocation of a setup that samples, from what the receiver holds."""
    if setup.sample_ratio is None:
        return None
    roots = {s.attributes.get("faas.invocation_id"): s for s in _invocation_spans(spans)}
    outcomes = []
    placed = 0
    for index, (order, request_id) in enumerate(zip(setup.orders, request_ids, strict=True)):
        ended = SPANS_PER_INVOCATION + (INIT_SPANS if index == 0 else 0)
        root = roots.get(request_id)
        if root is None:
            outcomes.append(Outcome(order, ended, 0, False, None))
            continue
        mine = [s for s in spans if s.span.trace_id == root.span.trace_id]
        placed += len(mine)
        outcomes.append(
            Outcome(
                order,
                ended,
                len(mine),
                any(s.span.status.code == Status.STATUS_CODE_ERROR for s in mine),
                (root.span.end_time_unix_nano - root.span.start_time_unix_nano) / 1e6,
            )
        )
    counters = [_last_point(points, name) for name in COUNTERS]
    sampled_out, dropped = (
        None if p is None or p.value is None else int(p.value) for p in counters
    )
    return Sampling(
        setup.sample_ratio,
        setup.keep_slower_than_ms,
        sampled_out,
        dropped,
        outcomes,
        len(spans) - placed,
    )


def _totals(points: list[ReceivedMetricPoint]) -> Totals:
    orders, values = _last_point(points, METRICS[0]), _last_point(points, METRICS[1])
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
    sigterm: float | None,
) -> Timeline | None:
    """The export requests (one arrival time each) that carried the invocation's spans, the log
    records of its trace, and the metric points collected while it was open or at SIGTERM."""
    started, response, ended = record.started, record.response, record.ended
    if response is None or ended is None:
        return None
    mine = [s for s in spans if s.attributes.get("faas.invocation_id") == request_id]
    traces = {s.span.trace_id for s in mine}
    arrivals = {
        SIGNALS[0]: {s.received_at for s in mine},
        SIGNALS[1]: {r.received_at for r in logs if r.trace_id in traces},
        # Collected while it was open, or at SIGTERM (async and finalize collect then too).
        SIGNALS[2]: {
            p.received_at
            for p in points
            if started <= p.received_at <= ended
            or (sigterm is not None and p.received_at >= sigterm)
        },
    }
    exports = sorted(
        (
            Export(signal, at - started, at - started + COLLECTOR_LATENCY)
            for signal, times in arrivals.items()
            for at in times
        ),
        key=lambda export: export.start,
    )
    return Timeline(
        response - started,
        exports,
        ended - started,
        None if sigterm is None else sigterm - started,
    )


def _spans_accounting(spans: Count, sampling: Sampling) -> str:
    """exported + sampled out + dropped = ended, the last two by the processor's counters."""
    if sampling.sampled_out is None or sampling.dropped is None:
        return (
            f"spans: {spans.exported} exported of {spans.produced} ended; the processor's "
            "counters did not arrive"
        )
    total = spans.exported + sampling.sampled_out + sampling.dropped
    return (
        f"spans: {spans.exported} exported + {sampling.sampled_out} sampled out + "
        f"{sampling.dropped} dropped {'=' if total == spans.produced else '!='} {spans.produced} "
        "ended (the processor's counters)"
    )


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _invocation_spans(spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
    """The traced handler's invocation spans, in the order of their invocations."""
    found = [s for s in spans if s.scope_name == "otel_lambda_processor"]
    invocations = [s for s in found if "faas.trigger" in s.attributes]  # not the init span
    return sorted(invocations, key=lambda s: s.span.start_time_unix_nano)


def _tree(
    spans: list[ReceivedSpan], logs: list[ReceivedLogRecord], root: ReceivedSpan
) -> list[str]:
    """The spans of ``root``'s trace under it, each with the log records emitted in it (by span
    id), in the order they started."""
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
        early = span.span.start_time_unix_nano < root.span.start_time_unix_nano  # the init span
        until = "  (until the invocation began)" if early else ""
        lines.append(f"{'  ' * depth}{span.name}  {ms:.1f} ms{until}")
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


def _plot_problem(path: str) -> str | None:
    """Why ``--plot path`` cannot be written, found before the demo runs; ``None`` if it can."""
    if os.path.isdir(path):
        return f"--plot {path}: that is a directory"
    extension = os.path.splitext(path)[1].lower().lstrip(".")
    if extension not in PLOT_FORMATS:
        return f"--plot {path}: the file name must end in .png, .svg or .pdf"
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        return f"--plot {path}: there is no directory {directory}"
    if not os.access(directory, os.W_OK):
        return f"--plot {path}: the directory {directory} is not writable"
    if importlib.util.find_spec("matplotlib") is None:
        return "--plot needs matplotlib: pip install 'otel-lambda-processor[plot]'"
    return None


def _extension_note(extensions: list[tuple[str, list[str]]]) -> str:
    if not extensions:
        return "no extension"
    events = sorted({event for _, subscribed in extensions for event in subscribed})
    return f"extension for {', '.join(events)}" if events else "extension, no events"


COLORS = {
    "handler": "#9ecae1",
    SIGNALS[0]: "#dd8452",
    SIGNALS[1]: "#55a868",
    SIGNALS[2]: "#8172b3",
    "response": "black",
    "next": "#2ca02c",
    "sigterm": "#c44e52",
}
LANES = {SIGNALS[0]: 0.22, SIGNALS[1]: 0.0, SIGNALS[2]: -0.22}  # export bars, around the row


def _figure(rows: list[Row], runtime: str) -> Any:
    """The timeline of each setup's last invocation. Every mark has an SVG id (its gid):
    ``handler:<setup>``, ``export:<setup>:<signal>:<n>``, ``response-sent:<setup>``,
    ``extension-next:<setup>`` and ``sigterm:<setup>``, with ``<setup>`` the row's key."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    figure = Figure(figsize=(10, 1.9 + 0.9 * len(rows)), layout="constrained")
    axis = figure.add_subplot()
    shown: set[str] = set()
    right = 0.0
    for y, row in enumerate(reversed(rows)):
        t = row.timeline
        if t is None:
            continue
        ms = {"response": t.response * 1000, "ended": t.ended * 1000}
        axis.barh(y, ms["response"], height=0.75, color=COLORS["handler"], gid=f"handler:{row.key}")
        for n, export in enumerate(t.exports):
            axis.barh(
                y + LANES[export.signal],
                (export.end - export.start) * 1000,
                left=export.start * 1000,
                height=0.18,
                color=COLORS[export.signal],
                gid=f"export:{row.key}:{export.signal.split()[0]}:{n}",
            )
            shown.add(export.signal)
            right = max(right, export.end * 1000)
        axis.plot(
            [ms["response"]],
            [y],
            marker="|",
            markersize=30,
            markeredgewidth=2.5,
            color=COLORS["response"],
            gid=f"response-sent:{row.key}",
        )
        right = max(right, ms["ended"])
        if any("INVOKE" in events for _, events in row.extensions):
            # Only an extension subscribed to INVOKE calls next after each invocation.
            axis.plot(
                [ms["ended"]],
                [y],
                marker=">",
                markersize=9,
                linestyle="none",
                color=COLORS["next"],
                gid=f"extension-next:{row.key}",
            )
            shown.add("next")
        if t.sigterm is not None:
            at = t.sigterm * 1000
            axis.plot(
                [at, at],
                [y - 0.42, y + 0.42],
                linestyle="--",
                linewidth=1.5,
                color=COLORS["sigterm"],
                gid=f"sigterm:{row.key}",
            )
            shown.add("sigterm")
            right = max(right, at)
    axis.set_xlim(0, right * 1.04 + 1)
    axis.set_ylim(-0.6, len(rows) - 0.4)
    axis.set_yticks(
        range(len(rows)),
        [f"{r.setup}\n({_extension_note(r.extensions)})" for r in reversed(rows)],
    )
    axis.set_xlabel("ms since the invocation started")
    axis.grid(axis="x", alpha=0.3)
    axis.set_title(
        "When each setup exports an invocation's telemetry, and who waits for it",
        fontsize="large",
        pad=20,
    )
    axis.text(
        0.5,
        1.015,
        f"the last of {INVOCATIONS} invocations per setup; collector "
        f"{COLLECTOR_LATENCY * 1000:.0f} ms away; run by {runtime}",
        transform=axis.transAxes,
        horizontalalignment="center",
        verticalalignment="bottom",
        fontsize="small",
    )
    handles: list[Any] = [
        Patch(color=COLORS["handler"], label="invocation until the response"),
        Line2D(
            [],
            [],
            marker="|",
            markersize=12,
            markeredgewidth=2.5,
            linestyle="none",
            color=COLORS["response"],
            label="response sent",
        ),
    ]
    handles += [
        Patch(color=COLORS[signal], label=f"export request: {signal}")
        for signal in SIGNALS
        if signal in shown
    ]
    if "next" in shown:
        handles.append(
            Line2D(
                [],
                [],
                marker=">",
                linestyle="none",
                color=COLORS["next"],
                label="extension calls next (the invocation ends)",
            )
        )
    if "sigterm" in shown:
        handles.append(
            Line2D(
                [],
                [],
                linestyle="--",
                color=COLORS["sigterm"],
                label="SIGTERM (the environment shuts down)",
            )
        )
    legend = figure.legend(
        handles=handles, loc="outside lower center", ncols=3, frameon=False, fontsize="small"
    )
    legend.set_gid("legend")
    axis.patch.set_gid("plot-area")
    return figure


def _plot(rows: list[Row], path: str, runtime: str) -> str | None:
    """Draw the timeline to ``path``; the reason it could not, or ``None``."""
    try:
        figure = _figure(rows, runtime)
    except ImportError as error:
        return f"--plot needs matplotlib ({error}): pip install 'otel-lambda-processor[plot]'"
    picture = io.BytesIO()  # drawn in full first: a file is either written whole or not at all
    figure.savefig(picture, format=os.path.splitext(path)[1].lower().lstrip("."))
    try:
        with open(path, "wb") as file:
            file.write(picture.getvalue())
    except OSError as error:
        return f"--plot {path}: {error.strerror or error}"
    return None


def run_setups(
    setups: Iterable[Setup], command: Callable[[str], list[str]] | None = None
) -> list[Row]:
    """Run each setup's function in its own environment (started when the setup runs, as Lambda
    starts one for a request) and collect its row. ``command``: what runs the function (default:
    AWS's runtime client where installed, else the minimal loop). Every process is stopped on
    the way out, however it is left."""
    if command is None:
        command = _runtime().command
    with contextlib.ExitStack() as stack:
        batch = stack.enter_context(OTLPReceiver())
        rows = []
        for setup in setups:
            # The first invocation's init span then covers that environment's init alone.
            receiver = stack.enter_context(OTLPReceiver(latency=COLLECTOR_LATENCY))
            emulator = _launch(stack, setup, command, receiver, batch)
            if not emulator.wait_ready(30):
                raise RuntimeError(f"{setup.name}: the function did not start:\n{emulator.output}")
            rows.append(_run(setup, emulator, receiver))
    return rows


def _listed(head: str, items: list[str], tail: str = "") -> list[str]:
    """``  head: a, b, c tail`` in lines of at most 100 columns, never splitting an item."""
    lines = [f"  {head}:"]
    indent = " " * (len(head) + 4)
    words = [f"{item}," for item in items[:-1]] + [f"{items[-1]}{tail}" if items else f"none{tail}"]
    for word in words:
        if len(lines[-1]) + 1 + len(word) > 100:
            lines.append(indent + word)
        else:
            lines[-1] += " " + word
    return lines


def _sampling_lines(row: Row, sampling: Sampling) -> list[str]:
    """Which invocations sampling kept and why (as the collector can tell), which it sampled
    out."""
    settings = f"{SAMPLE_RATIO_ENV}={sampling.ratio:g}"
    if sampling.keep_slower_than_ms is not None:
        settings += f", {KEEP_SLOWER_THAN_ENV}={sampling.keep_slower_than_ms:g}"
    special = [
        f"order {v.order.number} waited {v.order.slow_ms} ms for a query"
        if v.order.slow_ms
        else f"order {v.order.number} failed"
        for v in sampling.outcomes
        if v.order.slow_ms or v.order.fails
    ]
    return [
        f"per-invocation sampling in {row.setup}, configured as on Lambda:",
        f"  {settings}",
        "each invocation is decided once its handler is done, and exported or sampled out whole;",
        ", ".join([*special, "the others are ordinary:"]),
        *_listed(
            "kept",
            [f"{v.order.number} ({sampling.why(v)})" for v in sampling.outcomes if v.kept],
        ),
        *_listed(
            "sampled out",
            [str(v.order.number) for v in sampling.outcomes if not v.kept],
            f" (an ordinary invocation is kept with probability {sampling.ratio:g})",
        ),
        "log records and metric points are not sampled.",
    ]


def main(plot: str | None = None) -> int:
    """Run the demo and print the table; returns a process exit code: 0, 1 if telemetry was
    lost, sampling broke its rules or the picture could not be written, 2 if ``plot`` names a
    file that cannot be."""
    problem = _plot_problem(plot) if plot else None
    if problem:
        print(f"otel-lambda-processor demo: {problem}", file=sys.stderr)
        return 2
    runtime, command, fallback = _runtime()
    if fallback:
        print(fallback)
    print(
        f"otel-lambda-processor demo: {INVOCATIONS} invocations per setup, each with "
        f"{SPANS_PER_INVOCATION} spans, {LOGS_PER_INVOCATION} log records and an\norder counted "
        f"(a counter and a histogram), collector latency {COLLECTOR_LATENCY * 1000:.0f} ms; "
        f"the function run by\n{runtime} under the local Lambda emulator,\nexporting with "
        "otel_lambda_processor.otlp's OTLP/HTTP exporters (the usual setup: the official ones)\n"
    )
    rows = run_setups(SETUPS, command)
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
        if r.sampling is not None:
            print("  " + _spans_accounting(r.spans, r.sampling))
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
        "(async, finalize). Each environment's first invocation also has the init span\nof "
        "its cold start. async + sampling: async with per-invocation sampling (below); the line "
        "under\nits row accounts for its spans by the processor's counters, which its function "
        "reports as two\nmore metrics (two more points per collection)."
    )
    print(
        "\nthe span tree of one invocation (async) with its log records (matched by span id),\n"
        "as the receiver decoded it:"
    )
    invocations = _invocation_spans(rows[1].received_spans)
    if invocations:
        for line in _tree(rows[1].received_spans, rows[1].received_logs, invocations[-1]):
            print("  " + line)
    for line in _metrics_lines(rows[1].totals):
        print("  " + line)
    if invocations:
        print(
            "\nthe first invocation of that environment was a cold start: its trace also holds "
            f"the init span\n({INIT_SPAN}: from the process start, its imports and set-up, to "
            "the invocation's start):"
        )
        for line in _tree(rows[1].received_spans, [], invocations[0]):
            print("  " + line)
    broken = []
    for r in rows:
        if r.sampling is not None:
            print("\n" + "\n".join(_sampling_lines(r, r.sampling)))
            problems = r.sampling.problems(r.spans)
            if problems:
                broken.append(f"{r.setup}: {'; '.join(problems)}")
    # The picture is about when each mode exports: sampling exports when async does.
    plotted = [r for r in rows if r.sampling is None]
    failed = _plot(plotted, plot, runtime) if plot else None
    if failed:
        print(f"otel-lambda-processor demo: {failed}", file=sys.stderr)
    elif plot:
        print(f"\ntimeline written to {plot}")
    extra = [f"{r.setup} ({', '.join(r.extra())})" for r in rows if r.extra()]
    if extra:
        print(f"\nmore arrived than was produced in: {'; '.join(extra)}")
    lost = [r.setup for r in rows if r.lost()]
    if lost:
        print(f"\ntelemetry was lost in: {', '.join(lost)}")
    if broken:
        print(f"\nsampling did not keep its promises in {'; '.join(broken)}")
    return 1 if lost or failed or broken else 0
