"""The invocations of one execution environment: queued, open and over, with their deadlines.

Owns each invocation's phases and records; it must not decide when the runtime may take work
(the model and its policy do), nor touch sockets, threads, processes or the clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from .calls import ACCEPTED, InvocationResult, Reply, decode
from .records import InvocationRecord

MAX_RESPONSE_BYTES = 6 * 1024 * 1024  # Lambda's synchronous response payload limit


class Invocation:
    """One invocation, from the caller's invoke to its end."""

    def __init__(
        self, request_id: str, event: bytes, deadline_ms: int, trace: str, arn: str, now: float
    ) -> None:
        self.id = request_id
        self.event = event
        self.deadline_ms = deadline_ms  # epoch milliseconds
        self.trace = trace
        self.arn = arn
        self.started = now  # submitted; then when the runtime took it
        self.response_at: float | None = None
        self.ended_at: float | None = None
        self.result: tuple[str, Any, str | None] | None = None  # status, payload, error type
        self.runtime_done = False  # the runtime called next again after its result
        self.waiting_for: set[str] = set()  # extension ids that must call next again
        self.timed_out = False

    def record(self) -> InvocationRecord:
        return InvocationRecord(
            self.id, self.started, self.response_at, self.ended_at, self.timed_out
        )

    def runtime_headers(self) -> dict[str, str]:
        return {
            "Lambda-Runtime-Aws-Request-Id": self.id,
            "Lambda-Runtime-Deadline-Ms": str(self.deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": self.arn,
            "Lambda-Runtime-Trace-Id": self.trace,
        }

    def invoke_event(self) -> dict[str, Any]:
        return {
            "eventType": "INVOKE",
            "deadlineMs": self.deadline_ms,
            "requestId": self.id,
            "invokedFunctionArn": self.arn,
            "tracing": {"type": "X-Amzn-Trace-Id", "value": self.trace},
        }


class Invocations:
    """Invoked and waiting for the runtime (``queue``), taken (``open``), over (``records``).

    An invocation is over once the runtime and every extension it waits for have called next
    again, unless it timed out first; each is recorded once.
    """

    def __init__(self, new_id: Callable[[], str]) -> None:
        self.new_id = new_id
        self.queue: deque[Invocation] = deque()
        self.open: dict[str, Invocation] = {}
        self.records: list[InvocationRecord] = []

    def submit(
        self, event: bytes, deadline_ms: int, trace: str, arn: str, now: float
    ) -> Invocation:
        """The caller invokes: the invocation waits in the queue for the runtime."""
        invocation = Invocation(self.new_id(), event, deadline_ms, trace, arn, now)
        self.queue.append(invocation)
        return invocation

    def start(self, now: float) -> Invocation:
        """The runtime takes the oldest queued invocation."""
        invocation = self.queue.popleft()
        invocation.started = now
        self.open[invocation.id] = invocation
        return invocation

    def idle(self) -> bool:
        """No invocation is queued or open."""
        return not self.queue and not self.open

    def listed(self) -> list[InvocationRecord]:
        """Every invocation the runtime took: the ones over, then the open ones."""
        return [*self.records, *(inv.record() for inv in self.open.values())]

    def result(self, call: InvocationResult, now: float, *, ends: bool) -> Reply:
        """The runtime posts a response or an error; ``ends``: nothing else waits for it."""
        request_id = call.request_id
        if len(call.body) > MAX_RESPONSE_BYTES:
            message = "response payload too large"
            return Reply.error(413, "RequestEntityTooLarge", message, request_id=request_id)
        invocation = self.open.get(request_id)
        if invocation is None or invocation.result is not None or invocation.timed_out:
            return Reply.error(400, "InvalidRequestID", "Invalid request ID", request_id=request_id)
        invocation.response_at = now
        payload = decode(call.body)
        if call.kind == "response":
            invocation.result = ("ok", payload, None)
        else:
            error_type = call.error_type or (
                payload.get("errorType") if isinstance(payload, dict) else None
            )
            invocation.result = ("error", payload, error_type)
        if ends:
            del self.open[request_id]
            invocation.ended_at = now
            self.records.append(invocation.record())
        return replace(ACCEPTED, request_id=request_id)

    def runtime_next(self, now: float) -> None:
        """The runtime asks for work again: it is done with the invocations it answered."""
        for invocation in list(self.open.values()):
            if invocation.result is not None:
                invocation.runtime_done = True
                self._maybe_end(invocation, now)

    def release(self, extension_id: str, now: float) -> None:
        """The open invocations no longer wait for that extension."""
        for invocation in list(self.open.values()):
            invocation.waiting_for.discard(extension_id)
            self._maybe_end(invocation, now)

    def expire(self, epoch: float) -> Invocation | None:
        """An open invocation past its deadline at wall-clock ``epoch``, now timed out."""
        for invocation in self.open.values():
            if not invocation.timed_out and invocation.deadline_ms / 1000.0 <= epoch:
                invocation.timed_out = True
                return invocation
        return None

    def deadline_left(self, epoch: float) -> float | None:
        """Seconds until the next deadline of an open invocation, if one is open."""
        left = [i.deadline_ms / 1000.0 - epoch for i in self.open.values() if not i.timed_out]
        return min(left) if left else None

    def timed_out(self, invocation: Invocation) -> None:
        """Its runtime is gone: the caller (if it has no response yet) learns of the timeout."""
        if invocation.result is None:
            invocation.result = ("timeout", None, None)
        self.records.append(invocation.record())
        if self.open.get(invocation.id) is invocation:
            del self.open[invocation.id]

    def runtime_exited(self, status: str, now: float) -> None:
        """The runtime died: every open invocation without a result gets ``Runtime.ExitError``."""
        for invocation in self.open.values():
            if invocation.result is None:
                invocation.response_at = now
                message = f"RequestId: {invocation.id} Error: Runtime exited with error: {status}"
                error = {"errorMessage": message, "errorType": "Runtime.ExitError"}
                invocation.result = ("error", error, "Runtime.ExitError")
            self.records.append(invocation.record())
        self.open.clear()

    def _maybe_end(self, invocation: Invocation, now: float) -> None:
        if (
            invocation.runtime_done
            and not invocation.waiting_for
            and not invocation.timed_out
            and self.open.get(invocation.id) is invocation
        ):
            invocation.ended_at = now
            self.records.append(invocation.record())
            del self.open[invocation.id]
