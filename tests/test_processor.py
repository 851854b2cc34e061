"""LambdaSpanProcessor: the SpanProcessor contract, bounds, failures, shutdown and fork."""

from __future__ import annotations

import logging
import os
import threading
import time

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Status, StatusCode

from otel_lambda_processor import LambdaSpanProcessor, ProcessorMode
from otel_lambda_processor.testing import Fault, OTLPReceiver

from .conftest import ScriptedExporter


def make(provider: TracerProvider, exporter: object, **kwargs: object) -> LambdaSpanProcessor:
    processor = LambdaSpanProcessor(exporter, **kwargs)  # type: ignore[arg-type]
    provider.add_span_processor(processor)
    return processor


def end_spans(provider: TracerProvider, count: int, prefix: str = "s") -> None:
    tracer = provider.get_tracer("test")
    for i in range(count):
        tracer.start_span(f"{prefix}{i}").end()


def test_is_an_sdk_span_processor_with_the_documented_signature() -> None:
    assert issubclass(LambdaSpanProcessor, SpanProcessor)
    p = LambdaSpanProcessor(span_exporter=ScriptedExporter(), mode="finalize")
    assert p.mode is ProcessorMode.FINALIZE
    assert p.dropped_spans == 0
    p.shutdown()


def test_force_flush_exports_everything_through_the_real_otlp_exporter(
    provider: TracerProvider, receiver: OTLPReceiver, otlp_exporter: OTLPSpanExporter
) -> None:
    p = make(provider, otlp_exporter, mode="finalize", max_export_batch_size=7)
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("root"):
        for i in range(20):
            with tracer.start_as_current_span(f"child{i}"):
                pass
    assert receiver.spans == [], "nothing is exported before a flush"
    assert p.force_flush(5000) is True
    spans = receiver.spans
    assert len(spans) == 21 and p.dropped_spans == 0
    assert [s.name for s in spans] == [f"child{i}" for i in range(20)] + ["root"]
    assert [r.span_count for r in receiver.requests] == [7, 7, 7]
    root = spans[-1].span
    assert all(s.span.parent_span_id == root.span_id for s in spans[:-1])


def test_unsampled_recording_spans_are_not_buffered(
    provider: TracerProvider,
) -> None:
    class RecordOnly(Sampler):
        def should_sample(self, *args: object, **kwargs: object) -> SamplingResult:
            return SamplingResult(Decision.RECORD_ONLY)

        def get_description(self) -> str:
            return "record-only"

    tp = TracerProvider(sampler=RecordOnly(), shutdown_on_exit=False)
    exporter = ScriptedExporter()
    p = make(tp, exporter, mode="finalize")
    end_spans(tp, 5)
    assert p.force_flush(1000)
    assert exporter.calls == [] and p.dropped_spans == 0
    tp.shutdown()


def test_overflow_drops_the_oldest_counts_each_and_warns_once_at_the_next_flush(
    provider: TracerProvider, caplog: pytest.LogCaptureFixture
) -> None:
    exporter = ScriptedExporter()
    p = make(provider, exporter, mode="finalize", max_queue_size=10)
    with caplog.at_level(logging.WARNING, logger="otel_lambda_processor"):
        end_spans(provider, 25)
        assert caplog.records == [], "no logging on the hot path"
        assert p.dropped_spans == 15
        assert p.force_flush(1000) is True, "everything buffered at the call was exported"
    assert [s.name for s in exporter.delivered()] == [f"s{i}" for i in range(15, 25)]
    drops = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert len(drops) == 1 and "dropped 15 spans" in drops[0].getMessage()
    message = drops[0].getMessage()
    assert (
        "15 overwritten in a full buffer" in message
        and "LAMBDA_SPAN_PROCESSOR_QUEUE_SIZE" in message
    )
    assert "export failed" not in message, "no failed export: the message must not blame one"
    caplog.clear()
    assert p.force_flush(1000)
    assert not [r for r in caplog.records if "dropped" in r.getMessage()]


