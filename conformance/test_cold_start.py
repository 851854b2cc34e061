"""The cold start in the trace it delayed, end to end: AWS's runtime client runs a traced function
whose module sleeps at import; the receiver sees the init span in the first invocation's trace
only, none under provisioned concurrency, and the restore phase after a SnapStart restore."""

from __future__ import annotations

import time

from otel_lambda_processor.cold_start import INIT_SPAN, RESTORE_SPAN
from otel_lambda_processor.testing import InvokeResult, LambdaEmulator, OTLPReceiver, ReceivedSpan

from .conftest import needs_awslambdaric
from .harness import RESULTS, Row, launch_function

pytestmark = needs_awslambdaric

HANDLER = "slow_init.handler"
IMPORT_SLEEP = 0.3  # the function module's slow import (s)
RESTORE_SLEEP = 0.2  # its own after-restore hook under SnapStart (s)
NS = 1_000_000_000


def run(receiver: OTLPReceiver, initialization_type: str) -> tuple[list[InvokeResult], int]:
    """Two invocations of a fresh environment, then its shutdown; every span is in by then.
    Returns the results and when the runtime was launched (epoch ns)."""
    with LambdaEmulator(handler=HANDLER) as emulator:
        launched = time.time_ns()
        launch_function(
            emulator,
            receiver,
            HANDLER,
            AWS_LAMBDA_INITIALIZATION_TYPE=initialization_type,
            TEST_IMPORT_SLEEP=str(IMPORT_SLEEP),
            TEST_RESTORE_SLEEP=str(RESTORE_SLEEP),
        )
        results = [emulator.invoke({}) for _ in range(2)]
        assert [r.status for r in results] == ["ok", "ok"], emulator.output
        assert emulator.wait_idle(10), emulator.output
        emulator.shutdown()
        assert "Traceback" not in emulator.output, emulator.output
    return results, launched


def invocation_span(receiver: OTLPReceiver, result: InvokeResult) -> ReceivedSpan:
    (span,) = [
        s
        for s in receiver.spans
        if "faas.trigger" in s.attributes
        and s.attributes["faas.invocation_id"] == result.request_id
    ]
    return span


def children(receiver: OTLPReceiver, parent: ReceivedSpan) -> list[str]:
    return sorted(
        s.name
        for s in receiver.spans
        if s.span.trace_id == parent.span.trace_id and s.span.parent_span_id == parent.span.span_id
    )


def assert_phase_of(phase: ReceivedSpan, invocation: ReceivedSpan) -> None:
    assert phase.span.kind == phase.span.SPAN_KIND_INTERNAL
    assert phase.span.trace_id == invocation.span.trace_id
    assert phase.span.parent_span_id == invocation.span.span_id
    assert phase.span.end_time_unix_nano == invocation.span.start_time_unix_nano
    assert phase.attributes == {"faas.invocation_id": invocation.attributes["faas.invocation_id"]}
    assert phase.scope_name == invocation.scope_name == "otel_lambda_processor"


def test_the_first_invocation_holds_the_init_span_from_the_process_start(
    receiver: OTLPReceiver,
) -> None:
    (first, second), launched = run(receiver, "on-demand")
    assert len(receiver.spans) == 5, receiver.span_names()  # 2 invocations, 2 "work", 1 init
    cold, warm = invocation_span(receiver, first), invocation_span(receiver, second)
    assert cold.attributes["faas.coldstart"] is True and warm.attributes["faas.coldstart"] is False
    (init,) = [s for s in receiver.spans if s.name == INIT_SPAN]
    assert_phase_of(init, cold)
    assert children(receiver, cold) == sorted([INIT_SPAN, "work"])
    assert children(receiver, warm) == ["work"], "none on a warm invocation"
    # From the process start (before the module's first line, not at the package's late import)
    # to the invocation: the slow import is inside.
    assert isinstance(first.payload, dict)
    assert launched <= init.span.start_time_unix_nano <= first.payload["module_started_ns"]
    duration = init.span.end_time_unix_nano - init.span.start_time_unix_nano
    assert duration >= IMPORT_SLEEP * NS
    assert [s.name for s in receiver.spans if s.name in (INIT_SPAN, RESTORE_SPAN)] == [INIT_SPAN]
    RESULTS.append(Row("6. cold start: init span", "async", 5, len(receiver.spans), 0, None, None))


def test_provisioned_concurrency_has_no_init_span(receiver: OTLPReceiver) -> None:
    (first, second), _ = run(receiver, "provisioned-concurrency")
    assert sorted(receiver.span_names()) == ["emulated-function"] * 2 + ["work"] * 2
    for result in (first, second):
        assert invocation_span(receiver, result).attributes["faas.coldstart"] is False


def test_after_a_snapstart_restore_the_first_invocation_holds_the_restore_span(
    receiver: OTLPReceiver,
) -> None:
    (first, second), _ = run(receiver, "snap-start")
    assert len(receiver.spans) == 5, receiver.span_names()
    cold, warm = invocation_span(receiver, first), invocation_span(receiver, second)
    assert cold.attributes["faas.coldstart"] is True and warm.attributes["faas.coldstart"] is False
    (restore,) = [s for s in receiver.spans if s.name == RESTORE_SPAN]
    assert [s.name for s in receiver.spans if s.name == INIT_SPAN] == [], "init was before"
    assert_phase_of(restore, cold)
    assert children(receiver, warm) == ["work"]
    # From our restore hook (registered first, at decoration) to the invocation: the function's
    # own hook, which ran after ours and slept, is inside; the init, before the snapshot, is not.
    assert isinstance(first.payload, dict)
    (function_hook_ns,) = first.payload["restored_ns"]
    start = restore.span.start_time_unix_nano
    assert first.payload["module_started_ns"] + IMPORT_SLEEP * NS <= start <= function_hook_ns
    assert restore.span.end_time_unix_nano - start >= RESTORE_SLEEP * NS
    RESULTS.append(
        Row("6. cold start: SnapStart restore span", "async", 5, len(receiver.spans), 0, None, None)
    )
