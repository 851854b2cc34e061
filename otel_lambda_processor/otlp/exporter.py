"""``OTLPSpanExporter``: OTLP/HTTP protobuf span export that costs nothing at init.

A drop-in for the official ``opentelemetry.exporter.otlp.proto.http.trace_exporter
.OTLPSpanExporter``: the same constructor, ``OTEL_EXPORTER_OTLP_*`` configuration, retries, size
limit, metrics, results and log lines, and the same bytes on the wire. Construction only resolves
the configuration (:mod:`.settings`). The first export loads our encoder (the wire format
written directly, byte-identical to the official one) and the official, protobuf-free OTLP HTTP
client (``opentelemetry-exporter-otlp-common``: retries with jitter, ``Retry-After``, the
deadline) over its urllib3 transport. Neither protobuf nor ``requests`` is imported on that path.

What it was not built for goes to the official exporter, imported only then: a ``requests``
session (argument or credential provider), an argument it does not know, or an OpenTelemetry
whose HTTP client looks different from the tested releases'.
"""

from __future__ import annotations

import functools
import gzip
import logging
import os
import threading
import zlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from .releases import TESTED_RELEASES, untested_releases
from .settings import CREDENTIAL_PROVIDER_ENVS, ExporterSettings, resolve

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

_logger = logging.getLogger(__name__)
# The official exporter's logger: its messages keep their usual source.
_official_logger = logging.getLogger("opentelemetry.exporter.otlp.proto.http.trace_exporter")

DEFAULT_COMPRESSION_LEVEL = 1

_said: set[str] = set()


def _say_once(message: str, *args: Any) -> None:
    """One INFO line per process for each reason the lean path is not taken."""
    if message not in _said:
        _said.add(message)
        _logger.info(message, *args)


def _compress(kind: str, level: int, data: bytes) -> bytes:
    if kind == "gzip":
        return gzip.compress(data, compresslevel=level)
    return zlib.compress(data, level)


class _Sender:
    """What the first export builds: the official HTTP client, metrics and the pieces export
    needs from the official modules (all protobuf- and requests-free)."""

    def __init__(self, settings: ExporterSettings, level: int, meter_provider: Any) -> None:
        from opentelemetry.exporter.http.transport._urllib3 import Urllib3HTTPTransport
        from opentelemetry.exporter.otlp.common import http
        from opentelemetry.exporter.otlp.common._exporter_metrics import (
            create_exporter_metrics,
        )
        from opentelemetry.semconv._incubating.attributes.otel_attributes import (
            OtelComponentTypeValues,
        )
        from opentelemetry.semconv.attributes.http_attributes import HTTP_RESPONSE_STATUS_CODE

        self.status_code_attribute = HTTP_RESPONSE_STATUS_CODE
        self.client = http._OTLPHTTPClient(
            transport=Urllib3HTTPTransport(verify=settings.verify, cert=settings.cert),
            endpoint=settings.endpoint,
            kind="spans",
            timeout=settings.timeout,
            compression=http.Compression.from_str(settings.compression),
            headers=settings.headers,
            logger=_official_logger,
        )
        if settings.compression in ("gzip", "deflate"):
            self.client._compress = functools.partial(  # type: ignore[method-assign]
                _compress, settings.compression, level
            )
        internal = os.environ.get("OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED", "")
        self.metrics = create_exporter_metrics(
            OtelComponentTypeValues.OTLP_HTTP_SPAN_EXPORTER,
            "traces",
            settings.endpoint,
            meter_provider,
            internal.strip().lower() == "true",
        )


class PayloadTooLargeError(Exception):
    """A serialized request exceeded ``max_request_size`` (named as the official error is)."""


PayloadTooLargeError.__name__ = PayloadTooLargeError.__qualname__ = "RequestPayloadTooLargeError"


