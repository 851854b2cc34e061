"""The cold start in the trace it delayed: one span for the start-up phase, a child of the first
invocation's span, from the process start (or the SnapStart restore) to the invocation's start.

The state machine is driven with plain values; the process start is read from the real
operating system, in this process and in fresh ones; the spans come from the real SDK through
``traced_handler`` (in memory, and through the OTLP exporter to the receiver)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanProto
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased
from opentelemetry.trace import SpanKind

from otel_lambda_processor import LambdaSpanProcessor, traced_handler
from otel_lambda_processor.cold_start import (
    COLD_START,
    INIT_SPAN,
    PHASE_LIMIT_NS,
    RESTORE_SPAN,
    ColdStart,
    Phase,
    imported_ns,
    os_process_start_ns,
    process_start_ns,
)
from otel_lambda_processor.testing import OTLPReceiver

from . import events

S = 1_000_000_000
TYPES = ("", "on-demand", "provisioned-concurrency", "snap-start", "lambda-managed-instances")


class Context:
    def __init__(self, request_id: str = "req-1") -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:orders"
        self.function_name = "orders"
        self.function_version = "$LATEST"


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts as a fresh on-demand process outside Lambda; left warm afterwards, and
    with SnapStart's hook registry as it found it."""
    for name in ("AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_RUNTIME_API", "OTEL_PROPAGATORS"):
        monkeypatch.delenv(name, raising=False)
    try:
        from snapshot_restore_py import get_after_restore
    except ImportError:
        registry: list[Any] = []
    else:
        registry = get_after_restore()
    saved = list(registry)
    COLD_START.reset()
    yield
    COLD_START.reset(cold=False)
    registry[:] = saved


# -- the state machine, with plain values ----------------------------------------------------


def test_the_first_invocation_is_cold_and_waited_for_the_init_since_the_process_start() -> None:
    cold_start = ColdStart(lambda: 1_000)
    assert cold_start.take("", 5_000) == (True, Phase(INIT_SPAN, 1_000))
    assert cold_start.take("", 6_000) == (False, None)
    cold_start.reset()
    assert cold_start.take("on-demand", 7_000) == (True, Phase(INIT_SPAN, 1_000))


def test_provisioned_concurrency_is_never_cold_and_has_no_phase() -> None:
    cold_start = ColdStart(lambda: 1_000)
    assert cold_start.take("provisioned-concurrency", 5_000) == (False, None)
    assert cold_start.take("provisioned-concurrency", 6_000) == (False, None)


def test_managed_instances_are_cold_once_without_a_phase_they_did_not_wait_for() -> None:
    cold_start = ColdStart(lambda: 1_000)
    assert cold_start.take("lambda-managed-instances", 5_000) == (True, None)
    assert cold_start.take("lambda-managed-instances", 6_000) == (False, None)


def test_snapstart_shows_the_restore_phase_from_the_hook_and_never_the_init() -> None:
    cold_start = ColdStart(lambda: 1_000)
    before = time.time_ns()
    cold_start.restored()
    after = time.time_ns()
    cold, phase = cold_start.take("snap-start", after + S)
    assert cold and phase is not None and phase.name == RESTORE_SPAN
    assert before <= phase.start_ns <= after
    assert cold_start.take("snap-start", after + 2 * S) == (False, None)
    cold_start.restored()  # a later restore of the same snapshot: cold again
    cold, phase = cold_start.take("snap-start", time.time_ns())
    assert cold and phase is not None and phase.name == RESTORE_SPAN


def test_snapstart_without_a_restore_seen_is_cold_with_no_phase() -> None:
    """The process started long before the snapshot was restored: its start says nothing."""
    assert ColdStart(lambda: 1_000).take("snap-start", 5_000) == (True, None)


def test_inside_lambda_a_phase_that_began_beyond_lambdas_limit_was_not_waited_for() -> None:
    """Proactive initialization: Lambda initialized the environment ahead of the request."""
    now = 100 * S
    late = ColdStart(lambda: now - PHASE_LIMIT_NS - 1)
    assert late.take("on-demand", now, in_lambda=True) == (True, None)
    in_time = ColdStart(lambda: now - PHASE_LIMIT_NS)
    assert in_time.take("on-demand", now, in_lambda=True) == (
        True,
        Phase(INIT_SPAN, now - PHASE_LIMIT_NS),
    )
    outside = ColdStart(lambda: now - 60 * S)  # no such limit outside Lambda
    assert outside.take("on-demand", now) == (True, Phase(INIT_SPAN, now - 60 * S))


