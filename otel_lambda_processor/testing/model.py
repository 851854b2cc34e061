"""The sans-IO model of one Lambda execution environment behind the Runtime and Extensions APIs.

Owns the state and every decision; it must not touch sockets, threads, processes or the clock
(the caller passes the time in, and its lock guards every call).

Each request comes in as a call from :mod:`.calls`; :meth:`ExecutionEnvironment.handle` answers
it now (a :class:`~.calls.Reply`) or holds it (a :class:`Held`, polled with
:meth:`~ExecutionEnvironment.poll` whenever the state changes, as Lambda holds ``/next``). The
supervisor reports what happens to the runtime process; the watchdog's tick
(:meth:`~ExecutionEnvironment.expire`) times invocations out. The model keeps its extensions in
:mod:`.registry` and its invocations in :mod:`.invocations`; what differs between on-demand
environments and Managed Instances is the :mod:`.policy`'s.

    REGISTRATION --runtime's first next--> INIT --every extension called next--> READY
    READY --the runtime takes an invocation--> OPEN --result posted--> the caller has it
    OPEN --runtime and each INVOKE extension call next again--> over (Managed Instances: at
         the result)
    OPEN --deadline passed, or the runtime died--> reset: REGISTRATION, with a new runtime

Where we follow the documentation (and real Lambda) rather than copy AWS's runtime interface
emulator, or simplify on purpose:

- Registration closes when the runtime first calls ``/invocation/next``; init is over when it
  has, and every extension has called ``/event/next`` once (or reported an error).
- Every extension here runs inside the runtime process, so all are internal (no SHUTDOWN
  event): see :mod:`.registry`.
- The caller gets the response as soon as the runtime posts it (see :class:`~.policy.OnDemand`;
  the runtime interface emulator waits for the extensions, real Lambda does not).
- The deadline is set when the caller invokes, so a long init or a queued invocation eats into
  it here; Lambda starts the function timeout when the invoke phase begins, after init. A
  response over 6 MB is 413, before its request id is looked at.
- A runtime process that ends during an invocation answers it ``Runtime.ExitError`` and the
  environment is reset (a new init), as after a timeout. One that ends before its first
  invocation, or reports ``/init/error`` or ``/restore/error``, failed its init.
- SnapStart's ``/restore/next`` is answered at once: there is no snapshot to restore.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .calls import (
    ABANDONED,
    ACCEPTED,
    Call,
    EventNext,
    ExtensionError,
    ExtensionPathUnknown,
    InitError,
    InvocationResult,
    NotFound,
    Register,
    Reply,
    RestoreError,
    RestoreNext,
    RuntimeNext,
    decode,
)
from .invocations import Invocation, Invocations
from .policy import Policy
from .records import exit_status
from .registry import Extension, Extensions, PlainSettings, Settings


class Run:
    """One runtime process as the model knows it (the supervisor's subclass holds the process)."""

    def __init__(self) -> None:
        self.served = 0  # invocations it took
        self.returncode: int | None = None  # set when the process has ended
        self.expected_exit = False  # the emulator ends it (shutdown, reset, stop)


@dataclass(eq=False)
class Held:
    """A request the model keeps open until it can answer (``/invocation/next``, ``/event/next``).

    ``generation`` is the environment's when the request came: a reset or a stop abandons it.
    """

    generation: int
    extension: Extension | None = None  # whose /event/next this is (None: the runtime's next)
    answer: Reply | None = None  # decided already (an injected failure), written at once


def _new_id() -> str:
    return str(uuid.uuid4())


class ExecutionEnvironment:
    """One execution environment: what it answers each request, tick and process event.

    Call everything under one lock, and wake the polls of held requests after each call that
    returned an answer or changed the state (every call except a :meth:`poll` that returned
    ``None``).
    """

    def __init__(
        self,
        policy: Policy,
        settings: Settings | None = None,
        *,
        new_id: Callable[[], str] = _new_id,
    ) -> None:
        self.policy = policy
        self.settings: Settings = settings if settings is not None else PlainSettings()
        self.new_id = new_id
        self.extensions = Extensions(new_id)
        self.invocations = Invocations(new_id)
        self.runtime_asked = False
        self.init_error: Any = None  # what the current runtime posted to /init/error
        self.generation = 0  # bumps on every reset and stop: held requests give up
        self.resetting = False  # a timed-out runtime is being killed: hand it no more work
        self.run: Run | None = None
        self.stopped = False
        self.resets = 0

    # -- requests -----------------------------------------------------------------------------
    def handle(self, call: Call, now: float) -> Reply | Held:
        """A request arrived at ``now``: its answer, or a :class:`Held` to poll."""
        match call:
            case RuntimeNext():
                self.extensions.close()
                self.runtime_asked = True
                self.invocations.runtime_next(now)
                return Held(self.generation)
            case InvocationResult():
                return self.invocations.result(call, now, ends=self.policy.ends_at_response)
            case EventNext(identifier):
                return self._event_next(identifier, now)
            case Register():
                return self.extensions.register(call, self.policy, self.settings)
            case ExtensionError(identifier, error_type):
                failed = self.extensions.error_reported(identifier, error_type)
                if isinstance(failed, Reply):
                    return failed
                self.invocations.release(failed.id, now)
                return ACCEPTED
            case ExtensionPathUnknown(identifier, path):
                known = self.extensions.known(identifier)
                if isinstance(known, Reply):
                    return known
                return Reply.error(404, "NotFound", f"unknown extension path {path}")
            case InitError(body, error_type):
                reported = decode(body)
                error = dict(reported) if isinstance(reported, dict) else {}
                if not error.get("errorType"):
                    error["errorType"] = error_type or "Runtime.Unknown"
                self.init_error = error
                return ACCEPTED
            case RestoreError(body):
                self.init_error = decode(body) or {"errorType": "Runtime.AfterRestoreError"}
                return ACCEPTED
            case RestoreNext():
                return Reply(200, b"")  # no snapshot here: the restore is at once
            case NotFound(message):
                return Reply.error(404, "NotFound", message)
        raise TypeError(f"not a call: {call!r}")

    def poll(self, held: Held, now: float) -> Reply | None:
        """The answer to a held request if there is one now, else ``None`` (keep holding)."""
        if held.extension is None:
            return self._take_invocation(held, now)
        if held.answer is not None:
            return held.answer
        extension = held.extension
        if extension.queue:
            event = extension.queue.popleft()
            headers = {"Lambda-Extension-Event-Identifier": self.new_id()}
            delay = self.settings.extension_event_delay
            return Reply(200, event, headers, event.get("requestId"), delay=delay)
        return self._abandoned(held)

    def release(self, held: Held) -> None:
        """The held request's answer has been written: its extension may call next again."""
        if held.extension is not None:
            held.extension.waiting = False

    # -- the caller ---------------------------------------------------------------------------
    def init_complete(self) -> bool:
        """The runtime asked for work and every extension called next (or reported an error)."""
        return self.runtime_asked and self.extensions.all_called_next()

    def init_failed(self) -> Run | None:
        """The current run, if it failed its init: it reported an init error, or it ended (not
        by the emulator's hand) before it took an invocation."""
        run = self.run
        if run is None or run.expected_exit or run.served > 0:
            return None
        if self.init_error is not None or run.returncode is not None:
            return run
        return None

    def withdraw_if_init_failed(self, invocation: Invocation) -> Run | None:
        """The failed run, if ``invocation`` is still queued and no runtime will ever take it
        (it is taken out of the queue then)."""
        queue = self.invocations.queue
        if invocation not in queue:
            return None
        failed = self.init_failed()
        if failed is not None:
            queue.remove(invocation)
        return failed

    # -- the runtime process and the clock ----------------------------------------------------
    def launched(self, run: Run) -> None:
        """A new runtime process started: it is the one whose init counts now."""
        self.run = run
        self.init_error = None

    def expect_exit(self) -> Run | None:
        """The emulator is about to end the current run: its exit is no failure."""
        run = self.run
        if run is not None:
            run.expected_exit = True
        return run

    def run_ended(self, run: Run, returncode: int, now: float) -> bool:
        """A runtime process ended. ``True``: it died by itself during an invocation, which
        gets ``Runtime.ExitError``; the environment was reset, start a new runtime."""
        run.returncode = returncode
        if run is not self.run or run.expected_exit or self.stopped or run.served == 0:
            return False  # ended by us, replaced, or an init failure (init_failed says it)
        self.invocations.runtime_exited(exit_status(returncode), now)
        self._reset()
        return True

    def expire(self, epoch: float) -> Invocation | None:
        """The watchdog's tick at wall-clock ``epoch`` (seconds): an open invocation past its
        deadline is timed out. Nothing of it is accepted any more and no work is handed out
        until the supervisor has killed the runtime and called :meth:`timed_out`."""
        if not self.policy.enforces_deadline:
            return None
        expired = self.invocations.expire(epoch)
        if expired is not None:
            self.expect_exit()
            self.resetting = True
        return expired

    def deadline_left(self, epoch: float) -> float | None:
        """Seconds until the next deadline the watchdog must enforce, if there is one."""
        if not self.policy.enforces_deadline:
            return None
        return self.invocations.deadline_left(epoch)

    def timed_out(self, invocation: Invocation) -> None:
        """The runtime of an expired invocation is gone: the caller learns of the timeout, and
        the environment is reset (a new init on the next invoke)."""
        self.invocations.timed_out(invocation)
        self.resetting = False
        self._reset()

    def release_held(self) -> None:
        """Give up every held request (shutdown, stop): they answer nothing and close."""
        self.generation += 1

    def stop(self) -> None:
        """The emulator stops: its runtime is ended by its hand, nothing is served any more."""
        self.stopped = True
        self.expect_exit()

    # -- internals ----------------------------------------------------------------------------
    def _take_invocation(self, held: Held, now: float) -> Reply | None:
        invocations = self.invocations
        room = len(invocations.open) < self.policy.capacity
        ready = self.init_complete() or not self.policy.waits_for_extensions
        if not (invocations.queue and room and ready and not self.resetting):
            return self._abandoned(held)
        invocation = invocations.start(now)
        if self.run is not None:
            self.run.served += 1
        if self.policy.sends_invoke:
            for extension in self.extensions.subscribers():
                invocation.waiting_for.add(extension.id)
                extension.queue.append(invocation.invoke_event())
        return Reply(200, invocation.event, invocation.runtime_headers(), invocation.id)

    def _event_next(self, identifier: str | None, now: float) -> Reply | Held:
        failure = self.settings.extension_api_status
        extension = self.extensions.next_called(identifier, failing=failure is not None)
        if isinstance(extension, Reply):
            return extension
        if not extension.queue:  # done with the open invocation, unless its events still wait
            self.invocations.release(extension.id, now)
        if failure is None:
            return Held(self.generation, extension)
        answer = Reply.error(failure or 500, "Extension.Failure", "injected failure")
        return Held(self.generation, extension, answer)

    def _abandoned(self, held: Held) -> Reply | None:
        """A held request with nothing to answer: given up if its environment went away."""
        if held.generation != self.generation or self.stopped:
            return ABANDONED
        return None

    def _reset(self) -> None:
        """Throw the environment away: a new init follows (queued invocations wait for it)."""
        self.resets += 1
        self.generation += 1
        self.extensions.clear()
        self.runtime_asked = False
