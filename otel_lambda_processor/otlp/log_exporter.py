"""``OTLPLogExporter``: the lean drop-in for the official OTLP/HTTP log exporter.

The span exporter's path (:mod:`.exporter`): configuration resolved at construction from the
arguments and ``OTEL_EXPORTER_OTLP_LOGS_*`` / ``OTEL_EXPORTER_OTLP_*``, our encoder and the
official protobuf-free HTTP client from the first export, the official exporter for the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
else:  # OpenTelemetry before 1.39 has the same classes under their first names
    from opentelemetry.sdk._logs import export as _export

    LogRecordExporter = getattr(_export, "LogRecordExporter", None) or _export.LogExporter
    LogRecordExportResult = (
        getattr(_export, "LogRecordExportResult", None) or _export.LogExportResult
    )

from .exporter import _PlainLeanExport
from .sending import LOGS


class OTLPLogExporter(_PlainLeanExport, LogRecordExporter):
    """Drop-in for ``opentelemetry.exporter.otlp.proto.http._log_exporter.OTLPLogExporter``.

    Takes the same arguments, plus ``compression_level`` (0-9, default 1) for gzip and deflate.
    """

    _signal = LOGS
    _success = LogRecordExportResult.SUCCESS
    _failure = LogRecordExportResult.FAILURE

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        return self._export_items(batch, len(batch))  # type: ignore[no-any-return]

    def force_flush(self, timeout_millis: int = 10_000) -> bool:
        """Nothing is buffered here."""
        return True

    def shutdown(self) -> None:
        self._shutdown_lean()
