"""Owns the three-signal latency section: spans, logs and metrics on, ours and the OTel setup.
Must not change what functions/bench_signals_fn.py sets up; every export is checked.
"""

from __future__ import annotations

import os
import statistics
import sys
from typing import Any, NamedTuple

from harness import HERE, Answer, Counts, Question, Rounds, fmt, installed

BASELINE = "no telemetry (baseline)"
INSTRUMENTATION = "opentelemetry-instrumentation-aws-lambda"
SETUPS = {
    # name: BENCH_SETUP of functions/bench_signals_fn.py
    BASELINE: "none",
    "ours, async (response-sent hook)": "lambda",
    "OTel AWS Lambda instrumentation (flushes spans, metrics)": "instrumentation",
    "OTel AWS Lambda instrumentation + logs flushed too": "instrumentation+logs",
}


class SignalLatency(NamedTuple):
    latencies: list[float]  # seconds, as the caller waited for the response
    post_response: list[float]  # seconds the invocation stayed open after the response
    logs_late: int  # invocations that ended before all their log records had been exported


def _metric_total(receiver: Any, name: str) -> float:
    """The total a metric's points say (sums' values, histograms' counts) over all its series:
    the last point of each series where cumulative, every point where delta."""
    total, last = 0.0, {}
    for point in receiver.metric_points(name):
        amount = point.value if point.count is None else point.count
        if point.temporality == "delta":
            total += amount
        else:
            last[tuple(sorted(point.attributes.items()))] = amount
    return total + sum(last.values())


