"""``LambdaSpanProcessor``: buffer ended spans cheaply, export when a lifecycle signal says so."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import SpanContext, TraceFlags

from .config import ProcessorMode, ProcessorSettings, settings_from_environment
from .exporting import SPANS, unencodable_probe
from .pipeline import BufferedPipeline

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter


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


class LambdaSpanProcessor(BufferedPipeline, SpanProcessor):
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
        settings = settings_from_environment(
            mode=mode,
            max_queue_size=max_queue_size,
            max_export_batch_size=max_export_batch_size,
            export_timeout_millis=export_timeout_millis,
        )
        self._start_buffered(span_exporter, settings, SPANS, unencodable_probe(span_exporter))

    def _install_hot_path(
        self, check_high_water: Callable[[], None] | None
    ) -> Callable[[ReadableSpan], None]:
        return _make_on_end(self._ring.append, self._ring.tick, self._check_mask, check_high_water)

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
        """Spans dropped since creation: overwritten in a full buffer, or failed to export."""
        return self._dropped()

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
        :data:`~otel_lambda_processor.pipeline.SHUTDOWN_TIMEOUT_MILLIS`: interpreter exit must end.
        """
        self._shutdown_pipeline()
