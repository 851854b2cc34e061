"""OTLPReceiver takes logs and metrics as well as traces: driven by the official OTLP/HTTP
exporters fed by the real SDK providers, so what it decodes is what a real client sends."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.metrics import Observation
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    InMemoryMetricReader,
    MetricExportResult,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_lambda_processor.testing import (
    ExponentialBuckets,
    Fault,
    OTLPReceiver,
    ReceivedLogRecord,
    ReceivedMetricPoint,
)
from otel_lambda_processor.testing.receiver import LOGS_PATH, METRICS_PATH, TRACES_PATH

from .otel_releases import LogRecordExportResult, emit_log

RESOURCE = Resource.create({"service.name": "checkout", "deployment.environment": "test"})
DELTA = {Counter: AggregationTemporality.DELTA, Histogram: AggregationTemporality.DELTA}


@pytest.fixture
def logger_provider(receiver: OTLPReceiver) -> Iterator[LoggerProvider]:
    provider = LoggerProvider(resource=RESOURCE)
    exporter = OTLPLogExporter(endpoint=receiver.logs_endpoint, timeout=5)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    yield provider
    provider.shutdown()


class Meters:
    """A MeterProvider read by an InMemoryMetricReader; :meth:`export` sends one collection."""

    def __init__(self, receiver: OTLPReceiver, **reader: Any) -> None:
        views = reader.pop("views", ())
        self.reader = InMemoryMetricReader(**reader)
        self.provider = MeterProvider([self.reader], resource=RESOURCE, views=views)
        self.meter = self.provider.get_meter("meters.test")
        self.exporter = OTLPMetricExporter(endpoint=receiver.metrics_endpoint, timeout=5)

    def export(self) -> Any:
        data = self.reader.get_metrics_data()
        assert data is not None
        assert self.exporter.export(data) is MetricExportResult.SUCCESS
        return data


def post(url: str, body: bytes) -> int:
    request = urllib.request.Request(url, body, {"Content-Type": "application/x-protobuf"})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_log_records_arrive_decoded_with_their_span_resource_and_scope(
    receiver: OTLPReceiver, logger_provider: LoggerProvider
) -> None:
    tracer = TracerProvider().get_tracer("t")
    logger = logger_provider.get_logger("orders.logs")
    with tracer.start_as_current_span("work") as span:
        emit_log(
            logger,
            body="order placed",
            severity_number=SeverityNumber.WARN,
            severity_text="WARN",
            attributes={"order.id": 42, "tags": ("a", "b")},
            event_name="order.placed",
            timestamp=1_700_000_000_000_000_000,
        )
    emit_log(logger, body={"items": [1, 2.5, True], "note": b"\x00"}, severity_text="INFO")

    first, second = receiver.logs()
    context = span.get_span_context()
    assert first == ReceivedLogRecord(
        body="order placed",
        severity_text="WARN",
        severity_number=SeverityNumber.WARN.value,
        attributes={"order.id": 42, "tags": ["a", "b"]},
        trace_id=context.trace_id.to_bytes(16, "big"),
        span_id=context.span_id.to_bytes(8, "big"),
        event_name="order.placed",
        time_unix_nano=1_700_000_000_000_000_000,
        observed_time_unix_nano=first.observed_time_unix_nano,
        resource=dict(RESOURCE.attributes),
        scope_name="orders.logs",
        received_at=first.received_at,
    )
    assert first.observed_time_unix_nano > 0 and first.received_at > 0
    assert second.received_at >= first.received_at
    assert second.body == {"items": [1, 2.5, True], "note": b"\x00"}
    assert (second.trace_id, second.span_id, second.event_name) == (b"", b"", "")
    assert second.record.severity_text == "INFO", "the protobuf is there too"
    assert receiver.log_bodies() == ["order placed", second.body]
    assert receiver.log_count() == 2 and receiver.span_count == 0
    assert [(r.path, r.status, r.item_count, r.span_count) for r in receiver.requests] == [
        (LOGS_PATH, 200, 1, 0),
        (LOGS_PATH, 200, 1, 0),
    ]


def test_cumulative_counters_repeat_their_running_total_with_exemplars(
    receiver: OTLPReceiver,
) -> None:
    m = Meters(receiver)
    counter = m.meter.create_counter("requests", unit="1", description="handled")
    level = m.meter.create_up_down_counter("queue.depth")
    with TracerProvider().get_tracer("t").start_as_current_span("sampled"):
        counter.add(3, {"route": "/a"})
    level.add(-2)
    m.export()
    counter.add(4, {"route": "/a"})
    counter.add(1, {"route": "/b"})
    m.export()

    points = receiver.metric_points("requests")
    assert [(p.value, p.attributes) for p in points] == [
        (3, {"route": "/a"}),
        (7, {"route": "/a"}),
        (1, {"route": "/b"}),
    ]
    assert all(type(p.value) is int for p in points)
    assert {(p.kind, p.temporality, p.is_monotonic, p.unit, p.description) for p in points} == {
        ("sum", "cumulative", True, "1", "handled")
    }
    assert points[0].start_time_unix_nano == points[1].start_time_unix_nano
    assert points[0].time_unix_nano < points[1].time_unix_nano
    assert points[0].exemplar_count == 1, "measured inside a sampled span"
    assert points[0].resource["service.name"] == "checkout"
    assert points[0].scope_name == "meters.test"
    (depth, _) = receiver.metric_points("queue.depth")
    assert (depth.value, depth.is_monotonic, depth.temporality) == (-2, False, "cumulative")
    assert receiver.metric_point_count() == 5 == len(receiver.metric_points())
    assert [(r.path, r.item_count) for r in receiver.requests] == [
        (METRICS_PATH, 2),
        (METRICS_PATH, 3),
    ]


def test_delta_counters_send_what_changed_since_the_last_export(receiver: OTLPReceiver) -> None:
    m = Meters(receiver, preferred_temporality=DELTA)
    counter = m.meter.create_counter("requests")
    counter.add(3)
    m.export()
    counter.add(4)
    m.export()
    first, second = receiver.metric_points("requests")
    assert (first.value, second.value) == (3, 4)
    assert (first.temporality, second.temporality) == ("delta", "delta")
    assert second.start_time_unix_nano == first.time_unix_nano, "each delta starts where it ended"


def test_histograms_arrive_with_their_buckets(receiver: OTLPReceiver) -> None:
    m = Meters(receiver, preferred_temporality=DELTA)
    latency = m.meter.create_histogram(
        "latency", unit="ms", explicit_bucket_boundaries_advisory=[10.0, 100.0]
    )
    for value in (5, 7, 50, 500):
        latency.record(value, {"op": "get"})
    m.export()

    (point,) = receiver.metric_points()
    assert point == ReceivedMetricPoint(
        name="latency",
        kind="histogram",
        temporality="delta",
        is_monotonic=None,
        attributes={"op": "get"},
        start_time_unix_nano=point.start_time_unix_nano,
        time_unix_nano=point.time_unix_nano,
        count=4,
        sum=562.0,
        min=5.0,
        max=500.0,
        bucket_counts=[2, 1, 1],
        explicit_bounds=[10.0, 100.0],
        unit="ms",
        resource=dict(RESOURCE.attributes),
        scope_name="meters.test",
        received_at=point.received_at,
    )
    assert point.value is None and point.positive is None


def test_exponential_histograms_arrive_as_the_sdk_aggregated_them(
    receiver: OTLPReceiver,
) -> None:
    exponential = View(instrument_name="sizes", aggregation=ExponentialBucketHistogramAggregation())
    m = Meters(receiver, views=[exponential])
    sizes = m.meter.create_histogram("sizes")
    for value in (0, 1, 2, 4, 4):  # the SDK's histograms take no negative values
        sizes.record(value)
    sent = m.export().resource_metrics[0].scope_metrics[0].metrics[0].data.data_points[0]

    (point,) = receiver.metric_points("sizes")
    assert (point.kind, point.temporality) == ("exponential_histogram", "cumulative")
    assert (point.count, point.sum, point.min, point.max) == (5, 11.0, 0.0, 4.0)
    assert point.zero_count == 1
    assert point.scale == sent.scale
    assert point.positive == ExponentialBuckets(sent.positive.offset, sent.positive.bucket_counts)
    assert point.negative == ExponentialBuckets(sent.negative.offset, sent.negative.bucket_counts)
    assert point.positive is not None and sum(point.positive.bucket_counts) == 4
    assert point.negative is not None and sum(point.negative.bucket_counts) == 0
    assert point.bucket_counts == [] and point.explicit_bounds == []


def test_gauges_keep_the_last_value_and_its_type(receiver: OTLPReceiver) -> None:
    m = Meters(receiver)
    m.meter.create_gauge("temperature").set(21.5, {"room": "lab"})
    m.meter.create_observable_gauge("threads", callbacks=[lambda options: [Observation(7)]])
    m.export()
    (temperature,) = receiver.metric_points("temperature")
    (threads,) = receiver.metric_points("threads")
    assert (temperature.kind, temperature.value, temperature.attributes) == (
        "gauge",
        21.5,
        {"room": "lab"},
    )
    assert (temperature.temporality, temperature.is_monotonic) == (None, None)
    assert threads.value == 7 and type(threads.value) is int


def test_gzip_and_deflate_requests_are_decoded(receiver: OTLPReceiver) -> None:
    logs = LoggerProvider(resource=RESOURCE)
    exporter = OTLPLogExporter(endpoint=receiver.logs_endpoint, compression=Compression.Gzip)
    logs.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    emit_log(logs.get_logger("z"), body="squeezed")
    logs.shutdown()
    m = Meters(receiver)
    m.exporter = OTLPMetricExporter(
        endpoint=receiver.metrics_endpoint, compression=Compression.Deflate
    )
    m.meter.create_counter("packed").add(9)
    m.export()

    assert receiver.log_bodies() == ["squeezed"]
    assert [p.value for p in receiver.metric_points("packed")] == [9]
    assert [r.headers.get("content-encoding") for r in receiver.requests] == ["gzip", "deflate"]


def test_a_fault_hits_the_next_request_whatever_its_signal(
    receiver: OTLPReceiver, logger_provider: LoggerProvider
) -> None:
    receiver.inject(Fault(status=503, retry_after="0"))
    emit_log(logger_provider.get_logger("x"), body="retried")
    receiver.inject(Fault(status=400))
    failing = OTLPLogExporter(endpoint=receiver.logs_endpoint, timeout=5)
    assert failing.export([]) is LogRecordExportResult.FAILURE
    assert [(r.path, r.status) for r in receiver.requests] == [
        (LOGS_PATH, 503),
        (LOGS_PATH, 200),
        (LOGS_PATH, 400),
    ]
    assert receiver.log_bodies() == ["retried"]


def test_a_fault_for_one_path_waits_for_a_request_on_that_path(
    receiver: OTLPReceiver, logger_provider: LoggerProvider
) -> None:
    receiver.inject(Fault(status=503, retry_after="0"), path=METRICS_PATH)
    receiver.inject(Fault(status=500))  # queued second, but the first that fits a log export
    emit_log(logger_provider.get_logger("x"), body="lost")  # 500: permanent, the exporter gives up
    emit_log(logger_provider.get_logger("x"), body="kept")
    tracing = TracerProvider()
    tracing.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=receiver.endpoint)))
    tracing.get_tracer("t").start_span("s").end()
    m = Meters(receiver)
    m.meter.create_counter("c").add(1)
    m.export()

    assert [(r.path, r.status) for r in receiver.requests] == [
        (LOGS_PATH, 500),
        (LOGS_PATH, 200),
        (TRACES_PATH, 200),
        (METRICS_PATH, 503),
        (METRICS_PATH, 200),
    ]
    assert receiver.log_bodies() == ["kept"] and receiver.span_names() == ["s"]
    assert receiver.requests[2].span_count == receiver.requests[2].item_count == 1
    with pytest.raises(ValueError, match="path must be one of"):
        receiver.inject(Fault(status=503), path="/v1/profiles")


def test_unknown_paths_get_404_and_broken_bodies_400(receiver: OTLPReceiver) -> None:
    assert post(receiver.base_endpoint + "/v1/profiles", b"") == 404
    assert post(receiver.logs_endpoint, b"\xff\xff\xff") == 400
    assert post(receiver.metrics_endpoint, b"") == 200, "an empty request is a valid one"
    assert [(r.path, r.status) for r in receiver.requests] == [
        ("/v1/profiles", 404),
        (LOGS_PATH, 400),
        (METRICS_PATH, 200),
    ]
    assert receiver.logs() == [] and receiver.metric_points() == []


def test_reset_forgets_every_signal_and_pending_fault(
    receiver: OTLPReceiver, logger_provider: LoggerProvider
) -> None:
    emit_log(logger_provider.get_logger("x"), body="before")
    m = Meters(receiver)
    m.meter.create_counter("c").add(1)
    m.export()
    OTLPSpanExporter(endpoint=receiver.endpoint).export([_ended_span()])
    assert receiver.logs() and receiver.metric_points() and receiver.spans
    receiver.inject(Fault(status=400), times=3)

    receiver.reset()
    assert (receiver.logs(), receiver.metric_points(), receiver.spans, receiver.requests) == (
        [],
        [],
        [],
        [],
    )
    assert receiver.log_count() == receiver.metric_point_count() == receiver.span_count == 0
    emit_log(logger_provider.get_logger("x"), body="after")
    assert receiver.log_bodies() == ["after"], "no fault left over"


def test_base_endpoint_is_what_the_otlp_endpoint_variable_takes(
    receiver: OTLPReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = receiver.base_endpoint
    assert base == f"http://127.0.0.1:{receiver.port}"
    assert (receiver.endpoint, receiver.traces_endpoint) == (base + "/v1/traces",) * 2
    assert (receiver.logs_endpoint, receiver.metrics_endpoint) == (
        base + "/v1/logs",
        base + "/v1/metrics",
    )
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", base)
    OTLPSpanExporter().export([_ended_span()])
    logs = LoggerProvider()
    logs.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter()))
    emit_log(logs.get_logger("x"), body="by variable")
    logs.shutdown()
    m = Meters(receiver)
    m.exporter = OTLPMetricExporter()
    m.meter.create_counter("c").add(1)
    m.export()
    assert [r.path for r in receiver.requests] == [TRACES_PATH, LOGS_PATH, METRICS_PATH]


def test_waiting_for_background_exports(receiver: OTLPReceiver) -> None:
    logs = LoggerProvider()
    exporter = OTLPLogExporter(endpoint=receiver.logs_endpoint)
    logs.add_log_record_processor(BatchLogRecordProcessor(exporter, schedule_delay_millis=50))
    metric_reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=receiver.metrics_endpoint), export_interval_millis=50
    )
    meters = MeterProvider([metric_reader])
    try:
        assert not receiver.wait_for_logs(1, timeout=0.05), "nothing yet"
        for i in range(3):
            emit_log(logs.get_logger("bg"), body=f"line{i}")
        meters.get_meter("bg").create_counter("ticks").add(2)
        started = time.monotonic()
        assert receiver.wait_for_logs(3, timeout=5)
        assert receiver.wait_for_metric_points(2, timeout=5, name="ticks")
        assert time.monotonic() - started < 4, "woken by the arrivals, not by the timeout"
        assert not receiver.wait_for_metric_points(1, timeout=0.05, name="other")
    finally:
        logs.shutdown()
        meters.shutdown()
    assert receiver.log_bodies() == ["line0", "line1", "line2"]
    ticks = receiver.metric_points("ticks")
    assert len(ticks) >= 2 and {p.value for p in ticks} == {2}


def _ended_span() -> Any:
    span = TracerProvider().get_tracer("t").start_span("s")
    span.end()
    return span