def test_a_failed_batch_is_put_back_once_and_exported_at_the_next_flush(
    provider: TracerProvider, receiver: OTLPReceiver, otlp_exporter: OTLPSpanExporter
) -> None:
    p = make(provider, otlp_exporter, mode="finalize")
    end_spans(provider, 5)
    receiver.inject(Fault(status=400))  # permanent for the exporter: no retry of its own
    assert p.force_flush(5000) is False
    assert receiver.spans == [] and p.dropped_spans == 0
    assert p.force_flush(5000) is True
    assert sorted(receiver.span_names()) == sorted(f"s{i}" for i in range(5))
    assert p.dropped_spans == 0


def test_a_batch_that_fails_twice_is_counted_as_dropped(
    provider: TracerProvider, receiver: OTLPReceiver, otlp_exporter: OTLPSpanExporter
) -> None:
    p = make(provider, otlp_exporter, mode="finalize")
    end_spans(provider, 5)
    receiver.inject(Fault(status=400), times=2)
    assert p.force_flush(5000) is False
    assert p.force_flush(5000) is False
    assert p.dropped_spans == 5
    end_spans(provider, 2, prefix="later")
    assert p.force_flush(5000) is True
    assert receiver.span_names() == ["later0", "later1"]


def test_the_drop_warning_tells_failed_exports_from_a_full_buffer_with_both_counts(
    provider: TracerProvider, caplog: pytest.LogCaptureFixture
) -> None:
    exporter = ScriptedExporter(["fail", "fail"])
    p = make(provider, exporter, mode="finalize", max_queue_size=4)
    end_spans(provider, 4)
    assert p.force_flush(1000) is False  # put back
    with caplog.at_level(logging.WARNING, logger="otel_lambda_processor"):
        assert p.force_flush(1000) is False  # failed twice: 4 dropped
        first = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
        end_spans(provider, 6, prefix="more")  # 2 overwritten
        caplog.clear()
        assert p.force_flush(1000) is True
        second = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert len(first) == 1 and "4 whose export failed" in first[0]
    assert "overwritten" not in first[0] and "QUEUE_SIZE" not in first[0]
    assert len(second) == 1 and "dropped 2 spans since the last report, 6 in all" in second[0]
    assert "2 overwritten in a full buffer" in second[0] and "4 whose export failed" in second[0]
    assert p.dropped_spans == 6


def _end_with_one_unencodable(provider: TracerProvider, count: int, bad: int) -> None:
    tracer = provider.get_tracer("test")
    for i in range(count):
        with tracer.start_as_current_span(f"s{i}") as span:
            if i == bad:  # a file name decoded from bytes: a lone surrogate, no valid UTF-8
                name = os.fsdecode(b"report-\xff.csv")
                span.set_status(Status(StatusCode.ERROR, f"cannot parse {name}"))


@pytest.mark.parametrize("which", ["official", "ours"])
def test_one_unencodable_span_is_dropped_alone_and_the_rest_of_its_batch_exported(
    provider: TracerProvider,
    receiver: OTLPReceiver,
    caplog: pytest.LogCaptureFixture,
    which: str,
) -> None:
    from otel_lambda_processor.otlp import OTLPSpanExporter as Ours

    exporter_type = OTLPSpanExporter if which == "official" else Ours
    p = make(provider, exporter_type(endpoint=receiver.endpoint, timeout=3), mode="finalize")
    _end_with_one_unencodable(provider, 80, bad=37)
    with caplog.at_level(logging.WARNING, logger="otel_lambda_processor"):
        assert p.force_flush(5000) is True
    names = receiver.span_names()
    assert len(names) == 79 and "s37" not in names
    assert p.dropped_spans == 1
    why = [r.getMessage() for r in caplog.records if "cannot be encoded" in r.getMessage()]
    assert len(why) == 1 and "UnicodeEncodeError" in why[0] and "1 of 80" in why[0]
    assert [r.span_count for r in receiver.requests] == [79], "one request, not split more"