class OTLPSpanExporter(SpanExporter):
    """Drop-in for ``opentelemetry.exporter.otlp.proto.http.trace_exporter.OTLPSpanExporter``.

    Takes the same arguments, plus ``compression_level`` (0-9, default 1) for gzip and deflate.
    """

    def __init__(
        self,
        endpoint: str | None = None,
        certificate_file: str | None = None,
        client_key_file: str | None = None,
        client_certificate_file: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        compression: Any = None,
        session: Any = None,
        *,
        max_request_size: int | None = None,
        meter_provider: Any = None,
        compression_level: int | None = None,
        **others: Any,
    ) -> None:
        level = DEFAULT_COMPRESSION_LEVEL if compression_level is None else compression_level
        if not (isinstance(level, int) and not isinstance(level, bool) and 0 <= level <= 9):
            _logger.warning(
                "compression_level=%r is not an integer from 0 to 9; using %d",
                level,
                DEFAULT_COMPRESSION_LEVEL,
            )
            level = DEFAULT_COMPRESSION_LEVEL
        self.compression_level: int = level
        self._meter_provider = meter_provider
        self._lock = threading.Lock()
        self._sender: _Sender | None = None
        self._official: Any = None
        self._shutdown = False
        arguments = {
            "endpoint": endpoint,
            "certificate_file": certificate_file,
            "client_key_file": client_key_file,
            "client_certificate_file": client_certificate_file,
            "headers": headers,
            "timeout": timeout,
            "compression": compression,
        }
        self._official_arguments = {
            **arguments,
            "session": session,
            "max_request_size": max_request_size,
            "meter_provider": meter_provider,
            **others,
        }
        from opentelemetry.exporter.otlp.proto.http import _OTLP_HTTP_HEADERS

        self.settings: ExporterSettings = resolve(
            os.environ,
            **arguments,
            max_request_size=max_request_size,
            user_agent=_OTLP_HTTP_HEADERS["User-Agent"],
        )
        self._official_arguments["timeout"] = self.settings.timeout
        self._endpoint = self.settings.endpoint
        untested = untested_releases()
        if untested:
            _say_once(
                "OTLPSpanExporter: %s outside the tested releases %s; using the official exporter",
                ", ".join(untested),
                TESTED_RELEASES,
            )
            self._use_official()
        elif session is not None or any(os.environ.get(n) for n in CREDENTIAL_PROVIDER_ENVS):
            _say_once("OTLPSpanExporter: a requests session is configured; using the official one")
            self._use_official()
        elif others:
            _say_once("OTLPSpanExporter: %s given; using the official exporter", ", ".join(others))
            self._use_official()

    def _use_official(self) -> Any:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as Official,
        )

        self._official = Official(**self._official_arguments)
        return self._official

    @property
    def uses_fast_encoder(self) -> bool:
        """Whether batches are encoded and sent here (False: the official exporter does it)."""
        return self._official is None

    def _start(self) -> _Sender | None:
        with self._lock:
            if self._sender is None and self._official is None:
                try:
                    self._sender = _Sender(
                        self.settings, self.compression_level, self._meter_provider
                    )
                except Exception:
                    _say_once(
                        "OTLPSpanExporter: this OpenTelemetry's HTTP client looks different; "
                        "using the official exporter"
                    )
                    self._use_official()
            return self._sender

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._official is not None:
            return self._official.export(spans)  # type: ignore[no-any-return]
        if self._shutdown:
            _official_logger.warning("Exporter already shutdown, ignoring batch")
            return SpanExportResult.FAILURE
        sender = self._sender or self._start()
        if sender is None:  # the HTTP client could not be built: the official exporter was
            official: Any = self._official
            return official.export(spans)  # type: ignore[no-any-return]
        with sender.metrics.export_operation(len(spans)) as result:
            try:
                data = _encode(spans)
            except Exception as error:
                _official_logger.error("Failed to encode span batch: %s", error)
                result.error = error
                return SpanExportResult.FAILURE
            limit = self.settings.max_request_size
            if 0 < limit < len(data):
                _official_logger.warning(
                    "Dropping span batch: serialized size %d bytes exceeds max_request_size "
                    "%d bytes.",
                    len(data),
                    limit,
                )
                result.error = PayloadTooLargeError(
                    f"Serialized span request size {len(data)} bytes exceeds max_request_size "
                    f"{limit} bytes."
                )
                return SpanExportResult.FAILURE
            sent = sender.client.export(data)
            if not sent.success:
                result.error = sent.error
                if sent.status_code is not None:
                    result.error_attrs = {sender.status_code_attribute: sent.status_code}
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing is buffered here."""
        return True

    def shutdown(self) -> None:
        if self._official is not None:
            self._official.shutdown()
            return
        if self._shutdown:
            _official_logger.warning("Exporter already shutdown, ignoring call")
            return
        self._shutdown = True
        if self._sender is not None:
            self._sender.client.shutdown()


def _encode(spans: Sequence[ReadableSpan]) -> bytes:
    """Ours, which raises where the official encoder raises. Should it ever fail where the
    official one would not (a bug of ours), the official one's bytes, with a warning."""
    from . import encoder

    try:
        return encoder.encode_spans(spans)
    except Exception as error:
        ours = error
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    data: bytes = encode_spans(spans).SerializePartialToString()  # raises: unencodable batch
    _logger.warning("the fast OTLP encoder failed; this batch used the official one", exc_info=ours)
    return data
