"""What the span and log processors and the metric reader share: modes, signals, waits, shutdown.

A subclass supplies the data side (how items are buffered and exported, see
:class:`ExportPipeline`); this module decides *when* it exports, from the lifecycle signals and
the mode, and bounds every wait by the export timeout and the invocation deadline. It knows
nothing of spans, log records or metrics.

Owns modes, waits, shutdown and the fork for all three processors; must not touch an item or
an exporter's format, and hears the lifecycle only through :mod:`..signals`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from ..signals import (
    HUB,
    Completion,
    ExportDue,
    ExportReason,
    HandlerDone,
    InvocationStarted,
    Signal,
    seconds_left,
)
from .buffer import SpanRing
from .settings import ProcessorMode, ProcessorSettings
from .worker import DONE, ExportWorker, FlushTicket, ItemKind, Probe

_logger = logging.getLogger("otel_lambda_processor.processor")

#: What ``shutdown`` waits at most when the export timeout is 0 ("no limit") and no deadline
#: applies: the SDK's default export timeout.
SHUTDOWN_TIMEOUT_MILLIS = 30_000


class Capped:
    """A completion whose wait also ends ``cap`` seconds after it was made (the processor's
    export timeout, counted from the request: a publisher waiting on several in turn waits for
    the longest, not for their sum)."""

    __slots__ = ("_end", "_inner")

    def __init__(self, inner: Completion, cap: float | None) -> None:
        self._inner = inner
        self._end = None if cap is None else time.monotonic() + cap

    def wait(self, timeout: float | None) -> bool:
        if self._end is not None:
            left = max(0.0, self._end - time.monotonic())
            timeout = left if timeout is None else min(timeout, left)
        return self._inner.wait(timeout)


def handler_thread(invocation: InvocationStarted) -> int | None:
    """The thread that runs ``invocation``'s handler (the main thread unless told otherwise)."""
    if invocation.handler_thread is not None:
        return invocation.handler_thread
    return threading.main_thread().ident


