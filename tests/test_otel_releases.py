"""The OpenTelemetry releases we support (1.34 and newer): what each one gets.

Our processors, reader, configurator and traced handler work on every one. The lean exporters
send through the protobuf-free HTTP client of 1.45 and newer; before that, or on a release the
differential tests have not run against, they hand everything to the official exporter, built at
the first export so that init stays light. These tests run on the installed release (tox runs
them on the lowest, a middle and the newest) and, for the hand-over, on this one by pretending.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest
from opentelemetry.sdk.trace.export import SpanExportResult

from otel_lambda_processor.otlp import OTLPLogExporter, OTLPSpanExporter, releases
from otel_lambda_processor.otlp import exporter as exporter_module
from otel_lambda_processor.testing import OTLPReceiver

from .otel_releases import LEAN_EXPORT, LogRecordExportResult
from .test_otlp_exporter import make_spans


def test_the_lean_path_runs_on_the_releases_its_differential_tests_ran_against() -> None:
    from opentelemetry.sdk.version import __version__

    major, minor = (int(part) for part in __version__.split(".")[:2])
    assert releases.http_client_installed() is ((major, minor) >= (1, 45))
    assert LEAN_EXPORT is releases.http_client_installed()
    # tox's otel-highest (and the whole suite) run on TESTED_RELEASES; otel-lowest and
    # otel-middle on releases before them, where the official exporter does the work.
    assert (releases.untested_releases() == ()) is LEAN_EXPORT
    assert (exporter_module._release_reason("x") is None) is LEAN_EXPORT


@pytest.fixture
def without_http_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a release before 1.45 (the real thing where tox installs one)."""
    monkeypatch.setattr(exporter_module, "http_client_installed", lambda: False)
    monkeypatch.setattr(exporter_module, "_said", set())


@pytest.mark.usefixtures("without_http_client")
def test_without_the_http_client_the_official_exporter_sends_the_spans(
    receiver: OTLPReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=exporter_module.__name__)
    exporter = OTLPSpanExporter(endpoint=receiver.endpoint, timeout=5)
    assert not exporter.uses_fast_encoder
    assert exporter._official is None, "built at the first export, not at init"
    spans = make_spans(6)
    assert exporter.export(spans) == SpanExportResult.SUCCESS
    assert receiver.span_count == len(spans) == 6
    assert type(exporter._official).__module__.startswith("opentelemetry.exporter.otlp.proto.http")
    OTLPSpanExporter(endpoint=receiver.endpoint).shutdown()
    assert caplog.text.count("opentelemetry-exporter-otlp-common is not installed") == 1
    exporter.shutdown()
    assert exporter.export(make_spans(1)) == SpanExportResult.FAILURE, "the official refuses"
    unused = OTLPSpanExporter(endpoint=receiver.endpoint)
    unused.shutdown()
    assert unused._official is None, "nothing built to be shut down"
    assert unused.export(make_spans(2)) == SpanExportResult.FAILURE
    assert receiver.span_count == 6


@pytest.mark.usefixtures("without_http_client")
def test_without_the_http_client_log_records_reach_the_receiver(receiver: OTLPReceiver) -> None:
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler

    from otel_lambda_processor import LambdaLogRecordProcessor

    provider = LoggerProvider(shutdown_on_exit=False)
    exporter = OTLPLogExporter(endpoint=receiver.logs_endpoint)
    processor = LambdaLogRecordProcessor(exporter, mode="finalize")
    provider.add_log_record_processor(processor)
    logger = logging.getLogger("releases-test")
    handler = LoggingHandler(logger_provider=provider)
    logger.addHandler(handler)
    try:
        logger.warning("one")
        logger.warning("two")
        assert processor.force_flush(10_000) is True
    finally:
        logger.removeHandler(handler)
        provider.shutdown()
    assert sorted(receiver.log_bodies()) == ["one", "two"]
    assert not exporter.uses_fast_encoder
    assert processor.dropped_records == 0
    assert exporter.export([]) in (LogRecordExportResult.FAILURE, LogRecordExportResult.SUCCESS)


INIT_SCRIPT = """
import json, sys
from opentelemetry.sdk.trace import TracerProvider
from otel_lambda_processor import LambdaSpanProcessor
from otel_lambda_processor.otlp import OTLPSpanExporter

provider = TracerProvider(shutdown_on_exit=False)
processor = LambdaSpanProcessor(OTLPSpanExporter(endpoint=sys.argv[1]), mode="finalize")
provider.add_span_processor(processor)
with provider.get_tracer("t").start_as_current_span("root"):
    pass
heavy = ("google.protobuf", "requests")
at_init = sorted(m for m in sys.modules if m.startswith(heavy))
flushed = processor.force_flush(10000)
print(json.dumps({"init": at_init, "flushed": flushed}))
"""


def test_on_the_installed_release_init_imports_neither_protobuf_nor_requests(
    receiver: OTLPReceiver,
) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OTEL_"))}
    result = subprocess.run(
        [sys.executable, "-c", INIT_SCRIPT, receiver.endpoint],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen == {"init": [], "flushed": True}
    assert receiver.span_names() == ["root"]


@pytest.mark.usefixtures("without_http_client")
def test_arguments_the_installed_official_exporter_lacks_are_ignored_with_a_warning(
    receiver: OTLPReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    """``max_request_size`` and ``meter_provider`` are 1.45's: before, the official exporter
    would refuse them at every export; they are left out, said once, and the spans arrive."""
    from otel_lambda_processor import LambdaSpanProcessor

    processor = LambdaSpanProcessor(
        OTLPSpanExporter(endpoint=receiver.endpoint, max_request_size=4_000_000),
        mode="finalize",
    )
    spans = make_spans(4)
    for span in spans:
        processor.on_end(span)
    assert processor.force_flush(10_000) is True
    assert receiver.span_count == 4 and processor.dropped_spans == 0
    ignored = [r for r in caplog.records if "max_request_size is not supported" in r.getMessage()]
    assert len(ignored) == (0 if LEAN_EXPORT else 1)
    processor.shutdown()


def test_a_refused_connection_through_the_official_exporter_is_said_once(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No collector at the endpoint: one line naming it, not a traceback per batch (releases
    before 1.45 raise the refusal out of the official exporter)."""
    import socket

    monkeypatch.setattr(exporter_module, "http_client_installed", lambda: False)
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}/v1/traces"
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as Official,
    )

    official = Official(endpoint=endpoint, timeout=1)
    try:  # 1.34 raises the refusal; later releases retry it and return a failure
        official.export(make_spans(2))
    except Exception:
        raises = True
    else:
        raises = False
    caplog.clear()
    exporter = OTLPSpanExporter(endpoint=endpoint, timeout=1)
    for _ in range(2):
        assert exporter.export(make_spans(2)) == SpanExportResult.FAILURE
    assert not [r for r in caplog.records if r.exc_info], "no traceback"
    said = [r for r in caplog.records if "no OTLP collector answers" in r.getMessage()]
    if raises:
        assert len(said) == 1 and endpoint in said[0].getMessage()
        assert exporter.no_collector_at == endpoint
    else:  # the official exporter's own retries and lines
        assert said == [] and exporter.no_collector_at is None
    exporter.shutdown()


@pytest.mark.usefixtures("without_http_client")
def test_an_argument_nobody_knows_still_fails_at_construction() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'retries'"):
        OTLPSpanExporter(endpoint="http://127.0.0.1:9/v1/traces", retries=3)
