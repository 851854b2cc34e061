"""The processor's single export thread: at most one ``export()`` in flight, oldest spans first.

Callers never export themselves; they file a :class:`FlushTicket` and wait on it within their own
bound, so a hanging exporter costs them their timeout and nothing more.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry.context import attach, set_value

from .buffer import SpanRing

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter

try:  # the key the SDK's own processors set; private, so guard it
    from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY as _SUPPRESS_KEY
except ImportError:  # pragma: no cover - older or newer API without it
    from opentelemetry.context import create_key

    _SUPPRESS_KEY = create_key("suppress_instrumentation")

_logger = logging.getLogger("otel_lambda_processor.processor")


class FlushTicket:
    """One caller's request to export everything buffered when it was made."""

    __slots__ = ("_done", "_ok", "evicted_at_request")

    def __init__(self, evicted_at_request: int) -> None:
        self._done = threading.Event()
        self._ok = False
        self.evicted_at_request = evicted_at_request

    def finish(self, ok: bool) -> None:
        self._ok = ok
        self._done.set()

    def wait(self, timeout: float | None) -> bool:
        """Wait at most ``timeout`` seconds; ``True`` only if the flush finished and succeeded."""
        return self._done.wait(timeout) and self._ok


class _Finished:
    """A completion that is already over (nothing to wait for)."""

    def __init__(self, ok: bool) -> None:
        self._ok = ok

    def wait(self, timeout: float | None) -> bool:
        return self._ok


DONE = _Finished(True)


class ExportWorker:
    """Drains a :class:`SpanRing` into a ``SpanExporter`` on one daemon thread."""

    def __init__(
        self,
        exporter: SpanExporter,
        ring: SpanRing[ReadableSpan],
        batch_size: int,
        high_water: int,
    ) -> None:
        self._exporter = exporter
        self._ring = ring
        self._batch_size = batch_size
        self._high_water = high_water
        self._cond = threading.Condition(threading.Lock())
        self._tickets: list[FlushTicket] = []
        self._kicked = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        # Accounting: changed by the export thread (and by stop()) under _acct.
        self._acct = threading.Lock()
        self._in_flight: Sequence[ReadableSpan] | None = None
        self._closed = False
        self.exported = 0
        self.failed_dropped = 0
        self._reported_dropped = 0
        self._success: object = None

    # -- called from any thread ---------------------------------------------------------------
    def request_flush(self) -> FlushTicket:
        ticket = FlushTicket(self._ring.evicted())
        with self._cond:
            if self._stopping:
                ticket.finish(False)
                return ticket
            if self._thread is None and len(self._ring) == 0:
                ticket.finish(True)  # nothing was ever exported and nothing waits: no thread
                return ticket
            self._tickets.append(ticket)
            self._ensure_thread_locked()
            self._cond.notify()
        return ticket

    def kick(self) -> None:
        """Ask for background export of the oldest batches while the ring is above high water."""
        with self._cond:
            if self._stopping or self._kicked:
                return
            self._kicked = True
            self._ensure_thread_locked()
            self._cond.notify()

    def idle(self) -> bool:
        """No export in flight and none asked for (a hint: it can change right after)."""
        return self._in_flight is None and not self._tickets and not self._kicked

    def dropped(self) -> int:
        return self._ring.evicted() + self.failed_dropped

    def stop(self) -> None:
        """Stop taking work; an export still in flight is counted as dropped, leftovers too."""
        with self._cond:
            self._stopping = True
            tickets, self._tickets = self._tickets, []
            self._cond.notify()
        for ticket in tickets:
            ticket.finish(False)
        with self._acct:
            self._closed = True
            if self._in_flight is not None:
                self.failed_dropped += len(self._in_flight)
            self.failed_dropped += len(self._ring.drain_all())
        self._report_drops()

    def reinit_after_fork(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._acct = threading.Lock()
        self._tickets = []
        self._kicked = False
        self._thread = None
        self._in_flight = None

    def _ensure_thread_locked(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="otel-lambda-processor-export", daemon=True
            )
            self._thread.start()

    # -- the export thread --------------------------------------------------------------------
    def _run(self) -> None:
        # Imported here, not at import time: it pulls in the SDK's metrics and semconv modules.
        from opentelemetry.sdk.trace.export import SpanExportResult

        self._success = SpanExportResult.SUCCESS
        # This thread only ever exports: suppress instrumentation for all of it.
        attach(set_value(_SUPPRESS_KEY, True))
        while True:
            with self._cond:
                while not (self._tickets or self._kicked or self._stopping):
                    self._cond.wait()
                if self._stopping:
                    return
                tickets, self._tickets = self._tickets, []
                kicked, self._kicked = self._kicked, False
            if tickets:
                self._flush(tickets)
            elif kicked:
                self._export_above_high_water()

    def _flush(self, tickets: list[FlushTicket]) -> None:
        ok = True
        remaining = len(self._ring)  # covers everything buffered when each ticket was filed
        while remaining > 0 and not self._stopping:
            sent = self._export_one_batch(min(remaining, self._batch_size))
            if sent < 0:
                ok = False  # the collector is failing: keep the rest for the next flush
                break
            if sent == 0:
                break
            remaining -= sent
        evicted = self._ring.evicted()
        self._report_drops()
        for ticket in tickets:
            ticket.finish(ok and evicted == ticket.evicted_at_request)

    def _export_above_high_water(self) -> None:
        while len(self._ring) >= self._high_water and not self._stopping:
            with self._cond:
                if self._tickets:  # a waiting caller goes first
                    return
            if self._export_one_batch(self._batch_size) <= 0:
                return

    def _export_one_batch(self, limit: int) -> int:
        """Export up to ``limit`` oldest spans; the count sent, 0 if none, -1 if it failed."""
        with self._acct:  # taking and marking in flight is one step for stop()'s accounting
            if self._closed:
                return -1
            batch, retried = self._ring.take(limit)
            if not batch:
                return 0
            self._in_flight = batch
        ok = False
        try:
            result: Any = self._exporter.export(batch)
            ok = result is self._success
            if not ok:
                _logger.warning("exporting %d spans failed: %s", len(batch), result)
        except Exception:
            _logger.exception("exporting %d spans raised", len(batch))
        with self._acct:
            self._in_flight = None
            if self._closed:  # stop() already counted this batch as dropped
                return -1
            if ok:
                self.exported += len(batch)
                return len(batch)
            # Retried spans have had their second chance; the rest go back once, space allowing.
            fresh = batch[retried:]
            kept = self._ring.put_back(fresh)
            self.failed_dropped += retried + len(fresh) - kept
            return -1

    def _report_drops(self) -> None:
        dropped = self.dropped()
        with self._acct:
            new = dropped - self._reported_dropped
            if new <= 0:
                return
            self._reported_dropped = dropped
        _logger.warning(
            "dropped %d spans since the last report (%d in all): the buffer was full or the "
            "export failed; raise LAMBDA_SPAN_PROCESSOR_QUEUE_SIZE or check the exporter",
            new,
            dropped,
        )
