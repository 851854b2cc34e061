"""Our OTLPSpanExporter against the official one, both posting to the real local receiver: the
same bytes on the wire, the same configuration, retries, limits and failures."""

from __future__ import annotations

import gzip
import logging
import zlib
from collections.abc import Iterator, Sequence

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as official
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as OfficialExporter,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import Link, SpanContext, StatusCode

from otel_lambda_processor import LambdaSpanProcessor
from otel_lambda_processor.otlp import OTLPSpanExporter
from otel_lambda_processor.otlp import encoder as encoder_module
from otel_lambda_processor.otlp import exporter as exporter_module
from otel_lambda_processor.testing import Fault, OTLPReceiver


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver(keep_bodies=True) as r:
        yield r


def make_spans(count: int) -> list[ReadableSpan]:
    spans: list[ReadableSpan] = []
    for service in ("orders", "billing"):
        provider = TracerProvider(resource=Resource({"service.name": service}))
        tracer = provider.get_tracer("checkout", "1.2")
        for i in range(count // 2):
            link = Link(SpanContext(7, 9, False), {"why": "batch"})
            with tracer.start_as_current_span(
                f"op {i % 5}", links=[link], attributes={"i": i, "ok": i % 2 == 0}
            ) as span:
                span.add_event("step", {"n": i})
                if i % 7 == 0:
                    span.set_status(StatusCode.ERROR, "boom")
            spans.append(span)  # type: ignore[arg-type]
    return spans


def bodies(receiver: OTLPReceiver) -> list[bytes]:
    return [r.body for r in receiver.requests if r.status == 200]


def test_it_posts_exactly_what_the_official_exporter_posts(receiver: OTLPReceiver) -> None:
    spans = make_spans(400)
    ours = OTLPSpanExporter(endpoint=receiver.endpoint)
    assert ours.uses_fast_encoder
    assert ours.export(spans) == SpanExportResult.SUCCESS
    theirs = OfficialExporter(endpoint=receiver.endpoint)
    assert theirs.export(spans) == SpanExportResult.SUCCESS
    first, second = bodies(receiver)
    assert first == second == official(spans).SerializeToString()
    assert len(receiver.spans) == 800
    ours.shutdown()
    theirs.shutdown()


def test_it_is_configured_by_the_same_environment_variables(
    receiver: OTLPReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", receiver.endpoint)
    monkeypatch.setenv(
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-tenant=acme,authorization=Bearer%20t"
    )
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip")
    exporter = OTLPSpanExporter()
    spans = make_spans(10)
    assert exporter.export(spans) == SpanExportResult.SUCCESS
    (request,) = receiver.requests
    assert request.headers["x-tenant"] == "acme"
    assert request.headers["authorization"] == "Bearer t"
    assert request.headers["content-encoding"] == "gzip"
    assert gzip.decompress(request.body) == official(spans).SerializeToString()
    exporter.shutdown()


@pytest.mark.parametrize(
    ("level", "gzip_xfl"),
    [(None, 4), (1, 4), (9, 2), (6, 0)],  # RFC 1952 XFL: 4 fastest, 2 slowest, 0 otherwise
)
def test_gzip_runs_at_the_level_asked_for_fastest_by_default(
    receiver: OTLPReceiver, level: int | None, gzip_xfl: int
) -> None:
    exporter = OTLPSpanExporter(
        endpoint=receiver.endpoint, compression=Compression.Gzip, compression_level=level
    )
    spans = make_spans(50)
    assert exporter.export(spans) == SpanExportResult.SUCCESS
    (body,) = bodies(receiver)
    assert body[8] == gzip_xfl
    assert gzip.decompress(body) == official(spans).SerializeToString()
    exporter.shutdown()


def test_deflate_too(receiver: OTLPReceiver) -> None:
    exporter = OTLPSpanExporter(endpoint=receiver.endpoint, compression=Compression.Deflate)
    spans = make_spans(20)
    assert exporter.export(spans) == SpanExportResult.SUCCESS
    (body,) = bodies(receiver)
    assert body[:2] == b"\x78\x01"  # zlib header: fastest compression
    assert zlib.decompress(body) == official(spans).SerializeToString()
    exporter.shutdown()


def test_a_bad_compression_level_warns_once_and_uses_the_default(
    receiver: OTLPReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    exporter = OTLPSpanExporter(endpoint=receiver.endpoint, compression_level=12)
    assert exporter.compression_level == exporter_module.DEFAULT_COMPRESSION_LEVEL
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "compression_level=12" in warnings[0].getMessage()
    exporter.shutdown()


def test_transient_failures_are_retried_as_the_official_exporter_retries(
    receiver: OTLPReceiver,
) -> None:
    receiver.inject(Fault(status=503))
    exporter = OTLPSpanExporter(endpoint=receiver.endpoint, timeout=10)
    assert exporter.export(make_spans(6)) == SpanExportResult.SUCCESS
    assert [r.status for r in receiver.requests] == [503, 200]
    exporter.shutdown()


def test_a_permanent_failure_is_a_failure(receiver: OTLPReceiver) -> None:
    receiver.inject(Fault(status=400))
    exporter = OTLPSpanExporter(endpoint=receiver.endpoint)
    assert exporter.export(make_spans(6)) == SpanExportResult.FAILURE
    assert [r.status for r in receiver.requests] == [400]
    exporter.shutdown()


def test_a_batch_over_max_request_size_is_dropped_as_the_official_one_drops_it(
    receiver: OTLPReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    exporter = OTLPSpanExporter(endpoint=receiver.endpoint, max_request_size=100)
    assert exporter.export(make_spans(10)) == SpanExportResult.FAILURE
    assert receiver.requests == []
    assert "exceeds max_request_size 100" in caplog.text
    exporter.shutdown()


def test_after_shutdown_it_refuses_like_the_official_one(receiver: OTLPReceiver) -> None:
    exporter = OTLPSpanExporter(endpoint=receiver.endpoint)
    exporter.shutdown()
    assert exporter.export(make_spans(2)) == SpanExportResult.FAILURE
    assert receiver.requests == []


def test_outside_the_tested_releases_the_official_exporter_does_everything(
    receiver: OTLPReceiver, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(
        exporter_module, "untested_releases", lambda: ("opentelemetry-sdk==1.99.0",)
    )
    monkeypatch.setattr(encoder_module, "encode_spans", _must_not_run)
    monkeypatch.setattr(exporter_module, "_said", set())
    caplog.set_level(logging.INFO, logger=exporter_module.__name__)
    OTLPSpanExporter(endpoint=receiver.endpoint).shutdown()
    exporter = OTLPSpanExporter(endpoint=receiver.endpoint, compression=Compression.Gzip)
    assert not exporter.uses_fast_encoder
    spans = make_spans(10)
    assert exporter.export(spans) == SpanExportResult.SUCCESS
    assert caplog.text.count("opentelemetry-sdk==1.99.0") == 1, "one line per process"
    (body,) = bodies(receiver)
    assert body[8] == 2  # the official exporter's own gzip level (9)
    assert gzip.decompress(body) == official(spans).SerializeToString()
    exporter.shutdown()


def test_the_installed_releases_are_the_tested_ones() -> None:
    # tox's otel-lowest and otel-highest environments move this bound when they pass.
    assert exporter_module.untested_releases() == ()


def test_if_the_fast_encoder_fails_the_batch_still_leaves(
    receiver: OTLPReceiver, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(encoder_module, "encode_spans", _must_not_run)
    exporter = OTLPSpanExporter(endpoint=receiver.endpoint)
    spans = make_spans(10)
    assert exporter.export(spans) == SpanExportResult.SUCCESS
    assert bodies(receiver) == [official(spans).SerializeToString()]
    assert "fast OTLP encoder failed" in caplog.text
    exporter.shutdown()


def test_spans_that_are_not_sdk_spans_go_to_the_official_encoder(receiver: OTLPReceiver) -> None:
    class Wrapped:
        """Not a ReadableSpan: reads through to one, as some vendor wrappers do."""

        def __init__(self, span: ReadableSpan) -> None:
            self._span = span

        def __getattr__(self, name: str) -> object:
            return getattr(self._span, name)

    spans = make_spans(4)
    wrapped: Sequence[ReadableSpan] = [Wrapped(s) for s in spans]  # type: ignore[misc]
    exporter = OTLPSpanExporter(endpoint=receiver.endpoint)
    assert exporter.export(wrapped) == SpanExportResult.SUCCESS
    assert bodies(receiver) == [official(spans).SerializeToString()]
    exporter.shutdown()


def test_it_serves_as_the_lambda_processors_exporter(receiver: OTLPReceiver) -> None:
    provider = TracerProvider()
    processor = LambdaSpanProcessor(OTLPSpanExporter(endpoint=receiver.endpoint), mode="sync")
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("t")
    for i in range(300):
        tracer.start_span(f"s{i}").end()
    assert processor.force_flush(10_000)
    assert sorted(receiver.span_names()) == sorted(f"s{i}" for i in range(300))
    provider.shutdown()


def _must_not_run(spans: Sequence[ReadableSpan]) -> bytes:
    raise RuntimeError("the fast encoder was used")


@pytest.mark.parametrize("raw", ["inf", "nan", "0", "-5", "1e308"])
def test_a_timeout_the_transport_cannot_use_is_replaced_with_one_warning(
    monkeypatch: pytest.MonkeyPatch,
    receiver: OTLPReceiver,
    caplog: pytest.LogCaptureFixture,
    raw: str,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", raw)
    with caplog.at_level(logging.WARNING, logger="otel_lambda_processor"):
        exporter = OTLPSpanExporter(endpoint=receiver.endpoint)
        OTLPSpanExporter(endpoint=receiver.endpoint)
    warnings = [m for r in caplog.records if "OTEL_EXPORTER_OTLP_TIMEOUT" in (m := r.getMessage())]
    assert len(warnings) == 1 and repr(raw) in warnings[0] and "using 10" in warnings[0]
    assert exporter.export(make_spans(4)) == SpanExportResult.SUCCESS
    assert len(receiver.spans) == 4


@pytest.mark.parametrize("bad", [0, -1.0, float("inf"), float("nan")])
def test_a_timeout_argument_the_transport_cannot_use_is_replaced_too(
    receiver: OTLPReceiver, bad: float
) -> None:
    by_name = OTLPSpanExporter(endpoint=receiver.endpoint, timeout=bad)
    by_position = OTLPSpanExporter(receiver.endpoint, None, None, None, None, bad)
    for exporter in (by_name, by_position):
        assert exporter.export(make_spans(2)) == SpanExportResult.SUCCESS
    assert len(receiver.spans) == 4
