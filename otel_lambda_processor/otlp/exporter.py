"""``OTLPSpanExporter``: the official OTLP/HTTP protobuf span exporter, encoding with ours.

A subclass of the official exporter: the same constructor, ``OTEL_EXPORTER_OTLP_*``
configuration, transport, retries, size limit, metrics and log lines. Only the encoding differs
(byte-identical, several times faster), and gzip/deflate run at level 1 by default: on OTLP
spans about an eighth more bytes than the official level 9 for a sixth of its CPU time
(``benchmarks/RESULTS.md``).

``export`` repeats the official one around the encoder, so it uses the official exporter's
private parts (``_client``, ``_metrics``, ``_max_request_size``). It does so only for the
OpenTelemetry releases in ``TESTED_RELEASES`` and only when those parts look as expected;
otherwise every batch goes through the official ``export`` unchanged.
"""

from __future__ import annotations

import functools
import gzip
import logging
import os
import zlib
from collections.abc import Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as official
from opentelemetry.exporter.otlp.proto.http import trace_exporter as _official_module
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

from ..config import otlp_timeout_seconds
from .encoder import encode_spans
from .releases import TESTED_RELEASES, untested_releases

_logger = logging.getLogger(__name__)
# The official exporter's logger: its messages keep their usual source.
_official_logger = logging.getLogger(_official_module.__name__)

DEFAULT_COMPRESSION_LEVEL = 1


# What export() uses of the official module beside the exporter; None where it is missing.
_too_large: Any = getattr(_official_module, "_is_request_too_large", None)
_TooLargeError: Any = getattr(_official_module, "RequestPayloadTooLargeError", None)
_STATUS_CODE: Any = getattr(_official_module, "HTTP_RESPONSE_STATUS_CODE", None)


_said: set[str] = set()


def _say_once(message: str, *args: Any) -> None:
    """One INFO line per process for each reason the fast path is not taken."""
    if message not in _said:
        _said.add(message)
        _logger.info(message, *args)


def _compress(kind: str, level: int, data: bytes) -> bytes:
    if kind == "gzip":
        return gzip.compress(data, compresslevel=level)
    return zlib.compress(data, level)


class OTLPSpanExporter(_official_module.OTLPSpanExporter):
    """Drop-in for ``opentelemetry.exporter.otlp.proto.http.trace_exporter.OTLPSpanExporter``.

    Takes the same arguments, plus ``compression_level`` (0-9, default 1) for gzip and deflate.
    """

    def __init__(self, *args: Any, compression_level: int | None = None, **kwargs: Any) -> None:
        args, kwargs = _with_usable_timeout(args, kwargs)
        super().__init__(*args, **kwargs)
        self._fast = self._fast_path_usable()
        level = DEFAULT_COMPRESSION_LEVEL if compression_level is None else compression_level
        if not (isinstance(level, int) and 0 <= level <= 9):
            _logger.warning(
                "compression_level=%r is not an integer from 0 to 9; using %d",
                level,
                DEFAULT_COMPRESSION_LEVEL,
            )
            level = DEFAULT_COMPRESSION_LEVEL
        self.compression_level: int = level
        kind = getattr(getattr(self, "_compression", None), "value", None)
        if self._fast and kind in ("gzip", "deflate"):
            self._client._compress = functools.partial(_compress, kind, level)  # type: ignore[method-assign]

    def _fast_path_usable(self) -> bool:
        """Whether this OpenTelemetry is a tested one and the exporter looks as expected."""
        untested = untested_releases()
        if untested:
            _say_once(
                "OTLPSpanExporter: %s outside the tested releases %s; using the official exporter",
                ", ".join(untested),
                TESTED_RELEASES,
            )
            return False
        client, metrics = getattr(self, "_client", None), getattr(self, "_metrics", None)
        looks_right = (
            callable(getattr(client, "export", None))
            and callable(getattr(client, "_compress", None))
            and callable(getattr(metrics, "export_operation", None))
            and isinstance(getattr(self, "_max_request_size", None), int)
            and isinstance(getattr(self, "_shutdown", None), bool)
            and callable(_too_large)
            and isinstance(_TooLargeError, type)
            and isinstance(_STATUS_CODE, str)
        )
        if not looks_right:
            _say_once("OTLPSpanExporter: unexpected exporter internals; using the official one")
        return looks_right

    @property
    def uses_fast_encoder(self) -> bool:
        """Whether batches are encoded here (False: the official exporter does everything)."""
        return self._fast

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not self._fast or self._shutdown:
            return super().export(spans)
        with self._metrics.export_operation(len(spans)) as result:
            try:
                data = _encode(spans)
            except Exception as error:
                _official_logger.error("Failed to encode span batch: %s", error)
                result.error = error
                return SpanExportResult.FAILURE
            limit = self._max_request_size
            if _too_large(data, limit):
                _official_logger.warning(
                    "Dropping span batch: serialized size %d bytes exceeds max_request_size "
                    "%d bytes.",
                    len(data),
                    limit,
                )
                result.error = _TooLargeError(
                    f"Serialized span request size {len(data)} bytes exceeds max_request_size "
                    f"{limit} bytes."
                )
                return SpanExportResult.FAILURE
            sent = self._client.export(data)
            if not sent.success:
                result.error = sent.error
                if sent.status_code is not None:
                    result.error_attrs = {_STATUS_CODE: sent.status_code}
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS


#: After endpoint, certificate_file, client_key_file, client_certificate_file and headers.
_TIMEOUT_POSITION = 5


def _with_usable_timeout(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The arguments, with a timeout the transport can use (the official one fails every
    export after ``timeout=0``, a negative one, ``inf`` or ``nan``, from code or variables)."""
    positional = len(args) > _TIMEOUT_POSITION
    given = args[_TIMEOUT_POSITION] if positional else kwargs.get("timeout")
    timeout = otlp_timeout_seconds(os.environ, given)
    if timeout is None or timeout == given:
        return args, kwargs
    if positional:
        return (*args[:_TIMEOUT_POSITION], timeout, *args[_TIMEOUT_POSITION + 1 :]), kwargs
    return args, {**kwargs, "timeout": timeout}


def _encode(spans: Sequence[ReadableSpan]) -> bytes:
    """Ours; should it ever fail where the official encoder would not, the official one."""
    try:
        return encode_spans(spans)
    except Exception:
        _logger.warning(
            "the fast OTLP encoder failed; this batch used the official one", exc_info=True
        )
        return official(spans).SerializePartialToString()  # type: ignore[no-any-return]
