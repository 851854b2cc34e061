"""Running the demo's setups: each in its own emulated Lambda environment, with AWS's runtime
client where it is installed, and what the receiver got of it, collected into a row.

Owns the environments, the invocations and the reading of the receiver; must not print (the
report does) nor draw (:mod:`.plot`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import time
from collections.abc import Callable, Iterable
from typing import NamedTuple

from opentelemetry.proto.trace.v1.trace_pb2 import Status

from ..testing import (
    InvocationRecord,
    LambdaEmulator,
    OTLPReceiver,
    ReceivedLogRecord,
    ReceivedMetricPoint,
    ReceivedSpan,
    awslambdaric_command,
)
from ..testing.runtime import runtime_command
from .model import (
    COLLECTOR_LATENCY,
    COUNTERS,
    INIT_SPANS,
    INVOCATIONS,
    LOGS_PER_INVOCATION,
    METRICS,
    SIGNALS,
    SPANS_PER_INVOCATION,
    Count,
    Export,
    Outcome,
    Row,
    Sampling,
    Setup,
    Timeline,
    Totals,
)


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


def _invocation_spans(spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
    """The traced handler's invocation spans, in the order of their invocations."""
    found = [s for s in spans if s.scope_name == "otel_lambda_processor"]
    invocations = [s for s in found if "faas.trigger" in s.attributes]  # not the init span
    return sorted(invocations, key=lambda s: s.span.start_time_unix_nano)


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
