"""Differential: our OTLPLogExporter and OTLPMetricExporter against the official ones.

Each test configures ours and the official exporter the same way (arguments or
``OTEL_EXPORTER_OTLP_LOGS_*`` / ``_METRICS_*`` / ``OTEL_EXPORTER_OTLP_*`` variables), runs the
same script on each against the real local receiver (plain HTTP, TLS, mutual TLS) and compares
what matters to a user: the requests as they arrived (headers and uncompressed bodies), the
results, the exporters' log lines and their own metrics. Batches come from the real SDK
providers. The encoders have their own tests: here only the exporters are under test.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
import time
import warnings
from collections import Counter as Tally
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from opentelemetry.exporter.otlp.common import _exporter_metrics
from opentelemetry.exporter.otlp.common import http as common_http
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import (
    OTLPLogExporter as OfficialLogExporter,
)
from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
    OTLPMetricExporter as OfficialMetricExporter,
)
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import (
    InMemoryLogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    MeterProvider,
    ObservableCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    InMemoryMetricReader,
    MetricExportResult,
)
from opentelemetry.sdk.metrics.view import (
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
    SumAggregation,
)
from opentelemetry.sdk.resources import Resource

from otel_lambda_processor.otlp import OTLPLogExporter, OTLPMetricExporter
from otel_lambda_processor.otlp import exporter as exporter_module
from otel_lambda_processor.testing import Fault, OTLPReceiver

from . import test_otlp_exporter_config as span_config

# The span exporter's differential helpers and fixtures, reused as they are.
receiver = span_config.receiver  # an OTLPReceiver that keeps bodies
authority = span_config.authority  # the collector's CA (trustme)
no_requests_ca_bundle = span_config.no_requests_ca_bundle  # autouse
tls_receiver = span_config.tls_receiver
sent = span_config.sent  # (headers but the transports' own, uncompressed body)

DELTA = AggregationTemporality.DELTA
CUMULATIVE = AggregationTemporality.CUMULATIVE
#: The lean path's note when our encoder hands a batch to the official one: an encoder matter
#: (the encoders have their own tests), invisible on the wire.
ENCODER_FALLBACK = "the fast OTLP encoder failed"


# -- batches from the real SDK providers ---------------------------------------------------------
def logs_batch() -> list[Any]:
    """Records from ``logging`` through ``LoggingHandler`` and from ``Logger.emit``."""
    memory = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=Resource({"service.name": "orders"}), shutdown_on_exit=False)
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    with warnings.catch_warnings():  # the SDK's handler is deprecated, still the common one
        warnings.simplefilter("ignore", DeprecationWarning)
        handler = LoggingHandler(logger_provider=provider)
    app = logging.getLogger("differential.app")

    def log(level: int, message: str, *args: Any, exc_info: Any = None, **keywords: Any) -> None:
        # Straight to the handler, as the logger would hand it the record: the test's own log
        # lines stay out of the logging tree (and out of the lines compared).
        record = app.makeRecord(app.name, level, __file__, 1, message, args, exc_info, **keywords)
        handler.handle(record)

    log(logging.INFO, "order %s placed", 17, extra={"order.id": 17, "vip": True})
    log(logging.WARNING, "slow payment")
    try:
        raise ValueError("card declined")
    except ValueError:
        log(logging.ERROR, "payment failed", exc_info=sys.exc_info(), func="checkout")
    provider.get_logger("direct", "1.0").emit(
        body={"event": "checkout", "items": [1, 2.5, "three"]},
        severity_text="INFO",
        attributes={"tenant": "acme"},
        event_name="checkout.done",
    )
    batch = list(memory.get_finished_logs())
    provider.shutdown()
    assert len(batch) == 4
    return batch


def metrics_batch(**reader_arguments: Any) -> Any:
    """Sums, an up-down counter, a histogram and an observable gauge, collected once."""
    reader = InMemoryMetricReader(**reader_arguments)
    provider = MeterProvider(
        metric_readers=[reader],
        resource=Resource({"service.name": "orders"}),
        shutdown_on_exit=False,
    )
    meter = provider.get_meter("checkout", "1.2")
    orders = meter.create_counter("orders", unit="1", description="orders placed")
    for i in range(6):
        orders.add(i + 1, {"region": ("eu", "us")[i % 2]})
    meter.create_up_down_counter("queue").add(-3, {"queue": "a"})
    latency = meter.create_histogram("latency", unit="ms")
    for value in (0.5, 7, 120, 4000):
        latency.record(value, {"route": "/pay"})

    def memory(options: CallbackOptions) -> list[Observation]:
        return [Observation(128.5, {"kind": "heap"})]

    meter.create_observable_gauge("memory", callbacks=[memory])
    data = reader.get_metrics_data()
    provider.shutdown()
    return data


# -- the two signals -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Kind:
    """What differs between the log and the metric exporter, for the tests."""

    env: str
    path: str
    noun: str
    ours: Callable[..., Any]
    official: Callable[..., Any]
    success: Any
    failure: Any
    #: The official exporter's module, whose logger both exporters use.
    logger: str
    batch: Callable[[], Any]
    #: The official encoding, serialized.
    encode: Callable[[Any], bytes]
    #: Every encoder a batch may go through: ours, the official fallback, the official exporter's.
    encoders: tuple[str, ...]

    def __str__(self) -> str:
        return self.noun


LOGS = Kind(
    "LOGS",
    "/v1/logs",
    "logs",
    OTLPLogExporter,
    OfficialLogExporter,
    LogRecordExportResult.SUCCESS,
    LogRecordExportResult.FAILURE,
    "opentelemetry.exporter.otlp.proto.http._log_exporter",
    logs_batch,
    lambda batch: encode_logs(batch).SerializeToString(),
    (
        "otel_lambda_processor.otlp.logs_encoder.encode_logs",
        "opentelemetry.exporter.otlp.proto.common._log_encoder.encode_logs",
        "opentelemetry.exporter.otlp.proto.http._log_exporter.encode_logs",
    ),
)
METRICS = Kind(
    "METRICS",
    "/v1/metrics",
    "metrics",
    OTLPMetricExporter,
    OfficialMetricExporter,
    MetricExportResult.SUCCESS,
    MetricExportResult.FAILURE,
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    metrics_batch,
    lambda data: encode_metrics(data).SerializeToString(),
    (
        "otel_lambda_processor.otlp.metrics_encoder.encode_metrics",
        "opentelemetry.exporter.otlp.proto.common.metrics_encoder.encode_metrics",
        "opentelemetry.exporter.otlp.proto.http.metric_exporter.encode_metrics",
    ),
)


@pytest.fixture(params=[LOGS, METRICS], ids=str)
def kind(request: pytest.FixtureRequest) -> Kind:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(autouse=True)
def no_otlp_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("OTEL_EXPORTER_OTLP", "OTEL_PYTHON_EXPORTER_OTLP", "OTEL_PYTHON_SDK")):
            monkeypatch.delenv(name)


# -- running the same script on both -------------------------------------------------------------
Line = tuple[str, int, str]


@dataclass
class Outcome:
    """What one exporter did: the script's value, its log lines, the requests that arrived."""

    value: Any
    lines: list[Line]
    requests: list[tuple[str, int | None, dict[str, str], bytes]]