def measure(invocations: int, span_counts: tuple[int, ...]) -> dict[str, dict[int, SignalLatency]]:
    """Per setup and span count: caller latencies, post-response durations, late log records.

    When each invocation ends, an exporting setup must have delivered all its spans and metric
    points (the counter's and the histogram's totals at the receiver are everything added so
    far), and all its log records, except where nothing flushes them: the instrumentation's
    plain setup, whose log records must then all arrive within 10 s of its last invocation.
    Anything missing stops the run.
    """
    from otel_lambda_processor.testing import OTLPReceiver
    from otel_lambda_processor.testing.emulator import LambdaEmulator, awslambdaric_command

    instrumentation = installed("opentelemetry.instrumentation.aws_lambda")
    handler = "bench_signals_fn.handler"
    out: dict[str, dict[int, SignalLatency]] = {}
    with OTLPReceiver() as receiver:
        for name, setup in SETUPS.items():
            if setup.startswith("instrumentation") and not instrumentation:
                continue
            exporting = setup != "none"
            spans = logs = items = 0
            with LambdaEmulator(handler=handler, timeout=30) as emulator:
                emulator.launch(
                    awslambdaric_command(handler),
                    cwd=str(HERE / "functions"),
                    env={
                        "BENCH_SETUP": setup,
                        "BENCH_OTLP_BASE": receiver.base_endpoint,
                        "LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE": "async",
                        "LAMBDA_SPAN_PROCESSOR_QUEUE_SIZE": "16384",
                        "LAMBDA_LOG_PROCESSOR_QUEUE_SIZE": "16384",
                        "PYTHONPATH": os.pathsep.join(sys.path),
                    },
                )
                if not emulator.wait_ready(30):
                    raise RuntimeError(f"{name}: the function did not start\n{emulator.output}")
                out[name] = {}
                for count in span_counts:
                    latencies, post, late = [], [], []
                    for _ in range(invocations + 1):  # the first is a warm-up
                        result = emulator.invoke({"spans": count}, timeout=60)
                        assert result.status == "ok", emulator.output
                        emulator.wait_idle(60)
                        latencies.append(result.latency)
                        record = [
                            r for r in emulator.invocations() if r.request_id == result.request_id
                        ]
                        post.append(record[0].post_response or 0.0)
                        late.append(False)
                        if not exporting:
                            continue
                        spans += count
                        logs += max(1, count // 10)
                        items += max(1, count // 10)
                        got = (
                            receiver.span_count,
                            _metric_total(receiver, "bench.items"),
                            _metric_total(receiver, "bench.item.duration"),
                        )
                        if got != (spans, items, items):
                            raise RuntimeError(
                                f"{name}: (spans, counter total, histogram count) at the "
                                f"receiver after an invocation of {count} spans ended: {got}, "
                                f"{(spans, items, items)} expected\n{emulator.output}"
                            )
                        received_logs = receiver.log_count()
                        if received_logs < logs and setup == "instrumentation":
                            late[-1] = True  # nothing flushed them: the batch processor will
                        elif received_logs != logs:
                            raise RuntimeError(
                                f"{name}: {received_logs} log records at the receiver after an "
                                f"invocation ended, {logs} expected\n{emulator.output}"
                            )
                    if exporting and not receiver.wait_for_logs(logs, timeout=10):
                        raise RuntimeError(
                            f"{name}: {receiver.log_count()} log records at the receiver 10 s "
                            f"after the last invocation, {logs} expected\n{emulator.output}"
                        )
                    out[name][count] = SignalLatency(latencies[1:], post[1:], sum(late[1:]))
                emulator.shutdown()
            receiver.reset()
    return out


def section(latency: dict[str, dict[int, SignalLatency]]) -> list[str]:
    """The three-signal latency table, after a note on how each setup is made and checked."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        instrumentation = f"opentelemetry-instrumentation-aws-lambda {version(INSTRUMENTATION)}"
    except PackageNotFoundError:
        instrumentation = f"{INSTRUMENTATION} (not installed here: its rows are not measured)"
    lines = [
        "Response latency with spans, logs and metrics on (functions/bench_signals_fn.py, the "
        "same emulator, runtime client and receiver; added = minus the no-telemetry median, "
        "the SDK's providers with no processor and no reader): per invocation of N spans, "
        "N / 10 log records (at least one) and as many counter adds and histogram records. "
        "Ours: LambdaSpanProcessor, LambdaLogRecordProcessor and LambdaMetricReader with our "
        f"OTLP exporters, async. The instrumentation's rows: {instrumentation} wrapping the "
        "handler (its span is the invocation's, the handler makes the other N - 1), with "
        "BatchSpanProcessor and BatchLogRecordProcessor (queues of 16,384, as above, and their "
        "default schedules), PeriodicExportingMetricReader (its default 60 s interval) and the "
        "official OTLP/HTTP exporters. After the handler it calls `force_flush` on the tracer "
        "provider, then on the meter provider, and on no logger provider: its log records are "
        "left to the batch processor's thread, which exports every second or at 512 records. "
        "In Lambda that thread is frozen after the response, so the records wait for a later "
        "invocation, or are lost if the environment is shut down first; the emulator freezes "
        "nothing, so here they arrive a little later. Late logs = measured invocations that "
        "ended before all their log records had been exported (each time, all arrived within "
        "10 s of the last invocation: checked). The row with logs flushed too also calls the "
        "logger provider's `force_flush` after the instrumentation's flushes, as the ADOT "
        "instrumentation does (aws-observability/aws-otel-python-instrumentation#441) and an "
        "open pull request proposes for this one (open-telemetry/opentelemetry-python-contrib"
        "#4832). Every exporting row was checked: all spans and metric points (the counter's "
        "and the histogram's totals) had reached the receiver when each invocation ended, and "
        "all log records except those counted late.",
        "",
        "| setup | spans | response latency | added | post-response | late logs |",
        "|---|---|---|---|---|---|",
    ]
    baseline = latency[BASELINE]
    for name, per_count in latency.items():
        for count, result in per_count.items():
            added = statistics.median(result.latencies) - statistics.median(
                baseline[count].latencies
            )
            late = "—" if name == BASELINE else f"{result.logs_late} of {len(result.latencies)}"
            lines.append(
                f"| {name} | {count:,} | {fmt(result.latencies, 'ms', 1e3)} | "
                f"{added * 1e3:+.1f} ms | {fmt(result.post_response, 'ms', 1e3)} | {late} |"
            )
    return lines


def run(rounds: Rounds, quick: bool) -> Answer:
    latency = measure(rounds.count, (1, 1000) if quick else (1, 10_000))
    for name, per_count in latency.items():
        for count, result in per_count.items():
            rounds.record(f"{name}, {count:,} spans", result.latencies)
    return Answer(sections=[section(latency)])


QUESTION = Question(
    name="signals_latency",
    measures="ms a caller waits with spans, logs and metrics on, ours and the instrumentation's",
    goals=(),
    rounds=Counts(quick=2, full=7),
    run=run,
)
