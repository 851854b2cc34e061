"""Interpreter exit: what was buffered is exported by the SDK's atexit shutdown, and exit ends.

Each case is a real script in a fresh interpreter (this one: CI runs the suite on Python 3.12,
which refuses to start threads at exit), exporting through the real OTLP/HTTP exporter to the
local receiver.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from otel_lambda_processor.testing import Fault, OTLPReceiver

SETUP = """
import atexit, sys
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from otel_lambda_processor import LambdaSpanProcessor
from otel_lambda_processor.otlp import OTLPSpanExporter

provider = TracerProvider()  # registers its shutdown at exit, as every user's does
processor = LambdaSpanProcessor(OTLPSpanExporter(endpoint=sys.argv[1], timeout=30))
provider.add_span_processor(processor)
trace.set_tracer_provider(provider)
tracer = trace.get_tracer("exit")
"""


def run(receiver: OTLPReceiver, body: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAMBDA_"))}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-c", SETUP + body, receiver.endpoint],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )


@pytest.mark.parametrize("mode", ["sync", "async", "finalize"])
def test_spans_buffered_at_a_normal_exit_are_exported(receiver: OTLPReceiver, mode: str) -> None:
    body = "for i in range(5):\n    tracer.start_span(f'span{i}').end()\n"
    result = run(receiver, body, LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE=mode)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "RuntimeError" not in result.stderr
    assert sorted(receiver.span_names()) == [f"span{i}" for i in range(5)]


def test_spans_ended_while_the_interpreter_exits_are_exported(receiver: OTLPReceiver) -> None:
    # Exit handlers run last-registered first: this one ends spans before the SDK's shutdown,
    # when no new thread can be started any more (Python 3.12+).
    body = (
        "def late():\n"
        "    for i in range(3):\n"
        "        tracer.start_span(f'late{i}').end()\n"
        "atexit.register(late)\n"
    )
    result = run(receiver, body, LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE="finalize")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(receiver.span_names()) == ["late0", "late1", "late2"]


def test_exit_ends_with_no_export_timeout_and_a_hanging_collector(receiver: OTLPReceiver) -> None:
    receiver.inject(Fault(hang=30.0), times=10)
    body = (
        "import otel_lambda_processor.pipeline as p\n"
        "p.SHUTDOWN_TIMEOUT_MILLIS = 1000  # the 30 s bound, shortened for the test\n"
        "for i in range(4):\n"
        "    tracer.start_span(f'span{i}').end()\n"
    )
    started = time.monotonic()
    try:
        result = run(receiver, body, LAMBDA_SPAN_PROCESSOR_EXPORT_TIMEOUT="0")
    finally:
        receiver.release()
    assert time.monotonic() - started < 20
    assert result.returncode == 0, result.stderr
    assert "dropped 4 spans" in result.stderr, result.stderr
