"""Plain views of decoded OTLP requests, so tests assert on Python values, not protobufs."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanProto

MetricKind = Literal["sum", "gauge", "histogram", "exponential_histogram", "summary"]
Temporality = Literal["delta", "cumulative"]
_TEMPORALITY: dict[int, Temporality] = {1: "delta", 2: "cumulative"}


@dataclass(frozen=True)
class ReceivedSpan:
    """One decoded span with the resource and scope it was sent under."""

    span: SpanProto
    resource: dict[str, Any]
    scope_name: str
    #: ``time.monotonic()`` when the request that carried it arrived.
    received_at: float = 0.0

    @property
    def name(self) -> str:
        return self.span.name

    @property
    def span_id(self) -> bytes:
        return self.span.span_id

    @property
    def attributes(self) -> dict[str, Any]:
        return _attributes(self.span.attributes)


@dataclass(frozen=True)
class ReceivedLogRecord:
    """One decoded log record with the resource and scope it was sent under."""

    #: The body as a Python value: str, int, float, bool, bytes, list, dict, or None if unset.
    body: Any
    severity_text: str
    severity_number: int
    attributes: dict[str, Any]
    #: Empty when the record was emitted outside a span.
    trace_id: bytes
    span_id: bytes
    event_name: str
    time_unix_nano: int
    observed_time_unix_nano: int
    resource: dict[str, Any]
    scope_name: str
    #: ``time.monotonic()`` when the request that carried it arrived.
    received_at: float = 0.0
    #: The protobuf ``LogRecord`` itself, for anything not unpacked above.
    record: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class ExponentialBuckets:
    """One side (positive or negative) of an exponential histogram point."""

    offset: int
    bucket_counts: list[int]


@dataclass(frozen=True)
class ReceivedMetricPoint:
    """One decoded metric data point with its metric's name, kind and temporality.

    Sums and gauges fill ``value``; histograms ``count``, ``sum``, ``min``, ``max``,
    ``bucket_counts`` and ``explicit_bounds``; exponential histograms ``count``, ``sum``,
    ``min``, ``max``, ``scale``, ``zero_count``, ``positive`` and ``negative``; summaries
    ``count``, ``sum`` and ``quantiles``. What a kind does not have is ``None`` (or empty).
    """

    name: str
    kind: MetricKind
    #: ``None`` for gauges and summaries (and an unspecified temporality).
    temporality: Temporality | None
    #: Sums only.
    is_monotonic: bool | None
    attributes: dict[str, Any]
    start_time_unix_nano: int
    time_unix_nano: int
    value: int | float | None = None
    count: int | None = None
    sum: float | None = None
    min: float | None = None
    max: float | None = None
    bucket_counts: list[int] = field(default_factory=list)
    explicit_bounds: list[float] = field(default_factory=list)
    scale: int | None = None
    zero_count: int | None = None
    positive: ExponentialBuckets | None = None
    negative: ExponentialBuckets | None = None
    #: ``(quantile, value)`` pairs of a summary.
    quantiles: list[tuple[float, float]] = field(default_factory=list)
    exemplar_count: int = 0
    unit: str = ""
    description: str = ""
    resource: dict[str, Any] = field(default_factory=dict)
    scope_name: str = ""
    #: ``time.monotonic()`` when the request that carried it arrived.
    received_at: float = 0.0
    #: The protobuf data point itself, for anything not unpacked above.
    point: Any = field(default=None, repr=False, compare=False)


def _any_value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind) if kind else None


def _attributes(kvs: Any) -> dict[str, Any]:
    return {kv.key: _any_value(kv.value) for kv in kvs}


# -- counting, done as each request arrives (cheap: no unpacking) -----------------------------
def count_spans(request: Any) -> int:
    return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)


def count_logs(request: Any) -> int:
    return sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs)


def count_points(request: Any) -> Counter[str]:
    """Data points per metric name."""
    counts: Counter[str] = Counter()
    for rm in request.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                if kind is not None:
                    counts[metric.name] += len(getattr(metric, kind).data_points)
    return counts


# -- unpacking, done when a test first reads what arrived ------------------------------------
def unpack_spans(request: Any, arrived: float) -> list[ReceivedSpan]:
    spans = []
    for rs in request.resource_spans:
        resource = _attributes(rs.resource.attributes)  # once per resource, shared
        for ss in rs.scope_spans:
            scope = ss.scope.name
            spans += [ReceivedSpan(span, resource, scope, arrived) for span in ss.spans]
    return spans


def unpack_logs(request: Any, arrived: float) -> list[ReceivedLogRecord]:
    records = []
    for rl in request.resource_logs:
        resource = _attributes(rl.resource.attributes)
        for sl in rl.scope_logs:
            for r in sl.log_records:
                body = _any_value(r.body) if r.HasField("body") else None
                records.append(
                    ReceivedLogRecord(
                        body=body,
                        severity_text=r.severity_text,
                        severity_number=int(r.severity_number),
                        attributes=_attributes(r.attributes),
                        trace_id=r.trace_id,
                        span_id=r.span_id,
                        # not in the protocol before opentelemetry-proto 1.35 or so
                        event_name=getattr(r, "event_name", ""),
                        time_unix_nano=r.time_unix_nano,
                        observed_time_unix_nano=r.observed_time_unix_nano,
                        resource=resource,
                        scope_name=sl.scope.name,
                        received_at=arrived,
                        record=r,
                    )
                )
    return records


def unpack_points(request: Any, arrived: float) -> list[ReceivedMetricPoint]:
    points = []
    for rm in request.resource_metrics:
        resource = _attributes(rm.resource.attributes)
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                if kind is None:
                    continue
                data = getattr(metric, kind)
                common: dict[str, Any] = {
                    "name": metric.name,
                    "kind": kind,
                    "temporality": _TEMPORALITY.get(getattr(data, "aggregation_temporality", 0)),
                    "is_monotonic": data.is_monotonic if kind == "sum" else None,
                    "unit": metric.unit,
                    "description": metric.description,
                    "resource": resource,
                    "scope_name": sm.scope.name,
                    "received_at": arrived,
                }
                for p in data.data_points:
                    points.append(ReceivedMetricPoint(**common, **_point_fields(kind, p)))
    return points


def _point_fields(kind: str, p: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "attributes": _attributes(p.attributes),
        "start_time_unix_nano": p.start_time_unix_nano,
        "time_unix_nano": p.time_unix_nano,
        "point": p,
    }
    if kind in ("sum", "gauge"):
        which = p.WhichOneof("value")
        fields["value"] = getattr(p, which) if which else None
        fields["exemplar_count"] = len(p.exemplars)
        return fields
    fields["count"] = p.count
    fields["sum"] = p.sum if kind == "summary" or p.HasField("sum") else None
    if kind == "summary":
        fields["quantiles"] = [(q.quantile, q.value) for q in p.quantile_values]
        return fields
    fields["exemplar_count"] = len(p.exemplars)
    fields["min"] = p.min if p.HasField("min") else None
    fields["max"] = p.max if p.HasField("max") else None
    if kind == "histogram":
        fields["bucket_counts"] = list(p.bucket_counts)
        fields["explicit_bounds"] = list(p.explicit_bounds)
    else:
        fields["scale"] = p.scale
        fields["zero_count"] = p.zero_count
        fields["positive"] = ExponentialBuckets(p.positive.offset, list(p.positive.bucket_counts))
        fields["negative"] = ExponentialBuckets(p.negative.offset, list(p.negative.bucket_counts))
    return fields
