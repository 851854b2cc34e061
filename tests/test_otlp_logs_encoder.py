"""The fast OTLP log encoder is byte-identical to the official one: differential tests on
realistic batches, edge cases, hostile values and arbitrary batches from hypothesis."""

from __future__ import annotations

import collections
import contextlib
import enum
import json
import logging
import math
import subprocess
import sys
import types
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from unittest import mock

import pytest
from google.protobuf.internal import api_implementation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs as official
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.sdk._logs import (
    LoggerProvider,
    LoggingHandler,
    LogRecordLimits,
    LogRecordProcessor,
    ReadableLogRecord,
    ReadWriteLogRecord,
)
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

from otel_lambda_processor.otlp import encoder, logs_encoder
from otel_lambda_processor.otlp.logs_encoder import encode_logs
from otel_lambda_processor.otlp.releases import untested_releases

UPB = api_implementation.Type() == "upb"
upb_only = pytest.mark.skipif(not UPB, reason="what protobuf's upb backend does")


@contextlib.contextmanager
def dropped_counts_read(inline: bool) -> Iterator[None]:
    """Dropped counts read from the attribute map (where that is on), or through the property."""
    saved = logs_encoder._INLINE_DROPPED
    logs_encoder._INLINE_DROPPED = saved and inline
    try:
        yield
    finally:
        logs_encoder._INLINE_DROPPED = saved


