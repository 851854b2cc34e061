"""The emulator explains failures, and a normal shutdown is quiet.

Real parts only: AWS's runtime client (or our minimal runtime loop) runs real, broken handlers
written to a temporary directory against the emulator over real HTTP. A runtime that fails its
init is reported at once by ``wait_ready`` and ``invoke`` as a ``RuntimeInitError`` with the
runtime's own error type and the tail of its output; one that dies during an invocation answers
it with ``Runtime.ExitError``. Then the extension coordinator: a connection closed while the
environment shuts down is a debug line, a real Extensions API failure still a warning.
"""

from __future__ import annotations

import os
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from otel_lambda_processor.testing import OTLPReceiver
from otel_lambda_processor.testing.emulator import (
    LambdaEmulator,
    RuntimeInitError,
    awslambdaric_command,
    minimal_runtime_command,
)

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="awslambdaric ships Linux only")

#: A failure is reported this fast (it used to be a timeout of several seconds).
PROMPT = 3.0

FUNCTIONS = {
    "good.py": """
        import os

        def handler(event, context):
            if event.get("exit"):
                os._exit(3)  # the runtime process dies in the middle of the invocation
            return {"pid": os.getpid()}
        """,
    "imports_missing.py": """
        import a_module_that_is_not_installed

        def handler(event, context):
            return {}
        """,
    "raises_at_import.py": """
        raise KeyError("TABLE_NAME")
        """,
    "syntax_error.py": """
        def handler(event, context)
            return {}
        """,
    "slow_init.py": """
        import time

        time.sleep(1.0)

        def handler(event, context):
            return {}
        """,
    "traced.py": """
        import logging
        import os

        from opentelemetry.sdk.trace import TracerProvider

        from otel_lambda_processor import LambdaSpanProcessor
        from otel_lambda_processor.otlp import OTLPSpanExporter

        # Show the coordinator's debug lines too: the test reads how it judged a closed call.
        logging.getLogger("otel_lambda_processor.coordinator").setLevel(logging.DEBUG)
        provider = TracerProvider()
        exporter = OTLPSpanExporter(endpoint=os.environ["TEST_OTLP_ENDPOINT"])
        provider.add_span_processor(LambdaSpanProcessor(exporter))
        tracer = provider.get_tracer("traced")

        def handler(event, context):
            with tracer.start_as_current_span("handler"):
                return {}
        """,
}


@pytest.fixture(scope="module")
def functions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("functions")
    for name, source in FUNCTIONS.items():
        (root / name).write_text(textwrap.dedent(source))
    return root


@pytest.fixture
def start(functions: Path) -> Iterator[Callable[..., LambdaEmulator]]:
    """Launch ``handler`` from the functions directory (or ``cwd``) under ``command``."""
    emulators: list[LambdaEmulator] = []

    def launch(
        handler: str,
        *,
        command: list[str] | None = None,
        cwd: Path | None = None,
        **env: str,
    ) -> LambdaEmulator:
        emulator = LambdaEmulator(handler=handler, timeout=3.0).start()
        emulators.append(emulator)
        emulator.launch(
            command or awslambdaric_command(handler),
            cwd=str(cwd or functions),
            env={"PYTHONPATH": os.pathsep.join(sys.path), **env},
        )
        return emulator

    yield launch
    for emulator in emulators:
        emulator.stop()


# -- init failures -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("handler", "error_type", "message"),
    [
        ("good.no_such_function", "Runtime.HandlerNotFound", "Handler 'no_such_function' missing"),
        ("imports_missing.handler", "Runtime.ImportModuleError", "a_module_that_is_not_installed"),
        ("syntax_error.handler", "Runtime.UserCodeSyntaxError", "Syntax error in module"),
        ("raises_at_import.handler", "KeyError", "TABLE_NAME"),
    ],
)
def test_wait_ready_raises_at_once_with_the_runtimes_error_and_output(
    start: Callable[..., LambdaEmulator], handler: str, error_type: str, message: str
) -> None:
    emulator = start(handler)
    started = time.monotonic()
    with pytest.raises(RuntimeInitError) as caught:
        emulator.wait_ready(30)
    assert time.monotonic() - started < PROMPT
    error = caught.value
    assert error.error_type == error_type
    assert message in error.message
    assert error.returncode == 1
    assert error.payload is not None and error.payload["errorType"] == error_type
    assert f"[ERROR] {error_type}" in error.output_tail  # awslambdaric's own line
    text = str(error)
    assert text.startswith(f"the function's runtime failed its init: {error_type}: ")
    assert f"  | [ERROR] {error_type}" in text and "exit status 1" in text


def test_invoke_raises_it_too_without_waiting_for_ready(
    start: Callable[..., LambdaEmulator],
) -> None:
    emulator = start("imports_missing.handler")
    started = time.monotonic()
    with pytest.raises(RuntimeInitError, match=r"Runtime\.ImportModuleError") as first:
        emulator.invoke({"hello": "world"})  # its default wait would be 8 s
    assert time.monotonic() - started < PROMPT
    with pytest.raises(RuntimeInitError) as again:  # and every later call says the same
        emulator.invoke({})
    assert again.value.message == first.value.message
    assert again.value is not first.value
    assert emulator.invocations() == []


