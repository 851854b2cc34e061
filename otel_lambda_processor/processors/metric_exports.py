"""The metric reader's export side: collections kept for export and the one thread that
collects and exports them, on request, with every data point exported or counted as dropped.

Owns that thread, the pending collections and their accounting; must not decide *when* to
export (that is :class:`~..export.pipeline.ExportPipeline`, from the lifecycle signals).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from opentelemetry.context import attach, detach, set_value
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult

from ..export.worker import SUPPRESS_KEY, FlushTicket

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


class MetricExports:
    """Collections kept for export and the one thread that collects and exports them.

    ``collect(timeout_millis)`` makes the reader collect (the SDK then hands the collection to
    :meth:`keep`); a failed export is kept and retried once, before newer collections.
    """

    def __init__(
        self,
        exporter: MetricExporter,
        collect: Callable[[float], None],
        timeout_millis: float,
        min_interval_millis: int,
    ) -> None:
        self._exporter = exporter
        self._collect = collect
        self._timeout_millis = timeout_millis
        self._min_interval = min_interval_millis / 1000
        self._cond = threading.Condition(threading.Lock())
        self._requests: list[_Request] = []
        self._stopping = False
        self._thread: threading.Thread | None = None
        #: The thread collecting or exporting now (a collection it makes is not waited on).
        self.thread_id: int | None = None
        self._inline = threading.Lock()
        self._acct = threading.Lock()
        self._pending: list[_Batch] = []
        self._in_flight: list[_Batch] = []
        self._last_export: float | None = None
        #: Data points collected, and those dropped (see ``LambdaMetricReader.dropped_points``).
        self.collected = 0
        self._exported = 0
        self.failed_dropped = 0
        self._reported_dropped = 0

    def stop(self) -> None:
        """Stop the export thread; whatever is left is counted as dropped."""
        with self._cond:
            self._stopping = True
            requests, self._requests = self._requests, []
            self._cond.notify()
        for request in requests:
            request.ticket.finish(False)
        with self._acct:
            left = self._pending + self._in_flight
            self._pending, self._in_flight = [], []
            self.failed_dropped += sum(batch.points for batch in left)
        self._report_drops()

    def keep(self, data: MetricsData) -> None:
        """Keep a collection for export (each of its points counted now)."""
        points = data_points(data)
        with self._acct:
            self.collected += points
            if self._stopping:
                self.failed_dropped += points
                return
            self._pending.append(_Batch(data, points))
            while len(self._pending) > MAX_PENDING:
                self.failed_dropped += self._pending.pop(0).points

    def request(self, *, collect: bool, due: bool) -> FlushTicket:
        """Ask the export thread to collect (``collect``) and export what is kept; ``due``: a
        mode's regular export, skipped within the minimum interval."""
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
        self.thread_id = threading.get_ident()
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
        interval = self._min_interval
        last = self._last_export
        return interval > 0 and last is not None and time.monotonic() - last < interval

    def _collect_now(self) -> None:
        previous, self.thread_id = self.thread_id, threading.get_ident()
        try:
            self._collect(self._timeout_millis)
        except Exception:
            _logger.exception("collecting metrics failed")
        finally:
            self.thread_id = previous

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
                    self.failed_dropped += batch.points
            else:
                batch.retried = True
                kept.append(batch)
            kept.extend(batches[index + 1 :])  # not tried: the collector is failing now
            break
        with self._acct:
            self._in_flight = []
            if self._stopping:
                self.failed_dropped += sum(batch.points for batch in kept)
            else:
                self._pending = kept + self._pending
        self._last_export = time.monotonic()
        return ok

    def _export(self, data: MetricsData, points: int) -> bool:
        try:
            result = self._exporter.export(data, timeout_millis=self._timeout_millis)
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
            dropped = self.failed_dropped
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
