"""The emulator's HTTP front: the Runtime API and the Extensions API on 127.0.0.1.

Owns the server, parsing each request into a call, holding it while the model has no answer,
writing the answer and the exchange log; it must not decide anything (the model does) or touch
the runtime process (the supervisor does).
"""

from __future__ import annotations

import json
import threading
import time
from email.message import Message
from http.server import BaseHTTPRequestHandler
from typing import Any

from ._server import POLL_INTERVAL, QuietServer
from .calls import (
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
)
from .model import ExecutionEnvironment, Held
from .records import Exchange

RUNTIME_PREFIX = "/2018-06-01/runtime"
EXTENSION_PREFIX = "/2020-01-01/extension"
#: The longest a held request sleeps before it looks at the model again (changes wake it).
HOLD_POLL = 0.5

_FUNCTION_ERROR_TYPE = "Lambda-Runtime-Function-Error-Type"
_IDENTIFIER = "Lambda-Extension-Identifier"
_NAME = "Lambda-Extension-Name"


def parse(method: str, path: str, headers: Message, body: bytes) -> Call:
    """The call an HTTP request makes (``path`` without its query)."""
    if path.startswith(RUNTIME_PREFIX):
        return _runtime_call(method, path[len(RUNTIME_PREFIX) :], headers, body)
    if path.startswith(EXTENSION_PREFIX):
        return _extension_call(method, path[len(EXTENSION_PREFIX) :], headers, body)
    return NotFound(f"no such path {path}")


def _runtime_call(method: str, path: str, headers: Message, body: bytes) -> Call:
    if method == "GET" and path == "/invocation/next":
        return RuntimeNext()
    if method == "GET" and path == "/restore/next":
        return RestoreNext()
    if method == "POST" and path == "/restore/error":
        return RestoreError(body)
    if method == "POST" and path == "/init/error":
        return InitError(body, headers.get(_FUNCTION_ERROR_TYPE))
    parts = path.strip("/").split("/")
    if method == "POST" and len(parts) == 3 and parts[0] == "invocation":
        request_id, kind = parts[1], parts[2]
        if kind in ("response", "error"):
            return InvocationResult(request_id, kind, body, headers.get(_FUNCTION_ERROR_TYPE))
    return NotFound(f"unknown runtime path {path}")


def _extension_call(method: str, path: str, headers: Message, body: bytes) -> Call:
    if method == "POST" and path == "/register":
        accept = headers.get("Lambda-Extension-Accept-Feature") == "accountId"
        return Register(headers.get(_NAME), body, accept)
    identifier = headers.get(_IDENTIFIER)
    if method == "GET" and path == "/event/next":
        return EventNext(identifier)
    if method == "POST" and path in ("/init/error", "/exit/error"):
        return ExtensionError(identifier, headers.get("Lambda-Extension-Function-Error-Type"))
    return ExtensionPathUnknown(identifier, path)


class Front:
    """The HTTP server in front of one :class:`~.model.ExecutionEnvironment`.

    ``lock`` guards the model; every answer and state change wakes the held requests.
    """

    def __init__(self, model: ExecutionEnvironment, lock: threading.Condition) -> None:
        self._model = model
        self._cond = lock
        self._exchanges: list[Exchange] = []
        self._exchanges_lock = threading.Lock()
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out at once, no 40 ms stalls

            def do_GET(self) -> None:
                front._serve(self, "GET")

            def do_POST(self) -> None:
                front._serve(self, "POST")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            args=(POLL_INTERVAL,),
            name="lambda-emulator",
            daemon=True,
        )

    @property
    def address(self) -> str:
        """``127.0.0.1:<port>``."""
        return f"127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def exchanges(self) -> list[Exchange]:
        with self._exchanges_lock:
            return list(self._exchanges)

    def _serve(self, http: BaseHTTPRequestHandler, method: str) -> None:
        arrived = time.monotonic()
        path = http.path.split("?", 1)[0]
        length = int(http.headers.get("Content-Length") or 0)
        body = http.rfile.read(length) if length else b""
        call = parse(method, path, http.headers, body)
        actor = self._actor(path, http.headers)
        held: Held | None = None
        try:
            reply, held = self._answer(call)
            status, request_id = _write(http, reply), reply.request_id
        except (BrokenPipeError, ConnectionResetError):
            status, request_id = 499, None  # the client went away while we answered
        finally:
            if held is not None:
                with self._cond:
                    self._model.release(held)
        exchange = Exchange(arrived, time.monotonic(), actor, method, path, status, request_id)
        with self._exchanges_lock:
            self._exchanges.append(exchange)

    def _actor(self, path: str, headers: Message) -> str:
        """``runtime``, or ``extension:<name>`` (the registered name, else the header's)."""
        if not path.startswith(EXTENSION_PREFIX):
            return "runtime"
        with self._cond:
            name = self._model.extensions.name(headers.get(_IDENTIFIER))
        return "extension:" + (name if name is not None else headers.get(_NAME, "?"))

    def _answer(self, call: Call) -> tuple[Reply, Held | None]:
        """The model's answer, waiting for it while the model holds the request."""
        with self._cond:
            answer = self._model.handle(call, time.monotonic())
            self._cond.notify_all()
            if not isinstance(answer, Held):
                return answer, None
            while (reply := self._model.poll(answer, time.monotonic())) is None:
                self._cond.wait(HOLD_POLL)
            self._cond.notify_all()
            return reply, answer


def _write(http: BaseHTTPRequestHandler, reply: Reply) -> int:
    """Send ``reply`` (JSON unless its body is bytes); returns the status for the log."""
    if reply.hang_up:
        http.close_connection = True
        return reply.status
    if reply.delay > 0:
        time.sleep(reply.delay)
    data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
    http.send_response(reply.status)
    http.send_header("Content-Type", "application/json")
    http.send_header("Content-Length", str(len(data)))
    for key, value in reply.headers.items():
        http.send_header(key, value)
    http.end_headers()
    http.wfile.write(data)
    return reply.status
