"""A local emulator of the Lambda Runtime API and Extensions API, over real HTTP on 127.0.0.1.

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
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler
from typing import Any, NamedTuple

from ._server import POLL_INTERVAL
from ._server import QuietServer as _QuietServer

RUNTIME_PREFIX = "/2018-06-01/runtime"
EXTENSION_PREFIX = "/2020-01-01/extension"
MAX_RESPONSE_BYTES = 6 * 1024 * 1024  # Lambda's synchronous response payload limit
MAX_EXTENSIONS = 10
#: SIGTERM-to-SIGKILL grace for the runtime when an internal extension is registered.
GRACE_INTERNAL = 0.5
#: How many lines of the runtime's output a :class:`RuntimeInitError` quotes.
OUTPUT_TAIL_LINES = 20
#: After an init error, how long to wait for the runtime to exit and its output to be read.
_SETTLE_AFTER_INIT_ERROR = 1.0


class RuntimeInitError(RuntimeError):
    """The runtime failed its init: it reported an init error, or its process ended before it
    took an invocation.

    Raised by :meth:`LambdaEmulator.wait_ready` and :meth:`LambdaEmulator.invoke` as soon as
    it happens, never after a timeout. ``error_type`` is the runtime's own (awslambdaric's
    ``Runtime.ImportModuleError``, ``Runtime.HandlerNotFound``, ``Runtime.UserCodeSyntaxError``,
    the exception's class name for an exception raised at import) or, for a process that just
    ended, ``Runtime.ExitError`` as Lambda names it; ``message`` is the runtime's message (or
    Lambda's "Runtime exited with error: exit status 1"); ``output_tail`` is the last lines the
    process wrote to stdout and stderr. ``payload`` is the body the runtime posted to
    ``/runtime/init/error`` (``None`` if it posted none): what Lambda itself would answer the
    invoke with. ``returncode`` is the process's exit status, ``None`` if it still runs.
    """

    def __init__(
        self,
        error_type: str,
        message: str,
        output_tail: str,
        *,
        returncode: int | None = None,
        payload: dict[str, Any] | None = None,
        hint: str | None = None,
    ) -> None:
        self.error_type = error_type
        self.message = message
        self.output_tail = output_tail
        self.returncode = returncode
        self.payload = payload
        self.hint = hint
        super().__init__(self._text())

    def _text(self) -> str:
        lines = [f"the function's runtime failed its init: {self.error_type}: {self.message}"]
        if self.hint:
            lines.append(f"hint: {self.hint}")
        status = "still running" if self.returncode is None else _exit_status(self.returncode)
        if self.output_tail:
            lines.append(f"the runtime's last output ({status}):")
            lines.extend(f"  | {line}" for line in self.output_tail.splitlines())
        else:
            lines.append(f"the runtime wrote nothing ({status})")
        return "\n".join(lines)


def _exit_status(returncode: int) -> str:
    """As Lambda words it: ``exit status 1``, ``signal: killed``."""
    if returncode >= 0:
        return f"exit status {returncode}"
    try:
        name = signal.strsignal(-returncode) or f"signal {-returncode}"
    except ValueError:
        name = f"signal {-returncode}"
    return f"signal: {name.lower()}"


def _shorten(line: str, limit: int = 300) -> str:
    return line if len(line) <= limit else line[: limit - 1] + "…"


class _Run:
    """One runtime process and what the emulator knows of it."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.returncode: int | None = None  # set when the process has ended
        self.expected_exit = False  # the emulator ends it (shutdown, reset, stop)
        self.served = 0  # invocations it took
        self.failure: RuntimeInitError | None = None  # built once, when first reported


class Exchange(NamedTuple):
    """One HTTP request the emulator answered."""

    started: float  # time.monotonic() when the request arrived
    finished: float  # when the answer was sent
    actor: str  # "runtime" or "extension:<name>"
    method: str
    path: str
    status: int
    request_id: str | None  # the invocation the exchange belongs to, where there is one


