"""Modes on the processor side: when each mode exports, driven by lifecycle signals."""

from __future__ import annotations

import threading
import time

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_lambda_processor import handler_done
from otel_lambda_processor.signals import (
    HUB,
    ExportDue,
    ExportReason,
    HandlerDone,
    InvocationStarted,
)
from otel_lambda_processor.testing import Fault, OTLPReceiver

from .conftest import ScriptedExporter
from .test_processor import end_spans, make


class RecordingDriver:
    """A stand-in for the coordinator: answers "handler done" the way a runtime would."""

    def __init__(self, *, export_follows: bool, freezes: bool, deadline: float | None = None):
        self.export_follows = export_follows
        self.freezes = freezes
        self.deadline = deadline
        self.done: list[str | None] = []

    def on_handler_done(self, request_id: str | None) -> HandlerDone:
        self.done.append(request_id)
        return HandlerDone(request_id, self.deadline, self.export_follows, self.freezes)


def test_sync_exports_inline_before_handler_done_returns(
    provider: TracerProvider, receiver: OTLPReceiver, otlp_exporter: OTLPSpanExporter
) -> None:
    make(provider, otlp_exporter, mode="sync")
    end_spans(provider, 3)
    assert receiver.spans == []
    handler_done()
    assert len(receiver.spans) == 3, "the caller waited for the export"


def test_sync_waits_no_longer_than_the_invocation_deadline(
    provider: TracerProvider, receiver: OTLPReceiver
) -> None:
    make(provider, OTLPSpanExporter(endpoint=receiver.endpoint, timeout=20), mode="sync")
    deadline = time.monotonic() + 0.3
    HUB.set_driver(RecordingDriver(export_follows=False, freezes=True, deadline=deadline))
    HUB.publish(InvocationStarted("req-1", deadline=deadline))
    end_spans(provider, 2)
    receiver.inject(Fault(hang=20))
    started = time.monotonic()
    handler_done("req-1")
    assert time.monotonic() - started < 5
    receiver.release()


def test_async_outside_lambda_exports_at_once_without_making_the_caller_wait(
    provider: TracerProvider, receiver: OTLPReceiver
) -> None:
    make(provider, OTLPSpanExporter(endpoint=receiver.endpoint, timeout=20), mode="async")
    end_spans(provider, 3)
    receiver.inject(Fault(hang=20))
    started = time.monotonic()
    handler_done()
    assert time.monotonic() - started < 1, "ASYNC never makes the handler wait"
    receiver.release()
    assert receiver.wait_for_spans(3, timeout=10)


def test_async_with_a_coordinator_exports_only_after_the_response_is_sent(
    provider: TracerProvider, receiver: OTLPReceiver, otlp_exporter: OTLPSpanExporter
) -> None:
    p = make(provider, otlp_exporter, mode="async")
    driver = RecordingDriver(export_follows=True, freezes=True)
    HUB.set_driver(driver)
    HUB.publish(InvocationStarted("req-1", deadline=time.monotonic() + 10))
    end_spans(provider, 4)
    handler_done("req-1")
    assert driver.done == ["req-1"]
    assert receiver.spans == [], "nothing before the response has been sent"
    assert HUB.publish(ExportDue(ExportReason.RESPONSE_SENT, time.monotonic() + 10, "req-1"))
    assert len(receiver.spans) == 4, "the publisher waited for the export"
    assert p.dropped_spans == 0


def test_async_force_flush_on_the_handler_thread_marks_the_handler_done_instead(
    provider: TracerProvider, receiver: OTLPReceiver, otlp_exporter: OTLPSpanExporter
) -> None:
    p = make(provider, otlp_exporter, mode="async")
    driver = RecordingDriver(export_follows=True, freezes=True)
    HUB.set_driver(driver)
    HUB.publish(InvocationStarted("req-7", deadline=time.monotonic() + 10))
    end_spans(provider, 2)
    assert p.force_flush() is True
    assert driver.done == ["req-7"] and receiver.spans == []
    # From any other thread it is a plain flush.
    result: list[bool] = []
    other = threading.Thread(target=lambda: result.append(p.force_flush(5000)))
    other.start()
    other.join()
    assert result == [True] and len(receiver.spans) == 2


def test_async_force_flush_outside_an_invocation_exports(
    provider: TracerProvider, receiver: OTLPReceiver, otlp_exporter: OTLPSpanExporter
) -> None:
    p = make(provider, otlp_exporter, mode="async")
    HUB.set_driver(RecordingDriver(export_follows=True, freezes=True))
    end_spans(provider, 2)
    assert p.force_flush(5000) is True
    assert len(receiver.spans) == 2