def test_unencodable_spans_that_fill_a_batch_are_all_dropped_and_counted(
    provider: TracerProvider, receiver: OTLPReceiver, otlp_exporter: OTLPSpanExporter
) -> None:
    p = make(provider, otlp_exporter, mode="finalize", max_export_batch_size=4)
    tracer = provider.get_tracer("test")
    for i in range(4):
        tracer.start_span(f"bad{i}\udc80").end()  # no valid UTF-8: OTLP cannot carry it
    end_spans(provider, 4, prefix="good")
    assert p.force_flush(5000) is True
    assert receiver.span_names() == [f"good{i}" for i in range(4)]
    assert p.dropped_spans == 4


def test_a_failing_collector_is_not_mistaken_for_unencodable_spans(
    provider: TracerProvider, receiver: OTLPReceiver, otlp_exporter: OTLPSpanExporter
) -> None:
    p = make(provider, otlp_exporter, mode="finalize")
    _end_with_one_unencodable(provider, 6, bad=2)
    receiver.inject(Fault(status=400))  # permanent: older official exporters retry a 500
    assert p.force_flush(5000) is False  # the bad span goes; the rest fails at the collector
    assert p.dropped_spans == 1
    assert p.force_flush(5000) is True, "put back once and exported now"
    assert sorted(receiver.span_names()) == ["s0", "s1", "s3", "s4", "s5"]


@pytest.mark.parametrize("mode", ["finalize", "async"])
def test_finalize_mode_never_looks_at_the_high_water_mark(
    monkeypatch: pytest.MonkeyPatch, provider: TracerProvider, mode: str
) -> None:
    looked: list[int] = []
    original = LambdaSpanProcessor._check_high_water
    monkeypatch.setattr(
        LambdaSpanProcessor,
        "_check_high_water",
        lambda self: looked.append(1) or original(self),
    )
    p = make(provider, ScriptedExporter(), mode=mode, max_queue_size=16)
    end_spans(provider, 64)
    assert (looked == []) is (mode == "finalize")
    assert p.force_flush(1000)


def test_exporter_exceptions_are_caught_logged_and_count_as_a_failure(
    provider: TracerProvider, caplog: pytest.LogCaptureFixture
) -> None:
    exporter = ScriptedExporter(["raise", "raise"])
    p = make(provider, exporter, mode="finalize")
    end_spans(provider, 3)
    with caplog.at_level(logging.ERROR):
        assert p.force_flush(1000) is False
        assert p.force_flush(1000) is False
    assert "exporter blew up" in caplog.text
    assert p.dropped_spans == 3


def test_a_closed_connection_is_a_failure_not_a_crash(
    provider: TracerProvider, receiver: OTLPReceiver
) -> None:
    exporter = OTLPSpanExporter(endpoint=receiver.endpoint, timeout=1)
    p = make(provider, exporter, mode="finalize")
    end_spans(provider, 4)
    receiver.inject(Fault(close=True), times=50)
    assert p.force_flush(5000) is False
    receiver.clear_faults()
    assert p.force_flush(5000) is True
    assert len(receiver.spans) == 4 and p.dropped_spans == 0


def test_a_transient_503_is_retried_by_the_exporter_within_one_flush(
    provider: TracerProvider, receiver: OTLPReceiver, otlp_exporter: OTLPSpanExporter
) -> None:
    p = make(provider, otlp_exporter, mode="finalize")
    end_spans(provider, 3)
    receiver.inject(Fault(status=503))
    assert p.force_flush(10_000) is True
    assert len(receiver.spans) == 3
    assert [r.status for r in receiver.requests] == [503, 200]


