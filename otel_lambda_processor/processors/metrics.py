"""``LambdaMetricReader``: collect and export metrics on the lifecycle signals, not on a timer.

A timer thread is what Lambda freezes: the SDK's periodic reader exports every 60 s of *thawed*
time, so a function invoked now and then exports rarely or never, and loses what it held at the
end. This reader collects and exports on the same signals as the span processor (after the
response in ``async``, before it in ``sync``, only on flush, shutdown and SIGTERM in
``finalize``), on its own export thread. A failed export is kept and sent again, once, before
newer data (so a delta point is never lost to one failure, nor sent twice by us).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from opentelemetry.context import attach, detach, set_value
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricReader

from ..export.config import load_metric_reader_settings
from ..export.pipeline import ExportPipeline
from ..export.settings import MetricReaderSettings, ProcessorMode
from ..export.worker import SUPPRESS_KEY, FlushTicket
from ..signals import Completion, HandlerDone

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import MetricsData

_logger = logging.getLogger("otel_lambda_processor.processor")

#: Collections kept for export at most (a collector that keeps failing while collections pile up):
#: beyond it the oldest is dropped and counted.
MAX_PENDING = 32


def data_points(data: MetricsData) -> int:
    """How many data points ``data`` holds."""
    count = 0
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                count += len(getattr(metric.data, "data_points", ()))
    return count


class _Batch:
    """One collection waiting to be exported."""

    __slots__ = ("data", "points", "retried")

    def __init__(self, data: MetricsData, points: int) -> None:
        self.data = data
        self.points = points
        self.retried = False


class _Request:
    __slots__ = ("collect", "due", "ticket")

    def __init__(self, collect: bool, due: bool) -> None:
        self.collect = collect
        self.due = due
        self.ticket = FlushTicket(0)


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
        self._cond = threading.Condition(threading.Lock())
        self._requests: list[_Request] = []
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._thread_id: int | None = None
        self._inline = threading.Lock()
        self._acct = threading.Lock()
        self._pending: list[_Batch] = []
        self._in_flight: list[_Batch] = []
        self._last_export: float | None = None
        self._done_for: str | None = None
        self._collected = 0
        self._exported = 0
        self._failed_dropped = 0
        self._reported_dropped = 0

    def _on_handler_done(self, signal: HandlerDone) -> Completion | None:
        # Several publishers may say "handler done" for one invocation (the runtime hook, the
        # traced handler): one collection per invocation is enough.
        if signal.request_id is not None:
            if signal.request_id == self._done_for:
                return None
            self._done_for = signal.request_id
        return super()._on_handler_done(signal)

    def _rebuild_after_fork(self) -> None:
        self._collected_before_fork += self._collected
        self._dropped_before_fork += self._failed_dropped
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
        return self._collected_before_fork + self._collected

    @property
    def dropped_points(self) -> int:
        """Collected data points that were not exported: their export failed twice, or more
        collections piled up than :data:`MAX_PENDING`, or they were left at shutdown."""
        return self._dropped_before_fork + self._failed_dropped

    # -- the MetricReader interface ------------------------------------------------------------
    def _receive_metrics(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> None:
        """Keep a collection for export; from another thread (a user's ``collect()``) also
        export it and wait, unless that is the handler in ``async`` mode: then it follows the
        response."""
        self._keep(metrics_data)
        if threading.get_ident() == self._thread_id or self._is_shutdown:
            return
        invocation = self._invocation
        if self._mode is ProcessorMode.ASYNC and invocation is not None:
            return
        self._wait(self._file(collect=False, due=False), max(0.0, timeout_millis / 1000))

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
        return self._file(collect=True, due=due)

    def _has_nothing_to_export(self) -> bool:
        return False  # a collection may always find something new

    def _stop_exporting(self) -> None:
        with self._cond:
            self._stopping = True
            requests, self._requests = self._requests, []
            self._cond.notify()
        for request in requests:
            request.ticket.finish(False)
        with self._acct:
            left = self._pending + self._in_flight
            self._pending, self._in_flight = [], []
            self._failed_dropped += sum(batch.points for batch in left)
        self._report_drops()

    def _shutdown_exporter(self) -> None:
        self._exporter.shutdown()

    def _keep(self, data: MetricsData) -> None:
        points = data_points(data)
        with self._acct:
            self._collected += points
            if self._stopping:
                self._failed_dropped += points
                return
            self._pending.append(_Batch(data, points))
            while len(self._pending) > MAX_PENDING:
                self._failed_dropped += self._pending.pop(0).points

    def _file(self, *, collect: bool, due: bool) -> FlushTicket:
        request = _Request(collect, due)
        with self._cond:
            if self._stopping:
                request.ticket.finish(False)
                return request.ticket
            if self._ensure_thread_locked():
                self._requests.append(request)
                self._cond.notify()
                return request.ticket
        # No thread can be started (interpreter exit on 3.12+): do it here and now.
        with self._inline:
            token = attach(set_value(SUPPRESS_KEY, True))
            try:
                self._serve([request])
            finally:
                detach(token)
        return request.ticket

    def _ensure_thread_locked(self) -> bool:
        if self._thread is None:
            thread = threading.Thread(
                target=self._run, name="otel-lambda-processor-export-metrics", daemon=True
            )
            try:
                thread.start()
            except RuntimeError:  # "can't create new thread at interpreter shutdown"
                return False
            self._thread = thread
        return True

    # -- the export thread ---------------------------------------------------------------------
    def _run(self) -> None:
        self._thread_id = threading.get_ident()
        attach(set_value(SUPPRESS_KEY, True))  # this thread only collects and exports
        while True:
            with self._cond:
                while not (self._requests or self._stopping):
                    self._cond.wait()
                if self._stopping:
                    return
                requests, self._requests = self._requests, []
            self._serve(requests)

    def _serve(self, requests: list[_Request]) -> None:
        if all(request.due for request in requests) and self._too_soon():
            for request in requests:
                request.ticket.finish(True)  # nothing lost: the next export takes it along
            return
        if any(request.collect for request in requests):
            self._collect_now()
        ok = self._export_pending()
        self._report_drops()
        for request in requests:
            request.ticket.finish(ok)

    def _too_soon(self) -> bool:
        interval = self._reader_settings.min_interval_millis / 1000
        last = self._last_export
        return interval > 0 and last is not None and time.monotonic() - last < interval

    def _collect_now(self) -> None:
        if self._collect is None:  # not registered with a MeterProvider (yet)
            return
        previous, self._thread_id = self._thread_id, threading.get_ident()
        try:
            self.collect(timeout_millis=self._timeout_millis())
        except Exception:
            _logger.exception("collecting metrics failed")
        finally:
            self._thread_id = previous

    def _timeout_millis(self) -> float:
        timeout = self._export_timeout
        return 10_000.0 if timeout is None else timeout * 1000

    def _export_pending(self) -> bool:
        with self._acct:
            batches, self._pending = self._pending, []
            self._in_flight = batches
        kept: list[_Batch] = []
        ok = True
        for index, batch in enumerate(batches):
            if self._stopping:
                return False  # stop() counted what is in flight
            if self._export(batch.data, batch.points):
                with self._acct:
                    self._exported += batch.points
                continue
            ok = False
            if batch.retried:  # its second failure
                with self._acct:
                    self._failed_dropped += batch.points
            else:
                batch.retried = True
                kept.append(batch)
            kept.extend(batches[index + 1 :])  # not tried: the collector is failing now
            break
        with self._acct:
            self._in_flight = []
            if self._stopping:
                self._failed_dropped += sum(batch.points for batch in kept)
            else:
                self._pending = kept + self._pending
        self._last_export = time.monotonic()
        return ok

    def _export(self, data: MetricsData, points: int) -> bool:
        try:
            result = self._exporter.export(data, timeout_millis=self._timeout_millis())
        except Exception:
            _logger.exception("exporting %d metric data points raised", points)
            return False
        if result is MetricExportResult.SUCCESS:
            return True
        # Our OTLP exporter says once that no collector answers; no line per failure then.
        level = logging.DEBUG if self._no_collector_at() else logging.WARNING
        _logger.log(level, "exporting %d metric data points failed: %s", points, result)
        return False

    def _no_collector_at(self) -> str | None:
        endpoint = getattr(self._exporter, "no_collector_at", None)
        return endpoint if isinstance(endpoint, str) else None

    def _report_drops(self) -> None:
        with self._acct:
            dropped = self._failed_dropped
            new = dropped - self._reported_dropped
            if new <= 0:
                return
            self._reported_dropped = dropped
        endpoint = self._no_collector_at()
        _logger.warning(
            "dropped %d metric data points since the last report, %d in all, whose export "
            "failed (%s)",
            new,
            dropped,
            f"no OTLP collector answers at {endpoint}" if endpoint else "check the exporter",
        )