def test_a_missing_awslambdaric_is_named_with_what_to_do(
    start: Callable[..., LambdaEmulator],
) -> None:
    # -S -E: neither site-packages nor PYTHONPATH, so this interpreter has no awslambdaric.
    command = [sys.executable, "-S", "-E", "-m", "awslambdaric", "good.handler"]
    emulator = start("good.handler", command=command)
    started = time.monotonic()
    with pytest.raises(RuntimeInitError) as caught:
        emulator.wait_ready(30)
    assert time.monotonic() - started < PROMPT
    error = caught.value
    assert error.error_type == "Runtime.ExitError"
    assert error.message.startswith("Runtime exited with error: exit status 1")
    assert error.payload is None
    assert "No module named awslambdaric" in error.output_tail
    assert error.hint is not None and "pip install awslambdaric" in error.hint
    assert "minimal_runtime_command()" in str(error)


def test_a_wrong_cwd_gets_a_hint(start: Callable[..., LambdaEmulator], tmp_path: Path) -> None:
    emulator = start("good.handler", cwd=tmp_path)  # good.py is not there
    with pytest.raises(RuntimeInitError) as caught:
        emulator.wait_ready(30)
    assert caught.value.error_type == "Runtime.ImportModuleError"
    assert caught.value.hint is not None and str(tmp_path) in caught.value.hint


def test_our_minimal_runtime_reports_the_same_way(start: Callable[..., LambdaEmulator]) -> None:
    command = minimal_runtime_command("raises_at_import.handler")
    emulator = start("raises_at_import.handler", command=command)
    with pytest.raises(RuntimeInitError) as caught:
        emulator.wait_ready(30)
    assert caught.value.error_type == "KeyError"  # as awslambdaric names it
    assert "TABLE_NAME" in caught.value.message


def test_wait_ready_still_returns_false_while_init_is_just_slow(
    start: Callable[..., LambdaEmulator],
) -> None:
    emulator = start("slow_init.handler")
    assert emulator.wait_ready(0.2) is False
    assert emulator.wait_ready(30) is True
    assert emulator.invoke({}).status == "ok"


# -- a runtime that dies during an invocation ------------------------------------------------------
@pytest.mark.parametrize("runtime", ["awslambdaric", "minimal"])
def test_a_runtime_that_exits_mid_invocation_answers_exit_error_and_inits_again(
    start: Callable[..., LambdaEmulator], runtime: str
) -> None:
    command = (awslambdaric_command if runtime == "awslambdaric" else minimal_runtime_command)(
        "good.handler"
    )
    emulator = start("good.handler", command=command)
    assert emulator.wait_ready(30)
    first = emulator.invoke({})
    assert first.status == "ok"
    died = emulator.invoke({"exit": True})
    assert died.latency < PROMPT
    assert (died.status, died.error_type) == ("error", "Runtime.ExitError")
    assert died.payload == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {died.request_id} Error: Runtime exited with error: "
        "exit status 3",
    }
    assert emulator.resets == 1
    again = emulator.invoke({})  # a new init, as after a timeout
    assert again.status == "ok" and again.payload["pid"] != first.payload["pid"]


# -- quiet when nothing is wrong -------------------------------------------------------------------
@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver(latency=0.2) as r:  # the SIGTERM flush takes a while: the process lives on
        yield r


@pytest.mark.parametrize("mode", ["async", "finalize"])
@pytest.mark.parametrize("hold", [True, False], ids=["next-held-through-grace", "next-closed"])
def test_a_shutdown_is_quiet_even_when_the_held_next_is_closed_at_sigterm(
    start: Callable[..., LambdaEmulator], receiver: OTLPReceiver, mode: str, hold: bool
) -> None:
    emulator = start(
        "traced.handler",
        TEST_OTLP_ENDPOINT=receiver.endpoint,
        LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE=mode,
    )
    assert emulator.wait_ready(30)
    assert emulator.invoke({}).status == "ok"
    assert emulator.wait_idle(10)
    # Lambda may close the extension's held /event/next as it sends SIGTERM, before the
    # process has flushed and gone: the call ends during shutdown, which is no failure.
    emulator.hold_next_through_grace = hold
    result = emulator.shutdown()
    assert result.sigterm_sent and not result.killed
    assert emulator.wait_output()
    output = emulator.output
    assert "WARNING" not in output and "ERROR" not in output, output
    if not hold:
        assert "the Extensions API call ended during shutdown" in output, output
    assert receiver.wait_for_spans(1, timeout=5)


def test_a_real_extensions_api_failure_is_still_a_warning(
    start: Callable[..., LambdaEmulator], receiver: OTLPReceiver
) -> None:
    emulator = start(
        "traced.handler",
        TEST_OTLP_ENDPOINT=receiver.endpoint,
        LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE="async",
    )
    assert emulator.wait_ready(30)
    emulator.extension_api_status = 500
    assert emulator.invoke({}).status == "ok"  # the extension's next /event/next gets a 500
    end = time.monotonic() + 5
    while "the Extensions API failed" not in emulator.output and time.monotonic() < end:
        time.sleep(0.05)
    (line,) = [x for x in emulator.output.splitlines() if "the Extensions API failed" in x]
    assert line.startswith("[WARNING]") and "500" in line