def log_lines(caplog: pytest.LogCaptureFixture) -> list[Line]:
    """Warnings and errors of the exporters (ours log under the official loggers' names)."""
    return [
        (r.name, r.levelno, r.getMessage())
        for r in caplog.records
        if r.levelno >= logging.WARNING
        and r.name.startswith(("opentelemetry", "otel_lambda_processor"))
        and not r.getMessage().startswith(ENCODER_FALLBACK)
    ]


def fresh_log_filters(kind: Kind) -> None:
    """The official log exporter's logger drops a line equal to the one before it (within 20 s):
    each run starts with that memory cleared."""
    for found in logging.getLogger(kind.logger).filters:
        if hasattr(found, "last_log"):
            del found.last_log


def run(
    make: Callable[..., Any],
    kind: Kind,
    receiver: OTLPReceiver | None,
    caplog: pytest.LogCaptureFixture,
    script: Callable[[Any], Any],
    /,
    *args: Any,
    **arguments: Any,
) -> Outcome:
    if receiver is not None:
        receiver.reset()
    fresh_log_filters(kind)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        exporter = make(*args, **arguments)
        value = script(exporter)
    arrived = []
    for request in receiver.requests if receiver is not None else []:
        headers, body = sent(request)
        arrived.append((request.path, request.status, headers, body))
    return Outcome(value, log_lines(caplog), arrived)


def both(
    kind: Kind,
    receiver: OTLPReceiver | None,
    caplog: pytest.LogCaptureFixture,
    script: Callable[[Any], Any],
    /,
    *args: Any,
    **arguments: Any,
) -> tuple[Outcome, Outcome]:
    """The script's outcome with ours, then with the official exporter (same arguments)."""
    ours = run(kind.ours, kind, receiver, caplog, script, *args, **arguments)
    theirs = run(kind.official, kind, receiver, caplog, script, *args, **arguments)
    return ours, theirs


def export_once(kind: Kind, batch: Any = None) -> Callable[[Any], Any]:
    """A script: export ``batch`` (a new one if not given) once and shut down."""
    batch = kind.batch() if batch is None else batch

    def script(exporter: Any) -> Any:
        result = exporter.export(batch)
        exporter.shutdown()
        return result

    return script


def endpoint(receiver: OTLPReceiver, kind: Kind) -> str:
    return receiver.base_endpoint + kind.path