def test_force_flush_honours_its_timeout_when_the_exporter_hangs(
    provider: TracerProvider, receiver: OTLPReceiver
) -> None:
    exporter = OTLPSpanExporter(endpoint=receiver.endpoint, timeout=20)
    p = make(provider, exporter, mode="finalize")
    end_spans(provider, 3)
    receiver.inject(Fault(hang=20))
    started = time.monotonic()
    assert p.force_flush(300) is False
    elapsed = time.monotonic() - started
    assert elapsed < 5, f"force_flush(300 ms) took {elapsed:.1f} s"
    # Nothing is held: span ends and another bounded flush go on while the export hangs.
    end_spans(provider, 2, prefix="more")
    assert p.force_flush(100) is False
    receiver.release()
    assert p.force_flush(10_000) is True
    assert len(receiver.spans) == 5


def test_export_runs_on_one_thread_with_instrumentation_suppressed(
    provider: TracerProvider,
) -> None:
    exporter = ScriptedExporter()
    threads: set[int] = set()
    original = exporter.export

    def spy(spans):  # type: ignore[no-untyped-def]
        threads.add(threading.get_ident())
        return original(spans)

    exporter.export = spy  # type: ignore[method-assign]
    p = make(provider, exporter, mode="finalize", max_export_batch_size=2)
    end_spans(provider, 6)
    callers = [threading.Thread(target=p.force_flush) for _ in range(3)]
    for t in callers:
        t.start()
    for t in callers:
        t.join()
    p.force_flush()
    assert len(threads) == 1 and threading.get_ident() not in threads
    assert exporter.suppressed and all(exporter.suppressed)
    assert len(exporter.delivered()) == 6


def test_shutdown_flushes_then_shuts_the_exporter_down_once(
    provider: TracerProvider, receiver: OTLPReceiver, otlp_exporter: OTLPSpanExporter
) -> None:
    p = make(provider, otlp_exporter, mode="finalize")
    end_spans(provider, 4)
    p.shutdown()
    assert len(receiver.spans) == 4
    assert otlp_exporter._shutdown is True
    p.shutdown()  # a second call does nothing (the exporter would warn if shut down twice)


def test_after_shutdown_calls_are_ignored_and_never_raise(
    provider: TracerProvider,
) -> None:
    exporter = ScriptedExporter()
    p = make(provider, exporter, mode="sync")
    p.shutdown()
    end_spans(provider, 3)
    tracer = provider.get_tracer("t")
    span = tracer.start_span("x")
    p.on_start(span)  # type: ignore[arg-type]
    p.on_end(span)  # type: ignore[arg-type]
    assert p.force_flush() is False
    assert exporter.calls == [] and p.dropped_spans == 0


def test_an_export_still_in_flight_at_the_shutdown_bound_counts_as_dropped(
    provider: TracerProvider,
) -> None:
    exporter = ScriptedExporter(["hang"])
    p = make(provider, exporter, mode="finalize", export_timeout_millis=200)
    end_spans(provider, 3)
    flusher = threading.Thread(target=p.force_flush, args=(50,))
    flusher.start()
    assert exporter.hanging.wait(5)
    end_spans(provider, 2, prefix="late")
    started = time.monotonic()
    p.shutdown()
    assert time.monotonic() - started < 5
    assert p.dropped_spans == 5, "3 in flight + 2 never exported"
    flusher.join()
    assert exporter.shut_down


def test_sdk_disabled_means_no_thread_and_nothing_buffered(
    monkeypatch: pytest.MonkeyPatch, provider: TracerProvider
) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    before = {t.name for t in threading.enumerate()}
    exporter = ScriptedExporter()
    p = make(provider, exporter)
    end_spans(provider, 3)
    assert p.force_flush() is True
    p.shutdown()
    assert exporter.calls == []
    assert {t.name for t in threading.enumerate()} - before == set()


def test_no_thread_is_started_until_something_is_exported(provider: TracerProvider) -> None:
    before = set(threading.enumerate())  # other tests' processors may have theirs running
    p = make(provider, ScriptedExporter(), mode="finalize")
    assert p.force_flush() is True
    started = [t for t in set(threading.enumerate()) - before if t.name.startswith("otel-lambda")]
    assert started == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
