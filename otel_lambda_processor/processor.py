"""``LambdaSpanProcessor``: buffer ended spans cheaply, export when a lifecycle signal says so."""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import SpanContext, TraceFlags

from .buffer import SpanRing
from .config import ProcessorMode, ProcessorSettings, settings_from_environment
from .exporting import DONE, ExportWorker, FlushTicket, unencodable_probe
from .signals import (
    HUB,
    Completion,
    ExportDue,
    ExportReason,
    HandlerDone,
    InvocationStarted,
    Signal,
    seconds_left,
)

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

_logger = logging.getLogger(__name__)

#: Export in the background once the buffer is this full during an invocation.
HIGH_WATER_FRACTION = 0.75
#: What ``shutdown`` waits at most when the export timeout is 0 ("no limit") and no deadline
#: applies: the SDK's default export timeout.
SHUTDOWN_TIMEOUT_MILLIS = 30_000


def _sampled_public(span: ReadableSpan) -> bool:
    try:
        context = span.context
        return context is not None and context.trace_flags.sampled
    except Exception:
        return False


def _context_layout_is_known() -> bool:
    """Check that ``span._context[3]`` is the trace flags, as the fast sampled test assumes."""
    try:
        # An explicit resource: the default one detects the host, ~3 ms of cold start.
        resource = Resource({})
        for flags in (0, 1):
            context = SpanContext(1, 1, False, TraceFlags(flags))
            span = ReadableSpan("probe", context=context, resource=resource)
            fast = span._context[3] & 1  # type: ignore[index]
            if fast != flags or _sampled_public(span) != bool(flags):
                return False
        return True
    except Exception:
        return False


_layout_known: bool | None = None


def _fast_sampled_check() -> bool:
    """Whether ``on_end`` may use the fast sampled test: probed at the first processor's
    construction rather than at import (importing alone stays cheap), then remembered."""
    global _layout_known
    if _layout_known is None:
        _layout_known = _context_layout_is_known()
    return _layout_known


def _make_on_end(
    append: Callable[[ReadableSpan], None],
    tick: Callable[[], int],
    mask: int,
    check_high_water: Callable[[], None] | None,
) -> Callable[[ReadableSpan], None]:
    """Build the hot path as a closure: no ``self`` lookups, no bound-method creation.

    Stored on the instance as ``on_end``, it costs about a third less than the same code as a
    method (see benchmarks/). Every ``mask + 1`` appends it calls ``check_high_water``; without
    one (``finalize`` never exports on its own) it only appends and counts.
    """
    fast = _fast_sampled_check()
    if fast and check_high_water is None:

        def on_end(span: ReadableSpan) -> None:
            try:
                if not span._context[3] & 1:  # type: ignore[index]
                    return
            except Exception:  # not an SDK span after all: take the public path
                if not _sampled_public(span):
                    return
            append(span)
            tick()

    elif fast and check_high_water is not None:

        def on_end(span: ReadableSpan) -> None:
            try:
                if not span._context[3] & 1:  # type: ignore[index]
                    return
            except Exception:  # not an SDK span after all: take the public path
                if not _sampled_public(span):
                    return
            append(span)
            if not tick() & mask:
                check_high_water()

    else:  # pragma: no cover - an SDK whose SpanContext layout we do not know

        def on_end(span: ReadableSpan) -> None:
            if not _sampled_public(span):
                return
            append(span)
            if not tick() & mask and check_high_water is not None:
                check_high_water()

    return on_end


