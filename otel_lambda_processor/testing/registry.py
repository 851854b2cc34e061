"""The extensions of one execution environment: registration window, identifiers, their events.

Owns what the Extensions API answers about extensions themselves; it must not touch the
invocations (the model decides when one ends), sockets, threads, processes or the clock.

Every extension here runs inside the runtime process, so all are internal: registering for
SHUTDOWN is refused (403 ``Extension.InvalidEventType``; internal extensions learn of shutdown
through SIGTERM), at most 10 may register, registration closes when the runtime first asks for
work, one ``/event/next`` per extension may be held at a time (a second is 403
``Extension.InvalidExtensionState``), and an extension that reported an error gets 403 for every
later call, as in Lambda.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .calls import Register, Reply, decode
from .policy import Policy

MAX_EXTENSIONS = 10


class Settings(Protocol):
    """What the model reads from its owner each time it needs it (tests change the faults)."""

    function_name: str
    handler: str
    account_id: str
    #: Refuse registration with 403 ``Extension.RegistrationClosed`` (as after a lost race).
    refuse_registration: bool
    #: Answer every ``/event/next`` with this status, losing the extension's queued events.
    extension_api_status: int | None
    #: Hold each event this long before handing it to an extension (a late INVOKE).
    extension_event_delay: float


@dataclass
class PlainSettings:
    """:class:`Settings` as plain values, for a model without an emulator around it."""

    function_name: str = "emulated-function"
    handler: str = "app.handler"
    account_id: str = "123456789012"
    refuse_registration: bool = False
    extension_api_status: int | None = None
    extension_event_delay: float = 0.0


class Extension:
    """A registered extension: its events, whether it called next, its queue of events."""

    def __init__(self, identifier: str, name: str, events: list[str]) -> None:
        self.id = identifier
        self.name = name
        self.events = events
        self.called_next = False
        self.failed = False
        self.waiting = False  # a /event/next of this extension is being held open
        self.queue: deque[dict[str, Any]] = deque()


class Extensions:
    """The registered extensions and whether registration is still open."""

    def __init__(self, new_id: Callable[[], str]) -> None:
        self.new_id = new_id
        self.by_id: dict[str, Extension] = {}
        self.registration_open = True

    def register(self, call: Register, policy: Policy, settings: Settings) -> Reply:
        """``POST /register``: the new extension's identifier, or why it is refused."""
        if settings.refuse_registration:
            return Reply.error(403, "Extension.RegistrationClosed", "registration is closed")
        if not call.name:
            return Reply.error(403, "Extension.MissingHeader", "missing extension name")
        request = decode(call.body)
        events = request.get("events") if isinstance(request, dict) else None
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            return Reply.error(403, "Extension.InvalidRequestFormat", "bad request body")
        if any(e != "INVOKE" for e in events):  # SHUTDOWN too: internal extensions may not
            message = f"invalid events for internal: {events}"
            return Reply.error(403, "Extension.InvalidEventType", message)
        refused = policy.refuse_events(events)
        if refused is not None:
            return Reply.error(403, "Extension.InvalidEventType", refused)
        if not self.registration_open:
            return Reply.error(403, "Extension.RegistrationClosed", "registration is closed")
        if len(self.by_id) >= MAX_EXTENSIONS:
            return Reply.error(403, "Extension.TooManyExtensions", "too many")
        extension = Extension(self.new_id(), call.name, list(events))
        self.by_id[extension.id] = extension
        body = {
            "functionName": settings.function_name,
            "functionVersion": "$LATEST",
            "handler": settings.handler,
        }
        if call.accept_account_id:
            body["accountId"] = settings.account_id
        return Reply(200, body, {"Lambda-Extension-Identifier": extension.id})

    def known(self, identifier: str | None) -> Extension | Reply:
        """The extension a call comes from, or why the call is refused."""
        if not identifier:
            message = "missing identifier"
            return Reply.error(403, "Extension.MissingExtensionIdentifier", message)
        extension = self.by_id.get(identifier)
        if extension is None:
            message = "unknown identifier"
            return Reply.error(403, "Extension.UnknownExtensionIdentifier", message)
        if extension.failed:
            message = "extension reported an error"
            return Reply.error(403, "Extension.InvalidExtensionState", message)
        return extension

    def next_called(self, identifier: str | None, failing: bool) -> Extension | Reply:
        """``GET /event/next``: the extension now waiting for its next event, or the refusal.

        ``failing``: the API is down (an injected failure): the events queued for it are lost.
        """
        extension = self.known(identifier)
        if isinstance(extension, Reply):
            return extension
        if extension.waiting:
            message = "already waiting for an event"
            return Reply.error(403, "Extension.InvalidExtensionState", message)
        extension.waiting = True
        extension.called_next = True
        if failing:
            extension.queue.clear()
        return extension

    def error_reported(self, identifier: str | None, error_type: str | None) -> Extension | Reply:
        """``POST /init/error`` or ``/exit/error``: the extension that failed, or the refusal."""
        extension = self.known(identifier)
        if isinstance(extension, Reply):
            return extension
        if not error_type:
            return Reply.error(403, "Extension.MissingHeader", "missing error type")
        extension.failed = True
        return extension

    def subscribers(self) -> list[Extension]:
        """The extensions that get an INVOKE event."""
        return [e for e in self.by_id.values() if "INVOKE" in e.events and not e.failed]

    def all_called_next(self) -> bool:
        """Every extension has called next once (or reported an error): their init is over."""
        return all(e.called_next or e.failed for e in self.by_id.values())

    def name(self, identifier: str | None) -> str | None:
        extension = self.by_id.get(identifier or "")
        return extension.name if extension is not None else None

    def listed(self) -> list[tuple[str, list[str]]]:
        """``(name, events)`` of every registered extension."""
        return [(e.name, list(e.events)) for e in self.by_id.values()]

    def close(self) -> None:
        """The runtime asked for work: no more registrations."""
        self.registration_open = False

    def clear(self) -> None:
        """The environment was reset: nobody is registered and registration opens again."""
        self.by_id.clear()
        self.registration_open = True
