"""``LambdaSpanProcessor``: buffer ended spans cheaply, export when a lifecycle signal says so.

With a sample ratio below 1, ended spans wait in the sampler's inbox (the same cheap hot path)
until their invocation is decided (:mod:`.sampling`); only kept spans enter the ring buffer.

Owns the SDK's ``SpanProcessor`` interface, the span hot path and the sampling shell; must not
decide when to export (:mod:`..export.pipeline`) nor which invocations are kept (:mod:`.sampling`).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import SpanContext, TraceFlags

from ..export.buffer import SpanRing
from ..export.config import settings_from_environment
from ..export.pipeline import BufferedPipeline
from ..export.settings import ProcessorMode, ProcessorSettings
from ..export.worker import SPANS, unencodable_probe

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

    from .sampling import InvocationSampler, Settled

_logger = logging.getLogger("otel_lambda_processor.processor")

#: How long a lifecycle signal waits for another thread's sampling step (pure computation, over
#: in microseconds to milliseconds); past it the step is skipped and its spans wait for the next.
_SAMPLING_LOCK_TIMEOUT = 1.0


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


class SamplingShell:
    """The I/O around an :class:`~.sampling.InvocationSampler`: one lock around its events,
    kept spans into the ring (oldest first), sampled-out spans counted and let go.

    The hot path appends to the sampler's inbox and, every few spans, calls :meth:`check`: once
    the inbox holds ``bound`` spans (or the open invocation is kept already) they are settled
    there and then, and ``kick`` starts the background export as the ring fills.
    """

    def __init__(
        self,
        sampler: InvocationSampler[ReadableSpan],
        ring: SpanRing[ReadableSpan],
        bound: int,
        kick: Callable[[], None] | None,
    ) -> None:
        self.sampler = sampler
        self._ring = ring
        self._bound = bound
        self._kick = kick
        self._inbox = sampler.inbox
        self._lock = threading.Lock()
        self._owner: int | None = None
        #: Spans sampled out so far.
        self.sampled_out = 0
        #: Producer path: what the ring's ``append`` and ``tick`` are without sampling.
        self.append: Callable[[ReadableSpan], None] = sampler.append
        self.tick: Callable[[], int] = itertools.count().__next__

    def check(self) -> None:
        """Hot path, every few spans: settle when the inbox is full or passes through. Never
        blocks (another thread settling now will take these spans too) and never raises."""
        if len(self._inbox) >= self._bound or self.sampler.passes_through:
            self._run(self.sampler.overflow, blocking=False)

    def started(self, request_id: str) -> None:
        self._run(lambda now: self.sampler.started(request_id, now))

    def handler_done(self, request_id: str | None, *, decide: bool) -> None:
        self._run(lambda now: self.sampler.handler_done(request_id, now, decide=decide))

    def flush(self, request_id: str | None = None) -> None:
        self._run(lambda now: self.sampler.flush(now, request_id))

    def discard_pending(self) -> int:
        """After the final export: let go of what still waits (spans that ended meanwhile, or
        that a skipped step left); how many, to be counted as dropped."""
        if not self._acquire(blocking=True):
            return len(self._inbox)  # they stay, never exported: count them all the same
        try:
            return len(self.sampler.drain())
        finally:
            self._release()

    def _acquire(self, *, blocking: bool) -> bool:
        """Take the lock, unless this thread holds it already (a signal handler interrupted its
        own step) or another holds it past the bound."""
        me = threading.get_ident()
        if self._owner == me:
            return False
        if blocking:
            taken = self._lock.acquire(True, _SAMPLING_LOCK_TIMEOUT)
        else:
            taken = self._lock.acquire(False)
        if taken:
            self._owner = me
        return taken

    def _release(self) -> None:
        self._owner = None
        self._lock.release()

    def _run(self, event: Callable[[int], Settled[ReadableSpan]], *, blocking: bool = True) -> None:
        """Feed one event (given the time, in ns) to the sampler; move what it releases."""
        if not self._acquire(blocking=blocking):
            return
        kept = 0
        try:
            settled = event(time.time_ns())
            if settled.keep:
                self._ring.extend(settled.keep)
                kept = len(settled.keep)
            self.sampled_out += len(settled.out)
        except Exception:  # telemetry never raises into the handler
            _logger.debug("a sampling step failed", exc_info=True)
        finally:
            self._release()
        if kept and self._kick is not None:
            self._kick()


class LambdaSpanProcessor(BufferedPipeline, SpanProcessor):
    """A span processor for AWS Lambda: a bounded ring buffer exported on lifecycle signals.

    ``on_end`` only appends to the buffer; exports run on one export thread, when the mode's
    signal arrives (see :class:`ProcessorMode`), on ``force_flush`` and on ``shutdown``. Every
    ended sampled span is exported or counted in :attr:`dropped_spans` or, with ``sample_ratio``
    below 1, in :attr:`sampled_out_spans` (whole invocations; see :mod:`.sampling`). Arguments
    left ``None`` come from the environment (``LAMBDA_EXTENSION_SPAN_PROCESSOR_MODE``,
    ``LAMBDA_SPAN_PROCESSOR_QUEUE_SIZE``, ``LAMBDA_SPAN_PROCESSOR_BATCH_SIZE``,
    ``LAMBDA_SPAN_PROCESSOR_EXPORT_TIMEOUT``, ``LAMBDA_SPAN_PROCESSOR_SAMPLE_RATIO``,
    ``LAMBDA_SPAN_PROCESSOR_KEEP_SLOWER_THAN_MS``), else the defaults.
    """

    def __init__(
        self,
        span_exporter: SpanExporter,
        *,
        mode: ProcessorMode | str | None = None,
        max_queue_size: int | None = None,
        max_export_batch_size: int | None = None,
        export_timeout_millis: int | None = None,
        sample_ratio: float | None = None,
        keep_slower_than_millis: float | None = None,
    ) -> None:
        settings = settings_from_environment(
            mode=mode,
            max_queue_size=max_queue_size,
            max_export_batch_size=max_export_batch_size,
            export_timeout_millis=export_timeout_millis,
            sample_ratio=sample_ratio,
            keep_slower_than_millis=keep_slower_than_millis,
        )
        self._sampling: SamplingShell | None = None
        self._sampled_out_before_fork = 0
        self._unsettled_dropped = 0
        self._start_buffered(span_exporter, settings, SPANS, unencodable_probe(span_exporter))

    def _build(self) -> None:
        self._sampling = None
        super()._build()

    def _install_hot_path(
        self, check_high_water: Callable[[], None] | None
    ) -> Callable[[ReadableSpan], None]:
        settings = self._settings
        if settings.sample_ratio >= 1.0:  # no sampling: exactly the plain hot path
            return _make_on_end(
                self._ring.append, self._ring.tick, self._check_mask, check_high_water
            )
        import random  # loaded by the SDK's id generator already

        from .sampling import SDK_SPANS, InvocationSampler

        slower = settings.keep_slower_than_millis
        sampler: InvocationSampler[ReadableSpan] = InvocationSampler(
            settings.sample_ratio,
            None if slower is None else int(slower * 1_000_000),
            SDK_SPANS,
            # From the operating system: environments restored from one SnapStart snapshot
            # would otherwise toss the same coins (Lambda does not re-seed ``random``).
            random.SystemRandom().random,
            now_ns=time.time_ns(),
        )
        shell = self._sampling = SamplingShell(
            sampler, self._ring, self._high_water, check_high_water
        )
        return _make_on_end(shell.append, shell.tick, self._check_mask, shell.check)

    # -- sampling: the pipeline's hooks --------------------------------------------------------
    def _invocation_started(self, request_id: str) -> None:
        if self._sampling is not None:
            self._sampling.started(request_id)

    def _handler_finished(self, request_id: str | None, *, decide: bool) -> None:
        if self._sampling is not None:
            self._sampling.handler_done(request_id, decide=decide)

    def _settle(self, request_id: str | None = None) -> None:
        if self._sampling is not None:
            self._sampling.flush(request_id)

    def _stop_exporting(self) -> None:
        super()._stop_exporting()
        if self._sampling is not None:
            self._unsettled_dropped += self._sampling.discard_pending()

    def _rebuild_after_fork(self) -> None:
        if self._sampling is not None:
            self._sampled_out_before_fork += self._sampling.sampled_out
        super()._rebuild_after_fork()

    def _dropped(self) -> int:
        return super()._dropped() + self._unsettled_dropped

    # -- public properties ---------------------------------------------------------------------
    @property
    def mode(self) -> ProcessorMode:
        """The mode in effect (argument, else environment, else ``ASYNC``)."""
        return self._mode

    @property
    def span_exporter(self) -> SpanExporter:
        """The exporter it hands batches to (as on the SDK's ``SimpleSpanProcessor``)."""
        return self._exporter  # type: ignore[no-any-return]

    @property
    def settings(self) -> ProcessorSettings:
        """Every setting in effect, after validation."""
        return self._settings

    @property
    def dropped_spans(self) -> int:
        """Spans dropped since creation: overwritten in a full buffer, or failed to export (or,
        sampling, still undecided when the processor stopped)."""
        return self._dropped()

    @property
    def sampled_out_spans(self) -> int:
        """Spans of invocations the sampler did not keep, since creation (never dropped ones).

        Always ``exported + dropped_spans + sampled_out_spans == ended`` (sampled spans that ended
        while the processor ran), once the buffer is flushed.
        """
        sampling = self._sampling
        return self._sampled_out_before_fork + (sampling.sampled_out if sampling else 0)

    # -- the SpanProcessor interface -----------------------------------------------------------
    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Nothing to do when a span starts."""

    def on_end(self, span: ReadableSpan) -> None:
        """Buffer a sampled span: a bit test and two C calls, no lock, no logging.

        The instance carries a closure with the same behaviour (see :func:`_make_on_end`), which
        the SDK finds first; this method is the reference for anyone calling it on the class.
        """
        self._hot_path(span)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Export everything buffered now; ``True`` only if all of it was exported in time.

        Waits at most ``timeout_millis`` (and never past an open invocation's deadline), even if
        the exporter hangs. In ``ASYNC`` mode, a call from the handler's thread during an open
        invocation (the OpenTelemetry AWS Lambda instrumentation does this after every handler)
        says "handler done" instead and returns ``True``: the export follows the response.
        """
        return self._force_flush(timeout_millis)

    def shutdown(self) -> None:
        """Flush within the export timeout (or the shutdown deadline), then shut the exporter down.

        A second call does nothing. Afterwards ``on_end`` ignores spans and ``force_flush`` returns
        ``False``; whatever could not be exported by then is counted as dropped. With no export
        timeout (0) and no deadline, it still waits at most
        :data:`~otel_lambda_processor.export.pipeline.SHUTDOWN_TIMEOUT_MILLIS`: interpreter exit
        must end.
        """
        self._shutdown_pipeline()
