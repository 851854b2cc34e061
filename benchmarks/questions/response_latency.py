"""Owns the response-latency section: per span setup under the emulator, latency and post-response.
Must not change what functions/bench_fn.py sets up; every exporting invocation is checked.
"""

from __future__ import annotations

import os
import statistics
import sys

from harness import HERE, Answer, Counts, Goal, Question, Rounds, fmt, installed

BASELINE = "no telemetry (baseline)"
FLOOR = "deque, buffer only (floor)"
GOAL_SETUP = "async, response-sent hook"
GOAL = Goal(1, " ms over floor")
SETUPS = {
    # name: (BENCH_SETUP, mode, runtime, the handler calls handler_done())
    BASELINE: ("none", "async", "awslambdaric", False),
    FLOOR: ("deque", "async", "awslambdaric", False),
    GOAL_SETUP: ("lambda", "async", "awslambdaric", False),
    "async, handler_done() (runtime without hook)": ("lambda", "async", "minimal", True),
    "sync": ("lambda", "sync", "awslambdaric", False),
    "BatchSpanProcessor + force_flush": ("batch-flush", "async", "awslambdaric", False),
    # Measured only where lambda-otel-lite is installed (Python 3.12+): functions/bench_lite_fn.py.
    "lambda-otel-lite, async (its extension)": ("lite", "async", "awslambdaric", False),
    "lambda-otel-lite, sync": ("lite", "sync", "awslambdaric", False),
}
EXPORTING = ("lambda", "batch-flush", "lite")  # setups whose spans must reach the receiver

#: per setup and span count: caller latencies and post-response durations, in seconds
Latencies = dict[str, dict[int, tuple[list[float], list[float]]]]


def measure(invocations: int, span_counts: tuple[int, ...]) -> Latencies:
    """Per setup and span count: caller latencies and post-response durations, in seconds.

    Every invocation of an exporting setup must have delivered all its spans to the receiver
    by the time it ended: a setup that silently exports nothing (or late) stops the run.
    """
    from otel_lambda_processor.testing import OTLPReceiver
    from otel_lambda_processor.testing.emulator import (
        LambdaEmulator,
        awslambdaric_command,
        minimal_runtime_command,
    )

    lite = installed("lambda_otel_lite")
    out: Latencies = {}
    with OTLPReceiver() as receiver:
        for name, (setup, mode, runtime, call_done) in SETUPS.items():
            if setup == "lite" and not lite:
                continue
            command = awslambdaric_command if runtime == "awslambdaric" else minimal_runtime_command
            handler = "bench_lite_fn.handler" if setup == "lite" else "bench_fn.handler"
            expected = 0
            with LambdaEmulator(handler=handler, timeout=30) as emulator:
                emulator.launch(
                    command(handler),
                    cwd=str(HERE / "functions"),
                    env={
                        "BENCH_SETUP": setup,
                        "BENCH_CALL_DONE": "1" if call_done else "0",
                        "BENCH_OTLP_ENDPOINT": receiver.endpoint,
                        "LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE": mode,
                        "LAMBDA_SPAN_PROCESSOR_QUEUE_SIZE": "16384",
                        "PYTHONPATH": os.pathsep.join(sys.path),
                    },
                )
                if not emulator.wait_ready(30):
                    raise RuntimeError(f"{name}: the function did not start\n{emulator.output}")
                out[name] = {}
                for count in span_counts:
                    latencies, post = [], []
                    for _ in range(invocations + 1):  # the first is a warm-up
                        result = emulator.invoke({"spans": count}, timeout=60)
                        assert result.status == "ok", emulator.output
                        emulator.wait_idle(60)
                        latencies.append(result.latency)
                        record = [
                            r for r in emulator.invocations() if r.request_id == result.request_id
                        ]
                        post.append(record[0].post_response or 0.0)
                        expected += count if setup in EXPORTING else 0
                        received = receiver.span_count
                        if received != expected:
                            raise RuntimeError(
                                f"{name}: {received} spans at the receiver after an invocation "
                                f"of {count} spans ended, {expected} expected\n{emulator.output}"
                            )
                    out[name][count] = (latencies[1:], post[1:])
                emulator.shutdown()
            receiver.reset()
    return out


HEADING = (
    "Response latency under the local Lambda emulator (AWS's runtime client, real OTLP "
    "exporter to the local receiver): added = the setup's median minus the no-telemetry "
    "median for the same span count; over floor = minus the median of the deque floor, a "
    "processor that only keeps the spans and drops them when the next invocation starts "
    "(what keeping spans alive costs a handler, mostly garbage collection); post-response "
    "= how long the invocation stayed open after the response (the export, billed but not "
    "waited for)."
)

LITE_NOTE = (
    "rows (functions/bench_lite_fn.py): "
    "set up as its README shows, `init_telemetry()` at import and the handler wrapped by "
    "`create_traced_handler` (its `complete()` is the handler-done signal), with its own "
    "LambdaSpanProcessor around the same OTLP/HTTP exporter in place of its default "
    "stdout exporter. It reads the same `LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE` and "
    "`LAMBDA_SPAN_PROCESSOR_QUEUE_SIZE` as ours (its default mode is `sync`, ours "
    "`async`). Sync: `complete()` flushes before the response. Async: its internal "
    "extension registers for INVOKE at import and exports when `complete()` fires, "
    "which is before the runtime posts the response, so its export thread can run "
    "while the response is still being sent; it sends the whole queue in one request. "
    "Its extension gives up on `/event/next` after 2 s (a fixed `http.client` timeout) "
    "and calls again: after more than 2 s between invocations the next INVOKE goes to "
    "the abandoned call and is lost. Its Node.js port removed that timeout in 0.16.1. "
    "Invocations here follow each other at once. "
    "Every exporting row was checked: each invocation's spans had all reached the "
    "receiver when the invocation ended."
)


def section(latency: Latencies) -> list[str]:
    """The latency table, after how to read it."""
    lines = [
        HEADING,
        "",
        "| setup | spans | response latency | added | over floor | post-response | goal |",
        "|---|---|---|---|---|---|---|",
    ]
    baseline, floor = latency[BASELINE], latency[FLOOR]
    for name, per_count in latency.items():
        for count, (latencies, post) in per_count.items():
            added = statistics.median(latencies) - statistics.median(baseline[count][0])
            over = statistics.median(latencies) - statistics.median(floor[count][0])
            goal = str(GOAL) if name == GOAL_SETUP else "—"
            lines.append(
                f"| {name} | {count:,} | {fmt(latencies, 'ms', 1e3)} | {added * 1e3:+.1f} ms | "
                f"{over * 1e3:+.1f} ms | {fmt(post, 'ms', 1e3)} | {goal} |"
            )
    return lines


def lite_note() -> list[str]:
    if not installed("lambda_otel_lite"):
        return ["lambda-otel-lite is not installed here (it needs Python 3.12+): not measured."]
    from importlib.metadata import version

    return [f"lambda-otel-lite {version('lambda-otel-lite')} {LITE_NOTE}"]


def run(rounds: Rounds, quick: bool) -> Answer:
    latency = measure(rounds.count, (1, 1000) if quick else (1, 10_000))
    for name, per_count in latency.items():
        for count, (latencies, _) in per_count.items():
            rounds.record(f"{name}, {count:,} spans", latencies)
    return Answer(sections=[section(latency), lite_note()])


QUESTION = Question(
    name="response_latency",
    measures="ms a caller waits per span setup under the emulator, and the export after it",
    goals=(GOAL,),
    rounds=Counts(quick=2, full=7),
    run=run,
)
