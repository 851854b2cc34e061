"""How the lean exporters send: what differs per signal (names, paths, the official pieces),
the official OTLP HTTP client built at the first export, and a transport that knows when no
collector listens (a refused connection to an endpoint that never answered: no retries then).

Owns the wire side and the "no collector" rule; must not decide whether the lean path is taken
nor encode (that is :mod:`.exporter`), and imports neither protobuf nor ``requests``.
"""

from __future__ import annotations

import errno
import functools
import gzip
import logging
import threading
import zlib
from typing import TYPE_CHECKING, Any, Literal, cast

if TYPE_CHECKING:
    from .settings import ExporterSettings

# The exporter's logger: the "no collector" warning keeps the source it always had.
_logger = logging.getLogger("otel_lambda_processor.otlp.exporter")


def _compress(kind: str, level: int, data: bytes) -> bytes:
    if kind == "gzip":
        return gzip.compress(data, compresslevel=level)
    return zlib.compress(data, level)


class Signal:
    """What differs between the three exporters: names, paths, the official pieces."""

    __slots__ = (
        "component",
        "encode_first",
        "encoder",
        "env",
        "kind",
        "logger",
        "noun",
        "official_class",
        "official_module",
        "say",
    )

    def __init__(
        self,
        env: str,
        kind: Literal["traces", "metrics", "logs"],
        noun: str,
        component: str,
        official_module: str,
        official_class: str,
        encoder: tuple[str, str],
        encode_first: bool = False,
    ) -> None:
        #: The signal in variable names (``OTEL_EXPORTER_OTLP_<env>_ENDPOINT``).
        self.env = env
        #: The official HTTP client's and exporter metrics' name for it.
        self.kind = kind
        #: As the official log lines name a batch ("span batch", "logs batch").
        self.noun = noun
        #: The ``OtelComponentTypeValues`` member of the exporter.
        self.component = component
        self.official_module = official_module
        self.official_class = official_class
        #: Ours (in this package) and the official encoder: ``(module, function)`` each.
        self.encoder = encoder
        #: Encoded before the export is counted in the exporter's own metrics (as for metrics).
        self.encode_first = encode_first
        # The official exporter's logger: its messages keep their usual source.
        self.logger = logging.getLogger(official_module)
        self.say = official_class


TRACES = Signal(
    "TRACES",
    "traces",
    "span",
    "OTLP_HTTP_SPAN_EXPORTER",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "OTLPSpanExporter",
    ("encoder", "encode_spans"),
)
LOGS = Signal(
    "LOGS",
    "logs",
    "logs",
    "OTLP_HTTP_LOG_EXPORTER",
    "opentelemetry.exporter.otlp.proto.http._log_exporter",
    "OTLPLogExporter",
    ("logs_encoder", "encode_logs"),
)
METRICS = Signal(
    "METRICS",
    "metrics",
    "metrics",
    "OTLP_HTTP_METRIC_EXPORTER",
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "OTLPMetricExporter",
    ("metrics_encoder", "encode_metrics"),
    encode_first=True,
)


# The official HTTP client names the signal "spans" in its log lines.
_CLIENT_KIND: dict[str, Literal["spans", "logs", "metrics"]] = {
    "TRACES": "spans",
    "LOGS": "logs",
    "METRICS": "metrics",
}


# What the "no collector" warning calls the items of each signal.
_ITEMS = {"TRACES": "spans", "LOGS": "log records", "METRICS": "metrics"}

#: Endpoints that have answered (any HTTP status) in this process: a collector lives there.
_answered: set[str] = set()
#: Endpoints the "no collector answers" warning has named (once per process each).
_no_collector_said: set[str] = set()
_said_lock = threading.Lock()


