"""What the installed OpenTelemetry release offers, for tests that run on every supported one
(tox: otel-lowest, otel-middle; the whole suite on the newest)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from opentelemetry.sdk import _logs
from opentelemetry.sdk._logs import export as _logs_export

from otel_lambda_processor.otlp.releases import http_client_installed

#: The lean exporters send through ``opentelemetry-exporter-otlp-common`` (1.45 and newer).
LEAN_EXPORT = http_client_installed()
#: Log records as ``ReadWriteLogRecord``/``ReadableLogRecord`` (1.39 and newer), not ``LogData``.
READABLE_LOG_RECORDS = hasattr(_logs, "ReadableLogRecord")

needs_lean_export = pytest.mark.skipif(
    not LEAN_EXPORT,
    reason="the lean exporters hand everything to the official ones before OpenTelemetry 1.45",
)
needs_readable_log_records = pytest.mark.skipif(
    not READABLE_LOG_RECORDS, reason="log records are LogData before OpenTelemetry 1.39"
)

if TYPE_CHECKING:
    from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
else:
    LogRecordExporter = getattr(_logs_export, "LogRecordExporter", None) or _logs_export.LogExporter
    LogRecordExportResult = (
        getattr(_logs_export, "LogRecordExportResult", None) or _logs_export.LogExportResult
    )


def emit_log(logger: Any, **fields: Any) -> None:
    """``logger.emit(body=..., attributes=..., ...)`` on every release: before 1.39 the API takes
    only a record (the SDK's, which carries the logger's resource)."""
    if READABLE_LOG_RECORDS:
        logger.emit(**fields)
        return
    from opentelemetry import trace
    from opentelemetry._logs import SeverityNumber
    from opentelemetry.sdk._logs import LogRecord

    span = trace.get_current_span(fields.pop("context", None)).get_span_context()
    fields.update(trace_id=span.trace_id, span_id=span.span_id, trace_flags=span.trace_flags)
    fields.pop("event_name", None)  # no event names before 1.39
    fields.setdefault("severity_number", SeverityNumber.UNSPECIFIED)  # older encoders need one
    logger.emit(LogRecord(resource=getattr(logger, "resource", None), **fields))