# Forking a threaded process is the point here (Managed Instances' runtime does it); 3.12+ warns.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_starts_empty_with_its_own_export_thread(
    provider: TracerProvider, receiver: OTLPReceiver
) -> None:
    exporter = OTLPSpanExporter(endpoint=receiver.endpoint, timeout=5)
    p = make(provider, exporter, mode="finalize")
    end_spans(provider, 3, prefix="parent")
    pid = os.fork()
    if pid == 0:  # the child: only its own span, exported by its own thread
        code = 1
        try:
            end_spans(provider, 1, prefix="child")
            code = 0 if p.force_flush(5000) and p.dropped_spans == 0 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert receiver.span_names() == ["child0"]
    assert p.force_flush(5000)
    assert sorted(receiver.span_names()) == ["child0", "parent0", "parent1", "parent2"]


# -- per-invocation sampling ---------------------------------------------------------------------
class Ended(SpanProcessor):
    """Counts the sampled spans that end: what the accounting identity adds up to."""

    def __init__(self) -> None:
        self.spans: list[object] = []

    def on_end(self, span: object) -> None:  # type: ignore[override]
        if span.context.trace_flags.sampled:  # type: ignore[attr-defined]
            self.spans.append(span)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True  # (before 1.45 the base class says None, and the provider stops there)


class LambdaContext:
    def __init__(self, request_id: str) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:orders"
        self.function_name = "orders"
        self.function_version = "$LATEST"


def sampling_setup(
    exporter: object, **kwargs: object
) -> tuple[TracerProvider, LambdaSpanProcessor, Ended]:
    provider = TracerProvider(shutdown_on_exit=False)
    ended = Ended()
    provider.add_span_processor(ended)
    processor = LambdaSpanProcessor(exporter, **kwargs)  # type: ignore[arg-type]
    provider.add_span_processor(processor)
    return provider, processor, ended


def traced_invocations(provider: TracerProvider) -> object:
    """A traced handler whose event says what to do: children, sleep, raise, flush."""
    from otel_lambda_processor import traced_handler

    tracer = provider.get_tracer("app")

    @traced_handler(tracer_provider=provider)
    def handler(event: dict[str, object], context: object) -> dict[str, object]:
        for i in range(int(event.get("children", 2))):  # type: ignore[call-overload]
            tracer.start_span(f"child{i}").end()
            if event.get("flush") == i:
                provider.force_flush(5000)
        if event.get("sleep"):
            time.sleep(float(event["sleep"]))  # type: ignore[arg-type]
        if event.get("raise"):
            raise RuntimeError("failed")
        return {"statusCode": int(event.get("status", 200))}  # type: ignore[call-overload]

    return handler


def by_trace(receiver: OTLPReceiver) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for span in receiver.spans:
        found.setdefault(span.span.trace_id.hex(), set()).add(span.name)
    return found


@pytest.mark.parametrize("mode", ["sync", "async", "finalize"])
def test_sampling_keeps_errors_slow_and_upstream_sampled_invocations_whole_and_drops_the_rest(
    receiver: OTLPReceiver, otlp_exporter: OTLPSpanExporter, mode: str
) -> None:
    from . import events

    # The threshold leaves room for a first invocation's imports on a busy machine.
    provider, p, ended = sampling_setup(
        otlp_exporter, mode=mode, sample_ratio=0.0, keep_slower_than_millis=500
    )
    handler = traced_invocations(provider)
    for n in range(3):
        handler({"children": 3}, LambdaContext(f"ordinary-{n}"))  # type: ignore[operator]
    with pytest.raises(RuntimeError):
        handler({"raise": True}, LambdaContext("raises"))  # type: ignore[operator]
    no_parent = events.api_gateway_v2()
    del no_parent["headers"]["traceparent"]
    handler({**no_parent, "status": 502}, LambdaContext("answers-502"))  # type: ignore[operator]
    handler(no_parent, LambdaContext("http-ordinary"))  # type: ignore[operator]
    handler({"sleep": 0.55}, LambdaContext("slow"))  # type: ignore[operator]
    handler(events.api_gateway_v2(), LambdaContext("upstream"))  # type: ignore[operator]
    unsampled = events.api_gateway_v2()
    unsampled["headers"]["traceparent"] = events.TRACEPARENT[:-2] + "00"
    handler(unsampled, LambdaContext("upstream-unsampled"))  # type: ignore[operator]
    assert p.force_flush(5000)
    kept = {
        s.attributes["faas.invocation_id"]
        for s in receiver.spans
        if "faas.invocation_id" in s.attributes
    }
    assert kept == {"raises", "answers-502", "slow", "upstream"}
    assert all({"child0", "child1"} <= names for names in by_trace(receiver).values())
    assert p.dropped_spans == 0
    assert len(receiver.spans) + p.sampled_out_spans == len(ended.spans)
    assert p.sampled_out_spans >= 3 * 4, "three ordinary invocations of four spans at least"
    p.shutdown()
    provider.shutdown()