@pytest.fixture(params=["inline", "property"])
def dropped_reading(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that meets dropped counts, twice: each way of reading them."""
    with dropped_counts_read(request.param == "inline"):
        yield


def test_the_fast_reads_are_on_for_the_tested_releases() -> None:
    assert logs_encoder._known_shapes() and logs_encoder._KNOWN
    assert logs_encoder._inline_dropped_matches() and logs_encoder._INLINE_DROPPED
    assert not untested_releases(), "installed releases outside TESTED_RELEASES"


# -- helpers -----------------------------------------------------------------------------------
def same_bytes(batch: Sequence[Any]) -> bytes:
    """Ours gives the official bytes, encoded here: the official encoder is not asked."""
    expected: bytes = official(batch).SerializeToString()
    with mock.patch.object(logs_encoder, "_official", side_effect=AssertionError("handed over")):
        assert encode_logs(batch) == expected
    return expected


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def outcome(encode: Any, batch: Sequence[Any]) -> tuple[Any, ...]:
    """What an encoder makes of a batch: its bytes or its exception, and its log lines."""
    collect = _Collect()
    root = logging.getLogger()
    root.addHandler(collect)
    try:
        try:
            result: tuple[Any, ...] = ("bytes", encode(batch))
        except Exception as error:
            result = ("raises", type(error), str(error))
    finally:
        root.removeHandler(collect)
    logged = [
        (r.name, r.levelname, r.getMessage(), r.exc_info is not None) for r in collect.records
    ]
    return (*result, logged)


def same_outcome(batch: Sequence[Any]) -> tuple[Any, ...]:
    """Ours gives the official encoder's bytes, or raises its exception, and logs its lines."""
    expected = outcome(lambda b: official(b).SerializeToString(), batch)
    assert outcome(encode_logs, batch) == expected
    return expected


def verdict(result: tuple[Any, ...]) -> str:
    if result[0] == "raises":
        return f"raises {result[1].__name__}"
    return "dropped" if result[-1] else "encoded"


def sdk_logs(
    resource: Resource | None = None, limits: LogRecordLimits | None = None
) -> tuple[LoggerProvider, InMemoryLogRecordExporter]:
    """A LoggerProvider whose records end, as the SDK hands them on, in an in-memory exporter."""
    provider = LoggerProvider(
        resource=resource or Resource({"service.name": "s"}),
        shutdown_on_exit=False,
        log_record_limits=limits,
    )
    exporter = InMemoryLogRecordExporter()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    return provider, exporter


def emitted(**kwargs: Any) -> list[ReadableLogRecord]:
    """The one record a real Logger makes of ``emit(**kwargs)``."""
    provider, exporter = sdk_logs()
    provider.get_logger("t", "1.0").emit(**kwargs)
    return list(exporter.get_finished_logs())


def record(
    resource: Resource | None = None, scope: InstrumentationScope | None = None, **fields: Any
) -> ReadableLogRecord:
    """A record made directly, its LogRecord's fields set past the SDK's own checks."""
    log = LogRecord(observed_timestamp=1_700_000_000_000_000_000, body="b")
    for name, value in fields.items():
        setattr(log, name, value)
    return ReadableLogRecord(log, resource or Resource({"service.name": "s"}), scope)


def in_span(trace_id: int, span_id: int, flags: int = 1) -> Any:
    return set_span_in_context(
        NonRecordingSpan(SpanContext(trace_id, span_id, False, TraceFlags(flags)))
    )


class Color(str, enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


class Seven(int):
    """An int whose ``__int__`` and ``__index__`` lie; protobuf (upb) reads its value."""

    def __int__(self) -> int:
        return 7

    def __index__(self) -> int:
        return 7


class Zeroish(int):
    """An int that says it equals everything, 0 included (the official encoder asks)."""

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = int.__hash__


class Shouting(str):
    """A str whose ``encode`` lies; protobuf (upb) reads its characters."""

    __slots__ = ()

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return b"SHOUTING"


class Lying(bytes):
    """Bytes whose ``len`` lies; protobuf (upb) reads the buffer."""

    def __len__(self) -> int:
        return 1


# -- realistic batches -------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:`LoggingHandler` in `opentelemetry-sdk` is deprecated")
@pytest.mark.usefixtures("dropped_reading")
def test_a_realistic_batch_with_interleaved_resources_and_scopes() -> None:
    exporter = InMemoryLogRecordExporter()
    providers = []
    for i in range(3):
        provider = LoggerProvider(
            resource=Resource(
                {"service.name": f"svc-{i}", "i": i}, "https://r/1.0" if i == 1 else ""
            ),
            shutdown_on_exit=False,
        )
        provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
        providers.append(provider)
    tracer = TracerProvider(shutdown_on_exit=False).get_tracer("t")
    bridge = logging.getLogger("tests.logs_encoder.bridge")
    bridge.propagate = False
    bridge.setLevel(logging.DEBUG)
    handler = LoggingHandler(logger_provider=providers[2])
    bridge.addHandler(handler)
    severities = list(SeverityNumber)
    try:
        for n in range(2000):
            logger = providers[n % 3].get_logger(
                f"scope-{n % 4}",
                "2.1" if n % 5 else None,
                schema_url="https://s/1.0" if n % 2 else None,
                attributes={"scope.attr": n % 4} if n % 4 == 3 else None,
            )
            severity = severities[n % len(severities)]
            attributes = {
                "http.route": "/items/{id}",
                "n": n,
                "ok": n % 2 == 0,
                "ratio": n / 7,
                "request.id": f"req-{n:08d}",
                "tags": ("a", "b") if n % 3 else (1, 2, 3),
            }
            kwargs: dict[str, Any] = {
                "severity_number": severity if n % 6 else None,
                "severity_text": severity.name if n % 6 else None,
                "body": f"message {n}" if n % 8 else {"event": "order", "items": [n, n + 1]},
                "attributes": attributes,
                "event_name": "order.placed" if n % 9 == 0 else None,
                "timestamp": 1_700_000_000_000_000_000 + n if n % 10 else None,
            }
            if n % 11 == 0:
                kwargs["exception"] = ValueError(f"bad value {n}")
            if n % 2:
                with tracer.start_as_current_span(f"op {n % 7}"):
                    logger.emit(**kwargs)
            else:
                logger.emit(**kwargs)
            if n % 13 == 0:
                bridge.warning("bridged %s from the logging module", n, extra={"k": n})
    finally:
        bridge.removeHandler(handler)
    batch = exporter.get_finished_logs()
    data = same_bytes(batch)
    request = ExportLogsServiceRequest.FromString(data)
    assert len(request.resource_logs) == 3
    assert sum(len(r.scope_logs) for r in request.resource_logs) > 12
    assert sum(len(s.log_records) for r in request.resource_logs for s in r.scope_logs) == len(
        batch
    )


@pytest.mark.usefixtures("dropped_reading")
def test_read_write_log_records_as_the_sdk_makes_them() -> None:
    provider, exporter = sdk_logs()
    writable: list[ReadWriteLogRecord] = []

    class Keep(LogRecordProcessor):
        def on_emit(self, log_record: ReadWriteLogRecord) -> None:
            writable.append(log_record)

        def shutdown(self) -> None:
            pass

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return True

    provider.add_log_record_processor(Keep())
    logger = provider.get_logger("t", "1")
    for n in range(20):
        logger.emit(
            body=f"m{n}",
            attributes={"n": n, "nested": {"a": [1, "x"]}},
            severity_number=SeverityNumber.WARN,
            context=in_span(n + 1, n + 2) if n % 2 else None,
        )
    assert all(type(r) is ReadWriteLogRecord for r in writable)
    same_bytes(writable)
    readable = exporter.get_finished_logs()
    mixed = [item for pair in zip(writable, readable, strict=True) for item in pair]
    same_bytes(mixed)


def test_an_empty_batch() -> None:
    assert same_bytes([]) == b""
    assert same_bytes(()) == b""


def test_a_batch_that_is_not_a_list_is_read_once() -> None:
    batch = emitted(body="x") + emitted(body="y")
    assert encode_logs(iter(batch)) == official(batch).SerializeToString()  # type: ignore[arg-type]
    batch.append(record(severity_text=b"bytes"))  # encoded by the official encoder alone
    assert encode_logs(iter(batch)) == official(batch).SerializeToString()  # type: ignore[arg-type]
    same_outcome(5)  # type: ignore[arg-type]  # not a batch at all: the official TypeError


# -- every value, every field ------------------------------------------------------------------
VALUES = [
    "",
    "unicode ✓ ü 中 \U0001f600",
    0,
    1,
    -1,
    0x7F,
    0x80,
    2**63 - 1,
    -(2**63),
    1.5,
    -0.0,
    math.inf,
    -math.inf,
    math.nan,
    True,
    False,
    b"",
    b"\x00\xff",
    (),
    [],
    {},
    ("a", "b"),
    [1, 2.5, True, None, "s", b"b"],
    {"a": {"b": {"c": b"d"}}, "list": [[1, "a"], {"x": [1.5, None]}, None]},
    {3: "int key", None: "None key", (1,): "tuple key"},
    None,
    Color.RED,
    Level.HIGH,
    "x" * 200,
    "y" * 20_000,
]


@pytest.mark.parametrize("value", VALUES)
def test_every_body_value(value: Any) -> None:
    same_bytes(emitted(body=value))


@pytest.mark.parametrize("value", VALUES)
def test_every_attribute_value(value: Any) -> None:
    same_bytes(emitted(attributes={"k": value, "other": "v"}))
    same_bytes([record(attributes={"k": value, "": "empty key"})])  # as set, uncleaned


@pytest.mark.parametrize(
    "value",
    [2**63, -(2**63) - 1, 2**64, "lone \udc80 surrogate", ["ok", "\udcff"], object(), {1, 2}],
)
@pytest.mark.usefixtures("dropped_reading")
def test_attribute_values_the_official_encoder_drops_are_dropped_with_the_same_log(
    value: Any,
) -> None:
    result = same_outcome([record(attributes={"bad": value, "good": 1})])
    assert verdict(result) == "dropped"
    [(logger, level, message, with_traceback)] = result[-1]
    assert (logger, level, with_traceback) == (
        "opentelemetry.exporter.otlp.proto.common._internal",
        "ERROR",
        True,
    )
    assert message.startswith("Failed to encode key bad: ")


@pytest.mark.parametrize(
    "value",
    [2**63, -(2**63) - 1, "lone \udc80", ["\udcff"], {"\udcff": 1}, object(), {1, 2}, 1 + 2j],
)
def test_bodies_the_official_encoder_refuses_fail_the_batch_alike(value: Any) -> None:
    result = same_outcome(emitted(body="fine") + emitted(body=value))
    assert result[0] == "raises"


def test_records_with_and_without_trace_context() -> None:
    provider, exporter = sdk_logs()
    logger = provider.get_logger("t")
    tracer = TracerProvider(shutdown_on_exit=False).get_tracer("t")
    logger.emit(body="outside")
    with tracer.start_as_current_span("inside"):
        logger.emit(body="inside")
    for flags in (0, 1, 2, 3, 0xFF):
        logger.emit(body="remote", context=in_span(2**128 - 1, 2**64 - 1, flags))
        logger.emit(body="small", context=in_span(1, 1, flags))
    batch = list(exporter.get_finished_logs())
    batch += [record(trace_id=5, span_id=0), record(trace_id=0, span_id=5)]
    same_bytes(batch)


@pytest.mark.parametrize("severity", [None, *SeverityNumber])
@pytest.mark.parametrize("text", [None, "", "INFO", "ünïcode"])
def test_every_severity_with_and_without_text(severity: Any, text: Any) -> None:
    same_bytes(emitted(severity_number=severity, severity_text=text, body=None))


@pytest.mark.parametrize("name", [None, "", "order.placed", "é" * 300])
def test_event_names(name: Any) -> None:
    same_bytes(emitted(event_name=name, body={"k": 1}))


@pytest.mark.parametrize("timestamp", [None, 0, 1, 2**64 - 1])
@pytest.mark.parametrize("observed", [None, 0, 1, 2**64 - 1])
def test_timestamps_none_zero_and_edges(timestamp: Any, observed: Any) -> None:
    same_bytes([record(timestamp=timestamp, observed_timestamp=observed)])


@pytest.mark.usefixtures("dropped_reading")
def test_limits_that_drop_attributes_and_truncate_values() -> None:
    limits = LogRecordLimits(max_attributes=2, max_attribute_length=3)
    provider, exporter = sdk_logs(limits=limits)
    logger = provider.get_logger("t")
    with pytest.warns(UserWarning, match="dropped"):
        logger.emit(body="b", attributes={"a": "long value", "b": 2, "c": 3, "d": 4})
    logger.emit(body="b", attributes={"a": 1})
    batch = exporter.get_finished_logs()
    assert batch[0].dropped_attributes == 2
    data = same_bytes(batch)
    assert (
        ExportLogsServiceRequest.FromString(data)
        .resource_logs[0]
        .scope_logs[0]
        .log_records[0]
        .dropped_attributes_count
        == 2
    )


# -- odd values in every field: the official outcome, exactly -----------------------------------
ODD_INTS = [
    pytest.param(True, id="True"),
    pytest.param(False, id="False"),
    pytest.param(1.5, id="float"),
    pytest.param(-1, id="negative"),
    pytest.param(2**32, id="2**32"),
    pytest.param(2**64, id="2**64"),
    pytest.param(2**128, id="2**128"),
    pytest.param(None, id="None"),
    pytest.param("5", id="str"),
    pytest.param(Level.HIGH, id="int enum"),
    pytest.param(Seven(3), marks=upb_only, id="int subclass"),
    pytest.param(TraceFlags(5), id="TraceFlags"),
    pytest.param(Zeroish(5), id="int subclass equal to 0"),
]


@pytest.mark.parametrize("value", ODD_INTS)
@pytest.mark.parametrize(
    "field", ["timestamp", "observed_timestamp", "trace_id", "span_id", "trace_flags"]
)
def test_ids_times_and_flags_that_are_not_plain_ints_go_as_officially(
    field: str, value: Any
) -> None:
    same_outcome([record(**{field: value})])


@pytest.mark.parametrize(
    "value",
    [
        5,
        "INFO",
        Level.HIGH,
        mock.Mock(value=9),
        mock.Mock(value=-1),
        mock.Mock(value=2**40),
        SeverityNumber.UNSPECIFIED,
    ],
)
def test_severity_numbers_that_are_not_members_go_as_officially(value: Any) -> None:
    same_outcome([record(severity_number=value)])


@pytest.mark.usefixtures("dropped_reading")
@pytest.mark.parametrize("count", [-1, 0, 1, 2**32 - 1, 2**32, True])
def test_dropped_counts_beyond_uint32_go_as_officially(count: Any) -> None:
    attributes = BoundedAttributes(attributes={"a": 1})
    attributes.dropped = count
    same_outcome([record(attributes=attributes)])


ODD_VALUES = [
    pytest.param(Seven(3), marks=upb_only, id="int subclass"),
    pytest.param([Seven(3)], marks=upb_only, id="int subclass in a list"),
    pytest.param(Shouting("quiet"), marks=upb_only, id="str subclass"),
    pytest.param({"k": Shouting("quiet")}, marks=upb_only, id="str subclass in a dict"),
    pytest.param(Lying(b"abc"), marks=upb_only, id="bytes subclass"),
    pytest.param(Color.RED, id="str enum"),
    pytest.param(Level.HIGH, id="int enum"),
    pytest.param(2**64, id="int beyond 64 bits"),
    pytest.param([1, 2**64], id="int beyond 64 bits in a list"),
    pytest.param("report-\udcff.csv", id="lone surrogate"),
    pytest.param({"report-\udcff.csv": 1}, id="lone surrogate as a dict key"),
    pytest.param(bytearray(b"ab"), id="bytearray"),
    pytest.param(memoryview(b"ab"), id="memoryview"),
    pytest.param(range(3), id="range"),
    pytest.param([[], {}, ()], id="empty containers in a list"),
    pytest.param([math.nan, math.inf, -math.inf, -0.0], id="nan and infinities"),
    pytest.param(object(), id="object"),
    pytest.param({1, 2}, id="set"),
    pytest.param("x" * 70_000, id="huge str"),
]
WHERE = ["body", "record", "resource", "scope"]


def carrying(where: str, value: Any) -> list[ReadableLogRecord]:
    """A batch of one record with ``value`` as its body, or as an attribute of the record, its
    resource or its scope (beside plain ones), set past the SDK's own checks."""
    resource = Resource({"service.name": "s"})
    scope = InstrumentationScope("t", "1", "https://s/1", {"plain": 1})
    attributes = {"a": 1, "odd": value, "z": "ok"}
    if where == "body":
        return [record(resource, scope, body=value)]
    if where == "record":
        return [record(resource, scope, attributes=attributes)]
    if where == "resource":
        resource._attributes = attributes  # type: ignore[assignment]
    else:
        scope._attributes = attributes  # type: ignore[assignment]
    return [record(resource, scope)]


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("value", ODD_VALUES)
def test_odd_values_are_encoded_dropped_or_refused_as_by_the_official_encoder(
    where: str, value: Any
) -> None:
    same_outcome(carrying(where, value))


ODD_KEYS = [
    pytest.param(b"utf-8 bytes", id="bytes"),
    pytest.param(b"\xff", id="bytes not UTF-8"),
    pytest.param(1, id="int"),
    pytest.param(None, id="None"),
    pytest.param(("t",), id="tuple"),
    pytest.param(Color.RED, id="str enum"),
    pytest.param(Shouting("a key that shouts"), marks=upb_only, id="str subclass"),
    pytest.param("k-\udcff", id="lone surrogate"),
    pytest.param("", id="empty"),
    pytest.param("k" * 200, id="long"),
]


@pytest.mark.parametrize("where", ["record", "resource", "scope"])
@pytest.mark.parametrize("key", ODD_KEYS)
def test_odd_attribute_keys_are_encoded_or_dropped_as_by_the_official_encoder(
    where: str, key: Any
) -> None:
    for value in ("v", 1, 1.5, True, (1, "t"), None):  # each path through the attribute encoder
        batch = carrying(where, 0)
        attributes = {"a": 1, key: value, "z": "ok"}
        if where == "record":
            batch[0].log_record.attributes = attributes
        elif where == "resource":
            batch[0].resource._attributes = attributes  # type: ignore[assignment]
        else:
            batch[0].instrumentation_scope._attributes = attributes  # type: ignore[union-attr]
        same_outcome(batch)


ODD_NAMES = [
    pytest.param(b"utf-8 bytes", id="bytes"),
    pytest.param(b"\xff\xfe", id="bytes not UTF-8"),
    pytest.param(b"", id="empty bytes"),
    pytest.param(5, id="int"),
    pytest.param(0, id="zero"),
    pytest.param(False, id="False"),
    pytest.param(object(), id="object"),
    pytest.param(Color.RED, id="str enum"),
    pytest.param(Shouting("quiet"), marks=upb_only, id="str subclass"),
    pytest.param("report-\udcff.csv", id="lone surrogate"),
]


def named(field: str, value: Any) -> list[ReadableLogRecord]:
    """A batch of one record whose ``field`` (a string in OTLP) holds ``value``."""
    resource = Resource({"service.name": "s"}, schema_url="https://r/1")
    name, version, schema_url = "t", "1", "https://s/1"
    if field == "resource schema_url":
        resource._schema_url = value
    elif field == "scope name":
        name = value
    elif field == "scope version":
        version = value
    elif field == "scope schema_url":
        schema_url = value
    scope = InstrumentationScope(name, version, schema_url)
    if field in ("severity_text", "event_name"):
        return [record(resource, scope, **{field: value})]
    return [record(resource, scope)]


@pytest.mark.parametrize(
    "field",
    [
        "severity_text",
        "event_name",
        "scope name",
        "scope version",
        "scope schema_url",
        "resource schema_url",
    ],
)
@pytest.mark.parametrize("value", ODD_NAMES)
def test_names_that_are_not_plain_str_are_encoded_or_refused_as_by_the_official_encoder(
    field: str, value: Any
) -> None:
    same_outcome(named(field, value))


def test_look_alikes_subclasses_and_odd_records_go_to_the_official_encoder() -> None:
    plain = emitted(body="x")[0]

    class Readable(ReadableLogRecord):
        @property
        def dropped_attributes(self) -> int:
            return 7

    class Duck:
        def __init__(self, of: ReadableLogRecord) -> None:
            self.log_record, self.resource = of.log_record, of.resource
            self.instrumentation_scope, self.dropped_attributes = of.instrumentation_scope, 0

    class SubRecord(LogRecord):
        pass

    sub = SubRecord(body="sub", observed_timestamp=5)
    batches: list[list[Any]] = [
        [plain, Readable(plain.log_record, plain.resource, plain.instrumentation_scope)],
        [plain, Duck(plain)],
        [plain, ReadableLogRecord(sub, plain.resource)],
        [plain, ReadableLogRecord(None, plain.resource)],  # type: ignore[arg-type]
        [plain, ReadWriteLogRecord(LogRecord(body="r"), None)],
        [plain, None],
    ]
    for batch in batches:
        with mock.patch.object(logs_encoder, "_official", wraps=logs_encoder._official) as handed:
            same_outcome(batch)
        assert handed.call_count == 1

    class Listed(dict[str, Any]):
        def items(self) -> Any:
            return [("listed", 1)]

    for mapping in (
        Listed(a=1),
        types.MappingProxyType({"a": 1}),
        collections.OrderedDict(a=1),
        collections.UserDict(a=1),
    ):
        plain.log_record.attributes = mapping  # type: ignore[assignment]
        same_outcome([plain])


def test_a_falsy_scope_is_no_scope_as_in_the_official_encoder() -> None:
    class Falsy(InstrumentationScope):
        def __len__(self) -> int:
            return 0

    scope = Falsy("falsy", "1", "https://s/1", {"a": 1})
    batch = [record(scope=scope), record(scope=None), record(scope=InstrumentationScope("t"))]
    request = ExportLogsServiceRequest.FromString(same_bytes(batch))
    assert [s.scope.name for s in request.resource_logs[0].scope_logs] == ["", "t"]


def test_a_log_record_with_a_field_this_encoder_does_not_know_goes_to_the_official_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(logs_encoder, "_LOG_FIELDS", logs_encoder._LOG_FIELDS - {"exception"})
    assert not logs_encoder._known_shapes()
    monkeypatch.setattr(logs_encoder, "_KNOWN", False)
    batch = emitted(body="x")
    with mock.patch.object(logs_encoder, "_official", wraps=logs_encoder._official) as handed:
        assert encode_logs(batch) == official(batch).SerializeToString()
    assert handed.call_count == 1


def test_the_official_exception_comes_alone() -> None:
    batch = [*emitted(body="x"), record(trace_id=2**128)]
    with pytest.raises(OverflowError) as raised:
        encode_logs(batch)
    assert raised.value.__context__ is None


def test_a_batch_left_to_the_official_encoder_logs_each_dropped_attribute_once() -> None:
    dropping = record(attributes={"bad": 2**64, "good": 1})
    for odd in (b"bytes text", 7):  # ours hands the batch over at the second record
        result = same_outcome([dropping, record(severity_text=odd)])
        assert len(result[-1]) == 1


@pytest.mark.usefixtures("dropped_reading")
def test_dropped_attributes_are_logged_in_the_official_order() -> None:
    resource = Resource({"resource bad": 2**64})
    resource._attributes = {"resource bad": 2**64}  # type: ignore[assignment]
    scope = InstrumentationScope("t", attributes={"x": 1})
    scope._attributes = {"scope bad": 2**64}  # type: ignore[assignment]
    batch = [
        record(resource, scope, attributes={"first bad": 2**64}),
        record(resource, None, attributes={"second bad": 2**64}),
    ]
    result = same_outcome(batch)
    assert [line[2].split(":")[0] for line in result[-1]] == [
        "Failed to encode key first bad",
        "Failed to encode key second bad",
        "Failed to encode key scope bad",
        "Failed to encode key resource bad",
    ]


# -- nesting around protobuf's limits ------------------------------------------------------------
# Levels of messages from ResourceLogs, the last message the official encoder copies (on upb:
# serialises and parses), down to the value's AnyValue.
LEVELS_BELOW_RESOURCE_LOGS = {"body": 3, "record": 4, "resource": 3, "scope": 4}


def message_levels(value: Any) -> int:
    """Levels of messages below a value's AnyValue, as the official encoder builds them: a
    sequence is an ArrayValue holding AnyValues, a map a KeyValueList of KeyValues of AnyValues."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, Mapping)):
        return 0
    inner = value.values() if isinstance(value, Mapping) else value
    below = [message_levels(v) for v in inner]
    return 1 if not below else max(below) + (3 if isinstance(value, Mapping) else 2)


def nested(levels: int, kinds: str) -> Any:
    """A value with exactly ``levels`` levels of messages below its AnyValue, made of tuples,
    lists and dicts (``t``, ``l``, ``d`` in ``kinds``, repeated from the outside in)."""
    wrappers: list[str] = []
    while levels > 3:
        kind = kinds[len(wrappers) % len(kinds)]
        wrappers.append(kind)
        levels -= 3 if kind == "d" else 2
    value: Any = {0: "leaf", 1: (), 2: (None,), 3: {"k": None}}[levels]
    for kind in reversed(wrappers):
        value = (value,) if kind == "t" else [value] if kind == "l" else {"k": value}
    return value


def expected_on_upb(where: str, levels: int) -> str:
    """The official encoder on upb: a copy of a message with more than 100 levels below it
    fails; inside an attribute that drops the attribute, elsewhere it fails the batch."""
    if levels > 100 and where != "body":
        return "dropped"
    if levels + LEVELS_BELOW_RESOURCE_LOGS[where] > 100:
        return "raises DecodeError"
    return "encoded"


@pytest.mark.parametrize("kinds", ["t", "d", "tld"])
@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("depth", ["shallow", "deepest encoded", "failing", "deepest", "beyond"])
def test_values_nested_around_the_official_limits_get_the_official_verdict(
    where: str, kinds: str, depth: str
) -> None:
    first_failing = 101 - LEVELS_BELOW_RESOURCE_LOGS[where]
    levels = {
        "shallow": 40,
        "deepest encoded": first_failing - 1,
        "failing": first_failing,
        "deepest": 100,
        "beyond": 102,
    }[depth]
    value = nested(levels, kinds)
    assert message_levels(value) == levels
    result = same_outcome(carrying(where, value))
    if UPB:
        assert verdict(result) == expected_on_upb(where, levels)


@pytest.mark.parametrize("where", WHERE)
def test_values_nested_as_deep_as_encoded_here_are_not_handed_over(where: str) -> None:
    value = nested(3 * encoder._MAX_NESTING, "d")
    same_bytes(carrying(where, value))
    with pytest.raises(AssertionError, match="handed over"):
        same_bytes(carrying(where, nested(3 * encoder._MAX_NESTING + 3, "d")))


# -- caches --------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [0, 107, 108, 125, 126, 127, 128, 16_383, 16_384, 2**21])
def test_a_str_of_every_length_class_is_encoded_as_officially(size: int) -> None:
    keys = ("k", "k" * 113, "é" * 60) if size < 2**21 else ("k",)
    for key in keys:  # twice: heads made, then reused
        same_bytes([record(body="v" * size, attributes={key: "w" * size})] * 2)
        same_bytes([record(body="é" * size, event_name="e" * size)] * 2)


def test_the_key_tables_are_shared_and_bounded_with_the_span_encoder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(encoder, "_HEADS_LIMIT", 40)
    table = encoder._KEYS.tables[logs_encoder._ATTRIBUTES]
    for round_ in range(3):
        batch = [record(attributes={f"k{i}": "v" * (i + round_), "n": i}) for i in range(20)]
        same_bytes(batch)
        assert encoder._KEYS.heads <= 40
    same_bytes([record(attributes={"fresh key": 1.5})])
    assert table is encoder._KEYS.tables[logs_encoder._ATTRIBUTES]
    assert "fresh key" in table


def test_huge_values_are_encoded_but_not_cached() -> None:
    huge = "x" * 100_000
    batch = [
        record(body=huge + str(i), severity_text=huge, event_name=huge + str(i)) for i in range(3)
    ]
    same_bytes(batch)
    caches = [logs_encoder._SEVERITY_TEXTS.cache, logs_encoder._EVENT_NAMES.cache]
    assert all(len(v) <= encoder._CACHEABLE for cache in caches for v in cache.values())
    assert all(size <= encoder._CACHEABLE for size in logs_encoder._BODY_HEADS)
    assert all(size < encoder._CACHE_LIMIT for size in logs_encoder._RECORD_HEADS)


# -- arbitrary batches ---------------------------------------------------------------------------
def _leaves(odd: bool) -> st.SearchStrategy[Any]:
    plain = (
        st.none()
        | st.booleans()
        | st.integers(-(2**63), 2**63 - 1)
        | st.floats(allow_nan=True, allow_infinity=True)
        | st.text(max_size=10)
        | st.binary(max_size=6)
    )
    if not odd:
        return plain
    return plain | st.sampled_from(
        [2**64, -(2**63) - 1, "lone \udc80", Level.HIGH, Color.RED, object(), bytearray(b"a")]
    )


def _any_values(odd: bool) -> st.SearchStrategy[Any]:
    return st.recursive(
        _leaves(odd),
        lambda children: (
            st.lists(children, max_size=3)
            | st.lists(children, max_size=3).map(tuple)
            | st.dictionaries(st.text(max_size=4), children, max_size=3)
        ),
        max_leaves=6,
    )


def _attribute_maps(odd: bool) -> st.SearchStrategy[dict[Any, Any]]:
    keys = st.text(max_size=6) | st.sampled_from(["k", "", "http.url", "k" * 113])
    if odd:
        keys = keys | st.sampled_from([b"k", 7, "k\udc80"])
    return st.dictionaries(keys, ANY_VALUES[odd], max_size=4)


# Built once: hypothesis validates a strategy on its first draw, a recursive one slowly.
ANY_VALUES = {odd: _any_values(odd) for odd in (False, True)}
ATTRIBUTE_MAPS = {odd: _attribute_maps(odd) for odd in (False, True)}


@st.composite
def log_batches(draw: st.DrawFn, odd: bool = True) -> list[Any]:
    """Up to 6 records over up to 2 resources and 3 scopes, as the SDK's Logger makes them
    (ReadWriteLogRecord: attributes cleaned and bounded) or set directly (ReadableLogRecord)."""
    resources = [
        Resource(draw(ATTRIBUTE_MAPS[odd]), draw(st.sampled_from(["", "https://x/1"])))
        for _ in range(draw(st.integers(1, 2)))
    ]
    scopes = [
        InstrumentationScope(
            draw(st.sampled_from(["a", ""])),
            draw(st.sampled_from([None, "1"])),
            draw(st.sampled_from([None, "https://s/1"])),
            draw(ATTRIBUTE_MAPS[odd]),
        )
        for _ in range(draw(st.integers(1, 2)))
    ] + [None]
    texts = st.none() | st.text(max_size=6)
    if odd:
        texts = texts | st.sampled_from([b"bytes", "\udc80", 7])
    batch: list[Any] = []
    for _ in range(draw(st.integers(0, 6))):
        log = LogRecord(
            timestamp=draw(st.none() | st.integers(0, 2**64 - 1)),
            observed_timestamp=draw(st.integers(0, 2**64 - 1)),
            severity_number=draw(st.none() | st.sampled_from(list(SeverityNumber))),
            severity_text=draw(texts),
            body=draw(ANY_VALUES[odd]),
            attributes=draw(ATTRIBUTE_MAPS[odd]),
            event_name=draw(texts),
        )
        if draw(st.booleans()):  # in a span, or ids and flags of any kind
            log.trace_id = draw(st.integers(0, 2**128 - 1))
            log.span_id = draw(st.integers(0, 2**64 - 1))
            log.trace_flags = TraceFlags(draw(st.integers(0, 0xFF)))
        resource, scope = draw(st.sampled_from(resources)), draw(st.sampled_from(scopes))
        if draw(st.booleans()):
            batch.append(ReadableLogRecord(log, resource, scope))
        else:
            with warnings.catch_warnings():  # of attributes the SDK drops (empty keys, ...)
                warnings.simplefilter("ignore")
                batch.append(ReadWriteLogRecord(log, resource, scope))
    return batch


SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@SETTINGS
@given(log_batches(), st.booleans())
def test_arbitrary_batches_get_the_official_outcome(batch: list[Any], inline: bool) -> None:
    with dropped_counts_read(inline):
        same_outcome(batch)


@SETTINGS
@given(log_batches(odd=False), st.booleans())
def test_arbitrary_plain_batches_are_encoded_here(batch: list[Any], inline: bool) -> None:
    with dropped_counts_read(inline):
        same_bytes(batch)


def utf8_of_size(draw: st.DrawFn, size: int) -> str:
    """A str of exactly ``size`` UTF-8 bytes: ASCII around a few two- to four-byte characters."""
    wide = []
    left = size
    for width in draw(st.lists(st.sampled_from([2, 3, 4]), max_size=4)):
        if width <= left:
            wide.append({2: "\u00e9", 3: "\u4e2d", 4: "\U0001f600"}[width])
            left -= width
    before = draw(st.integers(0, left))
    return "a" * before + "".join(wide) + "a" * (left - before)


# Lengths around each boundary of a one- and two-byte length in a field's head.
SIZES = st.sampled_from([0, 1, 100, 107, 108, 110, 113, 124, 125, 126, 127, 128]) | st.integers(
    0, 700
)


DISTINCT = sdk_logs()


@st.composite
def distinct_records(draw: st.DrawFn) -> list[ReadableLogRecord]:
    """Records of one shape whose values are all new: request ids, messages, URLs, counts."""
    provider, exporter = DISTINCT
    exporter.clear()
    logger = provider.get_logger("app", "1")
    for n in range(draw(st.integers(1, 4))):
        logger.emit(
            body=utf8_of_size(draw, draw(SIZES)),
            severity_number=SeverityNumber.INFO,
            severity_text=utf8_of_size(draw, draw(st.integers(0, 3))),
            attributes={
                "request.id": utf8_of_size(draw, draw(SIZES)),
                "url.full": utf8_of_size(draw, draw(SIZES)),
                "count": draw(st.integers(-(2**63), 2**63 - 1)),
                "ratio": draw(st.floats()),
                "flag": draw(st.booleans()),
                "n": n,
            },
            context=in_span(draw(st.integers(1, 2**128 - 1)), draw(st.integers(1, 2**64 - 1))),
            timestamp=draw(st.integers(0, 2**64 - 1)),
        )
    return list(exporter.get_finished_logs())


@SETTINGS
@given(distinct_records())
def test_records_with_distinct_values_are_encoded_here(batch: list[ReadableLogRecord]) -> None:
    same_bytes(batch)


@SETTINGS
@given(
    st.lists(
        st.fixed_dictionaries({"body": ANY_VALUES[False], "attributes": ATTRIBUTE_MAPS[False]}),
        min_size=1,
        max_size=3,
    ),
    st.lists(st.integers(0, 2), max_size=20),
)
def test_records_with_repeated_values_are_encoded_here(
    values: list[dict[str, Any]], picks: list[int]
) -> None:
    provider, exporter = sdk_logs()
    loggers = [provider.get_logger("a"), provider.get_logger("b", "2")]
    with warnings.catch_warnings():  # of attributes the SDK drops (empty keys, ...)
        warnings.simplefilter("ignore")
        for n, pick in enumerate(picks):
            loggers[n % 2].emit(severity_number=SeverityNumber.ERROR, **values[pick % len(values)])
    same_bytes(exporter.get_finished_logs())


# -- the import stays lean -----------------------------------------------------------------------
LEAN = """
import json, sys
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from otel_lambda_processor.otlp.logs_encoder import encode_logs
from otel_lambda_processor.otlp.releases import untested_releases
provider = LoggerProvider(shutdown_on_exit=False)
exporter = InMemoryLogRecordExporter()
provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
provider.get_logger("lean").emit(body={"a": [1, 2.5, b"b"]}, attributes={"k": "v", "n": (1, 2)})
data = encode_logs(exporter.get_finished_logs())
heavy = ("google.protobuf", "opentelemetry.proto", "opentelemetry.exporter.otlp.proto.common._")
print(json.dumps({"loaded": sorted(m for m in sys.modules if m.startswith(heavy)), "n": len(data)}))
"""


def test_neither_protobuf_nor_the_official_encoder_is_imported() -> None:
    result = subprocess.run(
        [sys.executable, "-c", LEAN], capture_output=True, text=True, timeout=60, check=True
    )
    seen = json.loads(result.stdout)
    assert seen["loaded"] == [] and seen["n"] > 0