def _refused(error: object) -> bool:
    """Whether a transport error is a refused connection: nothing listens at the endpoint.

    urllib3 wraps the ``ConnectionRefusedError`` (``MaxRetryError.reason`` is a
    ``NewConnectionError`` raised from it); the chain is followed a few links deep.
    """
    pending, seen = [error], 0
    while pending and seen < 8:
        current = pending.pop()
        seen += 1
        if not isinstance(current, BaseException):
            continue
        if isinstance(current, ConnectionRefusedError):
            return True
        if isinstance(current, OSError) and current.errno == errno.ECONNREFUSED:
            return True
        pending.extend((getattr(current, "reason", None), current.__cause__, current.__context__))
    return False


def answered(endpoint: str) -> None:
    """The endpoint answered (a refusal there is a collector restarting, not none at all)."""
    _answered.add(endpoint)


def nothing_listens(endpoint: str, error: object) -> bool:
    """A refused connection to an endpoint that never answered in this process."""
    return endpoint not in _answered and _refused(error)


def say_no_collector(signal: Signal, endpoint: str) -> None:
    with _said_lock:
        if endpoint in _no_collector_said:
            return
        _no_collector_said.add(endpoint)
    _logger.warning(
        "no OTLP collector answers at %s: connection refused; %s sent there fail at once, "
        "without retries, until one listens (start a collector, point "
        "OTEL_EXPORTER_OTLP_ENDPOINT at yours, or export to the console for local runs)",
        endpoint,
        _ITEMS[signal.env],
    )


@functools.cache
def _transport_class() -> type[Any]:
    """The official urllib3 transport, taught that a refused connection to an endpoint that
    never answered is not worth retrying (imported on the first export)."""
    from opentelemetry.exporter.http.transport._urllib3 import Urllib3HTTPTransport

    class Transport(Urllib3HTTPTransport):
        def __init__(self, endpoint: str, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._endpoint = endpoint

        def request(self, method: str, url: str, **kwargs: Any) -> Any:
            result = super().request(method, url, **kwargs)
            if result.status_code is not None:
                _answered.add(url)
            return result

        def is_connection_error(self, exception: Exception | None) -> bool:
            if nothing_listens(self._endpoint, exception):
                return False  # the client fails the export at once instead of retrying
            return super().is_connection_error(exception)

    return Transport


class _ClientLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """The official client's logger, except that its error line for a refused connection to
    an endpoint that never answered goes to debug: the exporter says it once, plainly."""

    def __init__(self, logger: logging.Logger, endpoint: str) -> None:
        super().__init__(logger, {})
        self._endpoint = endpoint

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if level >= logging.ERROR and any(nothing_listens(self._endpoint, a) for a in args):
            level = logging.DEBUG
        if self.logger.isEnabledFor(level):
            kwargs.setdefault("stacklevel", 2)  # the record names the client's line, not this one
            self.logger.log(level, msg, *args, **kwargs)


class Sender:
    """What the first export builds: the official HTTP client, metrics and the pieces export
    needs from the official modules (all protobuf- and requests-free)."""

    def __init__(self, signal: Signal, settings: ExporterSettings, level: int) -> None:
        from opentelemetry.exporter.otlp.common import http
        from opentelemetry.semconv.attributes.http_attributes import HTTP_RESPONSE_STATUS_CODE

        self.status_code_attribute = HTTP_RESPONSE_STATUS_CODE
        endpoint = settings.endpoint
        self.client = http._OTLPHTTPClient(
            transport=_transport_class()(endpoint, verify=settings.verify, cert=settings.cert),
            endpoint=endpoint,
            kind=_CLIENT_KIND[signal.env],
            timeout=settings.timeout,
            compression=http.Compression.from_str(settings.compression),
            headers=settings.headers,
            logger=cast(logging.Logger, _ClientLog(signal.logger, endpoint)),
        )
        if settings.compression in ("gzip", "deflate"):
            self.client._compress = functools.partial(  # type: ignore[method-assign]
                _compress, settings.compression, level
            )


class PayloadTooLargeError(Exception):
    """A serialized request exceeded ``max_request_size`` (named as the official error is)."""


PayloadTooLargeError.__name__ = PayloadTooLargeError.__qualname__ = "RequestPayloadTooLargeError"
