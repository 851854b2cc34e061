"""A real OTLP/HTTP receiver on 127.0.0.1 for tests, demos and benchmarks: traces, logs, metrics.

It decodes every request with ``opentelemetry-proto`` (gzip and deflate included), keeps the
spans, log records and metric points, and can be told to misbehave: answer an HTTP status, hang,
or drop the connection.

Owns the HTTP server, the fault injection and the answers; it must not keep or query what
arrived itself (:mod:`.arrivals` does).
"""

from __future__ import annotations

import gzip
import ssl
import threading
import time
import zlib
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from ._decode import ExponentialBuckets, ReceivedLogRecord, ReceivedMetricPoint, ReceivedSpan
from ._server import POLL_INTERVAL
from ._server import QuietServer as _QuietServer
from .arrivals import LOGS_PATH, METRICS_PATH, TRACES_PATH, Arrivals, ReceivedRequest

__all__ = [
    "LOGS_PATH",
    "MAX_BODY",
    "METRICS_PATH",
    "TRACES_PATH",
    "ExponentialBuckets",
    "Fault",
    "OTLPReceiver",
    "ReceivedLogRecord",
    "ReceivedMetricPoint",
    "ReceivedRequest",
    "ReceivedSpan",
]

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


class OTLPReceiver(Arrivals):
    """Receive OTLP/HTTP protobuf exports of traces, logs and metrics on ``127.0.0.1``.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. :attr:`endpoint` is the
    URL to give ``OTLPSpanExporter(endpoint=...)``; :attr:`logs_endpoint` and
    :attr:`metrics_endpoint` are the other signals', :attr:`base_endpoint` is what
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` takes. ``port``: 0 picks a free one. ``latency`` delays
    every answer, as a collector across a network would. ``keep_bodies`` keeps each request's
    raw body. ``tls``: a server-side ``ssl.SSLContext`` to serve HTTPS with (its verify mode
    decides whether clients must present a certificate).

    What arrived: :attr:`spans`, :attr:`span_count` and :attr:`requests` are properties (as
    they always were); :meth:`logs`, :meth:`log_count`, :meth:`metric_points` and
    :meth:`metric_point_count` are methods (all from :class:`~.arrivals.Arrivals`).
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
        super().__init__()
        self._faults: deque[tuple[Fault, str | None]] = deque()  # (fault, only for this path)
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
    def base_endpoint(self) -> str:
        """``scheme://127.0.0.1:port``, for ``OTEL_EXPORTER_OTLP_ENDPOINT``."""
        return f"{self._scheme}://127.0.0.1:{self.port}"

    @property
    def endpoint(self) -> str:
        """The traces URL."""
        return self.base_endpoint + TRACES_PATH

    @property
    def traces_endpoint(self) -> str:
        return self.base_endpoint + TRACES_PATH

    @property
    def logs_endpoint(self) -> str:
        return self.base_endpoint + LOGS_PATH

    @property
    def metrics_endpoint(self) -> str:
        return self.base_endpoint + METRICS_PATH

    # -- faults -------------------------------------------------------------------------------
    def inject(self, fault: Fault, times: int = 1, *, path: str | None = None) -> None:
        """Apply ``fault`` to the next ``times`` requests, or only to those for ``path``.

        ``path`` is one of :data:`TRACES_PATH`, :data:`LOGS_PATH` or :data:`METRICS_PATH`;
        requests for the other paths pass by untouched (and do not use the fault up).
        """
        if path is not None and path not in self._signals:
            raise ValueError(f"path must be one of {sorted(self._signals)}, not {path!r}")
        with self._lock:
            self._faults.extend([(fault, path)] * times)
            self._release.clear()

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def release(self) -> None:
        """Let every hanging request go on."""
        self._release.set()

    def reset(self) -> None:
        """Forget every request, span, log record and metric point, and every pending fault."""
        with self._lock:
            super().reset()
            self._faults.clear()

    # -- the HTTP side ------------------------------------------------------------------------
    def _handle(self, http: BaseHTTPRequestHandler) -> None:
        arrived = time.monotonic()
        path = http.path
        length = int(http.headers.get("Content-Length") or 0)
        headers = {k.lower(): v for k, v in http.headers.items()}
        signal = self._signals.get(path)
        if length > MAX_BODY:  # not read: the connection is spent
            self._record(ReceivedRequest(arrived, 0, 413, headers, path=path))
            self._answer(http, 413, b"", {"Connection": "close"})
            return
        body = http.rfile.read(length)
        kept = body if self.keep_bodies else b""
        if signal is None:
            self._record(ReceivedRequest(arrived, 0, 404, headers, kept, path))
            self._answer(http, 404, b"")
            return
        fault = self._take_fault(path)
        if self.latency > 0:
            time.sleep(self.latency)
        if fault is not None and fault.hang is not None:
            self._release.wait(fault.hang)
        if fault is not None and fault.close:
            self._record(ReceivedRequest(arrived, 0, None, headers, kept, path))
            http.close_connection = True
            http.connection.close()
            return
        if fault is not None and fault.status is not None and fault.status != 200:
            self._record(ReceivedRequest(arrived, 0, fault.status, headers, kept, path))
            extra = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            self._answer(http, fault.status, b"", extra)
            return
        try:
            request = signal.request_type.FromString(_decompress(http, body))
        except Exception:
            self._record(ReceivedRequest(arrived, 0, 400, headers, kept, path))
            self._answer(http, 400, b"")
            return
        counts = signal.count(request)
        items = sum(counts.values())
        spans = items if path == TRACES_PATH else 0
        record = ReceivedRequest(arrived, spans, 200, headers, kept, path, items)
        self._accept(signal, request, counts, record)  # unpacked when a test reads them
        self._answer(http, 200, signal.response)

    def _take_fault(self, path: str) -> Fault | None:
        """The first pending fault for any path or for ``path``, taken off the queue."""
        with self._lock:
            for i, (fault, only) in enumerate(self._faults):
                if only is None or only == path:
                    del self._faults[i]
                    return fault
            return None

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


def _decompress(http: BaseHTTPRequestHandler, body: bytes) -> bytes:
    encoding = (http.headers.get("Content-Encoding") or "").lower()
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    return body
