"""Conformance scenarios: real functions under AWS's runtime client, the local Lambda emulator,
the real OTLP exporter and a real receiver. Every scenario ends with exact accounting."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

import pytest

from otel_lambda_processor.testing import Fault, InvocationRecord, OTLPReceiver

from .conftest import needs_awslambdaric
from .harness import FunctionRun

MODES = ["sync", "async", "finalize"]
BIG_QUEUE = {"LAMBDA_SPAN_PROCESSOR_QUEUE_SIZE": "16384"}

Start = Callable[..., FunctionRun]

pytestmark = needs_awslambdaric


def settle(run: FunctionRun) -> None:
    assert run.emulator.wait_idle(60), run.emulator.output


def records(run: FunctionRun) -> dict[str, InvocationRecord]:
    return {r.request_id: r for r in run.emulator.invocations()}


def assert_links_intact(receiver: OTLPReceiver) -> None:
    """Every exported child points at its invocation's root, and every root was exported."""
    roots = {s.span_id: s for s in receiver.spans if s.name == "handler"}
    for s in receiver.spans:
        if s.name != "handler":
            root = roots.get(s.span.parent_span_id)
            assert root is not None, f"{s.name} lost its parent"
            assert root.attributes["request"] == s.attributes["request"]
            assert root.span.trace_id == s.span.trace_id


# 1. volume ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("spans", [1, 100, 10_000])
def test_volume_every_span_is_exported_with_its_links(
    run_function: Start, receiver: OTLPReceiver, mode: str, spans: int
) -> None:
    run = run_function(mode, timeout=30, **(BIG_QUEUE if spans == 10_000 else {}))
    for _ in range(20):
        # finalize exports only when the application flushes, as one composing it would
        assert run.invoke(spans, flush=mode == "finalize").status == "ok", run.emulator.output
        settle(run)
    row = run.record(f"1. {spans:,} spans x 20")
    assert row.balanced and row.dropped == 0 and row.exported == 20 * spans
    assert_links_intact(receiver)


@pytest.mark.parametrize("mode", MODES)
def test_volume_with_the_default_queue_counts_what_it_cannot_keep(
    run_function: Start, receiver: OTLPReceiver, mode: str
) -> None:
    run = run_function(mode, timeout=30)
    for _ in range(20):
        assert run.invoke(10_000, flush=mode == "finalize").status == "ok"
        settle(run)
    row = run.record("1. 10,000 spans x 20, default queue")
    assert row.balanced, row
    assert_links_intact(receiver)
    assert len([s for s in receiver.spans if s.name == "handler"]) == 20, "every root survived"


# 2. gaps -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["async", "sync"])
def test_gaps_between_invocations_lose_nothing_and_keep_flush_windows(
    run_function: Start, receiver: OTLPReceiver, mode: str
) -> None:
    run = run_function(mode)
    # Back to back, then gaps longer than lambda-otel-lite's 2 s /event/next timeout.
    for gap, invocations in ((0, 3), (3, 2), (6, 1)):
        for _ in range(invocations):
            assert run.invoke(5).status == "ok"
            settle(run)
            time.sleep(gap)
    row = run.record("2. gaps of 0, 3 and 6 s")
    assert row.balanced and row.dropped == 0 and row.exported == 30
    by_request = records(run)
    for s in receiver.spans:
        inv = by_request[s.attributes["request"]]
        assert inv.response is not None and inv.ended is not None
        if mode == "async":  # after the response, before the invocation ended
            assert inv.response <= s.received_at <= inv.ended
        else:  # before the response
            assert inv.started <= s.received_at <= inv.response


# 3. overflow -------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_queue_overflow_is_counted_exactly_and_roots_survive(
    run_function: Start, receiver: OTLPReceiver, mode: str
) -> None:
    run = run_function(mode, LAMBDA_SPAN_PROCESSOR_QUEUE_SIZE="64")
    for _ in range(5):
        assert run.invoke(500, flush=mode == "finalize").status == "ok"
        settle(run)
    row = run.record("3. overflow: 500 spans into 64")
    assert row.balanced and row.dropped > 0, row
    assert len([s for s in receiver.spans if s.name == "handler"]) == 5


