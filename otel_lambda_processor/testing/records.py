"""What the emulator reports to its caller: the public records and :class:`RuntimeInitError`.

Owns plain values only. It must not import the model, the HTTP front or the supervisor.
"""

from __future__ import annotations

import signal
from typing import Any, NamedTuple


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
        status = "still running" if self.returncode is None else exit_status(self.returncode)
        if self.output_tail:
            lines.append(f"the runtime's last output ({status}):")
            lines.extend(f"  | {line}" for line in self.output_tail.splitlines())
        else:
            lines.append(f"the runtime wrote nothing ({status})")
        return "\n".join(lines)


def exit_status(returncode: int) -> str:
    """As Lambda words it: ``exit status 1``, ``signal: killed``."""
    if returncode >= 0:
        return f"exit status {returncode}"
    try:
        name = signal.strsignal(-returncode) or f"signal {-returncode}"
    except ValueError:
        name = f"signal {-returncode}"
    return f"signal: {name.lower()}"