def test_async_without_a_working_coordinator_exports_inline_where_lambda_freezes(
    provider: TracerProvider, receiver: OTLPReceiver, otlp_exporter: OTLPSpanExporter
) -> None:
    make(provider, otlp_exporter, mode="async")
    HUB.set_driver(RecordingDriver(export_follows=False, freezes=True))
    end_spans(provider, 2)
    handler_done()
    assert len(receiver.spans) == 2


def test_async_exports_at_the_deadline_signal_when_no_other_came(
    provider: TracerProvider, receiver: OTLPReceiver, otlp_exporter: OTLPSpanExporter
) -> None:
    make(provider, otlp_exporter, mode="async")
    HUB.publish(InvocationStarted("req-2", deadline=time.monotonic() + 10))
    end_spans(provider, 2)
    assert HUB.publish(ExportDue(ExportReason.DEADLINE, time.monotonic() + 5, "req-2"))
    assert len(receiver.spans) == 2


def test_finalize_exports_only_on_force_flush_and_shutdown(
    provider: TracerProvider, receiver: OTLPReceiver, otlp_exporter: OTLPSpanExporter
) -> None:
    p = make(provider, otlp_exporter, mode="finalize", max_queue_size=16)
    end_spans(provider, 15)  # above the high-water mark too
    handler_done()
    HUB.publish(ExportDue(ExportReason.RESPONSE_SENT, None, None))
    time.sleep(0.2)  # give a wrongly started export thread the chance to show itself
    assert receiver.spans == []
    assert p.force_flush(5000) and len(receiver.spans) == 15


def test_shutdown_signal_exports_in_every_mode(
    provider: TracerProvider, receiver: OTLPReceiver, otlp_exporter: OTLPSpanExporter
) -> None:
    make(provider, otlp_exporter, mode="finalize")
    end_spans(provider, 3)
    assert HUB.publish(ExportDue(ExportReason.SHUTDOWN, time.monotonic() + 0.4))
    assert len(receiver.spans) == 3


def test_finalize_composes_with_a_batch_span_processor_on_one_provider(
    provider: TracerProvider, receiver: OTLPReceiver
) -> None:
    batch_exporter = ScriptedExporter()
    provider.add_span_processor(BatchSpanProcessor(batch_exporter, schedule_delay_millis=60_000))
    p = make(provider, OTLPSpanExporter(endpoint=receiver.endpoint, timeout=5), mode="finalize")
    end_spans(provider, 5)
    assert provider.force_flush(5000)
    assert len(receiver.spans) == 5 and len(batch_exporter.delivered()) == 5
    assert p.dropped_spans == 0


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_above_high_water_the_oldest_batch_goes_out_during_the_invocation(
    provider: TracerProvider, receiver: OTLPReceiver, mode: str
) -> None:
    exporter = OTLPSpanExporter(endpoint=receiver.endpoint, timeout=5)
    p = make(provider, exporter, mode=mode, max_queue_size=64, max_export_batch_size=16)
    HUB.set_driver(RecordingDriver(export_follows=True, freezes=True))
    HUB.publish(InvocationStarted("req-3", deadline=time.monotonic() + 30))
    end_spans(provider, 47)  # below 48, three quarters of 64
    time.sleep(0.2)
    assert receiver.spans == [], "below the mark nothing leaves while the handler runs"
    end_spans(provider, 10, prefix="over")  # 57: past the mark, still nothing overwritten
    assert receiver.wait_for_spans(16, timeout=10)
    assert [s.name for s in receiver.spans[:16]] == [f"s{i}" for i in range(16)], "oldest first"
    for chunk in range(20):  # a handler that keeps working, with pauses as real ones have
        end_spans(provider, 10, prefix=f"c{chunk}-")
        time.sleep(0.005)
    HUB.publish(ExportDue(ExportReason.RESPONSE_SENT, time.monotonic() + 10, "req-3"))
    if mode == "sync":
        assert p.force_flush(5000)
    total = 47 + 10 + 200
    assert len(receiver.spans) + p.dropped_spans == total
    assert len(receiver.spans) > 64, "the background export saved more than one buffer's worth"


def test_a_failing_listener_never_breaks_handler_done(provider: TracerProvider) -> None:
    class Broken:
        def on_signal(self, signal: object) -> None:
            raise RuntimeError("boom")

    broken = Broken()
    HUB.subscribe(broken)  # type: ignore[arg-type]
    try:
        handler_done()
    finally:
        HUB.unsubscribe(broken)  # type: ignore[arg-type]