# 4. receiver faults ------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["async", "sync"])
def test_a_500_keeps_the_batch_for_the_next_flush(
    run_function: Start, receiver: OTLPReceiver, mode: str
) -> None:
    run = run_function(mode)
    receiver.inject(Fault(status=500))
    for _ in range(3):
        assert run.invoke(4).status == "ok"
        settle(run)
    row = run.record("4. collector answers 500 once")
    assert row.balanced and row.dropped == 0 and row.exported == 12


def test_a_503_is_retried_after_the_response_in_async(
    run_function: Start, receiver: OTLPReceiver
) -> None:
    run = run_function("async")
    receiver.inject(Fault(status=503))
    result = run.invoke(4)
    settle(run)
    inv = records(run)[result.request_id]
    assert inv.response is not None and inv.ended is not None
    retry = next(r for r in receiver.requests if r.status == 200)
    assert inv.response < retry.at <= inv.ended, "the exporter's retry ran after the response"
    row = run.record("4. collector answers 503 once")
    assert row.balanced and row.exported == 4


@pytest.mark.parametrize("mode", ["async", "sync"])
def test_a_hanging_collector_costs_at_most_the_export_timeout(
    run_function: Start, receiver: OTLPReceiver, mode: str
) -> None:
    run = run_function(
        mode, TEST_OTLP_TIMEOUT="20", LAMBDA_SPAN_PROCESSOR_EXPORT_TIMEOUT="300", timeout=3.0
    )
    receiver.inject(Fault(hang=20))
    first = run.invoke(3)
    assert first.status == "ok"
    settle(run)
    inv = records(run)[first.request_id]
    assert inv.ended is not None and not inv.timed_out and run.emulator.resets == 0
    receiver.release()
    assert run.invoke(3).status == "ok"
    settle(run)
    assert receiver.wait_for_spans(6, timeout=20)
    row = run.record("4. collector hangs past the export timeout")
    assert row.balanced, row


@pytest.mark.parametrize("mode", ["async", "sync"])
def test_a_refusing_collector_then_a_recovered_one(
    run_function: Start, receiver: OTLPReceiver, mode: str
) -> None:
    port = receiver.port
    run = run_function(mode, TEST_OTLP_TIMEOUT="1")
    receiver.stop()  # nothing listens: connections are refused
    for _ in range(2):
        assert run.invoke(3).status == "ok"
        settle(run)
    with OTLPReceiver(port=port) as recovered:
        run.receiver = recovered
        assert run.invoke(3).status == "ok"
        settle(run)
        row = run.record("4. collector refuses, then recovers")
    assert row.balanced, row
    assert row.exported >= 3 and run.emulator.resets == 0


# 5. handlers -------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["async", "sync"])
def test_a_handler_that_raises_has_its_spans_exported(
    run_function: Start, receiver: OTLPReceiver, mode: str
) -> None:
    run = run_function(mode)
    for _ in range(3):
        result = run.invoke(3, **{"raise": True})
        assert result.status == "error" and result.error_type == "RuntimeError"
        settle(run)
    row = run.record("5. handler raises")
    assert row.balanced and row.exported == 9


def test_a_handler_that_never_signals_is_flushed_before_its_deadline(
    run_function: Start, receiver: OTLPReceiver
) -> None:
    run = run_function("async", runtime="minimal", timeout=2.0)
    for _ in range(2):
        assert run.invoke(3).status == "ok"
        settle(run)
    assert run.emulator.resets == 0 and not any(r.timed_out for r in run.emulator.invocations())
    row = run.record("5. no hook, never signals (deadline flush)")
    assert row.balanced and row.exported == 6


def test_a_handler_that_times_out_has_its_ended_spans_exported_first(
    run_function: Start, receiver: OTLPReceiver
) -> None:
    run = run_function("async", timeout=2.0)
    assert run.invoke(4).status == "ok"
    settle(run)
    # Four children end at once, then the handler sleeps past its timeout inside its root span:
    # the extension's deadline flush (300 ms before it) exports what has ended, then Lambda
    # resets the environment. The root never ends, so it is never produced.
    timed_out = run.emulator.invoke({"spans": 5, "sleep": 10})
    run.produced += 4
    assert timed_out.status == "timeout"
    assert receiver.wait_for_spans(8, timeout=10)
    assert run.emulator.resets == 1
    row = run.record("5. handler times out")
    assert row.balanced and row.exported == 8


