"""Shared fixtures: a real OTLP/HTTP receiver, the real OTLP exporter, and a scripted exporter."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence

import pytest
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, get_value
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_lambda_processor import config
from otel_lambda_processor.signals import HUB
from otel_lambda_processor.testing import OTLPReceiver

from .otel_releases import LEAN_EXPORT

# Modules that test what older OpenTelemetry releases do not have (tox: otel-lowest, otel-middle):
# the lean exporters and our encoders, byte for byte against the official ones, need the HTTP
# client of 1.45 and newer (tests/test_otel_releases.py covers what happens before: hand-over).
_LEAN_EXPORT_MODULES = [
    "test_otlp_encoder.py",
    "test_otlp_logs_encoder.py",
    "test_otlp_metrics_encoder.py",
    "test_otlp_exporter.py",
    "test_otlp_exporter_config.py",
    "test_otlp_log_metric_exporters.py",
    "test_lean_init.py",
    "test_no_collector.py",
]
collect_ignore = [] if LEAN_EXPORT else _LEAN_EXPORT_MODULES

ENV_VARS = (
    config.MODE_ENV,
    config.QUEUE_SIZE_ENV,
    config.BATCH_SIZE_ENV,
    config.EXPORT_TIMEOUT_ENV,
    config.SDK_DISABLED_ENV,
    config.SAMPLE_RATIO_ENV,
    config.KEEP_SLOWER_THAN_ENV,
    *config.LOG_VARIABLES,
    config.METRIC_MODE_ENV,
    config.METRIC_EXPORT_TIMEOUT_ENV,
    config.METRIC_MIN_INTERVAL_ENV,
    "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
    *config.SDK_FALLBACKS.values(),
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts with none of our variables set, no driver, and fresh warnings."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    config._warned.clear()
    HUB.set_driver(None)
    yield
    HUB.set_driver(None)


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as r:
        yield r


@pytest.fixture
def otlp_exporter(receiver: OTLPReceiver) -> OTLPSpanExporter:
    # A short timeout keeps the exporter's own retries (429/502/503/504) quick in tests.
    return OTLPSpanExporter(endpoint=receiver.endpoint, timeout=3)


SUCCEEDS = frozenset({"ok", "slow"})


class ScriptedExporter(SpanExporter):
    """An in-memory SpanExporter whose answers a test scripts: ok, slow, fail, raise or hang.

    Used where a property test needs thousands of exports; everything else uses the real OTLP
    exporter. It records every span it is handed, per call, and whether instrumentation was
    suppressed while it ran.
    """

    def __init__(self, script: Sequence[str] = ()) -> None:
        self.script = list(script)
        self.calls: list[tuple[list[ReadableSpan], str]] = []
        self.suppressed: list[bool] = []
        self.release = threading.Event()
        self.hanging = threading.Event()
        self.shut_down = False
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self._lock:
            action = self.script.pop(0) if self.script else "ok"
            self.calls.append((list(spans), action))
            self.suppressed.append(bool(get_value(_SUPPRESS_INSTRUMENTATION_KEY)))
        if action == "hang":
            self.hanging.set()
            self.release.wait(10)
            return SpanExportResult.FAILURE
        if action == "slow":
            time.sleep(0.01)
            return SpanExportResult.SUCCESS
        if action == "raise":
            raise RuntimeError("exporter blew up")
        if action == "fail":
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.shut_down = True
        self.release.set()

    def delivered(self) -> list[ReadableSpan]:
        """Spans whose export succeeded, in order."""
        return [s for spans, action in self.calls if action in SUCCEEDS for s in spans]


@pytest.fixture
def provider() -> Iterator[TracerProvider]:
    tp = TracerProvider(shutdown_on_exit=False)
    yield tp
    tp.shutdown()
