"""The requests the emulator's model understands and the answers it gives, as plain values.

Owns the vocabulary only: the HTTP front builds these from requests and writes the answers back.
It must not import the model, the front or the supervisor.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Union


# -- Runtime API (/2018-06-01/runtime) -------------------------------------------------------------
@dataclass(frozen=True)
class RuntimeNext:
    """``GET /invocation/next``: the runtime asks for work (held until there is some)."""


@dataclass(frozen=True)
class InvocationResult:
    """``POST /invocation/{id}/response`` or ``/error``."""

    request_id: str
    kind: str  # "response" or "error"
    body: bytes
    error_type: str | None = None  # the Lambda-Runtime-Function-Error-Type header


@dataclass(frozen=True)
class InitError:
    """``POST /init/error``: the runtime failed its init."""

    body: bytes
    error_type: str | None = None  # the Lambda-Runtime-Function-Error-Type header


@dataclass(frozen=True)
class RestoreNext:
    """``GET /restore/next``: SnapStart; the runtime's init is done, it waits for the restore."""


@dataclass(frozen=True)
class RestoreError:
    """``POST /restore/error``: an after-restore hook failed."""

    body: bytes


# -- Extensions API (/2020-01-01/extension) --------------------------------------------------------
@dataclass(frozen=True)
class Register:
    """``POST /register``."""

    name: str | None  # the Lambda-Extension-Name header
    body: bytes
    accept_account_id: bool = False  # Lambda-Extension-Accept-Feature: accountId


@dataclass(frozen=True)
class EventNext:
    """``GET /event/next``: the extension is ready for its next event (held until there is one)."""

    identifier: str | None  # the Lambda-Extension-Identifier header


@dataclass(frozen=True)
class ExtensionError:
    """``POST /init/error`` or ``/exit/error`` of an extension."""

    identifier: str | None
    error_type: str | None  # the Lambda-Extension-Function-Error-Type header


@dataclass(frozen=True)
class ExtensionPathUnknown:
    """Any other Extensions API path: refused after the identifier is checked, as in Lambda."""

    identifier: str | None
    path: str


@dataclass(frozen=True)
class NotFound:
    """A path neither API serves."""

    message: str


Call = Union[
    RuntimeNext,
    InvocationResult,
    InitError,
    RestoreNext,
    RestoreError,
    Register,
    EventNext,
    ExtensionError,
    ExtensionPathUnknown,
    NotFound,
]


def decode(body: bytes) -> Any:
    """The JSON value of a request body; ``None`` if it is empty or not JSON."""
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


# -- answers ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reply:
    """What to answer: a status, a body (a JSON value, or bytes sent as they are), headers."""

    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    request_id: str | None = None  # the invocation the exchange belongs to, where there is one
    delay: float = 0.0  # seconds to wait before answering (an injected late event)
    hang_up: bool = False  # close without an answer: the environment went away under the request

    @classmethod
    def error(cls, status: int, kind: str, message: str, *, request_id: str | None = None) -> Reply:
        """Lambda's error body: ``{"errorMessage": ..., "errorType": ...}``."""
        return cls(status, {"errorMessage": message, "errorType": kind}, request_id=request_id)


#: ``202 {"status": "OK"}``: what Lambda answers a report it accepted.
ACCEPTED = Reply(202, {"status": "OK"})
#: A held request given up because its environment was reset or stopped: the connection closes,
#: nothing is written (status 499 in the exchange log).
ABANDONED = Reply(499, hang_up=True)
