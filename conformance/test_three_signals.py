"""Spans, log records and metrics on one lifecycle: ``three_signals.handler`` under AWS's runtime
client and the emulator, exporting through our lean OTLP exporters to the real receiver.

Every scenario compares arrival times at the receiver with the emulator's record of each
invocation (started, response received, ended: the extension called next again) and ends with
exact books for all three signals: produced = exported + dropped.
"""

from __future__ import annotations

import itertools
import signal
import time
from collections.abc import Callable, Iterator

import pytest

from otel_lambda_processor.testing import (
    Fault,
    InvocationRecord,
    LambdaEmulator,
    OTLPReceiver,
    ReceivedRequest,
)
from otel_lambda_processor.testing.emulator import GRACE_INTERNAL
from otel_lambda_processor.testing.receiver import LOGS_PATH, METRICS_PATH, TRACES_PATH

from .conftest import needs_awslambdaric
from .harness import SIGNALS, THREE_SIGNALS, Ledger, ThreeSignalsRun

pytestmark = needs_awslambdaric

Start = Callable[..., ThreeSignalsRun]
DELTA = {"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "delta"}
#: What a post-response phase may take beyond an export timeout (the extension's next call,
#: the other signals' exports, a loaded machine).
SLACK = 0.2


@pytest.fixture
def start(receiver: OTLPReceiver) -> Iterator[Start]:
    """Start an execution environment for ``three_signals.handler``; stopped after the test."""
    emulators: list[LambdaEmulator] = []

    def launch(mode: str, *, timeout: float = 3.0, **env: str) -> ThreeSignalsRun:
        emulator = LambdaEmulator(handler=THREE_SIGNALS, timeout=timeout).start()
        emulators.append(emulator)
        run = ThreeSignalsRun(emulator, receiver, mode)
        run.launch(**env)
        return run

    yield launch
    for emulator in emulators:
        emulator.stop()


def settle(run: ThreeSignalsRun) -> None:
    assert run.emulator.wait_idle(30), run.emulator.output


def traced(run: ThreeSignalsRun) -> list[InvocationRecord]:
    """The records of the traced invocations (not the harness's reports), in order."""
    return [r for r in run.emulator.invocations() if r.request_id not in run.reports]


def after_response(inv: InvocationRecord) -> tuple[float, float]:
    assert inv.response is not None and inv.ended is not None and not inv.timed_out
    return inv.response, inv.ended


def before_response(inv: InvocationRecord) -> tuple[float, float]:
    assert inv.response is not None and not inv.timed_out
    return inv.started, inv.response


def inside(at: float, window: tuple[float, float]) -> bool:
    return window[0] <= at <= window[1]


def per_window(
    requests: list[ReceivedRequest], windows: list[tuple[float, float]]
) -> list[list[ReceivedRequest]]:
    """``requests`` by the window they arrived in; each must have arrived in one."""
    found: list[list[ReceivedRequest]] = [[] for _ in windows]
    for request in requests:
        hits = [i for i, window in enumerate(windows) if inside(request.at, window)]
        assert hits, f"{request.path} arrived at {request.at}, outside every window {windows}"
        found[hits[0]].append(request)
    return found


def counter_values(receiver: OTLPReceiver) -> list[float | int | None]:
    return [p.value for p in receiver.metric_points("invocations")]


def assert_logs_carry_their_invocation_span(
    run: ThreeSignalsRun, windows: dict[str, tuple[float, float]]
) -> None:
    """Every record arrived in its invocation's window, with that invocation span's ids."""
    roots = {
        s.attributes["faas.invocation_id"]: s
        for s in run.receiver.spans
        if not s.span.parent_span_id
    }
    records = run.receiver.logs()
    assert len(records) == run.logs and len({r.body for r in records}) == run.logs, "each once"
    for record in records:
        request = record.attributes["request"]
        assert request in record.body
        root = roots[request]
        assert record.trace_id == root.span.trace_id and record.span_id == root.span.span_id
        assert inside(record.received_at, windows[request]), (request, record.received_at)


def assert_balanced(ledgers: dict[str, Ledger], *, dropped: bool | None = False) -> None:
    """Every signal balances; ``dropped``: False = none dropped, True = some dropped."""
    for name, ledger in ledgers.items():
        assert ledger.balanced, (name, ledger)
        if dropped is not None:
            assert (ledger.dropped > 0) is dropped, (name, ledger)


# 1. async: after each response, before the invocation ends ------------------------------------
@pytest.mark.parametrize(
    ("temporality", "expected"), [("cumulative", [1, 2, 3]), ("delta", [1, 1, 1])]
)
def test_async_logs_and_metrics_leave_after_each_response_with_the_invocation_trace(
    start: Start, receiver: OTLPReceiver, temporality: str, expected: list[int]
) -> None:
    run = start("async", OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=temporality)
    for _ in range(3):
        assert run.invoke(spans=3, logs=2).status == "ok", run.emulator.output
        settle(run)
    invocations = traced(run)
    windows = [after_response(inv) for inv in invocations]
    for earlier, later in itertools.pairwise(invocations):
        assert earlier.ended is not None and earlier.ended <= later.started
    # Each invocation's spans, records and points leave in its own window, once per signal.
    for name in SIGNALS:
        arrived = per_window(run.accepted(name), windows)
        assert [len(requests) for requests in arrived] == [1, 1, 1], name
    assert_logs_carry_their_invocation_span(
        run, {inv.request_id: w for inv, w in zip(invocations, windows, strict=True)}
    )
    assert counter_values(receiver) == expected
    assert {p.temporality for p in receiver.metric_points("invocations")} == {temporality}
    histogram = receiver.metric_points("work.items")
    assert [p.count for p in histogram] == ([1, 2, 3] if temporality == "cumulative" else [1] * 3)
    for point, window in zip(receiver.metric_points("invocations"), windows, strict=True):
        assert inside(point.received_at, window)

    books, report = run.report()
    assert books["modes"] == dict.fromkeys(SIGNALS, "async"), "the span mode is the fallback"
    ledgers = run.ledgers(books, before=report.started)
    assert_balanced(ledgers)
    # 3 x 3 spans and the first invocation's init span (the cold start's)
    assert ledgers["spans"].produced == run.produced == 10 and ledgers["logs"].produced == 6
    run.record_ledgers(f"11. async, {temporality}", ledgers)


# 2. sync: everything before the response --------------------------------------------------------
def test_sync_everything_is_at_the_receiver_before_the_response(
    start: Start, receiver: OTLPReceiver
) -> None:
    run = start("sync")
    for _ in range(3):
        assert run.invoke(spans=3, logs=2).status == "ok", run.emulator.output
        settle(run)
    invocations = traced(run)
    windows = [before_response(inv) for inv in invocations]
    for name in SIGNALS:
        arrived = per_window(run.accepted(name), windows)
        assert all(arrived), f"{name}: every invocation exported before its response"
    assert [len(requests) for requests in per_window(run.accepted("spans"), windows)] == [1] * 3
    assert_logs_carry_their_invocation_span(
        run, {inv.request_id: w for inv, w in zip(invocations, windows, strict=True)}
    )
    # The counter as each response left: everything up to that invocation had been exported.
    points = receiver.metric_points("invocations")
    last = [max(p.value for p in points if inside(p.received_at, w)) for w in windows]
    assert last == [1, 2, 3]

    books, report = run.report()
    assert books["modes"] == dict.fromkeys(SIGNALS, "sync")
    ledgers = run.ledgers(books, before=report.started)
    assert_balanced(ledgers)
    run.record_ledgers("11. sync", ledgers)


def test_sync_exports_metrics_once_per_invocation(start: Start, receiver: OTLPReceiver) -> None:
    """traced_handler and the runtime hook both say "handler done": one collection, not two."""
    run = start("sync")
    for _ in range(3):
        assert run.invoke(spans=1, logs=1).status == "ok", run.emulator.output
        settle(run)
    windows = [before_response(inv) for inv in traced(run)]
    arrived = per_window(run.accepted("metrics"), windows)
    assert counter_values(receiver) == [1, 2, 3]
    assert [len(requests) for requests in arrived] == [1, 1, 1]


# 3. finalize: nothing until SIGTERM, then all three within the grace ----------------------------
@pytest.mark.parametrize("execution_env", [None, "AWS_Lambda_python3.12"])
def test_finalize_exports_all_three_at_sigterm_within_the_grace_spans_first(
    start: Start, receiver: OTLPReceiver, execution_env: str | None
) -> None:
    extra = {"AWS_EXECUTION_ENV": execution_env} if execution_env else {}
    run = start("finalize", TEST_EXPORT_STARTS="1", **extra)
    for _ in range(3):
        assert run.invoke(spans=3, logs=2).status == "ok", run.emulator.output
        settle(run)
    time.sleep(0.2)  # nothing trickles out later either
    assert receiver.requests == [], "finalize exports nothing before SIGTERM"

    # The runtime waits for the next invocation (in native code, unless AWS_EXECUTION_ENV
    # names python3.12+, where it polls on a thread).
    outcome = run.shutdown()
    assert outcome.sigterm_sent and not outcome.killed, run.emulator.output
    assert outcome.returncode == -signal.SIGTERM
    assert run.sigterm_at is not None
    grace = (run.sigterm_at, run.sigterm_at + GRACE_INTERNAL)
    assert receiver.requests and all(r.status == 200 for r in receiver.requests)
    assert all(inside(r.at, grace) for r in receiver.requests), [
        (r.path, r.at - run.sigterm_at) for r in receiver.requests
    ]
    assert {r.path for r in receiver.requests} == {TRACES_PATH, LOGS_PATH, METRICS_PATH}
    assert receiver.span_count == 10, receiver.span_names()  # the init span too
    assert receiver.log_count() == 6
    assert counter_values(receiver) == [3]
    assert [p.count for p in receiver.metric_points("work.items")] == [3]
    roots = {s.span.span_id for s in receiver.spans if not s.span.parent_span_id}
    assert {r.span_id for r in receiver.logs()} == roots

    books = run.final_books()  # printed when the coordinator flushed the tracer provider
    started = books["export_started"]
    assert all(len(started[name]) == 1 for name in SIGNALS), (
        "all three acted on the SHUTDOWN signal itself, not on the provider flushes after it",
        started,
    )
    # Spans are told first and never wait behind the others: their export was under way
    # before the first log record or data point reached the collector.
    (spans_started,) = started["spans"]
    first = {name: min(r.at for r in run.accepted(name)) for name in SIGNALS}
    assert run.sigterm_at <= spans_started <= min(first["logs"], first["metrics"]), (
        spans_started,
        first,
    )
    ledgers = run.ledgers(books)
    assert_balanced(ledgers)
    waiting = "3.12 poll" if execution_env else "native next"
    run.record_ledgers(f"11. finalize, SIGTERM ({waiting})", ledgers)


# 4. collector failures -------------------------------------------------------------------------
def test_collector_failures_keep_logs_and_metrics_for_the_next_export(
    start: Start, receiver: OTLPReceiver
) -> None:
    run = start("async", **DELTA)
    receiver.inject(Fault(status=400), path=LOGS_PATH)
    receiver.inject(Fault(status=400), path=METRICS_PATH)
    # The histogram records each invocation's span count: 2, 3, 4 tell the collections apart.
    assert run.invoke(spans=2, logs=2).status == "ok"
    settle(run)
    first = after_response(traced(run)[0])
    assert receiver.span_count == 3, "the other signals are not held up"  # and the init span
    assert receiver.log_count() == 0 and receiver.metric_point_count() == 0

    assert run.invoke(spans=3, logs=2).status == "ok"
    settle(run)
    second = after_response(traced(run)[1])
    assert all(inside(r.received_at, second) for r in receiver.logs())
    assert receiver.log_count() == 4, "the kept records went out with the next export"
    # The failed collection goes again, once, before the newer one: nothing counted twice.
    assert [r.item_count for r in run.accepted("metrics")] == [2, 2], {
        p.name for p in receiver.metric_points()
    }
    assert counter_values(receiver) == [1, 1]
    assert [p.sum for p in receiver.metric_points("work.items")] == [2, 3], "oldest first"
    assert all(inside(p.received_at, second) for p in receiver.metric_points())

    # A 503 is retried by the exporter itself, still after the response and in the window.
    receiver.inject(Fault(status=503), path=LOGS_PATH)
    receiver.inject(Fault(status=503), path=METRICS_PATH)
    assert run.invoke(spans=4, logs=2).status == "ok"
    settle(run)
    third = after_response(traced(run)[2])
    refused = [r for r in receiver.requests if r.status is not None and r.status >= 400]
    assert [r.status for r in refused] == [400, 400, 503, 503]
    assert all(inside(r.at, first) for r in refused[:2])
    assert all(inside(r.at, third) for r in refused[2:])
    for name in ("logs", "metrics"):
        (retried,) = [r for r in run.accepted(name) if inside(r.at, third)]
        assert retried.at > max(r.at for r in refused if r.path == retried.path)

    values = counter_values(receiver)
    assert sum(v or 0 for v in values) == run.increments == 3 and values == [1, 1, 1]
    assert [p.sum for p in receiver.metric_points("work.items")] == [2, 3, 4]
    assert sorted(receiver.log_bodies()) == sorted(set(receiver.log_bodies()))
    books, report = run.report()
    ledgers = run.ledgers(books, before=report.started)
    assert_balanced(ledgers)
    run.record_ledgers("11. 400 then 503", ledgers)


HANGING = {
    "TEST_OTLP_TIMEOUT": "20",  # the exporters would wait for the collector...
    "LAMBDA_SPAN_PROCESSOR_EXPORT_TIMEOUT": "300",  # ...the lifecycle does not
    "LAMBDA_LOG_PROCESSOR_EXPORT_TIMEOUT": "300",
    "LAMBDA_METRIC_READER_EXPORT_TIMEOUT": "300",
}


@pytest.mark.parametrize("path", [LOGS_PATH, METRICS_PATH])
def test_a_collector_hanging_on_logs_or_metrics_costs_at_most_the_export_timeout(
    start: Start, receiver: OTLPReceiver, path: str
) -> None:
    run = start("async", **HANGING, **DELTA)
    assert run.invoke(spans=2, logs=2).status == "ok"
    settle(run)
    receiver.inject(Fault(hang=20), path=path)
    assert run.invoke(spans=2, logs=2).status == "ok"
    settle(run)
    hung = traced(run)[-1]
    assert hung.post_response is not None and hung.post_response <= 0.3 + SLACK, hung
    assert not hung.timed_out and run.emulator.resets == 0
    receiver.release()  # the held request is answered 200: what it carried arrives
    assert run.invoke(spans=2, logs=2).status == "ok"
    settle(run)
    assert receiver.wait_for_logs(6) and receiver.wait_for_metric_points(6)
    assert sum(v or 0 for v in counter_values(receiver)) == 3
    books, report = run.report()
    ledgers = run.ledgers(books, before=report.started)
    assert_balanced(ledgers)
    run.record_ledgers(f"11. {path} hangs", ledgers)


def test_a_collector_hanging_on_every_path_costs_at_most_one_export_timeout(
    start: Start, receiver: OTLPReceiver
) -> None:
    run = start("async", **HANGING)
    assert run.invoke(spans=2, logs=2).status == "ok"
    settle(run)
    receiver.inject(Fault(hang=20), times=3)  # one collector: spans, logs and metrics hang
    assert run.invoke(spans=2, logs=2).status == "ok"
    settle(run)
    receiver.release()
    hung = traced(run)[-1]
    assert hung.post_response is not None and not hung.timed_out
    assert hung.post_response <= 0.3 + SLACK, hung


# 5. exact books for all three, drops included --------------------------------------------------
def test_exact_books_for_all_three_signals_with_drops_in_each(
    start: Start, receiver: OTLPReceiver
) -> None:
    run = start("async", LAMBDA_LOG_PROCESSOR_QUEUE_SIZE="8")
    for path in (TRACES_PATH, LOGS_PATH, METRICS_PATH):
        receiver.inject(Fault(status=400), times=2, path=path)  # the first batch fails twice
    for logs in (30, 3, 3, 3):  # 30 records into a buffer of 8: the oldest are overwritten
        assert run.invoke(spans=3, logs=logs).status == "ok", run.emulator.output
        settle(run)
    books, report = run.report()
    assert_balanced(run.ledgers(books, before=report.started), dropped=True)

    outcome = run.shutdown()
    assert not outcome.killed and outcome.returncode == -signal.SIGTERM, run.emulator.output
    books = run.final_books()
    ledgers = run.ledgers(books)
    assert_balanced(ledgers, dropped=True)
    assert books["spans_ended"] == run.produced == 13 and books["logs_emitted"] == run.logs == 39
    assert books["increments"] == run.increments == 4
    assert books["dropped_spans"] == 4, "the first invocation's spans (init too) failed twice"
    assert books["dropped_points"] == 2, "the first collection (counter, histogram) failed twice"
    assert run.drop_warnings() == {name: ledgers[name].dropped for name in SIGNALS}
    # Cumulative: the last export holds every increment, the dropped one included.
    assert counter_values(receiver)[-1] == 4
    run.record_ledgers("11. drops in each", ledgers)


# 6. a minimum interval between metric exports ----------------------------------------------------
def test_a_long_min_interval_exports_metrics_once_and_the_rest_at_sigterm(
    start: Start, receiver: OTLPReceiver
) -> None:
    run = start("async", LAMBDA_METRIC_READER_MIN_INTERVAL="3600000", **DELTA)
    for _ in range(3):
        assert run.invoke(spans=2, logs=1).status == "ok"
        settle(run)
    windows = [after_response(inv) for inv in traced(run)]
    assert [len(r) for r in per_window(run.accepted("metrics"), windows)] == [1, 0, 0]
    for name in ("spans", "logs"):  # the interval is the metric reader's alone
        assert [len(r) for r in per_window(run.accepted(name), windows)] == [1, 1, 1]
    assert counter_values(receiver) == [1]

    outcome = run.shutdown()
    assert outcome.sigterm_sent and not outcome.killed, run.emulator.output
    assert run.sigterm_at is not None
    late = [r for r in run.accepted("metrics") if r.at >= run.sigterm_at]
    assert len(late) == 1 and late[0].at <= run.sigterm_at + GRACE_INTERNAL
    assert counter_values(receiver) == [1, 2], "the two skipped increments, at SIGTERM"
    assert [p.count for p in receiver.metric_points("work.items")] == [1, 2]
    ledgers = run.ledgers(run.final_books())
    assert_balanced(ledgers)
    run.record_ledgers("11. metric min interval 1 h", ledgers)
