"""OTLP/HTTP protobuf export of spans, logs and metrics that costs nothing at init.

``OTLPSpanExporter``, ``OTLPLogExporter`` and ``OTLPMetricExporter`` are drop-ins for the official
OTLP/HTTP exporters of ``opentelemetry-exporter-otlp-proto-http``: the same constructors,
``OTEL_EXPORTER_OTLP_*`` configuration, retries, size limit, metrics, results and log lines, and
the same bytes on the wire. Construction only resolves
the configuration (:mod:`.settings`). The first export loads our encoder (the wire format
written directly, byte-identical to the official ones) and the official, protobuf-free OTLP HTTP
client (``opentelemetry-exporter-otlp-common``: retries with jitter, ``Retry-After``, the
deadline) over its urllib3 transport. Neither protobuf nor ``requests`` is imported on that path.

What it was not built for goes to the official exporter, imported only then: a ``requests``
session (argument or credential provider), an argument it does not know, or an OpenTelemetry
whose HTTP client looks different from the tested releases'.

One difference: a refused connection to an endpoint that has never answered in this process
means that no collector listens there (a local run without one), so it is not retried for the
whole timeout as the official client retries connection errors: the export fails at once, and
one warning per process and endpoint says so. Once an endpoint has answered, a refused
connection is retried as officially (a collector restarting), and 429/502/503/504 always are.

Owns the lean-or-official decision (its reasons and the official exporter's construction are
:mod:`.handover`'s), encoding and the exporters' shared path; must not speak HTTP itself
(:mod:`.sending`) nor import anything of the package above :mod:`..environment`.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from .handover import build_official, hand_over_reason, release_reason
from .releases import http_client_installed, untested_releases
from .sending import (
    TRACES,
    PayloadTooLargeError,
    Sender,
    Signal,
    answered,
    nothing_listens,
    say_no_collector,
)
from .settings import ExporterSettings, otlp_timeout_seconds, resolve

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

_logger = logging.getLogger(__name__)

DEFAULT_COMPRESSION_LEVEL = 1

_said: set[str] = set()


def _say_once(message: str, *args: Any) -> None:
    """One INFO line per process for each reason the lean path is not taken."""
    if message not in _said:
        _said.add(message)
        _logger.info(message, *args)


#: The official encoders, for the rare batch ours hands over: ``(module, function)``.
_OFFICIAL_ENCODERS = {
    "TRACES": ("opentelemetry.exporter.otlp.proto.common.trace_encoder", "encode_spans"),
    "LOGS": ("opentelemetry.exporter.otlp.proto.common._log_encoder", "encode_logs"),
    "METRICS": ("opentelemetry.exporter.otlp.proto.common.metrics_encoder", "encode_metrics"),
}


def _check_level(level: int | None) -> int:
    if level is None:
        return DEFAULT_COMPRESSION_LEVEL
    if not (isinstance(level, int) and not isinstance(level, bool) and 0 <= level <= 9):
        _logger.warning(
            "compression_level=%r is not an integer from 0 to 9; using %d",
            level,
            DEFAULT_COMPRESSION_LEVEL,
        )
        return DEFAULT_COMPRESSION_LEVEL
    return level


def _release_reason(name: str) -> tuple[Any, ...] | None:
    """Why the installed OpenTelemetry cannot take the lean path, or ``None``: the facts are
    read here, from this module's names (which tests replace)."""
    return release_reason(name, http_client_installed(), untested_releases())


def _internal_metrics_enabled() -> bool:
    raw = os.environ.get("OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED", "")
    return raw.strip().lower() == "true"


def _exporter_metrics(signal: Signal, settings: ExporterSettings, meter_provider: Any) -> Any:
    """The exporter's own metrics, as the official exporter creates them."""
    from opentelemetry.exporter.otlp.common._exporter_metrics import create_exporter_metrics
    from opentelemetry.semconv._incubating.attributes.otel_attributes import (
        OtelComponentTypeValues,
    )

    return create_exporter_metrics(
        getattr(OtelComponentTypeValues, signal.component),
        signal.kind,
        settings.endpoint,
        meter_provider,
        _internal_metrics_enabled(),
    )