def test_without_sampling_spans_go_straight_to_the_ring_as_before(
    provider: TracerProvider,
) -> None:
    plain = make(provider, ScriptedExporter(), mode="finalize")
    explicit = make(provider, ScriptedExporter(), mode="finalize", sample_ratio=1.0)
    end_spans(provider, 3)
    for p in (plain, explicit):
        assert p._sampling is None and len(p._ring) == 3 and p.sampled_out_spans == 0
        assert p.on_end.__code__ is plain.on_end.__code__  # type: ignore[attr-defined]
    sampling = make(provider, ScriptedExporter(), mode="finalize", sample_ratio=0.5)
    end_spans(provider, 2)
    assert sampling._sampling is not None and len(sampling._ring) == 0
    assert sampling._sampling.sampler.pending == 2, "undecided spans wait beside the ring"


def test_a_flush_in_the_middle_keeps_the_invocation_whole(
    receiver: OTLPReceiver, otlp_exporter: OTLPSpanExporter
) -> None:
    provider, p, ended = sampling_setup(otlp_exporter, mode="sync", sample_ratio=0.0)
    handler = traced_invocations(provider)
    handler({"children": 4, "flush": 1}, LambdaContext("flushed"))  # type: ignore[operator]
    handler({"children": 4}, LambdaContext("ordinary"))  # type: ignore[operator]
    assert p.force_flush(5000)
    (trace_names,) = by_trace(receiver).values()
    assert {"child0", "child1", "child2", "child3"} <= trace_names
    assert len(receiver.spans) + p.sampled_out_spans == len(ended.spans)
    assert p.sampled_out_spans >= 5
    p.shutdown()
    provider.shutdown()


def test_the_aws_lambda_instrumentations_flush_after_its_span_decides_the_invocation(
    receiver: OTLPReceiver, otlp_exporter: OTLPSpanExporter
) -> None:
    # It ends its span (with faas.invocation_id), then flushes the provider, then the runtime
    # says "handler done": the flush decides, and only then exports.
    from otel_lambda_processor.signals import HandlerDone, InvocationStarted

    provider, p, ended = sampling_setup(otlp_exporter, mode="sync", sample_ratio=0.0)
    tracer = provider.get_tracer("instrumentation")
    p.on_signal(InvocationStarted("r1", None, None, threading.get_ident()))
    with tracer.start_as_current_span("orders", attributes={"faas.invocation_id": "r1"}):
        tracer.start_span("inner").end()
    assert provider.force_flush(5000)
    completion = p.on_signal(HandlerDone("r1"))
    assert completion is None or completion.wait(5)
    assert receiver.spans == [] and p.sampled_out_spans == 2 == len(ended.spans)
    p.shutdown()
    provider.shutdown()