def test_a_phase_never_starts_after_the_invocation_and_a_failing_clock_only_drops_it() -> None:
    assert ColdStart(lambda: 9_000).take("", 5_000) == (True, Phase(INIT_SPAN, 5_000))

    def broken() -> int:
        raise OSError("no clock")

    assert ColdStart(broken).take("", 5_000) == (True, None)


def test_concurrent_first_invocations_get_exactly_one_cold_start() -> None:
    cold_start = ColdStart(lambda: 1_000)
    barrier = threading.Barrier(16)
    answers: list[tuple[bool, Phase | None]] = []

    def invoke() -> None:
        barrier.wait()
        answers.append(cold_start.take("on-demand", time.time_ns()))

    threads = [threading.Thread(target=invoke) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(cold for cold, _ in answers) == [False] * 15 + [True]
    assert [phase for _, phase in answers if phase is not None] == [Phase(INIT_SPAN, 1_000)]


steps = st.lists(st.sampled_from(TYPES) | st.just("restore"), max_size=30)


@given(initialization_type=st.sampled_from(TYPES), script=steps)
def test_one_phase_per_cold_start_whatever_the_sequence(
    initialization_type: str, script: list[str]
) -> None:
    """A fresh process, then invocations and restores in any order (one initialization type per
    process, as Lambda sets it): each process start or restore gives at most one cold
    invocation, the phase only where the type has one, never when warm."""
    cold_start = ColdStart(lambda: 1_000)
    pending, now = True, 2_000  # a fresh process is cold
    restored_at: int | None = None
    for step in script:
        now += 1_000
        if step == "restore":
            cold_start.restored(now)
            pending, restored_at = True, now
            continue
        cold, phase = cold_start.take(initialization_type, now)
        expected = pending and initialization_type != "provisioned-concurrency"
        assert cold is expected
        pending = False
        if not cold:
            assert phase is None
        elif initialization_type in ("", "on-demand"):
            assert phase == Phase(INIT_SPAN, 1_000)
        elif initialization_type != "snap-start":
            assert phase is None
        elif cold and restored_at is not None:
            assert phase == Phase(RESTORE_SPAN, restored_at)
        else:  # snap-start's first invocation without a restore: nothing to show
            assert phase is None
        restored_at = None  # taken by the invocation, cold or not


# -- the process start, from the operating system --------------------------------------------

needs_proc = pytest.mark.skipif(
    not os.path.exists("/proc/self/stat"), reason="the process start comes from Linux's /proc"
)


@needs_proc
def test_this_process_started_before_the_package_was_imported() -> None:
    started = os_process_start_ns()
    assert started is not None
    assert 0 < started <= imported_ns() <= time.time_ns()
    assert abs(process_start_ns() - started) < 1_000_000


# A fresh interpreter: when it says it started, when its first line ran, when the package was
# imported (after SLEEP seconds of "heavy imports"), and the start the package reports.
PROBE = textwrap.dedent(
    """
    import json, sys, time
    first_line = time.time_ns()
    time.sleep(float(sys.argv[1]))
    from otel_lambda_processor.cold_start import imported_ns, os_process_start_ns, process_start_ns
    print(json.dumps({
        "first_line": first_line,
        "os_start": os_process_start_ns(),
        "imported": imported_ns(),
        "start": process_start_ns(),
    }))
    """
)


def probe(sleep: float = 0.0) -> dict[str, int]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(sleep)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@needs_proc
def test_a_fresh_process_start_lies_between_its_launch_and_its_first_line() -> None:
    launched = time.time_ns()
    seen = probe()
    assert launched <= seen["os_start"] <= seen["imported"], "never before the process existed"
    assert seen["os_start"] - seen["first_line"] < 10_000_000, "to the OS's tick (10 ms)"
    assert abs(seen["start"] - seen["os_start"]) < 1_000_000


@needs_proc
def test_a_package_imported_late_still_counts_from_the_process_start() -> None:
    seen = probe(sleep=0.3)
    assert seen["start"] <= seen["first_line"]
    assert seen["imported"] - seen["start"] >= 0.3 * S, "the slow imports before ours count"


def test_where_the_os_cannot_tell_the_import_time_is_the_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(time, "CLOCK_BOOTTIME", raising=False)  # as on macOS
    assert os_process_start_ns() is None
    assert process_start_ns() == imported_ns()


FORKED = textwrap.dedent(
    """
    import json, os, time
    from otel_lambda_processor.cold_start import COLD_START, imported_ns, os_process_start_ns
    time.sleep(0.05)
    read, write = os.pipe()
    if os.fork() == 0:
        cold, phase = COLD_START.take("on-demand", time.time_ns())
        os.write(write, json.dumps({
            "own_start": os_process_start_ns(), "imported": imported_ns(),
            "cold": cold, "start": phase.start_ns if phase else None,
        }).encode())
        os._exit(0)
    os.close(write)
    child = json.loads(os.read(read, 4096))
    os.wait()
    print(json.dumps(child))
    """
)


@needs_proc
def test_a_child_forked_after_the_import_counts_from_the_import_it_inherited() -> None:
    result = subprocess.run(
        [sys.executable, "-c", FORKED],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert result.returncode == 0, result.stderr
    child = json.loads(result.stdout)
    assert child["own_start"] > child["imported"], "the child began after its parent's import"
    assert child["cold"] is True and child["start"] == child["imported"]


# -- the spans, through traced_handler and the SDK -------------------------------------------


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    tp = TracerProvider(shutdown_on_exit=False)
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    yield tp
    tp.shutdown()


def traced(provider: TracerProvider, result: Any = "ok") -> Any:
    @traced_handler(tracer_provider=provider)
    def handler(event: Any, context: Any) -> Any:
        provider.get_tracer("app").start_span("inner").end()
        return result

    return handler


def invocations(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER]


def phases(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    names = (INIT_SPAN, RESTORE_SPAN)
    return [s for s in exporter.get_finished_spans() if s.name in names]


def assert_child_of(span: ReadableSpan, invocation: ReadableSpan) -> None:
    assert span.parent is not None and invocation.context is not None
    assert span.context is not None
    assert span.context.trace_id == invocation.context.trace_id
    assert span.parent.span_id == invocation.context.span_id
    assert span.end_time == invocation.start_time, "ends exactly when the invocation starts"


@needs_proc
def test_the_first_invocation_gets_one_init_span_from_the_process_start(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    handler = traced(provider)
    before = time.time_ns()
    assert handler({}, Context("req-1")) == "ok"
    assert handler({}, Context("req-2")) == "ok"
    first, second = invocations(exporter)
    (init,) = phases(exporter)
    assert init.name == INIT_SPAN and init.kind == SpanKind.INTERNAL
    assert_child_of(init, first)
    assert init.attributes == {"faas.invocation_id": "req-1"}
    assert init.start_time is not None and init.end_time is not None
    assert abs(init.start_time - process_start_ns()) < 1_000_000  # the OS start, to the ms
    assert init.start_time <= imported_ns() and before <= init.end_time
    assert first.attributes is not None and second.attributes is not None
    assert first.attributes["faas.coldstart"] is True
    assert second.attributes["faas.coldstart"] is False
    names = [s.name for s in exporter.get_finished_spans()]
    assert names == [INIT_SPAN, "inner", "orders", "inner", "orders"], "ends first, then the rest"


def test_the_init_span_joins_the_callers_trace(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    traced(provider)(events.api_gateway_v2(), Context())
    (invocation,) = invocations(exporter)
    (init,) = phases(exporter)
    assert_child_of(init, invocation)
    assert init.context is not None
    assert init.context.trace_id == int(events.TRACEPARENT.split("-")[1], 16)


def test_the_init_span_arrives_at_the_collector_as_a_child_of_the_invocation_span(
    receiver: OTLPReceiver,
) -> None:
    provider = TracerProvider(shutdown_on_exit=False)
    exporter = OTLPSpanExporter(endpoint=receiver.endpoint, timeout=5)
    provider.add_span_processor(LambdaSpanProcessor(exporter, mode="sync"))
    try:
        traced(provider)({}, Context())
    finally:
        provider.shutdown()
    (invocation,) = [s for s in receiver.spans if s.name == "orders"]
    (init,) = [s for s in receiver.spans if s.name == INIT_SPAN]
    assert init.span.kind == SpanProto.SPAN_KIND_INTERNAL
    assert init.span.trace_id == invocation.span.trace_id
    assert init.span.parent_span_id == invocation.span.span_id
    assert init.span.end_time_unix_nano == invocation.span.start_time_unix_nano
    assert init.span.start_time_unix_nano <= imported_ns()
    assert init.attributes == {"faas.invocation_id": "req-1"}


@pytest.mark.parametrize(
    "initialization_type", ["provisioned-concurrency", "lambda-managed-instances"]
)
def test_environments_initialized_ahead_of_requests_get_no_init_span(
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
    initialization_type: str,
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", initialization_type)
    handler = traced(provider)
    handler({}, Context("req-1"))
    handler({}, Context("req-2"))
    assert phases(exporter) == []
    assert len(invocations(exporter)) == 2


def test_inside_lambda_a_proactive_initialization_gets_no_init_span(
    provider: TracerProvider, exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The environment was initialized long before the first request: it did not wait."""
    monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
    monkeypatch.setattr(COLD_START, "_process_start", lambda: time.time_ns() - 11 * S)
    traced(provider)({}, Context())
    (invocation,) = invocations(exporter)
    assert phases(exporter) == []
    assert invocation.attributes is not None and invocation.attributes["faas.coldstart"] is True
    COLD_START.reset()
    started = time.time_ns() - 2 * S  # within the limit: the request waited for it
    monkeypatch.setattr(COLD_START, "_process_start", lambda: started)
    traced(provider)({}, Context())
    (init,) = phases(exporter)
    assert init.start_time == started


def test_after_a_snapstart_restore_the_restore_phase_is_shown_once(
    provider: TracerProvider, exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshot_restore_py = pytest.importorskip("snapshot_restore_py")
    hooks_runner = pytest.importorskip("awslambdaric.lambda_runtime_hooks_runner")
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "snap-start")
    registry = snapshot_restore_py.get_after_restore()
    registry.clear()  # only what this test registers runs (restored afterwards)
    handler = traced(provider)  # at init: the restore hook is registered now
    assert [entry[0] for entry in registry] == [COLD_START.restored]
    before = time.time_ns()
    hooks_runner.run_after_restore()  # what AWS's runtime client does after the restore
    time.sleep(0.05)  # the rest of the restore: the function's own hooks, say
    handler({}, Context("req-1"))
    handler({}, Context("req-2"))
    first, second = invocations(exporter)
    (restore,) = phases(exporter)
    assert restore.name == RESTORE_SPAN and restore.kind == SpanKind.INTERNAL
    assert_child_of(restore, first)
    assert restore.start_time is not None and restore.end_time is not None
    assert before <= restore.start_time and restore.end_time - restore.start_time >= 0.05 * S
    assert first.attributes is not None and first.attributes["faas.coldstart"] is True
    assert second.attributes is not None and second.attributes["faas.coldstart"] is False
    hooks_runner.run_after_restore()  # another environment restored from the same snapshot
    handler({}, Context("req-3"))
    assert [s.name for s in phases(exporter)] == [RESTORE_SPAN, RESTORE_SPAN]


def test_a_handler_wrapped_twice_gets_one_init_span_under_the_outer_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    @traced_handler(tracer_provider=provider, name="outer")
    @traced_handler(tracer_provider=provider, name="inner")
    def handler(event: Any, context: Any) -> str:
        return "ok"

    assert handler({}, Context()) == "ok"
    (init,) = phases(exporter)
    (outer,) = [s for s in exporter.get_finished_spans() if s.name == "outer"]
    assert_child_of(init, outer)


def test_concurrent_first_invocations_give_one_init_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    handler = traced(provider)
    barrier = threading.Barrier(8)

    def invoke(n: int) -> None:
        barrier.wait()
        handler({}, Context(f"req-{n}"))

    threads = [threading.Thread(target=invoke, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    spans = invocations(exporter)
    assert len(spans) == 8
    (init,) = phases(exporter)
    (cold,) = [s for s in spans if s.attributes and s.attributes["faas.coldstart"]]
    assert_child_of(init, cold)


def test_an_invocation_not_sampled_takes_the_cold_start_without_a_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    unsampled = TracerProvider(sampler=ParentBased(ALWAYS_OFF), shutdown_on_exit=False)
    nothing = InMemorySpanExporter()
    unsampled.add_span_processor(SimpleSpanProcessor(nothing))
    assert traced(unsampled)({}, Context()) == "ok"
    assert nothing.get_finished_spans() == ()
    assert traced(provider)({}, Context()) == "ok", "the next invocation is warm"
    assert phases(exporter) == [] and len(invocations(exporter)) == 1


def test_a_tracer_that_fails_on_the_init_span_never_reaches_the_handler(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    class Refusing(TracerProvider):
        """Starts every span but the init span, which raises."""

        def get_tracer(self, *args: Any, **kwargs: Any) -> Any:
            tracer = provider.get_tracer(*args, **kwargs)
            start = tracer.start_span

            def start_span(name: str, *a: Any, **k: Any) -> Any:
                if name == INIT_SPAN:
                    raise RuntimeError("no init span today")
                return start(name, *a, **k)

            tracer.start_span = start_span  # type: ignore[method-assign]
            return tracer

    handler = traced(Refusing(shutdown_on_exit=False), result="fine")
    assert handler({}, Context()) == "fine"
    assert [s.name for s in exporter.get_finished_spans()] == ["inner", "orders"]


def test_a_context_that_raises_on_every_read_still_gets_its_init_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    class Hostile:
        def __getattr__(self, name: str) -> Any:
            raise RuntimeError(f"no {name}")

    assert traced(provider)({}, Hostile()) == "ok"
    (invocation,) = invocations(exporter)
    (init,) = phases(exporter)
    assert_child_of(init, invocation)
    assert not init.attributes, "no request id to name"
