"""The Lambda invocation lifecycle as a plain state machine: no sockets, no threads, no clock.

The coordinator feeds it what it observes (the extension called ``/event/next``, an INVOKE
arrived, the handler is done, the response was sent, the deadline is near, SIGTERM) and it
answers with what to do next. Signals are matched by request id, because "handler done" and
"response sent" can come before the INVOKE that announces the same invocation.

    INIT --next--> IDLE --invoke--> INVOKED --done/response/deadline--> FLUSHING
    FLUSHING --flush_finished--> WAITING_NEXT --next--> IDLE          (any) --shutdown--> SHUTDOWN

Owns the phases and which flush each event calls for; must not do I/O, wait, read the clock or
publish a signal (the coordinator does all of that).
"""

from __future__ import annotations

import enum
from collections import OrderedDict

from ..signals import ExportReason, Record, field


class Phase(enum.Enum):
    INIT = "init"  # registered; /event/next not called yet
    IDLE = "idle"  # waiting in /event/next for the next INVOKE
    INVOKED = "invoked"  # an invocation is open; waiting for the signal to flush
    FLUSHING = "flushing"  # the processors are exporting that invocation's spans
    WAITING_NEXT = "waiting_next"  # flushed; the extension is about to call /event/next
    SHUTDOWN = "shutdown"


class LifecycleError(Exception):
    """An event that is not legal in the current phase (a bug in the caller, not in Lambda)."""


class Invocation(Record):
    __slots__ = ()
    _fields = ("request_id", "deadline_ms", "trace_header")

    request_id: str = field(0)
    deadline_ms: int | None = field(1)
    trace_header: str | None = field(2)

    def __new__(
        cls, request_id: str, deadline_ms: int | None, trace_header: str | None
    ) -> Invocation:
        return tuple.__new__(cls, (request_id, deadline_ms, trace_header))


class Flush(Record):
    """Export now, for ``request_id`` (``None`` at shutdown), by ``deadline_ms`` (wall clock)."""

    __slots__ = ()
    _fields = ("reason", "request_id", "deadline_ms")

    reason: ExportReason = field(0)
    request_id: str | None = field(1)
    deadline_ms: int | None = field(2)

    def __new__(
        cls, reason: ExportReason, request_id: str | None, deadline_ms: int | None
    ) -> Flush:
        return tuple.__new__(cls, (reason, request_id, deadline_ms))


#: How many request ids of early or finished signals are remembered (a few suffice: a process
#: serves one invocation at a time).
_MEMORY = 32


class Lifecycle:
    """What the extension must do, given what it has seen.

    ``response_hook``: the runtime reports "response sent" (so "handler done" alone is not yet
    the moment to export; the response is about to leave). Without it, "handler done" is.
    """

    def __init__(self, *, response_hook: bool = False, fallback_lead_ms: int = 300) -> None:
        self.phase = Phase.INIT
        self.response_hook = response_hook
        self.fallback_lead_ms = fallback_lead_ms
        self.current: Invocation | None = None
        self._seen: dict[str, set[str]] = {}  # request id -> {"done", "response"}
        self._early: OrderedDict[str, set[str]] = OrderedDict()
        self._anonymous_done = False  # "done" without a request id, before any INVOKE
        self._flushed: OrderedDict[str, None] = OrderedDict()

    # -- inputs -------------------------------------------------------------------------------
    def next_called(self) -> None:
        """The extension calls ``/event/next``: init completes, or the last invocation ends."""
        if self.phase in (Phase.INIT, Phase.WAITING_NEXT):
            self.phase = Phase.IDLE
            self.current = None
            return
        raise LifecycleError(f"/event/next may not be called in phase {self.phase.value}")

    def invoke(
        self, request_id: str, deadline_ms: int | None, trace_header: str | None = None
    ) -> Flush | None:
        """An INVOKE event arrived. Returns a flush at once if its done signal came first."""
        if self.phase is not Phase.IDLE:
            raise LifecycleError(f"INVOKE {request_id} is not expected in phase {self.phase.value}")
        self.phase = Phase.INVOKED
        self.current = Invocation(request_id, deadline_ms, trace_header)
        seen = self._early.pop(request_id, set())
        if self._anonymous_done:
            self._anonymous_done = False
            seen.add("done")
        self._seen = {request_id: seen}
        return self._ready()

    def handler_done(self, request_id: str | None) -> Flush | None:
        return self._signal("done", request_id)

    def response_sent(self, request_id: str | None) -> Flush | None:
        return self._signal("response", request_id)

    def deadline_near(self, now_ms: int) -> Flush | None:
        """The shell's timer fired: flush if the open invocation's fallback time has come."""
        if self.phase is not Phase.INVOKED or self.current is None:
            return None
        at = self.flush_at_ms()
        if at is None or now_ms < at:
            return None
        return self._start_flush(ExportReason.DEADLINE)

    def flush_finished(self, request_id: str) -> None:
        if self.phase is Phase.SHUTDOWN:
            return
        if self.phase is not Phase.FLUSHING or self.current is None:
            raise LifecycleError(f"no flush in progress (phase {self.phase.value})")
        if self.current.request_id != request_id:
            raise LifecycleError(
                f"flush finished for {request_id}, but {self.current.request_id} is flushing"
            )
        self.phase = Phase.WAITING_NEXT

    def shutdown(self) -> Flush | None:
        """SIGTERM: flush whatever is left, once; every later event is refused or ignored."""
        if self.phase is Phase.SHUTDOWN:
            return None
        deadline = self.current.deadline_ms if self.current is not None else None
        self.phase = Phase.SHUTDOWN
        return Flush(ExportReason.SHUTDOWN, None, deadline)

    # -- questions ----------------------------------------------------------------------------
    def flush_at_ms(self) -> int | None:
        """When the deadline fallback fires for the open invocation (wall-clock ms), if ever."""
        if self.current is None or self.current.deadline_ms is None:
            return None
        return self.current.deadline_ms - self.fallback_lead_ms

    # -- internals ----------------------------------------------------------------------------
    def _signal(self, kind: str, request_id: str | None) -> Flush | None:
        if self.phase is Phase.SHUTDOWN:
            return None
        current = self.current
        if request_id is not None and request_id in self._flushed:
            return None  # that invocation was flushed already: never twice
        if (
            self.phase is Phase.INVOKED
            and current is not None
            and (request_id is None or request_id == current.request_id)
        ):
            self._seen.setdefault(current.request_id, set()).add(kind)
            return self._ready()
        # Not the open invocation: it is one whose INVOKE has not arrived yet.
        if request_id is None:
            if self.phase in (Phase.INIT, Phase.IDLE) and kind == "done":
                self._anonymous_done = True
            return None
        if current is not None and request_id == current.request_id:
            return None  # the open invocation is already flushing or flushed
        self._early.setdefault(request_id, set()).add(kind)
        while len(self._early) > _MEMORY:
            self._early.popitem(last=False)
        return None

    def _ready(self) -> Flush | None:
        assert self.current is not None
        seen = self._seen.get(self.current.request_id, set())
        if "response" in seen:
            return self._start_flush(ExportReason.RESPONSE_SENT)
        if "done" in seen and not self.response_hook:
            return self._start_flush(ExportReason.HANDLER_DONE)
        return None

    def _start_flush(self, reason: ExportReason) -> Flush:
        assert self.current is not None
        self.phase = Phase.FLUSHING
        self._flushed[self.current.request_id] = None
        while len(self._flushed) > _MEMORY:
            self._flushed.popitem(last=False)
        return Flush(reason, self.current.request_id, self.current.deadline_ms)
