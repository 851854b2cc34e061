"""A real OTLP/HTTP trace receiver on 127.0.0.1 for tests, demos and benchmarks.

It decodes every request with ``opentelemetry-proto`` (gzip and deflate included), keeps the
spans, and can be told to misbehave: answer an HTTP status, hang, or drop the connection.
"""

from __future__ import annotations

import gzip
import ssl
import threading
import time
import zlib
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanProto

from ._server import POLL_INTERVAL
from ._server import QuietServer as _QuietServer

TRACES_PATH = "/v1/traces"
MAX_BODY = 64 * 1024 * 1024  # the OTLP exporter's own default request limit


@dataclass(frozen=True)
class Fault:
    """What the receiver does with one request instead of accepting it.

    ``status``: answer this HTTP status; ``hang``: hold the request this many seconds (or until
    :meth:`OTLPReceiver.release`) before answering ``status`` or 200; ``close``: drop the
    connection without an answer; ``retry_after``: send this ``Retry-After`` header with
    ``status``.
    """

    status: int | None = None
    hang: float | None = None
    close: bool = False
    retry_after: str | None = None


@dataclass(frozen=True)
class ReceivedSpan:
    """One decoded span with the resource and scope it was sent under."""

    span: SpanProto
    resource: dict[str, Any]
    scope_name: str
    #: ``time.monotonic()`` when the request that carried it arrived.
    received_at: float = 0.0

    @property
    def name(self) -> str:
        return self.span.name

    @property
    def span_id(self) -> bytes:
        return self.span.span_id

    @property
    def attributes(self) -> dict[str, Any]:
        return _attributes(self.span.attributes)


@dataclass
class ReceivedRequest:
    """One HTTP request as it arrived (accepted or not)."""

    at: float
    span_count: int
    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    #: The body as it arrived (still compressed), when the receiver keeps bodies.
    body: bytes = b""


def _any_value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind) if kind else None


def _attributes(kvs: Any) -> dict[str, Any]:
    return {kv.key: _any_value(kv.value) for kv in kvs}


class OTLPReceiver:
    """Receive OTLP/HTTP protobuf trace exports on ``127.0.0.1`` (a free port by default).

    Use as a context manager, or call :meth:`start` and :meth:`stop`. :attr:`endpoint` is the
    URL to give ``OTLPSpanExporter(endpoint=...)``. ``latency`` delays every answer, as a
    collector across a network would. ``keep_bodies`` keeps each request's raw body. ``tls``: a
    server-side ``ssl.SSLContext`` to serve HTTPS with (its verify mode decides whether clients
    must present a certificate).
    """

    def __init__(
        self,
        port: int = 0,
        *,
        latency: float = 0.0,
        keep_bodies: bool = False,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        #: Seconds every request waits before it is answered: a collector across a network.
        self.latency = latency
        self.keep_bodies = keep_bodies
        self._lock = threading.Condition()
        self._spans: list[ReceivedSpan] = []
        self._undecoded: list[tuple[Any, float]] = []  # (request, arrival) not yet unpacked
        self._span_count = 0
        self._requests: list[ReceivedRequest] = []
        self._faults: deque[Fault] = deque()
        self._release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out at once, no 40 ms stalls

            def do_POST(self) -> None:
                receiver._handle(self)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self._server = _QuietServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._scheme = "http"
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
            self._scheme = "https"
        self._thread: threading.Thread | None = None

    # -- life ---------------------------------------------------------------------------------
    def start(self) -> OTLPReceiver:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            args=(POLL_INTERVAL,),
            name="otlp-receiver",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> OTLPReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def endpoint(self) -> str:
        return f"{self._scheme}://127.0.0.1:{self.port}{TRACES_PATH}"

    # -- faults -------------------------------------------------------------------------------
    def inject(self, fault: Fault, times: int = 1) -> None:
        """Apply ``fault`` to the next ``times`` requests."""
        with self._lock:
            self._faults.extend([fault] * times)
            self._release.clear()

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def release(self) -> None:
        """Let every hanging request go on."""
        self._release.set()

    # -- what arrived -------------------------------------------------------------------------
    @property
    def spans(self) -> list[ReceivedSpan]:
        with self._lock:
            for request, arrived in self._undecoded:
                self._spans += _received_spans(request, arrived)
            self._undecoded.clear()
            return list(self._spans)

    @property
    def span_count(self) -> int:
        """How many spans have been accepted, without unpacking them."""
        with self._lock:
            return self._span_count

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._requests)

    def span_names(self) -> list[str]:
        return [s.name for s in self.spans]

    def wait_for_spans(self, count: int, timeout: float = 10.0) -> bool:
        """Block until at least ``count`` spans have been accepted, or ``timeout`` seconds."""
        end = time.monotonic() + timeout
        with self._lock:
            while self._span_count < count:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
            return True

    def reset(self) -> None:
        with self._lock:
            self._spans.clear()
            self._undecoded.clear()
            self._span_count = 0
            self._requests.clear()
            self._faults.clear()

    # -- the HTTP side ------------------------------------------------------------------------
    def _handle(self, http: BaseHTTPRequestHandler) -> None:
        arrived = time.monotonic()
        length = int(http.headers.get("Content-Length") or 0)
        if http.path != TRACES_PATH or length > MAX_BODY:
            self._answer(http, 404 if http.path != TRACES_PATH else 413, b"")
            return
        body = http.rfile.read(length)
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
        headers = {k.lower(): v for k, v in http.headers.items()}
        kept = body if self.keep_bodies else b""
        if self.latency > 0:
            time.sleep(self.latency)
        if fault is not None and fault.hang is not None:
            self._release.wait(fault.hang)
        if fault is not None and fault.close:
            self._record(ReceivedRequest(arrived, 0, None, headers, kept))
            http.close_connection = True
            http.connection.close()
            return
        if fault is not None and fault.status is not None and fault.status != 200:
            self._record(ReceivedRequest(arrived, 0, fault.status, headers, kept))
            extra = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            self._answer(http, fault.status, b"", extra)
            return
        try:
            request = ExportTraceServiceRequest.FromString(_decompress(http, body))
        except Exception:
            self._record(ReceivedRequest(arrived, 0, 400, headers, kept))
            self._answer(http, 400, b"")
            return
        count = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
        self._record(ReceivedRequest(arrived, count, 200, headers, kept), (request, arrived))
        self._answer(http, 200, ExportTraceServiceResponse().SerializeToString())

    def _record(self, request: ReceivedRequest, accepted: tuple[Any, float] | None = None) -> None:
        """Note a request; an accepted one's spans are unpacked when :attr:`spans` is read."""
        with self._lock:
            self._requests.append(request)
            if accepted is not None:
                self._undecoded.append(accepted)
                self._span_count += request.span_count
            self._lock.notify_all()

    @staticmethod
    def _answer(
        http: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
    ) -> None:
        http.send_response(status)
        for name, value in (headers or {}).items():
            http.send_header(name, value)
        http.send_header("Content-Type", "application/x-protobuf")
        http.send_header("Content-Length", str(len(body)))
        http.end_headers()
        http.wfile.write(body)


def _received_spans(request: Any, arrived: float) -> list[ReceivedSpan]:
    spans = []
    for rs in request.resource_spans:
        resource = _attributes(rs.resource.attributes)  # once per resource, shared
        for ss in rs.scope_spans:
            scope = ss.scope.name
            spans += [ReceivedSpan(span, resource, scope, arrived) for span in ss.spans]
    return spans


def _decompress(http: BaseHTTPRequestHandler, body: bytes) -> bytes:
    encoding = (http.headers.get("Content-Encoding") or "").lower()
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    return body
