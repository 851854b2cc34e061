"""A local emulator of the Lambda Runtime API and Extensions API, over real HTTP on 127.0.0.1.

Owns the public face, :class:`LambdaEmulator`, which wires the parts together; it must not
decide what a request means (:mod:`.model`), parse HTTP (:mod:`.front`) or run processes
(:mod:`.supervisor`) itself.

It follows the documented behaviour (see the README): registration closes when the runtime first
asks for an invocation; init waits for every registered extension's first ``/event/next``; the
caller gets the response as soon as the runtime posts it (unlike AWS's runtime interface
emulator, which waits for the extensions); the invocation ends when the runtime and every
extension subscribed to INVOKE have called next again; the function timeout covers that whole
phase and resets the environment; shutdown sends SIGTERM (only if an extension registered),
waits the grace period, then SIGKILL. Every HTTP exchange is recorded with timestamps.

A runtime that fails its init (it reports ``/runtime/init/error``, or its process ends before
it takes an invocation: ``awslambdaric`` missing, a wrong handler, an import error) is reported
at once by :meth:`LambdaEmulator.wait_ready` and :meth:`LambdaEmulator.invoke` as a
:class:`RuntimeInitError` carrying the runtime's own error type and the tail of its output. A
runtime process that ends during an invocation answers it with ``Runtime.ExitError``, as Lambda
does, and the environment is reset (a new init), as after a timeout.

How it is built: :class:`~.model.ExecutionEnvironment` is the environment as a plain state
machine (no sockets, threads or clock), with :mod:`.policy` for what differs on Managed
Instances; :class:`~.front.Front` turns HTTP requests into its calls and writes its answers;
:class:`~.supervisor.Supervisor` runs the runtime process and the timeout watchdog. One lock
(a condition) guards the model; every change wakes whoever waits on it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from .front import EXTENSION_PREFIX, RUNTIME_PREFIX, Front
from .invocations import MAX_RESPONSE_BYTES
from .model import ExecutionEnvironment, Run
from .policy import policy_for
from .records import Exchange, InvocationRecord, InvokeResult, RuntimeInitError, ShutdownResult
from .registry import MAX_EXTENSIONS
from .supervisor import GRACE_INTERNAL, OUTPUT_TAIL_LINES, Supervisor

__all__ = [
    "EXTENSION_PREFIX",
    "GRACE_INTERNAL",
    "MAX_EXTENSIONS",
    "MAX_RESPONSE_BYTES",
    "OUTPUT_TAIL_LINES",
    "RUNTIME_PREFIX",
    "Exchange",
    "InvocationRecord",
    "InvokeResult",
    "LambdaEmulator",
    "RuntimeInitError",
    "ShutdownResult",
    "awslambdaric_command",
    "minimal_runtime_command",
]


class LambdaEmulator:
    """Runtime API + Extensions API on ``127.0.0.1`` (free port), and the runtime process.

    ``launch(command)`` starts the runtime (e.g. ``[sys.executable, "-m", "awslambdaric",
    "app.handler"]``) with the Lambda environment; ``invoke(event)`` runs one invocation;
    ``shutdown()`` ends the environment as Lambda does. Use it as a context manager.
    A runtime that fails its init makes ``wait_ready()`` and ``invoke()`` raise
    :class:`RuntimeInitError` at once, with the runtime's error type and its last output.
    """

    def __init__(
        self,
        *,
        handler: str = "app.handler",
        function_name: str = "emulated-function",
        timeout: float = 3.0,
        memory_mb: int = 128,
        region: str = "us-east-1",
        account_id: str = "123456789012",
        max_concurrency: int = 1,
    ) -> None:
        self.handler = handler
        self.function_name = function_name
        self.timeout = timeout
        self.memory_mb = memory_mb
        self.region = region
        self.account_id = account_id
        self.arn = f"arn:aws:lambda:{region}:{account_id}:function:{function_name}"
        #: Refuse registration with 403 ``Extension.RegistrationClosed`` (as after a lost race).
        self.refuse_registration = False
        #: Answer every ``/event/next`` after registration with this status (e.g. 500); the
        #: events queued for the extension are lost, as in an outage.
        self.extension_api_status: int | None = None
        #: Hold each event this long before handing it to an extension (a late INVOKE).
        self.extension_event_delay = 0.0
        #: At shutdown, keep the held ``/next`` requests open until the process is gone (True),
        #: or close them as soon as SIGTERM is sent (False: a harsher environment, to check that
        #: a function stays quiet when its connections close during shutdown).
        self.hold_next_through_grace = True
        self._cond = threading.Condition()
        self._max_concurrency = max_concurrency
        # The model reads the function's identity and the fault settings above from here.
        self._model = ExecutionEnvironment(policy_for(max_concurrency), self)
        self._front = Front(self._model, self._cond)
        self._supervisor = Supervisor(self._model, self._cond, self.lambda_environment)

    @property
    def max_concurrency(self) -> int:
        """Above 1: Lambda Managed Instances. Several invocations run at once, nothing freezes,
        an invocation ends when its response is posted, and extensions get no INVOKE."""
        return self._max_concurrency

    @max_concurrency.setter
    def max_concurrency(self, value: int) -> None:
        with self._cond:
            self._max_concurrency = value
            self._model.policy = policy_for(value)

    @property
    def resets(self) -> int:
        """How many times the environment was thrown away (a timeout, a runtime that died)."""
        return self._model.resets

    @resets.setter
    def resets(self, value: int) -> None:
        with self._cond:
            self._model.resets = value

    # -- life ---------------------------------------------------------------------------------
    def start(self) -> LambdaEmulator:
        self._front.start()
        self._supervisor.start()
        return self

    def __enter__(self) -> LambdaEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def runtime_api(self) -> str:
        """The ``AWS_LAMBDA_RUNTIME_API`` value: ``127.0.0.1:<port>``."""
        return self._front.address

    def lambda_environment(self) -> dict[str, str]:
        """The environment variables Lambda gives the runtime process."""
        return {
            "AWS_LAMBDA_RUNTIME_API": self.runtime_api,
            "_HANDLER": self.handler,
            "AWS_LAMBDA_FUNCTION_NAME": self.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(self.timeout)),
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"2026/01/01/[$LATEST]{uuid.uuid4().hex}",
            **self._model.policy.environment(),
            "LAMBDA_TASK_ROOT": self._supervisor.cwd or os.getcwd(),
            "TZ": ":UTC",
        }

    def launch(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> None:
        """Start the runtime process (again after a reset) with the Lambda environment."""
        self._supervisor.launch(command, env, cwd)

    def wait_output(self, timeout: float = 5.0) -> bool:
        """After the runtime process ended: wait until all it wrote has been read."""
        return self._supervisor.wait_output(timeout)

    @property
    def output(self) -> str:
        """Everything the runtime process wrote to stdout and stderr so far."""
        return self._supervisor.output

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        return self._supervisor.process

    def stop(self) -> None:
        """Kill the runtime process if it still runs and stop serving."""
        with self._cond:
            self._model.stop()
            run = self._model.run
        self._supervisor.kill(run)  # first: the process never sees its connections closed
        with self._cond:
            self._model.release_held()
            self._cond.notify_all()
        self._front.stop()

    # -- what tests ask -----------------------------------------------------------------------
    def wait_ready(self, timeout: float = 10.0) -> bool:
        """Wait until init is over: the runtime asked for work, every extension called next.

        Returns ``True`` then, and ``False`` if ``timeout`` seconds pass first (the runtime is
        still starting). Raises :class:`RuntimeInitError` as soon as the runtime reports an
        init error or its process ends before init is over, with the runtime's error type and
        the tail of its output, so that ``assert emulator.wait_ready()`` says what went wrong.
        """
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                failed = self._model.init_failed()
                if failed is not None or self._model.init_complete():
                    break
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        if failed is not None:
            raise self._supervisor.init_failure(failed)
        return True

    def invoke(
        self, event: Any = None, *, timeout: float | None = None, trace_header: str | None = None
    ) -> InvokeResult:
        """Invoke the function and return as soon as the runtime posts the response.

        ``timeout`` bounds the wait of the caller (default: the function timeout plus 5 s);
        the function timeout itself is the emulator's ``timeout``. A handler that raises gives
        ``status="error"``; a runtime process that ends during the invocation gives
        ``status="error"`` with ``error_type="Runtime.ExitError"`` (and a new init follows, as
        in Lambda).

        Raises :class:`RuntimeInitError` at once if the runtime failed its init, before the
        call or while it waits (Lambda would answer with the init error as a function error;
        the exception's ``payload`` is that answer, and it says why).
        """
        started = time.monotonic()
        deadline_ms = int(time.time() * 1000 + self.timeout * 1000)
        trace = trace_header or (
            f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};"
            f"Parent={uuid.uuid4().hex[:16]};Sampled=1"
        )
        body = json.dumps(event).encode()
        wait = self.timeout + 5.0 if timeout is None else timeout
        failed: Run | None = None
        with self._cond:
            invocation = self._model.invocations.submit(
                body, deadline_ms, trace, self.arn, time.monotonic()
            )
            self._cond.notify_all()
            end = started + wait
            while invocation.result is None:
                failed = self._model.withdraw_if_init_failed(invocation)
                if failed is not None:
                    break
                left = end - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            result = invocation.result
        if failed is not None:  # described outside the lock: it waits for the process a moment
            raise self._supervisor.init_failure(failed)
        latency = time.monotonic() - started
        if result is None:
            return InvokeResult(invocation.id, "timeout", None, latency)
        status, payload, error_type = result
        return InvokeResult(invocation.id, status, payload, latency, error_type)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no invocation is open or queued (the extensions called next again)."""
        end = time.monotonic() + timeout
        with self._cond:
            while not self._model.invocations.idle():
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def invocations(self) -> list[InvocationRecord]:
        with self._cond:
            return self._model.invocations.listed()

    def exchanges(self) -> list[Exchange]:
        return self._front.exchanges()

    def extensions(self) -> list[tuple[str, list[str]]]:
        """``(name, events)`` of every registered extension."""
        with self._cond:
            return self._model.extensions.listed()

    @property
    def init_error(self) -> dict[str, Any] | None:
        """The body the current runtime posted to ``/runtime/init/error``, if it did."""
        error: dict[str, Any] | None = self._model.init_error
        return error

    def shutdown(self, *, grace: float | None = None) -> ShutdownResult:
        """End the environment: SIGTERM if an extension registered, the grace, then SIGKILL."""
        return self._supervisor.shutdown(grace, self.hold_next_through_grace)


def awslambdaric_command(handler: str) -> list[str]:
    """The command that runs ``handler`` under AWS's runtime client from PyPI."""
    return [sys.executable, "-m", "awslambdaric", handler]


def minimal_runtime_command(handler: str) -> list[str]:
    """The command that runs ``handler`` under this package's own minimal runtime loop."""
    return [sys.executable, "-m", "otel_lambda_processor.testing.runtime", handler]