def _check_interval(capacity: int) -> int:
    """How often (in appends, a power of two) ``on_end`` looks at the high-water mark."""
    interval = 1
    while interval * 2 <= max(1, capacity // 16) and interval < 128:
        interval *= 2
    return interval


class _Capped:
    """A completion whose wait is also capped by the processor's export timeout."""

    __slots__ = ("_cap", "_inner")

    def __init__(self, inner: Completion, cap: float | None) -> None:
        self._inner = inner
        self._cap = cap

    def wait(self, timeout: float | None) -> bool:
        if self._cap is not None:
            timeout = self._cap if timeout is None else min(timeout, self._cap)
        return self._inner.wait(timeout)


class LambdaSpanProcessor(SpanProcessor):
    """A span processor for AWS Lambda: a bounded ring buffer exported on lifecycle signals.

    ``on_end`` only appends to the buffer; exports run on one export thread, when the mode's
    signal arrives (see :class:`ProcessorMode`), on ``force_flush`` and on ``shutdown``. Every
    ended sampled span is exported or counted in :attr:`dropped_spans`. Arguments left ``None``
    come from the environment (``LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE``,
    ``LAMBDA_SPAN_PROCESSOR_QUEUE_SIZE``, ``LAMBDA_SPAN_PROCESSOR_BATCH_SIZE``,
    ``LAMBDA_SPAN_PROCESSOR_EXPORT_TIMEOUT``), else the defaults.
    """

    def __init__(
        self,
        span_exporter: SpanExporter,
        *,
        mode: ProcessorMode | str | None = None,
        max_queue_size: int | None = None,
        max_export_batch_size: int | None = None,
        export_timeout_millis: int | None = None,
    ) -> None:
        self._settings: ProcessorSettings = settings_from_environment(
            mode=mode,
            max_queue_size=max_queue_size,
            max_export_batch_size=max_export_batch_size,
            export_timeout_millis=export_timeout_millis,
        )
        self._exporter = span_exporter
        self._mode = self._settings.mode
        timeout = self._settings.export_timeout_millis
        self._export_timeout: float | None = timeout / 1000.0 if timeout > 0 else None
        capacity = self._settings.max_queue_size
        self._high_water = max(1, int(capacity * HIGH_WATER_FRACTION))
        self._check_mask = _check_interval(capacity) - 1
        self._shutdown_lock = threading.Lock()
        self._is_shutdown = False
        self._invocation: InvocationStarted | None = None
        self._shutdown_deadline: float | None = None
        self._dropped_before_fork = 0
        self._build_pipeline()
        if self._settings.sdk_disabled:
            return
        HUB.subscribe(self, self._mode.value)
        if hasattr(os, "register_at_fork"):
            weak_reinit = weakref.WeakMethod(self._after_fork_in_child)

            def _after_in_child() -> None:
                reinit = weak_reinit()
                if reinit is not None:
                    reinit()

            os.register_at_fork(after_in_child=_after_in_child)

    def _build_pipeline(self) -> None:
        self._ring: SpanRing[ReadableSpan] = SpanRing(self._settings.max_queue_size)
        self._worker = ExportWorker(
            self._exporter,
            self._ring,
            self._settings.max_export_batch_size,
            self._high_water,
            unencodable_probe(self._exporter),
        )
        self._on_end: Callable[[ReadableSpan], None]
        if self._is_shutdown or self._settings.sdk_disabled:
            self._on_end = self._ignore_span
        else:
            check = None if self._mode is ProcessorMode.FINALIZE else self._check_high_water
            steady = _make_on_end(self._ring.append, self._ring.tick, self._check_mask, check)
            self._on_end = self._first_span_starter(steady)
        self.on_end = self._on_end  # type: ignore[method-assign, assignment]

    def _first_span_starter(
        self, steady: Callable[[ReadableSpan], None]
    ) -> Callable[[ReadableSpan], None]:
        """``on_end`` until the first span: start the export thread, then hand over to
        ``steady``. A thread started now still exists at interpreter exit, when Python 3.12+
        refuses to start one (and so could not export what is left)."""
        worker = self._worker

        def on_first_end(span: ReadableSpan) -> None:
            if self._is_shutdown:
                return
            if self._on_end is on_first_end:
                self._on_end = self.on_end = steady  # type: ignore[method-assign, assignment]
                try:
                    worker.start()
                except Exception:  # on_end never raises; request_flush copes without it
                    _logger.debug("could not start the export thread", exc_info=True)
            steady(span)

        return on_first_end

    def _after_fork_in_child(self) -> None:
        # No lock may be taken here: another thread of the parent could have held it.
        self._dropped_before_fork += self._ring._max_evicted + self._worker.failed_dropped
        self._shutdown_lock = threading.Lock()
        self._invocation = None
        self._build_pipeline()

    # -- public properties ---------------------------------------------------------------------
    @property
    def mode(self) -> ProcessorMode:
        """The mode in effect (argument, else environment, else ``ASYNC``)."""
        return self._mode

    @property
    def span_exporter(self) -> SpanExporter:
        """The exporter it hands batches to (as on the SDK's ``SimpleSpanProcessor``)."""
        return self._exporter

    @property
    def settings(self) -> ProcessorSettings:
        """Every setting in effect, after validation."""
        return self._settings

    @property
    def dropped_spans(self) -> int:
        """Spans dropped since creation: overwritten in a full buffer, or failed to export."""
        return self._dropped_before_fork + self._worker.dropped()

    # -- the SpanProcessor interface -----------------------------------------------------------
    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Nothing to do when a span starts."""

    def on_end(self, span: ReadableSpan) -> None:
        """Buffer a sampled span: a bit test and two C calls, no lock, no logging.

        The instance carries a closure with the same behaviour (see :func:`_make_on_end`), which
        the SDK finds first; this method is the reference for anyone calling it on the class.
        """
        self._on_end(span)

    def _ignore_span(self, span: ReadableSpan) -> None:
        """``on_end`` after shutdown or with the SDK disabled."""

    def _check_high_water(self) -> None:
        if len(self._ring) >= self._high_water:
            self._worker.kick()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Export everything buffered now; ``True`` only if all of it was exported in time.

        Waits at most ``timeout_millis`` (and never past an open invocation's deadline), even if
        the exporter hangs. In ``ASYNC`` mode, a call from the handler's thread during an open
        invocation (the OpenTelemetry AWS Lambda instrumentation does this after every handler)
        says "handler done" instead and returns ``True``: the export follows the response.
        """
        if self._is_shutdown:
            return False
        if self._settings.sdk_disabled:
            return True
        invocation = self._invocation
        if (
            self._mode is ProcessorMode.ASYNC
            and invocation is not None
            and threading.get_ident() == _handler_thread(invocation)
        ):
            HUB.handler_done(invocation.request_id)
            return True
        timeout = max(0.0, timeout_millis / 1000.0) if timeout_millis is not None else None
        return self._wait(self._worker.request_flush(), timeout)

    def shutdown(self) -> None:
        """Flush within the export timeout (or the shutdown deadline), then shut the exporter down.

        A second call does nothing. Afterwards ``on_end`` ignores spans and ``force_flush`` returns
        ``False``; whatever could not be exported by then is counted as dropped. With no export
        timeout (0) and no deadline, it still waits at most :data:`SHUTDOWN_TIMEOUT_MILLIS`:
        interpreter exit must end.
        """
        with self._shutdown_lock:
            if self._is_shutdown:
                return
            self._is_shutdown = True
        self._on_end = self.on_end = self._ignore_span  # type: ignore[method-assign]
        HUB.unsubscribe(self)
        if not self._settings.sdk_disabled:
            limit = None if self._export_timeout is not None else SHUTDOWN_TIMEOUT_MILLIS / 1000
            self._wait(self._worker.request_flush(), limit, self._shutdown_deadline)
            self._worker.stop()
        try:
            self._exporter.shutdown()
        except Exception:
            _logger.exception("shutting down the span exporter failed")

    def _wait(
        self, ticket: FlushTicket, timeout: float | None, deadline: float | None = None
    ) -> bool:
        if deadline is None and self._invocation is not None:
            deadline = self._invocation.deadline
        return _Capped(ticket, self._export_timeout).wait(seconds_left(deadline, timeout))

    # -- lifecycle signals ---------------------------------------------------------------------
    def on_signal(self, signal: Signal) -> Completion | None:
        """React to a lifecycle signal; return the export the publisher should wait on."""
        if self._is_shutdown:
            return None
        if isinstance(signal, InvocationStarted):
            self._invocation = signal
            return None
        if isinstance(signal, HandlerDone):
            return self._on_handler_done(signal)
        if isinstance(signal, ExportDue):
            return self._on_export_due(signal)
        return None

    def _on_handler_done(self, signal: HandlerDone) -> Completion | None:
        if self._mode is ProcessorMode.FINALIZE:
            return None
        if self._mode is ProcessorMode.ASYNC:
            if signal.export_follows:
                return None
            if not signal.freezes:  # nothing freezes us: export in the background, don't wait
                self._worker.request_flush()
                self._close_invocation(signal.request_id)
                return None
        self._close_invocation(signal.request_id)
        return self._export_now()

    def _on_export_due(self, signal: ExportDue) -> Completion | None:
        if signal.reason is ExportReason.SHUTDOWN:
            self._shutdown_deadline = signal.deadline
            self._invocation = None
            return self._export_now()
        self._close_invocation(signal.request_id)
        if self._mode is ProcessorMode.ASYNC:
            return self._export_now()
        return None

    def _export_now(self) -> Completion:
        if len(self._ring) == 0 and self._worker.idle():
            return DONE
        return _Capped(self._worker.request_flush(), self._export_timeout)

    def _close_invocation(self, request_id: str | None) -> None:
        invocation = self._invocation
        if invocation is None:
            return
        if request_id is None or invocation.request_id == request_id:
            self._invocation = None


def _handler_thread(invocation: InvocationStarted) -> int | None:
    if invocation.handler_thread is not None:
        return invocation.handler_thread
    return threading.main_thread().ident