class ExportPipeline:
    """Lifecycle-driven exporting, shared by the three signals' processors.

    Subclasses call :meth:`_start_pipeline` at the end of ``__init__`` and implement
    :meth:`_build`, :meth:`_request_export`, :meth:`_has_nothing_to_export`,
    :meth:`_stop_exporting`, :meth:`_shutdown_exporter` and :meth:`_rebuild_after_fork`.
    Exports run on the subclass's export thread; here callers only file requests and wait on
    them, within their bounds.
    """

    #: Listeners are told of a signal in this order (spans first: they matter most at SIGTERM).
    signal_priority = 0
    _mode: ProcessorMode
    _export_timeout: float | None
    _sdk_disabled: bool

    def _start_pipeline(
        self, mode: ProcessorMode, export_timeout_millis: int, sdk_disabled: bool
    ) -> None:
        """Set up, :meth:`_build` the data side, then listen to the lifecycle signals."""
        self._mode = mode
        self._export_timeout = export_timeout_millis / 1000.0 if export_timeout_millis else None
        self._sdk_disabled = sdk_disabled
        self._shutdown_lock = threading.Lock()
        self._is_shutdown = False
        self._invocation: InvocationStarted | None = None
        self._shutdown_deadline: float | None = None
        #: The last flush of a shutdown in progress: what a SIGTERM meanwhile waits for.
        self._final_flush: Completion | None = None
        self._build()
        if sdk_disabled:
            return
        HUB.subscribe(self, mode.value)
        if hasattr(os, "register_at_fork"):
            weak_reinit = weakref.WeakMethod(self._after_fork_in_child)

            def _after_in_child() -> None:
                reinit = weak_reinit()
                if reinit is not None:
                    reinit()

            os.register_at_fork(after_in_child=_after_in_child)

    # -- what a subclass provides --------------------------------------------------------------
    def _build(self) -> None:
        """Create the buffer and the export worker (again in a forked child)."""
        raise NotImplementedError

    def _silence(self) -> None:
        """Shutdown has begun: ignore new items from now on."""

    def _request_export(self, *, due: bool = False) -> FlushTicket:
        """File a request to export everything buffered now (``due``: a mode's regular export,
        which a metric reader may skip within its minimum interval)."""
        raise NotImplementedError

    def _has_nothing_to_export(self) -> bool:
        """Nothing buffered and no export in flight (a hint: it can change right after)."""
        raise NotImplementedError

    def _stop_exporting(self) -> None:
        """Stop the export thread; whatever is left is counted as dropped."""
        raise NotImplementedError

    def _shutdown_exporter(self) -> None:
        raise NotImplementedError

    def _rebuild_after_fork(self) -> None:
        """Keep the parent's counts, then :meth:`_build` afresh (no lock may be taken)."""
        raise NotImplementedError

    # -- what a subclass may add: a decision per invocation (span sampling) -------------------
    def _invocation_started(self, request_id: str) -> None:
        """An invocation has started (before its handler runs, if the runtime says so)."""

    def _handler_finished(self, request_id: str | None, *, decide: bool) -> None:
        """Its handler is done. ``decide``: an export may follow at once, so decide now;
        otherwise an export follows the response (:meth:`_settle` then)."""

    def _settle(self, request_id: str | None = None) -> None:
        """Everything buffered is about to be exported (for ``request_id``'s invocation, if
        given): decide what can be decided, keep the rest."""

    def _after_fork_in_child(self) -> None:
        # No lock may be taken here: another thread of the parent could have held it.
        self._shutdown_lock = threading.Lock()
        self._invocation = None
        self._rebuild_after_fork()

    # -- flush and shutdown --------------------------------------------------------------------
    def _force_flush(self, timeout_millis: float | None) -> bool:
        """Export everything buffered now; ``True`` only if all of it was exported in time.

        Waits at most ``timeout_millis`` (and never past an open invocation's deadline). In
        ``ASYNC`` mode, a call from the handler's thread during an open invocation says "handler
        done" instead and returns ``True``: the export follows the response.
        """
        if self._is_shutdown:
            return False
        if self._sdk_disabled:
            return True
        invocation = self._invocation
        if (
            self._mode is ProcessorMode.ASYNC
            and invocation is not None
            and threading.get_ident() == handler_thread(invocation)
        ):
            HUB.handler_done(invocation.request_id)
            return True
        timeout = max(0.0, timeout_millis / 1000.0) if timeout_millis is not None else None
        self._settle()
        return self._wait(self._request_export(), timeout)

    def _shutdown_pipeline(self) -> bool:
        """Flush within the export timeout (or the shutdown deadline), stop, shut the exporter.

        ``False`` if it was shut down already. With no export timeout (0) and no deadline it
        still waits at most :data:`SHUTDOWN_TIMEOUT_MILLIS`: interpreter exit must end.
        """
        with self._shutdown_lock:
            if self._is_shutdown:
                return False
            self._is_shutdown = True
        self._silence()
        if not self._sdk_disabled:
            limit = None if self._export_timeout is not None else SHUTDOWN_TIMEOUT_MILLIS / 1000
            self._settle()
            ticket = self._request_export()
            # Still subscribed: a SIGTERM now (an exit handler racing Lambda's shutdown) waits
            # for this flush, within its budget, before the process dies.
            self._final_flush = Capped(ticket, self._export_timeout)
            self._wait(ticket, limit, self._shutdown_deadline)
            self._stop_exporting()
        HUB.unsubscribe(self)
        try:
            self._shutdown_exporter()
        except Exception:
            _logger.exception("shutting down the exporter of %r failed", self)
        return True

    def _wait(
        self, ticket: FlushTicket, timeout: float | None, deadline: float | None = None
    ) -> bool:
        if deadline is None and self._invocation is not None:
            deadline = self._invocation.deadline
        return Capped(ticket, self._export_timeout).wait(seconds_left(deadline, timeout))

    # -- lifecycle signals ---------------------------------------------------------------------
    def on_signal(self, signal: Signal) -> Completion | None:
        """React to a lifecycle signal; return the export the publisher should wait on."""
        if self._is_shutdown:
            final = self._final_flush
            if isinstance(signal, ExportDue) and signal.reason is ExportReason.SHUTDOWN:
                return final
            return None
        if isinstance(signal, InvocationStarted):
            self._invocation = signal
            self._invocation_started(signal.request_id)
            return None
        if isinstance(signal, HandlerDone):
            return self._on_handler_done(signal)
        if isinstance(signal, ExportDue):
            return self._on_export_due(signal)
        return None

    def _on_handler_done(self, signal: HandlerDone) -> Completion | None:
        follows = self._mode is ProcessorMode.ASYNC and signal.export_follows
        self._handler_finished(signal.request_id, decide=not follows)
        if self._mode is ProcessorMode.FINALIZE:
            return None
        if self._mode is ProcessorMode.ASYNC:
            if signal.export_follows:
                return None
            if not signal.freezes:  # nothing freezes us: export in the background, don't wait
                self._request_export(due=True)
                self._close_invocation(signal.request_id)
                return None
        self._close_invocation(signal.request_id)
        return self._export_now(due=True)

    def _on_export_due(self, signal: ExportDue) -> Completion | None:
        if signal.reason is ExportReason.SHUTDOWN:
            self._shutdown_deadline = signal.deadline
            self._invocation = None
            self._settle()
            return self._export_now(due=False)
        self._close_invocation(signal.request_id)
        if self._mode is ProcessorMode.ASYNC:
            self._settle(signal.request_id)
            return self._export_now(due=True)
        return None

    def _export_now(self, *, due: bool) -> Completion:
        if self._has_nothing_to_export():
            return DONE
        return Capped(self._request_export(due=due), self._export_timeout)

    def _close_invocation(self, request_id: str | None) -> None:
        invocation = self._invocation
        if invocation is None:
            return
        if request_id is None or invocation.request_id == request_id:
            self._invocation = None


