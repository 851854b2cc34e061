"""A processor's single export thread: at most one ``export()`` in flight, oldest items first.

Callers never export themselves; they file a :class:`FlushTicket` and wait on it within their own
bound, so a hanging exporter costs them their timeout and nothing more. The thread starts with the
first buffered span, so that it exists at interpreter exit: Python 3.12+ refuses to start threads
then. Should it still be missing there, the caller exports inline, bounded by the exporter's own
timeout.

A batch that fails is put back once. When the exporter speaks OTLP, a failed batch is first
checked for spans that can never be encoded (text with lone surrogates, values nested beyond the
protobuf limit): those alone are dropped, counted and named in one warning, and the rest is
exported again at once.

Owns one processor's export thread and its flush tickets (its counts and drop reports are in
:mod:`.drops`); must not decide when to export (:mod:`.pipeline` does) nor know who published
the signal.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.context import attach, detach, set_value

from .buffer import SpanRing
from .drops import DropAccount, no_collector_at

try:  # the key the SDK's own processors set; private, so guard it
    from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY as _SUPPRESS_KEY
except ImportError:  # pragma: no cover - older or newer API without it
    from opentelemetry.context import create_key

    _SUPPRESS_KEY = create_key("suppress_instrumentation")

#: The context key that turns instrumentation off around our own exports.
SUPPRESS_KEY = _SUPPRESS_KEY

_logger = logging.getLogger("otel_lambda_processor.processor")

#: Finds the spans of a failed batch that can never be encoded: ``(index, why)`` pairs.
Probe = Callable[[Sequence[Any]], list[tuple[int, str]]]

_OTLP_MODULES = ("opentelemetry.exporter.otlp.", "otel_lambda_processor.otlp.")


def unencodable_probe(exporter: object, encoder: str = "encode_spans") -> Probe | None:
    """The OTLP encodability check for an exporter that encodes OTLP, else ``None``.

    ``encoder`` names our encoder for the items (``encode_spans``, ``encode_logs``). Other
    exporters have other formats: for them a failed batch is only put back.
    """
    if any(c.__module__.startswith(_OTLP_MODULES) for c in type(exporter).__mro__):
        return functools.partial(_unencodable_as_otlp, encoder)
    return None


def _unencodable_as_otlp(encoder: str, items: Sequence[Any]) -> list[tuple[int, str]]:
    # Imported on the first failed export only; the encoder raises where the official one does.
    from .. import otlp

    encode = getattr(otlp, encoder)
    try:
        encode(items)
        return []  # the batch encodes: the failure was elsewhere (network, collector)
    except Exception:
        pass
    found: list[tuple[int, str]] = []
    for index, item in enumerate(items):
        try:
            encode([item])
        except Exception as error:
            found.append((index, f"{type(error).__name__}: {error}"[:300]))
    return found


class ItemKind:
    """What a worker exports, for its messages and its results: spans or log records."""

    __slots__ = ("_success", "_successes", "noun", "prepare", "queue_variable", "thread_name")

    def __init__(
        self,
        noun: str,
        queue_variable: str,
        thread_name: str,
        successes: Callable[[], tuple[object, ...]],
        prepare: Callable[[list[Any]], list[Any]] | None = None,
    ) -> None:
        self.noun = noun
        self.queue_variable = queue_variable
        self.thread_name = thread_name
        self._successes = successes
        #: Turns buffered items into what the exporter takes, on the export thread.
        self.prepare = prepare
        self._success: tuple[object, ...] | None = None

    def success_values(self) -> tuple[object, ...]:
        """The exporter results that mean success (imported late: the SDK's export modules
        pull in its metrics and semconv modules)."""
        if self._success is None:
            self._success = self._successes()
        return self._success


def _span_successes() -> tuple[object, ...]:
    from opentelemetry.sdk.trace.export import SpanExportResult

    return (SpanExportResult.SUCCESS,)


SPANS = ItemKind(
    "spans", "LAMBDA_SPAN_PROCESSOR_QUEUE_SIZE", "otel-lambda-processor-export", _span_successes
)


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
    """Drains a :class:`SpanRing` into an exporter (spans or log records) on one daemon thread."""

    def __init__(
        self,
        exporter: Any,
        ring: SpanRing[Any],
        batch_size: int,
        high_water: int,
        probe: Probe | None = None,
        kind: ItemKind = SPANS,
    ) -> None:
        self._exporter = exporter
        self._kind = kind
        self._probe = probe
        self._ring = ring
        self._batch_size = batch_size
        self._high_water = high_water
        self._cond = threading.Condition(threading.Lock())
        self._tickets: list[FlushTicket] = []
        self._kicked = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        # Accounting: changed by the export thread (and by stop()) under the books' own lock.
        self._books = DropAccount(ring, kind, exporter)
        # Only while no thread can be started (interpreter exit): callers export one at a time.
        self._inline = threading.Lock()

    @property
    def exported(self) -> int:
        return self._books.exported

    @property
    def failed_dropped(self) -> int:
        """Spans dropped because their export failed (the unencodable ones included)."""
        return self._books.failed_dropped

    @property
    def unencodable(self) -> int:
        """Of those, spans that could never be encoded."""
        return self._books.unencodable

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
            if self._ensure_thread_locked():
                self._tickets.append(ticket)
                self._cond.notify()
                return ticket
        # No thread can be started (interpreter shutdown on 3.12+): export here and now.
        with self._inline:
            token = attach(set_value(_SUPPRESS_KEY, True))
            try:
                self._flush([ticket])
            finally:
                detach(token)
        return ticket

    def start(self) -> None:
        """Start the export thread now (idle until asked), so that it exists at exit."""
        with self._cond:
            if not self._stopping:
                self._ensure_thread_locked()

    def kick(self) -> None:
        """Ask for background export of the oldest batches while the ring is above high water."""
        with self._cond:
            if self._stopping or self._kicked or not self._ensure_thread_locked():
                return
            self._kicked = True
            self._cond.notify()

    def idle(self) -> bool:
        """No export in flight and none asked for (a hint: it can change right after)."""
        return self._books.in_flight is None and not self._tickets and not self._kicked

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
        self._books.close()
        self._books.report()

    def reinit_after_fork(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._books.reinit_after_fork()
        self._tickets = []
        self._kicked = False
        self._thread = None

    def _ensure_thread_locked(self) -> bool:
        """Start the export thread if there is none; ``False`` if none can be started."""
        if self._thread is None:
            thread = threading.Thread(target=self._run, name=self._kind.thread_name, daemon=True)
            try:
                thread.start()
            except RuntimeError:  # "can't create new thread at interpreter shutdown"
                return False
            self._thread = thread
        return True

    # -- the export thread --------------------------------------------------------------------
    def _run(self) -> None:
        self._kind.success_values()
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
        self._books.report()
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
        """Export up to ``limit`` oldest spans; the count taken, 0 if none, -1 if it failed."""
        took = self._books.take(limit)  # taken and marked in flight in one step, for stop()
        if took is None:
            return -1
        batch, retried = took
        if not batch:
            return 0
        taken = len(batch)
        if self._kind.prepare is not None:
            try:
                batch = self._kind.prepare(batch)
            except Exception:  # pragma: no cover - the SDK's own constructor failing
                _logger.exception("preparing %d %s for export failed", taken, self._kind.noun)
        ok = self._export(batch)
        if not ok and self._probe is not None:
            batch, retried, ok = self._export_encodable(batch, retried)
        return self._books.settle(batch, taken, retried, ok)

    def _export(self, batch: Sequence[Any]) -> bool:
        noun = self._kind.noun
        try:
            result: Any = self._exporter.export(batch)
        except Exception:
            _logger.exception("exporting %d %s raised", len(batch), noun)
            return False
        if any(result is value for value in self._kind.success_values()):
            return True
        # Our OTLP exporters say once that no collector answers; no line per failed batch then.
        quiet = no_collector_at(self._exporter) is not None
        level = logging.DEBUG if quiet else logging.WARNING
        _logger.log(level, "exporting %d %s failed: %s", len(batch), noun, result)
        return False

    def _export_encodable(self, batch: list[Any], retried: int) -> tuple[list[Any], int, bool]:
        """After a failed export: drop the spans that can never be encoded, export the rest.

        Returns what is left of the batch, how many of its leading spans were retried already,
        and whether exporting it succeeded.
        """
        assert self._probe is not None
        try:
            bad = self._probe(batch)
        except Exception:
            _logger.debug("checking a failed batch for unencodable spans failed", exc_info=True)
            return batch, retried, False
        if not bad:
            return batch, retried, False
        drop = {index for index, _ in bad}
        rest = [span for index, span in enumerate(batch) if index not in drop]
        if not self._books.drop_unencodable(len(drop), rest):
            return batch, retried, False
        _logger.warning(
            "dropped %d of %d %s in a batch because they cannot be encoded (the first: "
            "%s); exporting the other %d",
            len(drop),
            len(batch),
            self._kind.noun,
            bad[0][1],
            len(rest),
        )
        retried -= sum(1 for index in drop if index < retried)
        return rest, retried, not rest or self._export(rest)
