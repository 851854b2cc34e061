"""The Extensions API client: registration and ``/event/next`` over urllib3, bounded answers.

Owns the HTTP calls to ``AWS_LAMBDA_RUNTIME_API`` (never another host) and reading their answers
defensively; must not decide anything about the lifecycle (that is :mod:`.coordinator` and
:mod:`.lifecycle`) nor publish a signal.
"""

from __future__ import annotations

import json
import re
from typing import Any

from opentelemetry.context import attach, create_key, detach, set_value

try:  # the keys OpenTelemetry instrumentations check; private, so guard them
    from opentelemetry.context import (
        _SUPPRESS_HTTP_INSTRUMENTATION_KEY as _SUPPRESS_HTTP,
    )
    from opentelemetry.context import (
        _SUPPRESS_INSTRUMENTATION_KEY as _SUPPRESS,
    )
except ImportError:  # pragma: no cover
    _SUPPRESS = create_key("suppress_instrumentation")
    _SUPPRESS_HTTP = create_key("suppress_http_instrumentation")

EXTENSION_NAME = "otel-lambda-processor"
API_PATH = "/2020-01-01/extension"
#: Responses of the Extensions API are small JSON documents; anything larger is refused.
MAX_RESPONSE_BYTES = 1024 * 1024


#: Compiled (and cached by ``re``) on first use: only a failing call needs it.
_ERROR_TYPE = r"[A-Za-z][A-Za-z0-9_.]{0,63}"


def _read_bounded(response: Any) -> bytes | None:
    """The body, or None when it is (or says it is) larger than MAX_RESPONSE_BYTES.

    An oversized answer is refused on its Content-Length before any of it is read, and its
    connection is closed rather than pooled, so unread bytes never reach the next request.
    """
    declared = response.headers.get("Content-Length")
    if declared is not None and _declares_too_much(declared):
        response.close()
        return None
    data: bytes = response.read(MAX_RESPONSE_BYTES + 1)
    if len(data) > MAX_RESPONSE_BYTES:
        response.close()
        return None
    return data


def _declares_too_much(declared: str) -> bool:
    text = declared.strip()
    if not (text.isascii() and text.isdigit()):
        return False  # malformed: the bounded read below still applies
    return len(text) > 12 or int(text) > MAX_RESPONSE_BYTES


class ExtensionsApiError(Exception):
    """The Extensions API refused or failed a call."""

    def __init__(self, message: str, status: int | None = None, error_type: str | None = None):
        super().__init__(message)
        self.status = status
        self.error_type = error_type


class ExtensionsApi:
    """A urllib3 client that talks to the given ``host:port`` and nothing else."""

    def __init__(self, runtime_api: str) -> None:
        import urllib3  # lazily: about 30 ms of import, paid only inside Lambda

        self._urllib3 = urllib3
        host, _, port = runtime_api.rpartition(":")
        self._host = host.strip("[]")
        self._port = int(port)
        self._pool = self._new_pool()

    def _new_pool(self) -> Any:
        return self._urllib3.HTTPConnectionPool(
            self._host, self._port, maxsize=2, block=False, retries=False
        )

    def reset(self) -> None:
        """Drop pooled connections (after a SnapStart restore they point at nothing)."""
        old, self._pool = self._pool, self._new_pool()
        old.close()

    def _call(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes | None = None,
        read_timeout: float | None = 5.0,
    ) -> tuple[int, Any, Any]:
        token = attach(set_value(_SUPPRESS_HTTP, True, set_value(_SUPPRESS, True)))
        try:
            response = self._pool.urlopen(
                method,
                API_PATH + path,
                body=body,
                headers=headers,
                timeout=self._urllib3.Timeout(connect=2.0, read=read_timeout),
                retries=False,
                redirect=False,
                preload_content=False,
            )
            try:
                data = _read_bounded(response)
            finally:
                response.release_conn()
        except self._urllib3.exceptions.HTTPError as error:
            raise ExtensionsApiError(f"{method} {path} failed: {error}") from None
        finally:
            detach(token)
        if data is None:
            raise ExtensionsApiError(f"{method} {path}: response larger than {MAX_RESPONSE_BYTES}")
        try:
            payload = json.loads(data) if data else None
        except ValueError:
            payload = None
        if response.status >= 300:
            error_type = payload.get("errorType") if isinstance(payload, dict) else None
            if not (isinstance(error_type, str) and re.fullmatch(_ERROR_TYPE, error_type)):
                error_type = None  # logged later: only Lambda's own short names, never content
            raise ExtensionsApiError(
                f"{method} {path} answered {response.status} {error_type or ''}".strip(),
                response.status,
                error_type,
            )
        return response.status, response.headers, payload

    def register(self, events: list[str]) -> str:
        _, headers, _ = self._call(
            "POST",
            "/register",
            {"Lambda-Extension-Name": EXTENSION_NAME, "Content-Type": "application/json"},
            json.dumps({"events": events}).encode(),
        )
        identifier = headers.get("Lambda-Extension-Identifier")
        if not identifier:
            raise ExtensionsApiError("registration answered without an identifier")
        return str(identifier)

    def next_event(self, identifier: str) -> dict[str, Any]:
        """Block until the next event: no read timeout, or an INVOKE could be lost."""
        _, _, payload = self._call(
            "GET", "/event/next", {"Lambda-Extension-Identifier": identifier}, read_timeout=None
        )
        if not isinstance(payload, dict):
            raise ExtensionsApiError("event/next answered something that is not a JSON object")
        return payload