class _LeanExport:
    """The lean path shared by the three exporters: resolve at construction, build the sender
    at the first export, encode here and send through the official HTTP client; hand over to
    the official exporter what this path was not built for."""

    _signal: Signal
    _success: Any
    _failure: Any

    def _setup(
        self,
        arguments: dict[str, Any],
        *,
        session: Any,
        max_request_size: int | None,
        meter_provider: Any,
        compression_level: int | None,
        official_only: dict[str, Any],
        others: dict[str, Any],
        hand_over: tuple[str, ...] = (),
    ) -> None:
        """Resolve the configuration; ``official_only`` are arguments only the official
        exporter takes, and any of them named in ``hand_over`` that is given means it is used."""
        self.compression_level: int = _check_level(compression_level)
        self._meter_provider = meter_provider
        self._lock = threading.Lock()
        self._sender: Sender | None = None
        #: The endpoint, while the last export failed because no collector answers there
        #: (a refused connection to an endpoint that never answered); else ``None``.
        self.no_collector_at: str | None = None
        self._official: Any = None
        self._others = tuple(others)
        self._shutdown = False
        self._official_arguments = {
            **arguments,
            "session": session,
            **official_only,
            "max_request_size": max_request_size,
            "meter_provider": meter_provider,
            **others,
        }
        from opentelemetry.exporter.otlp.proto.http import _OTLP_HTTP_HEADERS

        signal = self._signal
        release = _release_reason(signal.say)
        reason = hand_over_reason(signal, release, session, official_only, hand_over, others)
        self.settings: ExporterSettings = resolve(
            os.environ,
            **arguments,
            max_request_size=max_request_size,
            user_agent=_OTLP_HTTP_HEADERS["User-Agent"],
            signal=signal.env,
            quiet=reason is not None,
        )
        self._endpoint = self.settings.endpoint
        names = (f"OTEL_EXPORTER_OTLP_{signal.env}_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT")
        usable = otlp_timeout_seconds(os.environ, arguments["timeout"], names)
        if usable is not None:  # ours replaced an unusable one (or it was given): pass it on
            self._official_arguments["timeout"] = usable
        self._metrics: Any = None
        if reason is None and _internal_metrics_enabled():  # numbered now, as officially
            self._metrics = _exporter_metrics(signal, self.settings, meter_provider)
        #: Set when the official exporter is to do everything but is built at the first use:
        #: the installed OpenTelemetry is the reason, so init stays free of its imports.
        self._official_later = False
        if reason is not None:
            _say_once(*reason)
            if release is None or others:  # an unknown argument fails now
                self._use_official()
            else:
                self._official_later = True

    def _use_official(self) -> Any:
        self._official = build_official(self._signal, self._official_arguments, self._others)
        self._official_later = False
        return self._official

    def _official_exporter(self) -> Any | None:
        """The official exporter if it does everything here (built now if it was put off)."""
        if self._official_later:
            with self._lock:
                if self._official_later:
                    self._use_official()
        return self._official

    @property
    def uses_fast_encoder(self) -> bool:
        """Whether batches are encoded and sent here (False: the official exporter does it)."""
        return self._official is None and not self._official_later

    def _start(self) -> Sender | None:
        with self._lock:
            if self._sender is None and self._official is None:
                try:
                    self._sender = Sender(self._signal, self.settings, self.compression_level)
                    if self._metrics is None:
                        self._metrics = _exporter_metrics(
                            self._signal, self.settings, self._meter_provider
                        )
                except Exception:
                    _say_once(
                        "%s: this OpenTelemetry's HTTP client looks different; "
                        "using the official exporter",
                        self._signal.say,
                    )
                    self._use_official()
            return self._sender

    def _send(self, items: Any, count: int, sender: Sender) -> Any:
        """Encode ``items`` and send them: the official exporter's steps, results and lines."""
        signal = self._signal
        log = signal.logger
        data: bytes | None = None
        if signal.encode_first:  # the official metric exporter encodes before it counts
            try:
                data = _encode(signal, items)
            except Exception as error:
                log.error("Failed to encode %s batch: %s", signal.noun, error)
                return self._failure
        with self._metrics.export_operation(count) as result:
            if data is None:
                try:
                    data = _encode(signal, items)
                except Exception as error:
                    log.error("Failed to encode %s batch: %s", signal.noun, error)
                    result.error = error
                    return self._failure
            limit = self.settings.max_request_size
            if 0 < limit < len(data):
                log.warning(
                    "Dropping %s batch: serialized size %d bytes exceeds max_request_size "
                    "%d bytes.",
                    signal.noun,
                    len(data),
                    limit,
                )
                result.error = PayloadTooLargeError(
                    f"Serialized {signal.noun} request size {len(data)} bytes exceeds "
                    f"max_request_size {limit} bytes."
                )
                return self._failure
            sent = sender.client.export(data)
            no_collector = not sent.success and nothing_listens(self._endpoint, sent.error)
            self.no_collector_at = self._endpoint if no_collector else None
            if no_collector:
                say_no_collector(signal, self._endpoint)
            if not sent.success:
                result.error = sent.error
                if sent.status_code is not None:
                    result.error_attrs = {sender.status_code_attribute: sent.status_code}
                return self._failure
        return self._success

    def _export_items(self, items: Any, count: int, *args: Any, **kwargs: Any) -> Any:
        official = self._official_exporter()
        if official is not None:
            return self._export_official(official, items, args, kwargs)
        if self._shutdown:
            self._signal.logger.warning("Exporter already shutdown, ignoring batch")
            return self._failure
        sender = self._sender or self._start()
        if sender is None:  # the HTTP client could not be built: the official exporter was
            built: Any = self._official
            return built.export(items, *args, **kwargs)
        return self._send(items, count, sender)

    def _export_official(
        self, official: Any, items: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """The official exporter's export; a refused connection to an endpoint that never
        answered (older releases raise it) is said once, as on the lean path, not raised."""
        try:
            result = official.export(items, *args, **kwargs)
        except Exception as error:
            if not nothing_listens(self._endpoint, error):
                raise
            self.no_collector_at = self._endpoint
            say_no_collector(self._signal, self._endpoint)
            return self._failure
        if result == self._success:
            answered(self._endpoint)
        self.no_collector_at = None
        return result

    def _shutdown_lean(self, *args: Any, **kwargs: Any) -> None:
        with self._lock:
            if self._official_later:  # never built, never used: nothing to shut down
                self._official_later = False
                self._shutdown = True
                return
        official = self._official
        if official is not None:
            official.shutdown(*args, **kwargs)
            return
        if self._shutdown:
            self._signal.logger.warning("Exporter already shutdown, ignoring call")
            return
        self._shutdown = True
        if self._sender is not None:
            self._sender.client.shutdown()


class _PlainLeanExport(_LeanExport):
    """The constructor the official span and log exporters share (the metric one has more)."""

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
        self._setup(
            _arguments(
                endpoint,
                certificate_file,
                client_key_file,
                client_certificate_file,
                headers,
                timeout,
                compression,
            ),
            session=session,
            max_request_size=max_request_size,
            meter_provider=meter_provider,
            compression_level=compression_level,
            official_only={},
            others=others,
        )


class OTLPSpanExporter(_PlainLeanExport, SpanExporter):
    """Drop-in for ``opentelemetry.exporter.otlp.proto.http.trace_exporter.OTLPSpanExporter``.

    Takes the same arguments, plus ``compression_level`` (0-9, default 1) for gzip and deflate.
    """

    _signal = TRACES
    _success = SpanExportResult.SUCCESS
    _failure = SpanExportResult.FAILURE

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self._export_items(spans, len(spans))  # type: ignore[no-any-return]

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing is buffered here."""
        return True

    def shutdown(self) -> None:
        self._shutdown_lean()


def _arguments(
    endpoint: str | None,
    certificate_file: str | None,
    client_key_file: str | None,
    client_certificate_file: str | None,
    headers: Mapping[str, str] | None,
    timeout: float | None,
    compression: Any,
) -> dict[str, Any]:
    return {
        "endpoint": endpoint,
        "certificate_file": certificate_file,
        "client_key_file": client_key_file,
        "client_certificate_file": client_certificate_file,
        "headers": headers,
        "timeout": timeout,
        "compression": compression,
    }


def _encode(signal: Signal, items: Any) -> bytes:
    """Ours, which raises where the official encoder raises. Should it ever fail where the
    official one would not (a bug of ours), the official one's bytes, with a warning."""
    try:
        return _encoder(f"{__package__}.{signal.encoder[0]}", signal.encoder[1])(items)  # type: ignore[no-any-return]
    except Exception as error:
        ours = error
    official = _encoder(*_OFFICIAL_ENCODERS[signal.env])
    data: bytes = official(items).SerializePartialToString()  # raises: unencodable batch
    _logger.warning("the fast OTLP encoder failed; this batch used the official one", exc_info=ours)
    return data


def _encoder(module: str, function: str) -> Any:
    """An encoder function, its module imported on first use."""
    return getattr(_module(module), function)


@functools.cache
def _module(name: str) -> Any:
    from importlib import import_module

    return import_module(name)
