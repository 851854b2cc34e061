"""``LambdaLogRecordProcessor``: log records on the spans' pipeline (ring, worker, signals).

``on_emit`` appends the SDK's record to the ring as it is; the export thread turns records into
``ReadableLogRecord`` objects, the exporter's input, off the handler's path. Modes, signals,
timeouts, drop accounting and shutdown are the span processor's (:mod:`..export.pipeline`).

Owns the SDK's ``LogRecordProcessor`` interface and the records' conversion; must not decide
when to export nor keep a buffer of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk._logs import LogRecordProcessor

from ..export.config import LOG_VARIABLES, settings_from_environment
from ..export.pipeline import BufferedPipeline
from ..export.settings import ProcessorMode, ProcessorSettings
from ..export.worker import ItemKind, unencodable_probe

if TYPE_CHECKING:
    from opentelemetry.sdk._logs import ReadWriteLogRecord
    from opentelemetry.sdk._logs.export import LogRecordExporter


def _log_successes() -> tuple[object, ...]:
    from opentelemetry.sdk._logs import export

    values: list[object] = []
    # LogExportResult: the name before OpenTelemetry 1.39, still returned by some exporters.
    for name in ("LogRecordExportResult", "LogExportResult"):
        result = getattr(export, name, None)
        if result is not None:
            values.append(result.SUCCESS)
    return tuple(values)


def readable(records: Sequence[Any]) -> list[Any]:
    """``ReadableLogRecord`` objects for the records the SDK emitted (as its batch processor
    builds them; records that are readable already are kept)."""
    try:
        from opentelemetry.sdk._logs import ReadableLogRecord, ReadWriteLogRecord
    except ImportError:  # before OpenTelemetry 1.39: the SDK emits ``LogData``, exported as is
        return list(records)
    from opentelemetry.sdk.resources import Resource

    out: list[Any] = []
    for record in records:
        if isinstance(record, ReadWriteLogRecord):
            resource = record.resource if record.resource is not None else Resource.create({})
            record = ReadableLogRecord(
                log_record=record.log_record,
                resource=resource,
                instrumentation_scope=record.instrumentation_scope,
                limits=record.limits,
            )
        out.append(record)
    return out


LOG_RECORDS = ItemKind(
    "log records",
    LOG_VARIABLES.queue_size,
    "otel-lambda-processor-export-logs",
    _log_successes,
    prepare=readable,
)


class LambdaLogRecordProcessor(BufferedPipeline, LogRecordProcessor):
    """A log record processor for AWS Lambda: the span processor's ring, thread and signals.

    ``on_emit`` only appends to the buffer (the oldest record is overwritten when it is full);
    exports follow the mode (see :class:`ProcessorMode`), ``force_flush`` and ``shutdown``. Every
    emitted record is exported or counted in :attr:`dropped_records`. Arguments left ``None``
    come from ``LAMBDA_EXTENSION_LOG_PROCESSOR_MODE`` (else
    ``LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE``), ``LAMBDA_LOG_PROCESSOR_QUEUE_SIZE``,
    ``LAMBDA_LOG_PROCESSOR_BATCH_SIZE`` and ``LAMBDA_LOG_PROCESSOR_EXPORT_TIMEOUT``, else the span
    processor's defaults.
    """

    signal_priority = 1
    _hot_path_name = "on_emit"

    def __init__(
        self,
        exporter: LogRecordExporter,
        *,
        mode: ProcessorMode | str | None = None,
        max_queue_size: int | None = None,
        max_export_batch_size: int | None = None,
        export_timeout_millis: int | None = None,
    ) -> None:
        settings = settings_from_environment(
            mode=mode,
            max_queue_size=max_queue_size,
            max_export_batch_size=max_export_batch_size,
            export_timeout_millis=export_timeout_millis,
            variables=LOG_VARIABLES,
        )
        probe = unencodable_probe(exporter, "encode_logs")
        self._start_buffered(exporter, settings, LOG_RECORDS, probe)

    def _install_hot_path(
        self, check_high_water: Callable[[], None] | None
    ) -> Callable[[Any], None]:
        append, tick, mask = self._ring.append, self._ring.tick, self._check_mask
        if check_high_water is None:

            def on_emit(log_record: ReadWriteLogRecord) -> None:
                append(log_record)
                tick()

        else:

            def on_emit(log_record: ReadWriteLogRecord) -> None:
                append(log_record)
                if not tick() & mask:
                    check_high_water()

        return on_emit

    @property
    def mode(self) -> ProcessorMode:
        """The mode in effect (argument, else environment, else ``ASYNC``)."""
        return self._mode

    @property
    def exporter(self) -> LogRecordExporter:
        """The exporter it hands batches to."""
        return self._exporter  # type: ignore[no-any-return]

    @property
    def settings(self) -> ProcessorSettings:
        """Every setting in effect, after validation."""
        return self._settings

    @property
    def dropped_records(self) -> int:
        """Records dropped since creation: overwritten in a full buffer, or failed to export."""
        return self._dropped()

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        """Buffer a record: two C calls, no lock, no copy (the instance carries a closure that
        does this; this method is the reference for calls on the class)."""
        self._hot_path(log_record)

    def emit(self, log_record: ReadWriteLogRecord) -> None:
        """``on_emit`` under the name OpenTelemetry 1.34 calls."""
        self._hot_path(log_record)

    def _set_hot_path(self, function: Callable[[Any], None]) -> None:
        super()._set_hot_path(function)
        self.emit = function  # type: ignore[method-assign,assignment]

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Export everything buffered now; ``True`` only if all of it was exported in time.

        In ``ASYNC`` mode, a call from the handler's thread during an open invocation says
        "handler done" instead and returns ``True``: the export follows the response.
        """
        return self._force_flush(timeout_millis)

    def shutdown(self) -> None:
        """Flush within the export timeout (or the shutdown deadline), then shut the exporter
        down; what could not be exported by then is counted as dropped."""
        self._shutdown_pipeline()
