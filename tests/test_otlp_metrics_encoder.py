"""The fast OTLP metrics encoder is byte-identical to the official one: differential tests on
what a real MeterProvider collects, hand-built edge cases, hostile values, and arbitrary
MetricsData from hypothesis, compared by whole outcome (bytes or exception, and log lines)."""

from __future__ import annotations

import enum
import json
import logging
import math
import re
import subprocess
import sys
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from unittest import mock

import pytest
from google.protobuf.internal import api_implementation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import (
    EncodingException,
)
from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import (
    encode_metrics as official,
)
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.sdk.metrics import (
    AlwaysOnExemplarFilter,
    Counter,
    Exemplar,
    MeterProvider,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
    _Gauge,
)
from opentelemetry.sdk.metrics import Histogram as HistogramInstrument
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Buckets,
    ExponentialHistogram,
    ExponentialHistogramDataPoint,
    Gauge,
    Histogram,
    HistogramDataPoint,
    InMemoryMetricReader,
    Metric,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.metrics.view import (
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
    View,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from otel_lambda_processor.otlp import metrics_encoder
from otel_lambda_processor.otlp.metrics_encoder import encode_metrics

UPB = api_implementation.Type() == "upb"
upb_only = pytest.mark.skipif(not UPB, reason="what protobuf's upb backend does")
DELTA, CUMULATIVE = AggregationTemporality.DELTA, AggregationTemporality.CUMULATIVE


def expected(data: Any) -> bytes:
    return official(data).SerializeToString()  # type: ignore[no-any-return]


def same_bytes(data: Any) -> bytes:
    """Ours gives the official bytes, encoded here: the official encoder is not asked."""
    want = expected(data)
    with mock.patch.object(metrics_encoder, "_official", side_effect=AssertionError("handed")):
        assert encode_metrics(data) == want
    return want


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def outcome(encode: Any, data: Any) -> tuple[Any, ...]:
    """What an encoder makes of ``data``: its bytes or its exception, and its log lines."""
    collect = _Collect()
    root = logging.getLogger()
    root.addHandler(collect)
    try:
        try:
            result: tuple[Any, ...] = ("bytes", encode(data))
        except Exception as error:
            result = ("raises", type(error), unaddressed(str(error)))
    finally:
        root.removeHandler(collect)
    logged = [
        (r.name, r.levelname, unaddressed(r.getMessage()), r.exc_info is not None)
        for r in collect.records
    ]
    return (*result, logged)


def unaddressed(message: str) -> str:
    """A message without the addresses in reprs (of data that can be made only afresh)."""
    return re.sub(r" at 0x[0-9a-f]+>", " at ...>", message)


def same_outcome(data: Any) -> tuple[Any, ...]:
    """Ours gives the official encoder's bytes, or raises its exception, and logs its lines;
    ``data`` may be a function making it, for data that can be read only once."""
    make = data if callable(data) else lambda: data
    want = outcome(expected, make())
    assert outcome(encode_metrics, make()) == want
    return want


def verdict(result: tuple[Any, ...]) -> str:
    if result[0] == "raises":
        return f"raises {result[1].__name__}"
    return "dropped" if result[-1] else "encoded"


@pytest.fixture(params=["key by key", "point by point"])
def attribute_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point attributes encoded one way only where both may take them: key by key across the
    points (the usual way, where it can), or point by point (as always where it cannot)."""
    if request.param == "point by point":
        monkeypatch.setattr(metrics_encoder, "_columns", lambda tag, attributes: None)


# -- what a real MeterProvider collects --------------------------------------------------------
INSTRUMENTS = (
    Counter,
    UpDownCounter,
    HistogramInstrument,
    ObservableCounter,
    ObservableUpDownCounter,
    ObservableGauge,
    _Gauge,
)


class Level(enum.IntEnum):
    HIGH = 3


def collected(temporality: AggregationTemporality, rounds: int = 3) -> list[MetricsData]:
    """Several collections in a row from a MeterProvider using every instrument, with views for
    explicit and exponential buckets, exemplars (always on) in and out of a recorded span."""
    reader = InMemoryMetricReader(
        preferred_temporality={instrument: temporality for instrument in INSTRUMENTS}
    )
    views = [
        View(instrument_name="latency.exp", aggregation=ExponentialBucketHistogramAggregation()),
        View(
            instrument_name="small.exp",
            aggregation=ExponentialBucketHistogramAggregation(max_size=4, max_scale=3),
        ),
        View(
            instrument_name="latency.buckets",
            aggregation=ExplicitBucketHistogramAggregation(boundaries=[0, 5, 10.5, 100]),
        ),
        View(
            instrument_name="latency.no_min_max",
            aggregation=ExplicitBucketHistogramAggregation(record_min_max=False),
        ),
        View(instrument_name="requests", attribute_keys={"method"}, name="requests.by_method"),
        View(instrument_name="*"),
    ]
    resource = Resource.create({"service.name": "svc", "n": 3, "ok": True, "ratio": 0.5})
    provider = MeterProvider(
        metric_readers=[reader],
        resource=resource,
        views=views,
        exemplar_filter=AlwaysOnExemplarFilter(),
        shutdown_on_exit=False,
    )
    tracer = TracerProvider(shutdown_on_exit=False).get_tracer("t")
    meter = provider.get_meter("app", "1.2.3", schema_url="https://opentelemetry.io/schemas/1.21")
    other = provider.get_meter("lib", attributes={"lib.kind": "db", "shards": (1, 2)})
    bare = provider.get_meter("")

    requests = meter.create_counter("requests", unit="1", description="requests served")
    floats = meter.create_counter("bytes")
    active = meter.create_up_down_counter("active")
    latency = meter.create_histogram("latency", unit="ms")
    latency_exp = meter.create_histogram("latency.exp")
    small_exp = meter.create_histogram("small.exp")
    latency_buckets = other.create_histogram("latency.buckets")
    no_min_max = other.create_histogram("latency.no_min_max")
    temperature = bare.create_gauge("temperature")
    state = {"round": 0}

    def observe(options: CallbackOptions) -> Iterator[Observation]:
        n = state["round"]
        yield Observation(n * 1.5, {"cpu": "0"})
        yield Observation(-n, {"cpu": "1", "odd": n % 2 == 1})

    def count(options: CallbackOptions) -> Iterator[Observation]:
        yield Observation(10 * state["round"] + 7, {"disk": "sda"})

    meter.create_observable_gauge("load", callbacks=[observe])
    meter.create_observable_counter("reads", callbacks=[count])
    other.create_observable_up_down_counter("queue", callbacks=[observe])

    data = []
    for n in range(rounds):
        state["round"] = n
        for i in range(4 + n):
            attributes: dict[str, Any] = {
                "method": ["GET", "POST"][i % 2],
                "route": f"/items/{i % 3}",
                "status": 200 + i,
                "ok": i % 2 == 0,
                "ratio": i / 7,
                "tags": ("a", "b"),
            }
            with tracer.start_as_current_span("op"):
                requests.add(i + 1, attributes)
                floats.add(0.5 * i, {"route": f"/items/{i}"})
                latency.record(i * 3.25 + n, attributes)
                latency_exp.record(10 ** (i % 5) * 1.1, {"method": "GET"})
                latency_exp.record(-(2 ** (i % 4)), {"method": "GET"})
                latency_exp.record(0, {"method": "GET"})
            small_exp.record(2 ** (i + 3 * n), {"i": i % 2})
            active.add(1 if i % 3 else -1, {"queue": "q"})
            latency_buckets.record(i * 7, {"table": f"t{i % 2}"})
            no_min_max.record(i)
            temperature.set(20 + i + 0.25 * n, {"room": "kitchen"})
        metrics_data = reader.get_metrics_data()
        assert metrics_data is not None
        data.append(metrics_data)
    return data


@pytest.mark.parametrize("temporality", [CUMULATIVE, DELTA], ids=["cumulative", "delta"])
def test_what_a_meter_provider_collects_encodes_to_the_same_bytes(
    temporality: AggregationTemporality,
) -> None:
    batches = collected(temporality)
    kinds = {
        type(metric.data)
        for batch in batches
        for resource_metrics in batch.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
    }
    assert kinds == {Sum, Gauge, Histogram, ExponentialHistogram}
    exemplars = [
        exemplar
        for batch in batches
        for resource_metrics in batch.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
        for point in metric.data.data_points
        for exemplar in point.exemplars
    ]
    assert any(e.span_id is not None for e in exemplars)
    assert any(e.span_id is None for e in exemplars)
    assert any(e.filtered_attributes for e in exemplars)
    for batch in batches:
        same_bytes(batch)
    same_bytes(MetricsData([*batches[0].resource_metrics, *batches[-1].resource_metrics]))


def test_a_realistic_batch_with_repeated_and_distinct_values(attribute_path: None) -> None:
    provider = MeterProvider(
        metric_readers=[reader := InMemoryMetricReader()],
        resource=Resource.create({"service.name": "svc"}),
        shutdown_on_exit=False,
    )
    meter = provider.get_meter("bench")
    for m in range(40):
        counter = meter.create_counter(f"c{m}")
        histogram = meter.create_histogram(f"h{m}")
        for p in range(30):
            repeated: dict[str, Any] = {
                "method": ["GET", "PUT"][p % 2],
                "code": [200, 404, 500][p % 3],
                "p": p,
            }
            distinct: dict[str, Any] = {
                "request.id": f"req-{m}-{p}",
                "user": f"u{m * 1000 + p}",
                "n": m * p,
            }
            counter.add(p, repeated)
            counter.add(p, distinct)
            histogram.record(p * 1.5, {**repeated, **distinct})
    batch = reader.get_metrics_data()
    same_bytes(batch)
    same_bytes(batch)  # again, with its values cached


# -- hand-built edge cases ---------------------------------------------------------------------
RESOURCE = Resource({"service.name": "s", "n": 1}, schema_url="https://r/1")
SCOPE = InstrumentationScope("scope", "1.0", "https://s/1", {"a": "b"})


def batch(*metrics: Any, resource: Any = RESOURCE, scope: Any = SCOPE) -> MetricsData:
    return MetricsData(
        [ResourceMetrics(resource, [ScopeMetrics(scope, list(metrics), "ignored")], "ignored")]
    )


def metric(data: Any, name: Any = "m", description: Any = "d", unit: Any = "u") -> Metric:
    return Metric(name, description, unit, data)


def number(value: Any = 1, attributes: Any = None, **fields: Any) -> NumberDataPoint:
    values: dict[str, Any] = {
        "attributes": {"k": "v"} if attributes is None else attributes,
        "start_time_unix_nano": 10,
        "time_unix_nano": 20,
        "value": value,
        "exemplars": [],
    }
    values.update(fields)
    return NumberDataPoint(**values)


def histogram_point(**fields: Any) -> HistogramDataPoint:
    values: dict[str, Any] = {
        "attributes": {"k": "v"},
        "start_time_unix_nano": 10,
        "time_unix_nano": 20,
        "count": 3,
        "sum": 7.5,
        "bucket_counts": [1, 0, 2],
        "explicit_bounds": [1.0, 5.0],
        "min": 0.5,
        "max": 6.0,
        "exemplars": [],
    }
    values.update(fields)
    return HistogramDataPoint(**values)


def exponential_point(**fields: Any) -> ExponentialHistogramDataPoint:
    values: dict[str, Any] = {
        "attributes": {"k": "v"},
        "start_time_unix_nano": 10,
        "time_unix_nano": 20,
        "count": 6,
        "sum": 12.5,
        "scale": 3,
        "zero_count": 1,
        "positive": Buckets(offset=-2, bucket_counts=[1, 0, 2]),
        "negative": Buckets(offset=5, bucket_counts=[2]),
        "flags": 0,
        "min": -4.0,
        "max": 8.0,
        "exemplars": [],
    }
    values.update(fields)
    return ExponentialHistogramDataPoint(**values)


def exemplar(value: Any = 1.5, **fields: Any) -> Exemplar:
    values: dict[str, Any] = {
        "filtered_attributes": {"f": "x"},
        "value": value,
        "time_unix_nano": 15,
        "span_id": 0xABC,
        "trace_id": 0xDEF,
    }
    values.update(fields)
    return Exemplar(**values)


def sum_of(*points: Any, temporality: Any = DELTA, monotonic: Any = True) -> Sum:
    return Sum(list(points), temporality, monotonic)


def data_of(kind: str, point: Any, temporality: Any = CUMULATIVE) -> Any:
    return data_with(kind, [point], temporality)


def data_with(kind: str, points: list[Any], temporality: Any = CUMULATIVE) -> Any:
    if kind == "sum":
        return Sum(points, temporality, False)
    if kind == "gauge":
        return Gauge(points)
    if kind == "histogram":
        return Histogram(points, temporality)
    return ExponentialHistogram(points, temporality)


POINT: dict[str, Any] = {
    "sum": number,
    "gauge": number,
    "histogram": histogram_point,
    "exponential": exponential_point,
}
KINDS = list(POINT)


def test_an_empty_batch() -> None:
    assert same_bytes(MetricsData([])) == b""
    same_bytes(MetricsData(()))


def test_empty_resources_scopes_and_metrics() -> None:
    same_bytes(MetricsData([ResourceMetrics(Resource({}), [], "")]))
    same_bytes(batch(resource=Resource({}), scope=InstrumentationScope("")))
    for data in (
        Sum([], DELTA, True),
        Gauge([]),
        Histogram([], DELTA),
        ExponentialHistogram([], CUMULATIVE),
    ):
        same_bytes(batch(metric(data), metric(data, "", "", "")))  # no data field at all


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("temporality", [DELTA, CUMULATIVE, AggregationTemporality.UNSPECIFIED])
def test_every_point_type_and_temporality(kind: str, temporality: AggregationTemporality) -> None:
    points = [POINT[kind](), POINT[kind](attributes={}), POINT[kind](exemplars=[exemplar()])]
    for point in points:
        same_bytes(batch(metric(data_of(kind, point, temporality))))


@pytest.mark.parametrize("monotonic", [True, False])
@pytest.mark.parametrize(
    "value", [0, 1, -1, 2**63 - 1, -(2**63), 0.0, -0.0, 1.5, math.nan, math.inf, -math.inf]
)
def test_sum_and_gauge_values(value: Any, monotonic: bool) -> None:
    same_bytes(batch(metric(sum_of(number(value), monotonic=monotonic))))
    same_bytes(batch(metric(Gauge([number(value), number(value, exemplars=[exemplar(value)])]))))


@pytest.mark.parametrize(
    "fields",
    [
        {"min": None, "max": None},
        {"min": None},
        {"max": None},
        {"sum": None},
        {"sum": 0, "min": 0, "max": 0},
        {"sum": 5, "min": 1, "max": 4},  # ints, as the SDK gives for int measurements
        {"sum": 2**70, "min": -(2**60), "max": 2**60},
        {"sum": math.nan, "min": math.inf, "max": -math.inf},
        {"count": 0, "bucket_counts": [], "explicit_bounds": []},
        {"bucket_counts": [2**64 - 1, 0], "explicit_bounds": [0]},
        {"bucket_counts": (1,) * 300, "explicit_bounds": tuple(range(299))},
        {"bucket_counts": [1], "explicit_bounds": [-0.0, math.nan]},
        {"start_time_unix_nano": 0, "time_unix_nano": 0},
        {"start_time_unix_nano": None, "time_unix_nano": 2**64 - 1},
    ],
    ids=repr,
)
def test_histogram_points(fields: dict[str, Any]) -> None:
    same_bytes(batch(metric(Histogram([histogram_point(**fields)] * 2, DELTA))))


@pytest.mark.parametrize(
    "fields",
    [
        {"min": None, "max": None},
        {"sum": None, "max": None},
        {"count": 0, "sum": 0.0, "min": 0.0, "max": None},
        {"time_unix_nano": 0, "sum": -0.0, "min": None, "max": 0},
        {"scale": 0, "zero_count": 0, "count": 0},
        {"scale": -10, "flags": 1},
        {"scale": 2**31 - 1, "flags": 2**32 - 1},
        {"scale": -(2**31), "zero_count": 2**64 - 1},
        {"scale": 64, "flags": 127},
        {"scale": -65, "flags": 128},
        {"positive": Buckets(0, []), "negative": Buckets(0, [])},
        {"positive": Buckets(0, [0]), "negative": Buckets(-1, [0, 0])},
        {"positive": Buckets(2**31 - 1, [127, 128]), "negative": Buckets(-(2**31), [255])},
        {"positive": Buckets(7, [2**64 - 1, 2**32, 300]), "negative": Buckets(0, (1,) * 200)},
        {"positive": Buckets(1, list(range(128)))},
        {"positive": Buckets(3, [1, 2]), "negative": Buckets(3, [4, 5])},
        {"positive": Buckets(-3, [0]), "negative": Buckets(-3, [0])},
        {"positive": Buckets(None, [1])},  # type: ignore[arg-type]
    ],
    ids=repr,
)
def test_exponential_histogram_points(fields: dict[str, Any]) -> None:
    point = exponential_point(**fields)
    same_bytes(batch(metric(ExponentialHistogram([point, point], CUMULATIVE))))


def usual_exemplar(n: int, value: Any) -> Exemplar:
    """An exemplar as the SDK makes them in a sampled span: no filtered attributes."""
    return Exemplar({}, value, 1_700_000_000_000_000_000 + n, n * 7919 + 1, n * 2**70 + 3)


EXEMPLARS = {
    "none": lambda n: [],
    "a float": lambda n: [usual_exemplar(n, n / 7)],
    "an int": lambda n: [usual_exemplar(n, n - 50)],
    "several": lambda n: [usual_exemplar(n + i, float(i)) for i in range(n % 4)],
    "in a tuple": lambda n: (usual_exemplar(n, 1.5),),
    "without ids": lambda n: [Exemplar({}, 1.5, 10 + n, None, None)],
    "without a span id": lambda n: [Exemplar({}, 1, 10 + n, None, 5)],
    "at time 0": lambda n: [Exemplar({}, 1.5, 0, 1, 2)],
    "with filtered attributes": lambda n: [Exemplar({"f": n}, 1.5, 10, 1, 2)],
    "with filtered attributes dropped": lambda n: [Exemplar({"f": 2**64}, 1.5, 10, 1, 2)],
    "ids at their limits": lambda n: [Exemplar({}, 1.5, 10, 2**64 - 1, 2**128 - 1)],
    "ids of 0": lambda n: [Exemplar({}, 1.5, 10, 0, 0)],
    "a span id beyond 64 bits": lambda n: [Exemplar({}, 1.5, 10, 2**64, 1)],
    "a negative trace id": lambda n: [Exemplar({}, 1.5, 10, 1, -1)],
    "a bool value": lambda n: [Exemplar({}, True, 10, 1, 2)],
    "an int beyond int64": lambda n: [Exemplar({}, 2**63, 10, 1, 2)],
    "a time of True": lambda n: [Exemplar({}, 1.5, True, 1, 2)],
    "an int subclass for an id": lambda n: [Exemplar({}, 1.5, 10, Level.HIGH, 2)],
}


@pytest.mark.parametrize("case", EXEMPLARS)
@pytest.mark.parametrize("kind", KINDS)
def test_many_points_with_exemplars(kind: str, case: str) -> None:
    for made in (
        [POINT[kind](exemplars=EXEMPLARS[case](n)) for n in range(60)],
        [POINT[kind](exemplars=EXEMPLARS[case](n) if n % 3 else []) for n in range(60)],
    ):
        same_outcome(batch(metric(data_with(kind, made))))


@pytest.mark.parametrize("kind", KINDS)
def test_exemplars(kind: str) -> None:
    exemplars = [
        exemplar(),
        exemplar(7),
        exemplar(-(2**63)),
        exemplar(math.nan, span_id=None),
        exemplar(0, trace_id=None, filtered_attributes=None),
        exemplar(0.0, span_id=0, trace_id=0, filtered_attributes={}, time_unix_nano=0),
        exemplar(2.5, span_id=2**64 - 1, trace_id=2**128 - 1, filtered_attributes={"a": (1, 2)}),
    ]
    same_bytes(batch(metric(data_of(kind, POINT[kind](exemplars=exemplars)))))
    same_bytes(batch(metric(data_of(kind, POINT[kind](exemplars=tuple(exemplars))))))


def test_resources_and_scopes_with_names_versions_attributes_and_schema_urls() -> None:
    scopes = [
        InstrumentationScope("a"),
        InstrumentationScope("a", "1"),
        InstrumentationScope("b", None, "https://s/2"),
        InstrumentationScope("c", "2", None, {"x": 1, "y": [1.5], "z": True}),
        InstrumentationScope("", ""),
    ]
    resources = [Resource({}), Resource({"a": "b"}, "https://r/2"), Resource({"k": (1, 2)})]
    same_bytes(
        MetricsData(
            [
                ResourceMetrics(
                    resource,
                    [ScopeMetrics(scope, [metric(sum_of(number()))], "x") for scope in scopes],
                    "y",
                )
                for resource in resources
            ]
        )
    )


def test_a_resource_or_scope_met_twice_keeps_its_first_place_and_its_last_content() -> None:
    first = Resource({"a": 1})
    again = Resource({"a": 1})  # equal: one ResourceMetrics, where the first was
    scope = InstrumentationScope("s", "1")
    data = MetricsData(
        [
            ResourceMetrics(first, [ScopeMetrics(scope, [metric(Gauge([number(1)]))], "")], ""),
            ResourceMetrics(Resource({"b": 2}), [], ""),
            ResourceMetrics(
                again,
                [
                    ScopeMetrics(scope, [metric(Gauge([number(2)]))], ""),
                    ScopeMetrics(InstrumentationScope("t"), [], ""),
                    ScopeMetrics(InstrumentationScope("s", "1"), [metric(Gauge([number(3)]))], ""),
                ],
                "",
            ),
        ]
    )
    request = ExportMetricsServiceRequest.FromString(same_bytes(data))
    assert [len(r.scope_metrics) for r in request.resource_metrics] == [2, 0]
    first, second = request.resource_metrics[0].scope_metrics  # the first points are lost
    assert [p.as_int for m in first.metrics for p in m.gauge.data_points] == [3]
    assert (second.scope.name, len(second.metrics)) == ("t", 0)


def test_attribute_values_of_every_type(attribute_path: None) -> None:
    values: dict[str, Any] = {
        "s": "str ✓",
        "empty": "",
        "i": 7,
        "big": 2**63 - 1,
        "neg": -(2**63),
        "f": 1.5,
        "nan": math.nan,
        "t": True,
        "false": False,
        "none": None,
        "bytes": b"\x00\xff",
        "tuple": ("a", 1, 2.5, True),
        "list": [1, 2],
        "map": {"x": {"y": [None, b"z"]}, 3: "int key"},
        "": "empty key",
        "enum": Level.HIGH,
        "bounded": BoundedAttributes(attributes={"q": 1}),
    }
    for kind in KINDS:
        point = POINT[kind](attributes=values, exemplars=[exemplar(filtered_attributes=values)])
        same_bytes(batch(metric(data_of(kind, point)), resource=Resource(values), scope=SCOPE))
        bounded = BoundedAttributes(attributes={"k": "v", "n": 1})
        same_bytes(batch(metric(data_of(kind, POINT[kind](attributes=bounded)))))


# -- attributes: key by key across the points, or point by point --------------------------------
class Shouting(str):
    """A str whose ``encode`` lies; protobuf (upb) reads its characters."""

    __slots__ = ()

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return b"SHOUTING"


EQUAL_VALUES = ["1", 1, True, 1.0, Level(3), 3, 3.0, 0, False, 0.0, -0.0, "", None, b"1"]


@pytest.mark.parametrize("kind", KINDS)
def test_equal_values_of_other_types_are_not_taken_from_the_cache(
    kind: str, attribute_path: None
) -> None:
    for _ in range(2):  # then again, everything cached that may be
        points = [POINT[kind](attributes={"k": value, "j": "1"}) for value in EQUAL_VALUES]
        points += [POINT[kind](attributes={"k": value}) for value in reversed(EQUAL_VALUES)]
        same_bytes(batch(metric(data_of(kind, points[0]))))
        for point in points:
            same_bytes(batch(metric(data_of(kind, point))))


@upb_only
def test_a_str_subclass_equal_to_a_cached_str_gives_its_characters() -> None:
    for value in ("quiet", Shouting("quiet"), "quiet"):
        result = same_outcome(batch(metric(Gauge([number(attributes={"k": value})]))))
        assert verdict(result) == "encoded"


@pytest.mark.parametrize("kind", KINDS)
def test_equal_values_of_other_types_in_one_metric_are_not_taken_for_one_another(
    kind: str, attribute_path: None
) -> None:
    for repeat in (1, 5):  # each value once, and under one key in several points
        for values in (EQUAL_VALUES, [1, True], [0, False, 0.0], [3, 3.0], ["x", b"x"]):
            points = [POINT[kind](attributes={"k": v}) for v in values for _ in range(repeat)]
            same_outcome(batch(metric(data_with(kind, points))))
            points = [
                POINT[kind](attributes={"k": v, "j": 1}) for _ in range(repeat) for v in values
            ]
            same_outcome(batch(metric(data_with(kind, points))))


def encoded_key_by_key(points: list[Any], tag: bytes = b"\x3a") -> bool:
    return metrics_encoder._columns(tag, [point.attributes for point in points]) is not None


COLUMNS = {
    "str, repeating": lambda n: ("GET", "POST", "PUT")[n % 3],
    "str, distinct, one length": lambda n: f"id-{n:06d}",
    "str, distinct, lengths": lambda n: "x" * (n % 130),
    "str, long": lambda n: "é" * (200 + n % 3),
    "str, empty": lambda n: "",
    "str, not ASCII": lambda n: f"ünïcødé-{n}-✓",
    "int, repeating": lambda n: (200, 404, 500)[n % 3],
    "int, small": lambda n: n % 128,
    "int, one or two bytes": lambda n: n * 7 % 1000,
    "int, two bytes": lambda n: 128 + n,
    "int, large": lambda n: 1_000 + n * 2**40,
    "int, negative": lambda n: -n,
    "int, extremes": lambda n: (2**63 - 1, -(2**63), 0)[n % 3],
    "bool": lambda n: n % 3 == 0,
    "float": lambda n: (0.0, -0.0, 1.5, math.nan, math.inf)[n % 5],
}


@pytest.mark.parametrize("points", [1, 2, 17, 300])
@pytest.mark.parametrize("kind", KINDS)
def test_attributes_encoded_key_by_key(kind: str, points: int) -> None:
    made = [
        POINT[kind](attributes={name: value(n) for name, value in COLUMNS.items()})
        for n in range(points)
    ]
    assert encoded_key_by_key(made)
    same_bytes(batch(metric(data_with(kind, made))))
    same_bytes(batch(metric(data_with(kind, made))))  # again, the keys' heads made


def test_long_values_are_encoded(attribute_path: None) -> None:
    for size in (0, 100, 112, 113, 127, 128, 200, 16_384, 70_000):
        same_bytes(batch(metric(Gauge([number(attributes={"k": "é" * size, "x": "y" * size})]))))
    points = [number(attributes={"k": "é" * size}) for size in (0, 60, 127, 128, 20_000)]
    same_bytes(batch(metric(Gauge(points))))


DIFFERING = {
    "keys in another order": [{"a": 1, "b": "x"}, {"b": "x", "a": 1}],
    "a key missing": [{"a": 1, "b": "x"}, {"a": 1}],
    "a key more": [{"a": 1}, {"a": 1, "b": "x"}],
    "other keys": [{"a": 1}, {"b": 1}],
    "no attributes": [{"a": 1}, {}],
    "None": [{"a": 1}, None],
    "int and bool": [{"a": 1}, {"a": True}],
    "int and float": [{"a": 1}, {"a": 1.0}],
    "float and int": [{"a": 1.0}, {"a": 1}],
    "bool and int": [{"a": False}, {"a": 0}],
    "str and int": [{"a": "1"}, {"a": 1}],
    "int and str": [{"a": 1}, {"a": "1"}],
    "int and int enum": [{"a": 3}, {"a": Level.HIGH}],
    "tuples": [{"a": (1, 2)}, {"a": (1, 2)}],
    "None values": [{"a": None}, {"a": None}],
    "bytes values": [{"a": b"x"}, {"a": b"x"}],
    "an int beyond int64": [{"a": 1}, {"a": 2**63}],
    "an int below int64": [{"a": -1}, {"a": -(2**63) - 1}],
    "a lone surrogate": [{"a": "x"}, {"a": "\udcff"}],
    "a bounded map": [{"a": 1}, BoundedAttributes(attributes={"a": 1})],
    "a key not str": [{1: "x"}, {1: "x"}],
    "a long key": [{"k" * 200: "x"}, {"k" * 200: "x"}],
}


@pytest.mark.parametrize("repeat", [1, 20])
@pytest.mark.parametrize("case", DIFFERING)
@pytest.mark.parametrize("kind", KINDS)
def test_points_not_alike_are_encoded_point_by_point(kind: str, case: str, repeat: int) -> None:
    made = [POINT[kind](attributes=attributes) for attributes in DIFFERING[case] * repeat]
    assert not encoded_key_by_key(made)
    same_outcome(batch(metric(data_with(kind, made))))


def test_points_with_nothing_to_tell_apart_are_encoded_key_by_key() -> None:
    for attributes in ({}, {"a": 1}, {"a": "x", "b": 2, "c": True, "d": 0.5}):
        made = [number(attributes=dict(attributes)) for _ in range(3)]
        assert encoded_key_by_key(made)
        same_bytes(batch(metric(Gauge(made))))


@upb_only
def test_str_subclasses_among_str_values_give_their_characters() -> None:
    for repeat in (1, 20):
        for values in (["x", Shouting("x")], [Shouting("x"), "x"], [Shouting("y")] * 2):
            made = [number(attributes={"k": v}) for v in values * repeat]
            assert encoded_key_by_key(made)
            assert verdict(same_outcome(batch(metric(Gauge(made))))) == "encoded"


def test_the_caches_stay_bounded() -> None:
    for offset in range(-3000, 3000, 1):  # bucket heads by offset and length
        point = exponential_point(positive=Buckets(offset, [1] * (offset % 5 + 1)))
        same_bytes(batch(metric(ExponentialHistogram([point], DELTA))))
        assert len(metrics_encoder._BUCKET_HEADS) <= 4096
    for size in (1, 2, 100, 255, 256, 257, 300, 1000):  # packers by count of values
        point = histogram_point(bucket_counts=[1] * size, explicit_bounds=[1.0] * (size - 1))
        same_bytes(batch(metric(Histogram([point], DELTA))))
    assert max(metrics_encoder._HEADED_COUNTS) <= 256 and max(metrics_encoder._COUNTS) <= 256
    assert max(metrics_encoder._BOUNDS) <= 256
    same_bytes(batch(metric(Gauge([number(attributes={"k": "x" * 20_000})]))))
    assert max(metrics_encoder._POINT_HEADS) < 0x4000


# -- hostile values: the official encoder's bytes, exception or log lines, exactly -------------
WHERE = [*KINDS, "sum exemplar", "histogram exemplar", "exponential exemplar", "resource", "scope"]


def carrying(where: str, attributes: Any) -> MetricsData:
    """A batch with ``attributes`` on a point of one kind, its exemplar, the resource or the
    scope, past the SDK's own checks."""
    resource = Resource({"service.name": "s"})
    scope = InstrumentationScope("s", "1")
    if where == "resource":
        resource._attributes = attributes
    elif where == "scope":
        scope._attributes = attributes
    kind = where.split()[0] if where.split()[0] in POINT else "gauge"
    if where.endswith("exemplar"):
        point = POINT[kind](exemplars=[exemplar(filtered_attributes=attributes)])
    elif where in POINT:
        point = POINT[kind](attributes=attributes)
    else:
        point = POINT[kind]()
    return batch(metric(data_of(kind, point)), resource=resource, scope=scope)


def message_levels(value: Any) -> int:
    """Levels of messages below a value's AnyValue, as the official encoder builds them."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, Mapping)):
        return 0
    inner = value.values() if isinstance(value, Mapping) else value
    below = [message_levels(v) for v in inner]
    return 1 if not below else max(below) + (3 if isinstance(value, Mapping) else 2)


def nested(levels: int, kinds: str) -> Any:
    """A value with exactly ``levels`` levels of messages below its AnyValue, of tuples, lists
    and dicts (``t``, ``l``, ``d`` in ``kinds``, repeated from the outside in)."""
    wrappers: list[str] = []
    while levels > 3:
        kind = kinds[len(wrappers) % len(kinds)]
        wrappers.append(kind)
        levels -= 3 if kind == "d" else 2
    value: Any = {0: "leaf", 1: (), 2: (None,), 3: {"k": None}}[levels]
    for kind in reversed(wrappers):
        value = (value,) if kind == "t" else [value] if kind == "l" else {"k": value}
    return value


# Around this encoder's limit (16 containers) and the official encoder's (on upb: a batch fails
# from 95 levels below a point attribute's AnyValue, wrapped in EncodingException from 99, and
# the attribute is dropped from 101; 94 and 98 for exemplars, 98 for resource, 97 for scope).
LEVELS = [31, 33, 34, 48, 49, 51, 94, 95, 97, 98, 99, 101]


@pytest.mark.parametrize("kinds", ["t", "d", "tld"])
@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("levels", LEVELS)
def test_values_nested_around_the_limits_get_the_official_outcome(
    where: str, kinds: str, levels: int, attribute_path: None
) -> None:
    value = nested(levels, kinds)
    assert message_levels(value) == levels
    same_outcome(carrying(where, {"deep": value, "ok": 1}))


@upb_only
def test_the_official_verdicts_on_nesting_are_what_they_are() -> None:
    verdicts = {
        levels: verdict(same_outcome(carrying("sum", {"deep": nested(levels, "t")})))
        for levels in (94, 95, 98, 99, 100, 101)
    }
    assert verdicts == {
        94: "encoded",
        95: "raises DecodeError",
        98: "raises DecodeError",
        99: "raises EncodingException",
        100: "raises EncodingException",
        101: "dropped",
    }


class Seven(int):
    """An int whose ``__int__`` and ``__index__`` lie; protobuf (upb) reads its value."""

    def __int__(self) -> int:
        return 7

    def __index__(self) -> int:
        return 7


class Lying(bytes):
    """Bytes whose ``len`` lies; protobuf (upb) reads the buffer."""

    def __len__(self) -> int:
        return 1


ODD_VALUES = [
    pytest.param(Seven(3), marks=upb_only, id="int subclass"),
    pytest.param(Shouting("quiet"), marks=upb_only, id="str subclass"),
    pytest.param({"k": Shouting("quiet")}, marks=upb_only, id="str subclass in a dict"),
    pytest.param(Lying(b"abc"), marks=upb_only, id="bytes subclass"),
    pytest.param(Level.HIGH, id="int enum"),
    pytest.param(2**63, id="int beyond int64"),
    pytest.param(-(2**63) - 1, id="int below int64"),
    pytest.param([1, 2**64], id="int beyond 64 bits in a list"),
    pytest.param("report-\udcff.csv", id="lone surrogate"),
    pytest.param({"report-\udcff.csv": 1}, id="lone surrogate as a dict key"),
    pytest.param({b"\xff": 1, 2: 2, None: 3, (1,): 4}, id="dict keys that are not str"),
    pytest.param(bytearray(b"ab"), id="bytearray"),
    pytest.param(memoryview(b"ab"), id="memoryview"),
    pytest.param(range(3), id="range"),
    pytest.param([[], {}, ()], id="empty containers"),
    pytest.param(object(), id="object"),
    pytest.param([object()], id="object in a list"),
    pytest.param({1, 2}, id="set"),
    pytest.param(1 + 2j, id="complex"),
    pytest.param("x" * 70_000, id="huge str"),
]


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("value", ODD_VALUES)
def test_odd_attribute_values_are_encoded_or_dropped_as_by_the_official_encoder(
    where: str, value: Any, attribute_path: None
) -> None:
    same_outcome(carrying(where, {"a": 1, "odd": value, "z": "ok"}))


ODD_KEYS = [
    pytest.param(b"utf-8 bytes", id="bytes"),
    pytest.param(b"\xff", id="bytes not UTF-8"),
    pytest.param(1, id="int"),
    pytest.param(True, id="bool"),
    pytest.param(None, id="None"),
    pytest.param(("t",), id="tuple"),
    pytest.param(Level.HIGH, id="int enum"),
    pytest.param(Shouting("a key that shouts"), marks=upb_only, id="str subclass"),
    pytest.param("k-\udcff", id="lone surrogate"),
    pytest.param("k" * 200, id="long"),
]


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("key", ODD_KEYS)
def test_odd_attribute_keys_are_encoded_or_dropped_as_by_the_official_encoder(
    where: str, key: Any, attribute_path: None
) -> None:
    for value in ("v", 1, 1.5, True, (1, "t")):  # each path through the attribute encoders
        same_outcome(carrying(where, {"a": 1, key: value, "z": "ok"}))


def test_odd_attribute_containers_go_as_in_the_official_encoder() -> None:
    for where in WHERE:
        for attributes in ([("k", "v")], "not a map", 5, (), [], 0):
            same_outcome(carrying(where, attributes))


@pytest.mark.parametrize("kind", KINDS)
def test_dropped_attributes_are_logged_in_the_official_order(
    kind: str, attribute_path: None
) -> None:
    bad = 2**64
    resource = Resource({})
    resource._attributes = {"resource bad": bad}  # type: ignore[assignment]
    scope = InstrumentationScope("s")
    scope._attributes = {"scope bad": bad}  # type: ignore[assignment]
    dropping = exemplar(filtered_attributes={"e": bad})
    points = [
        POINT[kind](attributes={"point bad": bad}, exemplars=[dropping]),
        POINT[kind](attributes={"second": bad}),
    ]
    data = MetricsData(
        [
            ResourceMetrics(
                resource, [ScopeMetrics(scope, [metric(data_with(kind, points))], "")], ""
            ),
            ResourceMetrics(Resource({"other": 1}), [], ""),
        ]
    )
    result = same_outcome(data)
    assert [line[2].split(":")[0] for line in result[-1]] == [
        "Failed to encode key scope bad",
        "Failed to encode key point bad",
        "Failed to encode key e",
        "Failed to encode key second",
        "Failed to encode key resource bad",
    ]
    assert {line[:2] for line in result[-1]} == {
        ("opentelemetry.exporter.otlp.proto.common._internal", "ERROR")
    }


class Summary:
    """Metric data of a type the official encoder does not know."""

    def __init__(self) -> None:
        self.data_points = [number()]


class SumOfMine(Sum):
    """A subclass is taken as its base."""


def test_unknown_data_types_are_logged_and_left_out_as_officially() -> None:
    data = batch(
        metric(Summary()),
        metric(None),
        metric(sum_of(number(attributes={"bad": 2**64}))),
        metric("not data", name="named"),
        metric(SumOfMine([number()], DELTA, True)),
    )
    result = same_outcome(data)
    assert [line[:3] for line in result[-1]] == [
        (
            "opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder",
            "WARNING",
            "unsupported data type Summary",
        ),
        ("opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder", "WARNING", mock.ANY),
        ("opentelemetry.exporter.otlp.proto.common._internal", "ERROR", mock.ANY),
        ("opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder", "WARNING", mock.ANY),
    ]
    assert result[-1][1][2] == "unsupported data type NoneType"
    with mock.patch.object(metrics_encoder, "_official", side_effect=AssertionError("handed")):
        encode_metrics(data)  # encoded here, logs and all


ODD_NUMBERS = [True, False, None, Level.HIGH, Seven(3), 2**63, -(2**63) - 1, 2**64, -1, 1.5, "1"]


@pytest.mark.parametrize("value", ODD_NUMBERS, ids=repr)
@pytest.mark.parametrize(
    "field",
    [
        "number value",
        "gauge value",
        "exemplar value",
        "number start",
        "number time",
        "gauge start",  # the official encoder never reads it
        "histogram count",
        "histogram sum",
        "histogram min",
        "histogram bucket",
        "histogram bound",
        "exponential scale",
        "exponential zero_count",
        "exponential flags",
        "exponential offset",
        "exponential bucket",
        "exponential max",
        "exemplar time",
        "exemplar span_id",
        "exemplar trace_id",
        "sum temporality",
        "sum monotonic",
        "histogram temporality",
    ],
)
def test_numbers_protobuf_refuses_or_converts_go_as_in_the_official_encoder(
    field: str, value: Any
) -> None:
    where, name = field.split()
    if where == "number":
        field_name = {"value": "value", "start": "start_time_unix_nano", "time": "time_unix_nano"}
        data: Any = sum_of(number(**{field_name[name]: value}))
    elif where == "gauge":
        gauge_point = number(value) if name == "value" else number(start_time_unix_nano=value)
        data = Gauge([gauge_point])
    elif where == "exemplar":
        key = {"value": "value", "time": "time_unix_nano"}.get(name, name)
        data = sum_of(number(exemplars=[exemplar(**{key: value})]))
    elif field == "histogram temporality":
        data = Histogram([histogram_point()], value)
    elif where == "histogram":
        if name == "bucket":
            data = Histogram([histogram_point(bucket_counts=[1, value])], DELTA)
        elif name == "bound":
            data = Histogram([histogram_point(explicit_bounds=[value, 2])], DELTA)
        else:
            data = Histogram([histogram_point(**{name: value})], DELTA)
    elif where == "exponential":
        if name == "offset":
            point = exponential_point(positive=Buckets(value, [1]))
        elif name == "bucket":
            point = exponential_point(negative=Buckets(1, [1, value, 3]))
        else:
            point = exponential_point(**{name: value})
        data = ExponentialHistogram([point], DELTA)
    elif name == "temporality":
        data = sum_of(number(), temporality=value)
    else:
        data = sum_of(number(), monotonic=value)
    same_outcome(batch(metric(data)))


BUCKET_COUNTS = [
    pytest.param([0], id="[0]"),
    pytest.param([1], id="[1]"),
    pytest.param([127], id="[127]"),
    pytest.param([128], id="[128]"),
    pytest.param([255], id="[255]"),
    pytest.param([256], id="[256]"),
    pytest.param([2**64 - 1], id="[2**64 - 1]"),
    pytest.param([0] * 160, id="160 zeros"),
    pytest.param([1, 0, 0, 0] * 40, id="160 sparse"),
    pytest.param(list(range(128)), id="0 to 127"),
    pytest.param(list(range(120, 140)), id="120 to 139"),
    pytest.param([0, 300, 0], id="a count of two bytes"),
    pytest.param([2**32] * 3, id="counts of five bytes"),
    pytest.param((0, 1, 2), id="a tuple"),
    pytest.param([Level.HIGH, 1], id="an int enum"),
    pytest.param([Seven(3), 1], marks=upb_only, id="an int subclass"),
    pytest.param([True, 0], id="True"),
    pytest.param([0, 0, 0, False], id="False among zeros"),
    pytest.param([1] * 100 + [True], id="True among ones"),
    pytest.param([False], id="[False]"),
    pytest.param([1, -1], id="a negative count"),
    pytest.param([-1], id="[-1]"),
    pytest.param([1, 2**64], id="a count beyond 64 bits"),
    pytest.param([1.0], id="a float"),
    pytest.param([None], id="None"),
    pytest.param(["1"], id="a str"),
]


@pytest.mark.parametrize("counts", BUCKET_COUNTS)
@pytest.mark.parametrize("side", ["positive", "negative"])
def test_exponential_bucket_counts(side: str, counts: Any) -> None:
    points = [
        exponential_point(**{side: Buckets(offset, counts)})
        for offset in (0, -3, 63, 64, 2**31 - 1, -(2**31))
    ]
    same_outcome(batch(metric(ExponentialHistogram(points, DELTA))))


@pytest.mark.parametrize("value", [b"bytes", b"\xff", bytearray(b"b"), 5, None, "", "\udcff"])
@pytest.mark.parametrize(
    "field", ["name", "description", "unit", "scope name", "scope version", "scope schema_url"]
)
def test_names_that_are_not_plain_str_go_as_in_the_official_encoder(field: str, value: Any) -> None:
    if field.startswith("scope"):
        values: dict[str, Any] = {"name": "s", "version": "1", "schema_url": "https://s"}
        values[field.split()[1]] = value
        data = batch(metric(Gauge([number()])), scope=InstrumentationScope(**values))
    else:
        data = batch(metric(Gauge([number()]), **{field: value}))
    same_outcome(data)


def test_a_resource_schema_url_that_is_not_plain_str_goes_as_officially() -> None:
    for value in (b"bytes", 5, "\udcff", None, ""):
        resource = Resource({"a": 1})
        resource._schema_url = value  # type: ignore[assignment]
        same_outcome(batch(metric(Gauge([number()])), resource=resource))


def generated(points: Sequence[Any]) -> Iterator[Any]:
    yield from points


@pytest.mark.parametrize(
    "container",
    [generated, deque, iter, lambda items: None, lambda items: 7],
    ids=["generator", "deque", "iterator", "None", "int"],
)
@pytest.mark.parametrize(
    "where",
    [
        "resource_metrics",
        "scope_metrics",
        "metrics",
        "data_points",
        "exemplars",
        "bucket_counts",
        "explicit_bounds",
        "positive",
        "attributes",
    ],
)
def test_containers_that_are_not_lists_or_tuples_go_as_in_the_official_encoder(
    where: str, container: Any
) -> None:
    same_outcome(lambda: with_container(where, container))


def with_container(where: str, container: Any) -> Any:
    if where in ("bucket_counts", "explicit_bounds"):
        values = [1, 2] if where == "bucket_counts" else [1.0]
        data: Any = batch(metric(Histogram([histogram_point(**{where: container(values)})], DELTA)))
    elif where == "positive":
        point = exponential_point(positive=Buckets(1, container([1, 2])))
        data = batch(metric(ExponentialHistogram([point], DELTA)))
    elif where == "exemplars":
        data = batch(metric(Gauge([number(exemplars=container([exemplar()]))])))
    elif where == "attributes":
        data = batch(metric(Gauge([number(attributes=container({"k": "v"}))])))
    elif where == "data_points":
        data = batch(metric(Gauge(container([number()]))))
    elif where == "metrics":
        data = MetricsData(
            [ResourceMetrics(RESOURCE, [ScopeMetrics(SCOPE, container([]), "")], "")]
        )
    elif where == "scope_metrics":
        data = MetricsData([ResourceMetrics(RESOURCE, container([]), "")])
    else:
        data = MetricsData(container([ResourceMetrics(RESOURCE, [], "")]))
    return data


def test_a_missing_scope_or_resource_fails_as_in_the_official_encoder() -> None:
    result = same_outcome(batch(metric(Gauge([number()])), scope=None))
    assert result[:2] == ("raises", AttributeError)
    result = same_outcome(batch(metric(Gauge([number()])), resource=None))
    assert result[:2] == ("raises", AttributeError)


def test_a_value_beyond_int64_fails_the_batch_with_encoding_exception() -> None:
    result = same_outcome(batch(metric(sum_of(number(2**63)))))
    assert result[:2] == ("raises", EncodingException)


def test_nothing_heavy_is_imported_with_the_encoder() -> None:
    script = (
        "import json, sys\n"
        "import otel_lambda_processor.otlp.metrics_encoder\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(("
        "'google.protobuf', 'opentelemetry.proto',"
        "'opentelemetry.exporter.otlp.proto.common._internal',"
        "'opentelemetry.exporter.otlp.proto.common.metrics_encoder')))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(result.stdout) == []


# -- arbitrary MetricsData -----------------------------------------------------------------------
def rarely(plain: st.SearchStrategy[Any], odd: Any) -> st.SearchStrategy[Any]:
    """``plain``, or one time in twenty ``odd``: most batches are encoded here, not handed over."""
    return st.integers(0, 19).flatmap(lambda n: odd if n == 0 else plain)


plain_values = (
    st.text(max_size=8)
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.booleans()
    | st.lists(st.integers(-5, 5) | st.text(max_size=3), max_size=3).map(tuple)
)
odd_values = (
    st.none()
    | st.binary(max_size=4)
    | st.integers(-(2**65), 2**65)
    | st.sampled_from([Level.HIGH, "lone \udc80", [1, "a"], {"m": 1}, {1, 2}, object()])
)
KEYS = st.sampled_from(["k", "", "http.route", "été", "k" * 120]) | st.text(max_size=6)


def attribute_maps(odd: bool) -> st.SearchStrategy[dict[Any, Any]]:
    keys = rarely(KEYS, st.sampled_from([b"k", 7, "k-\udcff"])) if odd else KEYS
    values = rarely(plain_values, odd_values) if odd else plain_values
    return st.dictionaries(keys, values, max_size=4)


def numbers(odd: bool, low: int, high: int) -> st.SearchStrategy[Any]:
    plain = st.integers(low, high) | st.sampled_from([low, high, 0])
    if not odd:
        return plain
    return rarely(plain, st.sampled_from([None, True, 1.5, low - 1, high + 1, Level.HIGH]))


def doubles(odd: bool) -> st.SearchStrategy[Any]:
    plain = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(2**70), 2**70)
    return rarely(plain, st.sampled_from([None, True, "1"])) if odd else plain


def sequences(elements: st.SearchStrategy[Any], odd: bool, max_size: int = 5) -> Any:
    plain = st.lists(elements, max_size=max_size)
    plain = plain | plain.map(tuple)  # type: ignore[arg-type]
    return rarely(plain, st.lists(elements, max_size=3).map(deque)) if odd else plain


@st.composite
def exemplars(draw: st.DrawFn, odd: bool) -> Exemplar:
    value_kinds: st.SearchStrategy[Any] = st.integers(-(2**63), 2**63 - 1) | st.floats()
    if odd:
        value_kinds = rarely(value_kinds, st.sampled_from([True, None, 2**63, "1"]))
    return Exemplar(
        draw(attribute_maps(odd) | st.none()),
        draw(value_kinds),
        draw(numbers(odd, 0, 2**64 - 1)),
        draw(st.none() | numbers(odd, 0, 2**64 - 1)),
        draw(st.none() | numbers(odd, 0, 2**128 - 1)),
    )


@st.composite
def points(draw: st.DrawFn, kind: str, odd: bool) -> Any:
    attributes = draw(attribute_maps(odd))
    times = draw(numbers(odd, 0, 2**64 - 1)), draw(numbers(odd, 0, 2**64 - 1))
    examples = draw(st.lists(exemplars(odd), max_size=2))
    if kind in ("sum", "gauge"):
        values: st.SearchStrategy[Any] = st.integers(-(2**63), 2**63 - 1) | st.floats()
        if odd:
            values = rarely(values, st.sampled_from([True, None, 2**63]))
        return NumberDataPoint(attributes, *times, draw(values), examples)
    count = draw(numbers(odd, 0, 2**64 - 1))
    total: Any = draw(doubles(odd) | st.none())
    minimum: Any = draw(doubles(odd) | st.none())
    maximum: Any = draw(doubles(odd) | st.none())
    if kind == "histogram":
        return HistogramDataPoint(
            attributes,
            *times,
            count,
            total,
            draw(sequences(numbers(odd, 0, 2**64 - 1), odd)),
            draw(sequences(doubles(odd), odd)),
            minimum,
            maximum,
            examples,
        )
    buckets = st.builds(
        Buckets,
        numbers(odd, -(2**31), 2**31 - 1),
        sequences(numbers(odd, 0, 2**64 - 1) | st.integers(0, 3), odd, 12),
    )
    return ExponentialHistogramDataPoint(
        attributes,
        *times,
        count,
        total,
        draw(numbers(odd, -(2**31), 2**31 - 1)),
        draw(numbers(odd, 0, 2**64 - 1)),
        draw(buckets),
        draw(buckets),
        draw(numbers(odd, 0, 2**32 - 1)),
        minimum,
        maximum,
        examples,
    )


@st.composite
def metrics(draw: st.DrawFn, odd: bool) -> Metric:
    kinds = [*KINDS, "unknown"] if odd else KINDS
    kind = draw(st.sampled_from(kinds))
    names: st.SearchStrategy[Any] = st.text(max_size=6) | st.none()
    temporalities: st.SearchStrategy[Any] = st.sampled_from(list(AggregationTemporality))
    monotonic: st.SearchStrategy[Any] = st.booleans()
    if odd:
        names = rarely(names, st.sampled_from([b"bytes", 5, "\udcff"]))
        temporalities = rarely(temporalities, st.sampled_from([0, 5, -1, 2**31, None, "DELTA"]))
        monotonic = rarely(monotonic, st.sampled_from([None, 1]))
    listed = draw(st.lists(points(kind if kind != "unknown" else "sum", odd), max_size=3))
    data: Any
    if kind == "sum":
        data = Sum(listed, draw(temporalities), draw(monotonic))
    elif kind == "gauge":
        data = Gauge(listed)
    elif kind == "histogram":
        data = Histogram(listed, draw(temporalities))
    elif kind == "exponential":
        data = ExponentialHistogram(listed, draw(temporalities))
    else:
        data = Summary()
    return Metric(draw(names), draw(names), draw(names), data)


@st.composite
def metrics_data(draw: st.DrawFn, odd: bool = True) -> MetricsData:
    resources = []
    for _ in range(draw(st.integers(1, 2))):
        resource = Resource({}, draw(st.sampled_from(["", "https://r/1"])))
        resource._attributes = draw(attribute_maps(odd))  # type: ignore[assignment]
        resources.append(resource)
    scopes = []
    for _ in range(draw(st.integers(1, 2))):
        scope = InstrumentationScope(
            draw(st.sampled_from(["a", "b", ""])),
            draw(st.sampled_from([None, "1"])),
            draw(st.sampled_from([None, "https://s/1"])),
        )
        scope._attributes = draw(attribute_maps(odd))  # type: ignore[assignment]
        scopes.append(scope)
    resource_metrics = []
    for _ in range(draw(st.integers(0, 2))):
        scope_metrics = [
            ScopeMetrics(
                draw(st.sampled_from(scopes)), draw(st.lists(metrics(odd), max_size=3)), ""
            )
            for _ in range(draw(st.integers(0, 2)))
        ]
        resource_metrics.append(
            ResourceMetrics(draw(st.sampled_from(resources)), scope_metrics, "")
        )
    return MetricsData(resource_metrics)


def test_arbitrary_metrics_data_gets_the_official_outcome() -> None:
    handed: list[bool] = []

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(metrics_data())
    def check(data: MetricsData) -> None:
        with mock.patch.object(
            metrics_encoder, "_official", side_effect=metrics_encoder._official
        ) as official_encoder:
            same_outcome(data)
        handed.append(official_encoder.called)

    check()
    assert handed.count(False) > len(handed) / 3, "most batches were handed over"


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(metrics_data(odd=False))
def test_plain_metrics_data_is_encoded_here_to_the_official_bytes(data: MetricsData) -> None:
    same_bytes(data)


COLUMN_VALUES = [
    st.text(max_size=8),
    st.sampled_from(["GET", "POST", "/v1/items", "été", ""]),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(0, 2000),
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    plain_values,  # of several types
    rarely(plain_values, odd_values),
]


@st.composite
def alike_points(draw: st.DrawFn) -> tuple[str, list[Any]]:
    """A metric's points with the same attribute keys in the same order, as the SDK makes
    them: each key's values of one type (or a few, or odd ones, now and then)."""
    kind = draw(st.sampled_from(KINDS))
    keys = draw(st.lists(KEYS, max_size=4, unique=True))
    columns = [draw(st.sampled_from(COLUMN_VALUES)) for _ in keys]
    made = []
    for _ in range(draw(st.integers(1, 30))):
        attributes = {key: draw(values) for key, values in zip(keys, columns, strict=True)}
        made.append(draw(points(kind, False)))
        made[-1] = type(made[-1])(**{**vars(made[-1]), "attributes": attributes})
    return kind, made


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(alike_points())
def test_points_sharing_their_keys_get_the_official_outcome(alike: tuple[str, list[Any]]) -> None:
    kind, made = alike
    same_outcome(batch(metric(data_with(kind, made))))
