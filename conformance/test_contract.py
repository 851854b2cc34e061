"""9. The OpenTelemetry SpanProcessor contract (specification trace/sdk.md), in every mode:
shutdown once, calls after shutdown ignored, force_flush honours its timeout with a hanging
exporter, and concurrent use from threads loses nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_lambda_processor import LambdaSpanProcessor
from otel_lambda_processor.testing import Fault, OTLPReceiver

from .harness import RESULTS, Row

MODES = ["sync", "async", "finalize"]


class CountingExporter(SpanExporter):
    """Counts export and shutdown calls and checks that export is never called concurrently."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.shutdowns = 0
        self.active = 0
        self.overlapped = False
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self._lock:
            self.active += 1
            self.overlapped |= self.active > 1
        try:
            return self.inner.export(spans)
        finally:
            with self._lock:
                self.active -= 1

    def shutdown(self) -> None:
        self.shutdowns += 1
        self.inner.shutdown()


@pytest.fixture
def provider() -> Iterator[TracerProvider]:
    tp = TracerProvider(shutdown_on_exit=False)
    yield tp
    tp.shutdown()


@pytest.mark.parametrize("mode", MODES)
def test_shutdown_is_called_once_and_later_calls_are_ignored(
    provider: TracerProvider, receiver: OTLPReceiver, mode: str
) -> None:
    exporter = CountingExporter(OTLPSpanExporter(endpoint=receiver.endpoint, timeout=5))
    processor = LambdaSpanProcessor(exporter, mode=mode)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("contract")
    tracer.start_span("before").end()
    processor.shutdown()
    processor.shutdown()
    assert exporter.shutdowns == 1
    assert receiver.span_names() == ["before"], "shutdown includes the effect of force_flush"
    span = tracer.start_span("after")
    processor.on_start(span)  # type: ignore[arg-type]
    span.end()
    assert processor.force_flush(100) is False
    assert receiver.span_names() == ["before"]


@pytest.mark.parametrize("mode", MODES)
def test_force_flush_prioritises_its_timeout_over_finishing(
    provider: TracerProvider, receiver: OTLPReceiver, mode: str
) -> None:
    processor = LambdaSpanProcessor(
        OTLPSpanExporter(endpoint=receiver.endpoint, timeout=30), mode=mode
    )
    provider.add_span_processor(processor)
    provider.get_tracer("contract").start_span("stuck").end()
    receiver.inject(Fault(hang=30))
    started = time.monotonic()
    assert processor.force_flush(200) is False
    assert time.monotonic() - started < 5
    receiver.release()
    assert processor.force_flush(10_000) is True


@pytest.mark.parametrize("mode", MODES)
def test_concurrent_use_from_threads_loses_nothing_and_never_overlaps_exports(
    provider: TracerProvider, receiver: OTLPReceiver, mode: str
) -> None:
    exporter = CountingExporter(OTLPSpanExporter(endpoint=receiver.endpoint, timeout=10))
    processor = LambdaSpanProcessor(exporter, mode=mode, max_queue_size=256)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("contract")
    per_thread, threads = 400, 4

    def work() -> None:
        for i in range(per_thread):
            tracer.start_span("concurrent").end()
            if i % 100 == 99:
                processor.force_flush(5000)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert processor.force_flush(10_000)
    produced = per_thread * threads
    exported = len(receiver.spans)
    RESULTS.append(
        Row(
            "9. contract: 4 threads, flushes, queue 256",
            mode,
            produced,
            exported,
            processor.dropped_spans,
            None,
            None,
        )
    )
    assert exported + processor.dropped_spans == produced
    assert not exporter.overlapped, "export() was called concurrently"