@pytest.mark.parametrize("mode", ["sync", "async", "finalize"])
def test_sigterm_in_the_middle_of_an_invocation_exports_its_spans(
    receiver: OTLPReceiver, otlp_exporter: OTLPSpanExporter, mode: str
) -> None:
    from otel_lambda_processor.signals import ExportDue, ExportReason, InvocationStarted

    provider, p, ended = sampling_setup(otlp_exporter, mode=mode, sample_ratio=0.0)
    tracer = provider.get_tracer("app")
    p.on_signal(InvocationStarted("r1", None, None, threading.get_ident()))
    root = tracer.start_span("handler", attributes={"faas.invocation_id": "r1"})
    with trace.use_span(root, end_on_exit=False):
        for i in range(3):
            tracer.start_span(f"child{i}").end()
    completion = p.on_signal(ExportDue(ExportReason.SHUTDOWN, time.monotonic() + 5))
    assert completion is not None and completion.wait(5)
    assert sorted(receiver.span_names()) == ["child0", "child1", "child2"]
    assert p.sampled_out_spans == 0 and len(ended.spans) == 3
    p.shutdown()
    provider.shutdown()


def test_an_invocation_larger_than_the_buffer_is_kept_whole_and_exported_while_it_runs(
    receiver: OTLPReceiver, otlp_exporter: OTLPSpanExporter
) -> None:
    from otel_lambda_processor.signals import HandlerDone, InvocationStarted

    provider, p, ended = sampling_setup(
        otlp_exporter, mode="async", sample_ratio=0.0, max_queue_size=64
    )
    tracer = provider.get_tracer("app")
    p.on_signal(InvocationStarted("big", None, None, threading.get_ident()))
    with tracer.start_as_current_span("handler", attributes={"faas.invocation_id": "big"}):
        for i in range(400):
            tracer.start_span(f"child{i}").end()
            if i % 50 == 49:
                time.sleep(0.02)  # a handler doing work: the background export keeps up
        exported_while_running = len(receiver.spans)
    p.on_signal(HandlerDone("big", None, False, False))
    assert p.force_flush(5000)
    assert exported_while_running > 0, "the high-water export ran during the invocation"
    assert p.sampled_out_spans == 0
    assert len(receiver.spans) + p.dropped_spans == len(ended.spans) == 401
    assert "handler" in receiver.span_names(), "the invocation span survived"
    p.shutdown()
    provider.shutdown()


def test_spans_outside_any_invocation_are_always_kept(
    receiver: OTLPReceiver, otlp_exporter: OTLPSpanExporter
) -> None:
    from opentelemetry.context import Context as OtelContext

    from otel_lambda_processor.signals import HandlerDone, InvocationStarted

    provider, p, ended = sampling_setup(otlp_exporter, mode="sync", sample_ratio=0.0)
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("init"):
        tracer.start_span("load config").end()
    p.on_signal(InvocationStarted("r1", None, None, threading.get_ident()))

    def background() -> None:
        with tracer.start_as_current_span("refresh cache", context=OtelContext()):
            tracer.start_span("fetch").end()

    with tracer.start_as_current_span("handler", attributes={"faas.invocation_id": "r1"}):
        worker = threading.Thread(target=background)
        worker.start()
        worker.join()
    completion = p.on_signal(HandlerDone("r1"))
    assert completion is not None and completion.wait(5)
    assert sorted(receiver.span_names()) == ["fetch", "init", "load config", "refresh cache"]
    assert p.sampled_out_spans == 1 and len(ended.spans) == 5
    p.shutdown()
    provider.shutdown()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_keeps_the_sampled_out_count_and_samples_on_its_own() -> None:
    from otel_lambda_processor.signals import HandlerDone

    provider, p, _ = sampling_setup(ScriptedExporter(), mode="finalize", sample_ratio=0.0)
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("handler"):
        tracer.start_span("child").end()
    p.on_signal(HandlerDone("parent"))
    assert p.sampled_out_spans == 2
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            with tracer.start_as_current_span("handler"):
                pass
            p.on_signal(HandlerDone("child"))
            code = 0 if p.sampled_out_spans == 3 and p._sampling is not None else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert p.sampled_out_spans == 2
    p.shutdown()
    provider.shutdown()