#: Export in the background once the buffer is this full during an invocation.
HIGH_WATER_FRACTION = 0.75


def check_interval(capacity: int) -> int:
    """How often (in appends, a power of two) the hot path looks at the high-water mark."""
    interval = 1
    while interval * 2 <= max(1, capacity // 16) and interval < 128:
        interval *= 2
    return interval


class BufferedPipeline(ExportPipeline):
    """A ring buffer and one export worker: what the span and the log processors share.

    The subclass installs its hot path (``on_end``, ``on_emit``) as a closure over the ring's
    ``append`` and ``tick`` in :meth:`_install_hot_path`; the first item also starts the export
    thread, so that it exists at interpreter exit (Python 3.12+ refuses new threads then).
    """

    _hot_path_name = "on_end"

    def _start_buffered(
        self, exporter: Any, settings: ProcessorSettings, kind: ItemKind, probe: Probe | None
    ) -> None:
        self._settings: ProcessorSettings = settings
        self._exporter = exporter
        self._kind = kind
        self._probe = probe
        capacity = settings.max_queue_size
        self._high_water = max(1, int(capacity * HIGH_WATER_FRACTION))
        self._check_mask = check_interval(capacity) - 1
        self._dropped_before_fork = 0
        self._start_pipeline(settings.mode, settings.export_timeout_millis, settings.sdk_disabled)

    def _build(self) -> None:
        self._ring: SpanRing[Any] = SpanRing(self._settings.max_queue_size)
        self._worker = ExportWorker(
            self._exporter,
            self._ring,
            self._settings.max_export_batch_size,
            self._high_water,
            self._probe,
            self._kind,
        )
        if self._is_shutdown or self._sdk_disabled:
            self._set_hot_path(self._ignore)
        else:
            check = None if self._mode is ProcessorMode.FINALIZE else self._check_high_water
            self._set_hot_path(self._first_item_starter(self._install_hot_path(check)))

    def _install_hot_path(
        self, check_high_water: Callable[[], None] | None
    ) -> Callable[[Any], None]:
        """The steady hot path: append to ``self._ring``, tick, every ``self._check_mask + 1``
        appends call ``check_high_water`` (when there is one)."""
        raise NotImplementedError

    def _set_hot_path(self, function: Callable[[Any], None]) -> None:
        self._hot_path = function
        setattr(self, self._hot_path_name, function)

    def _ignore(self, item: Any) -> None:
        """The hot path after shutdown or with the SDK disabled."""

    def _silence(self) -> None:
        self._set_hot_path(self._ignore)

    def _first_item_starter(self, steady: Callable[[Any], None]) -> Callable[[Any], None]:
        """The hot path until the first item: start the export thread, then hand over to
        ``steady``."""
        worker = self._worker

        def on_first(item: Any) -> None:
            if self._is_shutdown:
                return
            if self._hot_path is on_first:
                self._set_hot_path(steady)
                try:
                    worker.start()
                except Exception:  # the hot path never raises; request_flush copes without it
                    _logger.debug("could not start the export thread", exc_info=True)
            steady(item)

        return on_first

    def _check_high_water(self) -> None:
        if len(self._ring) >= self._high_water:
            self._worker.kick()

    def _rebuild_after_fork(self) -> None:
        self._dropped_before_fork += self._ring._max_evicted + self._worker.failed_dropped
        self._build()

    def _dropped(self) -> int:
        return self._dropped_before_fork + self._worker.dropped()

    def _request_export(self, *, due: bool = False) -> FlushTicket:
        return self._worker.request_flush()

    def _has_nothing_to_export(self) -> bool:
        return len(self._ring) == 0 and self._worker.idle()

    def _stop_exporting(self) -> None:
        self._worker.stop()

    def _shutdown_exporter(self) -> None:
        self._exporter.shutdown()