# -- the same bytes, results and lines ------------------------------------------------------------
def test_it_posts_exactly_what_the_official_exporter_posts(
    kind: Kind, receiver: OTLPReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    batch = kind.batch()
    exporter = kind.ours(endpoint=endpoint(receiver, kind))
    assert exporter.uses_fast_encoder
    script = export_once(kind, batch)
    ours, theirs = both(kind, receiver, caplog, script, endpoint=endpoint(receiver, kind))
    assert ours == theirs
    assert ours.value is kind.success and ours.lines == []
    ((path, status, headers, body),) = ours.requests
    assert (path, status, body) == (kind.path, 200, kind.encode(batch))
    assert headers["content-type"] == "application/x-protobuf"
    assert headers["user-agent"].startswith("OTel-OTLP-Exporter-Python/")
    exporter.shutdown()


def test_the_constructors_and_methods_take_the_same_arguments_in_the_same_places(
    kind: Kind,
) -> None:
    def parameters(callable_: Any) -> list[tuple[str, Any, Any]]:
        return [
            (p.name, p.kind, p.default)
            for p in inspect.signature(callable_).parameters.values()
            if p.name not in ("_transport", "compression_level", "others")
        ]

    ours = inspect.signature(kind.ours).parameters
    assert parameters(kind.ours) == parameters(kind.official)
    assert ours["compression_level"].kind is inspect.Parameter.KEYWORD_ONLY
    for method in ("export", "force_flush", "shutdown"):
        mine, official = (getattr(cls, method) for cls in (kind.ours, kind.official))
        assert parameters(mine) == parameters(official), method


def test_positional_arguments_mean_the_same(
    kind: Kind, receiver: OTLPReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    ours, theirs = both(
        kind,
        receiver,
        caplog,
        export_once(kind),
        endpoint(receiver, kind),
        None,
        None,
        None,
        {"X-Positional": "yes"},
        3,
        Compression.Deflate,
    )
    assert ours == theirs
    ((_, status, headers, _),) = ours.requests
    assert status == 200 and headers["x-positional"] == "yes"
    assert headers["content-encoding"] == "deflate"


ENVIRONMENTS: dict[str, Any] = {
    "base endpoint": {"OTEL_EXPORTER_OTLP_ENDPOINT": "{base}"},
    "base endpoint, trailing slash": {"OTEL_EXPORTER_OTLP_ENDPOINT": "{base}/"},
    "signal endpoint wins": {
        "OTEL_EXPORTER_OTLP_{SIGNAL}_ENDPOINT": "{base}{path}",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9/nowhere",
    },
    "signal endpoint taken as it is": {"OTEL_EXPORTER_OTLP_{SIGNAL}_ENDPOINT": "{base}/custom"},
    "empty signal variables fall through": {
        "OTEL_EXPORTER_OTLP_{SIGNAL}_ENDPOINT": "",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "{base}",
        "OTEL_EXPORTER_OTLP_{SIGNAL}_HEADERS": "",
        "OTEL_EXPORTER_OTLP_HEADERS": "x-generic=1",
        "OTEL_EXPORTER_OTLP_{SIGNAL}_COMPRESSION": "",
        "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
    },
    "other signals' variables are not ours": {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "{base}",
        "OTEL_EXPORTER_OTLP_{OTHER}_ENDPOINT": "http://127.0.0.1:9/nowhere",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:9/nowhere",
        "OTEL_EXPORTER_OTLP_{OTHER}_HEADERS": "x-other=1",
        "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "gzip",
        "OTEL_EXPORTER_OTLP_{OTHER}_TIMEOUT": "abc",
    },
    "headers, url-encoded": {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "{base}",
        "OTEL_EXPORTER_OTLP_HEADERS": "x-tenant=acme,authorization=Basic%20dTpw",
    },
    "signal headers replace the generic ones, liberally parsed": {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "{base}",
        "OTEL_EXPORTER_OTLP_HEADERS": "x-ignored=1",
        "OTEL_EXPORTER_OTLP_{SIGNAL}_HEADERS": "X-Key = a=b ,bad header,authorization=Bearer t0k=n",
    },
    "gzip": {"OTEL_EXPORTER_OTLP_ENDPOINT": "{base}", "OTEL_EXPORTER_OTLP_COMPRESSION": "GZip "},
    "signal compression wins": {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "{base}",
        "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
        "OTEL_EXPORTER_OTLP_{SIGNAL}_COMPRESSION": "deflate",
    },
    "unknown compression": {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "{base}",
        "OTEL_EXPORTER_OTLP_{SIGNAL}_COMPRESSION": "brotli",
    },
    "signal timeout wins over a bad generic one": {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "{base}",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "abc",
        "OTEL_EXPORTER_OTLP_{SIGNAL}_TIMEOUT": "7.5",
    },
    "a bad signal timeout is not replaced by the generic one": {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "{base}",
        "OTEL_EXPORTER_OTLP_{SIGNAL}_TIMEOUT": "abc",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "5",
    },
    "a blank signal timeout": pytest.param(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "{base}",
            "OTEL_EXPORTER_OTLP_{SIGNAL}_TIMEOUT": " ",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "5",
        },
    ),
    "a generic timeout with blanks around it": {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "{base}",
        "OTEL_EXPORTER_OTLP_TIMEOUT": " 4 ",
    },
}


def set_variables(
    monkeypatch: pytest.MonkeyPatch, kind: Kind, base: str, variables: dict[str, str]
) -> None:
    other = "METRICS" if kind is LOGS else "LOGS"
    for name, value in variables.items():
        name = name.format(SIGNAL=kind.env, OTHER=other)
        monkeypatch.setenv(name, value.format(base=base, path=kind.path))


def settings_of(exporter: Any) -> tuple[str, float, str]:
    """Endpoint, timeout and compression, as ours resolved them or the official client has them."""
    if hasattr(exporter, "settings"):
        s = exporter.settings
        return s.endpoint, s.timeout, s.compression
    client = exporter._client
    return client._endpoint, client._timeout, client._compression.value


@pytest.mark.parametrize(
    "variables",
    list(ENVIRONMENTS.values()),
    ids=list(ENVIRONMENTS),
)
def test_the_same_variables_make_the_same_requests(
    kind: Kind,
    monkeypatch: pytest.MonkeyPatch,
    receiver: OTLPReceiver,
    caplog: pytest.LogCaptureFixture,
    variables: dict[str, str],
) -> None:
    set_variables(monkeypatch, kind, receiver.base_endpoint, variables)

    exporting = export_once(kind)

    def script(exporter: Any) -> Any:
        return settings_of(exporter), exporting(exporter)

    ours, theirs = both(kind, receiver, caplog, script)
    assert ours == theirs
    assert ours.requests, "something was sent"


def test_the_default_endpoint_is_the_local_collector(kind: Kind) -> None:
    ours, theirs = kind.ours(), kind.official()
    assert settings_of(ours) == settings_of(theirs)
    assert settings_of(ours)[0] == "http://localhost:4318" + kind.path
    ours.shutdown()
    theirs.shutdown()


ARGUMENTS: dict[str, dict[str, Any]] = {
    "headers": {"headers": {"X-Team": "payments", "User-Agent": "mine"}},
    "gzip": {"compression": Compression.Gzip},
    "deflate": {"compression": Compression.Deflate},
    "the common client's gzip": {"compression": common_http.Compression.GZIP},
    "no compression over the variable": {"compression": Compression.NoCompression},
    "timeout": {"timeout": 3},
    "nothing but the endpoint": {},
    "max_request_size": {"max_request_size": 10_000},
    "max_request_size 0: no limit": {"max_request_size": 0},
    "max_request_size negative: no limit": {"max_request_size": -1},
}


@pytest.mark.parametrize("arguments", list(ARGUMENTS.values()), ids=list(ARGUMENTS))
def test_the_same_arguments_make_the_same_requests(
    kind: Kind,
    monkeypatch: pytest.MonkeyPatch,
    receiver: OTLPReceiver,
    caplog: pytest.LogCaptureFixture,
    arguments: dict[str, Any],
) -> None:
    # Arguments win over variables; the generic headers stay under the argument's.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-from-env=1,x-team=env")
    monkeypatch.setenv(f"OTEL_EXPORTER_OTLP_{kind.env}_COMPRESSION", "gzip")
    monkeypatch.setenv(f"OTEL_EXPORTER_OTLP_{kind.env}_TIMEOUT", "8")
    monkeypatch.setenv(f"OTEL_EXPORTER_OTLP_{kind.env}_ENDPOINT", "http://127.0.0.1:9/nowhere")

    exporting = export_once(kind)

    def script(exporter: Any) -> Any:
        return settings_of(exporter), exporting(exporter)

    ours, theirs = both(
        kind, receiver, caplog, script, endpoint=endpoint(receiver, kind), **arguments
    )
    assert ours == theirs
    ((_, status, headers, _),) = ours.requests
    assert status == 200 and headers["x-from-env"] == "1"


def test_gzip_runs_at_our_level_and_carries_the_same_bytes(
    kind: Kind, receiver: OTLPReceiver
) -> None:
    batch = kind.batch()
    for level, xfl in ((None, 4), (9, 2)):  # RFC 1952 XFL: 4 fastest, 2 slowest
        receiver.reset()
        exporter = kind.ours(
            endpoint=endpoint(receiver, kind), compression=Compression.Gzip, compression_level=level
        )
        assert exporter.export(batch) == kind.success
        (request,) = receiver.requests
        assert request.body[8] == xfl
        assert sent(request)[1] == kind.encode(batch)
        exporter.shutdown()


# -- failures: the same results and the same lines ----------------------------------------------
@pytest.mark.parametrize("status", [400, 401, 404, 500])
def test_a_status_that_is_not_retried_fails_the_same_way(
    kind: Kind, receiver: OTLPReceiver, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    batch = kind.batch()

    def script(exporter: Any) -> Any:
        receiver.inject(Fault(status=status), path=kind.path)
        return exporter.export(batch), exporter.export(batch)  # the next one goes through

    ours, theirs = both(kind, receiver, caplog, script, endpoint=endpoint(receiver, kind))
    assert ours == theirs
    assert ours.value == (kind.failure, kind.success)
    assert [r[1] for r in ours.requests] == [status, 200]
    ((name, level, message),) = ours.lines
    assert (name, level) == (kind.logger, logging.ERROR)
    assert message.startswith(f"Failed to export {kind.noun} batch code: {status}")


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured_as_the_official_exporter_honours_it(
    kind: Kind, receiver: OTLPReceiver, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    batch = kind.batch()

    def script(exporter: Any) -> Any:
        receiver.inject(Fault(status=status, retry_after="0.5"), path=kind.path)
        result = exporter.export(batch)
        first, second = receiver.requests
        return result, 0.45 <= second.at - first.at < 2

    ours, theirs = both(
        kind, receiver, caplog, script, endpoint=endpoint(receiver, kind), timeout=10
    )
    assert ours == theirs
    assert ours.value == (kind.success, True)
    assert [r[1] for r in ours.requests] == [status, 200]
    ((name, level, message),) = ours.lines
    assert (name, level) == (kind.logger, logging.WARNING)
    assert message.startswith("Transient error") and message.endswith("retrying in 0.50s.")


def test_a_retry_after_beyond_the_timeout_gives_up_at_once_like_the_official_one(
    kind: Kind, receiver: OTLPReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    batch = kind.batch()

    def script(exporter: Any) -> Any:
        receiver.inject(Fault(status=503, retry_after="30"), path=kind.path)
        started = time.monotonic()
        result = exporter.export(batch)
        return result, time.monotonic() - started < 1.5

    ours, theirs = both(
        kind, receiver, caplog, script, endpoint=endpoint(receiver, kind), timeout=2
    )
    assert ours == theirs
    assert ours.value == (kind.failure, True)
    assert [r[1] for r in ours.requests] == [503]
    assert [line[2] for line in ours.lines] == [
        f"Failed to export {kind.noun} batch due to timeout, max retries or shutdown."
    ]


def test_a_collector_that_went_down_fails_the_same_way(
    kind: Kind, caplog: pytest.LogCaptureFixture
) -> None:
    # Once an endpoint has answered, a refused connection gets the official retries (a
    # collector restarting); one that never answered fails at once (tests/test_no_collector.py).
    with OTLPReceiver() as up:
        url = endpoint(up, kind)
        assert kind.ours(endpoint=url).export(kind.batch()) is kind.success
    ours, theirs = both(kind, None, caplog, export_once(kind), endpoint=url, timeout=0.5)
    assert ours == theirs
    assert ours.value is kind.failure and ours.lines


UNENCODABLE = "Invalid type <class 'object'> of value <object>"


def unencodable(monkeypatch: pytest.MonkeyPatch, kind: Kind) -> None:
    """Every encoder the batch may meet (ours, the official ones) raises, as for a bad value."""

    def encode(items: Any) -> Any:
        raise ValueError(UNENCODABLE)

    for target in kind.encoders:
        monkeypatch.setattr(target, encode)


def test_a_batch_that_cannot_be_encoded_fails_the_same_way(
    kind: Kind,
    receiver: OTLPReceiver,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    unencodable(monkeypatch, kind)
    ours, theirs = both(
        kind, receiver, caplog, export_once(kind), endpoint=endpoint(receiver, kind)
    )
    assert ours == theirs
    assert ours.value is kind.failure and ours.requests == []
    assert ours.lines == [
        (
            kind.logger,
            logging.ERROR,
            f"Failed to encode {kind.noun} batch: {UNENCODABLE}",
        )
    ]


def test_a_batch_over_max_request_size_is_dropped_the_same_way(
    kind: Kind, receiver: OTLPReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    batch = kind.batch()
    size = len(kind.encode(batch))

    def script(exporter: Any) -> Any:
        return exporter.export(batch)

    url = endpoint(receiver, kind)
    ours, theirs = both(kind, receiver, caplog, script, endpoint=url, max_request_size=size - 1)
    assert ours == theirs
    assert ours.value is kind.failure and ours.requests == []
    assert ours.lines == [
        (
            kind.logger,
            logging.WARNING,
            f"Dropping {kind.noun} batch: serialized size {size} bytes exceeds max_request_size "
            f"{size - 1} bytes.",
        )
    ]
    ours, theirs = both(kind, receiver, caplog, script, endpoint=url, max_request_size=size)
    assert ours == theirs and ours.value is kind.success


SHUTDOWN_SCRIPTS: dict[str, Callable[[Any, Any], Any]] = {
    "shutdown twice before any export": lambda e, b: (e.shutdown(), e.shutdown()),
    "export after shutdown": lambda e, b: (e.shutdown(), e.export(b), e.export(b)),
    "export, shutdown twice, export": lambda e, b: (
        e.export(b),
        e.shutdown(),
        e.shutdown(),
        e.export(b),
        e.force_flush(),
    ),
}


@pytest.mark.parametrize("steps", list(SHUTDOWN_SCRIPTS.values()), ids=list(SHUTDOWN_SCRIPTS))
def test_shutdown_behaves_the_same(
    kind: Kind,
    receiver: OTLPReceiver,
    caplog: pytest.LogCaptureFixture,
    steps: Callable[[Any, Any], Any],
) -> None:
    batch = kind.batch()
    ours, theirs = both(
        kind, receiver, caplog, lambda e: steps(e, batch), endpoint=endpoint(receiver, kind)
    )
    assert ours == theirs
    assert any("Exporter already shutdown" in line[2] for line in ours.lines)


# -- the exporters' own metrics (OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED) -----------------------
def own_metrics(reader: InMemoryMetricReader) -> list[tuple[str, tuple[Any, ...], Any]]:
    """(name, attributes, value) of every point; a histogram's (the durations') by its count."""
    out = []
    data = reader.get_metrics_data()
    for resource_metrics in data.resource_metrics if data else ():
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                for point in metric.data.data_points:
                    value = getattr(point, "value", None)
                    if value is None:
                        value = point.count
                    attributes = tuple(sorted(point.attributes.items()))
                    out.append((metric.name, attributes, value))
    return sorted(out)


@pytest.fixture
def internal_metrics(monkeypatch: pytest.MonkeyPatch) -> Callable[[], InMemoryMetricReader]:
    """Turns the exporters' own metrics on; each call: a fresh reader and component numbering."""
    monkeypatch.setenv("OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED", "true")

    def fresh() -> InMemoryMetricReader:
        monkeypatch.setattr(_exporter_metrics, "_component_counter", Tally())
        return InMemoryMetricReader()

    return fresh


@pytest.mark.parametrize(
    "outcome", ["success", "status 400", "status 503 then success", "too large", "unencodable"]
)
def test_the_exporters_own_metrics_are_the_same(
    kind: Kind,
    receiver: OTLPReceiver,
    monkeypatch: pytest.MonkeyPatch,
    internal_metrics: Callable[[], InMemoryMetricReader],
    request: pytest.FixtureRequest,
    outcome: str,
) -> None:
    if outcome == "unencodable":
        unencodable(monkeypatch, kind)
    batch = kind.batch()
    limit = len(kind.encode(batch)) - 1 if outcome == "too large" else None
    seen = []
    for make in (kind.ours, kind.official):
        reader = internal_metrics()
        provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
        receiver.reset()
        if outcome.startswith("status"):
            receiver.inject(Fault(status=int(outcome.split()[1]), retry_after="0"))
        exporter = make(
            endpoint=endpoint(receiver, kind),
            meter_provider=provider,
            max_request_size=limit,
        )
        result = exporter.export(batch)
        seen.append((result, own_metrics(reader)))
        provider.shutdown()
    assert seen[0] == seen[1]
    names = {name for name, _, _ in seen[0][1]}
    if outcome == "unencodable" and kind is METRICS:
        # The official metric exporter encodes before it counts an export: nothing recorded.
        assert names == set()
    else:
        assert "otel.sdk.exporter.operation.duration" in names


def test_component_names_are_numbered_in_construction_order(
    kind: Kind,
    receiver: OTLPReceiver,
    internal_metrics: Callable[[], InMemoryMetricReader],
) -> None:
    batch = kind.batch()
    names = []
    for make in (kind.ours, kind.official):
        readers = [internal_metrics(), InMemoryMetricReader()]
        providers = [MeterProvider(metric_readers=[r], shutdown_on_exit=False) for r in readers]
        first, second = (
            make(endpoint=endpoint(receiver, kind), meter_provider=p) for p in providers
        )
        second.export(batch)  # the second one exports first
        first.export(batch)
        names.append(
            [{dict(a)["otel.component.name"] for _, a, _ in own_metrics(r)} for r in readers]
        )
        for provider in providers:
            provider.shutdown()
    assert names[0] == names[1]


# -- TLS and mutual TLS: certificate_file, client_key_file, client_certificate_file, variables ----
@pytest.fixture(scope="module")
def stranger() -> trustme.CA:
    """A CA nobody here trusts."""
    return trustme.CA()


def pem(tmp_path: Path, authority: trustme.CA, name: str) -> tuple[str, str, str]:
    """(CA, client certificate, client key) paths for a client of ``authority``."""
    ca, cert, key = (tmp_path / f"{name}-{part}" for part in ("ca.pem", "client.pem", "key.pem"))
    authority.cert_pem.write_to_path(str(ca))
    client = authority.issue_cert(f"{name}@example.com")
    client.cert_chain_pems[0].write_to_path(str(cert))
    client.private_key_pem.write_to_path(str(key))
    return str(ca), str(cert), str(key)


def both_export(
    kind: Kind, caplog: pytest.LogCaptureFixture, receiver: OTLPReceiver, **arguments: Any
) -> Any:
    """One batch through each: the same result, lines and requests; the result."""
    ours, theirs = both(kind, receiver, caplog, export_once(kind), **arguments)
    assert ours == theirs
    assert [r[1] for r in ours.requests] == ([200] if ours.value is kind.success else [])
    return ours.value


def test_tls_with_the_collectors_ca_from_the_argument_or_the_variables(
    kind: Kind,
    monkeypatch: pytest.MonkeyPatch,
    authority: trustme.CA,
    stranger: trustme.CA,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ca, _, _ = pem(tmp_path, authority, "good")
    wrong, _, _ = pem(tmp_path, stranger, "bad")
    signal_ca = f"OTEL_EXPORTER_OTLP_{kind.env}_CERTIFICATE"
    with tls_receiver(authority, client_certificates=False) as receiver:
        url = endpoint(receiver, kind)
        assert url.startswith("https://")

        def send(**arguments: Any) -> Any:
            return both_export(kind, caplog, receiver, endpoint=url, timeout=0.5, **arguments)

        assert send() is kind.failure  # the system's CAs only
        assert send(certificate_file=ca) is kind.success
        monkeypatch.setenv(signal_ca, wrong)
        assert send(certificate_file=ca) is kind.success  # the argument wins
        assert send() is kind.failure
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", ca)
        assert send() is kind.failure  # the signal's variable wins
        monkeypatch.setenv(signal_ca, ca)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", wrong)
        assert send() is kind.success
        monkeypatch.delenv(signal_ca)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", ca)
        assert send() is kind.success


def test_mutual_tls_with_a_client_certificate_from_arguments_or_variables(
    kind: Kind,
    monkeypatch: pytest.MonkeyPatch,
    authority: trustme.CA,
    stranger: trustme.CA,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ca, cert, key = pem(tmp_path, authority, "good")
    _, other_cert, other_key = pem(tmp_path, stranger, "bad")
    signal_cert = f"OTEL_EXPORTER_OTLP_{kind.env}_CLIENT_CERTIFICATE"
    signal_key = f"OTEL_EXPORTER_OTLP_{kind.env}_CLIENT_KEY"
    with tls_receiver(authority, client_certificates=True) as receiver:
        url = endpoint(receiver, kind)

        def send(**arguments: Any) -> Any:
            return both_export(kind, caplog, receiver, endpoint=url, timeout=0.5, **arguments)

        assert send(certificate_file=ca) is kind.failure  # no client certificate
        client = {"client_certificate_file": cert, "client_key_file": key}
        assert send(certificate_file=ca, **client) is kind.success
        # Signal-specific over generic, for the certificate and the key.
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", ca)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", other_cert)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_CLIENT_KEY", other_key)
        assert send() is kind.failure  # a certificate the collector does not trust
        monkeypatch.setenv(signal_cert, cert)
        monkeypatch.setenv(signal_key, key)
        assert send() is kind.success
        # The certificate from the signal's variable, the key from the generic one.
        monkeypatch.delenv(signal_key)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_CLIENT_KEY", key)
        assert send() is kind.success
        # Arguments over variables.
        monkeypatch.setenv(signal_cert, other_cert)
        monkeypatch.setenv(signal_key, other_key)
        assert send() is kind.failure
        assert send(**client) is kind.success


# -- what goes to the official exporter ----------------------------------------------------------
@pytest.fixture
def requests_module() -> Any:
    return pytest.importorskip("requests")  # an extra of the official exporter since 1.45


def recording_session(requests_module: Any) -> tuple[Any, list[str]]:
    used: list[str] = []

    class Recording(requests_module.Session):  # type: ignore[misc,name-defined]
        def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            used.append(url)
            return super().request(method, url, *args, **kwargs)

    return Recording, used


def test_a_requests_session_goes_to_the_official_exporter(
    kind: Kind, receiver: OTLPReceiver, caplog: pytest.LogCaptureFixture, requests_module: Any
) -> None:
    session_type, used = recording_session(requests_module)
    url = endpoint(receiver, kind)

    exporting = export_once(kind)

    def script(exporter: Any) -> Any:
        return getattr(exporter, "uses_fast_encoder", False), exporting(exporter)

    ours = run(kind.ours, kind, receiver, caplog, script, endpoint=url, session=session_type())
    theirs = run(
        kind.official, kind, receiver, caplog, script, endpoint=url, session=session_type()
    )
    assert ours == theirs
    assert ours.value == (False, kind.success)
    assert used == [url, url]


@pytest.mark.parametrize("variable", ["generic", "signal"])
def test_a_credential_provider_variable_goes_to_the_official_exporter(
    kind: Kind,
    receiver: OTLPReceiver,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    requests_module: Any,
    variable: str,
) -> None:
    session_type, used = recording_session(requests_module)

    class Provider:
        """The ``opentelemetry_otlp_credential_provider`` entry point, registered here."""

        def load(self) -> Callable[[], Any]:
            return session_type

    def entry_points(group: str, name: str) -> list[Provider]:
        assert group == "opentelemetry_otlp_credential_provider"
        return [Provider()] if name == "vault" else []

    monkeypatch.setattr("opentelemetry.exporter.otlp.proto.http._common.entry_points", entry_points)
    middle = f"{kind.env}_" if variable == "signal" else ""
    monkeypatch.setenv(f"OTEL_PYTHON_EXPORTER_OTLP_HTTP_{middle}CREDENTIAL_PROVIDER", "vault")
    url = endpoint(receiver, kind)

    exporting = export_once(kind)

    def script(exporter: Any) -> Any:
        return getattr(exporter, "uses_fast_encoder", False), exporting(exporter)

    ours, theirs = both(kind, receiver, caplog, script, endpoint=url)
    assert ours == theirs
    assert ours.value == (False, kind.success)
    assert used == [url, url]
    # A provider nobody registered: the same error from both.
    monkeypatch.setenv(f"OTEL_PYTHON_EXPORTER_OTLP_HTTP_{middle}CREDENTIAL_PROVIDER", "missing")
    errors = []
    for make in (kind.ours, kind.official):
        with pytest.raises(RuntimeError) as raised:
            make(endpoint=url)
        errors.append(str(raised.value))
    assert errors[0] == errors[1] and "'missing' not found" in errors[0]


def test_another_signals_credential_provider_is_not_ours(
    kind: Kind,
    receiver: OTLPReceiver,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_PYTHON_EXPORTER_OTLP_HTTP_TRACES_CREDENTIAL_PROVIDER", "missing")
    other = "METRICS" if kind is LOGS else "LOGS"
    monkeypatch.setenv(f"OTEL_PYTHON_EXPORTER_OTLP_HTTP_{other}_CREDENTIAL_PROVIDER", "missing")
    exporter = kind.ours(endpoint=endpoint(receiver, kind))
    assert exporter.uses_fast_encoder
    ours, theirs = both(
        kind, receiver, caplog, export_once(kind), endpoint=endpoint(receiver, kind)
    )
    assert ours == theirs and ours.value is kind.success


def test_an_unknown_argument_fails_as_the_official_exporter_fails(kind: Kind) -> None:
    messages = []
    for make in (kind.ours, kind.official):
        with pytest.raises(TypeError) as raised:
            make(endpoint="http://127.0.0.1:9/v1/x", retries=3)
        messages.append(str(raised.value))
    assert messages[0] == messages[1]
    assert "unexpected keyword argument 'retries'" in messages[0]


def test_the_official_exporters_private_transport_goes_to_it(
    kind: Kind, receiver: OTLPReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    from opentelemetry.exporter.http.transport._urllib3 import Urllib3HTTPTransport

    class Counting(Urllib3HTTPTransport):  # type: ignore[misc]
        calls = 0

        def request(self, *args: Any, **kwargs: Any) -> Any:
            Counting.calls += 1
            return super().request(*args, **kwargs)

    url, script = endpoint(receiver, kind), export_once(kind)
    ours = run(kind.ours, kind, receiver, caplog, script, endpoint=url, _transport=Counting())
    theirs = run(kind.official, kind, receiver, caplog, script, endpoint=url, _transport=Counting())
    assert ours == theirs and ours.value is kind.success
    assert Counting.calls == 2
    assert not kind.ours(endpoint=url, _transport=Counting()).uses_fast_encoder


def test_a_hand_over_logs_the_configuration_warnings_once(
    kind: Kind, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "brotli")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "bad header")
    monkeypatch.setattr(exporter_module, "untested_releases", lambda: ("opentelemetry-sdk==9.9",))

    def first_use(exporter: Any) -> None:  # ours builds the official exporter at its first use
        getattr(exporter, "_official_exporter", lambda: None)()

    ours, theirs = both(kind, None, caplog, first_use)
    assert Tally(ours.lines) == Tally(theirs.lines)


def test_the_configuration_warnings_are_the_same(
    kind: Kind, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "brotli")
    monkeypatch.setenv(f"OTEL_EXPORTER_OTLP_{kind.env}_HEADERS", "bad header,ok=1")
    monkeypatch.setenv(f"OTEL_EXPORTER_OTLP_{kind.env}_TIMEOUT", "soon")
    if kind is METRICS:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "sometimes")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION", "fancy")
    ours, theirs = both(kind, None, caplog, lambda exporter: exporter.shutdown())
    # The same lines; the order in which the settings are read differs, which nobody can rely on.
    assert Tally(ours.lines) == Tally(theirs.lines)
    assert len(ours.lines) == (5 if kind is METRICS else 3)


def test_outside_the_tested_releases_the_official_exporter_does_everything(
    kind: Kind,
    receiver: OTLPReceiver,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(exporter_module, "untested_releases", lambda: ("opentelemetry-sdk==9.9",))
    monkeypatch.setattr(exporter_module, "_said", set())
    for target in kind.encoders[:1]:  # ours must not run
        monkeypatch.setattr(target, lambda items: pytest.fail("our encoder ran"))
    with caplog.at_level(logging.INFO, logger=exporter_module.__name__):
        kind.ours(endpoint=endpoint(receiver, kind)).shutdown()
        exporter = kind.ours(endpoint=endpoint(receiver, kind))
    assert not exporter.uses_fast_encoder
    assert caplog.text.count("opentelemetry-sdk==9.9") == 1, "one line per process"
    ours, theirs = both(
        kind, receiver, caplog, export_once(kind), endpoint=endpoint(receiver, kind)
    )
    assert ours == theirs and ours.value is kind.success


# -- timeouts the transport cannot use: replaced, as for spans (a deliberate difference) -----------
@pytest.mark.parametrize("raw", ["inf", "nan", "0", "-5"])
def test_a_timeout_variable_the_transport_cannot_use_is_replaced_with_one_warning(
    kind: Kind,
    monkeypatch: pytest.MonkeyPatch,
    receiver: OTLPReceiver,
    caplog: pytest.LogCaptureFixture,
    raw: str,
) -> None:
    variable = f"OTEL_EXPORTER_OTLP_{kind.env}_TIMEOUT"
    monkeypatch.setenv(variable, raw)
    with caplog.at_level(logging.WARNING, logger="otel_lambda_processor"):
        exporter = kind.ours(endpoint=endpoint(receiver, kind))
        kind.ours(endpoint=endpoint(receiver, kind))
    warnings = [m for r in caplog.records if variable in (m := r.getMessage())]
    assert len(warnings) == 1 and repr(raw) in warnings[0] and "using 10" in warnings[0]
    assert exporter.settings.timeout == 10
    assert exporter.export(kind.batch()) == kind.success


@pytest.mark.parametrize("bad", [0, -1.0, float("inf"), float("nan")])
def test_a_timeout_argument_the_transport_cannot_use_is_replaced_too(
    kind: Kind, receiver: OTLPReceiver, bad: float
) -> None:
    by_name = kind.ours(endpoint=endpoint(receiver, kind), timeout=bad)
    by_position = kind.ours(endpoint(receiver, kind), None, None, None, None, bad)
    for exporter in (by_name, by_position):
        assert exporter.settings.timeout == 10
        assert exporter.export(kind.batch()) == kind.success
    assert [r.status for r in receiver.requests] == [200, 200]


# -- metrics only: max_export_batch_size, preferences, set_meter_provider --------------------------
def test_max_export_batch_size_goes_to_the_official_exporter(
    receiver: OTLPReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    data = metrics_batch()

    def script(exporter: Any) -> Any:
        return getattr(exporter, "uses_fast_encoder", False), exporter.export(data)

    ours, theirs = both(
        METRICS,
        receiver,
        caplog,
        script,
        endpoint=endpoint(receiver, METRICS),
        max_export_batch_size=2,
    )
    assert ours == theirs
    assert ours.value == (False, MetricExportResult.SUCCESS)
    assert len(ours.requests) == 3  # 5 points, 2 a request
    assert sum(r.item_count for r in receiver.requests) == 5


TEMPORALITIES = [None, "cumulative", "DELTA", " lowmemory ", "sometimes"]
AGGREGATIONS = [None, "base2_exponential_bucket_histogram", "EXPLICIT_BUCKET_HISTOGRAM", "fancy"]


def preferences(exporter: Any) -> tuple[dict[type, Any], dict[type, Any]]:
    aggregation = {
        instrument: (type(a), sorted(vars(a).items()))
        for instrument, a in exporter._preferred_aggregation.items()
    }
    return dict(exporter._preferred_temporality), aggregation


@pytest.mark.parametrize("temporality", TEMPORALITIES)
@pytest.mark.parametrize("aggregation", AGGREGATIONS)
def test_the_temporality_and_aggregation_variables_give_the_same_preferences(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    temporality: str | None,
    aggregation: str | None,
) -> None:
    if temporality is not None:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", temporality)
    if aggregation is not None:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION", aggregation)
    ours, theirs = both(METRICS, None, caplog, preferences)
    assert ours == theirs
    bad = (temporality == "sometimes") + (aggregation == "fancy")
    assert len(ours.lines) == bad
    delta = temporality in ("DELTA", " lowmemory ")
    assert (ours.value[0][Counter] is DELTA) is delta
    exponential = aggregation == "base2_exponential_bucket_histogram"
    assert (ours.value[1][Histogram][0] is ExponentialBucketHistogramAggregation) is exponential


def test_the_preference_arguments_win_over_the_variables_the_same_way(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")
    monkeypatch.setenv(
        "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION",
        "base2_exponential_bucket_histogram",
    )
    arguments = {
        "preferred_temporality": {Counter: CUMULATIVE, ObservableCounter: DELTA},
        "preferred_aggregation": {
            Histogram: ExplicitBucketHistogramAggregation(boundaries=(1.0, 10.0, 100.0)),
            UpDownCounter: SumAggregation(),
        },
    }
    ours, theirs = both(METRICS, None, caplog, preferences, **arguments)
    assert ours == theirs
    temporality, aggregation = ours.value
    assert temporality[Counter] is CUMULATIVE and temporality[Histogram] is DELTA
    assert aggregation[Histogram][0] is ExplicitBucketHistogramAggregation
    assert aggregation[UpDownCounter][0] is SumAggregation
    by_position = OTLPMetricExporter(
        "http://127.0.0.1:9/v1/metrics",
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        arguments["preferred_temporality"],
        arguments["preferred_aggregation"],
    )
    assert preferences(by_position) == ours.value and by_position.uses_fast_encoder


def test_batches_collected_with_the_preferences_are_sent_the_same(
    monkeypatch: pytest.MonkeyPatch, receiver: OTLPReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")
    monkeypatch.setenv(
        "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION",
        "base2_exponential_bucket_histogram",
    )
    exporter = OTLPMetricExporter(endpoint=endpoint(receiver, METRICS))
    data = metrics_batch(
        preferred_temporality=exporter._preferred_temporality,
        preferred_aggregation=exporter._preferred_aggregation,
    )
    metrics = {m.name: m for m in data.resource_metrics[0].scope_metrics[0].metrics}
    assert metrics["orders"].data.aggregation_temporality is DELTA
    assert type(metrics["latency"].data).__name__ == "ExponentialHistogram"

    def script(exporter: Any) -> Any:
        return exporter.export(data)

    ours, theirs = both(METRICS, receiver, caplog, script, endpoint=endpoint(receiver, METRICS))
    assert ours == theirs and ours.value is MetricExportResult.SUCCESS
    assert ours.requests[0][3] == METRICS.encode(data)


@pytest.mark.parametrize("handed_over", [False, True], ids=["lean", "handed over"])
def test_set_meter_provider_moves_the_exporters_own_metrics_the_same_way(
    receiver: OTLPReceiver,
    internal_metrics: Callable[[], InMemoryMetricReader],
    handed_over: bool,
) -> None:
    data = metrics_batch()
    extra = {"max_export_batch_size": 100} if handed_over else {}
    seen = []
    for make in (OTLPMetricExporter, OfficialMetricExporter):
        first_reader, second_reader = internal_metrics(), InMemoryMetricReader()
        first = MeterProvider(metric_readers=[first_reader], shutdown_on_exit=False)
        second = MeterProvider(metric_readers=[second_reader], shutdown_on_exit=False)
        exporter = make(endpoint=endpoint(receiver, METRICS), meter_provider=first, **extra)
        assert exporter.export(data) is MetricExportResult.SUCCESS
        exporter.set_meter_provider(second)
        assert exporter.export(data) is MetricExportResult.SUCCESS
        assert exporter.export(data) is MetricExportResult.SUCCESS
        seen.append((own_metrics(first_reader), own_metrics(second_reader)))
        first.shutdown()
        second.shutdown()
    assert seen[0] == seen[1]
    exported = "otel.sdk.exporter.metric_data_point.exported"
    assert [v for n, _, v in seen[0][0] if n == exported] == [5]
    assert [v for n, _, v in seen[0][1] if n == exported] == [10]


def test_set_meter_provider_before_any_export_names_the_component_the_same(
    receiver: OTLPReceiver, internal_metrics: Callable[[], InMemoryMetricReader]
) -> None:
    data = metrics_batch()
    seen = []
    for make in (OTLPMetricExporter, OfficialMetricExporter):
        reader = internal_metrics()
        provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
        exporter = make(endpoint=endpoint(receiver, METRICS))
        exporter.set_meter_provider(provider)
        assert exporter.export(data) is MetricExportResult.SUCCESS
        seen.append(own_metrics(reader))
        provider.shutdown()
    assert seen[0] == seen[1]
