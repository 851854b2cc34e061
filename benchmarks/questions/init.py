"""Owns the cold-start question: ms each setup adds to init over the SDK alone; the first export.
Must not run a setup in this process: fresh interpreters, interleaved, the first round dropped.
"""

from __future__ import annotations

import contextlib
import functools
import os
import statistics
import subprocess
import sys

from fixtures import ReceiverProcess
from harness import Answer, Counts, Goal, Question, Rounds, Row, fmt, minus

GOAL = Goal(0.25)

#: Our setup inside Lambda: the first processor registers with the (local) Extensions API,
#: which imports urllib3 during init.
LAMBDA_INIT = "+ LambdaSpanProcessor(our OTLPSpanExporter), in Lambda: registers (emulator)"
OURS_INIT = "+ LambdaSpanProcessor(our OTLPSpanExporter)"
OFFICIAL_INIT = "+ BatchSpanProcessor(official OTLPSpanExporter)"
SDK_ALONE = "SDK alone"

SETUPS = {
    # name: what is added to "TracerProvider(), set global" before the one span
    SDK_ALONE: "",
    OURS_INIT: (
        "from otel_lambda_processor import LambdaSpanProcessor\n"
        "from otel_lambda_processor.otlp import OTLPSpanExporter\n"
        "processor = LambdaSpanProcessor(OTLPSpanExporter(endpoint=ENDPOINT))\n"
        "provider.add_span_processor(processor)\n"
    ),
    OFFICIAL_INIT: (
        "from opentelemetry.sdk.trace.export import BatchSpanProcessor\n"
        "from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter\n"
        "processor = BatchSpanProcessor(OTLPSpanExporter(endpoint=ENDPOINT))\n"
        "provider.add_span_processor(processor)\n"
    ),
    LAMBDA_INIT: (
        "from otel_lambda_processor import LambdaSpanProcessor\n"
        "from otel_lambda_processor.otlp import OTLPSpanExporter\n"
        "processor = LambdaSpanProcessor(OTLPSpanExporter(endpoint=ENDPOINT))\n"
        "provider.add_span_processor(processor)\n"
    ),
    "+ LambdaSpanProcessor(exporter that imports nothing)": (
        "from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult\n"
        "from otel_lambda_processor import LambdaSpanProcessor\n"
        "class Null(SpanExporter):\n"
        "    def export(self, spans): return SpanExportResult.SUCCESS\n"
        "processor = LambdaSpanProcessor(Null())\n"
        "provider.add_span_processor(processor)\n"
    ),
}

SCRIPT = """
import sys, time
ENDPOINT = sys.argv[1]
started = time.perf_counter()
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
provider = TracerProvider(shutdown_on_exit=False)
trace.set_tracer_provider(provider)
{setup}
trace.get_tracer("init").start_span("first").end()
init = time.perf_counter() - started
flushed = time.perf_counter()
ok = provider.force_flush(30000)
print(init, time.perf_counter() - flushed, ok)
"""


def _cold_start(name: str, env: dict[str, str], endpoint: str) -> tuple[float, float]:
    """One fresh interpreter: seconds of init, seconds of the first export after it."""
    from otel_lambda_processor.testing.emulator import LambdaEmulator

    with contextlib.ExitStack() as stack:
        if name == LAMBDA_INIT:  # a fresh environment: registration is open
            emulator = stack.enter_context(LambdaEmulator())
            env = {**env, "AWS_LAMBDA_RUNTIME_API": emulator.runtime_api}
        out = subprocess.run(
            [sys.executable, "-c", SCRIPT.format(setup=SETUPS[name]), endpoint],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        ).stdout.split()
    assert out[2] == "True", f"{name}: the first export failed"
    return float(out[0]), float(out[1])


def run(rounds: Rounds, quick: bool) -> Answer:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OTEL_", "LAMBDA_"))}
    env["LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE"] = "finalize"  # the flush below is the export
    exports: dict[str, list[float]] = {name: [] for name in SETUPS}

    def setup(name: str, endpoint: str) -> float:
        init, export = _cold_start(name, env, endpoint)
        exports[name].append(export)
        return init

    with ReceiverProcess() as receiver:
        # The first round writes bytecode caches: run, not counted.
        init = rounds.interleave(
            {name: functools.partial(setup, name, receiver.endpoint) for name in SETUPS},
            warmups=1,
        )
    first_export = {name: samples[1:] for name, samples in exports.items()}
    sdk = init[SDK_ALONE]
    official = statistics.median(minus(init[OFFICIAL_INIT], sdk))
    rows = []
    for name in SETUPS:
        if name == SDK_ALONE:
            continue
        added = minus(init[name], sdk)
        share = statistics.median(added) / official
        rows.append(
            Row(
                f"init added over the SDK alone: {name}",
                fmt(added, "ms", 1e3),
                f"official setup adds {official * 1e3:.1f} ms (SDK alone {fmt(sdk, 'ms', 1e3)})",
                f"{share:.2f}×",
                GOAL if name == OURS_INIT else None,
                share,
            )
        )
    for name in (OURS_INIT, OFFICIAL_INIT):
        rows.append(
            Row(
                f"first export after a cold start (1 span): {name}",
                fmt(first_export[name], "ms", 1e3),
            )
        )
    return Answer(rows)


QUESTION = Question(
    name="init",
    measures="ms each setup adds to a cold start over the SDK alone; the first export after it",
    goals=(GOAL,),
    rounds=Counts(quick=2, full=11),
    run=run,
)
