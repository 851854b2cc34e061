"""The extension coordinator end to end: AWS's runtime client (or our minimal runtime loop) runs a
real function in a subprocess against the local Lambda emulator, exporting through the real
OTLP exporter to a real receiver. (Gaps, SIGTERM variants, API outages and handler failures are
scenarios of the conformance suite, with their accounting.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_lambda_processor.testing import OTLPReceiver
from otel_lambda_processor.testing.emulator import (
    InvocationRecord,
    LambdaEmulator,
    awslambdaric_command,
    minimal_runtime_command,
)

FUNCTIONS = Path(__file__).resolve().parent.parent / "conformance" / "functions"
EXTENSION = "otel-lambda-processor"

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="awslambdaric ships Linux only")


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver(latency=0.1) as r:  # a collector 100 ms away makes the ordering visible
        yield r


@pytest.fixture
def emulator() -> Iterator[LambdaEmulator]:
    with LambdaEmulator(handler="traced.handler", timeout=3.0) as e:
        yield e


def launch(
    emulator: LambdaEmulator,
    receiver: OTLPReceiver,
    mode: str,
    *,
    runtime: str = "awslambdaric",
    **env: str,
) -> None:
    command = (awslambdaric_command if runtime == "awslambdaric" else minimal_runtime_command)(
        "traced.handler"
    )
    emulator.launch(
        command,
        cwd=str(FUNCTIONS),
        env={
            "TEST_OTLP_ENDPOINT": receiver.endpoint,
            "LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE": mode,
            "PYTHONPATH": os.pathsep.join(sys.path),
            **env,
        },
    )
    assert emulator.wait_ready(20), emulator.output


def arrivals(receiver: OTLPReceiver) -> list[float]:
    return [r.at for r in receiver.requests if r.status == 200]


def record(emulator: LambdaEmulator, request_id: str) -> InvocationRecord:
    (found,) = [r for r in emulator.invocations() if r.request_id == request_id]
    return found


def test_async_registers_for_invoke_and_exports_after_the_response_before_next(
    emulator: LambdaEmulator, receiver: OTLPReceiver
) -> None:
    launch(emulator, receiver, "async")
    assert emulator.extensions() == [(EXTENSION, ["INVOKE"])]
    result = emulator.invoke({"spans": 5})
    assert result.status == "ok", emulator.output
    assert emulator.wait_idle(10)
    (arrived,) = arrivals(receiver)
    inv = record(emulator, result.request_id)
    assert inv.response is not None and inv.ended is not None
    assert inv.response < arrived, "the export started only after the response was sent"
    assert inv.ended >= arrived + receiver.latency, "next was called only after the export"
    assert len(receiver.spans) == 5
    registration = [x for x in emulator.exchanges() if x.path.endswith("/register")]
    assert len(registration) == 1 and registration[0].status == 200


def test_every_invocation_is_exported_in_its_own_window(
    emulator: LambdaEmulator, receiver: OTLPReceiver
) -> None:
    receiver.latency = 0.0
    launch(emulator, receiver, "async")
    results = []
    for _ in range(10):
        results.append(emulator.invoke({"spans": 3}))
        assert emulator.wait_idle(10)
    assert [r.status for r in results] == ["ok"] * 10
    assert len(receiver.spans) == 30
    for result, arrived in zip(results, arrivals(receiver), strict=True):
        inv = record(emulator, result.request_id)
        assert inv.response is not None and inv.ended is not None
        assert inv.response <= arrived <= inv.ended
        handler_spans = [s for s in receiver.spans if s.name == "handler"]
        assert result.request_id in {s.attributes["request"] for s in handler_spans}


def test_done_before_invoke_still_flushes_that_invocation_at_once(
    emulator: LambdaEmulator, receiver: OTLPReceiver
) -> None:
    emulator.extension_event_delay = 0.3  # the INVOKE reaches the extension after the handler
    launch(emulator, receiver, "async")
    result = emulator.invoke({"spans": 2, "done": True})
    assert result.status == "ok"
    assert emulator.wait_idle(10)
    inv = record(emulator, result.request_id)
    assert not inv.timed_out and inv.ended is not None
    assert inv.ended - inv.started < 1.5, "flushed at the INVOKE, not at the deadline fallback"
    assert len(receiver.spans) == 2


def test_finalize_registers_no_events_and_exports_at_sigterm_then_dies_by_it(
    emulator: LambdaEmulator, receiver: OTLPReceiver
) -> None:
    launch(emulator, receiver, "finalize")
    assert emulator.extensions() == [(EXTENSION, [])]
    for _ in range(3):
        assert emulator.invoke({"spans": 4}).status == "ok"
    assert emulator.wait_idle(10)
    assert receiver.spans == []
    outcome = emulator.shutdown()
    assert outcome.sigterm_sent and not outcome.killed, emulator.output
    assert outcome.returncode == -signal.SIGTERM
    assert len(receiver.spans) == 12


def test_sync_registers_nothing_and_exports_before_the_response(
    emulator: LambdaEmulator, receiver: OTLPReceiver
) -> None:
    launch(emulator, receiver, "sync")
    assert emulator.extensions() == []
    result = emulator.invoke({"spans": 3})
    assert result.status == "ok"
    (arrived,) = arrivals(receiver)
    inv = record(emulator, result.request_id)
    assert inv.response is not None and arrived + receiver.latency <= inv.response
    assert len(receiver.spans) == 3


def test_without_runtime_hooks_handler_done_is_the_signal(
    emulator: LambdaEmulator, receiver: OTLPReceiver
) -> None:
    launch(emulator, receiver, "async", runtime="minimal")
    result = emulator.invoke({"spans": 3, "done": True})
    assert result.status == "ok"
    assert emulator.wait_idle(10)
    inv = record(emulator, result.request_id)
    assert inv.ended is not None and inv.ended - inv.started < 1.5
    assert len(receiver.spans) == 3


def test_managed_instances_register_nothing_and_still_export(
    emulator: LambdaEmulator, receiver: OTLPReceiver
) -> None:
    receiver.latency = 0.0
    launch(emulator, receiver, "async", AWS_LAMBDA_INITIALIZATION_TYPE="lambda-managed-instances")
    assert emulator.extensions() == []
    for _ in range(3):
        assert emulator.invoke({"spans": 2}).status == "ok"
    assert receiver.wait_for_spans(6, timeout=10)


def test_a_users_own_sigterm_handler_still_runs_after_the_flush(
    emulator: LambdaEmulator, receiver: OTLPReceiver, tmp_path: Path
) -> None:
    marker = tmp_path / "user-handler-ran"
    (tmp_path / "with_handler.py").write_text(
        textwrap.dedent(
            f"""
            import os, signal
            def _on_term(signum, frame):
                open({str(marker)!r}, "w").write("yes")
                os._exit(7)
            signal.signal(signal.SIGTERM, _on_term)
            from traced import handler
            """
        )
    )
    emulator.launch(
        awslambdaric_command("with_handler.handler"),
        cwd=str(tmp_path),
        env={
            "TEST_OTLP_ENDPOINT": receiver.endpoint,
            "LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE": "finalize",
            "PYTHONPATH": os.pathsep.join([str(FUNCTIONS), *sys.path]),
        },
    )
    assert emulator.wait_ready(20), emulator.output
    assert emulator.invoke({"spans": 2}).status == "ok"
    outcome = emulator.shutdown()
    assert outcome.returncode == 7 and marker.read_text() == "yes", emulator.output
    assert len(receiver.spans) == 2, "our flush came first"


def test_outside_lambda_one_info_line_and_export_at_handler_done(receiver: OTLPReceiver) -> None:
    script = textwrap.dedent(
        f"""
        import logging
        logging.basicConfig(level=logging.INFO)
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from otel_lambda_processor import LambdaSpanProcessor, handler_done
        provider = TracerProvider()
        provider.add_span_processor(
            LambdaSpanProcessor(OTLPSpanExporter(endpoint={receiver.endpoint!r}), mode="sync")
        )
        provider.get_tracer("t").start_span("local").end()
        handler_done()
        print("exported before exit")
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_LAMBDA")}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("AWS_LAMBDA_RUNTIME_API is not set") == 1
    assert receiver.span_names() == ["local"]
    assert time.monotonic() - started < 30, "daemon threads let the script exit"
