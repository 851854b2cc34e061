"""LambdaLogRecordProcessor: the span processor's guarantees for log records, through the real
SDK logging pipeline and the real OTLP/HTTP log exporter to the local receiver."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, get_value
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler, LogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider

from otel_lambda_processor import LambdaLogRecordProcessor, ProcessorMode, handler_done
from otel_lambda_processor.otlp import OTLPLogExporter
from otel_lambda_processor.signals import HUB, ExportDue, ExportReason, InvocationStarted
from otel_lambda_processor.testing import Fault, OTLPReceiver

from .otel_releases import READABLE_LOG_RECORDS, LogRecordExporter, LogRecordExportResult, emit_log
from .test_modes import RecordingDriver


class ScriptedLogExporter(LogRecordExporter):
    """In-memory log exporter answering as scripted: ok, fail or raise."""

    def __init__(self, script: Sequence[str] = ()) -> None:
        self.script = list(script)
        self.calls: list[tuple[list[Any], str]] = []
        self.suppressed: list[bool] = []
        self.shut_down = False

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        action = self.script.pop(0) if self.script else "ok"
        self.calls.append((list(batch), action))
        self.suppressed.append(bool(get_value(_SUPPRESS_INSTRUMENTATION_KEY)))
        if action == "raise":
            raise RuntimeError("exporter blew up")
        if action == "fail":
            return LogRecordExportResult.FAILURE
        return LogRecordExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def shutdown(self) -> None:
        self.shut_down = True

    def bodies(self) -> list[Any]:
        return [r.log_record.body for batch, a in self.calls if a == "ok" for r in batch]


@pytest.fixture
def loggers() -> Iterator[LoggerProvider]:
    provider = LoggerProvider(shutdown_on_exit=False)
    yield provider
    provider.shutdown()


def make(provider: LoggerProvider, exporter: Any, **kwargs: Any) -> LambdaLogRecordProcessor:
    processor = LambdaLogRecordProcessor(exporter, **kwargs)
    provider.add_log_record_processor(processor)
    return processor


def emit(provider: LoggerProvider, count: int, prefix: str = "m") -> None:
    logger = provider.get_logger("test")
    for i in range(count):
        emit_log(logger, body=f"{prefix}{i}")


def test_is_an_sdk_log_record_processor_with_the_documented_signature() -> None:
    assert issubclass(LambdaLogRecordProcessor, LogRecordProcessor)
    p = LambdaLogRecordProcessor(
        ScriptedLogExporter(),
        mode="finalize",
        max_queue_size=8,
        max_export_batch_size=4,
        export_timeout_millis=100,
    )
    assert p.mode is ProcessorMode.FINALIZE and p.dropped_records == 0
    assert (p.settings.max_queue_size, p.settings.max_export_batch_size) == (8, 4)
    p.shutdown()


def test_records_of_the_logging_module_reach_the_receiver_with_the_current_trace(
    loggers: LoggerProvider, receiver: OTLPReceiver
) -> None:
    p = make(loggers, OTLPLogExporter(endpoint=receiver.logs_endpoint), mode="finalize")
    logger = logging.getLogger("test.app")
    handler = LoggingHandler(logger_provider=loggers)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    tracer = TracerProvider().get_tracer("t")
    try:
        with tracer.start_as_current_span("invocation") as span:
            logger.info("order %s placed", 42, extra={"order.id": 42})
        logger.warning("outside any span")
    finally:
        logger.removeHandler(handler)
    assert receiver.logs() == [], "nothing is exported before a flush"
    assert p.force_flush(5000) is True
    inside, outside = receiver.logs()
    assert inside.body == "order 42 placed" and inside.attributes["order.id"] == 42
    assert inside.trace_id == span.get_span_context().trace_id.to_bytes(16, "big")
    assert inside.severity_text == "INFO" and outside.severity_text == "WARN"
    assert not any(outside.trace_id)


def test_overflow_drops_the_oldest_counts_each_and_names_the_log_variable(
    loggers: LoggerProvider, caplog: pytest.LogCaptureFixture
) -> None:
    exporter = ScriptedLogExporter()
    p = make(loggers, exporter, mode="finalize", max_queue_size=4, max_export_batch_size=4)
    emit(loggers, 10)
    assert p.force_flush(5000) is True, "what was buffered at the call was exported"
    assert exporter.bodies() == ["m6", "m7", "m8", "m9"], "the newest are kept"
    assert p.dropped_records == 6
    assert "dropped 6 log records" in caplog.text
    assert "LAMBDA_LOG_PROCESSOR_QUEUE_SIZE" in caplog.text


def test_a_failed_batch_is_put_back_once_then_counted(loggers: LoggerProvider) -> None:
    exporter = ScriptedLogExporter(["fail", "ok", "fail", "fail"])
    p = make(loggers, exporter, mode="finalize")
    emit(loggers, 3, "a")
    assert p.force_flush(5000) is False
    assert p.force_flush(5000) is True
    assert exporter.bodies() == ["a0", "a1", "a2"] and p.dropped_records == 0
    emit(loggers, 2, "b")
    assert p.force_flush(5000) is False and p.force_flush(5000) is False
    assert p.dropped_records == 2


def test_exporter_exceptions_are_caught_and_exports_run_with_instrumentation_suppressed(
    loggers: LoggerProvider,
) -> None:
    exporter = ScriptedLogExporter(["raise"])
    p = make(loggers, exporter, mode="finalize")
    emit(loggers, 2)
    assert p.force_flush(5000) is False
    assert p.force_flush(5000) is True
    assert exporter.suppressed and all(exporter.suppressed)
    assert {type(r).__name__ for batch, _ in exporter.calls for r in batch} == {
        "ReadableLogRecord" if READABLE_LOG_RECORDS else "LogData"
    }, "the exporter gets what the SDK's batch processor hands it"


def test_sync_exports_before_handler_done_returns(
    loggers: LoggerProvider, receiver: OTLPReceiver
) -> None:
    make(loggers, OTLPLogExporter(endpoint=receiver.logs_endpoint), mode="sync")
    emit(loggers, 3)
    handler_done()
    assert receiver.log_bodies() == ["m0", "m1", "m2"]


def test_async_with_a_coordinator_exports_only_when_the_response_is_out(
    loggers: LoggerProvider, receiver: OTLPReceiver
) -> None:
    make(loggers, OTLPLogExporter(endpoint=receiver.logs_endpoint), mode="async")
    HUB.set_driver(RecordingDriver(export_follows=True, freezes=True))
    HUB.publish(InvocationStarted("req-1"))
    emit(loggers, 2)
    handler_done("req-1")
    assert receiver.logs() == [], "nothing before the response"
    assert HUB.publish(ExportDue(ExportReason.RESPONSE_SENT, None, "req-1")) is True
    assert receiver.log_bodies() == ["m0", "m1"]


def test_async_force_flush_on_the_handler_thread_says_handler_done_instead(
    loggers: LoggerProvider, receiver: OTLPReceiver
) -> None:
    p = make(loggers, OTLPLogExporter(endpoint=receiver.logs_endpoint), mode="async")
    driver = RecordingDriver(export_follows=True, freezes=True)
    HUB.set_driver(driver)
    HUB.publish(InvocationStarted("req-2", handler_thread=threading.get_ident()))
    emit(loggers, 1)
    assert loggers.force_flush() is True
    assert driver.done == ["req-2"] and receiver.logs() == []
    HUB.publish(ExportDue(ExportReason.RESPONSE_SENT, None, "req-2"))
    assert receiver.log_bodies() == ["m0"] and p.dropped_records == 0


def test_finalize_exports_only_at_shutdown(loggers: LoggerProvider, receiver: OTLPReceiver) -> None:
    p = make(loggers, OTLPLogExporter(endpoint=receiver.logs_endpoint), mode="finalize")
    emit(loggers, 2)
    handler_done()
    HUB.publish(ExportDue(ExportReason.RESPONSE_SENT))
    assert receiver.logs() == []
    p.shutdown()
    assert receiver.log_bodies() == ["m0", "m1"]
    emit(loggers, 1)
    assert p.force_flush() is False, "after shutdown nothing is taken"


def test_a_collector_failure_keeps_the_records_for_the_next_export(
    loggers: LoggerProvider, receiver: OTLPReceiver
) -> None:
    p = make(loggers, OTLPLogExporter(endpoint=receiver.logs_endpoint, timeout=2), mode="sync")
    receiver.inject(Fault(status=400))
    emit(loggers, 2, "x")
    handler_done()
    assert receiver.logs() == []
    emit(loggers, 1, "y")
    handler_done()
    assert receiver.log_bodies() == ["x0", "x1", "y0"] and p.dropped_records == 0


def test_variables_named_after_the_span_ones_and_the_span_mode_as_fallback(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE", "sync")
    monkeypatch.setenv("LAMBDA_LOG_PROCESSOR_QUEUE_SIZE", "100")
    monkeypatch.setenv("LAMBDA_LOG_PROCESSOR_BATCH_SIZE", "10")
    monkeypatch.setenv("LAMBDA_LOG_PROCESSOR_EXPORT_TIMEOUT", "250")
    monkeypatch.setenv("LAMBDA_SPAN_PROCESSOR_QUEUE_SIZE", "7")  # the spans', not ours
    p = LambdaLogRecordProcessor(ScriptedLogExporter())
    assert p.mode is ProcessorMode.SYNC
    assert (p.settings.max_queue_size, p.settings.max_export_batch_size) == (100, 10)
    assert p.settings.export_timeout_millis == 250
    p.shutdown()
    monkeypatch.setenv("LAMBDA_EXTENSION_LOG_PROCESSOR_MODE", "bogus")
    p = LambdaLogRecordProcessor(ScriptedLogExporter())
    assert p.mode is ProcessorMode.ASYNC
    assert "LAMBDA_EXTENSION_LOG_PROCESSOR_MODE='bogus'" in caplog.text
    p.shutdown()


def test_sdk_disabled_buffers_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    provider = LoggerProvider(shutdown_on_exit=False)
    exporter = ScriptedLogExporter()
    p = make(provider, exporter)
    emit(provider, 3)
    assert p.force_flush() is True and exporter.calls == []
    provider.shutdown()


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("emit"), st.integers(1, 12)),
            st.tuples(st.just("flush"), st.sampled_from(["ok", "fail", "raise"])),
        ),
        max_size=25,
    ),
    capacity=st.integers(1, 16),
)
def test_every_emitted_record_is_exported_or_counted(
    steps: list[tuple[str, Any]], capacity: int
) -> None:
    provider = LoggerProvider(shutdown_on_exit=False)
    exporter = ScriptedLogExporter()
    p = make(provider, exporter, mode="finalize", max_queue_size=capacity)
    emitted = 0
    for step, (action, value) in enumerate(steps):
        if action == "emit":
            emit(provider, value, prefix=f"s{step}.")
            emitted += value
        else:
            exporter.script.append(value)
            p.force_flush(5000)
    p.shutdown()
    exported = len(exporter.bodies())
    assert exported + p.dropped_records == emitted
    assert len(set(exporter.bodies())) == exported, "nothing is exported twice"
    provider.shutdown()
