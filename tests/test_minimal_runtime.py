"""The package's minimal runtime loop under the emulator: by default a runtime with no hooks (the
extension hears no "response sent"); with ``--hooks`` it reports "handler done" and "response
sent" as AWS's runtime client does, so that ``async`` exports after the response and ``sync``
before it, whenever the handler itself signals."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from otel_lambda_processor import runtime_hooks
from otel_lambda_processor.config import FALLBACK_FLUSH_LEAD_MILLIS, MODE_ENV
from otel_lambda_processor.testing import (
    InvocationRecord,
    LambdaEmulator,
    OTLPReceiver,
    minimal_runtime_command,
)
from otel_lambda_processor.testing.runtime import HOOKED_MODULE, hookable_client, runtime_command

# The handler signals "handler done" before it returns when the event asks, as traced_handler
# always does: before the runtime has posted the response.
FUNCTION = """
import os

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider

from otel_lambda_processor import LambdaSpanProcessor, handler_done

provider = TracerProvider()
exporter = OTLPSpanExporter(endpoint=os.environ["TEST_OTLP_ENDPOINT"])
provider.add_span_processor(LambdaSpanProcessor(exporter))
tracer = provider.get_tracer("minimal-runtime-test")


def handler(event, context):
    with tracer.start_as_current_span("handler"):
        pass
    if event.get("done"):
        handler_done(context.aws_request_id)
    if event.get("raise"):
        raise RuntimeError("the handler failed")
    return {"request_id": context.aws_request_id}
"""
LATENCY = 0.1  # the collector's: long enough to see what waits for it


@pytest.fixture
def function(tmp_path: Path) -> Path:
    (tmp_path / "function.py").write_text(FUNCTION)
    return tmp_path


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver(latency=LATENCY) as r:
        yield r


Start = Callable[..., LambdaEmulator]


@pytest.fixture
def start(function: Path, receiver: OTLPReceiver) -> Iterator[Start]:
    """Start the function in ``mode`` under the minimal loop, with or without hooks."""
    started: list[LambdaEmulator] = []

    def launch(mode: str, *, hooks: bool, timeout: float = 5.0) -> LambdaEmulator:
        emulator = LambdaEmulator(handler="function.handler", timeout=timeout).start()
        started.append(emulator)
        command = (
            runtime_command("function.handler", hooks=True)
            if hooks
            else minimal_runtime_command("function.handler")
        )
        emulator.launch(
            command,
            cwd=str(function),
            env={
                "TEST_OTLP_ENDPOINT": receiver.endpoint,
                MODE_ENV: mode,
                "PYTHONPATH": os.pathsep.join(sys.path),
            },
        )
        assert emulator.wait_ready(20), emulator.output
        return emulator

    yield launch
    for emulator in started:
        emulator.stop()


def arrivals(receiver: OTLPReceiver) -> list[float]:
    return [r.at for r in receiver.requests if r.status == 200]


def record(emulator: LambdaEmulator, request_id: str) -> InvocationRecord:
    (found,) = [r for r in emulator.invocations() if r.request_id == request_id]
    return found


@pytest.mark.parametrize("fails", [False, True], ids=["response", "error"])
def test_with_hooks_async_exports_after_the_response_although_the_handler_said_done(
    start: Start, receiver: OTLPReceiver, fails: bool
) -> None:
    emulator = start("async", hooks=True)
    for n in range(3):
        result = emulator.invoke({"done": True, "raise": fails})
        assert result.status == ("error" if fails else "ok"), emulator.output
        assert emulator.wait_idle(10)
        inv = record(emulator, result.request_id)
        arrived = arrivals(receiver)[n]
        assert inv.response is not None and inv.ended is not None
        assert inv.response < arrived, "the export started before the response was sent"
        assert inv.ended >= arrived + LATENCY, "next was called before the export ended"
    assert len(receiver.spans) == 3


def test_with_hooks_sync_exports_before_the_response_although_the_handler_said_nothing(
    start: Start, receiver: OTLPReceiver
) -> None:
    emulator = start("sync", hooks=True)
    result = emulator.invoke({})
    assert result.status == "ok", emulator.output
    (arrived,) = arrivals(receiver)
    inv = record(emulator, result.request_id)
    assert inv.response is not None and arrived + LATENCY <= inv.response
    assert len(receiver.spans) == 1


@pytest.mark.parametrize("hooks", [False, True], ids=["no hooks", "hooks"])
def test_only_with_hooks_does_the_response_end_an_invocation_whose_handler_said_nothing(
    start: Start, receiver: OTLPReceiver, hooks: bool
) -> None:
    """Without hooks and without handler_done, only the deadline fallback exports (300 ms before
    the deadline); with them, "response sent" does at once."""
    timeout = 1.5
    emulator = start("async", hooks=hooks, timeout=timeout)
    result = emulator.invoke({})
    assert result.status == "ok", emulator.output
    assert emulator.wait_idle(10)
    inv = record(emulator, result.request_id)
    assert inv.response is not None and inv.ended is not None and not inv.timed_out
    assert len(receiver.spans) == 1
    deadline_flush = timeout - FALLBACK_FLUSH_LEAD_MILLIS / 1000
    if hooks:
        assert inv.ended - inv.started < deadline_flush / 2
    else:
        assert inv.ended - inv.started >= deadline_flush - 0.1


def test_the_hooks_find_the_client_where_they_look_for_awslambdarics(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert HOOKED_MODULE == runtime_hooks.MODULE
    monkeypatch.setitem(sys.modules, HOOKED_MODULE, None)  # restored (or removed) afterwards
    monkeypatch.delitem(sys.modules, HOOKED_MODULE)
    client = hookable_client()
    assert sys.modules[HOOKED_MODULE].LambdaRuntimeClient is client

    class Listener:
        def runtime_invocation(self, *args: object) -> None: ...
        def runtime_result_ready(self, request_id: str) -> None: ...
        def runtime_response_sent(self, request_id: str) -> None: ...

    assert runtime_hooks.install(Listener())
    assert getattr(vars(client)["post_invocation_result"], "__otel_lambda_processor_hook__", False)


def test_a_wrong_command_line_gets_the_usage() -> None:
    for args in ([], ["--hooks"], ["--other", "function.handler"]):
        result = subprocess.run(
            [sys.executable, "-m", "otel_lambda_processor.testing.runtime", *args],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 2 and "usage:" in result.stdout, (args, result)
