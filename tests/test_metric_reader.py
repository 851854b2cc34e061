"""LambdaMetricReader: metrics collected and exported on the lifecycle signals, through the real
SDK and the real OTLP/HTTP metric exporter to the local receiver."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.metrics import Counter, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    MetricExportResult,
    MetricReader,
    MetricsData,
)

from otel_lambda_processor import LambdaMetricReader, ProcessorMode, handler_done
from otel_lambda_processor.metric_reader import data_points
from otel_lambda_processor.otlp import OTLPMetricExporter
from otel_lambda_processor.signals import HUB, ExportDue, ExportReason, InvocationStarted
from otel_lambda_processor.testing import Fault, OTLPReceiver

from .test_modes import RecordingDriver

CUMULATIVE = AggregationTemporality.CUMULATIVE
DELTA = AggregationTemporality.DELTA


class ScriptedMetricExporter(MetricExporter):
    """In-memory metric exporter answering as scripted: ok, fail or raise."""

    def __init__(self, temporality: AggregationTemporality = CUMULATIVE) -> None:
        super().__init__(preferred_temporality={Counter: temporality})
        self.script: list[str] = []
        self.calls: list[tuple[MetricsData, str]] = []

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        action = self.script.pop(0) if self.script else "ok"
        self.calls.append((metrics_data, action))
        if action == "raise":
            raise RuntimeError("exporter blew up")
        if action == "slow":
            time.sleep(0.3)
        return MetricExportResult.FAILURE if action == "fail" else MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass

    def exported_points(self) -> int:
        return sum(data_points(data) for data, action in self.calls if action in ("ok", "slow"))

    def values(self) -> list[int]:
        out = []
        for data, action in self.calls:
            if action not in ("ok", "slow"):
                continue
            for rm in data.resource_metrics:
                for sm in rm.scope_metrics:
                    out.extend(p.value for m in sm.metrics for p in m.data.data_points)
        return out


@pytest.fixture
def meters() -> Iterator[list[MeterProvider]]:
    made: list[MeterProvider] = []
    yield made
    for provider in made:
        provider.shutdown()


def make(
    made: list[MeterProvider], exporter: MetricExporter, **kwargs: Any
) -> tuple[LambdaMetricReader, Any]:
    reader = LambdaMetricReader(exporter, **kwargs)
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    made.append(provider)
    return reader, provider.get_meter("test").create_counter("invocations")


def sums(receiver: OTLPReceiver) -> list[Any]:
    return [point.value for point in receiver.metric_points("invocations")]


def test_is_an_sdk_metric_reader_with_the_documented_signature() -> None:
    assert issubclass(LambdaMetricReader, MetricReader)
    reader = LambdaMetricReader(
        ScriptedMetricExporter(), mode="sync", export_timeout_millis=100, min_interval_millis=5
    )
    assert reader.mode is ProcessorMode.SYNC
    assert reader.settings.min_interval_millis == 5 and reader.dropped_points == 0
    reader.shutdown()


@pytest.mark.parametrize(
    ("preference", "expected"), [("cumulative", [1, 2, 3]), ("delta", [1, 1, 1])]
)
def test_a_counter_added_once_per_invocation_reads_as_its_temporality_says(
    meters: list[MeterProvider],
    receiver: OTLPReceiver,
    monkeypatch: pytest.MonkeyPatch,
    preference: str,
    expected: list[int],
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", preference)
    exporter = OTLPMetricExporter(endpoint=receiver.metrics_endpoint)
    reader, counter = make(meters, exporter, mode="sync")
    for _ in range(3):
        counter.add(1)
        handler_done()  # sync: exported before it returns
    assert sums(receiver) == expected
    (temporality,) = {point.temporality for point in receiver.metric_points("invocations")}
    assert temporality == preference
    assert reader.collected_points == 3 and reader.dropped_points == 0


def test_async_outside_lambda_exports_after_each_invocation_without_waiting(
    meters: list[MeterProvider], receiver: OTLPReceiver
) -> None:
    reader, counter = make(meters, OTLPMetricExporter(endpoint=receiver.metrics_endpoint))
    assert reader.mode is ProcessorMode.ASYNC
    counter.add(5)
    receiver.inject(Fault(hang=20))
    started = time.monotonic()
    handler_done()
    assert time.monotonic() - started < 1, "async never makes the handler wait"
    receiver.release()
    assert receiver.wait_for_metric_points(1, name="invocations")
    assert sums(receiver) == [5]


def test_async_with_a_coordinator_exports_only_when_the_response_is_out(
    meters: list[MeterProvider], receiver: OTLPReceiver
) -> None:
    _, counter = make(meters, OTLPMetricExporter(endpoint=receiver.metrics_endpoint))
    driver = RecordingDriver(export_follows=True, freezes=True)
    HUB.set_driver(driver)
    HUB.publish(InvocationStarted("req-1", handler_thread=threading.get_ident()))
    counter.add(2)
    # The OpenTelemetry AWS Lambda instrumentation flushes the meter provider on the handler's
    # thread after each handler: that must not export before the response.
    assert meters[0].force_flush() is True
    handler_done("req-1")
    assert sums(receiver) == []
    assert HUB.publish(ExportDue(ExportReason.RESPONSE_SENT, None, "req-1")) is True
    assert sums(receiver)[-1] == 2


def test_finalize_exports_only_at_flush_and_shutdown(
    meters: list[MeterProvider], receiver: OTLPReceiver
) -> None:
    _, counter = make(
        meters, OTLPMetricExporter(endpoint=receiver.metrics_endpoint), mode="finalize"
    )
    counter.add(1)
    handler_done()
    HUB.publish(ExportDue(ExportReason.RESPONSE_SENT))
    assert sums(receiver) == []
    counter.add(1)
    meters[0].shutdown()
    assert sums(receiver) == [2]


def test_sigterm_exports_what_was_not_exported_yet(
    meters: list[MeterProvider], receiver: OTLPReceiver
) -> None:
    _, counter = make(
        meters,
        OTLPMetricExporter(endpoint=receiver.metrics_endpoint),
        mode="async",
        min_interval_millis=3_600_000,
    )
    counter.add(1)
    handler_done()
    assert receiver.wait_for_metric_points(1, name="invocations"), "the first export is never late"
    counter.add(1)
    handler_done()  # within the minimum interval: skipped
    time.sleep(0.2)
    assert sums(receiver) == [1]
    assert HUB.publish(ExportDue(ExportReason.SHUTDOWN, time.monotonic() + 0.5)) is True
    assert sums(receiver) == [1, 2]


def test_a_failed_delta_export_is_sent_again_once_and_nothing_is_counted_twice(
    meters: list[MeterProvider], receiver: OTLPReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")
    reader, counter = make(
        meters, OTLPMetricExporter(endpoint=receiver.metrics_endpoint), mode="sync"
    )
    receiver.inject(Fault(status=400))
    counter.add(3)
    handler_done()
    assert sums(receiver) == []
    counter.add(4)
    handler_done()
    assert sums(receiver) == [3, 4], "the failed collection first, then the new one"
    assert reader.dropped_points == 0 and reader.collected_points == 2


def test_a_collection_that_fails_twice_is_dropped_and_counted(
    meters: list[MeterProvider],
) -> None:
    exporter = ScriptedMetricExporter(DELTA)
    reader, counter = make(meters, exporter, mode="finalize")
    exporter.script = ["fail", "raise"]
    counter.add(1)
    assert reader.force_flush() is False
    assert reader.force_flush() is False
    assert reader.dropped_points == 1
    counter.add(1)
    assert reader.force_flush() is True
    assert exporter.values() == [1]


def test_a_collect_from_another_thread_exports_and_waits(
    meters: list[MeterProvider], receiver: OTLPReceiver
) -> None:
    reader, counter = make(
        meters, OTLPMetricExporter(endpoint=receiver.metrics_endpoint), mode="finalize"
    )
    counter.add(7)
    reader.collect()
    assert sums(receiver) == [7]


def test_min_interval_from_the_environment_and_bad_values_warned(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("LAMBDA_METRIC_READER_MIN_INTERVAL", "60000")
    monkeypatch.setenv("LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE", "finalize")
    reader = LambdaMetricReader(ScriptedMetricExporter())
    assert reader.settings.min_interval_millis == 60000
    assert reader.mode is ProcessorMode.FINALIZE, "the span mode's variable is the fallback"
    reader.shutdown()
    monkeypatch.setenv("LAMBDA_METRIC_READER_MIN_INTERVAL", "soon")
    reader = LambdaMetricReader(ScriptedMetricExporter())
    assert reader.settings.min_interval_millis == 0
    assert "LAMBDA_METRIC_READER_MIN_INTERVAL='soon' is not an integer" in caplog.text
    reader.shutdown()
    with pytest.raises(ValueError, match="min_interval_millis"):
        LambdaMetricReader(ScriptedMetricExporter(), min_interval_millis=-1)


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("add"), st.integers(1, 5)),
            st.tuples(st.just("flush"), st.sampled_from(["ok", "fail", "raise"])),
        ),
        max_size=20,
    ),
    delta=st.booleans(),
)
def test_every_collected_point_is_exported_or_counted_and_deltas_add_up(
    steps: list[tuple[str, Any]], delta: bool
) -> None:
    exporter = ScriptedMetricExporter(DELTA if delta else CUMULATIVE)
    reader = LambdaMetricReader(exporter, mode="finalize")
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    counter = provider.get_meter("m").create_counter("c")
    total = 0
    for action, value in steps:
        if action == "add":
            counter.add(value)
            total += value
        else:
            exporter.script.append(value)
            reader.force_flush()
    provider.shutdown()
    assert exporter.exported_points() + reader.dropped_points == reader.collected_points
    values = exporter.values()
    if reader.dropped_points == 0 and total:
        assert (sum(values) if delta else values[-1]) == total
    if delta:
        assert sum(values) <= total, "nothing counted twice"


def test_one_collection_per_invocation_however_many_say_handler_done(
    meters: list[MeterProvider], receiver: OTLPReceiver
) -> None:
    reader, counter = make(
        meters, OTLPMetricExporter(endpoint=receiver.metrics_endpoint), mode="sync"
    )
    HUB.set_driver(RecordingDriver(export_follows=False, freezes=True))
    HUB.publish(InvocationStarted("req-1"))
    counter.add(1)
    handler_done("req-1")  # the traced handler
    handler_done("req-1")  # the runtime hook, for the same invocation
    assert sums(receiver) == [1]
    HUB.publish(InvocationStarted("req-2"))
    counter.add(1)
    handler_done("req-2")
    assert sums(receiver) == [1, 2] and reader.collected_points == 2


def test_sigterm_during_an_exit_shutdown_waits_for_its_export(
    meters: list[MeterProvider],
) -> None:
    exporter = ScriptedMetricExporter()
    reader, counter = make(meters, exporter, mode="finalize")
    counter.add(1)
    exporter.script = ["slow"]
    closing = threading.Thread(target=meters[0].shutdown)  # as the SDK's exit handler does
    closing.start()
    waited = time.monotonic() + 5
    while not exporter.calls and time.monotonic() < waited:
        time.sleep(0.005)
    assert exporter.calls, "the shutdown's export never started"
    started = time.monotonic()
    assert HUB.publish(ExportDue(ExportReason.SHUTDOWN, time.monotonic() + 2)) is True
    assert time.monotonic() - started > 0.1, "SIGTERM waited for the export in progress"
    closing.join(5)
    assert exporter.values() == [1] and reader.dropped_points == 0
