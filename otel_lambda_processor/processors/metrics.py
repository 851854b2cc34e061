"""``LambdaMetricReader``: collect and export metrics on the lifecycle signals, not on a timer.

A timer thread is what Lambda freezes: the SDK's periodic reader exports every 60 s of *thawed*
time, so a function invoked now and then exports rarely or never, and loses what it held at the
end. This reader collects and exports on the same signals as the span processor (after the
response in ``async``, before it in ``sync``, only on flush, shutdown and SIGTERM in
``finalize``), on its own export thread. A failed export is kept and sent again, once, before
newer data (so a delta point is never lost to one failure, nor sent twice by us).

Owns the SDK's ``MetricReader`` interface and one collection per invocation; must not hold the
export thread (:mod:`.metric_exports`) nor decide when to export (:mod:`..export.pipeline`).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.metrics.export import MetricExporter, MetricReader

from ..export.config import load_metric_reader_settings
from ..export.pipeline import ExportPipeline
from ..export.settings import MetricReaderSettings, ProcessorMode
from ..export.worker import FlushTicket
from ..signals import Completion, HandlerDone
from .metric_exports import MAX_PENDING as MAX_PENDING  # as before the split
from .metric_exports import MetricExports
from .metric_exports import data_points as data_points  # as before the split

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import MetricsData


class LambdaMetricReader(ExportPipeline, MetricReader):
    """A metric reader for AWS Lambda: collects and exports when the lifecycle says so.

    By default after every invocation (``async``: after the response), honouring the exporter's
    preferred temporality and aggregation as the SDK's ``PeriodicExportingMetricReader`` does.
    ``min_interval_millis`` (``LAMBDA_METRIC_READER_MIN_INTERVAL``) spaces out those exports for
    busy functions; ``force_flush``, shutdown and SIGTERM always export. Every collected data
    point is exported or counted in :attr:`dropped_points`. Arguments left ``None`` come from
    ``LAMBDA_EXTENSION_METRIC_READER_MODE`` (else ``LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE``) and
    ``LAMBDA_METRIC_READER_EXPORT_TIMEOUT``, else the defaults.
    """

    signal_priority = 2

    def __init__(
        self,
        exporter: MetricExporter,
        *,
        mode: ProcessorMode | str | None = None,
        export_timeout_millis: int | None = None,
        min_interval_millis: int | None = None,
    ) -> None:
        import os

        self._reader_settings = load_metric_reader_settings(
            os.environ,
            mode=mode,
            export_timeout_millis=export_timeout_millis,
            min_interval_millis=min_interval_millis,
        )
        MetricReader.__init__(
            self,
            preferred_temporality=exporter._preferred_temporality,
            preferred_aggregation=exporter._preferred_aggregation,
        )
        self._exporter = exporter
        self._collected_before_fork = 0
        self._dropped_before_fork = 0
        settings = self._reader_settings
        self._start_pipeline(settings.mode, settings.export_timeout_millis, settings.sdk_disabled)

    def _build(self) -> None:
        timeout = self._export_timeout
        self._exports = MetricExports(
            self._exporter,
            self._collect_for_export,
            10_000.0 if timeout is None else timeout * 1000,
            self._reader_settings.min_interval_millis,
        )
        self._done_for: str | None = None

    def _collect_for_export(self, timeout_millis: float) -> None:
        if self._collect is None:  # not registered with a MeterProvider (yet)
            return
        self.collect(timeout_millis=timeout_millis)

    def _on_handler_done(self, signal: HandlerDone) -> Completion | None:
        # Several publishers may say "handler done" for one invocation (the runtime hook, the
        # traced handler): one collection per invocation is enough.
        if signal.request_id is not None:
            if signal.request_id == self._done_for:
                return None
            self._done_for = signal.request_id
        return super()._on_handler_done(signal)

    def _rebuild_after_fork(self) -> None:
        self._collected_before_fork += self._exports.collected
        self._dropped_before_fork += self._exports.failed_dropped
        self._build()

    # -- public properties ---------------------------------------------------------------------
    @property
    def mode(self) -> ProcessorMode:
        """The mode in effect (argument, else environment, else ``ASYNC``)."""
        return self._mode

    @property
    def exporter(self) -> MetricExporter:
        return self._exporter

    @property
    def settings(self) -> MetricReaderSettings:
        """Every setting in effect, after validation."""
        return self._reader_settings

    @property
    def collected_points(self) -> int:
        """Data points collected since creation (each exported or dropped, or still pending)."""
        return self._collected_before_fork + self._exports.collected

    @property
    def dropped_points(self) -> int:
        """Collected data points that were not exported: their export failed twice, or more
        collections piled up than :data:`~.metric_exports.MAX_PENDING`, or they were left at
        shutdown."""
        return self._dropped_before_fork + self._exports.failed_dropped

    # -- the MetricReader interface ------------------------------------------------------------
    def _receive_metrics(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> None:
        """Keep a collection for export; from another thread (a user's ``collect()``) also
        export it and wait, unless that is the handler in ``async`` mode: then it follows the
        response."""
        self._exports.keep(metrics_data)
        if threading.get_ident() == self._exports.thread_id or self._is_shutdown:
            return
        invocation = self._invocation
        if self._mode is ProcessorMode.ASYNC and invocation is not None:
            return
        self._wait(self._exports.request(collect=False, due=False), max(0.0, timeout_millis / 1000))

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        """Collect and export now; ``True`` only if it was all exported in time.

        In ``ASYNC`` mode, a call from the handler's thread during an open invocation (the
        OpenTelemetry AWS Lambda instrumentation flushes the meter provider after every handler)
        says "handler done" instead and returns ``True``: the export follows the response.
        """
        return self._force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """Collect and export a last time (within the export timeout or the SIGTERM deadline),
        then shut the exporter down. A second call does nothing."""
        self._shutdown_pipeline()

    # -- the pipeline's data side --------------------------------------------------------------
    def _request_export(self, *, due: bool = False) -> FlushTicket:
        return self._exports.request(collect=True, due=due)

    def _has_nothing_to_export(self) -> bool:
        return False  # a collection may always find something new

    def _stop_exporting(self) -> None:
        self._exports.stop()

    def _shutdown_exporter(self) -> None:
        self._exporter.shutdown()