# 6. SIGTERM --------------------------------------------------------------------------------------
@pytest.mark.parametrize("execution_env", [None, "AWS_Lambda_python3.12"])
def test_sigterm_in_finalize_flushes_ours_and_the_batch_processor_then_dies_by_it(
    run_function: Start, receiver: OTLPReceiver, execution_env: str | None
) -> None:
    with OTLPReceiver() as batch_receiver:
        extra = {"AWS_EXECUTION_ENV": execution_env} if execution_env else {}
        run = run_function(
            "finalize",
            TEST_BATCH_PROCESSOR="1",
            TEST_BATCH_ENDPOINT=batch_receiver.endpoint,
            **extra,
        )
        for _ in range(3):
            assert run.invoke(4).status == "ok"
            settle(run)
        assert receiver.spans == [] and batch_receiver.spans == []
        outcome = run.emulator.shutdown()
        assert outcome.sigterm_sent and not outcome.killed, run.emulator.output
        assert outcome.returncode == -signal.SIGTERM
        assert len(batch_receiver.spans) == 12, "the provider's other processor went out too"
    row = run.record(f"6. SIGTERM, finalize + batch ({execution_env or 'native next'})")
    assert row.balanced and row.exported == 12


@pytest.mark.parametrize("execution_env", [None, "AWS_Lambda_python3.12"])
def test_sigterm_in_async_exports_what_a_failed_flush_kept(
    run_function: Start, receiver: OTLPReceiver, execution_env: str | None
) -> None:
    extra = {"AWS_EXECUTION_ENV": execution_env} if execution_env else {}
    run = run_function("async", **extra)
    receiver.inject(Fault(status=500))
    assert run.invoke(5).status == "ok"
    settle(run)
    assert receiver.spans == []
    outcome = run.emulator.shutdown()
    assert not outcome.killed and outcome.returncode == -signal.SIGTERM, run.emulator.output
    row = run.record(f"6. SIGTERM, async ({execution_env or 'native next'})")
    assert row.balanced and row.exported == 5


# 7. Extensions API unavailable -------------------------------------------------------------------
def test_refused_registration_still_exports_inline(
    run_function: Start, receiver: OTLPReceiver
) -> None:
    run = run_function("async", refuse_registration=True)
    for _ in range(3):
        assert run.invoke(3).status == "ok"
    assert run.emulator.extensions() == []
    # The warning went to stderr during init; the emulator's reader thread may lag a busy
    # machine, so it is waited for (bounded).
    deadline = time.monotonic() + 10
    while "could not register" not in run.emulator.output and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "could not register" in run.emulator.output
    row = run.record("7. registration refused")
    assert row.balanced and row.exported == 9, "exported inline, before each response"


def test_extensions_api_dying_after_registration(
    run_function: Start, receiver: OTLPReceiver
) -> None:
    run = run_function("async")
    assert run.invoke(2).status == "ok"
    settle(run)
    run.emulator.extension_api_status = 500
    started = time.monotonic()
    for _ in range(5):
        assert run.invoke(2).status == "ok"
        time.sleep(0.2)
    window = time.monotonic() - started
    failures = [
        x for x in run.emulator.exchanges() if x.actor.startswith("extension") and x.status == 500
    ]
    assert 1 <= len(failures) <= 2 * window + 1, "backoff, not a busy loop"
    assert receiver.wait_for_spans(12, timeout=10)
    row = run.record("7. Extensions API dies after registration")
    assert row.balanced and row.exported == 12


# 10. the response-sent signal ------------------------------------------------------------------
def test_the_export_starts_only_after_the_emulator_received_the_response(
    run_function: Start, receiver: OTLPReceiver
) -> None:
    run = run_function("async")
    for _ in range(5):
        result = run.invoke(3)
        settle(run)
        posted = [
            x
            for x in run.emulator.exchanges()
            if x.actor == "runtime"
            and x.path.endswith("/response")
            and x.request_id == result.request_id
        ]
        (response,) = posted
        mine = [s for s in receiver.spans if s.attributes["request"] == result.request_id]
        assert mine and all(s.received_at >= response.started for s in mine)
    row = run.record("10. export after the response (exchanges)")
    assert row.balanced