class InvokeResult(NamedTuple):
    """What the caller of ``invoke`` got."""

    request_id: str
    status: str  # "ok", "error" (the function raised) or "timeout"
    payload: Any  # the decoded JSON response or error body (``None`` on timeout)
    latency: float  # seconds from the invoke until the caller had the answer
    error_type: str | None = None


class InvocationRecord(NamedTuple):
    """The phases of one invocation, as monotonic times (``None``: did not happen)."""

    request_id: str
    started: float
    response: float | None
    ended: float | None  # runtime and every INVOKE extension called next again
    timed_out: bool

    @property
    def post_response(self) -> float | None:
        """Seconds the invocation stayed open after the response (the extensions' time)."""
        if self.response is None or self.ended is None:
            return None
        return self.ended - self.response


class ShutdownResult(NamedTuple):
    returncode: int | None
    sigterm_sent: bool
    killed: bool  # SIGKILL after the grace period
    seconds: float


class _Extension:
    def __init__(self, name: str, events: list[str]) -> None:
        self.id = str(uuid.uuid4())
        self.name = name
        self.events = events
        self.called_next = False
        self.failed = False
        self.waiting = False  # a /event/next of this extension is being held open
        self.queue: deque[dict[str, Any]] = deque()


class _Invocation:
    def __init__(self, event: bytes, deadline_ms: int, trace: str, arn: str) -> None:
        self.id = str(uuid.uuid4())
        self.event = event
        self.deadline_ms = deadline_ms
        self.trace = trace
        self.arn = arn
        self.started = time.monotonic()
        self.response_at: float | None = None
        self.ended_at: float | None = None
        self.result: tuple[str, Any, str | None] | None = None
        self.runtime_done = False
        self.waiting_for: set[str] = set()  # extension ids that must call next again
        self.timed_out = False


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
        #: Above 1: Lambda Managed Instances. Several invocations run at once, nothing freezes,
        #: an invocation ends when its response is posted, and extensions get no INVOKE.
        self.max_concurrency = max_concurrency
        self.function_name = function_name
        self.timeout = timeout
        self.memory_mb = memory_mb
        self.region = region
        self.account_id = account_id
        self.arn = f"arn:aws:lambda:{region}:{account_id}:function:{function_name}"
        self._cond = threading.Condition()
        self._exchanges: list[Exchange] = []
        self._extensions: dict[str, _Extension] = {}
        self._registration_open = True
        self._runtime_asked = False
        self._init_error: dict[str, Any] | None = None
        self._queue: deque[_Invocation] = deque()
        self._current: _Invocation | None = None
        self._active: dict[str, _Invocation] = {}  # managed instances: all open invocations
        self._records: list[InvocationRecord] = []
        self._generation = 0  # bumps on every reset: stale blocked requests give up
        self._resetting = False  # a timed-out runtime is being killed: hand it no more work
        self._process: subprocess.Popen[bytes] | None = None
        self._run: _Run | None = None
        self._command: list[str] | None = None
        self._launch_env: dict[str, str] = {}
        self._cwd: str | None = None
        self._output: list[str] = []
        self._reader: threading.Thread | None = None
        self._stopped = False
        self.resets = 0
        #: Refuse registration with 403 ``Extension.RegistrationClosed`` (as after a lost race).
        self.refuse_registration = False
        #: Answer every Extensions API call after registration with this status (e.g. 500).
        self.extension_api_status: int | None = None
        #: Hold each event this long before handing it to an extension (a late INVOKE).
        self.extension_event_delay = 0.0
        #: At shutdown, keep the held ``/next`` requests open until the process is gone (True),
        #: or close them as soon as SIGTERM is sent (False: a harsher environment, to check that
        #: a function stays quiet when its connections close during shutdown).
        self.hold_next_through_grace = True
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out at once, no 40 ms stalls

            def do_GET(self) -> None:
                emulator._dispatch(self, "GET")

            def do_POST(self) -> None:
                emulator._dispatch(self, "POST")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server_thread = threading.Thread(
            target=self._server.serve_forever,
            args=(POLL_INTERVAL,),
            name="lambda-emulator",
            daemon=True,
        )
        self._watchdog = threading.Thread(target=self._enforce_timeouts, daemon=True)

    # -- life ---------------------------------------------------------------------------------
    def start(self) -> LambdaEmulator:
        self._server_thread.start()
        self._watchdog.start()
        return self

    def __enter__(self) -> LambdaEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def runtime_api(self) -> str:
        """The ``AWS_LAMBDA_RUNTIME_API`` value: ``127.0.0.1:<port>``."""
        return f"127.0.0.1:{self._server.server_address[1]}"

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
            "AWS_LAMBDA_INITIALIZATION_TYPE": (
                "lambda-managed-instances" if self.max_concurrency > 1 else "on-demand"
            ),
            **(
                {"AWS_LAMBDA_MAX_CONCURRENCY": str(self.max_concurrency)}
                if self.max_concurrency > 1
                else {}
            ),
            "LAMBDA_TASK_ROOT": self._cwd or os.getcwd(),
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
        self._command = list(command)
        self._launch_env = dict(env or {})
        self._cwd = cwd
        self._spawn()

    def _spawn(self) -> None:
        assert self._command is not None
        environment = dict(os.environ)
        environment.update(self.lambda_environment())
        environment.update(self._launch_env)
        process = subprocess.Popen(
            self._command,
            env=environment,
            cwd=self._cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        run = _Run(process)
        with self._cond:
            self._process = process
            self._run = run
            self._init_error = None
        self._reader = threading.Thread(target=self._collect_output, args=(process,), daemon=True)
        self._reader.start()
        threading.Thread(target=self._watch_exit, args=(run,), daemon=True).start()

    def _watch_exit(self, run: _Run) -> None:
        """When the runtime process ends by itself: an open invocation gets ``Runtime.ExitError``
        and the environment is reset (a new init); before its first invocation, it failed init.
        """
        returncode = run.process.wait()
        with self._cond:
            run.returncode = returncode
            self._cond.notify_all()
            if run is not self._run or run.expected_exit or self._stopped or run.served == 0:
                return  # ended by us, replaced, or an init failure (wait_ready/invoke report it)
            status = _exit_status(returncode)
            for inv in [self._current, *self._active.values()]:
                if inv is None:
                    continue
                if inv.result is None:
                    inv.response_at = time.monotonic()
                    message = f"RequestId: {inv.id} Error: Runtime exited with error: {status}"
                    inv.result = (
                        "error",
                        {"errorMessage": message, "errorType": "Runtime.ExitError"},
                        "Runtime.ExitError",
                    )
                self._records.append(self._record(inv))
            self._current = None
            self._active.clear()
            self._reset_locked()
        self._restart()

    def _collect_output(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with self._cond:
                self._output.append(line.decode("utf-8", "replace").rstrip("\n"))

    def wait_output(self, timeout: float = 5.0) -> bool:
        """After the runtime process ended: wait until all it wrote has been read."""
        reader = self._reader
        if reader is None:
            return True
        reader.join(timeout)
        return not reader.is_alive()

    @property
    def output(self) -> str:
        """Everything the runtime process wrote to stdout and stderr so far."""
        with self._cond:
            return "\n".join(self._output)

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        return self._process

    def stop(self) -> None:
        """Kill the runtime process if it still runs and stop serving."""
        with self._cond:
            self._stopped = True
            run = self._run
            if run is not None:
                run.expected_exit = True
        if run is not None and run.process.poll() is None:
            run.process.kill()  # first: the process never sees its connections closed
            run.process.wait(5)
        with self._cond:
            self._generation += 1
            self._cond.notify_all()
        self._server.shutdown()
        self._server.server_close()

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
                failed = self._init_failed_locked()
                if failed is not None or self._init_complete():
                    break
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        if failed is not None:
            raise self._init_failure(failed)
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
        invocation = _Invocation(json.dumps(event).encode(), deadline_ms, trace, self.arn)
        wait = self.timeout + 5.0 if timeout is None else timeout
        failed: _Run | None = None
        with self._cond:
            self._queue.append(invocation)
            self._cond.notify_all()
            end = started + wait
            while invocation.result is None:
                if invocation in self._queue:  # not taken yet: is there a runtime to take it?
                    failed = self._init_failed_locked()
                    if failed is not None:
                        self._queue.remove(invocation)
                        break
                left = end - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            result = invocation.result
        if failed is not None:
            raise self._init_failure(failed)
        latency = time.monotonic() - started
        if result is None:
            return InvokeResult(invocation.id, "timeout", None, latency)
        status, payload, error_type = result
        return InvokeResult(invocation.id, status, payload, latency, error_type)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no invocation is open or queued (the extensions called next again)."""
        end = time.monotonic() + timeout
        with self._cond:
            while self._current is not None or self._queue or self._active:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def invocations(self) -> list[InvocationRecord]:
        with self._cond:
            records = list(self._records)
            if self._current is not None:
                records.append(self._record(self._current))
            records.extend(self._record(inv) for inv in self._active.values())
            return records

    def exchanges(self) -> list[Exchange]:
        with self._cond:
            return list(self._exchanges)

    def extensions(self) -> list[tuple[str, list[str]]]:
        """``(name, events)`` of every registered extension."""
        with self._cond:
            return [(e.name, list(e.events)) for e in self._extensions.values()]

    @property
    def init_error(self) -> dict[str, Any] | None:
        """The body the current runtime posted to ``/runtime/init/error``, if it did."""
        return self._init_error

    def _init_failed_locked(self) -> _Run | None:
        """The current run, if it failed its init: it reported an init error, or it ended (not
        by the emulator's hand) before it took an invocation."""
        run = self._run
        if run is None or run.expected_exit or run.served > 0:
            return None
        if self._init_error is not None or run.returncode is not None:
            return run
        return None

    def _init_failure(self, run: _Run) -> RuntimeInitError:
        """A new exception for a failed init (each raise has its own traceback), described once
        per run: outside the lock, after a brief wait for the runtime to exit and for its last
        output to be read."""
        known = run.failure or self._describe_init_failure(run)
        return RuntimeInitError(
            known.error_type,
            known.message,
            known.output_tail,
            returncode=known.returncode,
            payload=known.payload,
            hint=known.hint,
        )

    def _describe_init_failure(self, run: _Run) -> RuntimeInitError:
        process = run.process
        try:  # awslambdaric exits right after reporting; its last words come with the exit
            process.wait(_SETTLE_AFTER_INIT_ERROR)
        except subprocess.TimeoutExpired:
            pass
        if process.poll() is not None and self._reader is not None:
            self._reader.join(_SETTLE_AFTER_INIT_ERROR)
        with self._cond:
            if run.failure is not None:
                return run.failure
            reported = self._init_error
            returncode = process.poll()
            tail = self._output_tail_locked()
            asked = self._runtime_asked
        if reported is not None:
            error_type = str(reported.get("errorType") or "Runtime.Unknown")
            message = str(reported.get("errorMessage") or "(no message)")
        else:
            error_type = "Runtime.ExitError"
            when = "while idle, before its first invocation" if asked else "before init was over"
            status = "?" if returncode is None else _exit_status(returncode)
            message = f"Runtime exited with error: {status} ({when}, no init error reported)"
        failure = RuntimeInitError(
            error_type,
            message,
            tail,
            returncode=returncode,
            payload=reported,
            hint=self._hint(error_type, message, tail),
        )
        with self._cond:
            if run.failure is None:
                run.failure = failure
            return run.failure

    def _output_tail_locked(self) -> str:
        text = "\n".join(self._output[-4 * OUTPUT_TAIL_LINES :])
        # awslambdaric keeps a multi-line record on one line, its line breaks written as \r.
        lines = text.replace("\r\n", "\n").replace("\r", "\n").splitlines()
        while lines and not lines[-1].strip():
            lines.pop()
        return "\n".join(_shorten(line) for line in lines[-OUTPUT_TAIL_LINES:])

    def _hint(self, error_type: str, message: str, tail: str) -> str | None:
        """What a newcomer most likely needs to do about the commonest failures."""
        command = self._command or []
        if re.search(r"No module named '?awslambdaric'?", tail) and "awslambdaric" in command:
            return (
                f"awslambdaric is not installed for {command[0]} (pip install awslambdaric; it "
                "ships Linux wheels only), or run the handler with minimal_runtime_command()"
            )
        found = re.match(r"Unable to import module '([^']+)': No module named '([^']+)'", message)
        if error_type == "Runtime.ImportModuleError" and found:
            module, missing = found.groups()
            if module == missing or module.startswith(missing + "."):
                where = self._cwd or os.getcwd()
                return (
                    f"{module!r} is not importable from {where}: launch(..., cwd=...) must be "
                    "the directory that holds the handler's module (or put it on PYTHONPATH)"
                )
        return None

    def shutdown(self, *, grace: float | None = None) -> ShutdownResult:
        """End the environment: SIGTERM if an extension registered, the grace, then SIGKILL."""
        process = self._process
        if process is None:
            raise RuntimeError("no runtime process was launched")
        started = time.monotonic()
        with self._cond:
            registered = bool(self._extensions)
            run = self._run
            if run is not None:
                run.expected_exit = True
        try:
            if process.poll() is not None:
                return ShutdownResult(process.returncode, False, False, 0.0)
            if not registered:
                process.kill()
                process.wait(5)
                return ShutdownResult(process.returncode, False, True, time.monotonic() - started)
            # As in Lambda, the runtime's blocked /next stays open through the grace: only the
            # signal tells the process that the environment ends.
            process.send_signal(signal.SIGTERM)
            if not self.hold_next_through_grace:
                with self._cond:
                    self._generation += 1
                    self._cond.notify_all()
            try:
                process.wait(GRACE_INTERNAL if grace is None else grace)
                killed = False
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
                killed = True
            return ShutdownResult(process.returncode, True, killed, time.monotonic() - started)
        finally:
            with self._cond:  # release what the process left blocked
                self._generation += 1
                self._cond.notify_all()

    # -- the environment ----------------------------------------------------------------------
    def _init_complete(self) -> bool:
        return self._runtime_asked and all(
            e.called_next or e.failed for e in self._extensions.values()
        )

    def _record(self, inv: _Invocation) -> InvocationRecord:
        return InvocationRecord(inv.id, inv.started, inv.response_at, inv.ended_at, inv.timed_out)

    def _maybe_end_locked(self, inv: _Invocation) -> None:
        if inv is self._current and inv.runtime_done and not inv.waiting_for and not inv.timed_out:
            inv.ended_at = time.monotonic()
            self._records.append(self._record(inv))
            self._current = None
            self._cond.notify_all()

    def _enforce_timeouts(self) -> None:
        """The function timeout covers the whole invocation phase; past it, reset."""
        while True:
            with self._cond:
                if self._stopped:
                    return
                inv = self._current
                if inv is None:
                    self._cond.wait(0.05)
                    continue
                left = inv.deadline_ms / 1000.0 - time.time()
                if left > 0:
                    self._cond.wait(min(left, 0.05))
                    continue
                inv.timed_out = True  # from now on nothing of it is accepted
                run = self._run
                if run is not None:
                    run.expected_exit = True
                self._resetting = True
            # The process goes first, as in Lambda: it never sees its held requests closed.
            # The caller learns of the timeout with the reset, a few milliseconds later.
            self._kill(run)
            with self._cond:
                if inv.result is None:
                    inv.result = ("timeout", None, None)
                self._records.append(self._record(inv))
                if self._current is inv:
                    self._current = None
                self._resetting = False
                self._reset_locked()
            self._restart()

    def _reset_locked(self) -> None:
        """Throw the environment away: a new init follows on the next invoke."""
        self.resets += 1
        self._generation += 1
        self._extensions.clear()
        self._registration_open = True
        self._runtime_asked = False
        self._cond.notify_all()

    @staticmethod
    def _kill(run: _Run | None) -> None:
        if run is not None and run.process.poll() is None:
            run.process.kill()
            run.process.wait(5)

    def _restart(self) -> None:
        with self._cond:
            run = self._run
            if run is not None:
                run.expected_exit = True
        self._kill(run)
        if self._command is not None and not self._stopped:
            self._spawn()

    # -- HTTP ---------------------------------------------------------------------------------
    def _dispatch(self, http: BaseHTTPRequestHandler, method: str) -> None:
        arrived = time.monotonic()
        path = http.path.split("?", 1)[0]
        length = int(http.headers.get("Content-Length") or 0)
        body = http.rfile.read(length) if length else b""
        actor, status, request_id = "runtime", 404, None
        try:
            if path.startswith(RUNTIME_PREFIX):
                status, request_id = self._runtime(http, method, path[len(RUNTIME_PREFIX) :], body)
            elif path.startswith(EXTENSION_PREFIX):
                ext = self._extensions.get(http.headers.get("Lambda-Extension-Identifier", ""))
                actor = "extension:" + (
                    ext.name if ext else http.headers.get("Lambda-Extension-Name", "?")
                )
                status, request_id = self._extension(
                    http, method, path[len(EXTENSION_PREFIX) :], body
                )
            else:
                status = self._error(http, 404, "NotFound", f"no such path {path}")
        except (BrokenPipeError, ConnectionResetError):
            status = 499  # the client went away while we answered
        with self._cond:
            self._exchanges.append(
                Exchange(arrived, time.monotonic(), actor, method, path, status, request_id)
            )

    def _send(
        self,
        http: BaseHTTPRequestHandler,
        status: int,
        payload: Any,
        headers: Mapping[str, str] | None = None,
    ) -> int:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        http.send_response(status)
        http.send_header("Content-Type", "application/json")
        http.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            http.send_header(key, value)
        http.end_headers()
        http.wfile.write(data)
        return status

    def _error(self, http: BaseHTTPRequestHandler, status: int, kind: str, message: str) -> int:
        return self._send(http, status, {"errorMessage": message, "errorType": kind})

    # Runtime API ---------------------------------------------------------------------------
    def _runtime(
        self, http: BaseHTTPRequestHandler, method: str, path: str, body: bytes
    ) -> tuple[int, str | None]:
        if method == "GET" and path == "/invocation/next":
            return self._runtime_next(http)
        if method == "GET" and path == "/restore/next":
            # SnapStart: the runtime reports init done and waits for the restore; ours is at once.
            return self._send(http, 200, b""), None
        if method == "POST" and path == "/restore/error":
            with self._cond:
                self._init_error = _json(body) or {"errorType": "Runtime.AfterRestoreError"}
                self._cond.notify_all()
            return self._send(http, 202, {"status": "OK"}), None
        if method == "POST" and path == "/init/error":
            reported = _json(body)
            error = dict(reported) if isinstance(reported, dict) else {}
            header = http.headers.get("Lambda-Runtime-Function-Error-Type")
            if not error.get("errorType"):
                error["errorType"] = header or "Runtime.Unknown"
            with self._cond:
                self._init_error = error
                self._cond.notify_all()
            return self._send(http, 202, {"status": "OK"}), None
        parts = path.strip("/").split("/")
        if method == "POST" and len(parts) == 3 and parts[0] == "invocation":
            request_id, kind = parts[1], parts[2]
            if kind in ("response", "error"):
                return self._runtime_result(http, request_id, kind, body), request_id
        return self._error(http, 404, "NotFound", f"unknown runtime path {path}"), None

    def _runtime_next(self, http: BaseHTTPRequestHandler) -> tuple[int, str | None]:
        if self.max_concurrency > 1:
            return self._runtime_next_concurrent(http)
        with self._cond:
            generation = self._generation
            self._registration_open = False
            self._runtime_asked = True
            current = self._current
            if current is not None and current.result is not None:
                current.runtime_done = True
                self._maybe_end_locked(current)
            self._cond.notify_all()
            while not (
                self._current is None
                and self._queue
                and self._init_complete()
                and not self._resetting
            ):
                if self._generation != generation or self._stopped:
                    http.close_connection = True
                    return 499, None  # the environment was reset or stopped under us
                self._cond.wait(0.5)
            inv = self._queue.popleft()
            inv.started = time.monotonic()
            self._current = inv
            if self._run is not None:
                self._run.served += 1
            for ext in self._extensions.values():
                if "INVOKE" in ext.events and not ext.failed:
                    inv.waiting_for.add(ext.id)
                    ext.queue.append(
                        {
                            "eventType": "INVOKE",
                            "deadlineMs": inv.deadline_ms,
                            "requestId": inv.id,
                            "invokedFunctionArn": inv.arn,
                            "tracing": {"type": "X-Amzn-Trace-Id", "value": inv.trace},
                        }
                    )
            self._cond.notify_all()
        return self._send(http, 200, inv.event, _invocation_headers(inv)), inv.id

    def _runtime_next_concurrent(self, http: BaseHTTPRequestHandler) -> tuple[int, str | None]:
        """Managed instances: any worker takes the next invocation while fewer than N run."""
        with self._cond:
            generation = self._generation
            self._registration_open = False
            self._runtime_asked = True
            self._cond.notify_all()
            while not (
                self._queue and len(self._active) < self.max_concurrency and not self._resetting
            ):
                if self._generation != generation or self._stopped:
                    http.close_connection = True
                    return 499, None
                self._cond.wait(0.5)
            inv = self._queue.popleft()
            inv.started = time.monotonic()
            self._active[inv.id] = inv
            if self._run is not None:
                self._run.served += 1
        return self._send(http, 200, inv.event, _invocation_headers(inv)), inv.id

    def _runtime_result(
        self, http: BaseHTTPRequestHandler, request_id: str, kind: str, body: bytes
    ) -> int:
        if len(body) > MAX_RESPONSE_BYTES:
            return self._error(http, 413, "RequestEntityTooLarge", "response payload too large")
        with self._cond:
            inv = self._active.get(request_id) if self.max_concurrency > 1 else self._current
            if inv is None or inv.id != request_id or inv.result is not None or inv.timed_out:
                return self._error(http, 400, "InvalidRequestID", "Invalid request ID")
            inv.response_at = time.monotonic()
            if kind == "response":
                inv.result = ("ok", _json(body), None)
            else:
                payload = _json(body)
                error_type = http.headers.get("Lambda-Runtime-Function-Error-Type") or (
                    payload.get("errorType") if isinstance(payload, dict) else None
                )
                inv.result = ("error", payload, error_type)
            if self._active.pop(request_id, None) is not None:  # nothing waits: it is over
                inv.ended_at = inv.response_at
                self._records.append(self._record(inv))
            self._cond.notify_all()
        return self._send(http, 202, {"status": "OK"})

    # Extensions API ------------------------------------------------------------------------
    def _extension(
        self, http: BaseHTTPRequestHandler, method: str, path: str, body: bytes
    ) -> tuple[int, str | None]:
        if method == "POST" and path == "/register":
            if self.refuse_registration:
                return self._error(
                    http, 403, "Extension.RegistrationClosed", "registration is closed"
                ), None
            return self._register(http, body), None
        identifier = http.headers.get("Lambda-Extension-Identifier")
        if not identifier:
            return self._error(
                http, 403, "Extension.MissingExtensionIdentifier", "missing identifier"
            ), None
        with self._cond:
            ext = self._extensions.get(identifier)
        if ext is None:
            return self._error(
                http, 403, "Extension.UnknownExtensionIdentifier", "unknown identifier"
            ), None
        if ext.failed:
            return self._error(
                http, 403, "Extension.InvalidExtensionState", "extension reported an error"
            ), None
        if method == "GET" and path == "/event/next":
            return self._event_next(http, ext)
        if method == "POST" and path in ("/init/error", "/exit/error"):
            if not http.headers.get("Lambda-Extension-Function-Error-Type"):
                return self._error(http, 403, "Extension.MissingHeader", "missing error type"), None
            with self._cond:
                ext.failed = True
                current = self._current
                if current is not None:
                    current.waiting_for.discard(ext.id)
                    self._maybe_end_locked(current)
                self._cond.notify_all()
            return self._send(http, 202, {"status": "OK"}), None
        return self._error(http, 404, "NotFound", f"unknown extension path {path}"), None

    def _register(self, http: BaseHTTPRequestHandler, body: bytes) -> int:
        name = http.headers.get("Lambda-Extension-Name")
        if not name:
            return self._error(http, 403, "Extension.MissingHeader", "missing extension name")
        request = _json(body)
        events = request.get("events") if isinstance(request, dict) else None
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            return self._error(http, 403, "Extension.InvalidRequestFormat", "bad request body")
        if any(e not in ("INVOKE", "SHUTDOWN") for e in events) or "SHUTDOWN" in events:
            # Every extension here runs inside the runtime process: internal ones may not
            # subscribe to SHUTDOWN.
            return self._error(
                http, 403, "Extension.InvalidEventType", f"invalid events for internal: {events}"
            )
        if self.max_concurrency > 1 and events:
            return self._error(
                http, 403, "Extension.InvalidEventType", "managed instances: no events"
            )
        with self._cond:
            if not self._registration_open:
                return self._error(
                    http, 403, "Extension.RegistrationClosed", "registration is closed"
                )
            if len(self._extensions) >= MAX_EXTENSIONS:
                return self._error(http, 403, "Extension.TooManyExtensions", "too many")
            ext = _Extension(name, list(events))
            self._extensions[ext.id] = ext
        reply: dict[str, Any] = {
            "functionName": self.function_name,
            "functionVersion": "$LATEST",
            "handler": self.handler,
        }
        if http.headers.get("Lambda-Extension-Accept-Feature") == "accountId":
            reply["accountId"] = self.account_id
        return self._send(http, 200, reply, {"Lambda-Extension-Identifier": ext.id})

    def _event_next(self, http: BaseHTTPRequestHandler, ext: _Extension) -> tuple[int, str | None]:
        with self._cond:
            if ext.waiting:  # as Lambda: one held /event/next per extension at a time
                return self._error(
                    http, 403, "Extension.InvalidExtensionState", "already waiting for an event"
                ), None
            ext.waiting = True
        try:
            return self._wait_for_event(http, ext)
        finally:
            with self._cond:
                ext.waiting = False

    def _wait_for_event(
        self, http: BaseHTTPRequestHandler, ext: _Extension
    ) -> tuple[int, str | None]:
        with self._cond:
            generation = self._generation
            ext.called_next = True
            current = self._current
            failing = self.extension_api_status is not None
            if failing:
                ext.queue.clear()  # events of an outage are lost, as they would be
            if current is not None and ext.id in current.waiting_for and not ext.queue:
                current.waiting_for.discard(ext.id)
                self._maybe_end_locked(current)
            self._cond.notify_all()
        if failing:
            status = self.extension_api_status or 500
            return self._error(http, status, "Extension.Failure", "injected failure"), None
        with self._cond:
            while not ext.queue:
                if self._generation != generation or self._stopped:
                    http.close_connection = True
                    return 499, None
                self._cond.wait(0.5)
            event = ext.queue.popleft()
        if self.extension_event_delay > 0:
            time.sleep(self.extension_event_delay)
        headers = {"Lambda-Extension-Event-Identifier": str(uuid.uuid4())}
        return self._send(http, 200, event, headers), event.get("requestId")


def _invocation_headers(inv: _Invocation) -> dict[str, str]:
    return {
        "Lambda-Runtime-Aws-Request-Id": inv.id,
        "Lambda-Runtime-Deadline-Ms": str(inv.deadline_ms),
        "Lambda-Runtime-Invoked-Function-Arn": inv.arn,
        "Lambda-Runtime-Trace-Id": inv.trace,
    }


def _json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def awslambdaric_command(handler: str) -> list[str]:
    """The command that runs ``handler`` under AWS's runtime client from PyPI."""
    return [sys.executable, "-m", "awslambdaric", handler]


def minimal_runtime_command(handler: str) -> list[str]:
    """The command that runs ``handler`` under this package's own minimal runtime loop."""
    return [sys.executable, "-m", "otel_lambda_processor.testing.runtime", handler]
