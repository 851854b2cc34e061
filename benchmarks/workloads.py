"""Owns the batches the encoder and export questions time: spans, log records and metrics, values
repeated or all distinct, as a Lambda function makes them. Must not time anything or make rows.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricsData
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.trace import Tracer

#: workload name: whether every string value is unique to its span, record or point
WORKLOADS = {"repeated values": False, "distinct values": True}


def lambda_spans(count: int, distinct: bool) -> list[ReadableSpan]:
    """``count`` spans whose attribute values mostly repeat, or (``distinct``) the same spans
    with every string value unique: real traces carry request ids, SQL, URLs and user agents
    that never repeat."""
    return _spans(count, _distinct_attributes if distinct else _repeated_attributes)


def lambda_invocation(
    count: int, distinct: bool, request_id: str, *, failed: bool = False, one_trace: bool = True
) -> list[ReadableSpan]:
    """One invocation's ``count`` spans in the order they end, as a handler makes them: its
    invocation span (``faas.invocation_id`` = ``request_id``, as ``traced_handler`` sets it) ends
    last, the others are its children with :func:`lambda_spans`' attributes (``distinct``) and
    events, and no error status. ``failed``: the invocation span has status ERROR (the handler
    raised). ``one_trace=False``: each of the others continues a trace of its own instead, under a
    sampled remote parent (a batch whose records carry their producers' trace context)."""
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, StatusCode, TraceFlags

    attributes = _distinct_attributes if distinct else _repeated_attributes
    provider = TracerProvider(resource=_resource(), shutdown_on_exit=False)
    tracers = _tracers(provider)
    invocation = tracers[2].start_span(
        "orders handler",
        kind=SpanKind.SERVER,
        attributes={"faas.invocation_id": request_id, "faas.trigger": "http"},
    )
    parent = trace.set_span_in_context(invocation)
    spans: list[ReadableSpan] = []
    for i in range(count - 1):
        if not one_trace:
            producer = SpanContext(
                (i + 1) * 0x9E3779B97F4A7C15, i + 1, is_remote=True, trace_flags=TraceFlags(1)
            )
            parent = trace.set_span_in_context(NonRecordingSpan(producer))
        span = tracers[i % 3].start_span(f"step {i % 20}", parent, attributes=attributes(i))
        if i % 10 == 0:
            span.add_event("retry", {"attempt": 1 + i % 3})
        span.end()
        spans.append(span)  # type: ignore[arg-type]
    if failed:
        invocation.set_status(StatusCode.ERROR, "upstream unavailable")
    invocation.end()
    spans.append(invocation)  # type: ignore[arg-type]
    return spans


# -- spans --------------------------------------------------------------------------------------
def _tracers(provider: TracerProvider) -> list[Tracer]:
    """The three scopes a Lambda function's spans come from: two instrumentations and its own."""
    return [
        provider.get_tracer("opentelemetry.instrumentation.botocore", "0.66b1"),
        provider.get_tracer("opentelemetry.instrumentation.urllib3", "0.66b1"),
        provider.get_tracer("orders", "2.3.1"),
    ]


def _spans(count: int, attributes: Callable[[int], dict[str, Any]]) -> list[ReadableSpan]:
    """A Lambda function's spans: one resource, three scopes interleaved (span ``i`` from scope
    ``i % 3``, with ``attributes(i)``), an event on some, an error status on a few."""
    from opentelemetry.trace import StatusCode

    provider = TracerProvider(resource=_resource(), shutdown_on_exit=False)
    tracers = _tracers(provider)
    spans: list[ReadableSpan] = []
    for i in range(count):
        tracer = tracers[i % 3]
        with tracer.start_as_current_span(f"step {i % 20}", attributes=attributes(i)) as span:
            if i % 10 == 0:
                span.add_event("retry", {"attempt": 1 + i % 3})
            if i % 50 == 0:
                span.set_status(StatusCode.ERROR, "upstream unavailable")
        spans.append(span)  # type: ignore[arg-type]
    return spans


def _repeated_attributes(i: int) -> dict[str, Any]:
    """HTTP, DB and queue attributes, most values shared between spans, a few distinct."""
    if i % 3 == 0:
        return {
            "rpc.system": "aws-api",
            "rpc.service": "DynamoDB",
            "rpc.method": "GetItem",
            "aws.region": "eu-west-1",
            "aws.dynamodb.table_names": ("orders",),
            "aws.request_id": f"{i:08X}-ABCD-4C2E-9F3A-1B2C3D4E5F60",
        }
    if i % 3 == 1:
        return {
            "http.request.method": "POST",
            "url.full": f"https://api.example.com/v1/items/{i % 500}",
            "server.address": "api.example.com",
            "http.response.status_code": 200 if i % 50 else 503,
            "http.request.body.size": 512 + i % 97,
        }
    return {
        "order.id": f"ord-{i}",
        "order.items": i % 12,
        "order.total": (i % 1000) / 7,
        "customer.tier": ("free", "pro", "enterprise")[i % 3],
    }


def _distinct_attributes(i: int) -> dict[str, Any]:
    """The same keys, types and counts, but every string value unique to its span (request
    ids, SQL with ids, full URLs with query strings, user agents) and ints and floats varied."""
    uid = f"{i * 2654435761 % 2**32:08x}-{i % 65536:04x}-4c2e-9f3a-{i * 40503 % 2**48:012x}"
    if i % 3 == 0:
        return {
            "rpc.system": f"aws-api/{uid}",
            "rpc.service": f"DynamoDB.{uid[:8]}",
            "rpc.method": f"GetItem#{i}",
            "db.query.text": (
                f"SELECT id, status, total FROM orders WHERE customer_id = {i * 7919} "
                f"AND created_at > '2024-{1 + i % 12:02d}-{1 + i % 28:02d}' LIMIT {1 + i % 100}"
            ),
            "aws.dynamodb.table_names": (f"orders-{uid[:8]}",),
            "aws.request_id": uid.upper(),
        }
    if i % 3 == 1:
        return {
            "http.request.method": f"POST {uid}",
            "url.full": (
                f"https://api.example.com/v1/items/{i}?customer={i * 7919}&session={uid}"
                f"&page={i % 40}&sort=created_at"
            ),
            "user_agent.original": (
                f"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                f"Chrome/{100 + i % 30}.0.{i}.{i % 200} Safari/537.36"
            ),
            "http.response.status_code": 100 + i * 7 % 500,
            "http.request.body.size": i * 2654435761 % 2**31,
        }
    return {
        "order.id": f"ord-{uid}",
        "order.items": i * 40503 % 100_000,
        "order.total": i * 1.37 + (i % 97) / 7,
        "customer.tier": f"tier-{i}-{uid[-6:]}",
    }


# -- log records and metrics -------------------------------------------------------------------
def _resource() -> Resource:
    """A Lambda function's resource, as every workload carries it."""
    from otel_lambda_processor import lambda_resource

    return lambda_resource().merge(Resource({"service.version": "2.3.1"}))


def _uid(i: int) -> str:
    return f"{i * 2654435761 % 2**32:08x}-{i % 65536:04x}-4c2e-9f3a-{i * 40503 % 2**48:012x}"


class _Keep(LogRecordProcessor):
    def __init__(self) -> None:
        self.records: list[Any] = []

    def on_emit(self, log_record: Any) -> None:
        self.records.append(log_record)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def _failure(message: str) -> BaseException:
    """A real exception with a traceback, as a handler's ``logger.exception`` records it."""

    def charge(order: str) -> None:
        raise ConnectionError(message)

    try:
        charge("order")
    except ConnectionError as error:
        return error
    raise AssertionError("unreachable")


_SEVERITIES = (
    (SeverityNumber.ERROR, "ERROR", 100),
    (SeverityNumber.WARN, "WARNING", 20),
    (SeverityNumber.DEBUG, "DEBUG", 7),
)


def lambda_logs(count: int, distinct: bool) -> list[Any]:
    """A Lambda function's log records, as the export thread hands them to the exporter: one
    resource, three scopes interleaved, most records inside a span (a new one every 20), mostly
    INFO with some DEBUG, WARNING and ERROR (those with an exception), a structured (map) body on
    every 7th, an event name on every 25th. ``distinct``: every string value unique to its record
    (ids, URLs, messages with ids in them), else most values shared between records."""
    from otel_lambda_processor.log_processor import readable

    resource = _resource()
    keep = _Keep()
    provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    provider.add_log_record_processor(keep)
    loggers = [
        provider.get_logger("orders.handler", "2.3.1"),
        provider.get_logger("orders.repository", "2.3.1"),
        provider.get_logger("urllib3.connectionpool"),
    ]
    tracer = TracerProvider(resource=resource, shutdown_on_exit=False).get_tracer("orders")
    span: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    for i in range(count):
        if i % 20 == 0:
            span.__exit__(None, None, None)
            span = tracer.start_as_current_span(f"invocation {i // 20}")
            if i % 80:  # one run of 20 records in four outside any span
                span.__enter__()
            else:
                span = contextlib.nullcontext()
        severity, text = SeverityNumber.INFO, "INFO"
        for number, name, every in _SEVERITIES:
            if i % every == 0:
                severity, text = number, name
                break
        uid = _uid(i) if distinct else ""
        loggers[i % 3].emit(
            timestamp=time.time_ns(),
            severity_number=severity,
            severity_text=text,
            body=_log_body(i, uid),
            attributes=_log_attributes(i, uid),
            event_name="order.updated" if i % 25 == 0 else None,
            exception=_failure(f"upstream unavailable {uid}") if i % 100 == 0 else None,
        )
    span.__exit__(None, None, None)
    return readable(keep.records)


def _log_body(i: int, uid: str) -> Any:
    if i % 7 == 0:
        return {
            "event": "order.updated",
            "order": {"id": f"ord-{uid or i % 50}", "status": "PAID", "items": i % 12},
            "tags": ["priority", f"batch-{uid or i % 4}"],
        }
    if uid:
        return (
            f"order ord-{uid} processed for customer {i * 7919} in {i % 997} ms "
            f"(request {uid.upper()})"
        )
    return (
        "order processed",
        "cache miss for customer profile",
        "retrying request to payments",
        "item reserved",
        "inventory updated",
    )[i % 5]


def _log_attributes(i: int, uid: str) -> dict[str, Any]:
    if i % 3 == 0:
        return {
            "code.function.name": f"process_order_{uid}" if uid else "process_order",
            "code.file.path": f"/var/task/orders/{uid or 'handler'}.py",
            "code.line.number": 120 + (i * 7919 % 5000 if uid else i % 5),
            "aws.request_id": (uid or f"{i % 40:08X}-ABCD-4C2E-9F3A-1B2C3D4E5F60").upper(),
        }
    if i % 3 == 1:
        return {
            "http.request.method": "POST",
            "url.full": (
                f"https://api.example.com/v1/items/{i}?session={uid}"
                if uid
                else f"https://api.example.com/v1/items/{i % 50}"
            ),
            "http.response.status_code": 100 + i * 7 % 500 if uid else 200,
            "server.address": f"{uid[:8]}.api.example.com" if uid else "api.example.com",
        }
    return {
        "order.id": f"ord-{uid or i % 50}",
        "order.total": i * 1.37 + (i % 97) / 7 if uid else (i % 10) / 4,
        "customer.tier": f"tier-{uid[-6:]}" if uid else ("free", "pro", "enterprise")[i % 3],
    }


def lambda_metrics(distinct: bool, metrics: int = 200, points: int = 50) -> MetricsData:
    """A busy function's collection from the SDK's own aggregations: ``metrics`` metrics over four
    meters, ``points`` attribute sets each, a quarter sums (int counters and up-down counters), a
    quarter gauges, a quarter histograms, a quarter exponential histograms; a fifth of the
    measurements inside a sampled span (so exemplars). ``distinct``: every attribute value unique
    to its point, else the same 50 attribute sets in every metric."""
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View

    reader = InMemoryMetricReader()
    provider = MeterProvider(
        metric_readers=[reader],
        resource=_resource(),
        views=[
            View(
                instrument_name="rpc.client.payload.size.*",
                aggregation=ExponentialBucketHistogramAggregation(),
            )
        ],
        shutdown_on_exit=False,
    )
    meters = [
        provider.get_meter(name, "0.66b1" if name.startswith("opentelemetry") else "2.3.1")
        for name in (
            "opentelemetry.instrumentation.botocore",
            "opentelemetry.instrumentation.urllib3",
            "orders",
            "orders.repository",
        )
    ]
    tracer = TracerProvider(shutdown_on_exit=False).get_tracer("orders")
    quarter = metrics // 4
    recorders: list[tuple[Callable[[float, dict[str, Any]], None], int, bool]] = []
    for n in range(metrics):
        meter = meters[n % 4]
        kind, index = divmod(n, quarter)
        if kind == 0 and index % 2 == 0:
            counter = meter.create_counter(f"orders.processed.{index}", "{order}", "Orders done")
            recorders.append((lambda v, a, c=counter: c.add(int(v), a), 3, True))
        elif kind == 0:
            updown = meter.create_up_down_counter(
                f"db.client.connection.count.{index}", "{connection}", "Open connections"
            )
            recorders.append((lambda v, a, c=updown: c.add(int(v) - 3, a), 3, True))
        elif kind == 1:
            gauge = meter.create_gauge(f"process.memory.utilization.{index}", "1", "Memory used")
            recorders.append((lambda v, a, g=gauge: g.set(v / 100, a), 1, False))
        elif kind == 2:
            histogram = meter.create_histogram(
                f"http.client.request.duration.{index}", "s", "Outgoing request duration"
            )
            recorders.append((lambda v, a, h=histogram: h.record(v / 1000, a), 3, False))
        else:
            histogram = meter.create_histogram(
                f"rpc.client.payload.size.{index}", "By", "Payload size"
            )
            recorders.append((lambda v, a, h=histogram: h.record(v * 37.5, a), 3, False))
    measurement = 0
    for n, (record, times, integral) in enumerate(recorders):
        for j in range(points):
            attributes = _point_attributes(n, j, distinct)
            for k in range(times):
                measurement += 1
                value = (
                    (measurement * 7919 % 10_007) / 7 if distinct else float((j + k) % 7 * 10 + 5)
                )
                if integral:
                    value = float(int(value) % 50 + 1)
                if measurement % 5 == 0:
                    with tracer.start_as_current_span("request"):
                        record(value, attributes)
                else:
                    record(value, attributes)
    data = reader.get_metrics_data()
    provider.shutdown()
    assert data is not None
    return data


_ROUTES = tuple(
    f"/v1/{thing}{suffix}"
    for thing in ("items", "orders", "customers", "carts", "payments")
    for suffix in ("", "/{id}")
)
_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")


def _point_attributes(metric: int, point: int, distinct: bool) -> dict[str, Any]:
    if distinct:
        uid = _uid(metric * 1000 + point)
        return {
            "http.route": f"/v1/items/{uid}",
            "http.request.method": f"GET {uid[:8]}",
            "http.response.status_code": 100 + (metric * 1000 + point) * 7 % 500,
            "server.address": f"{uid}.api.example.com",
        }
    return {
        "http.route": _ROUTES[point % 10],
        "http.request.method": _METHODS[point // 10 % 5],
        "http.response.status_code": 200,
        "server.address": "api.example.com",
    }


@contextlib.contextmanager
def no_hand_over(module: Any) -> Iterator[None]:
    """Our encoder must encode the batch itself, not hand it to the official encoder (which
    would be byte-identical too, at the official speed)."""
    official = getattr(module, "_official", None)
    if official is None:
        yield
        return

    def refuse(*args: Any) -> bytes:
        raise AssertionError(f"{module.__name__} handed the benchmark's batch over")

    module._official = refuse
    try:
        yield
    finally:
        module._official = official
